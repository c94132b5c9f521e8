"""Choose TGU's recipe setting on validation trials only (never on the report's test trials).

The TTS recipe holds half of the corpus's texts out for **validation** cloning trials
(``eval.validation_texts``, drawn once into ``trials.json``); the report's test trials use
the other half, so the two sets share no text and no prompt. This script runs TGU from the
recipe's trained original once per candidate setting (fixed below, before any run), each in
its own copy of the run directory, with the forgetting-curve probe on the validation
trials every ``--every`` steps, and chooses one (candidate, step count) by a rule also fixed
in advance:

1. keep the probes (after step 0) whose validation SIM-R is >= 0.9x the original's and
   whose validation WER-R rise is within ``eval.wer_bound`` (utility kept);
2. among them take the lowest SIM-F minus the original's validation cross-speaker level
   (the most forgetting); gaps within 0.005 of the lowest count as equal and the fewest
   steps wins;
3. if no probe keeps utility, take the probe with the highest SIM-R ratio.

Nothing here reads a test trial: the candidate runs evaluate their final model on the
test trials as every run does (``eval/tts_tgu@s0.json``), but the choice reads only the
curves. The chosen setting goes into ``recipes/tts_speaker/synthetic.yaml`` by hand, with
this script's output cited; the recipe's seeded run then reports test numbers.

Usage (the base run directory holds the recipe's judge and original)::

    audio-unlearn run recipes/tts_speaker/synthetic.yaml --out runs/tts_speaker \\
        --set 'methods={}' --set retrain=false           # judge + original only
    python benchmarks/tune_tgu.py --base runs/tts_speaker --out runs/tune_tgu
    # -> runs/tune_tgu/tune.{json,md}; copy to benchmarks/results/tgu_validation.*

``--jobs 2`` (the default) runs two candidates at once, one thread each (2 cores); a candidate's
directory is resumable, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: the candidates, fixed before any run: the method's default (VoiceBox span infilling,
#: half forget, the paper's set-up) and the recipe's earlier choice (a whole forget
#: utterance as the prompt, 3/4 forget), which was read off the test trials. Two, because
#: each costs ~45 minutes of this machine's two cores at 1200 steps with its probes.
CANDIDATES: dict[str, dict[str, Any]] = {
    "span-0.5": {"forget_context": "span", "forget_ratio": 0.5},
    "prompt-0.75": {"forget_context": "prompt", "forget_ratio": 0.75},
}
ROOT = Path(__file__).resolve().parents[1]

#: validation gaps closer than this count as equal (fewer steps wins)
GAP_TIE = 0.005


def choose(curves: dict[str, list[dict[str, Any]]], wer_bound: float) -> dict[str, Any]:
    """The rule of the module docstring over ``{candidate: probe entries}`` (each with
    ``step``, ``gap_reference``, ``sim_r_ratio``, ``wer_r_rise``)."""
    probes = [
        {"candidate": name, **entry}
        for name, curve in curves.items()
        for entry in curve
        if entry["step"] > 0 and entry.get("gap_reference") is not None
    ]
    if not probes:
        raise ValueError("no probe after step 0 carries a validation gap; run the candidates")

    def keeps(p: dict[str, Any]) -> bool:
        ratio, rise = p.get("sim_r_ratio"), p.get("wer_r_rise")
        return ratio is not None and ratio >= 0.9 and (rise is None or rise <= wer_bound)

    kept = [p for p in probes if keeps(p)]
    if kept:
        best = min(p["gap_reference"] for p in kept)
        tied = [p for p in kept if p["gap_reference"] <= best + GAP_TIE]
        chosen = min(tied, key=lambda p: (p["step"], p["gap_reference"]))
        why = "lowest validation gap with SIM-R >= 0.9x and WER-R within bound"
    else:
        chosen = max(probes, key=lambda p: p["sim_r_ratio"] or 0.0)
        why = "no probe kept utility: highest validation SIM-R ratio"
    return {"chosen": chosen, "why": why, "n_probes": len(probes), "n_kept": len(kept)}


def _run_candidate(
    base: Path, out: Path, name: str, every: int, steps: int, threads: int, recipe: Path
):
    """Start (or resume) candidate ``name`` in ``out/name``; returns the process."""
    run = out / name
    if not run.exists():  # the base's judge, original and evaluation records, reused by key
        shutil.copytree(base, run, ignore=shutil.ignore_patterns("report.*", "*.png"))
    tgu = {**_recipe_tgu(recipe), **CANDIDATES[name], "steps": steps}
    sets = [
        f"methods={json.dumps({'tts_tgu': tgu})}",
        "seeds=[0]",
        "retrain=false",
        "eval.relearn_steps=0",
        f"eval.probe_every={every}",
    ]
    cmd = [sys.executable, "-m", "audio_unlearn.cli", "run", str(base / "config.yaml")]
    cmd += ["--out", str(run), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    log = open(out / f"{name}.log", "a")  # noqa: SIM115 (closed with the process)
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _config(base: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((base / "config.yaml").read_text())


def _recipe_tgu(recipe: Path) -> dict[str, Any]:
    """TGU's settings in ``recipe`` other than those the candidates set (lr, remain
    weight, bank size...)."""
    from audio_unlearn.tts_experiment import load_tts_config

    tgu = dict(load_tts_config(recipe).methods.get("tts_tgu") or {})
    for key in ("forget_context", "forget_ratio", "steps", "seed"):
        tgu.pop(key, None)
    return tgu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="run dir with the original")
    parser.add_argument("--out", type=Path, required=True, help="one sub-directory per candidate")
    parser.add_argument(
        "--recipe",
        type=Path,
        default=ROOT / "recipes" / "tts_speaker" / "synthetic.yaml",
        help="TGU's other settings (lr, remain_weight, cache_size) come from here",
    )
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=CANDIDATES)
    parser.add_argument("--every", type=int, default=300, help="probe period (steps)")
    parser.add_argument("--steps", type=int, default=1200, help="TGU steps per candidate")
    parser.add_argument("--jobs", type=int, default=2, help="candidates run at once")
    args = parser.parse_args(argv)

    cfg = _config(args.base)
    if not float((cfg.get("eval") or {}).get("validation_texts") or 0) > 0:
        raise SystemExit(
            f"{args.base}/config.yaml holds no validation trials (eval.validation_texts): "
            "the choice would read the test trials"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    pending, running = list(args.candidates), []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            running.append(
                (
                    name,
                    _run_candidate(
                        args.base, args.out, name, args.every, args.steps, threads, args.recipe
                    ),
                )
            )
        name, proc = running.pop(0)
        if proc.wait() != 0:
            raise SystemExit(f"candidate {name} failed: see {args.out / (name + '.log')}")

    curves, seconds = {}, {}
    for name in args.candidates:
        report = json.loads((args.out / name / "report.json").read_text())
        row = next(r for r in report["rows"] if r["model"] == "tts_tgu")
        seeded = row["per_seed"][0]
        if seeded.get("curve_trials") != "validation":
            raise SystemExit(f"candidate {name}'s curve did not read validation trials")
        curves[name], seconds[name] = seeded["curve"], seeded.get("seconds")
    wer_bound = float((cfg.get("eval") or {}).get("wer_bound", 0.05))
    result = {
        "benchmark": "TGU setting chosen on validation cloning trials",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "read": "validation trials only (trials.json of the base run; test trials unread)",
        "base": str(args.base),
        "candidates": {n: CANDIDATES[n] for n in args.candidates},
        "tgu_settings": {**_recipe_tgu(args.recipe), "steps": args.steps},
        "rule": __doc__.split("in advance:")[1].split("Nothing here")[0].strip(),
        "curves": curves,
        "seconds": seconds,
        **choose(curves, wer_bound),
    }
    (args.out / "tune.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "tune.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict[str, Any]) -> str:
    """The sweep as a table: every candidate's validation curve and the choice."""
    lines = [
        f"# {result['benchmark']}",
        "",
        f"Command: `{result['command']}` ({result['date']}). Read: {result['read']}.",
        "",
        "| candidate | step | SIM-F - original's level | SIM-R / original's | WER-R rise |",
        "|---|---|---|---|---|",
    ]

    def f(v, spec="{:.3f}"):
        return "-" if v is None else spec.format(v)

    for name, curve in result["curves"].items():
        for c in curve:
            lines.append(
                f"| {name} | {c['step']} | {f(c.get('gap_reference'), '{:+.3f}')} | "
                f"{f(c.get('sim_r_ratio'))} | {f(c.get('wer_r_rise'), '{:+.3f}')} |"
            )
    ch = result["chosen"]
    lines += [
        "",
        f"Chosen: **{ch['candidate']}** {result['candidates'][ch['candidate']]} at "
        f"**{ch['step']} steps** ({result['why']}; {result['n_kept']} of "
        f"{result['n_probes']} probes kept utility).",
        "",
        "Rule (fixed before the runs): " + " ".join(result["rule"].split()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
