"""The base LightningModule every unlearning method derives from."""

from __future__ import annotations

import copy
from typing import ClassVar

import lightning as L
import torch
from torch import nn

__all__ = ["UnlearningModule", "frozen_copy"]


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with gradients off (a teacher)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class UnlearningModule(L.LightningModule):
    """Base class of unlearning methods.

    A method receives, per training step, ``batch[name] = (waveforms, targets)`` for each
    set it names in :attr:`uses` ("forget", "retain"), assembled by Lightning's
    ``CombinedLoader`` in :attr:`combine_mode`. Subclasses implement
    :meth:`unlearning_loss` (automatic optimisation) or override ``training_step`` with
    ``self.automatic_optimization = False`` when they alternate phases.

    Args:
        model: the trained model to unlearn (modified in place).
        lr: learning rate.
        epochs: passes over the longest set in :attr:`uses`.
        weight_decay: AdamW weight decay.
    """

    method_name: ClassVar[str] = ""
    uses: ClassVar[tuple[str, ...]] = ("forget", "retain")
    combine_mode: ClassVar[str] = "max_size_cycle"
    gradient_clip_val: ClassVar[float | None] = None

    def __init__(
        self, model: nn.Module, *, lr: float = 1e-4, epochs: int = 1, weight_decay: float = 0.0
    ):
        super().__init__()
        self.model = model
        self.lr = lr
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.save_hyperparameters(ignore=["model"])

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model(wav)

    def unlearning_loss(self, batch: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        loss = self.unlearning_loss(batch)
        self.log("unlearn/loss", loss, prog_bar=True, batch_size=self._batch_size(batch))
        return loss

    @staticmethod
    def _batch_size(batch) -> int:
        return sum(int(b[1].numel()) for b in batch.values() if b is not None)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
