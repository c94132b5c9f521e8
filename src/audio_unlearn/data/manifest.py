"""Utterance records and JSONL manifests.

An :class:`Utterance` is a small immutable record (lhotse's ``Recording`` +
``SupervisionSegment`` rolled into one) that every corpus loader emits and every
data module consumes. A manifest is one JSON object per line.

Audio paths are stored as written; relative paths are resolved against the
manifest's own directory when read, so a corpus directory can be moved whole.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "ManifestError",
    "PhoneSpan",
    "Utterance",
    "atomic_write_text",
    "read_manifest",
    "write_manifest",
]

REQUIRED_FIELDS = ("id", "audio", "speaker", "duration", "sample_rate")


class ManifestError(ValueError):
    """A manifest line is malformed; the message names the file, line and fix."""


@dataclass(frozen=True)
class PhoneSpan:
    """One phone of a time alignment.

    Attributes:
        phone: phone symbol (espeak-ng mnemonic, or the aligner's label).
        start: start time in seconds from the beginning of the audio file.
        end: end time in seconds.
    """

    phone: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """One spoken utterance.

    Attributes:
        id: unique id within a manifest.
        audio: path of the audio file (absolute, or relative to the manifest).
        speaker: speaker id as the corpus names it.
        duration: seconds.
        sample_rate: sample rate of the file on disk, Hz.
        text: transcript ("" when unknown).
        labels: task labels, e.g. ``{"intent": "activate_lights_kitchen",
            "action": "activate", ...}``; a task picks one key.
        alignment: optional phone alignment (times relative to the file start).
    """

    id: str
    audio: str
    speaker: str
    duration: float
    sample_rate: int
    text: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    alignment: tuple[PhoneSpan, ...] | None = None

    def label(self, key: str) -> str:
        """Return the label under ``key`` or raise a ``KeyError`` naming the utterance.

        ``"speaker"`` is a label too (speaker identification), unless ``labels`` defines it.
        """
        if key == "speaker" and key not in self.labels:
            return self.speaker
        try:
            return self.labels[key]
        except KeyError:
            raise KeyError(
                f"utterance {self.id!r} has no label {key!r} (it has {sorted(self.labels)})"
            ) from None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["labels"] = dict(self.labels)
        if self.alignment is None:
            del record["alignment"]
        else:
            record["alignment"] = [[p.phone, p.start, p.end] for p in self.alignment]
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any], *, base_dir: Path | None = None) -> Utterance:
        missing = [k for k in REQUIRED_FIELDS if k not in record or record[k] in (None, "")]
        if missing:
            raise ManifestError(f"missing field(s) {missing}")
        for key in ("id", "audio", "speaker"):
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ManifestError(f"{key!r} must be text, got {value!r}")
        audio = str(record["audio"])
        if base_dir is not None and not os.path.isabs(audio):
            audio = str(base_dir / audio)
        labels = record.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise ManifestError(f"'labels' must be an object, got {type(labels).__name__}")
        duration, sample_rate = record["duration"], record["sample_rate"]
        try:
            if isinstance(duration, bool) or isinstance(sample_rate, bool):
                raise TypeError("true/false is not a number")
            duration = float(duration)
            if float(sample_rate) != int(float(sample_rate)):
                raise ValueError(f"sample_rate {sample_rate!r} is not a whole number")
            sample_rate = int(float(sample_rate))
        except (TypeError, ValueError, OverflowError) as err:
            raise ManifestError(f"duration/sample_rate are not numbers ({err})") from None
        if not math.isfinite(duration) or duration <= 0:
            raise ManifestError(f"duration must be > 0 seconds, got {record['duration']!r}")
        if sample_rate <= 0:
            raise ManifestError(f"sample_rate must be > 0 Hz, got {record['sample_rate']!r}")
        text = record.get("text")
        return cls(
            id=str(record["id"]),
            audio=audio,
            speaker=str(record["speaker"]),
            duration=duration,
            sample_rate=sample_rate,
            text="" if text is None else str(text),
            labels={str(k): str(v) for k, v in labels.items()},
            alignment=_alignment(record.get("alignment")),
        )

    def with_audio(self, audio: str) -> Utterance:
        return replace(self, audio=audio)


def _alignment(value) -> tuple[PhoneSpan, ...] | None:
    """A line's ``alignment``: ``[[phone, start, end], ...]`` with 0 <= start <= end."""
    if value is None:
        return None
    try:
        spans = tuple(PhoneSpan(str(p), float(a), float(b)) for p, a, b in value)
    except (TypeError, ValueError) as err:
        raise ManifestError(
            f"alignment must be a list of [phone, start, end] ({err}), got {value!r}"[:200]
        ) from None
    bad = [sp for sp in spans if not (0 <= sp.start <= sp.end) or not math.isfinite(sp.end)]
    if bad:
        raise ManifestError(f"alignment span {bad[0]} must have 0 <= start <= end")
    return spans


def read_manifest(path: str | os.PathLike, *, problems: list[str] | None = None) -> list[Utterance]:
    """Read a JSONL manifest.

    Args:
        path: the manifest.
        problems: when given, a bad line's message is appended here and the line left
            out, so every problem is found in one pass (``data validate``); otherwise the
            first bad line raises.

    Raises:
        FileNotFoundError: the manifest does not exist.
        ManifestError: a line is not JSON, lacks a required field, or repeats an id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest {path} not found; create one with `audio-unlearn data synth` "
            "or a corpus prepare step"
        )
    base_dir = path.resolve().parent
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                utt = _parse_line(line, base_dir, f"{path}:{lineno}")
                if utt.id in seen:
                    raise ManifestError(
                        f"{path}:{lineno}: duplicate utterance id {utt.id!r} "
                        f"(first on line {seen[utt.id]}); ids must be unique"
                    )
            except ManifestError as err:
                if problems is None:
                    raise
                problems.append(str(err))
                continue
            seen[utt.id] = lineno
            utterances.append(utt)
    return utterances


def _parse_line(line: str, base_dir: Path, where: str) -> Utterance:
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ManifestError("a line must be a JSON object")
        return Utterance.from_json(record, base_dir=base_dir)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{where}: not valid JSON ({err.msg})") from None
    except ManifestError as err:
        raise ManifestError(f"{where}: {err}; every line needs {list(REQUIRED_FIELDS)}") from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves the old
    file (if any) in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(
    path: str | os.PathLike, utterances: Iterable[Utterance], *, relative_to_manifest: bool = True
) -> Path:
    """Write utterances as JSONL (atomically).

    Args:
        path: output file.
        utterances: records; ids must be unique.
        relative_to_manifest: store audio paths relative to the manifest directory when
            the file lies below it, so the corpus stays movable.
    """
    path = Path(path)
    base = path.resolve().parent
    lines = []
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise ManifestError(f"duplicate utterance id {utt.id!r} while writing {path}")
        seen.add(utt.id)
        record = utt.to_json()
        if relative_to_manifest:
            audio = Path(utt.audio)
            if audio.is_absolute():
                with contextlib.suppress(ValueError):  # outside the manifest dir: keep absolute
                    record["audio"] = str(audio.resolve().relative_to(base))
        lines.append(json.dumps(record, ensure_ascii=False))
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return path
