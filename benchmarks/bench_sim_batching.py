"""Batched vs one-file-at-a-time speaker similarity (SIM) with Resemblyzer.

Same files, same model, one run:

- ``loop_resemblyzer``: Resemblyzer's own per-file path, ``VoiceEncoder.embed_utterance(
  preprocess_wav(wav))`` (what an evaluation script written against the library does);
- ``loop_encoder``: :class:`ResemblyzerEncoder` called with one file at a time;
- ``batched``: :class:`ResemblyzerEncoder` on all files at once (torch STFT on length
  buckets, partial windows of all files through the LSTM in batches).

Then SIM (cosine) over a same/different-speaker trial list from each set of embeddings;
scores must agree within 1e-4. The wall time of each path is the minimum over
``--repeats`` runs (the machine is shared; all repeats are recorded).

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_sim_batching.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audio_unlearn.data.audio import load_audio
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.evaluation.speaker import ResemblyzerEncoder
from audio_unlearn.evaluation.verification import build_trials, score_trials


def _timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="existing corpus dir with manifest.jsonl")
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--intents", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "sim_batching.json"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus is None:
            from audio_unlearn.data.synth import SynthConfig, synthesize_corpus

            config = SynthConfig(
                n_speakers=args.speakers, n_intents=args.intents, repeats_per_intent=1, seed=0
            )
            corpus_dir = synthesize_corpus(Path(tmp) / "corpus", config, progress=False).root
        else:
            corpus_dir = args.corpus
        utts = read_manifest(corpus_dir / "manifest.jsonl")
        wavs = [load_audio(u.audio) for u in utts]
    ids = [u.id for u in utts]
    trials = build_trials(utts, n_per_speaker=5, seed=0)

    from resemblyzer import VoiceEncoder, preprocess_wav

    reference = VoiceEncoder("cpu", verbose=False)
    encoder = ResemblyzerEncoder(batch_size=args.batch_size).load()
    # warm-up (lazy imports, allocator) for every path
    reference.embed_utterance(preprocess_wav(wavs[0].numpy()))
    encoder.embed(wavs[:4])

    def loop_resemblyzer():
        embs = [reference.embed_utterance(preprocess_wav(w.numpy())) for w in wavs]
        return torch.from_numpy(np.stack(embs))

    def loop_encoder():
        return torch.cat([encoder.embed([w]) for w in wavs])

    def batched():
        return encoder.embed(wavs)

    load_before = os.getloadavg()
    results = {}
    for name, fn in (
        ("loop_resemblyzer", loop_resemblyzer),
        ("loop_encoder", loop_encoder),
        ("batched", batched),
    ):
        best, times, emb = _timed(fn, args.repeats)
        scores, _ = score_trials(trials, ids, emb)
        results[name] = {"seconds": best, "all_seconds": times, "emb": emb, "scores": scores}
    load_after = os.getloadavg()

    b = results["batched"]
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": encoder.describe(),
        "n_files": len(wavs),
        "total_audio_s": sum(w.numel() for w in wavs) / 16000,
        "n_trials": len(trials),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "seconds": {k: v["seconds"] for k, v in results.items()},
        "all_seconds": {k: v["all_seconds"] for k, v in results.items()},
        "speedup_vs_loop_resemblyzer": results["loop_resemblyzer"]["seconds"] / b["seconds"],
        "speedup_vs_loop_encoder": results["loop_encoder"]["seconds"] / b["seconds"],
        "max_abs_score_diff": {
            k: float(np.abs(results[k]["scores"] - b["scores"]).max())
            for k in ("loop_resemblyzer", "loop_encoder")
        },
        "max_abs_embedding_diff": {
            k: float((results[k]["emb"] - b["emb"]).abs().max())
            for k in ("loop_resemblyzer", "loop_encoder")
        },
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    identical = all(v <= 1e-4 for v in report["max_abs_score_diff"].values())
    report["scores_identical_within_1e-4"] = identical
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in report if k != "all_seconds"}, indent=2))
    if not identical:
        raise SystemExit("batched and one-by-one SIM scores differ by more than 1e-4")


if __name__ == "__main__":
    main()
