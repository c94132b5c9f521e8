"""pytest fixtures for users' tests, registered through the ``pytest11`` entry point.

Installing audio-unlearn makes these fixtures available in any pytest run, with no import
or conftest: ask for them by name.

- ``tiny_corpus``: path of a dummy-corpus manifest (10 speakers x 4 classes x 6 one-second
  utterances; tone sequences, no espeak-ng), made once per session.
- ``tiny_class_split``: a :class:`~audio_unlearn.data.ForgetSplit` forgetting class "c0",
  with 3 held-out test speakers.
- ``tiny_datamodule``: an :class:`~audio_unlearn.data.datamodule.UnlearningDataModule`
  over that split (batch 16), audio loaded.
- ``tiny_classifier``: a fresh copy (per test) of a small log-mel CNN trained on it.
- ``tiny_checkpoints``: ``{family: path}`` of a tiny randomly initialised model of every
  classifier family (``logmel_cnn``, ``ecapa``, ``hf:wav2vec2``, ``hf:hubert``,
  ``hf:wavlm``, ``hf:whisper_encoder``), saved with the library's checkpoint code (the HF
  encoders first through ``save_pretrained``).
- ``tiny_tts``: ``(datamodule, checkpoint path)``: a
  :class:`~audio_unlearn.data.tts_data.TTSDataModule` over a speaker split of the dummy
  corpus (its syllables are the exact phone alignment; one forget speaker, one unseen)
  and a tiny randomly initialised flow-matching TTS saved with
  :func:`~audio_unlearn.models.tts.save_tts`; ``load_tts(path).model`` is a fresh copy.
"""

from __future__ import annotations

import copy

import pytest

__all__ = [
    "tiny_checkpoints",
    "tiny_class_split",
    "tiny_classifier",
    "tiny_corpus",
    "tiny_datamodule",
    "tiny_tts",
]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    from audio_unlearn.testing import make_dummy_corpus

    return make_dummy_corpus(
        tmp_path_factory.mktemp("tiny_corpus"), n_speakers=10, n_classes=4, per_class=6, seed=0
    )


@pytest.fixture(scope="session")
def tiny_class_split(tiny_corpus):
    from audio_unlearn.data import class_forget_split, read_manifest, speaker_disjoint_split

    utts = read_manifest(tiny_corpus)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=0)
    return class_forget_split(utts, corpus, classes=["c0"], label_key="intent")


@pytest.fixture(scope="session")
def tiny_datamodule(tiny_corpus, tiny_class_split):
    from audio_unlearn.data import read_manifest
    from audio_unlearn.data.datamodule import UnlearningDataModule

    dm = UnlearningDataModule(
        read_manifest(tiny_corpus),
        tiny_class_split,
        batch_size=16,
        max_seconds=1.0,
        progress=False,
    )
    dm.setup()
    return dm


@pytest.fixture(scope="session")
def _tiny_trained_classifier(tiny_datamodule):
    from audio_unlearn.testing import train_classifier

    return train_classifier(tiny_datamodule, epochs=6, lr=3e-3, seed=0, channels=32)


@pytest.fixture
def tiny_classifier(_tiny_trained_classifier):
    return copy.deepcopy(_tiny_trained_classifier).train()


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    import torch

    from audio_unlearn.models import build_classifier, save_classifier
    from audio_unlearn.smoke import ALL_MODELS, tiny_model_kwargs

    root = tmp_path_factory.mktemp("tiny_checkpoints")
    paths = {}
    for family in ALL_MODELS:
        torch.manual_seed(0)
        model = build_classifier(num_classes=4, **tiny_model_kwargs(family, root))
        paths[family] = save_classifier(
            root / f"{family.replace(':', '-')}.pt",
            model,
            classes=("c0", "c1", "c2", "c3"),
            label_key="intent",
        )
    return paths


@pytest.fixture(scope="session")
def tiny_tts(tmp_path_factory):
    import torch

    from audio_unlearn.data import read_manifest, speaker_disjoint_split, speaker_forget_split
    from audio_unlearn.data.tts_data import TTSDataModule
    from audio_unlearn.models.tts import (
        DurationTable,
        FlowMatchingTTS,
        FlowMatchingTTSConfig,
        MelConfig,
        PhoneVocabulary,
        save_tts,
    )
    from audio_unlearn.testing import make_dummy_corpus

    root = tmp_path_factory.mktemp("tiny_tts")
    utts = read_manifest(make_dummy_corpus(root, n_speakers=5, n_classes=2, per_class=2))
    corpus = speaker_disjoint_split(utts, n_test_speakers=1, seed=0)
    split = speaker_forget_split(utts, corpus, n_speakers=1, min_utterances=1, seed=0)
    vocab = PhoneVocabulary.from_utterances(utts)
    dm = TTSDataModule(utts, split, vocab, batch_size=4, progress=False)
    torch.manual_seed(0)
    model = FlowMatchingTTS(
        FlowMatchingTTSConfig(n_phones=len(vocab), d_model=32, n_layers=2, n_heads=2, d_phone=8)
    )
    path = save_tts(
        root / "tiny_tts.pt", model, vocab, DurationTable.from_utterances(utts), MelConfig()
    )
    return dm, path
