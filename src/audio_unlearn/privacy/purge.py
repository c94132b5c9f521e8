"""Artefacts that still hold forget-set data, and their purge.

After a request the run directory can still hold data derived from the forgotten
recordings: copies of their audio, feature or embedding caches, and checkpoints of the
*original* model (which still encodes the forgotten speakers). :func:`scan_run_directory`
finds them by content, using the record's fingerprints (hashes only; the record never
stores audio, features or embeddings):

- ``forget_audio``: a file whose bytes hash like a forgotten audio file, any audio
  file whose decoded samples do (a losslessly re-encoded copy), or whose spectral print
  matches a forgotten recording's (:mod:`.fingerprint`: a resampled copy, one at another
  precision or re-encoded with a lossy codec, a crop);
- ``forget_embeddings`` / ``forget_features``: a ``.pt``/``.npy``/``.npz`` file holding a
  tensor, or a row of one, whose float32 bytes hash like an embedding of a forgotten
  utterance or its loaded waveform, or near-copies found by content: a row whose
  random-projection hash is within a few bits of a forgotten embedding's (another
  precision), a waveform (at 16 kHz, or any common rate that fits a forgotten
  recording's duration) or a ``(frames, 80)`` log-mel spectrogram whose print matches;
- ``original_checkpoint``: a file identical to the original checkpoint, or a classifier
  checkpoint with the original's weights;
- ``forget_ids``: text files that name forgotten utterances or speakers (split files, the
  request, the record). They hold no audio and are kept: the record is the proof.

:func:`purge_run_directory` deletes every artefact whose action is ``purge``, scans again,
and records what it did in the record.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.manifest import atomic_write_text
from .fingerprint import (
    MATCH_BER,
    SIMHASH_MAX_BITS,
    AudioPrint,
    audio_print,
    feature_print,
    parse_simhashes,
    simhash_distances,
)
from .record import file_sha256, load_record, state_sha256, write_record

__all__ = [
    "Artefact",
    "PurgeReport",
    "format_purge_report",
    "purge_run_directory",
    "scan_run_directory",
    "write_artefacts",
]

PURGE_KINDS = ("forget_audio", "forget_embeddings", "forget_features", "original_checkpoint")
TENSOR_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".npy", ".npz")
TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".yaml", ".yml", ".txt", ".csv", ".tsv", ".html")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".sph")
MAX_TEXT_BYTES = 64 << 20
#: rates tried for a waveform tensor whose duration fits a forgotten recording's
WAVEFORM_RATES = (8_000, 16_000, 22_050, 24_000, 44_100, 48_000)
MAX_EMBEDDING_DIM = 4096
RECORD_FILES = ("record.json", "record.md", "artefacts.json")


@dataclass(frozen=True)
class Artefact:
    """A file of the run directory that holds forget-set data.

    Attributes:
        path: path relative to the run directory.
        kind: one of ``forget_audio``, ``forget_embeddings``, ``forget_features``,
            ``original_checkpoint``, ``forget_ids``, or ``uninspectable`` (a tensor or
            audio file that cannot be read safely: reported for a person to check, kept).
        holds: what in it is forget-set data, in words.
        action: ``purge`` (removed by :func:`purge_run_directory`) or ``keep``.
        sha256: the file's hash when scanned.
    """

    path: str
    kind: str
    holds: str
    action: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "kind": self.kind,
            "holds": self.holds,
            "action": self.action,
            "sha256": self.sha256,
        }


def _array_hash(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def _arrays(obj: Any, depth: int = 0):
    """Every float array inside a loaded object (tensors, arrays, nested containers)."""
    import torch

    if depth > 6:
        return
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            yield obj.detach().cpu().float().numpy()
    elif isinstance(obj, np.ndarray):
        if np.issubdtype(obj.dtype, np.floating):
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _arrays(v, depth + 1)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _arrays(v, depth + 1)


class Uninspectable(Exception):
    """A file that may hold forget-set data but cannot be read safely (damaged, or Python
    objects whose loading could run code): reported, never passed as clean."""


def _load_tensors(path: Path):
    import torch

    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # damaged, or pickled objects a safe load refuses
        text = str(err).strip()
        reason = (
            "holds Python objects a safe load refuses"
            if "Unsupported global" in text or "allow_pickle" in text
            else "unreadable"
        )
        raise Uninspectable(reason) from None


class _Near:
    """The record's content prints, decoded once per scan."""

    def __init__(self, fp: dict[str, Any]):
        self.prints = {i: AudioPrint.from_text(t) for i, t in fp.get("audio_print", {}).items()}
        self.durations = list(fp.get("duration_s", {}).values())
        self.simhashes = parse_simhashes(fp.get("embedding_simhash", []))

    def audio(self, candidate: AudioPrint) -> tuple[str, float] | None:
        """The forgotten recording whose print ``candidate`` matches, with the bit error
        rate."""
        for i, ref in self.prints.items():
            ber = ref.ber(candidate)
            if ber < MATCH_BER:
                return i, ber
        return None

    def waveform(self, array: np.ndarray) -> tuple[str, float] | None:
        if not self.prints or array.ndim != 1 or len(array) < 4_000:
            return None
        rates = [
            r
            for r in WAVEFORM_RATES
            if r == 16_000 or any(abs(len(array) / r - d) <= 0.1 * d for d in self.durations)
        ]
        for rate in rates:
            found = self.audio(audio_print(array, rate))
            if found:
                return found
        return None

    def features(self, array: np.ndarray) -> tuple[str, float] | None:
        if not self.prints or array.ndim != 2 or 80 not in array.shape:
            return None
        frames = array if array.shape[1] == 80 else array.T
        if frames.min() >= 0 and frames.max() > 1:  # linear magnitudes: the print is on logs
            frames = np.log(np.maximum(frames, 1e-5))
        return self.audio(feature_print(frames))

    def embeddings(self, rows: np.ndarray) -> bool:
        """Whether a row of ``(n, dim)`` is within :data:`SIMHASH_MAX_BITS` of a forgotten
        embedding's hash (rows hashed together, in chunks)."""
        refs = self.simhashes.get(rows.shape[1])
        if refs is None or not 8 <= rows.shape[1] <= MAX_EMBEDDING_DIM:
            return False
        for start in range(0, len(rows), 1024):
            if (simhash_distances(rows[start : start + 1024], refs) <= SIMHASH_MAX_BITS).any():
                return True
        return False


