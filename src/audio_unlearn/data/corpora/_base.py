"""Shared steps of the corpus loaders: layout checks, audio headers, validated writing.

Every ``prepare_<corpus>`` builds lists of :class:`~audio_unlearn.data.manifest.Utterance`
per split and hands them to :func:`finalize_splits`, which validates them (non-empty
splits, ids unique across splits, positive durations, speaker-disjointness where the
corpus protocol promises it), writes ``<output_dir>/{train,valid,test}.jsonl``
atomically, reads them back, and writes ``corpus.json`` (counts and options) last.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import soundfile as sf

from ..manifest import Utterance, atomic_write_text, read_manifest, write_manifest

__all__ = [
    "SPLITS",
    "audio_info",
    "audio_infos",
    "finalize_splits",
    "leaves_nothing_on_error",
    "nothing_left_on_error",
    "require_columns",
    "require_dir",
    "require_file",
    "write_speakers",
]

SPLITS = ("train", "valid", "test")


@contextlib.contextmanager
def nothing_left_on_error(output_dir: str | os.PathLike) -> Iterator[Path]:
    """A prepare step's output folder: if the step fails, every file and folder it
    created there is removed (files that were there before, e.g. audio an earlier run
    wrote, stay), so a failed prepare leaves nothing half-written behind."""
    root = Path(output_dir)
    existed = root.exists()
    before = {p for p in root.rglob("*")} if existed else set()
    try:
        yield root
    except BaseException:
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        elif root.is_dir():
            created = sorted((p for p in root.rglob("*") if p not in before), reverse=True)
            for p in created:  # deepest first: files, then the folders that held them
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        raise


def leaves_nothing_on_error(prepare):
    """Decorate a ``prepare_<corpus>(corpus_dir, output_dir, ...)`` so that a failure
    removes what it wrote (:func:`nothing_left_on_error`)."""

    @functools.wraps(prepare)
    def wrapper(corpus_dir, output_dir, *args, **kwargs):
        with nothing_left_on_error(output_dir):
            return prepare(corpus_dir, output_dir, *args, **kwargs)

    return wrapper


def require_file(path: Path, layout: str) -> Path:
    """Return ``path`` if it is a file, else raise naming it and the expected layout."""
    if not path.is_file():
        raise FileNotFoundError(f"expected {path} ({layout})")
    return path


def require_dir(path: Path, layout: str) -> Path:
    """Return ``path`` if it is a directory, else raise naming it and the expected layout."""
    if not path.is_dir():
        raise FileNotFoundError(f"expected directory {path} ({layout})")
    return path


def require_columns(columns: Iterable[str], required: Iterable[str], source: str) -> None:
    """Raise ``ValueError`` naming ``source`` when any ``required`` column is absent."""
    have = list(columns)
    missing = [c for c in required if c not in have]
    if missing:
        raise ValueError(
            f"{source} lacks column(s) {missing}; it has {have}. Is this the right file / "
            "dataset (and the original, unmodified release)?"
        )


def audio_info(path: str | os.PathLike) -> tuple[float, int]:
    """``(duration_seconds, sample_rate)`` from the file header (no decoding).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: libsndfile cannot read the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"audio file {path} not found; the corpus download looks incomplete "
            "(re-extract the archive that holds it)"
        )
    try:
        info = sf.info(str(path))
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError variants
        raise ValueError(
            f"cannot read the header of audio file {path} ({err}); the file is corrupt or "
            "not audio: re-download it"
        ) from None
    return round(info.frames / info.samplerate, 6), int(info.samplerate)


def audio_infos(paths: Sequence[Path], *, num_workers: int = 1) -> list[tuple[float, int]]:
    """:func:`audio_info` for many files, in order; threads help on network file systems."""
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if num_workers == 1 or len(paths) < 2:
        return [audio_info(p) for p in paths]
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return list(pool.map(audio_info, paths))


def write_speakers(
    output_dir: str | os.PathLike, speakers: Mapping[str, Mapping[str, Any]]
) -> Path:
    """Write per-speaker metadata as ``<output_dir>/speakers.json`` (sorted, atomic)."""
    path = Path(output_dir) / "speakers.json"
    record = {k: _jsonable(dict(speakers[k])) for k in sorted(speakers)}
    atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def finalize_splits(
    output_dir: str | os.PathLike,
    splits: Mapping[str, Sequence[Utterance]],
    *,
    corpus: str,
    disjoint: Sequence[tuple[str, str]] = (),
    options: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Validate the splits, write one manifest per split, read them back.

    Args:
        output_dir: where ``<split>.jsonl`` and ``corpus.json`` go (created if needed).
        splits: split name -> utterances (written in the given order).
        corpus: corpus name, for messages and ``corpus.json``.
        disjoint: pairs of split names that must share no speaker (the corpus protocol's
            promise); a violation is an error, not a warning.
        options: the prepare options, recorded in ``corpus.json``.

    Returns:
        Split name -> manifest path.

    Raises:
        ValueError: an empty split, an id in two splits, a non-positive duration or
            sample rate, or a speaker shared by two splits that must be disjoint.
    """
    output_dir = Path(output_dir)
    owner: dict[str, str] = {}
    for name, utts in splits.items():
        if not utts:
            raise ValueError(
                f"{corpus}: split {name!r} is empty; check the corpus directory and the "
                "prepare options (e.g. filters that drop everything)"
            )
        for u in utts:
            if u.id in owner and owner[u.id] != name:
                raise ValueError(
                    f"{corpus}: utterance id {u.id!r} is in both {owner[u.id]!r} and {name!r}"
                )
            owner[u.id] = name
            if not (u.duration > 0 and u.sample_rate > 0):
                raise ValueError(
                    f"{corpus}: utterance {u.id!r} ({u.audio}) has duration {u.duration} s at "
                    f"{u.sample_rate} Hz; the audio file is empty or its header is broken"
                )
    speakers = {name: {u.speaker for u in utts} for name, utts in splits.items()}
    for a, b in disjoint:
        shared = speakers[a] & speakers[b]
        if shared:
            raise ValueError(
                f"{corpus}: splits {a!r} and {b!r} share {len(shared)} speaker(s) "
                f"(e.g. {sorted(shared)[:5]}), but the protocol promises speaker-disjoint "
                "splits; the split lists were modified or belong to another corpus version"
            )
    paths: dict[str, Path] = {}
    for name, utts in splits.items():
        path = write_manifest(output_dir / f"{name}.jsonl", utts)
        back = read_manifest(path)
        if [u.id for u in back] != [u.id for u in utts]:  # pragma: no cover - defensive
            raise ValueError(f"{corpus}: manifest {path} did not read back as written")
        paths[name] = path
    summary = {
        "corpus": corpus,
        "options": _jsonable(dict(options or {})),
        "splits": {
            name: {
                "manifest": paths[name].name,
                "utterances": len(utts),
                "speakers": len(speakers[name]),
                "hours": round(sum(u.duration for u in utts) / 3600, 4),
            }
            for name, utts in splits.items()
        },
    }
    atomic_write_text(output_dir / "corpus.json", json.dumps(summary, indent=1) + "\n")
    return paths
