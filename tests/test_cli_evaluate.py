"""`audio-unlearn evaluate wer|sim|eer|mia`: end to end on small inputs, JSON contents."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from audio_unlearn.cli import main
from audio_unlearn.cli.evaluate import NORMALISER_NAMES
from audio_unlearn.data.manifest import Utterance, write_manifest
from audio_unlearn.testing import make_dummy_corpus
from audio_unlearn.testing.tiny_hf import save_tiny_ctc


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _utterance(uid, text, speaker="s0", audio="missing.wav"):
    return Utterance(
        id=uid, audio=audio, speaker=speaker, duration=1.0, sample_rate=16000, text=text
    )


@pytest.fixture(scope="module")
def tone_manifest(tmp_path_factory):
    """4 one-second tone utterances (2 speakers x 2 classes) with text."""
    root = tmp_path_factory.mktemp("tones")
    return make_dummy_corpus(root, n_speakers=2, n_classes=2, per_class=1, seed=0)


@pytest.fixture(scope="module")
def tiny_ctc(tmp_path_factory):
    return save_tiny_ctc(tmp_path_factory.mktemp("asr") / "ctc", norm="layer")


# --------------------------------------------------------------------------- wer


@pytest.fixture()
def text_manifest(tmp_path):
    utts = [
        _utterance("u1", "Hello, world!"),
        _utterance("u2", "Don't stop now."),
        _utterance("u3", "one two three"),
    ]
    manifest = write_manifest(tmp_path / "refs.jsonl", utts)
    hyps = tmp_path / "hyps.jsonl"
    lines = [
        {"id": "u3", "text": "one two three four"},
        {"id": "u1", "text": "hello word"},
        {"id": "u2", "text": "dont stop now"},
        {"id": "extra", "text": "not in the manifest"},
    ]
    hyps.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest, hyps


def test_wer_from_hypotheses_matches_hand_values(text_manifest, tmp_path, capsys):
    manifest, hyps = text_manifest
    out = tmp_path / "wer.json"
    argv = ["evaluate", "wer", "--manifest", str(manifest), "--hypotheses", str(hyps)]
    code, stdout, _ = _run([*argv, "--normaliser", "strip_punct", "--out", str(out)], capsys)
    assert code == 0
    assert "WER (strip_punct normaliser) over 3 utterances: corpus 25.00%" in stdout
    data = json.loads(out.read_text())
    # hello world / hello word: 1 sub of 2; dont stop now: 0 of 3; one two three (+four): 1 of 3
    assert data["result"]["corpus_wer"] == pytest.approx(2 / 8)
    assert data["result"]["mean_utterance_wer"] == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)
    assert data["result"]["substitutions"] == 1 and data["result"]["insertions"] == 1
    assert data["metric"] == "wer" and data["command"] == "audio-unlearn evaluate wer"
    assert data["settings"]["normaliser"] == "strip_punct"
    assert data["settings"]["unit"] == "word" and data["settings"]["empty_references"] == "error"
    assert data["settings"]["transcripts"] == "hypotheses file" and data["settings"]["asr"] is None
    assert data["inputs"]["n_utterances"] == 3 and data["inputs"]["n_unused_hypotheses"] == 1
    assert data["inputs"]["hypotheses"] == str(hyps.resolve())
    assert data["versions"]["audio-unlearn"] and data["versions"]["jiwer"]
    assert [u["id"] for u in data["per_utterance"]] == ["u1", "u2", "u3"]
    assert data["per_utterance"][0] == {
        "id": "u1",
        "reference": "Hello, world!",
        "hypothesis": "hello word",
        "error_rate": 0.5,
    }

    # no normaliser: punctuation and case count as errors (2 + 2 + 1 edits of 8 words)
    code, _, _ = _run([*argv, "--out", str(out)], capsys)
    data = json.loads(out.read_text())
    assert code == 0 and data["settings"]["normaliser"] == "none"  # the recorded default
    assert data["result"]["corpus_wer"] == pytest.approx(5 / 8)

    code, stdout, _ = _run([*argv, "--unit", "char", "--out", str(out)], capsys)
    data = json.loads(out.read_text())
    assert code == 0 and data["metric"] == "cer" and data["settings"]["unit"] == "char"
    assert stdout.startswith("CER")


def test_wer_with_tiny_ctc_model_equals_direct_scoring(tone_manifest, tiny_ctc, tmp_path, capsys):
    from audio_unlearn.data.audio import load_audio
    from audio_unlearn.data.manifest import read_manifest
    from audio_unlearn.evaluation.asr import CTCTranscriber
    from audio_unlearn.evaluation.wer import wer_scores

    out = tmp_path / "wer.json"
    argv = ["evaluate", "wer", "--manifest", str(tone_manifest), "--asr", f"ctc:{tiny_ctc}"]
    code, _, _ = _run([*argv, "--no-progress", "--out", str(out)], capsys)
    assert code == 0
    data = json.loads(out.read_text())

    utts = read_manifest(tone_manifest)
    direct = CTCTranscriber(tiny_ctc).transcribe([load_audio(u.audio) for u in utts])
    assert [u["hypothesis"] for u in data["per_utterance"]] == direct
    assert all(direct)  # the random model emits input-dependent text
    expected = wer_scores([u.text for u in utts], direct)
    assert data["result"]["corpus_wer"] == pytest.approx(expected.corpus_wer)
    assert data["result"]["mean_utterance_wer"] == pytest.approx(expected.mean_utterance_wer)
    asr = data["settings"]["asr"]
    assert asr["backend"] == "ctc" and asr["model"] == str(tiny_ctc)
    assert asr["model_class"] == "Wav2Vec2ForCTC" and asr["decoding"] == "greedy"
    assert data["settings"]["asr_spec"] == f"ctc:{tiny_ctc}"
    assert data["settings"]["transcripts"] == "asr"
    assert data["versions"]["transformers"]

    # the transcripts it wrote, scored again as a hypotheses file, give the same numbers
    hyps = tmp_path / "hyps.jsonl"
    hyps.write_text(
        "".join(
            json.dumps({"id": u["id"], "text": u["hypothesis"]}) + "\n"
            for u in data["per_utterance"]
        )
    )
    again = tmp_path / "again.json"
    argv = ["evaluate", "wer", "--manifest", str(tone_manifest), "--hypotheses", str(hyps)]
    assert main([*argv, "--out", str(again)]) == 0
    assert json.loads(again.read_text())["result"] == data["result"]


def test_wer_bad_inputs_exit_2(text_manifest, tmp_path, capsys):
    manifest, hyps = text_manifest
    out = str(tmp_path / "r.json")

    def wer(*extra):
        return _run(["evaluate", "wer", *extra, "--out", out], capsys)

    code, _, err = wer("--manifest", str(tmp_path / "nope.jsonl"), "--hypotheses", str(hyps))
    assert code == 2 and "nope.jsonl not found" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = wer("--manifest", str(empty), "--hypotheses", str(hyps))
    assert code == 2 and "holds no utterances" in err
    no_text = write_manifest(
        tmp_path / "no_text.jsonl", [_utterance("a", "hi"), _utterance("b", "")]
    )
    code, _, err = wer("--manifest", str(no_text), "--hypotheses", str(hyps))
    assert code == 2 and "have no 'text'" in err and "['b']" in err
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"id": "u1", "text": "hello"}) + "\n")
    code, _, err = wer("--manifest", str(manifest), "--hypotheses", str(short))
    assert code == 2 and "no hypothesis for 2 utterance(s)" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "u1"}\n')
    code, _, err = wer("--manifest", str(manifest), "--hypotheses", str(bad))
    assert code == 2 and "bad.jsonl:1" in err
    code, _, err = wer("--manifest", str(manifest), "--asr", "kaldi:/x")
    assert code == 2 and "unknown ASR backend 'kaldi'" in err
    code, _, err = wer("--manifest", str(manifest), "--asr", "library:run/last.ckpt")
    assert code == 2 and "library ASR checkpoint run/last.ckpt not found" in err
    code, _, err = _run(
        [
            "evaluate",
            "wer",
            "--manifest",
            str(manifest),
            "--hypotheses",
            str(hyps),
            "--out",
            str(manifest),
        ],
        capsys,
    )
    assert code == 2 and "is also an input" in err
    assert "u1" in manifest.read_text()  # the input is untouched
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- mia


@pytest.fixture()
def loss_files(tmp_path):
    rng = np.random.default_rng(0)
    low = rng.normal(0.2, 0.05, 60)
    high = rng.normal(1.0, 0.05, 80)
    np.save(tmp_path / "low.npy", low)
    np.savetxt(tmp_path / "high.txt", high, header="per-sample losses")
    np.save(tmp_path / "low_target.npy", rng.normal(0.2, 0.05, 30))
    np.save(tmp_path / "high_target.npy", rng.normal(1.0, 0.05, 30))
    return tmp_path, low, high


def test_mia_loss_attack_from_files(loss_files, capsys):
    from audio_unlearn.evaluation.mia import loss_mia, mia_auc

    root, low, high = loss_files
    out = root / "mia.json"
    argv = ["evaluate", "mia", "--member-losses", str(root / "low.npy")]
    argv += ["--nonmember-losses", str(root / "high.txt"), "--out", str(out)]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0 and stdout.startswith("loss MIA: accuracy 1.0000")
    data = json.loads(out.read_text())
    expected = loss_mia(low, high)
    assert data["result"]["accuracy"] == pytest.approx(expected.accuracy) == 1.0
    assert data["result"]["auc"] == pytest.approx(mia_auc(low, high)) == 1.0
    assert data["result"]["n_per_class"] == 60
    defaults = inspect.signature(loss_mia).parameters
    settings = data["settings"]
    assert settings["attack"] == "loss"
    for key in ("n_splits", "test_size", "seed"):
        assert settings[key] == defaults[key].default  # recorded, not hidden
    assert data["inputs"]["n_members"] == 60 and data["inputs"]["n_nonmembers"] == 80
    assert data["versions"]["scikit-learn"]

    # overlapping losses, other settings: recorded and passed through
    argv = ["evaluate", "mia", "--member-losses", str(root / "low.npy"), "--nonmember-losses"]
    argv += [str(root / "low_target.npy"), "--seed", "3", "--n-splits", "4", "--out", str(out)]
    code, _, _ = _run(argv, capsys)
    data = json.loads(out.read_text())
    same = loss_mia(low, np.load(root / "low_target.npy"), n_splits=4, seed=3)
    assert code == 0 and data["settings"]["seed"] == 3 and data["settings"]["n_splits"] == 4
    assert data["result"]["accuracy"] == pytest.approx(same.accuracy)
    assert data["result"]["accuracy"] < 0.8


def test_mia_svc_attack_labels_targets(loss_files, capsys):
    root, _, _ = loss_files
    out = root / "svc.json"
    base = ["evaluate", "mia", "--attack", "svc", "--member-losses", str(root / "low.npy")]
    base += ["--nonmember-losses", str(root / "high.txt"), "--out", str(out)]
    assert _run([*base, "--target-losses", str(root / "low_target.npy")], capsys)[0] == 0
    data = json.loads(out.read_text())
    assert data["settings"] == {"attack": "svc", "feature": "confidence", "seed": 0}
    assert data["result"]["efficacy"]["confidence"] == 0.0  # targets look like members
    assert data["inputs"]["n_targets"] == 30
    argv = [*base, "--target-losses", str(root / "high_target.npy"), "--feature", "loss"]
    assert _run(argv, capsys)[0] == 0
    data = json.loads(out.read_text())
    assert data["result"]["efficacy"]["loss"] == 1.0  # targets look unseen


def test_mia_bad_inputs_exit_2(loss_files, capsys):
    root, _, _ = loss_files
    out = str(root / "x.json")
    (root / "l.csv").write_text("1\n2\n")
    np.save(root / "two_d.npy", np.ones((3, 4)))
    (root / "words.txt").write_text("a\nb\n")
    cases = [
        (["--member-losses", str(root / "l.csv")], "unknown format '.csv'"),
        (["--member-losses", str(root / "gone.npy")], "gone.npy not found"),
        (["--member-losses", str(root / "two_d.npy")], "1-D"),
        (["--member-losses", str(root / "words.txt")], "not a readable array"),
        (["--member-losses", str(root / "low.npy"), "--attack", "svc"], "needs --target-losses"),
    ]
    for extra, message in cases:
        argv = ["evaluate", "mia", "--nonmember-losses", str(root / "high.txt"), *extra]
        code, _, err = _run([*argv, "--out", out], capsys)
        assert code == 2 and message in err, (extra, err)


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", [[], ["wer"], ["sim"], ["eer"], ["mia"]])
def test_help_explains_inputs_and_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", *command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "audio-unlearn evaluate" in text
    if command:
        assert "--out" in text and "JSON" in text


def test_help_defaults_are_the_functions_defaults(capsys):
    from audio_unlearn.evaluation.mia import loss_mia, svc_mia_from_losses
    from audio_unlearn.evaluation.text import NORMALISERS
    from audio_unlearn.evaluation.verification import build_trials
    from audio_unlearn.evaluation.wer import wer_scores

    assert tuple(sorted(NORMALISERS)) == NORMALISER_NAMES

    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    expected = {
        "wer": [default(wer_scores, k) for k in ("normaliser", "unit", "empty_references")],
        "eer": [default(build_trials, k) for k in ("n_per_speaker", "seed")],
        "mia": [default(loss_mia, k) for k in ("seed", "n_splits", "test_size")]
        + [default(svc_mia_from_losses, "feature")],
    }
    for command, values in expected.items():
        with pytest.raises(SystemExit):
            main(["evaluate", command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for value in values:
            assert f"(default: {value})" in text, (command, value)


# --------------------------------------------------------------------------- sim / eer errors


def test_sim_and_eer_bad_inputs_exit_2(tone_manifest, tmp_path, capsys):
    out = str(tmp_path / "x.json")
    m = str(tone_manifest)
    cases = [
        (
            ["sim", "--manifest", m, "--reference", m, "--encoder", "x-vector"],
            "unknown speaker encoder",
        ),
        (["eer", "--manifest", m, "--encoder", "nope:abc"], "unknown speaker encoder"),
        (["sim", "--manifest", m, "--encoder", "resemblyzer"], "sim needs the pairs"),
        (["sim", "--pairs", m, "--manifest", m, "--encoder", "resemblyzer"], "not both"),
        (
            ["sim", "--pairs", str(tmp_path / "p.tsv"), "--encoder", "resemblyzer"],
            "p.tsv not found",
        ),
        (
            ["eer", "--manifest", str(tmp_path / "none.jsonl"), "--encoder", "resemblyzer"],
            "not found",
        ),
    ]
    one = write_manifest(tmp_path / "one.jsonl", [_utterance("only", "x")])
    cases.append(
        (
            ["sim", "--manifest", m, "--reference", str(one), "--encoder", "resemblyzer"],
            "not in the reference",
        )
    )
    single = write_manifest(tmp_path / "single.jsonl", [_utterance("a", "x"), _utterance("b", "y")])
    cases.append(
        (["eer", "--manifest", str(single), "--encoder", "resemblyzer"], "at least two speakers")
    )
    bad_tsv = tmp_path / "bad.tsv"
    bad_tsv.write_text("only-one-field\n")
    cases.append((["sim", "--pairs", str(bad_tsv), "--encoder", "resemblyzer"], "bad.tsv:1"))
    for argv, message in cases:
        code, _, err = _run(["evaluate", *argv, "--out", out], capsys)
        assert code == 2 and message in err, (argv, err)


# --------------------------------------------------------------------------- sim / eer on speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """4 espeak-ng speakers x 3 intents x 1 (12 utterances of 3.6 s)."""
    from audio_unlearn.data.synth import SynthConfig, synthesize_corpus

    config = SynthConfig(n_speakers=4, n_intents=3, repeats_per_intent=1, seed=0)
    return synthesize_corpus(tmp_path_factory.mktemp("speech") / "corpus", config, progress=False)


def _rotated_reference(utts, path, same_speaker):
    """A manifest with the same ids whose audio is another utterance of the same (or the
    next) speaker."""
    speakers = sorted({u.speaker for u in utts})
    by_speaker = {s: [u for u in utts if u.speaker == s] for s in speakers}
    out = []
    for u in utts:
        group = by_speaker[u.speaker]
        k = group.index(u)
        if same_speaker:
            other = group[(k + 1) % len(group)]
        else:
            nxt = speakers[(speakers.index(u.speaker) + 1) % len(speakers)]
            other = by_speaker[nxt][k]
        out.append(u.with_audio(other.audio))
    return write_manifest(path, out)


@pytest.mark.synth
def test_sim_same_speaker_above_different_speaker(speech, tmp_path, capsys):
    utts = speech.utterances()
    same_ref = _rotated_reference(utts, tmp_path / "same.jsonl", same_speaker=True)
    diff_ref = _rotated_reference(utts, tmp_path / "diff.jsonl", same_speaker=False)
    cache = tmp_path / "cache"
    results = {}
    for name, ref in (("same", same_ref), ("diff", diff_ref)):
        out = tmp_path / f"sim_{name}.json"
        argv = ["evaluate", "sim", "--manifest", str(speech.manifest), "--reference", str(ref)]
        argv += ["--encoder", "resemblyzer", "--cache", str(cache), "--no-progress"]
        code, stdout, _ = _run([*argv, "--out", str(out)], capsys)
        assert code == 0 and "SIM (resemblyzer) over 12 pairs" in stdout
        results[name] = json.loads(out.read_text())
    same, diff = results["same"], results["diff"]
    print(
        f"\nSIM same-speaker {same['result']['mean']:.3f}, different {diff['result']['mean']:.3f}"
    )
    assert same["result"]["mean"] > diff["result"]["mean"]
    sims = np.array([p["sim"] for p in same["per_pair"]])
    assert same["result"]["mean"] == pytest.approx(sims.mean())
    assert same["result"]["std"] == pytest.approx(sims.std())
    assert [p["id"] for p in same["per_pair"]] == [u.id for u in utts]
    assert same["settings"]["encoder"]["backend"] == "resemblyzer"
    assert same["settings"]["encoder_spec"] == "resemblyzer"
    assert same["settings"]["similarity"] == "cosine"
    assert same["inputs"]["pairing"] == "utterance id" and same["inputs"]["n_pairs"] == 12
    assert same["settings"]["embedding_cache"]["misses"] == 12  # every file once
    assert diff["settings"]["embedding_cache"] == {
        "directory": str(cache.resolve()),
        "hits": 12,  # the same 12 files, from the cache
        "misses": 0,
    }
    assert same["versions"]["resemblyzer"]

    # the same pairs as a TSV (relative paths, a comment, ids) give the same scores
    tsv = speech.root / "pairs.tsv"
    lines = ["# audio\treference\tid"]
    for p in same["per_pair"]:
        rel = [str(Path(p[k]).relative_to(speech.root)) for k in ("audio", "reference_audio")]
        lines.append("\t".join([*rel, p["id"]]))
    tsv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "sim_tsv.json"
    argv = ["evaluate", "sim", "--pairs", str(tsv), "--encoder", "resemblyzer", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["inputs"]["pairing"] == "pairs file"
    assert [p["id"] for p in data["per_pair"]] == [p["id"] for p in same["per_pair"]]
    np.testing.assert_allclose(
        [p["sim"] for p in data["per_pair"]], [p["sim"] for p in same["per_pair"]], atol=1e-5
    )


@pytest.mark.synth
def test_eer_over_trial_list(speech, tmp_path, capsys):
    from audio_unlearn.evaluation.verification import build_trials, verification_metrics

    out = tmp_path / "eer.json"
    argv = ["evaluate", "eer", "--manifest", str(speech.manifest), "--encoder", "resemblyzer"]
    argv += ["--trials-per-speaker", "3", "--seed", "1", "--no-progress", "--out", str(out)]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0 and "12 target / 12 non-target trials" in stdout
    data = json.loads(out.read_text())
    print("\n" + stdout.strip())
    trials = build_trials(speech.utterances(), n_per_speaker=3, seed=1)
    assert [(t["enroll"], t["test"], t["target"]) for t in data["per_trial"]] == [
        (t.enroll, t.test, t.target) for t in trials
    ]
    scores = np.array([t["score"] for t in data["per_trial"]])
    labels = np.array([t["target"] for t in data["per_trial"]])
    expected = verification_metrics(scores, labels)
    result = data["result"]
    assert result["eer"] == pytest.approx(expected.eer) and result["eer"] < 0.5
    assert result["min_dcf"] == {
        "0.01": pytest.approx(expected.min_dcf[0.01]),
        "0.05": pytest.approx(expected.min_dcf[0.05]),
    }
    assert result["n_target"] == result["n_nontarget"] == 12 and result["n_trials"] == 24
    settings = data["settings"]
    assert settings["trials_per_speaker"] == 3 and settings["seed"] == 1
    assert settings["p_targets"] == [0.01, 0.05] and settings["encoder"]["backend"] == "resemblyzer"
    assert settings["embedding_cache"] is None
    assert data["inputs"]["n_speakers"] == 4 and data["inputs"]["n_embedded"] == 12
    # the trials in the VoicePrivacy (Kaldi) format, written and read back: same scores
    listed = tmp_path / "trials.txt"
    again = tmp_path / "again.json"
    argv[-1] = str(again)
    code, _, _ = _run([*argv, "--write-trials", str(listed)], capsys)
    first = listed.read_text().splitlines()[0].split()
    assert code == 0 and first[2] in ("target", "nontarget") and len(first) == 3
    replay = tmp_path / "replay.json"
    base = ["evaluate", "eer", "--manifest", str(speech.manifest), "--encoder", "resemblyzer"]
    code, _, _ = _run([*base, "--trials", str(listed), "--out", str(replay)], capsys)
    assert code == 0
    replayed = json.loads(replay.read_text())
    assert replayed["result"]["eer"] == pytest.approx(result["eer"])
    assert replayed["settings"]["trials"] == str(listed.resolve())
    # speaker-level enrolment: the enrolment column names a speaker
    spk = speech.utterances()[0].speaker
    test_utt = next(u.id for u in speech.utterances() if u.speaker != spk)
    own_utt = next(u.id for u in speech.utterances() if u.speaker == spk)
    (tmp_path / "spk.txt").write_text(f"{spk} {own_utt} target\n{spk} {test_utt} nontarget\n")
    out3 = tmp_path / "spk.json"
    argv3 = [*base, "--trials", str(tmp_path / "spk.txt"), "--out", str(out3)]
    code, _, _ = _run(argv3, capsys)
    assert code == 0 and json.loads(out3.read_text())["result"]["n_trials"] == 2
    (tmp_path / "bad.txt").write_text(f"{spk} {own_utt} same\n")
    code, _, err = _run(
        [*base, "--trials", str(tmp_path / "bad.txt"), "--out", str(out3) + "x"], capsys
    )
    assert code != 0 and "bad.txt:1" in err