def _tensor_holds(
    obj: Any, fp: dict[str, Any], near: _Near | None = None
) -> tuple[str, str] | None:
    embeddings = set(fp.get("embedding_row_sha256", []))
    waves = set(fp.get("waveform_sha256", {}).values()) | set(fp.get("decoded_sha256", {}).values())
    arrays = list(_arrays(obj))
    for array in arrays:
        candidates = [array] + (list(array) if array.ndim == 2 else [])
        for a in candidates:
            h = _array_hash(a)
            if h in embeddings:
                return "forget_embeddings", "embeddings of forgotten utterances"
            if h in waves:
                return "forget_features", "waveforms of forgotten utterances"
    if near is None:
        return None
    for array in arrays:  # near-copies: other precision, resampled, derived features
        array = np.asarray(array, dtype=np.float32)
        rows = list(array) if array.ndim == 2 else [array] if array.ndim == 1 else []
        if array.ndim in (1, 2) and near.embeddings(np.atleast_2d(array)):
            return "forget_embeddings", "embeddings of forgotten utterances (near-copies)"
        found = near.features(array)
        if found:
            return "forget_features", f"log-mel features of forgotten {found[0]!r} (print)"
        for r in rows:
            found = near.waveform(r)
            if found:
                return "forget_features", f"a waveform of forgotten {found[0]!r} (print)"
    return None


def _checkpoint_holds(obj: Any, fp: dict[str, Any]) -> bool:
    if not (isinstance(obj, dict) and obj.get("format") == "audio-unlearn/classifier"):
        return False
    state = obj.get("state_dict")
    return isinstance(state, dict) and state_sha256(state) == fp.get("original_state_sha256")


def _decode(path: Path) -> tuple[np.ndarray, int] | None:
    import soundfile as sf

    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception:  # not audio
        return None
    return samples, int(rate)


def _classify(path: Path, fp: dict[str, Any], near: _Near | None = None) -> tuple[str, str] | None:
    digest = file_sha256(path)
    if digest in set(fp.get("audio_file_sha256", {}).values()):
        return "forget_audio", "a copy of a forgotten audio file"
    if fp.get("original_checkpoint_sha256") and digest == fp["original_checkpoint_sha256"]:
        return "original_checkpoint", "the original model (still encodes the forgotten data)"
    suffix = path.suffix.lower()
    if suffix in TENSOR_SUFFIXES:
        try:
            obj = _load_tensors(path)
        except Uninspectable as err:
            return "uninspectable", f"could not be inspected ({err}): check it by hand"
        if _checkpoint_holds(obj, fp):
            return "original_checkpoint", "the original model's weights"
        return _tensor_holds(obj, fp, near)
    if suffix in TEXT_SUFFIXES and path.stat().st_size <= MAX_TEXT_BYTES:
        text = path.read_text(encoding="utf-8", errors="replace")
        names = list(fp.get("forget_ids", [])) + list(fp.get("forget_speakers", []))
        if any(f'"{n}"' in text or f"`{n}`" in text or f" {n}" in text for n in names):
            return "forget_ids", "ids of forgotten utterances/speakers (no audio)"
        return None
    decoded = _decode(path)
    if decoded is None:
        if suffix in AUDIO_SUFFIXES:
            return "uninspectable", "an audio file that does not decode: check it by hand"
        return None
    samples, rate = decoded
    if _array_hash(samples) in set(fp.get("decoded_sha256", {}).values()):
        return "forget_audio", "a re-encoded copy of a forgotten recording"
    found = near.audio(audio_print(samples, rate)) if near is not None else None
    if found:
        return "forget_audio", (
            f"a near-copy of forgotten {found[0]!r} (resampled, re-encoded or another "
            f"precision; print bit error rate {found[1]:.2f})"
        )
    return None


