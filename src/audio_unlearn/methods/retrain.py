"""Retrain: the gold standard as a method (fresh initialisation, trained on retain only)."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import UnlearningModule, reinitialise_
from .registry import register_method

__all__ = ["Retrain"]


@register_method("retrain")
class Retrain(UnlearningModule):
    """Retrain from scratch on the retain set: exact unlearning, the reference every
    approximate method is compared with.

    In ``on_train_start`` (counted as unlearning time) every parameter is re-drawn from
    its layer's initialiser (:func:`reinitialise_`, seeded by ``seed``), so nothing of the
    trained model survives; then training on the retain set with the task's loss with Adam and a
    one-cycle learning-rate schedule stepped per batch, the recipe of
    :class:`~audio_unlearn.methods.training.SupervisedTraining` that trains the original
    and gold models. The model never sees the forget set.

    Args:
        model: the trained model (re-initialised and retrained in place).
        lr: peak learning rate of the one-cycle schedule.
        epochs: passes over the retain set.
        weight_decay: Adam weight decay.
        seed: seed of the re-initialisation.
    """

    uses = ("retain",)
    tasks = ("classification", "asr")
    shared_defaults: ClassVar[dict[str, object]] = {"lr": 1e-3, "epochs": 20}

    def __init__(self, model, *, seed: int = 0, **shared):
        super().__init__(model, **shared)
        self.seed = seed

    def on_train_start(self) -> None:
        reinitialise_(self.model, seed=self.seed)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.task_loss(batch["retain"])

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
