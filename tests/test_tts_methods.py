"""TGU and the TTS baselines: teacher targets, caching, losses, one fit of every method."""

from __future__ import annotations

import pytest
import torch

from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import speaker_disjoint_split, speaker_forget_split
from audio_unlearn.data.tts_data import TTSDataModule, collate_tts
from audio_unlearn.methods import build_method, fit_unlearning, methods_for_task
from audio_unlearn.methods.tts import TTS_METHODS, concat_rows
from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig, PhoneVocabulary
from audio_unlearn.testing.dummies import make_dummy_corpus


@pytest.fixture(scope="module")
def tts_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tts_methods")
    utts = read_manifest(make_dummy_corpus(root, n_speakers=5, n_classes=2, per_class=2))
    corpus = speaker_disjoint_split(utts, n_test_speakers=1, seed=0)
    split = speaker_forget_split(utts, corpus, n_speakers=1, min_utterances=1, seed=0)
    vocab = PhoneVocabulary.from_utterances(utts)
    dm = TTSDataModule(utts, split, vocab, batch_size=4, progress=False)
    return dm, vocab


def tiny(vocab, seed=0):
    torch.manual_seed(seed)
    cfg = FlowMatchingTTSConfig(
        n_phones=len(vocab), d_model=32, n_layers=2, n_heads=2, d_phone=8, dropout=0.0
    )
    return FlowMatchingTTS(cfg)


def forget_batch(dm):
    return collate_tts([dm.dataset("forget")[i] for i in range(2)])


def test_tts_methods_are_registered():
    from audio_unlearn.methods.registry import resolve_method

    # the paper's methods: FT and NG are the task-generic ones on TTS (presets), TGU, SGU,
    # KL and retrain are TTS-only
    for name in TTS_METHODS:
        method, task, _ = resolve_method(name)
        assert task == "tts" and method in methods_for_task("tts"), name
    assert resolve_method("tts_ng")[0] == "ng" and resolve_method("tts_ft")[0] == "ft"
    for name in ("ft", "ng", "ngplus", "cfk", "ssd", "l1sparse", "omp", "prune_regrow"):
        assert name in methods_for_task("tts"), name


def test_tgu_teacher_targets_come_from_the_no_prompt_path(tts_setup, monkeypatch):
    dm, vocab = tts_setup
    method = build_method("tts_tgu", tiny(vocab), teacher_nfe=2)
    calls = []
    original_generate = method.teacher.generate

    def spy(phones, lengths, **kwargs):
        calls.append(kwargs)
        return original_generate(phones, lengths, **kwargs)

    monkeypatch.setattr(method.teacher, "generate", spy)
    batch = forget_batch(dm)
    x_bar = method.teacher_targets(batch)
    assert len(calls) == 1
    assert calls[0]["prompt"] is None and "infill" not in calls[0]
    # the same noise through the teacher's text-only generation gives the same targets
    mels, phones, lengths, _ = batch
    noise = calls[0]["noise"]
    expected = original_generate(phones, lengths, prompt=None, nfe=2, guidance=0.7, noise=noise)
    assert torch.allclose(x_bar, expected, atol=1e-5)
    assert not torch.allclose(x_bar, mels)  # a generation, not the forget speaker's audio


def test_two_teacher_generations_for_the_same_text_differ(tts_setup):
    dm, vocab = tts_setup
    method = build_method("tts_tgu", tiny(vocab), teacher_nfe=2)
    batch = forget_batch(dm)
    a, b = method.teacher_targets(batch), method.teacher_targets(batch)
    n = int(batch[2][0])
    assert (a[0, :n] - b[0, :n]).abs().mean() > 0.1
    assert method.teacher_generations == 4


def test_tgu_cache_fills_then_stops_generating(tts_setup):
    dm, vocab = tts_setup
    method = build_method("tts_tgu", tiny(vocab), teacher_nfe=2, cache_size=2)
    batch = forget_batch(dm)
    for _ in range(5):
        method.teacher_targets(batch)
    assert method.teacher_generations == 4  # 2 utterances x a bank of 2
    assert all(len(bank) == 2 for bank in method._bank.values())


