"""A deterministic dummy speech-like corpus: tone sequences with per-speaker signatures.

Each class is a fixed sequence of three "syllables" (pitch ratios); each speaker has its
own base frequency, harmonic tilt and speaking rate; each utterance gets its own noise.
A tiny classifier learns it in seconds, which is all a smoke test needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.audio import save_audio
from ..data.manifest import PhoneSpan, Utterance, write_manifest

__all__ = ["make_dummy_corpus"]


def _utterance_audio(rng, base_hz, tilt, rate, pattern, sr, seconds):
    """The waveform and its syllables' ``(start, end)`` sample spans."""
    n = int(seconds * sr)
    spans = []
    out = np.zeros(n, dtype=np.float64)
    syl = int(0.18 * sr / rate)
    start = int(rng.uniform(0.02, 0.12) * sr)
    for ratio in pattern:
        t = np.arange(syl) / sr
        f0 = base_hz * ratio
        tone = sum((tilt**k) * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(4))
        env = np.hanning(syl)
        end = min(n, start + syl)
        out[start:end] += (tone * env)[: end - start]
        if end > start:
            spans.append((start, end))
        start = end + int(0.04 * sr)
    out += rng.normal(0, 0.05, n)
    return (0.3 * out / np.abs(out).max()).astype(np.float32), spans


def make_dummy_corpus(
    root: str | os.PathLike,
    *,
    n_speakers: int = 8,
    n_classes: int = 4,
    per_class: int = 3,
    seed: int = 0,
    sample_rate: int = 16_000,
    seconds: float = 1.0,
    label_key: str = "intent",
) -> Path:
    """Write ``n_speakers * n_classes * per_class`` wavs and a manifest under ``root``.

    Returns:
        Path of ``root/manifest.jsonl``. Labels: ``{label_key: "c<k>"}``; speakers
        ``s00``...; deterministic for ``seed``. Each syllable is a "phone" of the
        utterance's exact alignment (``p<pitch ratio>``), so TTS code can train on it.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    patterns = [rng.choice([1.0, 1.25, 1.5, 1.8], size=3) for _ in range(n_classes)]
    utterances = []
    for s in range(n_speakers):
        base = rng.uniform(110, 260)
        tilt = rng.uniform(0.2, 0.8)
        rate = rng.uniform(0.8, 1.2)
        spk = f"s{s:02d}"
        for c in range(n_classes):
            for r in range(per_class):
                uid = f"{spk}_c{c}_{r}"
                wav, spans = _utterance_audio(
                    rng, base, tilt, rate, patterns[c], sample_rate, seconds
                )
                path = root / "wavs" / spk / f"{uid}.wav"
                save_audio(path, wav, sample_rate)
                utterances.append(
                    Utterance(
                        id=uid,
                        audio=str(path.resolve()),
                        speaker=spk,
                        duration=seconds,
                        sample_rate=sample_rate,
                        text=" ".join(f"p{p:g}" for p in patterns[c]),
                        labels={label_key: f"c{c}"},
                        alignment=tuple(
                            PhoneSpan(f"p{ratio:g}", a / sample_rate, b / sample_rate)
                            for ratio, (a, b) in zip(patterns[c], spans, strict=False)
                        ),
                    )
                )
    return write_manifest(root / "manifest.jsonl", utterances)
