"""transformers recognisers (CTC, Whisper) behind the library's recogniser interface, the
ASR experiment on them, and sequential forget requests.

Tiny random checkpoints are written with ``save_pretrained`` (audio_unlearn.testing.tiny_hf)
and loaded by local path; the corpus is tone-sequence 'speech' with transcripts."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.asr_experiment import ASRExperiment, load_asr_config, run_asr_experiment
from audio_unlearn.data.asr_data import ASRDataModule, collate_asr
from audio_unlearn.data.manifest import Utterance, write_manifest
from audio_unlearn.data.splits import speaker_disjoint_split, speaker_forget_split
from audio_unlearn.methods import build_method, fit_unlearning
from audio_unlearn.methods.asr import sequence_kl, sequence_outputs
from audio_unlearn.models.asr import ASRCheckpointError
from audio_unlearn.models.asr_hf import (
    HFCTCRecognizer,
    HFWhisperRecognizer,
    build_recognizer,
    load_hf_asr,
    load_recognizer,
    recognizer_kind,
    save_hf_asr,
)
from audio_unlearn.testing.tiny_hf import save_tiny_ctc, save_tiny_whisper

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
_TONES = {"a": 400.0, "b": 900.0, "c": 1500.0}
_TEXTS = ("ab", "ba", "abc", "cab", "bc", "ca")
TINY_LIBRARY = dict(
    characters=[" ", "a", "b", "c"],
    n_mels=16,
    conv_channels=32,
    blocks=1,
    block_kernel=3,
    rnn_hidden=24,
    rnn_layers=1,
    freq_masks=0,
    time_masks=0,
)


def _tone_utterance(text: str, rng: np.random.Generator, shift: float) -> np.ndarray:
    pieces = [np.zeros(int(0.05 * SR))]
    for ch in text:
        n = int(rng.uniform(0.12, 0.18) * SR)
        t = np.arange(n) / SR
        pieces.append(0.3 * np.sin(2 * np.pi * _TONES[ch] * shift * t) * np.hanning(n))
        pieces.append(np.zeros(int(0.04 * SR)))
    x = np.concatenate([*pieces, np.zeros(int(0.05 * SR))])
    return (x + 0.01 * rng.standard_normal(x.size)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """6 speakers x 6 texts x 2 repeats of tone 'speech' (0.5-0.8 s) and its manifest."""
    root = tmp_path_factory.mktemp("hf_tones")
    rng = np.random.default_rng(0)
    utts = []
    for s in range(6):
        for r in range(2):
            for j, text in enumerate(_TEXTS):
                wav = _tone_utterance(text, rng, 1.0 + 0.03 * s)
                path = root / f"s{s}_{j}_{r}.wav"
                sf.write(path, wav, SR)
                utts.append(
                    Utterance(
                        id=f"s{s}_{j}_{r}",
                        audio=str(path),
                        speaker=f"s{s}",
                        duration=wav.size / SR,
                        sample_rate=SR,
                        text=text.upper() + "!",  # normalisers lower-case and drop "!"
                    )
                )
    return utts, write_manifest(root / "manifest.jsonl", utts)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_hf_asr")
    return {
        "ctc": save_tiny_ctc(root / "ctc", norm="layer", seed=1),
        "hubert": save_tiny_ctc(root / "hubert", norm="layer", model="hubert", seed=2),
        "group": save_tiny_ctc(root / "group", norm="group", seed=3),
        "whisper": save_tiny_whisper(root / "whisper", seed=4),
    }


def _load(tiny, name):
    if name == "whisper":
        return HFWhisperRecognizer.from_pretrained(tiny[name])
    return HFCTCRecognizer.from_pretrained(tiny[name])


def _items(model, texts=("ab ba", "cab", "abc bc ca"), lengths=(8000, 12100, 5300), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(n, generator=g) * 0.1, torch.tensor(model.vocab.encode(t)))
        for n, t in zip(lengths, texts, strict=True)
    ]


def _dm(corpus, model, batch_size=8):
    utts, _ = corpus
    split = speaker_forget_split(
        utts,
        speaker_disjoint_split(utts, n_test_speakers=2, seed=0),
        fraction=None,
        n_speakers=1,
        min_utterances=1,
        seed=0,
    )
    dm = ASRDataModule(
        utts, split, model.vocab.encode, batch_size=batch_size, seed=0, progress=False
    )
    dm.setup()
    return dm


def _mean_loss(model, dm, name="forget") -> float:
    model.eval()
    with torch.no_grad():
        return float(torch.cat([model.loss(*b) for b in dm.eval_dataloader(name)]).mean())


# --------------------------------------------------------------------------- text


def test_ctc_vocabulary_follows_the_checkpoint_tokenizer(tiny):
    model = _load(tiny, "ctc")
    vocab = model.vocab
    tok = model.processor.tokenizer
    assert vocab.normalise("Turn it ON, o'k!") == "turn it on o'k"
    ids = vocab.encode("Ab  b!")
    assert ids == [tok.convert_tokens_to_ids(t) for t in ("A", "B", tok.word_delimiter_token, "B")]
    blank = model.blank
    a, b, sp = ids[0], ids[1], ids[2]
    # frames: A A _ A B | | B _ B -> "aab bb" (repeats merged, blank separates)
    assert vocab.decode_ctc([a, a, blank, a, b, sp, sp, b, blank, b]) == "aab bb"


def test_whisper_vocabulary_encodes_with_a_leading_space(tiny):
    model = _load(tiny, "whisper")
    ids = model.vocab.encode("Hello, World!")
    assert model.processor.tokenizer.decode(ids) == " hello world"
    assert model.vocab.decode([*model.prompt_ids, *ids, model.eot]) == "hello world"
    assert model.vocab.encode("?!") == []


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("name", ["ctc", "hubert", "whisper"])
def test_per_sample_loss_and_transcripts_batched_equal_per_item(tiny, name, bound):
    model = _load(tiny, name).eval()
    items = _items(model)
    batch = collate_asr(items)
    with torch.no_grad():
        losses, texts = model.score_batch(*batch)
        assert losses.shape == (3,) and torch.isfinite(losses).all()
        torch.testing.assert_close(losses, model.loss(*batch))
        summed = model.loss(*batch, per_token=False)
        positions = batch[3] + (1 if name == "whisper" else 0)
        torch.testing.assert_close(summed, losses * positions)
        for i, item in enumerate(items):
            single = collate_asr([item])
            bound.close(
                "loss one vs batched", model.loss(*single)[0], losses[i], atol=1e-4, rtol=1e-4
            )
            assert model.transcribe_batch(single[0], single[1]) == [texts[i]]


def test_library_model_has_the_same_interface_and_checkpoint_dispatch(tmp_path):
    from audio_unlearn.models.asr import CTCRecognizer, CTCRecognizerConfig
    from audio_unlearn.models.asr_hf import save_recognizer

    torch.manual_seed(0)
    model = build_recognizer("library", TINY_LIBRARY).eval()
    assert isinstance(model, CTCRecognizer) and recognizer_kind(model) == "library"
    assert model.config == CTCRecognizerConfig(**TINY_LIBRARY)
    batch = collate_asr(_items(model))
    with torch.no_grad():
        losses, texts = model.score_batch(*batch)
        torch.testing.assert_close(losses, model.loss(*batch))
        outputs = sequence_outputs(model, batch)
        torch.testing.assert_close(model.loss_from_outputs(*outputs, *batch[2:]), losses)
    assert texts == model.transcribe_batch(batch[0], batch[1])
    path = save_recognizer(tmp_path / "m.pt", model, meta={"k": 1})
    loaded = load_recognizer(path)
    assert loaded.meta == {"k": 1} and loaded.model.settings() == model.settings()
    with pytest.raises(ValueError, match="not a recogniser"):
        recognizer_kind(torch.nn.Linear(2, 2))


def test_group_norm_ctc_is_exact_for_equal_lengths(tiny, bound):
    model = _load(tiny, "group").eval()
    assert not model.uses_attention_mask
    items = _items(model, lengths=(9000, 9000, 9000))
    with torch.no_grad():
        losses = model.loss(*collate_asr(items))
        for i, item in enumerate(items):
            single = model.loss(*collate_asr([item]))[0]
            bound.close("loss one vs batched", single, losses[i], atol=1e-4, rtol=1e-4)


def test_ctc_loss_equals_the_checkpoints_own_ctc_loss(tiny):
    model = _load(tiny, "ctc").eval()
    wav, target = _items(model)[1]
    batch = collate_asr([(wav, target)])
    values, mask = model.inputs(batch[0], batch[1])
    with torch.no_grad():
        hf = model.net(input_values=values, attention_mask=mask, labels=target[None]).loss
        ours = model.loss(*batch, per_token=False)
    assert model.net.config.ctc_loss_reduction == "sum"
    torch.testing.assert_close(ours[0], hf, rtol=1e-5, atol=1e-4)


def test_whisper_loss_equals_the_models_own_teacher_forced_loss(tiny):
    model = _load(tiny, "whisper").eval()
    wav, target = _items(model)[0]
    batch = collate_asr([(wav, target)])
    prompt = model.prompt_ids
    decoder_ids = torch.tensor([prompt + target.tolist()])
    labels = torch.tensor([[-100] * (len(prompt) - 1) + target.tolist() + [model.eot]])
    with torch.no_grad():
        hf = model.net(
            input_features=model.features(batch[0], batch[1]),
            decoder_input_ids=decoder_ids,
            labels=labels,
        ).loss
        ours = model.loss(*batch)
    torch.testing.assert_close(ours[0], hf, rtol=1e-5, atol=1e-5)
    # the features are the checkpoint's own feature extractor's
    fe = model.processor.feature_extractor
    ref = fe([wav.numpy()], sampling_rate=SR, return_tensors="pt").input_features
    torch.testing.assert_close(model.features(batch[0], batch[1]), ref, rtol=1e-4, atol=1e-4)


def test_whisper_sequence_outputs_mask_target_padding_and_kl_is_zero_for_a_copy(tiny):
    model = _load(tiny, "whisper").eval()
    items = _items(model)
    batch = collate_asr(items)
    with torch.no_grad():
        log_probs, lengths = sequence_outputs(model, batch)
        assert log_probs.shape[:2] == (3, int(batch[3].max()) + 1)
        assert torch.equal(lengths, batch[3] + 1)
        teacher = copy.deepcopy(model)
        t_log_probs, _ = sequence_outputs(teacher, batch)
        assert float(sequence_kl(log_probs, t_log_probs, lengths)) == pytest.approx(0, abs=1e-6)
        # padding ids beyond a row's length do not matter (causal decoder, masked labels)
        targets = batch[2].clone()
        short = int(batch[3].argmin())
        targets[short, int(batch[3][short]) :] = 7
        changed = model.loss(batch[0], batch[1], targets, batch[3])
        torch.testing.assert_close(changed, model.loss(*batch))
    with pytest.raises(ValueError, match="longer than Whisper"):
        model.features(torch.zeros(1, 3 * SR), torch.tensor([3 * SR]))


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize("name", ["ctc", "whisper"])
def test_ng_raises_forget_loss_and_cfk_trains_only_the_head(corpus, tiny, name, bound):
    original = _load(tiny, name)
    dm = _dm(corpus, original)
    before = _mean_loss(original, dm)
    model = copy.deepcopy(original).train()
    fit_unlearning(build_method("asr_ng", model, lr=3e-3, epochs=2), dm)
    bound("forget loss ratio after / before NG", _mean_loss(model, dm) / before, ">", 1.05)

    model = copy.deepcopy(original).train()
    groups = model.layer_groups()
    assert len(groups) >= 4
    fit_unlearning(build_method("asr_cfk", model, lr=3e-3, epochs=1, k=1), dm)
    head = {id(p) for p in groups[-1].parameters()}
    trained = {
        n
        for (n, p), q in zip(model.named_parameters(), original.parameters(), strict=True)
        if not torch.equal(p, q)
    }
    assert trained, "CF-k changed nothing"
    named = dict(model.named_parameters())
    assert all(id(named[n]) in head for n in trained), sorted(trained)


def test_scrub_runs_on_whisper_and_moves_away_from_the_teacher(corpus, tiny):
    original = _load(tiny, "whisper")
    dm = _dm(corpus, original)
    model = copy.deepcopy(original).train()
    module = build_method("asr_scrub", model, lr=3e-3, epochs=1, alpha=0.0, gamma=0.0)
    fit_unlearning(module, dm)
    batch = next(iter(dm.eval_dataloader("forget")))
    model.eval()
    with torch.no_grad():
        assert float(module.divergence(batch)) > 1e-4


# --------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", ["ctc", "whisper"])
def test_hf_checkpoint_roundtrip_overwrite_and_errors(tiny, tmp_path, name):
    from audio_unlearn.evaluation.asr import get_transcriber

    model = _load(tiny, name).eval()
    path = save_hf_asr(tmp_path / "ckpt", model, meta={"n": 1})
    save_hf_asr(path, model, meta={"n": 2})  # replaces the old directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    ckpt = load_recognizer(path)
    assert ckpt.meta == {"n": 2} and not ckpt.model.training
    assert ckpt.model.settings() == model.settings()
    assert recognizer_kind(ckpt.model) == model.kind
    batch = collate_asr(_items(model))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model.loss(*batch), model.loss(*batch))
    # the save_pretrained files serve the evaluation transcribers as well
    spec = f"{'whisper' if name == 'whisper' else 'ctc'}:{path}"
    assert len(get_transcriber(spec).transcribe([batch[0][0]], SR)) == 1
    with pytest.raises(ASRCheckpointError, match="expected"):
        load_hf_asr(path, expect_settings={"kind": model.kind, "source": "elsewhere"})
    with pytest.raises(FileNotFoundError, match="not found"):
        load_hf_asr(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ASRCheckpointError, match="not an audio-unlearn"):
        load_hf_asr(tmp_path / "plain")


def test_self_supervised_encoder_gets_a_fresh_ctc_head_sized_to_the_processor(tiny, tmp_path):
    from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder

    encoder = save_tiny_audio_encoder(tmp_path / "enc", "wav2vec2", norm="group")
    model = HFCTCRecognizer.from_pretrained(encoder, processor=tiny["group"])
    tokenizer = model.processor.tokenizer
    assert model.net.lm_head.out_features == len(tokenizer)
    assert model.blank == tokenizer.pad_token_id and not model.uses_attention_mask
    loaded = load_hf_asr(save_hf_asr(tmp_path / "ckpt", model)).model
    assert torch.equal(loaded.net.lm_head.weight, model.net.lm_head.weight)
    assert loaded.settings() == model.settings()


def test_build_recognizer_validates_settings(tiny, tmp_path):
    assert isinstance(build_recognizer("hf_ctc", {"source": str(tiny["ctc"])}), HFCTCRecognizer)
    with pytest.raises(ValueError, match="unknown recogniser kind"):
        build_recognizer("hf_rnnt", {"source": "x"})
    with pytest.raises(ValueError, match="needs `source`"):
        build_recognizer("hf_whisper", {})
    with pytest.raises(ValueError, match=r"unknown hf_ctc setting\(s\) \['language'\]"):
        build_recognizer("hf_ctc", {"source": str(tiny["ctc"]), "language": "en"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_recognizer("hf_ctc", {"source": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="multilingual"):
        build_recognizer("hf_whisper", {"source": str(tiny["whisper"]), "language": None})
    with pytest.raises(ValueError, match="not in the generation config"):
        build_recognizer("hf_whisper", {"source": str(tiny["whisper"]), "language": "fr"})


# --------------------------------------------------------------------------- experiment


def _config(manifest, model, methods, **extra):
    values = {
        "crop": "none",
        "corpus": {"manifest": str(manifest)},
        "split": {"n_test_speakers": 2, "min_utterances": 1},
        "model": model,
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
        "eval": {"mia_bin_s": 5.0, "judge_full_audio": True, "max_retain_eval": 12},
        "methods": methods,
        **extra,
    }
    overrides = []
    for key, value in values.items():
        overrides.append(f"{key}={json.dumps(value)}")
    return load_asr_config(None, overrides)


def _check_rows(rows):
    for r in rows:
        for key in ("forget_wer", "retain_wer", "test_wer", "forget_loss", "retain_loss"):
            assert np.isfinite(r[key]), (r["model"], key, r[key])
        assert 0.0 <= r["mia_auc"] <= 1.0 and 0.0 <= r["informed_auc"] <= 1.0
        assert r["verdict"]


@pytest.mark.parametrize("name, kind", [("ctc", "hf_ctc"), ("whisper", "hf_whisper")])
def test_experiment_trains_unlearns_and_evaluates_hf_models(
    corpus, tiny, tmp_path, name, kind, capsys
):
    _, manifest = corpus
    methods = {
        "asr_ft": {"lr": 1e-3},
        "asr_ng": {"lr": 1e-3},
        "asr_scrub": {"lr": 1e-3},
    }
    model = {"kind": kind, "source": str(tiny[name])}
    if kind == "hf_whisper":
        model["max_new_tokens"] = 10  # the transcripts have at most 9 tokens
    cfg = _config(manifest, model, methods)
    run = tmp_path / "run"
    report = run_asr_experiment(cfg, run, progress=False)
    rows = report["models"]
    assert [r["model"] for r in rows] == ["original", "retrained", *methods]
    _check_rows(rows)
    assert report["model"]["kind"] == kind
    for ckpt in ("original", "gold", *methods):
        assert (run / "checkpoints" / ckpt / "audio_unlearn_asr.json").is_file(), ckpt
    judge = json.loads((run / "judge.json").read_text())
    backend = "whisper" if kind == "hf_whisper" else "ctc"
    assert judge["spec"] == f"{backend}:{run / 'checkpoints' / 'original'}"
    assert judge["full_audio"]["wer"] >= 0 and judge["full_audio"]["transcriber"]["backend"]
    # the original was fine-tuned from the source, the methods moved away from it
    orig = load_recognizer(run / "checkpoints" / "original").model
    source = _load(tiny, name)
    assert any(
        not torch.equal(p, q) for p, q in zip(orig.parameters(), source.parameters(), strict=True)
    )
    ng = load_recognizer(run / "checkpoints" / "asr_ng").model
    assert any(
        not torch.equal(p, q) for p, q in zip(ng.parameters(), orig.parameters(), strict=True)
    )
    unit = "nats per token"
    assert unit in (run / "report.md").read_text()
    if kind == "hf_whisper":
        return
    # resumable: a second run reuses every checkpoint and, re-evaluating them (stored
    # evaluations removed), reports the same numbers
    capsys.readouterr()
    shutil.rmtree(run / "eval")
    again = run_asr_experiment(cfg, run, progress=False)
    assert capsys.readouterr().out.count("(same settings)") == 2 + len(methods)
    for a, b in zip(rows, again["models"], strict=True):
        assert a["forget_loss"] == pytest.approx(b["forget_loss"], rel=1e-6)


def test_experiment_rejects_bad_model_and_request_settings(tmp_path):
    with pytest.raises(ValueError, match=r"model\.kind"):
        ASRExperiment(load_asr_config(None, ["model.kind=rnnt"]), tmp_path)
    with pytest.raises(ValueError, match=r"needs model\.source"):
        ASRExperiment(load_asr_config(None, ["model.kind=hf_ctc"]), tmp_path)
    for bad, match in (
        ("[[s1], [s1, s2]]", "more than one request"),
        ("[[s1], 2]", "mixes"),
        ("[[]]", "names no speaker"),
        ("[0, 1]", ">= 1"),
        ("[]", "non-empty"),
    ):
        with pytest.raises(ValueError, match=match):
            ASRExperiment(load_asr_config(None, [f"requests={bad}"]), tmp_path)


def test_sequential_requests_report_per_request_and_recheck_earlier_speakers(
    corpus, tmp_path, monkeypatch
):
    utts, manifest = corpus
    starts = []
    real_unlearn = ASRExperiment.unlearn

    def spy(self, name, hparams, **kwargs):
        model, seconds = real_unlearn(self, name, hparams, **kwargs)
        starts.append((name, kwargs.get("start"), model, kwargs.get("path")))
        return model, seconds

    monkeypatch.setattr(ASRExperiment, "unlearn", spy)
    cfg = _config(
        manifest,
        TINY_LIBRARY,
        {"asr_ng": {"lr": 3e-3}, "asr_ft": {"lr": 3e-3}},
        requests=[1, 1],
        train={"epochs": 3, "batch_size": 8, "lr": 1e-2},
    )
    run = tmp_path / "run"
    report = run_asr_experiment(cfg, run, progress=False)
    rows = report["models"]
    assert [(r["request"], r["model"]) for r in rows] == [
        (k, m) for k in (1, 2) for m in ("original", "retrained", "asr_ng", "asr_ft")
    ]
    _check_rows(rows)
    first, second = report["requests"]
    assert len(first["speakers"]) == len(second["speakers"]) == 1
    assert set(first["speakers"]).isdisjoint(second["speakers"])
    assert set(report["forget_speakers"]) == {*first["speakers"], *second["speakers"]}
    by_speaker = {u.id: u.speaker for u in utts}
    split = json.loads((run / "split.json").read_text())
    assert {by_speaker[i] for i in split["forget"]} == set(report["forget_speakers"])
    assert second["sizes"]["retain"] == first["sizes"]["retain"] - second["sizes"]["forget"]
    assert (
        json.loads((run / "requests.json").read_text())["requests"][1]["speakers"]
        == (second["speakers"])
    )
    # request 2 continues from request 1's unlearned model, per method
    for name in ("asr_ng", "asr_ft"):
        (_, start1, model1, path1), (_, start2, _, path2) = [s for s in starts if s[0] == name]
        assert start1 is not None and start2 is model1
        assert path1.parent.name == "r1" and path2.parent.name == "r2"
        assert (run / "checkpoints" / "r2" / f"{name}.pt").is_file()
    assert (run / "checkpoints" / "r2" / "gold.pt").is_file()
    # request 1 rows have no earlier sets; request 2 rows re-measure request 1's speakers
    at = {(r["request"], r["model"]): r for r in rows}
    assert "earlier" not in at[(1, "asr_ng")]
    for name in ("original", "retrained", "asr_ng", "asr_ft"):
        (earlier,) = at[(2, name)]["earlier"]
        assert earlier["request"] == 1
        assert at[(2, name)]["earlier_forget_loss"] == pytest.approx(earlier["forget_loss"])
        assert isinstance(at[(2, name)]["earlier_still_forgotten"], bool)
    # the original did not change between requests: same loss on request 1's speakers
    assert at[(2, "original")]["earlier"][0]["forget_loss"] == pytest.approx(
        at[(1, "original")]["forget_loss"]
    )
    for name in ("asr_ng", "asr_ft"):
        (earlier,) = at[(2, name)]["earlier"]
        assert earlier["loss_at_request"] == pytest.approx(at[(1, name)]["forget_loss"])
        assert earlier["loss_change"] == pytest.approx(
            earlier["forget_loss"] - earlier["loss_at_request"]
        )
    markdown = (run / "report.md").read_text()
    assert "earlier forget loss" in markdown and "Requests, applied in sequence" in markdown
    # named requests need known training speakers
    bad = _config(manifest, TINY_LIBRARY, {}, requests=[["nobody"]])
    with pytest.raises(ValueError, match="nobody"):
        run_asr_experiment(bad, tmp_path / "bad", progress=False)


def test_last_request_reuses_the_single_request_retrained_model_key(corpus, tmp_path):
    """The retrained reference of request k is trained on train minus requests 1..k, keyed
    like a single request forgetting those speakers (so its checkpoint is shared)."""
    utts, manifest = corpus
    train_speakers = sorted(
        {u.speaker for u in utts} - {u.speaker for u in utts if u.id in _test_ids(utts)}
    )
    a, b = train_speakers[:2]
    single = ASRExperiment(
        _config(manifest, TINY_LIBRARY, {}, split=_split(speakers=[a, b])), tmp_path / "one"
    )
    sequential = ASRExperiment(
        _config(manifest, TINY_LIBRARY, {}, split=_split(), requests=[[b], [a]]),
        tmp_path / "two",
    )
    only_b = ASRExperiment(
        _config(manifest, TINY_LIBRARY, {}, split=_split(speakers=[b])), tmp_path / "b"
    )
    for experiment in (single, sequential, only_b):
        experiment.progress = False
        experiment.prepare()
    assert single.reference_key("original") == sequential.reference_key("original")
    assert single.reference_key("gold") == sequential.reference_key(
        "gold", sequential.request_gold_data[-1]
    )
    assert only_b.reference_key("gold") == sequential.reference_key(
        "gold", sequential.request_gold_data[0]
    )
    assert single.reference_key("gold") != only_b.reference_key("gold")
    first = sequential.request_dms[0]
    assert {u.speaker for u in first.sets["forget"]} == {b}
    assert a in {u.speaker for u in first.sets["retain"]}
    assert not {a, b} & {u.speaker for u in sequential.request_dms[1].sets["retain"]}
    assert [u.id for u in sequential.request_dms[1].sets["retain"]] == list(single.split.retain)


def test_max_duration_drops_long_utterances_before_the_split(corpus, tmp_path):
    utts, manifest = corpus
    limit = float(np.median([u.duration for u in utts]))
    experiment = ASRExperiment(
        _config(manifest, TINY_LIBRARY, {}, max_duration_s=limit), tmp_path / "run"
    )
    experiment.progress = False
    experiment.prepare()
    kept = {u.id for u in experiment.utterances}
    assert 0 < len(kept) < len(utts)
    assert all(u.duration <= limit for u in experiment.utterances)
    split = experiment.split
    assert set(split.forget) | set(split.retain) | set(split.test) <= kept
    assert split.params["config"]["max_duration_s"] == limit
    with pytest.raises(ValueError, match="max_duration_s"):
        bad = _config(manifest, TINY_LIBRARY, {}, max_duration_s=0.01)
        ASRExperiment(bad, tmp_path / "bad").prepare()


def _test_ids(utts):
    return set(speaker_disjoint_split(utts, n_test_speakers=2, seed=42).test)


def _split(**values):
    return {"n_test_speakers": 2, "min_utterances": 1, **values}


def test_recipe_configs_for_transformers_models_load():
    for name, kind in (
        ("librispeech_wav2vec2.yaml", "hf_ctc"),
        ("librispeech_whisper.yaml", "hf_whisper"),
    ):
        cfg = load_asr_config(ROOT / "recipes" / "asr_speaker" / name)
        assert cfg.model["kind"] == kind and cfg.model["source"]
        experiment = ASRExperiment(cfg, "unused")
        assert experiment.kind == kind
