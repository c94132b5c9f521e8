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
_FSC_W2V2_ROWS = {  # (test F1, MIA, speed-up vs gold, GUM)
    "ft": (0.993, 0.504, 7.96, 0.517),
    "ng": (0.987, 0.501, 206.9, 0.816),
    "ngplus": (0.994, 0.493, 4.03, 0.000),
    "cfk": (0.994, 0.501, 16.97, 0.606),
    "unsir": (0.991, 0.506, 6.55, 0.447),
    "bt": (0.993, 0.508, 4.78, 0.000),
    "btl": (0.994, 0.506, 5.87, 0.431),
    "scrub": (0.994, 0.506, 6.21, 0.439),
}

#: Published UnSLU-BENCH values (README tables of koudounasalkis/UnSLU-BENCH, best-GUM rows),
#: keyed by setting (a recipe's ``paper:``), then by model ("original", "gold", or a
#: method), then by metric (``test_f1``, ``mia``, ``speedup``, ``gum``). FSC wav2vec2-base
#: is published row by row; for the other settings the README gives the best GUM (and the
#: speed-up of that method where stated). The paper reports speed-ups, not times.
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "fsc_wav2vec2_base": {
        "original": {"mia": 0.508},
        "gold": {"test_f1": 0.993, "mia": 0.503},
        **{
            m: {"test_f1": f1, "mia": mia, "speedup": sp, "gum": g}
            for m, (f1, mia, sp, g) in _FSC_W2V2_ROWS.items()
        },
    },
    "fsc_hubert_base": {"cfk": {"gum": 0.642, "speedup": 27.0}},
    "slurp_star_wav2vec2_base": {
        "ng": {"gum": 0.563, "speedup": 1748.0},
        "ngplus": {"gum": 0.446},
        "scrub": {"gum": 0.429},
    },
    "slurp_star_hubert_base": {"ng": {"gum": 0.587, "speedup": 1654.0}},
    "italic_xls_r_300m": {"ng": {"gum": 0.646}},
    "italic_xlsr53_it": {"ng": {"gum": 0.766}},
    "speech_massive_de_xls_r_300m": {"ng": {"gum": 0.797}},
    "speech_massive_de_xlsr53_de": {"ng": {"gum": 0.643}},
    "speech_massive_fr_xls_r_300m": {"ng": {"gum": 0.749}},
    "speech_massive_fr_xlsr53_fr": {"ng": {"gum": 0.501}},
}


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
    """Original / gold training of UnSLU-BENCH (FSC values; SLURP* 30 000 steps;
    ITALIC and Speech-MASSIVE 15 000 steps at 1e-4).

    Attributes:
        max_steps: optimiser steps (each ``accumulate_grad_batches`` batches).
        batch_size: utterances per batch (also the unlearning batch size).
        accumulate_grad_batches: batches per optimiser step.
        lr: peak AdamW learning rate.
        warmup_ratio: share of the steps with linear warm-up (then linear decay to 0).
        weight_decay: AdamW weight decay (Hugging Face Trainer default: 0).
        gradient_clip_val: gradient-norm clipping (Hugging Face Trainer default: 1.0).
    """

    max_steps: int = 2800
    batch_size: int = 8
    accumulate_grad_batches: int = 4
    lr: float = 5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    gradient_clip_val: float | None = 1.0

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
        ):
            value = getattr(self, name)
            if value is None and name == "gradient_clip_val":
                continue
            try:
                setattr(self, name, kind(float(value)) if kind is int else kind(value))
            except (TypeError, ValueError):
                raise ValueError(f"train.{name} must be a number, got {value!r}") from None
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
        paper: key of :data:`PUBLISHED` whose values go beside ours (``None``: none).
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
            ``gum`` or ``cgum`` (mean over seeds, on the validation set).
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
    selection: str = "gum"
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
