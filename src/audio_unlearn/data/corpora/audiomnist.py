"""AudioMNIST (Becker et al., "AudioMNIST: Exploring Explainable Artificial Intelligence for
Audio Analysis on a Simple Benchmark", Journal of the Franklin Institute, 2024;
arXiv:1807.03418).

Layout (as downloaded from the authors' repository)::

    <root>/data/<NN>/<digit>_<NN>_<rep>.wav   NN = 01..60, 48 kHz mono, 50 reps per digit
    <root>/data/audioMNIST_meta.txt          JSON despite the extension

The metadata maps ``"01".."60"`` to ``accent, age, gender, "native speaker", origin,
recordingdate, recordingroom``; ``age`` is an int for one speaker and a string
(sometimes not a number) for the others.

AudioMNIST has no official split. This loader splits *by speaker* with
:func:`~audio_unlearn.data.splits.speaker_disjoint_split` (a seeded shuffle of the
sorted speaker ids), never per utterance, so test speakers are unseen in training.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..manifest import Utterance
from ..splits import speaker_disjoint_split
from ._base import audio_infos, finalize_splits, require_dir, require_file, write_speakers

__all__ = ["prepare_audiomnist"]

LAYOUT = (
    "AudioMNIST layout: <root>/data/<NN>/<digit>_<NN>_<rep>.wav and "
    "<root>/data/audioMNIST_meta.txt (JSON)"
)
FILE_RE = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[0-9]+)_(?P<rep>[0-9]+)$")


def _find_data_dir(corpus_dir: Path) -> Path:
    # Accept the repository root or its data/ folder.
    if (corpus_dir / "audioMNIST_meta.txt").is_file():
        return corpus_dir
    return require_dir(corpus_dir / "data", LAYOUT)


def _age(value: Any) -> int | None:
    # The metadata holds one int and many strings, some of them not numbers.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def prepare_audiomnist(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    n_test_speakers: int = 12,
    n_valid_speakers: int = 6,
    seed: int = 0,
    num_workers: int = 1,
) -> dict[str, Path]:
    """Write speaker-disjoint train/valid/test manifests of AudioMNIST.

    Labels: ``digit`` ("0".."9") and ``gender`` (from the metadata, for attribute
    tasks). Speaker: the two-digit folder name (``"01"``..``"60"``). Ids: the wav stem
    (``<digit>_<NN>_<rep>``). The full speaker metadata goes to ``speakers.json``, with
    ``age`` as an int (null when the release's value is not a number) and the raw value
    kept as ``age_raw``.

    Args:
        corpus_dir: the AudioMNIST repository root (or its ``data`` folder).
        output_dir: where ``{train,valid,test}.jsonl``, ``speakers.json`` and
            ``corpus.json`` are written.
        n_test_speakers: speakers held out for test (default 12 of 60: 20%).
        n_valid_speakers: speakers held out for validation (default 6: 10%).
        seed: shuffle seed of the speaker split.
        num_workers: threads reading wav headers (durations).

    Raises:
        FileNotFoundError: the data folder or the metadata file is missing.
        ValueError: fewer than one test/valid speaker asked, the metadata is not JSON or
            lacks a speaker, a file name does not follow ``<digit>_<NN>_<rep>.wav`` in
            folder ``<NN>``, or too few speakers.
    """
    if n_test_speakers < 1 or n_valid_speakers < 1:
        raise ValueError(
            f"n_test_speakers and n_valid_speakers must be >= 1 (got {n_test_speakers}, "
            f"{n_valid_speakers}): prepare_audiomnist writes train, valid and test"
        )
    data_dir = _find_data_dir(Path(corpus_dir))
    meta_path = require_file(data_dir / "audioMNIST_meta.txt", LAYOUT)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{meta_path} is not valid JSON ({err.msg}); AudioMNIST's metadata is a JSON "
            "object despite the .txt extension: re-download it"
        ) from None
    speaker_dirs = sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not speaker_dirs:
        raise FileNotFoundError(f"no speaker folders <NN>/ in {data_dir} ({LAYOUT})")
    files: list[tuple[Path, str, str]] = []
    for folder in speaker_dirs:
        if folder.name not in meta:
            raise ValueError(
                f"speaker folder {folder} has no entry {folder.name!r} in {meta_path} "
                f"(it has {sorted(meta)[:5]}...)"
            )
        for wav in sorted(folder.glob("*.wav")):
            m = FILE_RE.match(wav.stem)
            if m is None or m["speaker"] != folder.name:
                raise ValueError(
                    f"AudioMNIST file {wav} does not follow <digit>_{folder.name}_<rep>.wav "
                    f"({LAYOUT})"
                )
            files.append((wav, folder.name, m["digit"]))
    infos = audio_infos([f[0] for f in files], num_workers=num_workers)
    utts = [
        Utterance(
            id=wav.stem,
            audio=str(wav.resolve()),
            speaker=speaker,
            duration=duration,
            sample_rate=rate,
            labels={"digit": digit, "gender": str(meta[speaker].get("gender", "")).strip()},
        )
        for (wav, speaker, digit), (duration, rate) in zip(files, infos, strict=True)
    ]
    split = speaker_disjoint_split(
        utts, n_test_speakers=n_test_speakers, n_valid_speakers=n_valid_speakers, seed=seed
    )
    by_id = {u.id: u for u in utts}
    splits = {name: [by_id[i] for i in getattr(split, name)] for name in ("train", "valid", "test")}
    speakers = {}
    for folder in speaker_dirs:
        record = {str(k).strip(): v for k, v in meta[folder.name].items()}
        record["age_raw"] = record.get("age")
        record["age"] = _age(record.get("age"))
        speakers[folder.name] = record
    write_speakers(output_dir, speakers)
    return finalize_splits(
        output_dir,
        splits,
        corpus="audiomnist",
        disjoint=(("train", "valid"), ("train", "test"), ("valid", "test")),
        options={
            "corpus_dir": str(data_dir.resolve()),
            "n_test_speakers": n_test_speakers,
            "n_valid_speakers": n_valid_speakers,
            "seed": seed,
        },
    )