def scan_run_directory(run_dir: str | os.PathLike, record: dict[str, Any]) -> list[Artefact]:
    """Every file under ``run_dir`` that holds forget-set data, by content.

    Args:
        run_dir: the run directory.
        record: its unlearning record (for the fingerprints).

    Returns:
        Artefacts sorted by path; symbolic links are reported by what they point to.
    """
    run_dir = Path(run_dir)
    fp = record.get("fingerprints", {})
    near = _Near(fp)
    found = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir).as_posix()
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            continue
        result = _classify(path, fp, near)
        if result is None:
            continue
        kind, holds = result
        found.append(
            Artefact(
                path=rel,
                kind=kind,
                holds=holds,
                action="purge" if kind in PURGE_KINDS else "keep",
                # the record files are rewritten with this list: their hash would be stale
                sha256="" if rel in RECORD_FILES else file_sha256(path),
            )
        )
    return found


@dataclass(frozen=True)
class PurgeReport:
    """What :func:`purge_run_directory` did.

    Attributes:
        removed: artefacts deleted (or that would be, with ``dry_run``).
        kept: artefacts kept (ids only).
        remaining: artefacts with forget-set data still found after the purge (should be
            empty; non-empty means a file could not be removed).
        dry_run: nothing was deleted.
    """

    removed: list[Artefact]
    kept: list[Artefact]
    remaining: list[Artefact]
    dry_run: bool


def purge_run_directory(run_dir: str | os.PathLike, *, dry_run: bool = False) -> PurgeReport:
    """Delete every file under ``run_dir`` that holds forget-set audio, features,
    embeddings or the original model, then scan again and note the purge in the record.

    Raises:
        FileNotFoundError: ``run_dir`` holds no record.
        OSError: a file could not be deleted.
    """
    run_dir = Path(run_dir)
    record = load_record(run_dir)
    artefacts = scan_run_directory(run_dir, record)
    to_remove = [a for a in artefacts if a.action == "purge"]
    kept = [a for a in artefacts if a.action != "purge"]
    if dry_run:
        return PurgeReport(to_remove, kept, to_remove, True)
    for a in to_remove:
        (run_dir / a.path).unlink()
    for d in sorted((p for p in run_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    after = scan_run_directory(run_dir, record)
    remaining = [a for a in after if a.action == "purge"]
    record["purge"] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "removed": [a.to_json() for a in to_remove],
        "remaining_forget_data": [a.to_json() for a in remaining],
    }
    record["artefacts"] = [a.to_json() for a in after]
    write_artefacts(run_dir, record)
    return PurgeReport(to_remove, kept, remaining, False)


def write_artefacts(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write ``artefacts.json`` (the list in ``record["artefacts"]``) and the record."""
    run_dir = Path(run_dir)
    listing = {
        "request": record["request"]["id"],
        "purge_kinds": list(PURGE_KINDS),
        "artefacts": record["artefacts"],
        "outside_run_directory": record.get("external_artefacts", []),
    }
    atomic_write_text(run_dir / "artefacts.json", json.dumps(listing, indent=1) + "\n")
    write_record(run_dir, record)


def format_purge_report(report: PurgeReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    lines = [f"{verb} {len(report.removed)} file(s):"]
    lines += [f"  {a.path}  ({a.holds})" for a in report.removed]
    named = [a for a in report.kept if a.kind == "forget_ids"]
    lines.append(f"kept {len(named)} file(s) naming forgotten ids (no audio):")
    lines += [f"  {a.path}" for a in named]
    unknown = [a for a in report.kept if a.kind == "uninspectable"]
    if unknown:
        lines.append(f"{len(unknown)} file(s) could not be inspected (kept; check by hand):")
        lines += [f"  {a.path}  ({a.holds})" for a in unknown]
    if not report.dry_run:
        clean = "no forget-set audio, features, embeddings or original weights remain"
        lines.append(
            f"STILL PRESENT: {[a.path for a in report.remaining]}"
            if report.remaining
            else clean + (" among the files that could be read" if unknown else "")
        )
    return "\n".join(lines)
