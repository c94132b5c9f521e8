"""Baselines of speaker-identity forgetting for zero-shot TTS (Kim et al., ICML 2025, §5):
KL, sample-guided unlearning (SGU) and exact retraining, on the flow-matching TTS. Its
fine-tuning and negative-gradient baselines are the task-generic FT and NG run on the TTS
task (presets ``tts_ft``, ``tts_ng``)."""

from __future__ import annotations

import torch

from ..base import frozen_copy
from ..registry import register_method
from .base import TTSUnlearningModule, concat_rows

__all__ = ["TTSKL", "SampleGuidedUnlearning"]


@register_method("tts_kl")
class TTSKL(TTSUnlearningModule):
    """KL baseline (TOFU's "KL minimisation", Maini et al. 2024, as the TGU paper's KL row):
    gradient ascent on the forget CFM loss while keeping the model's output distribution
    on remain data close to the original's. For a flow model with Gaussian paths the KL
    between the two models' conditional distributions over a step is proportional to the
    squared difference of their velocities, so the remain term is
    ``|| m * (v_student - v_original) ||^2`` on the same noisy input, time and mask::

        L = -L_forget + kl_weight * E_remain || m * (v_s - v_o) ||^2

    Args:
        kl_weight: weight of the remain divergence.
        (others as :class:`~audio_unlearn.methods.tts.base.TTSUnlearningModule`.)
    """

    uses = ("forget", "retain")

    def __init__(self, model, *, kl_weight: float = 1.0, **shared):
        super().__init__(model, **shared)
        self.kl_weight = kl_weight
        self.original = frozen_copy(model)

    def remain_divergence(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        from ...models.tts.flow import cfm_path, masked_mse
        from ...models.tts.voicebox import lengths_mask

        mels, phones, lengths = batch[:3]
        m = self.model
        infill = m.random_infill_mask(lengths) & lengths_mask(lengths, mels.shape[1])
        x1 = m.normalise(mels)
        x0 = torch.randn_like(x1)
        t = torch.rand(mels.shape[0], device=mels.device)
        x_t = cfm_path(x0, x1, t, m.config.sigma_min)
        v_s = m.vector_field(x_t, t, x1, infill, phones, lengths)
        with torch.no_grad():
            v_o = self.original.vector_field(x_t, t, x1, infill, phones, lengths)
        return masked_mse(v_s, v_o, infill)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return -self.cfm(batch["forget"]) + self.kl_weight * self.remain_divergence(batch["retain"])


@register_method("tts_sgu")
class SampleGuidedUnlearning(TTSUnlearningModule):
    """Sample-Guided Unlearning (SGU), the TGU paper's own baseline: a forget utterance and
    a remain utterance are concatenated; the forget one is the audio context and the
    model learns to infill the remain span with the *remain* speaker's real frames, i.e.
    to answer the forget voice with a specific other voice (a fixed substitute, which the
    paper argues can be traced back; TGU replaces it with random teacher voices)::

        L = remain_weight * L_remain + (1 - remain_weight) * L_sgu

    Args:
        remain_weight: weight of the standard remain CFM loss.
        (others as :class:`~audio_unlearn.methods.tts.base.TTSUnlearningModule`.)
    """

    uses = ("forget", "retain")

    def __init__(self, model, *, remain_weight: float = 0.2, **shared):
        super().__init__(model, **shared)
        if not 0 <= remain_weight <= 1:
            raise ValueError(f"remain_weight must be in [0, 1], got {remain_weight}")
        self.remain_weight = remain_weight

    def sgu_loss(self, forget, retain) -> torch.Tensor:
        mels, phones, lengths, span = concat_rows(forget, retain)
        return self.model.flow_loss(mels, phones, lengths, infill=span, drop_conditions=False)

    def unlearning_loss(self, batch) -> torch.Tensor:
        ls = self.sgu_loss(batch["forget"], batch["retain"])
        lr = self.cfm(batch["retain"])
        return self.remain_weight * lr + (1 - self.remain_weight) * ls
