"""The base of TTS unlearning methods: flow-matching batches, warm-up, forget/remain mixing."""

from __future__ import annotations

import torch

from ..base import UnlearningModule
from ..training import warmup_cosine

__all__ = ["TTSUnlearningModule", "concat_rows"]


def concat_rows(
    first: tuple[torch.Tensor, ...], second: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row-wise concatenation of two TTS batches: row ``i`` is ``first[i]`` followed by
    ``second[i % len(second)]`` (valid frames only).

    Returns:
        ``(mels, phones, lengths, second_span)``: ``second_span`` ``(batch, frames)`` bool
        marks the frames that came from ``second``.
    """
    m1, p1, l1 = first[:3]
    m2, p2, l2 = second[:3]
    n = m1.shape[0]
    pick = torch.arange(n) % m2.shape[0]
    lengths = l1 + l2[pick]
    frames = int(lengths.max())
    mels = m1.new_zeros(n, frames, m1.shape[2])
    phones = p1.new_zeros(n, frames)
    span = torch.zeros(n, frames, dtype=torch.bool, device=m1.device)
    for row in range(n):
        a, b = int(l1[row]), int(l2[pick[row]])
        mels[row, :a] = m1[row, :a]
        phones[row, :a] = p1[row, :a]
        mels[row, a : a + b] = m2[pick[row], :b]
        phones[row, a : a + b] = p2[pick[row], :b]
        span[row, a : a + b] = True
    return mels, phones, lengths, span


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
