"""Supervised training of the original model (train set) and the gold model (retain set)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SupervisedTraining"]


class SupervisedTraining(L.LightningModule):
    """Cross-entropy training with Adam and a one-cycle learning-rate schedule.

    "Gold" retraining is this module run on the retain set from a fresh initialisation.
    The defaults train to convergence with no weight decay, dropout or label smoothing,
    as the UnSLU-BENCH original models are trained: regularised, under-fit models show
    no membership signal for unlearning to remove.

    Args:
        model: a classifier mapping waveforms to logits.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: Adam weight decay.
    """

    def __init__(self, model: nn.Module, *, lr: float = 1e-3, weight_decay: float = 0.0):
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.save_hyperparameters(ignore=["model"])

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model(wav)

    def training_step(self, batch, batch_idx):
        wav, y = batch
        logits = self.model(wav)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(-1) == y).float().mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=y.numel())
        self.log("train/acc", acc, prog_bar=True, batch_size=y.numel())
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
