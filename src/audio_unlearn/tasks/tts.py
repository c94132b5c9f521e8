"""The TTS task: batches ``(mels, phones, lengths, index)`` (:mod:`audio_unlearn.data.tts_data`)
and :class:`audio_unlearn.models.tts.FlowMatchingTTS`; loss: the masked conditional
flow-matching loss (:meth:`FlowMatchingTTS.flow_loss`)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .base import Task

__all__ = ["TTSTask"]


class TTSTask(Task):
    """Zero-shot, audio-prompted TTS (flow matching): the CFM loss of a random infill span,
    frame-weighted over the batch; per item, its own frames' mean."""

    name: ClassVar[str] = "tts"
    gradient_clip_val: ClassVar[float | None] = 1.0

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        mels, phones, lengths = batch[:3]
        return model.flow_loss(mels, phones, lengths)

    def per_sample_loss(self, model: nn.Module, batch) -> torch.Tensor:
        mels, phones, lengths = batch[:3]
        return model.flow_loss(mels, phones, lengths, per_sample=True)

    def batch_size(self, batch) -> int:
        return int(batch[2].numel())
