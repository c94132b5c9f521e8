"""Fine-tuning (FT) on the retain set."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import UnlearningModule
from .registry import register_method


@register_method("ft")
class FineTune(UnlearningModule):
    """FT: continue training on the retain set only, relying on catastrophic forgetting.

    The standard baseline of the unlearning literature (e.g. Golatkar et al., "Eternal
    Sunshine of the Spotless Net", CVPR 2020); UnSLU-BENCH runs it for one epoch with
    AdamW. Loss: ``CE(model(x_r), y_r)``.
    """

    uses = ("retain",)

    def __init__(self, model, *, lr: float = 1e-3, epochs: int = 1, weight_decay: float = 0.0):
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)

    def unlearning_loss(self, batch) -> torch.Tensor:
        wav, y = batch["retain"]
        return F.cross_entropy(self.model(wav), y)
