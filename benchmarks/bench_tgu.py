"""Benchmark: the cost of Teacher-Guided Unlearning on the synthetic TTS recipe.

Two measurements on one trained original (a ``tts-speaker`` run directory):

1. **Cached vs regenerated teacher targets**: seconds per TGU step when the frozen
   teacher regenerates ``x_bar`` for every forget utterance at every step
   (``cache_size=0``, the paper's description) vs drawing from a bank of
   ``--cache-size`` targets per utterance once the bank is full (same batches, same
   model, measured in one process, alternating).
2. **Steps/time to the SIM-F target**: TGU (the run's settings) with SIM-F on the forget
   speakers' cloning trials measured every ``--every`` steps by the runner's
   :class:`~audio_unlearn.evaluation.tts.CloningProbe` (probe time excluded), until SIM-F
   is within ``--margin`` of the cross-speaker level; reported as a fraction
   of the original's pre-training steps and seconds (the paper: 2-7% of pre-training).

Usage::

    audio-unlearn tts-speaker recipes/tts_speaker/synthetic.yaml --out runs/tts_speaker
    python benchmarks/bench_tgu.py --run-dir runs/tts_speaker

Writes ``benchmarks/results/tgu_cost.json`` (and ``.md``). Timings on a shared 2-core CPU
are noisy: compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def step_times(exp, hparams: dict, cache_size: int, steps: int, warm: int) -> dict[str, Any]:
    """Mean seconds per TGU optimisation step (after ``warm`` steps that fill the bank)."""
    from audio_unlearn.methods import build_method

    model = copy.deepcopy(exp.original).train()
    method = build_method("tts_tgu", model, **{**hparams, "cache_size": cache_size})
    opt = torch.optim.AdamW(model.parameters(), lr=method.lr)
    dm = exp.dm
    exp.size_batches(method)
    forget = dm.loader("forget", shuffle=True, batch_size=dm.forget_batch_size)
    retain = dm.loader("retain", shuffle=True, batch_size=dm.batch_size)
    times = []
    it_f, it_r = iter(forget), iter(retain)
    for k in range(warm + steps):
        try:
            bf = next(it_f)
        except StopIteration:
            it_f = iter(forget)
            bf = next(it_f)
        try:
            br = next(it_r)
        except StopIteration:
            it_r = iter(retain)
            br = next(it_r)
        start = time.perf_counter()
        w = method.remain_weight  # the TGU loss, without Lightning's logging
        loss = w * method.cfm(br) + (1 - w) * method.forget_loss(bf)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= warm:
            times.append(time.perf_counter() - start)
    return {
        "cache_size": cache_size,
        "seconds_per_step": sum(times) / len(times),
        "steps_timed": len(times),
        "teacher_generations": method.teacher_generations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a finished tts-speaker run directory")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/tgu_cost.json"))
    parser.add_argument("--cache-size", type=int, default=4)
    parser.add_argument("--timed-steps", type=int, default=6)
    parser.add_argument("--every", type=int, default=100, help="probe period (steps)")
    parser.add_argument(
        "--max-steps", type=int, default=1200, help="TGU steps of the SIM-F curve (0: timing only)"
    )
    parser.add_argument("--margin", type=float, default=None, help="default: eval.sim_margin")
    args = parser.parse_args(argv)

    from audio_unlearn.evaluation.speaker import get_speaker_encoder
    from audio_unlearn.methods import build_method
    from audio_unlearn.methods.fit import fit_unlearning
    from audio_unlearn.models.tts import get_vocoder, load_tts
    from audio_unlearn.tts_experiment import TTSExperiment, load_tts_config

    run = Path(args.run_dir)
    cfg = load_tts_config(run / "config.yaml")
    exp = TTSExperiment(cfg, run, progress=False)
    exp.prepare()
    ckpt = load_tts(run / "checkpoints" / "original.pt", expect_vocab=exp.vocab)
    exp.original = ckpt.model
    exp.vocoder = get_vocoder(cfg.eval.vocoder, exp.mel, trust_code=cfg.eval.trust_code)
    exp.encoder = get_speaker_encoder(cfg.eval.encoder, trust_code=cfg.eval.trust_code)
    hparams = dict(cfg.methods.get("tts_tgu") or {})
    hparams.pop("steps", None)
    margin = cfg.eval.sim_margin if args.margin is None else args.margin

    # 1. cached vs regenerated teacher targets, alternating, one process
    cache = args.cache_size
    exp.size_batches(build_method("tts_tgu", copy.deepcopy(exp.original), **hparams))
    warm = -(-cache * len(exp.dm.dataset("forget")) // exp.dm.forget_batch_size)  # fill the bank
    timing = {
        "regenerated": step_times(exp, hparams, 0, args.timed_steps, 1),
        "cached": step_times(exp, hparams, cache, args.timed_steps, warm),
    }
    timing["speedup"] = (
        timing["regenerated"]["seconds_per_step"] / timing["cached"]["seconds_per_step"]
    )
    print(json.dumps(timing, indent=2), flush=True)
    result = {
        "benchmark": "TGU cost: cached vs regenerated teacher targets per step",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "run_dir": str(run),
        "tgu_hparams": hparams,
        "teacher_target_timing": timing,
    }
    if args.max_steps <= 0:  # timing only
        _write(Path(args.out), result)
        return 0

    # 2. steps and time to the SIM-F target (the runner's probe, stopping at the target)
    exp.trials = exp._trials()  # the probe reads the validation trials when the run has them
    exp.validation_trials = exp._trials(validation=True) if exp._held_out else []
    probe = exp.probe(args.every, stop_at_gap=margin)
    L.seed_everything(cfg.seed, verbose=False)
    model = copy.deepcopy(exp.original).train()
    method = build_method("tts_tgu", model, **hparams)
    exp.size_batches(method)
    fit_unlearning(
        method,
        exp.dm,
        callbacks=[probe],
        max_steps=args.max_steps,
        max_epochs=-1,
        precision=cfg.unlearn.precision,
        deterministic=False,
    )
    for c in probe.history:
        print(f"step {c['step']}: SIM-F {c['sim']['forget']:.3f} (level {c['level']:.3f})")
    orig = ckpt.meta
    reached = next((c for c in probe.history if c["gap"] <= margin), None)
    result.update(
        {
            "benchmark": "TGU cost: teacher-target caching and steps to the SIM-F target",
            "original": {"steps": orig.get("steps"), "seconds": orig.get("seconds")},
            "margin": margin,
            "curve": probe.history,
            "reached": reached,
            "fraction_of_pretraining": None
            if reached is None or not orig.get("steps")
            else {
                "steps": reached["step"] / orig["steps"],
                "seconds": reached["seconds"] / orig["seconds"],
            },
        }
    )
    _write(Path(args.out), result)
    print(json.dumps({k: result[k] for k in ("reached", "fraction_of_pretraining")}, indent=2))
    return 0


def markdown(result: dict[str, Any]) -> str:
    """A short human-readable summary of a result (the ``.md`` beside the JSON)."""
    t = result["teacher_target_timing"]
    lines = [
        f"# {result['benchmark']}",
        "",
        f"Command: `{result['command']}` ({result['date']}, {result['machine']['cpu_count']} "
        f"cores, torch {result['machine']['torch']}); TGU settings {result['tgu_hparams']}.",
        "",
        "| teacher targets | s / step | teacher generations |",
        "|---|---|---|",
    ]
    for name in ("regenerated", "cached"):
        lines.append(
            f"| {name} (cache_size {t[name]['cache_size']}) | "
            f"{t[name]['seconds_per_step']:.2f} | {t[name]['teacher_generations']} |"
        )
    lines += ["", f"Cached vs regenerated: {t['speedup']:.2f}x faster per step (one run)."]
    if result.get("curve"):
        lines += [
            "",
            f"Forgetting curve (gap = SIM-F minus the cross-speaker level; target <= "
            f"{result['margin']}):",
            "",
            "| step | training s | SIM-F | SIM-R | level | gap |",
            "|---|---|---|---|---|---|",
        ]
        for c in result["curve"]:
            lines.append(
                f"| {c['step']} | {c['seconds']:.0f} | {c['sim'].get('forget', float('nan')):.3f}"
                f" | {c['sim'].get('remain', float('nan')):.3f} | {c['level']:.3f} | "
                f"{c['gap']:+.3f} |"
            )
        frac = result.get("fraction_of_pretraining")
        orig = result["original"]
        lines += [
            "",
            "Not reached within the probed steps."
            if frac is None
            else f"Reached at step {result['reached']['step']} "
            f"({result['reached']['seconds']:.0f} s of training): {frac['steps']:.1%} of the "
            f"original's {orig['steps']} pre-training steps, {frac['seconds']:.1%} of its "
            f"{orig['seconds']:.0f} s.",
        ]
    return "\n".join(lines) + "\n"


def _write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (out, json.dumps(result, indent=2)),
        (out.with_suffix(".md"), markdown(result)),
    ):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
