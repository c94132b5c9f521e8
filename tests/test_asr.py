"""The library's CTC recogniser, ASR data, the ASR unlearning methods, sequence attacks,
the LibriSpeech loader and the asr-speaker recipe."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.data.asr_data import ASRDataModule, collate_asr
from audio_unlearn.data.manifest import Utterance
from audio_unlearn.data.splits import speaker_disjoint_split, speaker_forget_split
from audio_unlearn.evaluation.asr import get_transcriber
from audio_unlearn.evaluation.asr_library import LibraryCTCTranscriber
from audio_unlearn.evaluation.sequence_mia import (
    duration_matched_indices,
    duration_matched_mia,
    informed_loo_mia,
)
from audio_unlearn.methods import METHODS, build_method, fit_unlearning
from audio_unlearn.methods.asr import CTCTraining, sequence_kl
from audio_unlearn.methods.fit import make_trainer
from audio_unlearn.models.asr import (
    ASRCheckpointError,
    CharVocabulary,
    CTCRecognizer,
    CTCRecognizerConfig,
    greedy_ctc_decode,
    load_asr,
    per_sample_ctc_loss,
    save_asr,
)
from audio_unlearn.testing.bands import check_bands, recipe_bands

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
TINY = dict(
    n_mels=16,
    conv_channels=32,
    blocks=1,
    block_kernel=3,
    rnn_hidden=24,
    rnn_layers=1,
    freq_masks=0,
    time_masks=0,
)
ASR_METHOD_NAMES = ("asr_ft", "asr_ng", "asr_ngplus", "asr_cfk", "asr_scrub")

# Three "words" made of tone sequences, so a tiny model can learn them in seconds.
_TONES = {"a": 400.0, "b": 900.0, "c": 1500.0}
_TEXTS = ("ab", "ba", "abc", "cab", "bc", "ca")


def _tone_utterance(text: str, rng: np.random.Generator, speaker_shift: float) -> np.ndarray:
    pieces = [np.zeros(int(0.05 * SR))]
    for ch in text:
        n = int(rng.uniform(0.12, 0.18) * SR)
        t = np.arange(n) / SR
        f = _TONES[ch] * speaker_shift
        pieces.append(0.3 * np.sin(2 * np.pi * f * t) * np.hanning(n))
        pieces.append(np.zeros(int(0.04 * SR)))
    x = np.concatenate([*pieces, np.zeros(int(0.05 * SR))])
    return (x + 0.01 * rng.standard_normal(x.size)).astype(np.float32)


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    """6 speakers x 6 texts x 2 repeats of variable-length tone 'speech' with transcripts."""
    root = tmp_path_factory.mktemp("asr_tones")
    rng = np.random.default_rng(0)
    utts = []
    for s in range(6):
        shift = 1.0 + 0.03 * s
        for r in range(2):
            for j, text in enumerate(_TEXTS):
                wav = _tone_utterance(text, rng, shift)
                path = root / f"s{s}_{j}_{r}.wav"
                sf.write(path, wav, SR)
                utts.append(
                    Utterance(
                        id=f"s{s}_{j}_{r}",
                        audio=str(path),
                        speaker=f"s{s}",
                        duration=wav.size / SR,
                        sample_rate=SR,
                        text=text,
                    )
                )
    return utts


def _tiny_model(seed: int = 0) -> CTCRecognizer:
    torch.manual_seed(seed)
    return CTCRecognizer(CTCRecognizerConfig(characters=(" ", "a", "b", "c"), **TINY))


@pytest.fixture(scope="module")
def tone_setup(tone_corpus, seed):
    corpus = speaker_disjoint_split(tone_corpus, n_test_speakers=2, seed=seed)
    split = speaker_forget_split(
        tone_corpus, corpus, fraction=None, n_speakers=1, min_utterances=1, seed=seed
    )
    vocab = CharVocabulary((" ", "a", "b", "c"))
    dm = ASRDataModule(tone_corpus, split, vocab.encode, batch_size=8, seed=seed, progress=False)
    dm.setup()
    model = _tiny_model(seed)
    make_trainer(25).fit(CTCTraining(model, lr=1e-2), datamodule=dm)
    return dm, model.eval()


def _batch(dm, name="forget"):
    return next(iter(dm.eval_dataloader(name)))


def _mean_loss(model, dm, name="forget") -> float:
    model.eval()
    with torch.no_grad():
        return float(torch.cat([model.loss(*b) for b in dm.eval_dataloader(name)]).mean())


# --------------------------------------------------------------------------- model


def test_vocabulary_normalises_encodes_and_validates():
    vocab = CharVocabulary()
    assert vocab.tokens[0] == "<blank>" and len(vocab) == 29
    assert vocab.normalise("Don't  TURN-on the Lights!") == "don't turn on the lights"
    assert vocab.decode(vocab.encode("Hi there")) == "hi there"
    with pytest.raises(ValueError, match="space"):
        CharVocabulary(("a", "b"))
    with pytest.raises(ValueError, match="duplicate"):
        CharVocabulary((" ", "a", "a"))


def test_config_validation_names_the_setting():
    with pytest.raises(ValueError, match="conv_channels"):
        CTCRecognizerConfig(conv_channels=0)
    with pytest.raises(ValueError, match="block_kernel"):
        CTCRecognizerConfig(block_kernel=4)


def test_default_model_size_and_frame_lengths():
    model = CTCRecognizer()
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n_params < 3e6
    wav_lengths = torch.tensor([16000, 8000, 400])
    log_probs, frames = model.eval()(torch.randn(3, 16000) * 0.1, wav_lengths)
    assert torch.equal(frames, model.frame_lengths(wav_lengths))
    assert log_probs.shape == (3, int(frames.max()), 29)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, log_probs.shape[1]), atol=1e-4)


def test_batched_equals_per_item_outputs_and_decoding(bound):
    model = _tiny_model().eval()
    torch.manual_seed(1)
    wavs = [torch.randn(n) * 0.1 for n in (4000, 6100, 2500, 5230)]
    batch_wavs, lengths, _, _ = collate_asr([(w, torch.tensor([1])) for w in wavs])
    log_probs, frames = model(batch_wavs, lengths)
    texts = greedy_ctc_decode(log_probs, frames, model.vocab)
    for i, w in enumerate(wavs):
        lp_i, fr_i = model(w[None], torch.tensor([w.numel()]))
        assert int(fr_i[0]) == int(frames[i])
        bound.close(
            "log-probs batched vs one", log_probs[i, : frames[i]], lp_i[0], atol=1e-5, rtol=1e-4
        )
        assert greedy_ctc_decode(lp_i, fr_i, model.vocab)[0] == texts[i]


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    vocab = CharVocabulary((" ", "a", "b"))
    ids = [0, 2, 2, 0, 2, 3, 3, 1, 1, 2, 0, 0]  # _ a a _ a b b ' ' ' ' a _ _ -> "aab a"
    log_probs = torch.full((1, len(ids), 4), -10.0)
    log_probs[0, torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    assert greedy_ctc_decode(log_probs, torch.tensor([len(ids)]), vocab) == ["aab a"]
    assert greedy_ctc_decode(log_probs, torch.tensor([3]), vocab) == ["a"]


def test_ctc_loss_is_per_sample_and_matches_single_item_losses(bound):
    model = _tiny_model().eval()
    torch.manual_seed(2)
    items = [
        (torch.randn(n) * 0.1, torch.tensor(t))
        for n, t in ((5000, [2, 3]), (7000, [2, 1, 4, 2]), (3000, [3]))
    ]
    batch = collate_asr(items)
    per_char = model.loss(*batch)
    summed = model.loss(*batch, per_character=False)
    assert per_char.shape == (3,)
    torch.testing.assert_close(per_char * batch[3], summed)
    for i, (w, t) in enumerate(items):
        single = model.loss(*collate_asr([(w, t)]))
        bound.close("CTC loss one vs batched", single[0], per_char[i], atol=1e-4, rtol=1e-4)
    # an impossible alignment (more characters than frames) is inf, not silently zero
    lp = torch.zeros(1, 2, 5).log_softmax(-1)
    inf = per_sample_ctc_loss(lp, torch.tensor([2]), torch.tensor([[1, 2, 3]]), torch.tensor([3]))
    assert torch.isinf(inf).all()


def test_checkpoint_roundtrip_and_mismatch_errors(tmp_path):
    model = _tiny_model(seed=3).eval()
    path = save_asr(tmp_path / "asr.pt", model, meta={"note": "x"})
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary left behind
    ckpt = load_asr(path, expect_vocabulary=(" ", "a", "b", "c"))
    assert ckpt.meta == {"note": "x"} and not ckpt.model.training
    x = torch.randn(2, 4000) * 0.1
    lengths = torch.tensor([4000, 3000])
    torch.testing.assert_close(ckpt.model(x, lengths)[0], model(x, lengths)[0])
    with pytest.raises(ASRCheckpointError, match="outputs characters"):
        load_asr(path, expect_vocabulary=CharVocabulary())
    with pytest.raises(ASRCheckpointError, match="was saved with config"):
        load_asr(path, expect_config=CTCRecognizerConfig())
    with pytest.raises(FileNotFoundError, match="asr-speaker"):
        load_asr(tmp_path / "missing.pt")
    payload = torch.load(path, weights_only=True)
    payload["vocabulary"] = ["<blank>", " ", "x", "y", "z"]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ASRCheckpointError, match="vocabulary"):
        load_asr(tmp_path / "bad.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ASRCheckpointError, match="not an audio-unlearn CTC ASR"):
        load_asr(tmp_path / "other.pt")


# --------------------------------------------------------------------------- training + judge


def test_tiny_model_learns_and_library_transcriber_serves_it(tone_setup, tmp_path, bound):
    dm, model = tone_setup
    from audio_unlearn.evaluation.wer import wer_scores

    refs = [u.text for u in dm.sets["retain"]]
    hyps = []
    for b in dm.eval_dataloader("retain"):
        hyps += model.transcribe_batch(b[0], b[1])
    bound("retain WER", wer_scores(refs, hyps).corpus_wer, "<", 0.35)

    path = save_asr(tmp_path / "judge.pt", model)
    tr = get_transcriber(f"library:{path}")
    assert isinstance(tr, LibraryCTCTranscriber) and tr.model is None  # lazy
    wavs = [dm.store[u] for u in dm.sets["test"]]
    texts = tr.transcribe(wavs, SR)
    with torch.no_grad():
        one_by_one = [model.transcribe_batch(w[None], torch.tensor([w.numel()]))[0] for w in wavs]
    assert texts == one_by_one
    # resampled input is accepted and gives one transcript per waveform
    assert len(tr.transcribe([torch.zeros(8000) + 0.01], 8000)) == 1
    assert tr.describe()["backend"] == "library" and tr.describe()["vocabulary"] == " abc"
    with pytest.raises(FileNotFoundError, match="library ASR checkpoint"):
        get_transcriber(f"library:{tmp_path / 'nope.pt'}")
    with pytest.raises(ValueError, match="names no checkpoint"):
        get_transcriber("library:")


# --------------------------------------------------------------------------- methods


def test_asr_presets_are_the_task_generic_methods_on_asr():
    from audio_unlearn.methods.registry import PRESETS, methods_for_task, resolve_method

    for name in ASR_METHOD_NAMES:
        method, task, _ = resolve_method(name)
        assert name in PRESETS and task == "asr" and "asr" in METHODS[method].tasks
        # one implementation: the preset builds the same class as the classification method
        assert type(build_method(name, _tiny_model())) is METHODS[method]
    assert {resolve_method(n)[0] for n in ASR_METHOD_NAMES} <= set(methods_for_task("asr"))
    # the method's own name on the ASR task takes the ASR preset's defaults
    assert build_method("scrub", _tiny_model(), task="asr").temperature == 1.0
    assert build_method("scrub", _tiny_model()).temperature == 4.0


def test_a_method_asked_for_a_task_it_does_not_serve_is_refused_before_building():
    with pytest.raises(ValueError, match="serves \\['classification'\\], not task 'asr'"):
        build_method("unsir", _tiny_model(), task="asr")
    with pytest.raises(ValueError, match="preset for task 'asr'"):
        build_method("asr_ng", _tiny_model(), task="classification")


@pytest.mark.parametrize(
    "name, hparams, direction",
    [
        ("asr_ng", {"lr": 3e-3, "epochs": 2}, "up"),
        # epochs 3 (was 1): on held-out seeds 10-15 one epoch left the forget loss at
        # 0.96-1.33x; three gave 3.7-64x
        ("asr_ngplus", {"lr": 3e-3, "epochs": 3}, "up"),
        # two max passes (was one): one left the forget loss at 0.93x on suite seed 2 under
        # avx2 / avx512 (held-out seeds 10-15: 1.5-31x); two gave 4.7-102x on 10-15
        ("asr_scrub", {"lr": 3e-3, "epochs": 2, "msteps": 2, "alpha": 0.0, "gamma": 0.0}, "up"),
        ("asr_ft", {"lr": 3e-3, "epochs": 2}, "relative"),
        ("asr_cfk", {"lr": 3e-3, "epochs": 2, "k": 1}, "relative"),
    ],
)
def test_each_asr_method_moves_forget_loss_the_right_way(
    tone_setup, seed, name, hparams, direction, bound
):
    dm, original = tone_setup
    before = _mean_loss(original, dm)
    before_retain = _mean_loss(original, dm, "retain")
    model = copy.deepcopy(original).train()
    L.seed_everything(seed, verbose=False)  # the data order does not depend on earlier tests
    module = build_method(name, model, **hparams)
    seconds = fit_unlearning(module, dm)
    assert seconds > 0
    after = _mean_loss(model, dm)
    if direction == "up":
        bound("forget loss ratio after / before", after / before, ">", 1.2)
    else:
        # FT/CF-k train on retain only: the retain loss falls. (An earlier form asked the
        # forget/retain loss ratio to grow: it fell on held-out seed 13, 0.981 vs 1.030;
        # on a 6-speaker tone corpus the forget speaker's loss falls with the others'.)
        after_retain = _mean_loss(model, dm, "retain")
        bound("retain loss ratio after / before", after_retain / before_retain, "<", 1.0)
    if name == "asr_cfk":
        frozen = [p for g in model.layer_groups()[:-1] for p in g.parameters()]
        orig = [p for g in original.layer_groups()[:-1] for p in g.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(frozen, orig, strict=True))
        assert not torch.equal(model.output.weight, original.output.weight)


def test_method_validation_errors():
    model = _tiny_model()
    with pytest.raises(ValueError, match="k=99"):
        build_method("asr_cfk", model, k=99)
    with pytest.raises(ValueError, match="alpha"):
        build_method("asr_ngplus", model, alpha=2.0)
    with pytest.raises(ValueError, match="temperature"):
        build_method("asr_scrub", model, temperature=0)


def test_sequence_kl_masks_padding_and_is_zero_for_equal_outputs():
    torch.manual_seed(0)
    a = torch.randn(2, 5, 4).log_softmax(-1)
    b = torch.randn(2, 5, 4).log_softmax(-1)
    assert float(sequence_kl(a, a, torch.tensor([5, 3]))) == pytest.approx(0.0, abs=1e-6)
    lengths = torch.tensor([5, 3])
    b_changed = b.clone()
    b_changed[1, 3:] = torch.randn(2, 4).log_softmax(-1)  # only padding frames differ
    torch.testing.assert_close(sequence_kl(a, b, lengths), sequence_kl(a, b_changed, lengths))
    assert float(sequence_kl(a, b, lengths)) > 0


# --------------------------------------------------------------------------- attacks


def test_duration_matching_equalises_histograms():
    rng = np.random.default_rng(0)
    members = rng.uniform(1.0, 2.0, 60)
    nonmembers = rng.uniform(1.5, 3.0, 200)
    mi, ni = duration_matched_indices(members, nonmembers, bin_s=0.25, seed=0)
    assert mi.size == ni.size > 0
    hist = lambda d: np.bincount(np.floor(d / 0.25).astype(int), minlength=20)  # noqa: E731
    assert np.array_equal(hist(members[mi]), hist(nonmembers[ni]))
    assert members[mi].min() >= 1.5  # unmatched short members dropped


def test_duration_matched_mia_removes_a_pure_length_signal():
    rng = np.random.default_rng(1)
    m_dur = rng.uniform(1.0, 3.0, 300)
    n_dur = rng.uniform(2.0, 4.0, 300)
    m_loss = m_dur + 0.05 * rng.standard_normal(300)  # loss depends on length only
    n_loss = n_dur + 0.05 * rng.standard_normal(300)
    from audio_unlearn.evaluation.mia import mia_auc

    assert mia_auc(m_loss, n_loss) > 0.8  # raw attack "detects" the length
    matched = duration_matched_mia(m_loss, m_dur, n_loss, n_dur, bin_s=0.1, seed=0)
    assert abs(matched.auc - 0.5) < 0.1 and matched.n_per_class > 50


def test_informed_loo_attack_sees_calibrated_membership():
    rng = np.random.default_rng(2)
    groups = [f"t{i}" for i in range(10)]
    difficulty = {g: rng.uniform(0, 5) for g in groups}
    n_groups = [g for g in groups for _ in range(8)]
    m_groups = [g for g in groups for _ in range(3)]
    n_loss = np.array([difficulty[g] + 0.1 * rng.standard_normal() for g in n_groups])
    m_loss = np.array([difficulty[g] - 0.3 + 0.1 * rng.standard_normal() for g in m_groups])
    from audio_unlearn.evaluation.mia import mia_auc

    informed = informed_loo_mia(m_loss, m_groups, n_loss, n_groups)
    assert informed.auc > 0.95 > mia_auc(m_loss, n_loss) + 0.2
    assert informed.member_advantage == pytest.approx(0.3, abs=0.1)
    # with no membership effect the calibrated attack is at chance
    m_null = np.array([difficulty[g] + 0.1 * rng.standard_normal() for g in m_groups])
    assert abs(informed_loo_mia(m_null, m_groups, n_loss, n_groups).auc - 0.5) < 0.2
    with pytest.raises(ValueError, match="one group per loss"):
        informed_loo_mia(m_loss, m_groups[:-1], n_loss, n_groups)


# --------------------------------------------------------------------------- LibriSpeech


def _fake_librispeech(root: Path) -> None:
    rng = np.random.default_rng(0)
    layout = {"train-clean-100": ["19", "26"], "dev-clean": ["84"], "test-clean": ["121"]}
    for subset, speakers in layout.items():
        for spk in speakers:
            chap = "198" if spk != "84" else "121123"
            d = root / subset / spk / chap
            d.mkdir(parents=True)
            lines = []
            for u in range(2):
                utt = f"{spk}-{chap}-{u:04d}"
                sf.write(d / f"{utt}.flac", 0.1 * rng.standard_normal(SR // 2), SR)
                lines.append(f"{utt} HELLO WORLD NUMBER {u}'S")
            (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    (root / "SPEAKERS.TXT").write_text(
        ";ID |SEX| SUBSET |MINUTES| NAME\n19 | F | train-clean-100 | 25.19 | Kara\n"
    )


def test_librispeech_prepare_reads_the_fake_tree(tmp_path):
    from audio_unlearn.data.corpora import CORPORA, prepare_corpus, read_prepared

    assert "librispeech" in CORPORA
    _fake_librispeech(tmp_path / "LibriSpeech")
    manifests = prepare_corpus("librispeech", tmp_path / "LibriSpeech", tmp_path / "out")
    utts, split = read_prepared(manifests)
    assert len(split.train) == 4 and len(split.valid) == 2 and len(split.test) == 2
    u = next(x for x in utts if x.id == "19-198-0001")
    assert u.speaker == "19" and u.text == "HELLO WORLD NUMBER 1'S"
    assert u.labels == {"chapter": "198", "subset": "train-clean-100"}
    assert u.duration == pytest.approx(0.5) and u.sample_rate == SR
    assert (tmp_path / "out" / "speakers.json").is_file()


def test_librispeech_layout_errors_name_the_problem(tmp_path):
    from audio_unlearn.data.corpora.librispeech import prepare_librispeech

    root = tmp_path / "LibriSpeech"
    _fake_librispeech(root)
    with pytest.raises(FileNotFoundError, match="other-500"):
        prepare_librispeech(root, tmp_path / "o1", train="train-other-500")
    (root / "test-clean" / "121" / "198" / "121-198-0001.flac").unlink()
    with pytest.raises(FileNotFoundError, match=r"121-198-0001\.flac"):
        prepare_librispeech(root, tmp_path / "o2")
    _fake_librispeech(tmp_path / "L2")
    shutil_target = tmp_path / "L2" / "test-clean" / "19" / "198"
    shutil_target.mkdir(parents=True)
    sf.write(shutil_target / "19-198-0009.flac", np.zeros(SR // 4) + 0.1, SR)
    (shutil_target / "19-198.trans.txt").write_text("19-198-0009 SHARED SPEAKER\n")
    with pytest.raises(ValueError, match="share 1 speaker"):
        prepare_librispeech(tmp_path / "L2", tmp_path / "o3")


# --------------------------------------------------------------------------- recipe


def test_recipe_configs_load():
    from audio_unlearn.asr_experiment import load_asr_config

    for name in ("synthetic.yaml", "librispeech.yaml"):
        cfg = load_asr_config(ROOT / "recipes" / "asr_speaker" / name)
        assert set(cfg.methods) <= set(ASR_METHOD_NAMES)
    with pytest.raises(ValueError, match="unknown key"):
        load_asr_config(None, ["split.bogus=1"])


@pytest.mark.slow
@pytest.mark.synth
def test_synthetic_recipe_smoke_run(tmp_path):
    from audio_unlearn.cli import main

    argv = [
        "run",  # one command for every task: the config says task: asr
        str(ROOT / "recipes" / "asr_speaker" / "synthetic.yaml"),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    smoke = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 8, n_intents: 4, repeats_per_intent: 2}",
        "split.n_test_speakers=2",
        "split.min_utterances=1",
        "train.epochs=2",
        "eval.mia_bin_s=5.0",
        "eval.judge_full_audio=true",
    ]
    for item in smoke:
        argv += ["--set", item]
    assert main(argv) == 0
    run = tmp_path / "run"
    for name in (
        "report.json",
        "report.md",
        "tradeoff.png",
        "judge.json",
        "split.json",
        "checkpoints/original.pt",
        "checkpoints/gold.pt",
    ):
        assert (run / name).is_file(), name
    import json

    report = json.loads((run / "report.json").read_text())
    names = [r["model"] for r in report["models"]]
    table_csv = Path(__file__).parent / "recipes.csv"
    assert check_bands(run, recipe_bands(table_csv, "asr_speaker")) == []
    assert names[:2] == ["original", "retrained"] and len(names) == 2 + 5
    assert (
        get_transcriber(f"library:{run / 'checkpoints' / 'original.pt'}").transcribe(
            [torch.zeros(SR) + 0.01]
        )[0]
        is not None
    )


def test_speech_crop_and_random_tail(tmp_path):
    from audio_unlearn.data.asr_data import ASRDataset, WaveformStore
    from audio_unlearn.data.manifest import PhoneSpan

    wav = (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    sf.write(tmp_path / "u.wav", wav, SR)
    utt = Utterance(
        id="u",
        audio=str(tmp_path / "u.wav"),
        speaker="s",
        duration=1.0,
        sample_rate=SR,
        text="ab",
        alignment=(PhoneSpan("a", 0.1, 0.2), PhoneSpan("b", 0.2, 0.4)),
    )
    store = WaveformStore(crop="speech", margin_s=0.1)
    assert store[utt].numel() == round(0.5 * SR) and store.full(utt).numel() == SR
    encode = CharVocabulary((" ", "a", "b")).encode
    plain = ASRDataset([utt], encode, store)
    assert plain[0][0].numel() == round(0.5 * SR)
    tails = ASRDataset([utt], encode, store, random_tail=True)
    torch.manual_seed(0)
    lengths = {tails[0][0].numel() for _ in range(20)}
    assert len(lengths) > 5 and min(lengths) >= round(0.5 * SR) and max(lengths) <= SR
    with pytest.raises(ValueError, match="crop"):
        WaveformStore(crop="vad")


def test_asr_training_loaders_batch_by_duration(tone_corpus):
    """``bucket_seconds`` gives the ASR data module's training loaders duration-bucketed
    batches (each utterance once an epoch, within the padded budget); evaluation loaders
    keep fixed batches."""
    from audio_unlearn.data.sampling import DurationBucketBatchSampler

    corpus = speaker_disjoint_split(tone_corpus, n_test_speakers=2, seed=0)
    split = speaker_forget_split(
        tone_corpus, corpus, fraction=None, n_speakers=1, min_utterances=1, seed=0
    )
    vocab = CharVocabulary((" ", "a", "b", "c"))
    dm = ASRDataModule(
        tone_corpus, split, vocab.encode, batch_size=4, seed=0, progress=False, bucket_seconds=6.0
    )
    dm.setup()
    loader = dm.loader("train", shuffle=True)
    assert isinstance(loader.batch_sampler, DurationBucketBatchSampler)
    seconds = [dm.store.seconds(u) for u in dm.dataset("train", training=True).utterances]
    batches = list(loader.batch_sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(seconds)))
    assert all(len(b) == 1 or max(seconds[i] for i in b) * len(b) <= 6.0 for b in batches)
    wavs, lengths, _, _ = next(iter(loader))
    assert wavs.shape[0] == lengths.numel() == len(batches[0])
    assert not isinstance(dm.eval_dataloader("test").batch_sampler, DurationBucketBatchSampler)
    with pytest.raises(ValueError, match="bucket_seconds"):
        ASRDataModule(tone_corpus, split, vocab.encode, bucket_seconds=0.0)
