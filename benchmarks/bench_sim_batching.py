"""Batched vs one-file-at-a-time speaker similarity (SIM) with Resemblyzer.

Same files, same model, one run:

- ``loop_resemblyzer``: Resemblyzer's own per-file path, ``VoiceEncoder.embed_utterance(
  preprocess_wav(wav))`` (what an evaluation script written against the library does);
- ``loop_encoder``: :class:`ResemblyzerEncoder` called with one file at a time;
- ``batched``: :class:`ResemblyzerEncoder` on all files at once (torch STFT on length
  buckets, partial windows of all files through the LSTM in batches).

Then SIM (cosine) over a same/different-speaker trial list from each set of embeddings;
scores must agree within 1e-4. The wall time of each path is the minimum over
``--repeats`` interleaved rounds (the machine is shared; all runs, process CPU times and the
load are recorded). Where the time goes: one more pass of our encoder per file and batched,
timed per stage (Resemblyzer's volume normalisation + WebRTC VAD, mel spectrograms, the
LSTM), and both again on one CPU thread (the work, free of threading effects).

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


# Multiply-adds of Resemblyzer's 3-layer LSTM (40 mel inputs, 256 hidden) over one
# 160-frame partial window: 4 gates x 256 x (inputs + hidden) per layer and frame, x2 FLOP.
LSTM_FLOP_PER_PARTIAL = 160 * 2 * 4 * 256 * ((40 + 256) + 2 * (256 + 256))


def write_markdown(report: dict, path: Path) -> None:
    """A readable summary: the ratios, where the time goes, and why."""
    sec, st = report["seconds"], report["stage_seconds"]
    loop, bat = st["loop_encoder"], st["batched"]
    fixed = bat["volume_and_vad"] + bat["mel"] + bat["other"]
    lines = [
        "# Speaker similarity (Resemblyzer): batched vs one file at a time",
        "",
        f"`{report['command']}`: {report['n_files']} files, {report['total_audio_s']:.1f} s "
        f"of synthetic espeak-ng speech, {report['n_trials']} trials; minimum of "
        f"{report['repeats']} interleaved runs; 1-minute load average "
        f"{report['machine']['loadavg_before'][0]:.1f} before, "
        f"{report['machine']['loadavg_after'][0]:.1f} after (shared machine).",
        "",
        "| path | seconds | CPU seconds | speed-up of batched |",
        "|---|---|---|---|",
        f"| Resemblyzer's own loop (preprocess_wav + embed_utterance) | "
        f"{sec['loop_resemblyzer']:.2f} | {report['cpu_seconds_min']['loop_resemblyzer']:.2f} "
        f"| {report['speedup_vs_loop_resemblyzer']:.2f}x |",
        f"| ResemblyzerEncoder, one file per call | {sec['loop_encoder']:.2f} | "
        f"{report['cpu_seconds_min']['loop_encoder']:.2f} | "
        f"{report['speedup_vs_loop_encoder']:.2f}x |",
        f"| ResemblyzerEncoder, all files at once | {sec['batched']:.2f} | "
        f"{report['cpu_seconds_min']['batched']:.2f} | - |",
        "",
        f"Scores identical within 1e-4: {report['scores_identical_within_1e-4']} (max abs "
        f"score difference {max(report['max_abs_score_diff'].values()):.1e}). One-thread "
        f"work ratio (CPU seconds, ours per file / batched): "
        f"{report['work_ratio_1_thread_vs_loop_encoder']:.2f}x.",
        "",
        "## Where the time goes (seconds, one pass)",
        "",
        "| stage | one file per call | batched |",
        "|---|---|---|",
        *(
            f"| {k} | {loop[k]} | {bat[k]} |"
            for k in ("volume_and_vad", "mel", "lstm_and_projection", "other", "total")
        ),
        f"| LSTM partial windows | {loop['partial_windows']} | {bat['partial_windows']} |",
        f"| LSTM GFLOP/s | {loop['lstm_gflop_per_s']} | {bat['lstm_gflop_per_s']} |",
        "",
        "## Why",
        "",
        "Only the LSTM batches: every file's 1.6 s partial windows (here "
        f"{bat['partial_windows'] / report['n_files']:.1f} per file after VAD trimming) go "
        "through it together, 160 sequential steps for a batch of up to "
        f"{report['batch_size']} windows instead of 160 per file. Batched, it runs at "
        f"{bat['lstm_gflop_per_s']} GFLOP/s, close to this CPU's fp32 matrix-product rate "
        "(see `asr_batching.md`): it is compute-bound. Resemblyzer's volume normalisation, "
        "WebRTC VAD and mel spectrograms are per-file work in both paths "
        f"({fixed:.2f} s batched). The ratio to our own per-file call is therefore "
        "(per-file LSTM, a window or two per call) / (LSTM at full rate + fixed per-file "
        "work).",
        "",
        f"Resemblyzer's own per-file loop takes {sec['loop_resemblyzer']:.2f} s against "
        f"{sec['loop_encoder']:.2f} s for our encoder called per file: its preprocess_wav "
        "packs the VAD input sample by sample with struct.pack and its mels come from "
        "librosa; the encoder does the same arithmetic faster (same embeddings within "
        f"{max(report['max_abs_embedding_diff'].values()):.1e}).",
        "",
    ]
    vs_resemblyzer = report["speedup_vs_loop_resemblyzer"]
    vs_encoder = report["speedup_vs_loop_encoder"]
    if vs_encoder >= 5:
        lines.append("The >= 5x target is met against both per-file loops.")
    elif vs_resemblyzer >= 5:
        lines.append(
            f"The >= 5x target is met against Resemblyzer's own loop ({vs_resemblyzer:.2f}x) "
            f"but not against our encoder called per file ({vs_encoder:.2f}x), which "
            "already has the fast preprocessing; what is left to batch is the LSTM, and "
            "batched it runs at the CPU's matrix-product rate."
        )
    else:
        lines.append(
            f"The >= 5x target is not met ({vs_resemblyzer:.2f}x against Resemblyzer's "
            f"loop, {vs_encoder:.2f}x against ours)."
        )
    path.write_text("\n".join(lines) + "\n")


def _stage_seconds(encoder: ResemblyzerEncoder, fn) -> dict:
    """Seconds per stage of ResemblyzerEncoder during one call of ``fn``."""
    seconds: dict[str, float] = {}

    def wrap(name, call):
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

        return timed_call

    network = encoder._model
    partials = [0]
    timed_network = wrap("lstm_and_projection", network.forward)

    def counted(mels, *args, **kwargs):
        partials[0] += int(mels.shape[0])
        return timed_network(mels, *args, **kwargs)

    encoder.preprocess = wrap("volume_and_vad", encoder.preprocess)
    encoder._mel_spectrograms = wrap("mel", encoder._mel_spectrograms)
    network.forward = counted
    start = time.perf_counter()
    try:
        fn()
    finally:
        total = time.perf_counter() - start
        del encoder.preprocess, encoder._mel_spectrograms, network.forward
    out = {k: round(v, 3) for k, v in seconds.items()}
    out["other"] = round(total - sum(seconds.values()), 3)
    out["total"] = round(total, 3)
    out["partial_windows"] = partials[0]
    out["lstm_gflop_per_s"] = round(
        partials[0] * LSTM_FLOP_PER_PARTIAL / seconds["lstm_and_projection"] / 1e9, 1
    )
    return out


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

    modes = {
        "loop_resemblyzer": loop_resemblyzer,
        "loop_encoder": loop_encoder,
        "batched": batched,
    }
    load_before = os.getloadavg()
    runs = {name: [] for name in modes}
    cpu_runs = {name: [] for name in modes}
    embeddings = {}
    for _ in range(args.repeats):  # interleaved rounds: load changes hit every path alike
        for name, fn in modes.items():
            wall, cpu = time.perf_counter(), time.process_time()
            embeddings[name] = fn()
            cpu_runs[name].append(time.process_time() - cpu)
            runs[name].append(time.perf_counter() - wall)
    load_after = os.getloadavg()
    results = {}
    for name in modes:
        scores, _ = score_trials(trials, ids, embeddings[name])
        results[name] = {
            "seconds": min(runs[name]),
            "all_seconds": runs[name],
            "emb": embeddings[name],
            "scores": scores,
        }
    stages = {
        "loop_encoder": _stage_seconds(encoder, loop_encoder),
        "batched": _stage_seconds(encoder, batched),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work = {}
        for name in ("loop_encoder", "batched"):
            cpu = time.process_time()
            modes[name]()
            work[name] = round(time.process_time() - cpu, 3)
    finally:
        torch.set_num_threads(threads)

    b = results["batched"]
    report = {
        "command": " ".join(["OMP_WAIT_POLICY=PASSIVE", sys.executable, *sys.argv]),
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
        "cpu_seconds_min": {k: min(v) for k, v in cpu_runs.items()},
        "stage_seconds": stages,
        "work_1_thread_cpu_s": work,
        "work_ratio_1_thread_vs_loop_encoder": work["loop_encoder"] / work["batched"],
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
    write_markdown(report, args.out.with_suffix(".md"))
    print(json.dumps({k: report[k] for k in report if k != "all_seconds"}, indent=2))
    if not identical:
        raise SystemExit("batched and one-by-one SIM scores differ by more than 1e-4")


if __name__ == "__main__":
    main()
