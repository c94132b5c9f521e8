"""Fluent Speech Commands (Lugosch et al., "Speech Model Pre-training for End-to-End Spoken
Language Understanding", Interspeech 2019).

Layout (as downloaded)::

    fluent_speech_commands_dataset/data/{train,valid,test}_data.csv
    fluent_speech_commands_dataset/data/speaker_demographics.csv
    fluent_speech_commands_dataset/wavs/speakers/<speakerId>/<uuid>.wav   16 kHz mono

Each split CSV starts with an unnamed pandas index column
(``,path,speakerId,transcription,action,object,location``); ``path`` is relative to the
dataset root. The official splits are speaker-disjoint (checked). UnSLU-BENCH (Koudounas
et al., Interspeech 2025) uses them as they are, with intent = action_object_location
(31 intents).

Unlike lhotse's recipe, the manifests keep ``speakerId``, which speaker forgetting needs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..manifest import Utterance
from ._base import audio_infos, finalize_splits, require_columns, require_file, write_speakers

__all__ = ["prepare_fsc"]

LAYOUT = (
    "Fluent Speech Commands layout: <root>/data/{train,valid,test}_data.csv with header "
    "',path,speakerId,transcription,action,object,location' and "
    "<root>/wavs/speakers/<speakerId>/<uuid>.wav"
)
COLUMNS = ("path", "speakerId", "transcription", "action", "object", "location")


def _find_root(corpus_dir: Path) -> Path:
    # Accept the dataset root or the folder the archive was extracted into.
    nested = corpus_dir / "fluent_speech_commands_dataset"
    if not (corpus_dir / "data").is_dir() and (nested / "data").is_dir():
        return nested
    return corpus_dir


def _read_split(root: Path, split: str, num_workers: int) -> list[Utterance]:
    csv_path = require_file(root / "data" / f"{split}_data.csv", LAYOUT)
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        require_columns(reader.fieldnames or [], COLUMNS, f"{csv_path} ({LAYOUT})")
        rows = list(reader)
    audio = [root / row["path"] for row in rows]
    infos = audio_infos(audio, num_workers=num_workers)
    utts = []
    for row, path, (duration, rate) in zip(rows, audio, infos, strict=True):
        action, obj, location = row["action"], row["object"], row["location"]
        utts.append(
            Utterance(
                id=f"{row['speakerId']}_{path.stem}",
                audio=str(path.resolve()),
                speaker=row["speakerId"],
                duration=duration,
                sample_rate=rate,
                text=row["transcription"],
                labels={
                    "intent": f"{action}_{obj}_{location}",
                    "action": action,
                    "object": obj,
                    "location": location,
                },
            )
        )
    return utts


def _read_demographics(root: Path) -> dict[str, dict[str, str]]:
    # Column names are stripped: the release spells one "Self-reported fluency level ".
    path = root / "data" / "speaker_demographics.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        require_columns(reader.fieldnames or [], ("speakerId",), str(path))
        return {
            row["speakerId"]: {
                k.strip(): v.strip() for k, v in row.items() if k and k.strip() != "speakerId"
            }
            for row in reader
        }


def prepare_fsc(
    corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, *, num_workers: int = 1
) -> dict[str, Path]:
    """Write train/valid/test manifests of Fluent Speech Commands (official splits).

    Labels: ``intent`` (``action_object_location``, e.g. ``activate_lights_kitchen``;
    "none" parts kept as the CSV spells them), ``action``, ``object``, ``location``.
    Speaker: ``speakerId``. Ids: ``<speakerId>_<wav stem>``. When
    ``data/speaker_demographics.csv`` is present its rows are written to
    ``speakers.json`` (column names stripped of the release's trailing spaces).

    Args:
        corpus_dir: the ``fluent_speech_commands_dataset`` folder (or its parent).
        output_dir: where ``{train,valid,test}.jsonl`` and ``corpus.json`` are written.
        num_workers: threads reading wav headers (durations).

    Returns:
        ``{"train": path, "valid": path, "test": path}``.

    Raises:
        FileNotFoundError: a split CSV or a listed wav is missing.
        ValueError: a CSV lacks a column, or the splits share a speaker.
    """
    root = _find_root(Path(corpus_dir))
    splits = {name: _read_split(root, name, num_workers) for name in ("train", "valid", "test")}
    demographics = _read_demographics(root)
    if demographics:
        write_speakers(output_dir, demographics)
    return finalize_splits(
        output_dir,
        splits,
        corpus="fsc",
        disjoint=(("train", "valid"), ("train", "test"), ("valid", "test")),
        options={"corpus_dir": str(root.resolve())},
    )