def test_tgu_forget_loss_pairs_forget_context_with_teacher_targets(tts_setup, monkeypatch):
    dm, vocab = tts_setup
    method = build_method("tts_tgu", tiny(vocab), teacher_nfe=2)
    batch = forget_batch(dm)
    seen = {}
    real = method.model.flow_loss

    def spy(mels, phones, lengths, **kwargs):
        seen.update(mels=mels, **kwargs)
        return real(mels, phones, lengths, **kwargs)

    monkeypatch.setattr(method.model, "flow_loss", spy)
    method.forget_loss(batch)
    assert torch.equal(seen["mels"], batch[0])  # the student sees the forget speaker
    assert seen["drop_conditions"] is False
    assert seen["target"].shape == batch[0].shape
    assert not torch.allclose(seen["target"], batch[0])


def test_tgu_prompt_context_prefixes_a_real_forget_utterance(tts_setup, monkeypatch):
    dm, vocab = tts_setup
    method = build_method("tts_tgu", tiny(vocab), teacher_nfe=2, forget_context="prompt")
    batch = forget_batch(dm)
    mels, phones, lengths, _ = batch
    x_bar = torch.randn_like(mels)
    monkeypatch.setattr(method, "teacher_targets", lambda b: x_bar)
    seen = {}
    real = method.model.flow_loss

    def spy(m, p, n, **kwargs):
        seen.update(mels=m, phones=p, lengths=n, **kwargs)
        return real(m, p, n, **kwargs)

    monkeypatch.setattr(method.model, "flow_loss", spy)
    loss = method.forget_loss(batch)
    assert torch.isfinite(loss)
    a, b = int(lengths[0]), int(lengths[1])
    assert seen["lengths"][0] == a + b  # row 0: utterance 0 as the prompt, then utterance 1
    assert torch.equal(seen["mels"][0, :a], mels[0, :a])  # the real forget voice, unmasked
    assert not seen["infill"][0, :a].any() and seen["infill"][0, a : a + b].all()
    assert torch.equal(seen["phones"][0, a : a + b], phones[1, :b])
    assert torch.equal(seen["target"][0, a : a + b], x_bar[1, :b])  # infilled towards x_bar
    assert seen["drop_conditions"] is False


def test_tgu_weights_and_validation(tts_setup):
    _, vocab = tts_setup
    with pytest.raises(ValueError, match="remain_weight"):
        build_method("tts_tgu", tiny(vocab), remain_weight=1.5)
    with pytest.raises(ValueError, match="forget_ratio"):
        build_method("tts_tgu", tiny(vocab), forget_ratio=0.0)
    with pytest.raises(ValueError, match="forget_context"):
        build_method("tts_tgu", tiny(vocab), forget_context="speaker")


def test_concat_rows_places_the_second_utterance_after_the_first():
    m1 = torch.arange(2 * 3 * 1.0).reshape(2, 3, 1)
    m2 = -torch.ones(1, 4, 1)
    a = (m1, torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 2]))
    b = (m2, 2 * torch.ones(1, 4, dtype=torch.long), torch.tensor([4]))
    mels, phones, lengths, span = concat_rows(a, b)
    assert lengths.tolist() == [7, 6]
    assert mels[1, :2, 0].tolist() == [3.0, 4.0] and mels[1, 2:6, 0].tolist() == [-1.0] * 4
    assert span[1].tolist() == [False, False, True, True, True, True, False]
    assert phones[0].tolist() == [1, 1, 1, 2, 2, 2, 2]


@pytest.mark.parametrize("name", TTS_METHODS)
def test_every_tts_method_runs_and_changes_the_model(tts_setup, name):
    dm, vocab = tts_setup
    model = tiny(vocab).train()
    before = [p.detach().clone() for p in model.parameters()]
    hparams = {"lr": 1e-3, "epochs": 1}
    if name == "tts_tgu":
        hparams.update(teacher_nfe=2, cache_size=1)
    method = build_method(name, model, **hparams)
    dm.batch_size = dm.forget_batch_size = 2
    fit_unlearning(method, dm, max_steps=2)
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed


def test_negative_gradient_raises_the_forget_loss(tts_setup, bound):
    dm, vocab = tts_setup
    model = tiny(vocab)
    batch = forget_batch(dm)

    def forget_loss():
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            return float(model.flow_loss(*batch[:3], drop_conditions=False, generator=g))

    before = forget_loss()
    method = build_method("tts_ng", model, lr=3e-3, epochs=3)
    dm.batch_size = dm.forget_batch_size = 2
    fit_unlearning(method, dm)
    bound("forget flow loss rise after NG", forget_loss() - before, ">", 0)
