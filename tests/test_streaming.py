"""Streaming data for the ASR and TTS tasks, and the on-disk TTS feature cache (issue 18):
streamed batches equal the in-memory ones, files are checked before any training, the
cache is keyed by every setting the features depend on."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.data.asr_data import ASRDataModule, WaveformStore
from audio_unlearn.data.manifest import PhoneSpan, Utterance
from audio_unlearn.data.sampling import DurationBucketBatchSampler
from audio_unlearn.data.splits import ForgetSplit
from audio_unlearn.data.tts_data import (
    FeatureCache,
    TTSDataModule,
    TTSDataset,
    mel_moments,
    utterance_features,
)
from audio_unlearn.models.asr import CharVocabulary
from audio_unlearn.models.tts import MelConfig, MelFrontEnd, PhoneVocabulary

SR = 16_000
PHONES = ("a", "b", "k", "s")


def _utterance(root, k: int) -> Utterance:
    """A harmonic tone of variable length with a phone alignment and a transcript."""
    rng = np.random.default_rng(k)
    n = 2 + k % 4
    seconds = 0.05 + 0.1 * n + 0.3
    t = np.arange(int(seconds * SR)) / SR
    wav = sum(np.sin(2 * np.pi * (120 + 15 * k) * h * t) / h for h in range(1, 5))
    wav = 0.3 * wav / np.abs(wav).max() + 0.01 * rng.standard_normal(t.size)
    path = root / f"u{k}.wav"
    sf.write(path, wav.astype(np.float32), SR)
    spans = tuple(PhoneSpan(PHONES[(k + j) % 4], 0.05 + 0.1 * j, 0.15 + 0.1 * j) for j in range(n))
    return Utterance(
        id=f"u{k}",
        audio=str(path),
        speaker=f"s{k % 3}",
        duration=seconds,
        sample_rate=SR,
        text="ab" if k % 2 else "ba",
        alignment=spans,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    utts = [_utterance(root, k) for k in range(12)]
    ids = tuple(u.id for u in utts)
    split = ForgetSplit(kind="item", forget=ids[:3], retain=ids[3:9], valid=ids[9:], test=())
    return utts, split


def _batches(loader):
    return [tuple(t.clone() for t in b) for b in loader]


def _same(a, b) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        for s, t in zip(x, y, strict=True):
            assert torch.equal(s, t)


@pytest.mark.parametrize("bucket_seconds", [None, 2.5])
def test_streamed_asr_batches_in_workers_equal_the_in_memory_ones(corpus, bucket_seconds):
    utts, split = corpus
    vocab = CharVocabulary((" ", "a", "b"))
    out = {}
    for stream, workers in ((False, 0), (True, 2)):
        store = WaveformStore(crop="speech", margin_s=0.1, stream=stream)
        dm = ASRDataModule(
            utts,
            split,
            vocab.encode,
            batch_size=4,
            seed=3,
            store=store,
            progress=False,
            bucket_seconds=bucket_seconds,
            num_workers=workers,
        )
        dm.setup()
        assert (len(store._store) == 0) == stream  # streaming holds no audio
        out[stream] = _batches(dm.loader("train", shuffle=True)) + _batches(
            dm.loader("valid", shuffle=False)
        )
    _same(out[False], out[True])


def test_streaming_stores_check_every_header_and_name_a_missing_file(corpus, tmp_path):
    utts, _ = corpus
    gone = Utterance(**{**utts[0].__dict__, "id": "gone", "audio": str(tmp_path / "gone.wav")})
    with pytest.raises(FileNotFoundError, match=r"gone\.wav"):
        WaveformStore(stream=True).preload([*utts, gone], progress=False)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    bad = Utterance(**{**utts[0].__dict__, "id": "bad", "audio": str(broken)})
    vocab = PhoneVocabulary.from_utterances(utts)
    with pytest.raises(ValueError, match=r"broken\.wav"):
        TTSDataset([*utts, bad], vocab, MelFrontEnd(MelConfig()), stream=True)
    unaligned = Utterance(**{**utts[1].__dict__, "id": "unaligned", "alignment": None})
    with pytest.raises(ValueError, match="unaligned"):
        TTSDataset([unaligned], vocab, MelFrontEnd(MelConfig()), stream=True)


def test_streamed_tts_batches_in_workers_equal_the_in_memory_ones(corpus, tmp_path):
    utts, split = corpus
    vocab = PhoneVocabulary.from_utterances(utts)
    out = {}
    for stream, workers, cache in ((False, 0, None), (True, 2, None), (True, 2, tmp_path / "c")):
        dm = TTSDataModule(
            utts,
            split,
            vocab,
            batch_size=4,
            seed=1,
            progress=False,
            stream=stream,
            num_workers=workers,
            feature_cache=cache,
        )
        assert (dm.dataset("train").items is None) == stream
        out[(stream, cache)] = _batches(dm.loader("train", shuffle=True))
    _same(out[(False, None)], out[(True, None)])
    _same(out[(False, None)], out[(True, tmp_path / "c")])
    # the workers wrote one cache file per training utterance
    assert len(list((tmp_path / "c").rglob("*.pt"))) == len(split.forget) + len(split.retain)


def test_mel_moments_equal_the_statistics_over_all_frames(corpus):
    utts, _ = corpus
    vocab = PhoneVocabulary.from_utterances(utts)
    mels = [utterance_features(u, vocab, MelFrontEnd(MelConfig()))[0] for u in utts]
    frames = torch.cat(mels).double()
    mean, std = mel_moments(mels)
    torch.testing.assert_close(mean.double(), frames.mean(0), rtol=0, atol=1e-5)
    torch.testing.assert_close(std.double(), frames.std(0), rtol=0, atol=1e-5)
    # streamed and in-memory data sets give the same statistics, bit for bit
    front = MelFrontEnd(MelConfig())
    held = mel_moments(TTSDataset(utts, vocab, front).mels())
    streamed = mel_moments(TTSDataset(utts, vocab, front, stream=True).mels())
    assert all(torch.equal(a, b) for a, b in zip(held, streamed, strict=True))
    with pytest.raises(ValueError, match="2 mel frames"):
        mel_moments([])


def test_feature_cache_hits_and_is_keyed_by_every_setting(corpus, tmp_path):
    utts, _ = corpus
    vocab = PhoneVocabulary.from_utterances(utts)
    front = MelFrontEnd(MelConfig())
    cache = FeatureCache(tmp_path / "cache")
    first = cache.features(utts[0], vocab, front, margin_s=0.15)
    again = cache.features(utts[0], vocab, front, margin_s=0.15)
    assert (cache.hits, cache.misses) == (1, 1)
    expected = utterance_features(utts[0], vocab, front, margin_s=0.15)
    for a, b, c in zip(first, again, expected, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    key = cache.key(utts[0], vocab, front, 0.15)
    assert cache.key(utts[0], vocab, front, 0.25) != key  # margin
    assert cache.key(utts[0], vocab, MelFrontEnd(MelConfig(n_mels=40)), 0.15) != key  # mel
    other_vocab = PhoneVocabulary([*PHONES, "z"])
    assert cache.key(utts[0], other_vocab, front, 0.15) != key  # vocabulary
    shifted = Utterance(**{**utts[0].__dict__, "alignment": utts[0].alignment[:-1]})
    assert cache.key(shifted, vocab, front, 0.15) != key  # alignment
    # a rewritten audio file is a new entry, never the stale features
    path = utts[0].audio
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        assert cache.key(utts[0], vocab, front, 0.15) != key
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # a truncated entry (a killed writer) is recomputed, not served
    cache.path(key).write_bytes(b"trunc")
    assert torch.equal(cache.features(utts[0], vocab, front, margin_s=0.15)[0], expected[0])
    assert cache.misses == 2


def test_tts_reference_training_batches_by_duration_and_unlearning_keeps_its_batches(corpus):
    """``bucket_seconds``: the original and gold stages serve duration-bucketed batches
    within the padded-seconds budget, every utterance once per epoch; the unlearning stage
    keeps the batch sizes the method asks for."""
    utts, split = corpus
    vocab = PhoneVocabulary.from_utterances(utts)
    dm = TTSDataModule(utts, split, vocab, batch_size=4, progress=False, bucket_seconds=1.6)
    frame_s = MelConfig().hop_length / MelConfig().sample_rate
    for stage, name in (("original", "train"), ("gold", "retain")):
        dm.stage = stage
        loader = dm.train_dataloader()
        utterances = dm.dataset(name).utterances
        seen = []
        for (mels, _, lengths, index), planned in zip(loader, loader.batch_sampler, strict=True):
            assert index.tolist() == list(planned)
            seconds = [dm.seconds(utterances[i]) for i in planned]
            assert len(planned) == 1 or max(seconds) * len(planned) <= 1.6
            assert mels.shape[0] * int(lengths.max()) * frame_s <= max(1.6, max(seconds)) + 0.02
            seen += index.tolist()
        assert sorted(seen) == list(range(len(utterances)))  # every utterance, once
        # the sampler plans with the cropped seconds, known before any mel is computed
        plan = DurationBucketBatchSampler([dm.seconds(u) for u in utterances], 1.6, seed=0)
        assert [list(b) for b in loader.batch_sampler] == plan.all_batches()
        assert dm.seconds(utterances[0]) < utterances[0].duration
    dm.stage = "unlearn"
    combined = dm.train_dataloader()
    assert {k: v.batch_size for k, v in combined.iterables.items()} == {"forget": 4, "retain": 4}
    with pytest.raises(ValueError, match="bucket_seconds"):
        TTSDataModule(utts, split, vocab, bucket_seconds=0.0)
