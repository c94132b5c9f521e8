"""Corpus loaders: one module per public corpus, each with a lhotse-style prepare step.

``prepare_<corpus>(corpus_dir, output_dir, **options) -> {split: manifest path}`` reads
the corpus as users download it (quirks included), keeps the corpus's own speaker ids,
validates the splits, and writes ``<output_dir>/{train,valid,test}.jsonl`` (atomic, so a
re-run overwrites identically) plus ``corpus.json``. Audio is not decoded, except for
Hugging Face rows whose audio is embedded bytes (written once as 16 kHz wavs).

| name | corpus | splits |
|---|---|---|
| ``fsc`` | Fluent Speech Commands | official (speaker-disjoint) |
| ``slurp`` | SLURP | official (not speaker-disjoint) |
| ``slurp_star`` | SLURP* (UnSLU-BENCH) | speaker-disjoint greedy 80/10/10 |
| ``speech_commands`` | Google Speech Commands v0.02 | official lists |
| ``audiomnist`` | AudioMNIST | seeded by-speaker split |
| ``italic`` | ITALIC (HF, extra ``hf``) | config's own (``hard_speaker``) |
| ``speech_massive`` | Speech-MASSIVE (HF, extra ``hf``) | UnSLU-BENCH validation rule |
| ``librispeech`` | LibriSpeech (ASR) | official subsets (speaker-disjoint) |
| ``libritts`` | LibriTTS / LibriTTS-R + MFA TextGrids (TTS) | official subsets (speaker-disjoint) |
| ``libriheavy`` | LibriHeavy cuts + MFA TextGrids (TTS; cuts written as files) | manifest subsets |

:func:`read_prepared` turns the written manifests into the utterance list and
:class:`~audio_unlearn.data.splits.CorpusSplit` that the forget-split functions take.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..manifest import Utterance, read_manifest
from ..splits import CorpusSplit
from .audiomnist import prepare_audiomnist
from .fsc import prepare_fsc
from .hf_datasets import prepare_italic, prepare_speech_massive
from .libriheavy import prepare_libriheavy
from .librispeech import prepare_librispeech
from .libritts import prepare_libritts
from .slurp import prepare_slurp, prepare_slurp_star, slurp_star_split
from .speech_commands import prepare_speech_commands

__all__ = [
    "CORPORA",
    "prepare_audiomnist",
    "prepare_corpus",
    "prepare_fsc",
    "prepare_italic",
    "prepare_libriheavy",
    "prepare_librispeech",
    "prepare_libritts",
    "prepare_slurp",
    "prepare_slurp_star",
    "prepare_speech_commands",
    "prepare_speech_massive",
    "read_prepared",
    "slurp_star_split",
]

#: Corpus name -> prepare function.
CORPORA: dict[str, Callable[..., dict[str, Path]]] = {
    "fsc": prepare_fsc,
    "libritts": prepare_libritts,
    "libriheavy": prepare_libriheavy,
    "slurp": prepare_slurp,
    "slurp_star": prepare_slurp_star,
    "speech_commands": prepare_speech_commands,
    "audiomnist": prepare_audiomnist,
    "italic": prepare_italic,
    "speech_massive": prepare_speech_massive,
    "librispeech": prepare_librispeech,
}


def prepare_corpus(
    name: str, corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, **options: Any
) -> dict[str, Path]:
    """Run the prepare step of corpus ``name`` (a key of :data:`CORPORA`).

    Raises:
        ValueError: unknown corpus name, or an option the corpus does not take.
    """
    try:
        prepare = CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {sorted(CORPORA)}") from None
    accepted = [
        p.name for p in inspect.signature(prepare).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ValueError(f"corpus {name!r} takes no option(s) {unknown}; it takes {accepted}")
    return prepare(corpus_dir, output_dir, **options)


def read_prepared(
    manifests: Mapping[str, str | os.PathLike],
) -> tuple[list[Utterance], CorpusSplit]:
    """Read the manifests a prepare step wrote into ``(utterances, CorpusSplit)``.

    Args:
        manifests: ``{"train": path, "valid": path, "test": path}`` (a prepare step's
            return value); ``valid`` may be absent.

    Raises:
        ValueError: ``train`` or ``test`` is missing, or an id is in two splits.
    """
    missing = [k for k in ("train", "test") if k not in manifests]
    if missing:
        raise ValueError(f"manifests lack split(s) {missing}; got {sorted(manifests)}")
    utterances: list[Utterance] = []
    ids: dict[str, tuple[str, ...]] = {}
    for name in ("train", "valid", "test"):
        utts = read_manifest(manifests[name]) if name in manifests else []
        ids[name] = tuple(u.id for u in utts)
        utterances.extend(utts)
    seen: set[str] = set()
    for u in utterances:
        if u.id in seen:
            raise ValueError(f"utterance id {u.id!r} appears in more than one split manifest")
        seen.add(u.id)
    return utterances, CorpusSplit(train=ids["train"], valid=ids["valid"], test=ids["test"])
