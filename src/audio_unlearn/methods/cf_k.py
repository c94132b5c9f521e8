"""Catastrophic forgetting of the last k layers (CF-k)."""

from __future__ import annotations

import torch

from .base import UnlearningModule, layer_groups
from .registry import register_method, register_preset

__all__ = ["CatastrophicForgettingK"]


@register_method("cfk")
class CatastrophicForgettingK(UnlearningModule):
    """CF-k: freeze all but the last ``k`` layer groups and fine-tune them on retain.

    Goel et al., "Towards Adversarial Evaluation of Machine Unlearning" (2022): only the
    last k layers continue training on the retain set, so the forget data's influence is
    removed there by catastrophic forgetting. Layers come from :func:`layer_groups`
    (input to output); ``k=1`` trains only the classifier. As in UnSLU-BENCH: one epoch,
    AdamW, loss: the task's loss on retain (``CE(model(x_r), y_r)``; for ASR the mean
    per-sample CTC / token loss, over the recogniser's groups: convolutions, blocks, GRUs,
    output layer).

    The frozen groups are really frozen: only the last k groups are in the optimiser, the
    others get no gradients and stay in eval mode, so their normalisation statistics do not
    move either. Parameters outside every layer group (if a model has any) are frozen too.
    Gradient flags and train/eval modes are restored when training ends.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        k: number of trailing layer groups to train (``1 <= k <= len(layer_groups)``).

    Raises:
        ValueError: ``k`` out of range for the model.
    """

    uses = ("retain",)
    tasks = ("classification", "asr", "tts")

    def __init__(self, model, *, k: int = 1, **shared):
        groups = layer_groups(model)
        if not 1 <= k <= len(groups):
            raise ValueError(
                f"cfk: k={k} is out of range; the model has {len(groups)} layer groups, "
                f"so choose k between 1 and {len(groups)}"
            )
        super().__init__(model, **shared)
        self.k = k
        self._saved_requires_grad: dict[str, bool] = {}

    def trainable_groups(self) -> list[torch.nn.Module]:
        """The layer groups this method trains (the last ``k``)."""
        return layer_groups(self.model)[-self.k :]

    def _trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for g in self.trainable_groups() for p in g.parameters()]

    def _frozen_groups(self) -> list[torch.nn.Module]:
        return layer_groups(self.model)[: -self.k]

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self._trainable_parameters(), lr=self.lr, weight_decay=self.weight_decay
        )

    def on_train_start(self) -> None:
        self._saved_requires_grad = {n: p.requires_grad for n, p in self.model.named_parameters()}
        trainable = {id(p) for p in self._trainable_parameters()}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in trainable)

    def on_train_epoch_start(self) -> None:
        for group in self._frozen_groups():
            group.eval()

    def on_train_end(self) -> None:
        for name, p in self.model.named_parameters():
            p.requires_grad_(self._saved_requires_grad.get(name, True))
        for group in self._frozen_groups():
            group.train(self.model.training)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.task_loss(batch["retain"])


register_preset("asr_cfk", "cfk", task="asr", defaults={"lr": 3e-4, "k": 2})
