"""UnSLU-BENCH: speaker forgetting in spoken-language-understanding models, one command.

Koudounas, Savelli, Giobergia, Baralis, "Alexa, can you forget me? Machine Unlearning
Benchmark in Spoken Language Understanding", Interspeech 2025 (arXiv 2505.15700); CGUM from
the journal extension (UnSLU-BENCH+, IEEE TASLP 2026). The protocol (see
``recipes/unslu/README.md``):

1. corpus and split: the corpus's own train/validation/test lists; forget set = whole
   speakers with more than 100 training utterances, drawn without replacement (seed 42;
   0 for SLURP*) until it holds 2.5% of train; the speaker list is saved in ``split.json``;
2. the original model (train set) and the gold model (retain set only), both with the
   benchmark's recipe (:class:`UnSLUTraining`: AdamW with weight decay, linear warm-up over
   10% of the steps, a plateau scheduler and early stopping on validation, batch 8; steps,
   learning rate and gradient accumulation per data set, :data:`BENCHMARK_TRAINING`);
3. every method (FT, NG, NG+, CF-k, UNSIR, BT, BT-L, SCRUB) for one epoch at every
   learning rate of the grid {1e-4, 5e-5, 1e-5, 5e-6, 1e-6, 5e-7} and several seeds: one
   *cell* per (method, learning rate, seed);
4. the learning rate of each method is chosen on **validation** (the reference code
   chooses on test): the highest mean over seeds of the validation CGUM (``selection``;
   GUM on request), i.e. the score with the validation macro-F1 for utility and the
   forget-vs-validation loss attack for efficacy (ties: higher validation F1, then the
   larger learning rate);
5. the table: CGUM first (the journal version's score), GUM beside it, accuracy and
   macro-F1 on test, forget and retain, MIA (forget vs test), unlearning time, speed-up
   over gold retraining, mean and standard deviation over seeds at the selected learning
   rate, beside the paper's published row (:data:`PUBLISHED`, every row of the reference
   README's tables as data); written as ``unslu_table.md`` and ``unslu_table.json``.

Resumable: each cell writes ``cells/<method>/lr<lr>_seed<seed>/result.json`` (atomically,
last) and, unless ``checkpoints: none``, its ``model.pt``; a cell whose result carries the
current settings key is not recomputed. A cell interrupted mid-way has no result: its
directory is cleaned (stale temporary files, a partial checkpoint) and it runs again.

DDP: every rank trains and unlearns; rank 0 alone evaluates (on the full sets) and writes,
as in :class:`audio_unlearn.experiment.Experiment`, whose data, split and checkpoint
machinery this runner reuses.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from . import __version__
from .data.manifest import atomic_write_text
from .evaluation import classification_scores, loss_mia, scores_from_rows
from .evaluation.classification import per_sample_cross_entropy
from .experiment import (
    Experiment,
    ExperimentConfig,
    TrainConfig,
)
from .methods import build_method
from .methods.fit import fit_unlearning
from .methods.training import UnSLUTraining
from .models.checkpoint import save_classifier
from .run.store import settings_key
from .runners.unslu_config import (
    _CRITERIA,
    BENCHMARK_TRAINING,
    METRICS,
    PUBLISHED,
    PUBLISHED_FILE,
    PUBLISHED_SOURCE,
    UNSLU_LRS,
    UNSLU_METHODS,
    UnSLUConfig,
    UnSLUSplitConfig,
    UnSLUTrainConfig,
    load_unslu_config,
    read_published,
)
from .runners.unslu_report import (
    unslu_markdown,
)

__all__ = [
    "BENCHMARK_TRAINING",
    "PUBLISHED",
    "PUBLISHED_FILE",
    "PUBLISHED_SOURCE",
    "UNSLU_LRS",
    "UNSLU_METHODS",
    "UnSLUBenchmark",
    "UnSLUConfig",
    "UnSLUSplitConfig",
    "UnSLUTrainConfig",
    "UnSLUTraining",
    "aggregate_cells",
    "load_unslu_config",
    "read_published",
    "run_unslu",
    "select_learning_rates",
    "unslu_markdown",
    "validation_scores",
]

logger = logging.getLogger(__name__)


# -- training ---------------------------------------------------------------------------
# -- pure pieces: validation scores, selection, aggregation -----------------------------
def validation_scores(
    cell: dict[str, Any],
    original: dict[str, Any],
    gold: dict[str, Any],
    num_classes: int,
) -> dict[str, float]:
    """GUM and CGUM of a cell computed on validation (the selection criterion).

    Utility from the validation macro-F1 (unlearned vs gold), efficacy from the
    forget-vs-validation loss attack (``mia_valid`` of the unlearned, original and gold
    models), efficiency from the unlearning and gold-retraining times.
    """
    g, c = scores_from_rows(
        cell, original, gold, n_classes=num_classes, f1_key="valid_f1", mia_key="mia_valid"
    )
    return {"valid_gum": g.score, "valid_cgum": c.score}


def table_scores(
    cell: dict[str, Any], original: dict[str, Any], gold: dict[str, Any], num_classes: int
) -> dict[str, Any]:
    """GUM and CGUM as published: test macro-F1 and the forget-vs-test loss attack."""
    g, c = scores_from_rows(cell, original, gold, n_classes=num_classes)
    return {
        "gum": g.score,
        "cgum": c.score,
        "gum_terms": dataclasses.asdict(g),
        "cgum_terms": dataclasses.asdict(c),
    }


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values))


def _std(values: Sequence[float]) -> float:
    return float(statistics.stdev(values)) if len(values) > 1 else 0.0


def select_learning_rates(
    cells: Sequence[dict[str, Any]], *, criterion: str = "gum"
) -> dict[str, dict[str, Any]]:
    """Each method's learning rate, chosen on validation only.

    For every (method, lr) the validation score ``valid_<criterion>`` is averaged over
    seeds; the lr with the highest mean wins; ties go to the higher mean validation
    macro-F1, then to the larger learning rate. Test metrics are never read.

    Args:
        cells: cell results with ``method``, ``lr``, ``valid_gum`` / ``valid_cgum`` and
            ``valid_f1``.
        criterion: ``"gum"`` or ``"cgum"``.

    Returns:
        ``{method: {"lr": lr, "score": mean validation score, "n_seeds": n}}``.

    Raises:
        ValueError: unknown criterion or no cells.
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if not cells:
        raise ValueError("no cells to select from")
    key = f"valid_{criterion}"
    groups: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for c in cells:
        groups.setdefault(c["method"], {}).setdefault(float(c["lr"]), []).append(c)
    chosen = {}
    for method, by_lr in groups.items():
        ranked = sorted(
            by_lr.items(),
            key=lambda item: (
                _mean([c[key] for c in item[1]]),
                _mean([c["valid_f1"] for c in item[1]]),
                item[0],
            ),
            reverse=True,
        )
        lr, best = ranked[0]
        chosen[method] = {
            "lr": lr,
            "score": _mean([c[key] for c in best]),
            "n_seeds": len(best),
        }
    return chosen


