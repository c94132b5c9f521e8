"""Google Speech Commands v0.02 (Warden, "Speech Commands: A Dataset for Limited-Vocabulary
Speech Recognition", arXiv:1804.03209, 2018).

Layout (as downloaded)::

    <root>/<word>/<speakerhash>_nohash_<n>.wav   16 kHz, <= 1 s; 35 words
    <root>/_background_noise_/*.wav              excluded (not utterances)
    <root>/validation_list.txt, <root>/testing_list.txt

The two lists name ``<word>/<file>.wav`` paths, one per line; train is every other
word clip. The speaker is the part of the file name before ``_nohash_``; the official
lists are made by hashing that part, so they never split a speaker (checked).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..manifest import Utterance
from ._base import audio_infos, finalize_splits, require_file

__all__ = ["prepare_speech_commands"]

LAYOUT = (
    "Speech Commands v0.02 layout: <root>/<word>/<speaker>_nohash_<n>.wav, "
    "<root>/validation_list.txt and <root>/testing_list.txt"
)
NOHASH = "_nohash_"


def _read_list(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip().replace("\\", "/") for line in lines if line.strip()]


def _speaker(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if NOHASH not in name:
        raise ValueError(
            f"Speech Commands file {rel!r} has no '{NOHASH}' in its name, so it names no "
            f"speaker ({LAYOUT})"
        )
    return name.split(NOHASH, 1)[0]


def prepare_speech_commands(
    corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, *, num_workers: int = 1
) -> dict[str, Path]:
    """Write train/valid/test manifests of Speech Commands v0.02 (official lists).

    Labels: ``word`` (the folder name). Ids: ``<word>_<file stem>``. Folders whose name
    starts with ``_`` (``_background_noise_``) are skipped.

    Args:
        corpus_dir: the extracted ``speech_commands_v0.02`` folder.
        output_dir: where ``{train,valid,test}.jsonl`` and ``corpus.json`` are written.
        num_workers: threads reading wav headers (durations).

    Raises:
        FileNotFoundError: a list file, or a file a list names, is missing.
        ValueError: a file name lacks ``_nohash_``, or the lists split a speaker.
    """
    root = Path(corpus_dir)
    valid_list = _read_list(require_file(root / "validation_list.txt", LAYOUT))
    test_list = _read_list(require_file(root / "testing_list.txt", LAYOUT))
    words = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )
    if not words:
        raise FileNotFoundError(f"no word folders in {root} ({LAYOUT})")
    every = [f"{w}/{f.name}" for w in words for f in sorted((root / w).glob("*.wav"))]
    known = set(every)
    listed = set(valid_list) | set(test_list)
    absent = [rel for rel in sorted(listed) if rel not in known]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} file(s) named by validation_list.txt / testing_list.txt are not "
            f"in {root} (e.g. {absent[:3]}); the download is incomplete ({LAYOUT})"
        )
    both = set(valid_list) & set(test_list)
    if both:
        raise ValueError(f"files in both validation and testing lists: {sorted(both)[:3]}")
    members = {
        "train": [rel for rel in every if rel not in listed],
        "valid": sorted(set(valid_list)),
        "test": sorted(set(test_list)),
    }
    splits: dict[str, list[Utterance]] = {}
    for name, rels in members.items():
        paths = [root / rel for rel in rels]
        infos = audio_infos(paths, num_workers=num_workers)
        splits[name] = [
            Utterance(
                id=rel.replace("/", "_")[: -len(".wav")],
                audio=str(path.resolve()),
                speaker=_speaker(rel),
                duration=duration,
                sample_rate=rate,
                text=rel.split("/", 1)[0],
                labels={"word": rel.split("/", 1)[0]},
            )
            for rel, path, (duration, rate) in zip(rels, paths, infos, strict=True)
        ]
    return finalize_splits(
        output_dir,
        splits,
        corpus="speech_commands",
        disjoint=(("train", "valid"), ("train", "test"), ("valid", "test")),
        options={"corpus_dir": str(root.resolve())},
    )
