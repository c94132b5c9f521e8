"""Content fingerprints that find near-copies of forget-set data (for :mod:`.purge`).

Exact hashes miss a copy that was resampled, stored at another precision or re-encoded.
These prints survive such changes and still cannot be turned back into audio:

- **Audio and waveform / feature tensors**: a binary spectral print in the manner of
  Haitsma & Kalker ("A Highly Robust Audio Fingerprinting System", ISMIR 2002), computed
  on the library's log-mel front end (16 kHz, 80 Slaney mels, 10 ms hop:
  :class:`~audio_unlearn.models.tts.mel.MelConfig`'s defaults). The 80 bands are averaged
  into 33 groups ``E(n, m)`` and each frame gets 32 bits,

      F(n, m) = 1  if  (E(n, m) - E(n, m+1)) - (E(n-1, m) - E(n-1, m+1)) > 0.

  The energies are logarithmic, so a gain change leaves the bits as they are. Only
  frames with energy (within :data:`ACTIVE_DB` dB of the 95th-percentile frame) are
  compared: silence carries no identity. Two prints match when, at the best alignment
  (one inside the other, give or take :data:`MAX_OFFSET` frames), fewer than
  :data:`MATCH_BER` of the compared bits differ (unrelated speech differs in about half;
  ``benchmarks/bench_fingerprint.py`` measures both sides).
- **Embeddings**: a :data:`SIMHASH_BITS`-bit sign random projection (Charikar, STOC
  2002) of each forget embedding; a row matches when at most :data:`SIMHASH_MAX_BITS`
  bits differ (a cosine of about 0.97 or more), e.g. the same embeddings in float16.

A print is stored as text (base64) in the unlearning record, which never holds audio,
features or embeddings themselves.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

__all__ = [
    "ACTIVE_DB",
    "MATCH_BER",
    "MAX_OFFSET",
    "SIMHASH_BITS",
    "SIMHASH_MAX_BITS",
    "AudioPrint",
    "audio_print",
    "feature_print",
    "parse_simhashes",
    "simhash",
    "simhash_bits",
    "simhash_distances",
    "simhashes",
]

RATE = 16_000
N_GROUPS = 33
#: mel bands 6-61 of 80: about 300 Hz to 3.8 kHz, the part that survives 8 kHz resampling
#: and lossy codecs
BANDS = slice(6, 62)
ACTIVE_DB = 40.0
MAX_OFFSET = 25
MATCH_BER = 0.33
MIN_FRAMES = 30
SIMHASH_BITS = 128
SIMHASH_MAX_BITS = 10


@dataclass(frozen=True)
class AudioPrint:
    """32 bits per 10 ms frame (``bits``, uint32) and which frames carry energy."""

    bits: np.ndarray
    active: np.ndarray

    def __len__(self) -> int:
        return len(self.bits)

    def to_text(self) -> str:
        raw = self.bits.astype(">u4").tobytes() + np.packbits(self.active).tobytes()
        return f"{len(self.bits)}:" + base64.b64encode(raw).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> AudioPrint:
        n, _, data = text.partition(":")
        raw = base64.b64decode(data)
        count = int(n)
        bits = np.frombuffer(raw[: 4 * count], dtype=">u4").astype(np.uint32)
        active = np.unpackbits(np.frombuffer(raw[4 * count :], dtype=np.uint8))[:count]
        return cls(bits, active.astype(bool))

    def ber(self, candidate: AudioPrint, max_offset: int = MAX_OFFSET) -> float:
        """The smallest bit error rate of ``candidate`` against this (reference) print, on
        this print's active frames, over every alignment in which one lies inside the
        other give or take ``max_offset`` frames (a crop, or a longer file holding the
        recording); 1.0 when no alignment compares :data:`MIN_FRAMES` active frames."""
        ref_idx = np.flatnonzero(self.active)
        if len(ref_idx) < MIN_FRAMES or len(candidate) < MIN_FRAMES:
            return 1.0
        lo = -max(0, len(candidate) - len(self)) - max_offset
        hi = max(0, len(self) - len(candidate)) + max_offset
        best = 1.0
        for d in range(lo, hi + 1):  # candidate frame i holds reference frame i + d
            idx = ref_idx - d
            ok = (idx >= 0) & (idx < len(candidate))
            n = int(ok.sum())
            if n < MIN_FRAMES:
                continue
            xor = self.bits[ref_idx[ok]] ^ candidate.bits[idx[ok]]
            best = min(best, float(np.unpackbits(xor.view(np.uint8)).sum()) / (32 * n))
        return best

    def matches(self, candidate: AudioPrint) -> bool:
        return self.ber(candidate) < MATCH_BER


@lru_cache(maxsize=1)
def _front_end():
    from ..models.tts.mel import MelFrontEnd

    return MelFrontEnd()


def _groups(n_bands: int) -> list[np.ndarray]:
    return np.array_split(np.arange(n_bands), N_GROUPS)


def feature_print(log_mel: np.ndarray) -> AudioPrint:
    """The print of a ``(frames, 80)`` natural-log mel spectrogram at 100 frames/s."""
    e = np.asarray(log_mel, dtype=np.float64)
    speech = e[:, BANDS]
    grouped = np.stack([speech[:, g].mean(axis=1) for g in _groups(speech.shape[1])], axis=1)
    band = grouped[:, :-1] - grouped[:, 1:]  # (T, 32)
    bits = (band[1:] - band[:-1]) > 0  # (T-1, 32)
    weights = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)
    words = (bits.astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)
    energy = np.log10(np.exp(e)).mean(axis=1) * 20.0  # mean log-mel in dB
    loud = energy[1:]
    level = np.percentile(loud, 95) if len(loud) else 0.0  # a click does not set the level
    active = loud > level - ACTIVE_DB
    return AudioPrint(words, active)


def audio_print(samples: np.ndarray, sample_rate: int) -> AudioPrint:
    """The print of mono (or ``(samples, channels)``, averaged) audio at any rate."""
    import torchaudio

    wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if wav.dim() == 2:
        wav = wav.mean(dim=1)
    if sample_rate != RATE:
        wav = torchaudio.functional.resample(wav, int(sample_rate), RATE)
    log_mel = _front_end()(wav)[0].numpy()  # (T, 80)
    return feature_print(log_mel)


@lru_cache(maxsize=8)
def _projection(dim: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(20_021_402 + dim)
    return torch.randn(dim, SIMHASH_BITS, generator=generator, dtype=torch.float64).numpy()


def simhash_bits(rows: np.ndarray) -> np.ndarray:
    """The :data:`SIMHASH_BITS` projection signs of each row of ``(n, dim)``, packed:
    ``(n, SIMHASH_BITS // 8)`` uint8 (one matrix product for all rows)."""
    a = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    return np.packbits((a @ _projection(a.shape[1])) > 0, axis=1)


def simhashes(rows: np.ndarray) -> list[str]:
    """``"<dim>:<hex>"`` of each row: the sign of :data:`SIMHASH_BITS` fixed random
    projections (what the record stores)."""
    a = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    return [f"{a.shape[1]}:" + b.tobytes().hex() for b in simhash_bits(a)]


def simhash(vector: np.ndarray) -> str:
    """:func:`simhashes` of one vector."""
    return simhashes(np.asarray(vector, dtype=np.float64).ravel()[None])[0]


def parse_simhashes(values: list[str]) -> dict[int, np.ndarray]:
    """Stored :func:`simhashes` by dimension: ``{dim: (n, SIMHASH_BITS // 8) uint8}``."""
    by_dim: dict[int, list[np.ndarray]] = {}
    for text in values:
        dim, _, hexa = text.partition(":")
        by_dim.setdefault(int(dim), []).append(np.frombuffer(bytes.fromhex(hexa), np.uint8))
    return {d: np.stack(v) for d, v in by_dim.items()}


def simhash_distances(rows: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """``(n, m)`` bits that differ between each row's :func:`simhash_bits` and each packed
    reference of ``refs`` (same dimension)."""
    xor = simhash_bits(rows)[:, None, :] ^ refs[None, :, :]
    return np.unpackbits(xor, axis=2).sum(axis=2)
