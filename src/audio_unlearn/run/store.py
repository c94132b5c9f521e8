"""The settings-keyed store every runner uses: a checkpoint (or evaluation) is reused only
when it was made with the same settings.

Each saved artefact carries ``meta["key"]``, a digest of every setting that made it
(:func:`settings_key`); a rerun with the same settings reuses it, one with other settings
recomputes it (and says so), so an interrupted run resumes and a changed one never reuses
stale work.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["reuse_checkpoint", "settings_key"]

logger = logging.getLogger(__name__)


def settings_key(obj: Any) -> str:
    """A short, stable digest of JSON-able settings (key order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def reuse_checkpoint(
    path: Path,
    key: str,
    load: Callable[[Path], Any],
    *,
    errors: tuple[type[BaseException], ...] = (),
    say: Callable[[str], None] = print,
) -> Any | None:
    """The checkpoint at ``path`` (``load(path)``, with a ``meta`` dict) when its
    ``meta["key"]`` is ``key``; ``None`` when there is none, it cannot be read (one of
    ``errors``) or it was made with other settings: the caller recomputes it."""
    if not path.exists():
        return None
    try:
        ckpt = load(path)
    except errors as err:
        logger.warning("%s cannot be reused (%s); recomputing it", path, err)
        return None
    if ckpt.meta.get("key") != key:
        logger.warning("%s was made with other settings; recomputing it", path)
        return None
    say(f"reusing {path} (same settings)")
    return ckpt
