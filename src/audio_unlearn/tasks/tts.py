"""The TTS task: batches ``(mels, phones, lengths, index)`` (:mod:`audio_unlearn.data.tts_data`)
and :class:`audio_unlearn.models.tts.FlowMatchingTTS`; loss: the masked conditional
flow-matching loss (:meth:`FlowMatchingTTS.flow_loss`).

Output distribution (for distillation methods: SCRUB, the bad teacher): at one flow step
the model's distribution over the next state is a Gaussian around its predicted velocity,
so the KL between two models' steps is proportional to the squared difference of their
velocities on the same noisy input, time and mask (the TGU paper's KL baseline reads it so,
:class:`~audio_unlearn.methods.tts.baselines.TTSKL`). :meth:`TTSTask.outputs` therefore
returns the velocity together with the draws it was made at, and a teacher scored
``like=`` a student's outputs reuses the student's draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..models.tts.flow import masked_mse
from ..models.tts.voicebox import FlowDraws
from .base import Task

__all__ = ["FlowOutputs", "TTSTask", "concat_rows"]


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


@dataclass(frozen=True)
class FlowOutputs:
    """A flow model's predicted velocity ``(batch, frames, n_mels)`` at ``draws``."""

    velocity: torch.Tensor
    draws: FlowDraws


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

    def outputs(self, model: nn.Module, batch, like: FlowOutputs | None = None) -> FlowOutputs:
        """The velocity at fresh draws (training-time condition dropout in train mode, as
        the loss), or at the draws of ``like``'s first items."""
        if like is not None:
            draws = like.draws.head(self.batch_size(batch))
        else:
            mels, phones, lengths = batch[:3]
            draws = model.flow_draws(mels, phones, lengths)
        return FlowOutputs(model.draws_field(draws), draws)

    def loss_from_outputs(self, model: nn.Module, outputs: FlowOutputs, batch) -> torch.Tensor:
        d = outputs.draws
        return masked_mse(outputs.velocity, d.target, d.infill)

    def divergence(self, student, teacher, batch, temperature: float = 1.0) -> torch.Tensor:
        """``T * ||m * (v_student - v_teacher)||^2`` (masked mean over the student's infill
        frames): the KL of two Gaussian steps of variance ``T`` scaled by ``T^2``, up to the
        factor 1/2 that puts it on the CFM loss's scale."""
        return temperature * masked_mse(
            student.velocity, teacher.velocity.detach(), student.draws.infill
        )

    def concat(self, a, b) -> tuple[torch.Tensor, ...]:
        """Items of ``a`` then of ``b``, padded to the longer frame count."""
        frames = max(a[0].shape[1], b[0].shape[1])

        def pad(x: torch.Tensor) -> torch.Tensor:
            extra = frames - x.shape[1]
            return nn.functional.pad(x, (0, 0, 0, extra) if x.dim() == 3 else (0, extra))

        joined = [torch.cat([pad(a[0]), pad(b[0])]), torch.cat([pad(a[1]), pad(b[1])])]
        joined += [torch.cat([x, y]) for x, y in zip(a[2:], b[2:], strict=True)]
        return tuple(joined)

    def output_rows(self, outputs: FlowOutputs) -> torch.Tensor:
        return outputs.velocity

    def with_rows(self, outputs: FlowOutputs, rows: torch.Tensor) -> FlowOutputs:
        velocity = outputs.velocity.clone()
        velocity[: rows.shape[0], : rows.shape[1]] = rows
        return FlowOutputs(velocity, outputs.draws)

    def random_label_loss(self, model: nn.Module, forget, pool, generator) -> torch.Tensor:
        """Forget items answered with another speaker's speech: each forget utterance is the
        audio context of a row whose infilled span is a random ``pool`` utterance (its text
        and its speaker's real frames), the CFM loss on that span. The TTS reading of
        SalUn's random labels (a wrong output for the forget input), the objective of the
        TGU paper's SGU baseline (:class:`~audio_unlearn.methods.tts.SampleGuidedUnlearning`)."""
        pick = torch.randint(int(pool[2].numel()), (self.batch_size(forget),), generator=generator)
        other = tuple(t[pick.to(t.device)] for t in pool[:3])
        mels, phones, lengths, span = concat_rows(forget, other)
        return model.flow_loss(mels, phones, lengths, infill=span, drop_conditions=False)

    def batch_size(self, batch) -> int:
        return int(batch[2].numel())
