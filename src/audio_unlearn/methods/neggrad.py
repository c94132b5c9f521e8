"""Negative gradient (NG): gradient ascent on the forget set."""

from __future__ import annotations

import torch

from .base import UnlearningModule
from .registry import register_method, register_preset


@register_method("ng")
class NegGrad(UnlearningModule):
    """NG: maximise the cross-entropy of the forget set, with gradient-norm clipping.

    Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020; as run in
    UnSLU-BENCH (Koudounas et al., Interspeech 2025): one epoch over the forget set,
    AdamW, gradient norm clipped to 1.0. Loss: minus the task's loss on forget batches
    (``-CE(model(x_f), y_f)``; for ASR ``-mean CTC(forget)``, which is unbounded above, so
    NG can wreck a recogniser: keep ``epochs`` / ``lr`` small and watch retain WER).
    """

    uses = ("forget",)
    tasks = ("classification", "asr", "tts")
    gradient_clip_val = 1.0

    def unlearning_loss(self, batch) -> torch.Tensor:
        return -self.task_loss(batch["forget"])


register_preset("asr_ng", "ng", task="asr")
# the TGU paper's negative-gradient baseline: ascent on the forget speakers' CFM loss
register_preset("tts_ng", "ng", task="tts")
