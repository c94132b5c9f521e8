"""Padding waste of training batches: today's fixed-size shuffled batches vs
duration-bucketed batches (audio_unlearn.data.sampling), and lhotse's
DynamicBucketingSampler on the same durations when lhotse is installed.

    python benchmarks/bench_bucketing.py --manifest data/synth-fsc/manifest.jsonl \
        --out benchmarks/results/bucketing.json

Waste = padded seconds / real seconds - 1 (each batch padded to its longest item). Two
length distributions: the manifest's (the synthetic corpus) and a SLURP-like log-normal
fixture (median 2.7 s, clipped to 0.8-10 s, 5000 utterances). Batch budgets are matched:
fixed batches of the bucketed run's mean batch size; lhotse gets max_duration equal to
the real seconds of our mean batch.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from audio_unlearn.data.sampling import DurationBucketBatchSampler, fixed_batches, padding_waste


def _lhotse_batches(durations: list[float], max_duration: float, seed: int):
    from lhotse import CutSet, MonoCut, Recording
    from lhotse.audio import AudioSource
    from lhotse.dataset.sampling import DynamicBucketingSampler

    cuts = []
    for i, d in enumerate(durations):
        rec = Recording(
            id=f"r{i}",
            sources=[AudioSource(type="file", channels=[0], source=f"/dev/null/{i}.wav")],
            sampling_rate=16000,
            num_samples=round(d * 16000),
            duration=round(d * 16000) / 16000,
        )
        cuts.append(MonoCut(f"c{i}", start=0.0, duration=rec.duration, channel=0, recording=rec))
    sampler = DynamicBucketingSampler(
        CutSet.from_cuts(cuts), max_duration=max_duration, num_buckets=10, shuffle=True, seed=seed
    )
    index = {f"c{i}": i for i in range(len(durations))}
    return [[index[c.id] for c in batch] for batch in sampler]


def measure(name: str, durations: list[float], max_seconds: float, seed: int) -> dict:
    start = time.perf_counter()
    sampler = DurationBucketBatchSampler(durations, max_seconds, seed=seed, rank=0, world_size=1)
    ours = list(sampler)
    ours_s = time.perf_counter() - start
    mean_size = len(durations) / len(ours)
    fixed = fixed_batches(len(durations), max(1, round(mean_size)), seed=seed)
    row = {
        "distribution": name,
        "utterances": len(durations),
        "real_hours": sum(durations) / 3600,
        "max_padded_seconds": max_seconds,
        "fixed": {"batches": len(fixed), "waste": padding_waste(durations, fixed)},
        "bucketed": {
            "batches": len(ours),
            "waste": padding_waste(durations, ours),
            "seconds_per_epoch_plan": ours_s,
        },
    }
    try:
        real_per_batch = sum(durations) / len(ours)
        start = time.perf_counter()
        lh = _lhotse_batches(durations, real_per_batch, seed)
        row["lhotse"] = {
            "batches": len(lh),
            "waste": padding_waste(durations, lh),
            "seconds_per_epoch_plan": time.perf_counter() - start,
            "visits_each_once": sorted(i for b in lh for i in b) == list(range(len(durations))),
        }
    except ImportError:
        row["lhotse"] = None
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="a JSONL manifest (durations)")
    parser.add_argument("--out", default="benchmarks/results/bucketing.json")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from audio_unlearn.data.manifest import read_manifest

    corpus = [u.duration for u in read_manifest(args.manifest)]
    rng = np.random.default_rng(args.seed)
    slurp = np.clip(rng.lognormal(np.log(2.7), 0.45, 5000), 0.8, 10.0).tolist()
    rows = [
        measure(f"corpus ({Path(args.manifest).parent.name})", corpus, args.max_seconds, args.seed),
        measure("SLURP-like log-normal", slurp, args.max_seconds, args.seed),
    ]
    record = {
        "command": "python benchmarks/bench_bucketing.py --manifest "
        f"{args.manifest} --out {args.out}",
        "python": platform.python_version(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# Padding waste: fixed-size vs duration-bucketed batches",
        "",
        f"`{record['command']}`; waste = padded / real seconds - 1.",
        "",
        "| durations | utterances | fixed batches: waste | bucketed (ours): waste | "
        "lhotse DynamicBucketingSampler: waste | plan time ours / lhotse (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lh = r["lhotse"]
        lhs = "-" if lh is None else f"{lh['waste']:.3f} ({lh['batches']} batches)"
        times = f"{r['bucketed']['seconds_per_epoch_plan']:.3f} / " + (
            "-" if lh is None else f"{lh['seconds_per_epoch_plan']:.3f}"
        )
        lines.append(
            f"| {r['distribution']} | {r['utterances']} | {r['fixed']['waste']:.3f} "
            f"({r['fixed']['batches']} batches) | {r['bucketed']['waste']:.3f} "
            f"({r['bucketed']['batches']} batches) | {lhs} | {times} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
