"""How far the purge's content prints separate near-copies from other recordings.

On an espeak-ng corpus (12 speakers x 6 intents x 2 repeats, 144 utterances), the print
bit error rate (:mod:`audio_unlearn.privacy.fingerprint`) of

- near-copies of ``--copies`` utterances: resampled to 8 and 44.1 kHz, float16, a gain of
  0.3, FLAC, Ogg Vorbis, MP3, MP3 of the 8 kHz copy, a crop without the first 0.25 s, and
  (not a copy the purge must find; for scale) white noise at 20 dB SNR;
- pairs of different recordings among the first ``--pairs`` utterances: the same text by
  another speaker, the same speaker, and the rest.

A copy is found when its rate is under ``MATCH_BER``; the margins on both sides are in the
output. Needs the `synth` extra (espeak-ng).

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_fingerprint.py \\
        --out benchmarks/results/fingerprint.json
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.synth import SynthConfig, synthesize_corpus
from audio_unlearn.privacy.fingerprint import MATCH_BER, audio_print


def _encoded(x: np.ndarray, rate: int, fmt: str, subtype: str) -> tuple[np.ndarray, int]:
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format=fmt, subtype=subtype)
    buffer.seek(0)
    y, r = sf.read(buffer, dtype="float32")
    return y, int(r)


def variants(x: np.ndarray, rate: int):
    t = torch.from_numpy(x)
    down = torchaudio.functional.resample(t, rate, 8000).numpy()
    yield "resampled 8 kHz", down, 8000
    yield "resampled 44.1 kHz", torchaudio.functional.resample(t, rate, 44_100).numpy(), 44_100
    yield "float16", x.astype(np.float16).astype(np.float32), rate
    yield "gain 0.3", 0.3 * x, rate
    yield "FLAC", *_encoded(x, rate, "FLAC", "PCM_16")
    yield "Ogg Vorbis", *_encoded(x, rate, "OGG", "VORBIS")
    yield "MP3", *_encoded(x, rate, "MP3", "MPEG_LAYER_III")
    yield "MP3 of 8 kHz", *_encoded(down, 8000, "MP3", "MPEG_LAYER_III")
    yield "crop (from 0.25 s)", x[rate // 4 :], rate
    noise = np.random.default_rng(0).normal(0, x.std() / 10, len(x)).astype(np.float32)
    yield "noise 20 dB (scale only)", x + noise, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--out", type=Path, help="JSON result (default: print only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(n_speakers=12, n_intents=6, repeats_per_intent=2, seed=0)
        corpus = synthesize_corpus(Path(tmp) / "c", cfg, progress=False)
        utts = read_manifest(corpus.manifest)
        audio = {u.id: sf.read(u.audio, dtype="float32") for u in utts}
    prints = {i: audio_print(x, r) for i, (x, r) in audio.items()}
    copies: dict[str, list[float]] = {}
    for u in utts[: args.copies]:
        for name, y, r in variants(*audio[u.id]):
            copies.setdefault(name, []).append(prints[u.id].ber(audio_print(y, r)))
    others: dict[str, list[float]] = {"same text": [], "same speaker": [], "other": []}
    for a, b in itertools.combinations(utts[: args.pairs], 2):
        key = (
            "same text"
            if a.text == b.text
            else "same speaker"
            if a.speaker == b.speaker
            else "other"
        )
        others[key].append(prints[a.id].ber(prints[b.id]))
    must_find = {k: v for k, v in copies.items() if "scale only" not in k}
    result = {
        "match_ber": MATCH_BER,
        "utterances": len(utts),
        "copies": {
            k: {"n": len(v), "max": max(v), "mean": float(np.mean(v))} for k, v in copies.items()
        },
        "different": {
            k: {"n": len(v), "min": min(v), "mean": float(np.mean(v))} for k, v in others.items()
        },
        "margin_copies": MATCH_BER - max(max(v) for v in must_find.values()),
        "margin_different": min(min(v) for v in others.values()) - MATCH_BER,
    }
    lines = [f"match when bit error rate < {MATCH_BER}", "", "| near-copy | n | max | mean |"]
    lines += ["|---|---|---|---|"]
    lines += [
        f"| {k} | {d['n']} | {d['max']:.3f} | {d['mean']:.3f} |"
        for k, d in result["copies"].items()
    ]
    lines += ["", "| different recordings | pairs | min | mean |", "|---|---|---|---|"]
    lines += [
        f"| {k} | {d['n']} | {d['min']:.3f} | {d['mean']:.3f} |"
        for k, d in result["different"].items()
    ]
    lines += ["", f"margin below the threshold (copies): {result['margin_copies']:.3f}"]
    lines += [f"margin above the threshold (different): {result['margin_different']:.3f}"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(
            "Command: `OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_fingerprint.py "
            f"--out {args.out.as_posix()}`\n\n{text}\n"
        )


if __name__ == "__main__":
    main()
