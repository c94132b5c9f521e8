"""Retrain: the gold standard as a method (fresh initialisation, trained on retain only)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .base import UnlearningModule, reinitialise_
from .registry import register_method, register_preset
from .training import optimizer_and_schedule, reference_recipe

__all__ = ["Retrain"]


@register_method("retrain")
class Retrain(UnlearningModule):
    """Retrain from scratch on the retain set: exact unlearning, the reference every
    approximate method is compared with.

    In ``on_train_start`` (counted as unlearning time) every parameter is re-drawn from
    its layer's initialiser (:func:`reinitialise_`, seeded by ``seed``), so nothing of the
    trained model survives; then training on the retain set with the task's loss and the
    task's reference-training recipe (:data:`~audio_unlearn.methods.training.RECIPES`:
    classifiers Adam + one-cycle; recognisers AdamW + one-cycle, gradient norm clipped at
    5; the flow-matching TTS AdamW + warm-up and cosine decay, clipped at 1), with this
    method's learning rate, weight decay, epochs and warm-up. The model never sees the
    forget set. On TTS it is the TGU paper's point: a retrained zero-shot model still
    clones the forget voices (preset ``tts_retrain``).

    Args:
        model: the trained model (re-initialised and retrained in place).
        seed: seed of the re-initialisation.
        warmup_steps: warm-up steps of a warm-up schedule (0: the recipe's).
        (``lr``: peak learning rate; ``epochs``: passes over the retain set;
        ``weight_decay``; as :class:`UnlearningModule`.)
    """

    uses = ("retain",)
    tasks = ("classification", "asr", "tts")
    shared_defaults: ClassVar[dict[str, object]] = {"lr": 1e-3, "epochs": 20}

    def __init__(self, model, *, seed: int = 0, warmup_steps: int = 0, **shared):
        super().__init__(model, **shared)
        self.seed = seed
        self.warmup_steps = warmup_steps

    @property
    def recipe(self) -> dict[str, Any]:
        """The task's reference recipe with this method's settings."""
        recipe = reference_recipe(self.task.name)
        recipe.update(lr=self.lr, weight_decay=self.weight_decay)
        if self.warmup_steps > 0:
            recipe["warmup_steps"] = self.warmup_steps
        return recipe

    @property
    def gradient_clip_val(self) -> float | None:  # the recipe's clip
        return self.recipe["grad_clip"] or None

    def on_train_start(self) -> None:
        reinitialise_(self.model, seed=self.seed)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.task_loss(batch["retain"])

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = int(self.trainer.estimated_stepping_batches)
        return optimizer_and_schedule(params, self.recipe, total)


# the TGU paper's exact-unlearning baseline on the TTS model
register_preset(
    "tts_retrain",
    "retrain",
    task="tts",
    defaults={"lr": 1e-3, "epochs": 20, "weight_decay": 0.01, "warmup_steps": 200},
)
