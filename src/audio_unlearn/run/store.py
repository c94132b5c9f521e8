"""The settings-keyed store every runner uses: a checkpoint (or evaluation) is reused only
when it was made with the same settings.

Each saved artefact carries ``meta["key"]``, a digest of every setting that made it
(:func:`settings_key`); a rerun with the same settings reuses it, one with other settings
recomputes it (and says so), so an interrupted run resumes and a changed one never reuses
stale work. The data part of a key includes :func:`audio_identity`, so pointing a
manifest's lines at other audio (same ids) recomputes everything downstream.

A checkpoint also keeps ``meta["key_parts"]`` (:func:`key_parts`: a digest per setting
group, ``data.split.audio``, ``train``, ``model``, ...), so a recomputation says which group
changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["audio_identity", "changed_parts", "key_parts", "reuse_checkpoint", "settings_key"]

logger = logging.getLogger(__name__)


#: digest -> its parts, for every mapping :func:`settings_key` has digested in this process
_PARTS: dict[str, dict[str, str]] = {}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def settings_key(obj: Any) -> str:
    """A short, stable digest of JSON-able settings (key order does not matter)."""
    digest = _digest(obj)
    if isinstance(obj, Mapping) and digest not in _PARTS:
        _PARTS[digest] = dict(_flatten(obj, deep=False))
    return digest


def _flatten(obj: Mapping, prefix: str = "", *, deep: bool):
    """``(name, digest)`` per setting group; the data part is opened down to its leaves
    (``data.split.audio``) so a change names what changed in the data."""
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and (deep or k == "data"):
            yield from _flatten(v, f"{name}.", deep=True)
        else:
            yield name, _digest(v)


def key_parts(key: str) -> dict[str, str] | None:
    """The per-group digests of a key :func:`settings_key` made in this process."""
    return _PARTS.get(key)


def changed_parts(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> str:
    """Which setting groups differ between two :func:`key_parts`, in words."""
    if not old or not new:
        return "made with other settings"
    changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return "changed: " + ", ".join(changed) if changed else "made with other settings"


#: bytes read from each end of an audio file for its identity
IDENTITY_BYTES = 4096


def audio_identity(paths: Iterable[str | os.PathLike]) -> str:
    """A digest of the audio files at ``paths`` (order and repeats do not matter): each
    file's size and its first and last :data:`IDENTITY_BYTES` bytes. Cheap (two small
    reads per file, no decoding) and independent of the machine (no modification times or
    absolute locations): a copied corpus keeps its identity; re-encoded, resampled,
    trimmed or replaced audio changes it. A rewrite that changes only bytes in the middle
    of a long file with the same size is not seen. A missing file counts as missing.
    """
    h = hashlib.sha256()
    for path in sorted({str(p) for p in paths}):
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(IDENTITY_BYTES)
                f.seek(max(size - IDENTITY_BYTES, len(head)))
                tail = f.read(IDENTITY_BYTES)
        except OSError:
            h.update(b"missing\0")
            continue
        h.update(f"{size}\0".encode() + head + b"\0" + tail + b"\0")
    return h.hexdigest()[:16]


def reuse_checkpoint(
    path: Path,
    key: str,
    load: Callable[[Path], Any],
    *,
    errors: tuple[type[BaseException], ...] = (),
    say: Callable[[str], None] = print,
    log: Callable[[bool, str], None] | None = None,
) -> Any | None:
    """The checkpoint at ``path`` (``load(path)``, with a ``meta`` dict) when its
    ``meta["key"]`` is ``key``; ``None`` when there is none, it cannot be read (one of
    ``errors``) or it was made with other settings: the caller recomputes it.
    ``log(reused, why)`` hears the decision and its reason."""
    note = log or (lambda reused, why: None)
    if not path.exists():
        note(False, "none yet")
        return None
    try:
        ckpt = load(path)
    except errors as err:
        logger.warning("%s cannot be reused (%s); recomputing it", path, err)
        note(False, f"unreadable ({err})")
        return None
    if ckpt.meta.get("key") != key:
        why = changed_parts(ckpt.meta.get("key_parts"), key_parts(key))
        logger.warning("%s was %s; recomputing it", path, why)
        note(False, why)
        return None
    say(f"reusing {path} (same settings)")
    note(True, "same settings")
    return ckpt
