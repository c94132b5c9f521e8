"""UnSLU-BENCH settings: its methods, learning-rate grid and metrics, the published values,
and the benchmark config (``protocol: unslu-bench`` recipes, ``recipes/unslu/``) with its
loader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiment import (
    CorpusConfig,
    SplitConfig,
)
from ..methods.registry import check_methods
from ..run.config import load_task_config

#: The eight methods of UnSLU-BENCH, by registry name.
UNSLU_METHODS: tuple[str, ...] = ("ft", "ng", "ngplus", "cfk", "unsir", "bt", "btl", "scrub")
#: The paper's learning-rate grid (every method, one epoch).
UNSLU_LRS: tuple[float, ...] = (1e-4, 5e-5, 1e-5, 5e-6, 1e-6, 5e-7)
#: Metrics averaged over seeds in the table.
METRICS: tuple[str, ...] = (
    "test_acc",
    "test_f1",
    "forget_acc",
    "forget_f1",
    "retain_acc",
    "retain_f1",
    "valid_f1",
    "mia",
    "mia_valid",
    "time_s",
    "speedup",
    "gum",
    "cgum",
    "valid_gum",
    "valid_cgum",
)
_CHECKPOINT_POLICIES = ("all", "selected", "none")
_CRITERIA = ("gum", "cgum")

# -- published values -------------------------------------------------------------------
#: The README commit of koudounasalkis/UnSLU-BENCH the published table was read from (the
#: journal version, UnSLU-BENCH+; earlier versions print SLURP*'s numbers as ITALIC's).
PUBLISHED_SOURCE = (
    "koudounasalkis/UnSLU-BENCH README.md, commit cf1ad18289edc40fb45c21a5ad7ebba0155a0baf, "
    "'1. Comparison of unlearning methods', tables A-E"
)
#: The published table as data (``recipes/unslu/published.csv`` is this file): every row of
#: every results table, one per (setting, model) with ``method`` ``original`` / ``gold`` /
#: a registry name and ``table_method`` as printed; values as printed (0-1 scale).
PUBLISHED_FILE = Path(__file__).with_name("unslu_published.csv")
_PUBLISHED_METRICS = ("test_f1", "test_acc", "forget_f1", "forget_acc", "mia", "gum", "speedup")


def read_published(path: str | Path = PUBLISHED_FILE) -> dict[str, dict[str, dict[str, Any]]]:
    """Setting (a recipe's ``paper:``) -> model (``original``, ``gold`` or a method) ->
    metric (``test_f1``, ``test_acc``, ``forget_f1``, ``forget_acc``, ``mia``, ``gum``,
    ``speedup``, plus ``dataset``, ``model`` and ``table_method`` as printed)."""
    import csv

    table: dict[str, dict[str, dict[str, Any]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            values: dict[str, Any] = {k: float(row[k]) for k in _PUBLISHED_METRICS}
            values.update(
                dataset=row["dataset"], model=row["model"], table_method=row["table_method"]
            )
            table.setdefault(row["setting"], {})[row["method"]] = values
    return table


#: :func:`read_published` of :data:`PUBLISHED_FILE`. The paper reports speed-ups, not times.
PUBLISHED: dict[str, dict[str, dict[str, Any]]] = read_published()


#: Original / gold training per data set as the benchmark's README states it (read again
#: 2026-12-02; ``../shared/anchors/unslu-bench.md``): optimiser steps, learning rate,
#: gradient accumulation, batch size and warm-up share. Every data set also uses AdamW with
#: weight decay, a plateau scheduler and early stopping (values: :class:`UnSLUTrainConfig`).
BENCHMARK_TRAINING: dict[str, dict[str, float]] = {
    "fsc": {"max_steps": 2800, "lr": 5e-4, "accumulate_grad_batches": 4},
    "slurp_star": {"max_steps": 30000, "lr": 5e-4, "accumulate_grad_batches": 4},
    "italic": {"max_steps": 15000, "lr": 1e-4, "accumulate_grad_batches": 1},
    "speech_massive": {"max_steps": 15000, "lr": 1e-4, "accumulate_grad_batches": 1},
}
for _values in BENCHMARK_TRAINING.values():
    _values.update(batch_size=8, warmup_ratio=0.1)


# -- configuration ----------------------------------------------------------------------
@dataclass
class UnSLUSplitConfig(SplitConfig):
    """The UnSLU-BENCH speaker split: the corpus's official lists, 2.5% forget fraction,
    eligibility > 100 training utterances, seed 42 (0 for SLURP*)."""

    holdout: str = "official"
    fraction: float | None = 0.025
    n_speakers: int | None = None
    min_utterances: int = 101
    seed: int = 42


@dataclass
class UnSLUTrainConfig:
    """Original / gold training of UnSLU-BENCH, as its README states it: 10% warm-up,
    AdamW with weight decay, a plateau scheduler and early stopping on validation; FSC
    2 800 steps at 5e-4 accumulating 4 batches; SLURP* 30 000 steps, the same otherwise;
    ITALIC and Speech-MASSIVE 15 000 steps at 1e-4 accumulating 1 (:data:`BENCHMARK_TRAINING`).
    The values the README does not give (weight decay, plateau, early stopping, evaluation
    interval) follow PyTorch's and the Hugging Face Trainer's defaults (see
    :class:`~audio_unlearn.methods.training.UnSLUTraining`).

    Attributes:
        max_steps: optimiser steps (each ``accumulate_grad_batches`` batches), at most.
        batch_size: utterances per batch (also the unlearning batch size).
        accumulate_grad_batches: batches per optimiser step.
        lr: peak AdamW learning rate.
        warmup_ratio: share of the steps with linear warm-up.
        weight_decay: AdamW weight decay (``torch.optim.AdamW``'s default, 0.01).
        gradient_clip_val: gradient-norm clipping (Hugging Face Trainer default: 1.0).
        eval_steps: optimiser steps between validation passes (the Trainer's default 500).
        plateau_factor: learning-rate factor when the validation loss stops improving.
        plateau_patience: evaluations without improvement before the rate is lowered.
        early_stopping_patience: evaluations without improvement before training stops
            (the Trainer's ``EarlyStoppingCallback`` default 1); None = never stop early.
            The best validated weights are kept either way.
    """

    max_steps: int = 2800
    batch_size: int = 8
    accumulate_grad_batches: int = 4
    lr: float = 5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    gradient_clip_val: float | None = 1.0
    eval_steps: int = 500
    plateau_factor: float = 0.1
    plateau_patience: int = 10
    early_stopping_patience: int | None = 1

    def __post_init__(self):
        # YAML 1.1 reads 5e-4 (no dot) as text: convert, naming the key on failure
        for name, kind in (
            ("max_steps", int),
            ("batch_size", int),
            ("accumulate_grad_batches", int),
            ("lr", float),
            ("warmup_ratio", float),
            ("weight_decay", float),
            ("gradient_clip_val", float),
            ("eval_steps", int),
            ("plateau_factor", float),
            ("plateau_patience", int),
            ("early_stopping_patience", int),
        ):
            value = getattr(self, name)
            if value is None and name in ("gradient_clip_val", "early_stopping_patience"):
                continue
            try:
                setattr(self, name, kind(float(value)) if kind is int else kind(value))
            except (TypeError, ValueError):
                raise ValueError(f"train.{name} must be a number, got {value!r}") from None
        if self.eval_steps < 1 or not 0 < self.plateau_factor < 1:
            raise ValueError(
                "train.eval_steps must be >= 1 and train.plateau_factor in (0, 1), got "
                f"{self.eval_steps}, {self.plateau_factor}"
            )
        if self.plateau_patience < 0 or (self.early_stopping_patience or 0) < 0:
            raise ValueError(
                "train.plateau_patience and train.early_stopping_patience must be >= 0"
            )
        if self.max_steps < 1 or self.batch_size < 1 or self.accumulate_grad_batches < 1:
            raise ValueError(
                "train.max_steps, train.batch_size and train.accumulate_grad_batches must be "
                f">= 1, got {self.max_steps}, {self.batch_size}, {self.accumulate_grad_batches}"
            )


@dataclass
class UnSLUConfig:
    """One UnSLU-BENCH setting (dataset x model). YAML files hold overrides only.

    Attributes:
        name: setting name (titles the table).
        paper: key of :data:`PUBLISHED` (a setting of the published table) whose rows go
            beside ours (``None``: none).
        seed: seed of the original / gold training.
        label_key: the utterance label to classify (``intent``).
        max_seconds: audio padded / truncated to this length (UnSLU-BENCH: 10 s).
        corpus: where the corpus comes from (see :class:`~audio_unlearn.experiment.CorpusConfig`).
        split: the forget split.
        model: classifier registry name and settings, e.g. ``{name: hf, pretrained: ...}``.
        train: original / gold training recipe.
        methods: method name -> hyper-parameter overrides (``lr`` comes from ``lrs``).
        lrs: learning-rate grid of every method.
        seeds: unlearning seeds (each cell is run once per seed).
        selection: validation criterion choosing each method's learning rate:
            ``cgum`` (default; the journal version's score) or ``gum`` (mean over seeds,
            on the validation set).
        eval_batch_size: batch size of evaluation passes.
        checkpoints: cell checkpoints to keep: ``all``, ``selected`` (those of the chosen
            learning rates, others deleted once the table is written) or ``none``.
        trainer: Lightning ``Trainer`` arguments (``--trainer`` presets fill this).
        task, protocol: ``classification`` / ``unslu-bench``: a classification recipe run
            with the benchmark's protocol (``audio-unlearn run`` picks this runner).
    """

    task: str = "classification"
    protocol: str = "unslu-bench"
    name: str = "unslu"
    paper: str | None = None
    seed: int = 0
    label_key: str = "intent"
    max_seconds: float = 10.0
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    split: UnSLUSplitConfig = field(default_factory=UnSLUSplitConfig)
    model: dict[str, Any] = field(
        default_factory=lambda: {"name": "hf", "pretrained": "facebook/wav2vec2-base"}
    )
    train: UnSLUTrainConfig = field(default_factory=UnSLUTrainConfig)
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {m: {} for m in UNSLU_METHODS}
    )
    lrs: list[float] = field(default_factory=lambda: list(UNSLU_LRS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    selection: str = "cgum"
    eval_batch_size: int = 32
    checkpoints: str = "all"
    trainer: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.lrs = [float(lr) for lr in self.lrs]
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs must be a non-empty list of positive rates, got {self.lrs}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.selection not in _CRITERIA:
            raise ValueError(f"selection must be one of {_CRITERIA}, got {self.selection!r}")
        if self.checkpoints not in _CHECKPOINT_POLICIES:
            raise ValueError(
                f"checkpoints must be one of {_CHECKPOINT_POLICIES}, got {self.checkpoints!r}"
            )
        if self.paper is not None and self.paper not in PUBLISHED:
            raise ValueError(
                f"paper: {self.paper!r} has no published values; known: {sorted(PUBLISHED)}"
            )
        if not self.methods:
            raise ValueError("methods is empty; name at least one method")
        for name, hparams in self.methods.items():
            if hparams and "lr" in hparams:
                raise ValueError(
                    f"methods.{name}.lr: the learning rate comes from `lrs` (the sweep); "
                    "remove it or set lrs"
                )
        self.methods = check_methods(self.methods, "classification")


def load_unslu_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    trainer_preset: str | Path | None = None,
) -> UnSLUConfig:
    """Build an :class:`UnSLUConfig` from defaults, a recipe YAML and ``key=value`` overrides.

    ``trainer_preset`` (e.g. ``configs/trainer/gpu.yaml``) fills ``trainer``; the recipe's
    own ``trainer:`` keys win.

    Raises:
        FileNotFoundError: the recipe or the preset does not exist.
        ValueError: an unknown key or an invalid value.
    """
    return load_task_config(
        UnSLUConfig,
        path,
        overrides,
        task="classification",
        protocol="unslu-bench",
        recipes="recipes/unslu/",
        trainer_preset=trainer_preset,
    )
