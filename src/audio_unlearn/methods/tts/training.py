"""Pre-training of the flow-matching TTS (the original on every training speaker; exact
unlearning = the same on the remain speakers only)."""

from __future__ import annotations

import math

import lightning as L
import torch

from ...models.tts.voicebox import FlowMatchingTTS

__all__ = ["FlowMatchingTraining", "warmup_cosine"]


def warmup_cosine(step: int, *, warmup: int, total: int, floor: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class FlowMatchingTraining(L.LightningModule):
    """Masked CFM training (VoiceBox): AdamW, warm-up + cosine learning rate, grad clipping.

    Batches are ``(mels, phones, lengths, index)`` (see :mod:`audio_unlearn.data.tts_data`).

    Args:
        model: the :class:`FlowMatchingTTS` to train.
        lr: peak learning rate.
        warmup_steps: linear warm-up steps.
        weight_decay: AdamW weight decay.
        grad_clip: gradient-norm clip (0 = none).
    """

    def __init__(
        self,
        model: FlowMatchingTTS,
        *,
        lr: float = 1e-3,
        warmup_steps: int = 200,
        weight_decay: float = 0.01,
        grad_clip: float = 1.0,
    ):
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.model = model
        self.lr = lr
        self.warmup_steps = warmup_steps
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.save_hyperparameters(ignore=["model"])

    def training_step(self, batch, batch_idx):
        mels, phones, lengths, _ = batch
        loss = self.model.flow_loss(mels, phones, lengths)
        self.log("train/cfm", loss, prog_bar=True, batch_size=int(lengths.numel()))
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
        total = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, warmup=self.warmup_steps, total=total)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
