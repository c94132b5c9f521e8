"""The learning-rate x seed sweep of every task's run, chosen on validation data.

A method's learning rate moves its result more than any other setting, and choosing it by
the numbers a report shows is tuning on the test data. With ``sweep: {lrs: [...]}`` the
runner (:class:`~audio_unlearn.run.runner.Runner`, any task) first runs every swept method
at every learning rate and seed, scores each run on **validation** data only, picks the
learning rate with the best mean score over seeds, and then runs the report's methods at
the chosen rates. The choice, every cell and the sets the criterion read are written to
``sweep.json`` (and ``sweep.md``) in the run directory.

The criterion (``criterion: gold_gap``) needs nothing a task does not already have: the
task's own per-sample loss (:meth:`~audio_unlearn.tasks.Task.per_sample_loss`, the loss
membership attacks read). A run scores ``-(|F - F_gold| + |V - V_gold|)`` where ``F`` and
``V`` are its mean loss on the forget set and on the validation speakers, and the gold
(retrained) model gives the target levels: forget as much as retraining does, no more,
and keep the held-out utility of retraining. Test utterances and trials are never read.
UnSLU-BENCH keeps its own criterion (validation GUM / CGUM, :mod:`audio_unlearn.unslu`).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..data.manifest import atomic_write_text
from ..methods.registry import get_method, method_hparams
from ..tasks import get_task

__all__ = ["CRITERIA", "SweepConfig", "check_sweep", "select_rates", "validation_losses"]

#: selection criteria of the shared sweep (higher is better)
CRITERIA = ("gold_gap",)


@dataclass
class SweepConfig:
    """The learning-rate x seed sweep (off while ``lrs`` is empty).

    Attributes:
        lrs: learning rates tried for each swept method.
        seeds: unlearning seeds of each (method, lr) cell; the score is their mean.
        methods: the methods swept (default: every method of the run that trains and
            whose entry in ``methods`` sets no ``lr``).
        criterion: ``gold_gap`` (see the module docstring).
        chosen_from: the ``sweep.json`` of an earlier run on the same data: each method
            it chose a rate for runs at that rate and nothing is swept (e.g. sequential
            requests at the rates a single-request run chose on validation). Not with
            ``lrs``; a method entry that sets ``lr`` is refused.
    """

    lrs: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] | None = None
    criterion: str = "gold_gap"
    chosen_from: str | None = None

    def __post_init__(self):
        self.lrs = [float(lr) for lr in self.lrs]
        if any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"sweep.lrs must be positive learning rates, got {self.lrs}")
        if self.lrs and not self.seeds:
            raise ValueError("sweep.seeds must name at least one seed")
        if self.criterion not in CRITERIA:
            raise ValueError(f"sweep.criterion must be one of {CRITERIA}, got {self.criterion!r}")

    @property
    def on(self) -> bool:
        return bool(self.lrs)


def swept_methods(sweep: SweepConfig, methods: Mapping[str, Any], task: str) -> list[str]:
    """The methods the sweep runs: ``sweep.methods``, or every method of the run that
    trains and whose ``lr`` the config leaves free (training-free methods such as SSD have
    no learning rate; a method entry that sets ``lr`` keeps it)."""
    if sweep.methods is not None:
        return list(sweep.methods)
    return [
        m
        for m in methods
        if not get_method(m).training_free
        and "lr" in method_hparams(m, task)
        and "lr" not in (methods[m] or {})
    ]


def check_sweep(cfg: Any, task: str) -> None:
    """Refuse a sweep that cannot run, before any work.

    Raises:
        ValueError: a swept method the run does not run, one without a learning rate, one
            whose ``lr`` is also fixed in ``methods``, forget requests (not swept yet), or a
            split that holds out no validation speakers.
    """
    sweep = getattr(cfg, "sweep", None)
    if sweep is not None and sweep.chosen_from:
        _apply_chosen_rates(cfg, sweep)
    if sweep is None or not sweep.on:
        return
    problems = []
    for name in swept_methods(sweep, cfg.methods, task):
        if name not in cfg.methods:
            problems.append(f"sweep.methods names {name!r}, which the run does not run")
        elif get_method(name).training_free or "lr" not in method_hparams(name, task):
            problems.append(f"{name!r} has no learning rate to sweep")
        elif "lr" in (cfg.methods[name] or {}):
            problems.append(
                f"methods.{name}.lr is fixed but the sweep chooses it; remove one of them"
            )
    if getattr(cfg, "requests", None):
        problems.append("sweep and forget requests do not run together yet: use one of them")
    split = getattr(cfg, "split", None)
    if split is not None and split.holdout == "speaker" and split.n_valid_speakers <= 0:
        problems.append(
            "the sweep chooses on validation speakers: set split.n_valid_speakers > 0 "
            "(or split.holdout: official with a validation list)"
        )
    if problems:
        raise ValueError("; ".join(problems))


def _apply_chosen_rates(cfg: Any, sweep: SweepConfig) -> None:
    """Set each method's ``lr`` to the rate ``sweep.chosen_from`` chose (checked first)."""
    import json
    from pathlib import Path

    path = Path(sweep.chosen_from)
    if sweep.lrs:
        raise ValueError("sweep.chosen_from reuses chosen rates: leave sweep.lrs empty")
    try:
        chosen = json.loads(path.read_text())["chosen"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"sweep.chosen_from={path}: not a readable sweep.json ({err})") from None
    fixed = [m for m in cfg.methods if m in chosen and "lr" in (cfg.methods[m] or {})]
    if fixed:
        raise ValueError(
            f"methods {fixed} fix lr but sweep.chosen_from={path} chose one; remove one of them"
        )
    for name in cfg.methods:
        if name in chosen:
            cfg.methods[name] = {**(cfg.methods[name] or {}), "lr": float(chosen[name]["lr"])}