def aggregate_cells(cells: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation over seeds of every metric in :data:`METRICS`."""
    out: dict[str, dict[str, float]] = {"mean": {}, "std": {}}
    for m in METRICS:
        values = [float(c[m]) for c in cells if c.get(m) is not None]
        if values:
            out["mean"][m] = _mean(values)
            out["std"][m] = _std(values)
    return out


# -- the runner -------------------------------------------------------------------------
class UnSLUBenchmark(Experiment):
    """One UnSLU-BENCH setting in ``run_dir`` (see :func:`run_unslu`).

    Reuses :class:`~audio_unlearn.experiment.Experiment` for the corpus, the saved split,
    the data module and the settings-keyed original / gold checkpoints; replaces the
    training recipe (:class:`UnSLUTraining`) and runs the (method, lr, seed) grid.
    """

    def __init__(self, cfg: UnSLUConfig, run_dir: str | Path, *, progress: bool = True):
        self.unslu = cfg
        exp_cfg = ExperimentConfig(
            seed=cfg.seed,
            label_key=cfg.label_key,
            max_seconds=cfg.max_seconds,
            corpus=cfg.corpus,
            split=cfg.split,
            model=cfg.model,
            train=TrainConfig(epochs=1, batch_size=cfg.train.batch_size, lr=cfg.train.lr),
            methods={},
            trainer=cfg.trainer,
        )
        super().__init__(exp_cfg, run_dir, progress=progress)
        self.cells_dir = self.run_dir / "cells"

    # -- reference models -------------------------------------------------------------
    def reference_key(self, role: str, data: dict[str, Any] | None = None) -> str:
        return settings_key(
            {
                "role": role,
                "data": self.data_key if data is None else data,
                "train": dataclasses.asdict(self.unslu.train),
                "model": self.unslu.model,
                "seed": self.unslu.seed,
                "recipe": "unslu",
            }
        )

    def reference_module(self, model: torch.nn.Module, role: str, dm) -> L.LightningModule:
        """The benchmark's recipe (:class:`UnSLUTraining`) for the original and gold."""
        tc = self.unslu.train
        dm.seed = self.unslu.seed
        module = UnSLUTraining(
            model,
            lr=tc.lr,
            warmup_ratio=tc.warmup_ratio,
            weight_decay=tc.weight_decay,
            plateau_factor=tc.plateau_factor,
            plateau_patience=tc.plateau_patience,
        )
        # plateau and early stopping read the validation loss (the split always has one)
        dm.validation = ("valid", self.unslu.eval_batch_size) if dm.sets["valid"] else None
        return module

    def reference_trainer(self) -> dict[str, Any]:
        tc = self.unslu.train
        return {
            "epochs": -1,
            "gradient_clip_val": tc.gradient_clip_val,
            "max_steps": tc.max_steps,
            "accumulate_grad_batches": tc.accumulate_grad_batches,
            # validation every eval_steps optimiser steps, counted over epochs
            "val_check_interval": tc.eval_steps * tc.accumulate_grad_batches,
            "check_val_every_n_epoch": None,
            **self.cfg.trainer,
        }

    def reference_callbacks(self, module: L.LightningModule) -> list:
        patience = self.unslu.train.early_stopping_patience
        if patience is None or self.dm.validation is None:
            return []
        from lightning.pytorch.callbacks import EarlyStopping

        return [
            EarlyStopping(
                monitor="val_loss",
                mode="min",
                patience=patience,
                min_delta=0.0,
                check_on_train_epoch_end=False,
            )
        ]

    def reference_facts(self, module: L.LightningModule) -> dict[str, Any]:
        facts = module.facts() if isinstance(module, UnSLUTraining) else {}
        if facts:
            stopped = facts["evaluations"][-1]["step"] < self.unslu.train.max_steps
            facts["stopped_early"] = (
                stopped and self.unslu.train.early_stopping_patience is not None
            )
        return facts

    def training_length(self) -> str:
        return f"{self.unslu.train.max_steps} steps"

    # -- evaluation -------------------------------------------------------------------
    def _eval_device(self) -> torch.device:
        accelerator = str(self.cfg.trainer.get("accelerator", "cpu"))
        if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")

    @torch.no_grad()
    def _logits(self, model: torch.nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        device = self._eval_device()
        bf16 = device.type == "cuda" and "bf16" in str(self.cfg.trainer.get("precision", ""))
        saved = self.dm.batch_size
        self.dm.batch_size = self.unslu.eval_batch_size
        logits, targets = [], []
        try:
            for wav, y in self.dm.eval_dataloader(name):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    logits.append(model(wav.to(device)).float().cpu())
                targets.append(y)
        finally:
            self.dm.batch_size = saved
        return torch.cat(logits), torch.cat(targets)

    def evaluate(self, model: torch.nn.Module) -> dict[str, Any]:
        """Accuracy / macro-F1 / loss on forget, retain, valid and test; the loss attack
        forget-vs-test (``mia``, as published) and forget-vs-valid (``mia_valid``, for
        selection)."""
        was_training = model.training
        model.eval().to(self._eval_device())
        row: dict[str, Any] = {}
        losses = {}
        try:
            for name in ("forget", "retain", "valid", "test"):
                logits, targets = self._logits(model, name)
                scores = classification_scores(logits, targets)
                row[f"{name}_acc"] = scores.accuracy
                row[f"{name}_f1"] = scores.macro_f1
                row[f"{name}_loss"] = scores.loss
                losses[name] = per_sample_cross_entropy(logits, targets).numpy()
        finally:
            model.cpu().train(was_training)
        seed = self.unslu.seed
        mia = loss_mia(losses["forget"], losses["test"], seed=seed)
        mia_valid = loss_mia(losses["forget"], losses["valid"], seed=seed)
        row.update(mia=mia.accuracy, mia_std=mia.std, mia_valid=mia_valid.accuracy)
        return row

    def reference_rows(self, t_o: float, t_g: float) -> dict[str, dict[str, Any]]:
        """Evaluation of the original and gold models (cached by their settings keys)."""
        path = self.run_dir / "references.json"
        keys = {"original": self.reference_key("original"), "gold": self.reference_key("gold")}
        cached = json.loads(path.read_text()) if path.is_file() else {}
        rows = {}
        for role, model, seconds in (
            ("original", self.original, t_o),
            ("gold", self.gold, t_g),
        ):
            hit = cached.get(role)
            if hit and hit.get("key") == keys[role]:
                rows[role] = hit
                continue
            rows[role] = {"key": keys[role], "time_s": seconds, **self.evaluate(model)}
        rows["gold"]["speedup"] = 1.0
        rows["original"]["speedup"] = t_g / t_o if t_o > 0 else float("inf")
        atomic_write_text(path, json.dumps(rows, indent=1) + "\n")
        return rows

    # -- cells --------------------------------------------------------------------------
    def cell_dir(self, method: str, lr: float, seed: int) -> Path:
        return self.cells_dir / method / f"lr{lr:g}_seed{seed}"

    def cell_key(self, method: str, lr: float, seed: int) -> str:
        return settings_key(
            {
                "method": method,
                "hparams": self.unslu.methods.get(method) or {},
                "lr": lr,
                "seed": seed,
                "original": self.reference_key("original"),
                "gold": self.reference_key("gold"),
                "batch_size": self.unslu.train.batch_size,
            }
        )

    def finished_cell(self, method: str, lr: float, seed: int) -> dict[str, Any] | None:
        """The stored result of a finished cell with the current settings, else ``None``."""
        path = self.cell_dir(method, lr, seed) / "result.json"
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return result if result.get("key") == self.cell_key(method, lr, seed) else None

    def run_cell(self, method: str, lr: float, seed: int) -> dict[str, Any] | None:
        """Run one (method, lr, seed) cell, or return its stored result."""
        done = self.finished_cell(method, lr, seed)
        if done is not None:
            return done
        directory = self.cell_dir(method, lr, seed)
        if self.is_global_zero and directory.exists():  # interrupted or stale: start clean
            for stale in directory.iterdir():
                if stale.is_file():
                    stale.unlink()
        hparams = {**(self.unslu.methods.get(method) or {}), "lr": lr}
        L.seed_everything(seed, verbose=False)
        self.dm.seed = seed
        model = copy.deepcopy(self.original).train()
        module = build_method(method, model, **hparams)
        self._say(f"{method} lr={lr:g} seed={seed}")
        seconds = fit_unlearning(module, self.dm, progress=self.progress, **self.cfg.trainer)
        if not self.is_global_zero:
            return None
        row = {
            "method": method,
            "lr": lr,
            "seed": seed,
            "hparams": hparams,
            "key": self.cell_key(method, lr, seed),
            "time_s": seconds,
            **self.evaluate(model),
        }
        orig, gold = self.references["original"], self.references["gold"]
        row["speedup"] = gold["time_s"] / seconds if seconds > 0 else float("inf")
        row.update(table_scores(row, orig, gold, self.dm.num_classes))
        row.update(validation_scores(row, orig, gold, self.dm.num_classes))
        if self.unslu.checkpoints != "none":
            save_classifier(
                directory / "model.pt",
                model,
                classes=self.dm.encoder.classes,
                label_key=self.cfg.label_key,
                meta={"key": row["key"], "seconds": seconds, "role": "method", "method": method},
            )
        atomic_write_text(directory / "result.json", json.dumps(row, indent=1) + "\n")
        return row

    # -- whole run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg = self.unslu
        self.prepare()
        if not self.split.valid:
            raise ValueError(
                "UnSLU-BENCH chooses learning rates on validation, but the split has no "
                "validation utterances: use a corpus with an official validation list "
                "(split.holdout: official) or set split.n_valid_speakers > 0"
            )
        if self.is_global_zero:
            atomic_write_text(self.run_dir / "unslu.yaml", yaml.safe_dump(dataclasses.asdict(cfg)))
            atomic_write_text(
                self.run_dir / "forget_speakers.txt", "\n".join(self.split.forget_speakers) + "\n"
            )
        self.original, meta_o = self.train_reference("original")
        self.original_key = meta_o["key"]
        self.gold, meta_g = self.train_reference("gold")
        if self.is_global_zero:
            self.references = self.reference_rows(meta_o["seconds"], meta_g["seconds"])
        cells = []
        for method in cfg.methods:
            for lr in cfg.lrs:
                for seed in cfg.seeds:
                    row = self.run_cell(method, lr, seed)
                    if row is not None:
                        cells.append(row)
        if not self.is_global_zero:
            return {}
        return self.write_table(cells)

    def write_table(self, cells: list[dict[str, Any]]) -> dict[str, Any]:
        cfg = self.unslu
        chosen = select_learning_rates(cells, criterion=cfg.selection)
        published = PUBLISHED.get(cfg.paper or "", {})
        methods, grid = {}, {}
        for method in cfg.methods:
            mine = [c for c in cells if c["method"] == method]
            lr = chosen[method]["lr"]
            selected = [c for c in mine if c["lr"] == lr]
            methods[method] = {
                "selected_lr": lr,
                "validation_score": chosen[method]["score"],
                "n_seeds": len(selected),
                **aggregate_cells(selected),
                "paper": published.get(method),
            }
            grid[method] = {
                f"{lr_:g}": aggregate_cells([c for c in mine if c["lr"] == lr_])["mean"]
                for lr_ in cfg.lrs
            }
        refs = {
            role: {
                **{k: v for k, v in self.references[role].items() if k != "key"},
                "paper": published.get(role),
            }
            for role in ("original", "gold")
        }
        table = {
            "tool": f"audio-unlearn {__version__}",
            "setting": cfg.name,
            "paper_setting": cfg.paper,
            "paper_source": "Koudounas et al., Interspeech 2025 (arXiv 2505.15700) and "
            f"UnSLU-BENCH+ (TASLP 2026): {PUBLISHED_SOURCE}; the README prints GUM only (the "
            "journal's CGUM is not published per row)",
            "primary_score": "cgum",
            "selection": {
                "criterion": f"valid_{cfg.selection}",
                "description": f"highest mean over seeds of {cfg.selection.upper()} computed "
                "with validation macro-F1 and the forget-vs-validation loss attack; ties: "
                "higher validation F1, then larger lr. Test metrics are not used.",
            },
            "lrs": cfg.lrs,
            "seeds": cfg.seeds,
            "forget_speakers": list(self.split.forget_speakers),
            "sizes": {
                k: len(getattr(self.split, k)) for k in ("forget", "retain", "valid", "test")
            },
            "num_classes": self.dm.num_classes,
            "mia_protocol": "loss attack, forget (member) vs test, balanced, logistic "
            "regression, 10 stratified shuffle-splits (10% test); 0.5 = no signal",
            "references": refs,
            "methods": methods,
            "grid": grid,
        }
        atomic_write_text(self.run_dir / "unslu_table.json", json.dumps(table, indent=1) + "\n")
        markdown = unslu_markdown(table)
        atomic_write_text(self.run_dir / "unslu_table.md", markdown)
        if cfg.checkpoints == "selected":
            for c in cells:
                if c["lr"] != chosen[c["method"]]["lr"]:
                    path = self.cell_dir(c["method"], c["lr"], c["seed"]) / "model.pt"
                    path.unlink(missing_ok=True)
        self._say(markdown)
        self._say(f"wrote {self.run_dir / 'unslu_table.md'} and unslu_table.json")
        return table


def run_unslu(cfg: UnSLUConfig, run_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Run one UnSLU-BENCH setting into ``run_dir``; return the table dictionary.

    Writes ``split.json`` and ``forget_speakers.txt``, ``checkpoints/{original,gold}.pt``,
    ``references.json``, ``cells/<method>/lr<lr>_seed<seed>/{result.json,model.pt}``,
    ``unslu_table.json`` and ``unslu_table.md``. Re-running skips finished work.
    """
    start = time.perf_counter()
    bench = UnSLUBenchmark(cfg, run_dir, progress=progress)
    table = bench.run()
    bench._say(f"total wall time {time.perf_counter() - start:.0f} s")
    return table
