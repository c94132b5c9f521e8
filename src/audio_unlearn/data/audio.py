"""Audio file I/O with validation.

Files are read with soundfile (torchaudio 2.11's ``load`` needs torchcodec); resampling
uses ``torchaudio.functional.resample``. Every failure names the file and the fix.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

__all__ = ["TARGET_SAMPLE_RATE", "AudioError", "load_audio", "save_audio"]

TARGET_SAMPLE_RATE = 16_000
logger = logging.getLogger(__name__)

_warned_rates: set[tuple[int, int]] = set()
_warned_lock = threading.Lock()


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file and the fix."""


def _warn_once(key: tuple[int, int], message: str) -> None:
    with _warned_lock:
        if key in _warned_rates:
            return
        _warned_rates.add(key)
    logger.warning(message)


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int = TARGET_SAMPLE_RATE,
    min_duration: float = 0.0,
) -> torch.Tensor:
    """Load an audio file as mono float32 at ``sample_rate``.

    Stereo/multi-channel audio is averaged to mono. A file at another rate is resampled
    (logged once per rate pair, so a corpus at the wrong rate is noticed but not spammed).

    Args:
        path: audio file (any format libsndfile reads: wav, flac, ogg, ...).
        sample_rate: output rate in Hz.
        min_duration: reject files shorter than this many seconds.

    Returns:
        Tensor of shape ``(samples,)``, float32 in [-1, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        AudioError: the file is unreadable, empty, silent (all zeros), or holds NaN/inf.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"audio file {path} not found; check the manifest's 'audio' path "
            "(relative paths are resolved against the manifest's directory)"
        )
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError variants
        raise AudioError(
            f"cannot decode audio file {path} ({err}); the file is corrupt or not audio: "
            "re-export it as 16-bit PCM wav or FLAC, or remove it from the manifest"
        ) from None
    if data.shape[0] == 0:
        raise AudioError(
            f"audio file {path} is empty (0 samples); remove it from the manifest or re-record it"
        )
    if not np.isfinite(data).all():
        raise AudioError(
            f"audio file {path} contains NaN or infinite samples; re-export it "
            "(float wav files can hold NaN) or remove it from the manifest"
        )
    if not np.any(data):
        raise AudioError(
            f"audio file {path} is all zeros (silent); remove it from the manifest or re-record it"
        )
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    wav = torch.from_numpy(np.ascontiguousarray(mono))
    if file_rate != sample_rate:
        _warn_once(
            (file_rate, sample_rate),
            f"resampling {file_rate} Hz audio to {sample_rate} Hz (first file: {path}); "
            "resample the corpus once beforehand to save this work on every load",
        )
        wav = torchaudio.functional.resample(wav, file_rate, sample_rate)
    if wav.numel() < min_duration * sample_rate:
        raise AudioError(
            f"audio file {path} lasts {wav.numel() / sample_rate:.3f} s, shorter than the "
            f"minimum {min_duration} s; remove it from the manifest"
        )
    return wav


def save_audio(
    path: str | os.PathLike, wav: torch.Tensor | np.ndarray, sample_rate: int = TARGET_SAMPLE_RATE
) -> None:
    """Write mono audio as 16-bit PCM wav, atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), np.clip(array, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
