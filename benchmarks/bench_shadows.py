"""Shadow-model attacks on the demo, over seeds, with 95% intervals and their cost.

Runs the demo recipe (``recipes/demo/config.yaml``: 48 synthetic speakers, 6 forgotten) with
``eval.shadows=N`` and ``split.n_valid_speakers=V`` (RMIA's population) once per training
seed. Each run trains the original, gold, FT, NG and N shadows. The table gives, per
model, the mean over seeds and a 95% Student-t interval of:
- LiRA and RMIA AUC;
- TPR at 1% FPR;
- the speaker-level LiRA AUC.
Each claim is judged by its interval:
- the original's speaker-level attack above gold's;
- gold at chance.
The cost of one shadow (wall-clock seconds of its training) is measured in the same runs.

Usage (about 15 minutes per seed with 8 shadows on 2 CPU cores)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_shadows.py \\
        --seeds 0 1 2 --shadows 8 --out runs/bench_shadows
    # -> runs/bench_shadows/shadows.{json,md}; run directories per seed are reused
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from audio_unlearn.evaluation.intervals import mean_interval

METRICS = (
    ("lira_auc", "LiRA AUC"),
    ("lira_tpr_at_1pct_fpr", "LiRA TPR@1%FPR"),
    ("rmia_auc", "RMIA AUC"),
    ("rmia_tpr_at_1pct_fpr", "RMIA TPR@1%FPR"),
    ("speaker_lira_auc", "speaker LiRA AUC"),
    ("mia_auc", "loss-attack AUC"),
)


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval (NaN bounds with one value):
    :func:`audio_unlearn.evaluation.intervals.mean_interval`."""
    iv = mean_interval(values)
    return iv.mean, math.nan if iv.lo is None else iv.lo, math.nan if iv.hi is None else iv.hi


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--shadows", type=int, default=8)
    p.add_argument("--valid-speakers", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path("runs/bench_shadows"))
    args = p.parse_args()
    reports = {}
    for seed in args.seeds:
        run = args.out / f"seed{seed}"
        cmd = [sys.executable, "-m", "audio_unlearn.cli", "run", "recipes/demo/config.yaml"]
        cmd += ["--out", str(run), "--no-progress", "--set", f"seed={seed}"]
        cmd += ["--set", f"eval.shadows={args.shadows}"]
        cmd += ["--set", f"split.n_valid_speakers={args.valid_speakers}"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        reports[seed] = json.loads((run / "report.json").read_text())
    models = [r["model"] for r in reports[args.seeds[0]]["models"]]
    table: dict[str, dict[str, list[float]]] = {}
    for rep in reports.values():
        for row in rep["models"]:
            for key, _ in METRICS:
                table.setdefault(row["model"], {}).setdefault(key, []).append(row[key])
    cost = [
        r["shadow_attack"]["shadow_seconds"] / r["shadow_attack"]["shadows"]
        for r in reports.values()
    ]
    result = {
        "seeds": args.seeds,
        "shadows": args.shadows,
        "seconds_per_shadow": interval(cost),
        "models": {
            m: {k: {"values": v, "mean_ci95": interval(v)} for k, v in table[m].items()}
            for m in models
        },
    }
    orig = interval(table["original"]["speaker_lira_auc"])
    gold = interval(table["gold"]["speaker_lira_auc"])
    diff = interval(
        [
            a - b
            for a, b in zip(
                table["original"]["speaker_lira_auc"],
                table["gold"]["speaker_lira_auc"],
                strict=True,
            )
        ]
    )
    verdict = "met" if diff[1] > 0 else "not met" if diff[2] < 0 else "inconclusive"
    result["speaker_attack_original_above_gold"] = {"difference_ci95": diff, "verdict": verdict}
    head = ["model"] + [t for _, t in METRICS]
    lines = [
        f"Demo, {args.shadows} shadows, seeds {args.seeds}; mean [95% interval] over seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for m in models:
        cells = []
        for key, _ in METRICS:
            mean, lo, hi = interval(table[m][key])
            cells.append(f"{mean:.3f}" + ("" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    c = result["seconds_per_shadow"]
    lines += [
        "",
        f"Speaker-level LiRA AUC, original {orig[0]:.3f} vs gold {gold[0]:.3f}; difference "
        f"{diff[0]:.3f} [{diff[1]:.3f}, {diff[2]:.3f}]: original above gold **{verdict}**.",
        f"Cost: {c[0]:.1f} s of training per shadow (wall clock, mean over seeds; 2 CPU "
        f"cores), {args.shadows} shadows per seed.",
        "",
        "Command: `OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_shadows.py "
        f"--seeds {' '.join(map(str, args.seeds))} --shadows {args.shadows} "
        f"--out {args.out.as_posix()}`",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shadows.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "shadows.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
