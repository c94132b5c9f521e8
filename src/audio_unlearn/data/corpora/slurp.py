"""SLURP (Bastianelli et al., "SLURP: A Spoken Language Understanding Resource Package",
EMNLP 2020) and the speaker-disjoint SLURP* re-split of UnSLU-BENCH (Koudounas et al.,
"Alexa, can you forget me? Machine Unlearning Benchmark in Spoken Language
Understanding", Interspeech 2025).

Layout (as downloaded)::

    <root>/dataset/slurp/{train,devel,test,train_synthetic}.jsonl
    <root>/dataset/slurp/metadata.json
    <root>/audio/slurp_real/<file>.flac      (16 kHz FLAC)
    <root>/audio/slurp_synth/<file>.flac

One JSONL record per text (``slurp_id, sentence, intent, action, scenario, recordings,
...``); ``recordings`` lists ``{file, wer, ent_wer, status}``, one per spoken take:
``audio-<n>.flac`` (far-field) and ``audio-<n>-headset.flac``, where ``<n>`` can be
negative (``audio--1504194195.flac``). Each take becomes one utterance, id = the file
stem. The JSONL has no speaker ids: ``metadata.json`` maps ``str(slurp_id)`` to a record
whose ``recordings[<file>].usrid`` (e.g. ``FO-488``) is the speaker. ``intent`` is taken
as given (usually ``scenario_action``, but some records have ``intent == action``).

The official SLURP splits are *not* speaker-disjoint; :func:`prepare_slurp_star` writes
the SLURP* re-split that is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..manifest import Utterance
from ._base import audio_infos, finalize_splits, require_dir, require_file

__all__ = ["SYNTHETIC_SPEAKER", "prepare_slurp", "prepare_slurp_star", "slurp_star_split"]

LAYOUT = (
    "SLURP layout: <root>/dataset/slurp/{train,devel,test}.jsonl, "
    "<root>/dataset/slurp/metadata.json and <root>/audio/slurp_real/<file>.flac"
)
SPLIT_FILES = {"train": "train", "valid": "devel", "test": "test"}
RECORD_KEYS = ("slurp_id", "sentence", "intent", "action", "scenario", "recordings")
HEADSET_MODES = ("include", "exclude", "only")
#: Speaker id given to synthetic (TTS) recordings, which have no human speaker.
SYNTHETIC_SPEAKER = "slurp_synth"


def _find_root(corpus_dir: Path) -> Path:
    # Accept the repository root or its dataset/slurp folder.
    if (corpus_dir / "metadata.json").is_file() and corpus_dir.name == "slurp":
        return corpus_dir.parent.parent
    return corpus_dir


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            missing = [k for k in RECORD_KEYS if k not in record]
            if missing:
                raise ValueError(
                    f"{path}:{lineno}: record lacks key(s) {missing}; SLURP records have "
                    f"{list(RECORD_KEYS)} ({LAYOUT})"
                )
            records.append(record)
    return records


def _speaker_of(metadata: Mapping[str, Any], slurp_id: Any, file: str, source: Path) -> str:
    try:
        return str(metadata[str(slurp_id)]["recordings"][file]["usrid"])
    except (KeyError, TypeError):
        raise ValueError(
            f"{source} has no speaker for slurp_id {slurp_id} recording {file!r} (expected "
            f"metadata[{str(slurp_id)!r}]['recordings'][{file!r}]['usrid']); metadata.json "
            "does not match the JSONL files: re-download the SLURP repository"
        ) from None


def _keep(file: str, headset: str) -> bool:
    is_headset = Path(file).stem.endswith("-headset")
    return {"include": True, "exclude": not is_headset, "only": is_headset}[headset]


def _slurp_utterances(
    root: Path, *, headset: str, include_synthetic: bool, num_workers: int
) -> dict[str, list[Utterance]]:
    if headset not in HEADSET_MODES:
        raise ValueError(f"headset must be one of {HEADSET_MODES}, got {headset!r}")
    text_dir = require_dir(root / "dataset" / "slurp", LAYOUT)
    meta_path = require_file(text_dir / "metadata.json", LAYOUT)
    real_dir = require_dir(root / "audio" / "slurp_real", LAYOUT)
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{meta_path} is not valid JSON ({err.msg}); re-download it") from None
    sources: dict[str, list[tuple[Path, bool]]] = {
        split: [(require_file(text_dir / f"{name}.jsonl", LAYOUT), False)]
        for split, name in SPLIT_FILES.items()
    }
    synth_dir = root / "audio" / "slurp_synth"
    if include_synthetic:
        synth = "SLURP synthetic layout: dataset/slurp/train_synthetic.jsonl, audio/slurp_synth/"
        sources["train"].append((require_file(text_dir / "train_synthetic.jsonl", synth), True))
        require_dir(synth_dir, synth)
    splits: dict[str, list[Utterance]] = {}
    for split, files in sources.items():
        pending: list[tuple[dict[str, Any], str, str, Path]] = []
        for jsonl, synthetic in files:
            for record in _read_jsonl(jsonl):
                for rec in record["recordings"]:
                    file = rec["file"]
                    if not _keep(file, headset):
                        continue
                    if synthetic:
                        speaker, audio = SYNTHETIC_SPEAKER, synth_dir / file
                    else:
                        speaker = _speaker_of(metadata, record["slurp_id"], file, meta_path)
                        audio = real_dir / file
                    pending.append((record, file, speaker, audio))
        infos = audio_infos([p[3] for p in pending], num_workers=num_workers)
        splits[split] = [
            Utterance(
                id=Path(file).stem,
                audio=str(audio.resolve()),
                speaker=speaker,
                duration=duration,
                sample_rate=rate,
                text=str(record["sentence"]),
                labels={
                    "intent": str(record["intent"]),
                    "scenario": str(record["scenario"]),
                    "action": str(record["action"]),
                },
            )
            for (record, file, speaker, audio), (duration, rate) in zip(pending, infos, strict=True)
        ]
    return splits


def prepare_slurp(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    headset: str = "include",
    include_synthetic: bool = False,
    num_workers: int = 1,
) -> dict[str, Path]:
    """Write train/valid/test manifests of SLURP with the official splits.

    ``devel`` becomes ``valid``. Labels: ``intent`` (as given), ``scenario``, ``action``.
    The official splits share speakers; use :func:`prepare_slurp_star` for a
    speaker-disjoint split.

    Args:
        corpus_dir: the SLURP repository root (holding ``dataset/`` and ``audio/``).
        output_dir: where ``{train,valid,test}.jsonl`` and ``corpus.json`` are written.
        headset: ``"include"`` both far-field and headset takes, ``"exclude"`` headset
            takes, or keep ``"only"`` them.
        include_synthetic: add ``train_synthetic.jsonl`` (``audio/slurp_synth``) to
            train; these TTS recordings have no human speaker and all get the speaker id
            :data:`SYNTHETIC_SPEAKER`.
        num_workers: threads reading FLAC headers (durations).

    Raises:
        FileNotFoundError: a JSONL file, ``metadata.json`` or a listed FLAC is missing.
        ValueError: a record lacks a key or has no speaker in ``metadata.json``.
    """
    root = _find_root(Path(corpus_dir))
    splits = _slurp_utterances(
        root, headset=headset, include_synthetic=include_synthetic, num_workers=num_workers
    )
    return finalize_splits(
        output_dir,
        splits,
        corpus="slurp",
        options={
            "corpus_dir": str(root.resolve()),
            "headset": headset,
            "include_synthetic": include_synthetic,
        },
    )


def slurp_star_split(
    train: Sequence[Utterance],
    valid: Sequence[Utterance],
    test: Sequence[Utterance],
    *,
    train_fraction: float = 0.8,
    valid_fraction: float = 0.1,
    label_key: str = "intent",
) -> dict[str, list[Utterance]]:
    """The SLURP* speaker-disjoint re-split of UnSLU-BENCH.

    Steps, as in the benchmark's dataset-creation code:

    1. drop test utterances whose ``label_key`` never occurs in train;
    2. merge train, valid and the filtered test, in that order (N utterances);
    3. walk the speakers in order of first appearance in that merged list, and give
       each speaker's *whole* set of utterances to train while train holds fewer than
       ``train_fraction * N`` utterances, else to valid while valid holds fewer than
       ``valid_fraction * N``, else to test.

    The check comes before a speaker is added, so train (and valid) may overshoot their
    share by at most one speaker's utterances. The order is deterministic given the
    input order (the official JSONL order for :func:`prepare_slurp_star`).

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}``, each in merged-list order.
    """
    if not (0 < train_fraction < 1 and 0 <= valid_fraction < 1 - train_fraction):
        raise ValueError(
            f"need 0 < train_fraction < 1 and 0 <= valid_fraction < 1 - train_fraction, got "
            f"{train_fraction} and {valid_fraction}"
        )
    train_labels = {u.label(label_key) for u in train}
    merged = [*train, *valid, *(u for u in test if u.label(label_key) in train_labels)]
    by_speaker: dict[str, list[Utterance]] = {}
    for u in merged:  # dicts keep insertion order: first appearance
        by_speaker.setdefault(u.speaker, []).append(u)
    n = len(merged)
    out: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for utts in by_speaker.values():
        if len(out["train"]) < train_fraction * n:
            out["train"].extend(utts)
        elif len(out["valid"]) < valid_fraction * n:
            out["valid"].extend(utts)
        else:
            out["test"].extend(utts)
    order = {u.id: i for i, u in enumerate(merged)}
    return {name: sorted(utts, key=lambda u: order[u.id]) for name, utts in out.items()}


def prepare_slurp_star(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    headset: str = "include",
    train_fraction: float = 0.8,
    valid_fraction: float = 0.1,
    num_workers: int = 1,
) -> dict[str, Path]:
    """Write train/valid/test manifests of SLURP* (speaker-disjoint; see
    :func:`slurp_star_split`).

    Synthetic recordings are never included (they have no speaker to forget).

    Args:
        corpus_dir: the SLURP repository root.
        output_dir: where ``{train,valid,test}.jsonl`` and ``corpus.json`` are written.
        headset: as in :func:`prepare_slurp`.
        train_fraction: share of utterances given to train (UnSLU-BENCH: 0.8).
        valid_fraction: share given to valid (UnSLU-BENCH: 0.1); the rest is test.
        num_workers: threads reading FLAC headers.
    """
    root = _find_root(Path(corpus_dir))
    official = _slurp_utterances(
        root, headset=headset, include_synthetic=False, num_workers=num_workers
    )
    splits = slurp_star_split(
        official["train"],
        official["valid"],
        official["test"],
        train_fraction=train_fraction,
        valid_fraction=valid_fraction,
    )
    empty = [name for name, utts in splits.items() if not utts]
    if empty:  # say why, before the generic "split is empty"
        sizes = {name: len(utts) for name, utts in splits.items()}
        n_speakers = len({u.speaker for utts in splits.values() for u in utts})
        raise ValueError(
            f"SLURP*: split(s) {empty} are empty: the {n_speakers} speakers ran out (whole "
            f"speakers go to train until it holds {train_fraction} of the utterances, then "
            f"to valid until {valid_fraction}, the rest to test; sizes {sizes}); a corpus "
            "this small, or one speaker holding most utterances, needs other fractions"
        )
    return finalize_splits(
        output_dir,
        splits,
        corpus="slurp_star",
        disjoint=(("train", "valid"), ("train", "test"), ("valid", "test")),
        options={
            "corpus_dir": str(root.resolve()),
            "headset": headset,
            "train_fraction": train_fraction,
            "valid_fraction": valid_fraction,
            "speaker_order": "first appearance in train+devel+filtered test (JSONL order)",
        },
    )
