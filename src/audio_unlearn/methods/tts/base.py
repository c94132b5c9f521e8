"""The base of TTS unlearning methods: flow-matching batches, warm-up, forget/remain mixing."""

from __future__ import annotations

import torch

from ...tasks.tts import concat_rows
from ..base import UnlearningModule
from ..training import warmup_cosine

__all__ = ["TTSUnlearningModule", "concat_rows"]


class TTSUnlearningModule(UnlearningModule):
    """Base of speaker-forgetting methods for :class:`~audio_unlearn.models.tts.FlowMatchingTTS`.

    Batches: ``batch["forget"]`` / ``batch["retain"]`` are ``(mels, phones, lengths,
    index)`` (see :mod:`audio_unlearn.data.tts_data`); "retain" is the paper's remain set R.
    The optimiser is Adam(W) with a linear warm-up of ``warmup_steps`` then a cosine decay
    (the TGU paper: Adam, lr 1e-4, warm-up).

    Args:
        model: the trained TTS model (modified in place).
        lr: peak learning rate.
        epochs: passes over the longest set in :attr:`uses`.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
    """

    tasks = ("tts",)
    gradient_clip_val = 1.0

    def __init__(self, model, *, warmup_steps: int = 0, **shared):
        super().__init__(model, **shared)
        self.warmup_steps = warmup_steps

    def forward(self, *args, **kwargs):
        return self.model.vector_field(*args, **kwargs)

    def cfm(self, batch: tuple[torch.Tensor, ...], **kwargs) -> torch.Tensor:
        """The masked CFM loss of :meth:`FlowMatchingTTS.flow_loss` on a batch."""
        mels, phones, lengths = batch[:3]
        return self.model.flow_loss(mels, phones, lengths, **kwargs)

    @staticmethod
    def _batch_size(batch) -> int:
        return sum(int(b[2].numel()) for b in batch.values() if b is not None)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = self.warmup_steps
        if warmup <= 0:
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, warmup=warmup, total=total, floor=1.0)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
