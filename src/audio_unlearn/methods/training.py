"""Training of a task's reference models: the original (train set) and the gold /
retrained model (retain set, from a fresh initialisation or the same pretrained weights).

One LightningModule, :class:`ReferenceTraining`, trains every task with the task's own
training loss (:meth:`audio_unlearn.tasks.Task.loss`): one optimiser, one per-step
learning-rate schedule and optional gradient clipping. The named recipes are its
subclasses with their defaults (:attr:`ReferenceTraining.recipe`):

- :class:`SupervisedTraining`: classifiers, Adam, one-cycle schedule;
- :class:`CTCTraining`: recognisers (CTC, or Whisper's teacher-forced cross-entropy),
  AdamW, one-cycle, gradient norm clipped at 5;
- :class:`FlowMatchingTraining`: the flow-matching TTS, AdamW, warm-up + cosine, clip 1;
- :class:`UnSLUTraining`: UnSLU-BENCH's classifiers: AdamW with weight decay, linear
  warm-up, then a plateau scheduler and early stopping on the validation loss, the best
  validated weights kept (the benchmark's README; unstated values follow the Hugging Face
  Trainer and PyTorch defaults).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn

from ..tasks import Task, get_task

__all__ = [
    "RECIPES",
    "CTCTraining",
    "FlowMatchingTraining",
    "ReferenceTraining",
    "SupervisedTraining",
    "UnSLUTraining",
    "WarmupHold",
    "optimizer_and_schedule",
    "reference_recipe",
    "warmup_cosine",
    "warmup_linear",
]

SCHEDULES = ("one_cycle", "warmup_cosine", "warmup_linear", "warmup_plateau")


def warmup_cosine(step: int, *, warmup: int, total: int, floor: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_linear(step: int, *, warmup: int, total: int) -> float:
    """Learning-rate factor at optimiser step ``step`` (0-based): linear warm-up from 0,
    then linear decay to 0 at ``total`` (the Hugging Face Trainer's schedule)."""
    if warmup > 0 and step < warmup:
        return step / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


class WarmupHold(torch.optim.lr_scheduler.LRScheduler):
    """Linear warm-up from 0 to the base learning rate over ``warmup`` optimiser steps,
    then the rate is left as it is, so a :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau`
    stepped on validation can lower it (the two compose)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup: int):
        self.warmup = int(warmup)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch < self.warmup:
            return [base * self.last_epoch / self.warmup for base in self.base_lrs]
        if self.last_epoch == self.warmup:
            return list(self.base_lrs)
        return [group["lr"] for group in self.optimizer.param_groups]


class ReferenceTraining(L.LightningModule):
    """Train ``model`` with its task's loss, as :attr:`recipe` and the arguments say.

    Args:
        model: the model to train (modified in place).
        task: the task (:mod:`audio_unlearn.tasks`) whose batches and loss are used.
        lr: peak learning rate.
        weight_decay: weight decay of the optimiser.
        optimizer: "adam" or "adamw".
        schedule: "one_cycle" (:class:`torch.optim.lr_scheduler.OneCycleLR`),
            "warmup_cosine" (:func:`warmup_cosine`), "warmup_linear"
            (:func:`warmup_linear`) or "warmup_plateau" (:class:`WarmupHold`; the plateau
            part is :class:`UnSLUTraining`'s); every one steps per optimiser step.
        warmup_steps: warm-up steps of the warm-up schedules.
        warmup_ratio: instead of ``warmup_steps``: that fraction of all steps (rounded up).
        grad_clip: gradient-norm clip before each step (0 = the trainer's setting).

    Raises:
        ValueError: a non-positive ``lr``, an unknown optimiser or schedule, or a
            ``warmup_ratio`` outside [0, 1).
    """

    #: defaults of a named recipe (a subclass), over :data:`_DEFAULTS`
    recipe: ClassVar[dict[str, Any]] = {}
    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "task": "classification",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "optimizer": "adam",
        "schedule": "one_cycle",
        "warmup_steps": 0,
        "warmup_ratio": 0.0,
        "grad_clip": 0.0,
    }

    def __init__(self, model: nn.Module, **settings: Any):
        super().__init__()
        unknown = sorted(set(settings) - set(self._DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown setting(s) {unknown}")
        s = {**self._DEFAULTS, **self.recipe, **settings}
        name = type(self).__name__
        if not s["lr"] > 0:
            raise ValueError(f"lr must be > 0, got {s['lr']}")
        if s["optimizer"] not in ("adam", "adamw"):
            raise ValueError(f"{name}: optimizer must be 'adam' or 'adamw', not {s['optimizer']!r}")
        if s["schedule"] not in SCHEDULES:
            raise ValueError(f"{name}: schedule must be one of {SCHEDULES}, not {s['schedule']!r}")
        if not 0 <= s["warmup_ratio"] < 1:
            raise ValueError(f"{name}: warmup_ratio must be in [0, 1), got {s['warmup_ratio']}")
        self.model = model
        self.task: Task = get_task(s.pop("task"))
        s["lr"], s["weight_decay"] = float(s["lr"]), float(s["weight_decay"])
        self.settings = s
        self.lr, self.weight_decay = s["lr"], s["weight_decay"]
        self.save_hyperparameters({"task": self.task.name, **s})

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def training_step(self, batch, batch_idx):
        loss = self.task.loss(self.model, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=self.task.batch_size(batch))
        return loss

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ):
        clip = self.settings["grad_clip"]
        if clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        else:  # the trainer's gradient_clip_val, if any
            super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = int(self.trainer.estimated_stepping_batches)
        return optimizer_and_schedule(params, self.settings, total)


def optimizer_and_schedule(params, settings: dict[str, Any], total: int) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer for ``settings`` (a recipe's optimiser,
    learning rate, weight decay, schedule and warm-up) over ``total`` optimiser steps."""
    s = settings
    make = torch.optim.Adam if s["optimizer"] == "adam" else torch.optim.AdamW
    opt = make(params, lr=s["lr"], weight_decay=s["weight_decay"])
    if s["schedule"] == "one_cycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s["lr"], total_steps=total)
    elif s["schedule"] == "warmup_plateau":
        sched = WarmupHold(opt, s["warmup_steps"] or math.ceil(s["warmup_ratio"] * total))
    else:
        warmup = s["warmup_steps"] or math.ceil(s["warmup_ratio"] * total)
        factor = warmup_cosine if s["schedule"] == "warmup_cosine" else warmup_linear
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: factor(step, warmup=warmup, total=total)
        )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def reference_recipe(task: str) -> dict[str, Any]:
    """The settings of ``task``'s reference training (:data:`RECIPES`), defaults filled."""
    return {**ReferenceTraining._DEFAULTS, **RECIPES[task].recipe}


class SupervisedTraining(ReferenceTraining):
    """Cross-entropy training of a classifier with Adam and a one-cycle schedule.

    The defaults train to convergence with no weight decay, dropout or label smoothing,
    as the UnSLU-BENCH original models are trained: regularised, under-fit models show
    no membership signal for unlearning to remove.
    """


class CTCTraining(ReferenceTraining):
    """A recogniser's own mean per-sample loss (per-character CTC; teacher-forced token
    cross-entropy for the Whisper wrapper), AdamW, one-cycle, gradient norm clipped at 5;
    for a pretrained transformers model this is fine-tuning from its checkpoint. Batches
    are ``(wavs, wav_lengths, targets, target_lengths)``."""

    recipe: ClassVar[dict[str, Any]] = {
        "task": "asr",
        "lr": 3e-3,
        "optimizer": "adamw",
        "grad_clip": 5.0,
    }


class FlowMatchingTraining(ReferenceTraining):
    """Masked conditional flow-matching training of the TTS model (VoiceBox): AdamW,
    warm-up + cosine learning rate, gradient norm clipped at 1. Batches are
    ``(mels, phones, lengths, index)`` (:mod:`audio_unlearn.data.tts_data`)."""

    recipe: ClassVar[dict[str, Any]] = {
        "task": "tts",
        "weight_decay": 0.01,
        "optimizer": "adamw",
        "schedule": "warmup_cosine",
        "warmup_steps": 200,
        "grad_clip": 1.0,
    }


class UnSLUTraining(ReferenceTraining):
    """UnSLU-BENCH's fine-tuning of the original and gold classifiers, as its README states
    it: AdamW *with weight decay*, a linear warm-up over ``warmup_ratio`` of the steps (10%),
    a *plateau* scheduler and *early stopping* on validation, per-data-set steps, learning
    rate and gradient accumulation (the runner's). The README gives no values for the weight
    decay, the plateau or the early stopping; the defaults are the conventions of the tools
    it names (``recipes/unslu/README.md`` lists them as our choices):

    - weight decay 0.01 (``torch.optim.AdamW``'s default; the Hugging Face Trainer's is 0,
      which is no weight decay at all);
    - plateau: ``ReduceLROnPlateau`` on the validation loss with PyTorch's (and the
      Trainer's ``reduce_lr_on_plateau``) defaults, factor 0.1 and patience 10 evaluations,
      stepped once warm-up is over;
    - early stopping: the Trainer's ``EarlyStoppingCallback`` defaults, patience 1
      evaluation without improvement (threshold 0) of the validation loss (the Trainer's
      default ``metric_for_best_model``), with the best weights restored at the end
      (``load_best_model_at_end``); the runner evaluates every ``eval_steps`` optimiser
      steps (the Trainer's default interval: 500).

    Validation batches come from the data module's ``val_dataloader`` (the runner sets
    its ``validation`` set; none: no plateau and no early stopping). :attr:`evaluations`
    records ``(step, validation loss)``; :attr:`best` the best of them.
    """

    recipe: ClassVar[dict[str, Any]] = {
        "lr": 5e-4,
        "optimizer": "adamw",
        "schedule": "warmup_plateau",
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    }

    def __init__(
        self, model: nn.Module, *, plateau_factor: float = 0.1, plateau_patience: int = 10, **s
    ):
        super().__init__(model, **s)
        if not 0 < plateau_factor < 1 or plateau_patience < 0:
            raise ValueError(
                "plateau_factor must be in (0, 1) and plateau_patience >= 0, got "
                f"{plateau_factor}, {plateau_patience}"
            )
        self.plateau_factor, self.plateau_patience = float(plateau_factor), int(plateau_patience)
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self.evaluations: list[tuple[int, float]] = []
        self.best: tuple[int, float] | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    def configure_optimizers(self):
        conf = super().configure_optimizers()
        if self.settings["schedule"] == "warmup_plateau":
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                conf["optimizer"],
                mode="min",
                factor=self.plateau_factor,
                patience=self.plateau_patience,
            )
            self._warmup = conf["lr_scheduler"]["scheduler"].warmup
        return conf

    def validation_step(self, batch, batch_idx):
        loss = self.task.loss(self.model, batch)
        # averaged over DDP ranks: every rank takes the same plateau and stopping decisions
        self.log(
            "val_loss", loss, on_epoch=True, batch_size=self.task.batch_size(batch), sync_dist=True
        )

    def on_validation_epoch_end(self) -> None:
        value = self.trainer.callback_metrics.get("val_loss")
        if value is None or self.trainer.sanity_checking:
            return
        loss, step = float(value), int(self.global_step)
        self.evaluations.append((step, loss))
        if self.best is None or loss < self.best[1]:
            self.best = (step, loss)
            self._best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
        if self.plateau is not None and step >= self._warmup:
            self.plateau.step(loss)

    def on_fit_end(self) -> None:
        """Keep the best validated weights (the Trainer's ``load_best_model_at_end``)."""
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            self._best_state = None

    def facts(self) -> dict[str, Any]:
        """What validation decided: evaluations, the best step and loss, the final rate."""
        if not self.evaluations:
            return {}
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self._trainer else None
        return {
            "evaluations": [{"step": s, "val_loss": v} for s, v in self.evaluations],
            "best_step": self.best[0],
            "best_val_loss": self.best[1],
            "final_lr": lr,
        }


#: the reference-training recipe of each task (what trains its original and gold models)
RECIPES: dict[str, type[ReferenceTraining]] = {
    "classification": SupervisedTraining,
    "asr": CTCTraining,
    "tts": FlowMatchingTraining,
}
