"""Training of the original recogniser (train set) and the retrained one (retain set)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from ...tasks.asr import finite_mean

__all__ = ["CTCTraining"]


class CTCTraining(L.LightningModule):
    """Mean per-sample loss, AdamW, one-cycle learning rate, gradient clipping.

    The loss is the model's own ``loss``: per-character CTC for the library's recogniser
    and the transformers CTC wrapper, teacher-forced token cross-entropy for the Whisper
    wrapper (:mod:`audio_unlearn.models.asr_hf`); for a pretrained transformers model
    this is fine-tuning from its checkpoint. The ASR counterpart of
    :class:`~audio_unlearn.methods.training.SupervisedTraining`: "gold" retraining is this
    module run on the retain set from a fresh initialisation (or from the same pretrained
    checkpoint).
    Batches are ``(wavs, wav_lengths, targets, target_lengths)``.

    Args:
        model: a recogniser with ``loss(wavs, wav_lengths, targets, target_lengths)``.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        grad_clip: gradient-norm clip applied before each step (0 = none).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        grad_clip: float = 5.0,
    ):
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.save_hyperparameters(ignore=["model"])

    def forward(self, wavs: torch.Tensor, wav_lengths: torch.Tensor):
        return self.model(wavs, wav_lengths)

    def training_step(self, batch, batch_idx):
        loss = finite_mean(self.model.loss(*batch))
        self.log("train/ctc", loss, prog_bar=True, batch_size=int(batch[1].numel()))
        return loss

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ):
        if self.grad_clip > 0:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm"
            )

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
