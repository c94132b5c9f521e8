"""l1-sparse: fine-tuning on the retain set with an L1 penalty that decays to zero."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import UnlearningModule
from .registry import register_method

__all__ = ["L1Sparse", "l1_weight"]


def l1_weight(epoch: int, epochs: int, alpha: float, no_l1_epochs: int = 0) -> float:
    """The L1 coefficient of epoch ``epoch`` (0-based): a linear decay to zero.

    As in the reference code of Jia et al. (NeurIPS 2023):
    ``alpha_t = alpha * (1 - t / (epochs - no_l1_epochs))`` for
    ``t < epochs - no_l1_epochs`` and 0 for the last ``no_l1_epochs`` epochs.
    """
    l1_epochs = epochs - no_l1_epochs
    if epoch >= l1_epochs:
        return 0.0
    return alpha * (1.0 - epoch / l1_epochs)


@register_method("l1sparse")
class L1Sparse(UnlearningModule):
    """l1-sparse: the task's loss on retain plus a decaying L1 norm of the weights.

    Jia, Liu, Ram, Yao, Liu, Liu, Sharma and Liu, "Model Sparsity Can Simplify Machine
    Unlearning" (NeurIPS 2023), sparsity-aware unlearning: fine-tune on the retain set
    with ``CE(model(x_r), y_r) + alpha_t * ||theta||_1``, where ``||theta||_1`` sums the
    absolute values of every trainable parameter and ``alpha_t`` decays linearly per
    epoch to 0 (:func:`l1_weight`; ``no_l1_epochs`` final epochs run without it). The
    paper uses SGD; this uses AdamW like the other methods here.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        alpha: initial L1 coefficient (the paper's gamma; 5e-4 in its code).
        no_l1_epochs: final epochs without the penalty, in ``[0, epochs)``.

    Raises:
        ValueError: ``alpha`` negative or ``no_l1_epochs`` outside ``[0, epochs)``.
    """

    uses = ("retain",)
    tasks = ("classification", "asr", "tts")
    shared_defaults: ClassVar[dict[str, object]] = {"epochs": 5}

    def __init__(self, model, *, alpha: float = 5e-4, no_l1_epochs: int = 0, **shared):
        if alpha < 0:
            raise ValueError(f"l1sparse: alpha (L1 coefficient) must be >= 0, got {alpha}")
        super().__init__(model, **shared)
        if not 0 <= no_l1_epochs < self.epochs:
            raise ValueError(
                f"l1sparse: no_l1_epochs must lie in [0, epochs={self.epochs}), got {no_l1_epochs}"
            )
        self.alpha = alpha
        self.no_l1_epochs = no_l1_epochs

    def current_l1_weight(self) -> float:
        return l1_weight(self.current_epoch, self.epochs, self.alpha, self.no_l1_epochs)

    def unlearning_loss(self, batch) -> torch.Tensor:
        loss = self.task_loss(batch["retain"])
        weight = self.current_l1_weight()
        if weight > 0:
            l1 = sum(p.abs().sum() for p in self.model.parameters() if p.requires_grad)
            loss = loss + weight * l1
        return loss