@torch.no_grad()
def validation_losses(task_name: str, model: torch.nn.Module, dm) -> dict[str, float]:
    """Mean per-sample task loss of ``model`` on the forget and validation sets (random
    draws of a stochastic loss, the flow-matching TTS's, fixed by a seed)."""
    task = get_task(task_name)
    was_training = model.training
    model.eval()
    out = {}
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for name in ("forget", "valid"):
                losses = [
                    task.per_sample_loss(model, batch).float() for batch in dm.eval_dataloader(name)
                ]
                values = torch.cat(losses)
                out[f"{name}_loss"] = float(values[torch.isfinite(values)].mean())
    finally:
        model.train(was_training)
    return out


def gold_gap(cell: Mapping[str, float], gold: Mapping[str, float]) -> float:
    """``-(|F - F_gold| + |V - V_gold|)`` of mean forget / validation losses."""
    forget = abs(cell["forget_loss"] - gold["forget_loss"])
    return -(forget + abs(cell["valid_loss"] - gold["valid_loss"]))


def select_rates(cells: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each method's learning rate: the highest mean ``score`` over seeds (ties: the larger
    rate). Returns ``{method: {lr, score, score_std, n_seeds}}``."""
    groups: dict[str, dict[float, list[float]]] = {}
    for c in cells:
        groups.setdefault(c["method"], {}).setdefault(float(c["lr"]), []).append(c["score"])
    chosen = {}
    for method, by_lr in groups.items():
        lr, scores = max(by_lr.items(), key=lambda item: (statistics.fmean(item[1]), item[0]))
        chosen[method] = {
            "lr": lr,
            "score": statistics.fmean(scores),
            "score_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "n_seeds": len(scores),
        }
    return chosen


def run_sweep(runner, gold: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """Run the sweep of ``runner.cfg.sweep`` and return the run's methods with the chosen
    learning rates (every rank runs the cells; rank zero scores and writes).

    Writes ``sweep.json`` and ``sweep.md`` in the run directory.
    """
    cfg = runner.cfg
    methods = {name: dict(hparams or {}) for name, hparams in cfg.methods.items()}
    sweep = cfg.sweep
    if not sweep.on:
        return methods
    swept = swept_methods(sweep, cfg.methods, runner.task)
    # every rank scores (the models are the same on every rank), so every rank makes the
    # same choice and trains the report's methods alike; rank zero alone writes
    target = validation_losses(runner.task, gold, runner.dm)
    cells = []
    for name in swept:
        for lr in sweep.lrs:
            for seed in sweep.seeds:
                hparams = {**methods[name], "lr": lr}
                path = runner.ckpt_dir / "sweep" / name / f"lr{lr:g}_seed{seed}.pt"
                model, meta = runner.unlearn(name, hparams, path=path, seed=seed)
                losses = validation_losses(runner.task, model, runner.dm)
                cells.append(
                    {
                        "method": name,
                        "lr": lr,
                        "seed": seed,
                        **losses,
                        "score": gold_gap(losses, target),
                        "seconds": meta["seconds"],
                    }
                )
    chosen = select_rates(cells)
    for name, choice in chosen.items():
        methods[name]["lr"] = choice["lr"]
    if not runner.is_global_zero:
        return methods
    record = {
        "criterion": sweep.criterion,
        "reads": ["forget", "valid"],
        "description": "score = -(|F - F_gold| + |V - V_gold|), F / V the mean per-sample "
        "task loss on the forget set / the validation speakers; the learning rate with the "
        "highest mean score over seeds wins (ties: the larger). Test data is never read.",
        "config": dataclasses.asdict(sweep),
        "gold": target,
        "chosen": chosen,
        "cells": cells,
    }
    atomic_write_text(runner.run_dir / "sweep.json", json.dumps(record, indent=1) + "\n")
    atomic_write_text(runner.run_dir / "sweep.md", sweep_markdown(record))
    runner._say(
        "sweep (chosen on validation): "
        + ", ".join(f"{m} lr={c['lr']:g}" for m, c in chosen.items())
    )
    return methods


def sweep_markdown(record: Mapping[str, Any]) -> str:
    """The sweep as a Markdown table: mean (std) score per method and learning rate, the
    chosen rate marked."""
    lrs = record["config"]["lrs"]
    lines = [
        "# Learning-rate sweep",
        "",
        f"Criterion `{record['criterion']}` on the {' and '.join(record['reads'])} sets: "
        f"{record['description']}",
        "",
        "| method | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | chosen |",
        "|---|" + "---|" * (len(lrs) + 1),
    ]
    for method, choice in record["chosen"].items():
        cells = []
        for lr in lrs:
            scores = [
                c["score"] for c in record["cells"] if c["method"] == method and c["lr"] == lr
            ]
            mean = statistics.fmean(scores)
            std = statistics.stdev(scores) if len(scores) > 1 else 0.0
            mark = " *" if lr == choice["lr"] else ""
            cells.append(f"{mean:.4f} ({std:.4f}){mark}")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {choice['lr']:g} |")
    lines += ["", "`*` = chosen; score: mean (std) over seeds, higher is better.", ""]
    return "\n".join(lines)
