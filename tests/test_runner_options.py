"""Options of the one runner (run/runner.py) that reach every task: the relearning attack
(run/attacks.py), checked before any work and run on the classification, ASR and TTS
runners alike."""

import json
from pathlib import Path

import pytest

from audio_unlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]

CLASSIFICATION = [
    "split.n_test_speakers=3",
    "split.n_speakers=2",
    "split.min_utterances=1",
    "train.epochs=2",
    "train.batch_size=16",
    "max_seconds=1.0",
]


def _rows(out):
    report = json.loads((out / "report.json").read_text())
    return {r["model"]: r for r in report.get("models", report.get("rows"))}


def test_relearning_attack_on_a_classifier_fits_the_attackers_utterances(
    dummy_manifest, tmp_path, bound, seed
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, f"seed={seed}"]
    sets += ["methods={ng: {lr: 1.0e-3}}", "eval.relearn_methods=[ng]"]
    sets += ["eval.relearn_steps=20", "eval.relearn_utterances=6", "eval.relearn_lr=3.0e-4"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    rows = _rows(out)
    assert list(rows) == ["original", "gold", "ng", "ng+relearn"]
    attacked = rows["ng+relearn"]
    assert attacked["role"] == "attack" and attacked["gum"] is None
    # the attack fitted the 6 forget utterances it was given (whether the rest of the forget
    # set follows is the measurement, not a property of the code)
    ratio = attacked["attacker_loss_after"] / attacked["attacker_loss_before"]
    bound("attacker loss after / before", ratio, "<", 0.7)
    assert attacked["steps"] == 20
    # a rerun reuses the method's checkpoint and repeats the (seeded) attack exactly
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    assert _rows(out)["ng+relearn"]["forget_loss"] == pytest.approx(attacked["forget_loss"])


def test_a_rerun_reuses_stored_evaluations_made_with_the_same_settings(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ng: {}}"]
    argv = ["run", "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    first = _rows(out)
    assert sorted(p.name for p in (out / "eval").iterdir()) == [
        "gold.json",
        "ng.json",
        "original.json",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.count("(same model and settings)") == 3
    assert _rows(out) == first  # the report from stored evaluations is the same report
    # an evaluation made with other settings (its key differs) is redone, and only it
    stored = out / "eval" / "ng.json"
    stored.write_text(stored.read_text().replace('"key": "', '"key": "0', 1))
    assert main(argv) == 0
    assert capsys.readouterr().out.count("(same model and settings)") == 2
    assert _rows(out) == first


def test_relearning_a_method_the_run_does_not_run_is_refused_before_any_work(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ft: {}}"]
    sets += ["eval.relearn_steps=2", "eval.relearn_methods=[ng]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 2
    assert "eval.relearn_methods names ['ng']" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


@pytest.mark.slow
@pytest.mark.synth
def test_relearning_attack_on_the_asr_runner(tmp_path, bound, seed):
    out = tmp_path / "run"
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        f"seed={seed}",
        "corpus.synth={n_speakers: 8, n_intents: 4, repeats_per_intent: 2}",
        "split.n_test_speakers=2",
        "split.min_utterances=1",
        "train.epochs=2",
        "eval.mia_bin_s=5.0",
        "eval.judge_full_audio=false",
        "methods={asr_ng: {}}",
        "eval.relearn_methods=[asr_ng]",
        "eval.relearn_steps=20",
        "eval.relearn_utterances=4",
        "eval.relearn_lr=1.0e-3",
    ]
    config = str(ROOT / "recipes" / "asr_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    rows = _rows(out)
    assert list(rows) == ["original", "retrained", "asr_ng", "asr_ng+relearn"]
    attacked = rows["asr_ng+relearn"]
    ratio = attacked["attacker_loss_after"] / attacked["attacker_loss_before"]
    bound("attacker loss after / before", ratio, "<", 0.85)


def test_one_split_maker_gives_every_task_the_official_hold_out(dummy_manifest):
    from audio_unlearn.data import read_manifest
    from audio_unlearn.data.splits import CorpusSplit
    from audio_unlearn.run.splits import SplitConfig, make_split

    utts = read_manifest(dummy_manifest)
    speakers = sorted({u.speaker for u in utts})
    test_ids = tuple(u.id for u in utts if u.speaker in speakers[:2])
    train_ids = tuple(u.id for u in utts if u.speaker not in speakers[:2])
    official = CorpusSplit(train=train_ids, valid=(), test=test_ids)
    cfg = SplitConfig(holdout="official", n_speakers=2, min_utterances=1, seed=0)
    # no label key: an ASR or TTS run
    split = make_split(cfg, utts, official)
    assert split.test == test_ids
    assert len(split.forget_speakers) == 2
    assert not set(split.forget_speakers) & set(speakers[:2])
    with pytest.raises(ValueError, match="needs class labels"):
        make_split(SplitConfig(kind="class", n_classes=1), utts, official)
    with pytest.raises(ValueError, match=r"needs a corpus\.prepare step"):
        make_split(cfg, utts, None)


def test_a_forget_kind_the_task_cannot_evaluate_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--set", "split.kind=item"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "split.kind must be one of ['speaker'] for the tts runner, not 'item'" in err
    assert not out.exists()


def test_sequential_requests_on_a_classifier(dummy_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ft: {}, ng: {}}"]
    sets += ["requests=[1, 1]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    assert [(r["request"], r["model"]) for r in rows] == [
        (k, m) for k in (1, 2) for m in ("original", "gold", "ft", "ng")
    ]
    first, second = (r["speakers"] for r in report["requests"])
    assert len(first) == len(second) == 1 and first != second
    assert set(first + second) == set(report["forget_speakers"])
    # request 2 starts from each method's request-1 model and re-measures request 1's set
    ng2 = next(r for r in rows if r["request"] == 2 and r["model"] == "ng")
    ng1 = next(r for r in rows if r["request"] == 1 and r["model"] == "ng")
    (earlier,) = ng2["earlier"]
    assert earlier["request"] == 1
    assert earlier["forget_acc_at_request"] == ng1["forget_acc"]
    assert all(r["gum"] is not None for r in rows if r["role"] == "method")
    for k in (1, 2):
        assert (out / "checkpoints" / f"r{k}" / "gold.pt").is_file()
        assert (out / "checkpoints" / f"r{k}" / "ng.pt").is_file()
    assert "Request 2: forget" in (out / "report.md").read_text()
    # a rerun reuses every checkpoint and evaluation
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "training the" not in said and "unlearning with" not in said
    assert json.loads((out / "report.json").read_text())["models"] == rows


def test_relearning_attack_on_every_forget_request(dummy_manifest, tmp_path):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ng: {}}"]
    sets += ["requests=[1, 1]", "eval.relearn_methods=[ng]", "eval.relearn_steps=4"]
    sets += ["eval.relearn_utterances=3"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    assert [(r["request"], r["model"]) for r in rows] == [
        (k, m) for k in (1, 2) for m in ("original", "gold", "ng", "ng+relearn")
    ]
    # the attacker of request k holds request k's speaker
    for k, request in enumerate(report["requests"], start=1):
        attack = next(r for r in rows if r["request"] == k and r["role"] == "attack")
        assert attack["request_speakers"] == request["speakers"]
        assert attack["steps"] == 4
