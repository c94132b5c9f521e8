"""The ASR task: batches ``(wavs, wav_lengths, targets, target_lengths)``
(:mod:`audio_unlearn.data.asr_data`) and a recogniser with per-sample losses.

The model is :class:`audio_unlearn.models.asr.CTCRecognizer` or a transformers wrapper of
:mod:`audio_unlearn.models.asr_hf` (``*ForCTC``, Whisper): ``model.loss(wavs, wav_lengths,
targets, target_lengths) -> (batch,)`` per-sample losses (per character for CTC, per token
for Whisper's teacher-forced cross-entropy) and ``model.sequence_outputs(...) ->
(log_probs, lengths)`` (a plain CTC model: ``model(wavs, wav_lengths)``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..models.asr import per_sample_ctc_loss
from .base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "NONFINITE",
    "ASRTask",
    "finite_mean",
    "loss_from_outputs",
    "reset_nonfinite",
    "sequence_kl",
    "sequence_outputs",
]


def sequence_outputs(
    model: torch.nn.Module, batch: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-position output distributions of ``model`` on an ASR batch.

    ``model.sequence_outputs(wavs, wav_lengths, targets, target_lengths)`` when the model
    has it (the library's recogniser and the transformers wrappers of
    :mod:`audio_unlearn.models.asr_hf`: CTC frames, or Whisper's teacher-forced decoder
    positions), else ``model(wavs, wav_lengths)`` (a CTC model).

    Returns:
        ``(log_probs (batch, positions, vocab), lengths (batch,))``.
    """
    wavs, wav_lengths, targets, target_lengths = batch[:4]
    if hasattr(model, "sequence_outputs"):
        return model.sequence_outputs(wavs, wav_lengths, targets, target_lengths)
    return model(wavs, wav_lengths)


def loss_from_outputs(
    model: torch.nn.Module,
    outputs: tuple[torch.Tensor, torch.Tensor],
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
) -> torch.Tensor:
    """Per-sample losses ``(batch,)`` of :func:`sequence_outputs`' outputs.

    ``model.loss_from_outputs`` when the model has it, else the per-character CTC loss
    with blank 0.
    """
    log_probs, lengths = outputs
    if hasattr(model, "loss_from_outputs"):
        return model.loss_from_outputs(log_probs, lengths, targets, target_lengths)
    return per_sample_ctc_loss(log_probs, lengths, targets, target_lengths)


#: per-item losses left out because they were not finite, and batches in which none was,
#: counted since the process started (or :func:`reset_nonfinite`); the ASR report records
#: them. ``policy``: "skip" (leave them out, counted and logged) or "error".
NONFINITE: dict[str, Any] = {"items": 0, "batches_without_finite": 0, "policy": "skip"}


def reset_nonfinite(policy: str = "skip") -> None:
    """Zero the :data:`NONFINITE` counts and set the policy ("skip" or "error")."""
    if policy not in ("skip", "error"):
        raise ValueError(f"the non-finite loss policy must be 'skip' or 'error', got {policy!r}")
    NONFINITE.update(items=0, batches_without_finite=0, policy=policy)


def finite_mean(losses: torch.Tensor) -> torch.Tensor:
    """Mean of the finite entries of ``losses`` ``(batch,)``.

    A CTC loss is infinite when an utterance has fewer frames than its transcript needs;
    such utterances carry no gradient signal and are left out, counted in
    :data:`NONFINITE` and logged (the first time, then at every power of two); a batch
    with no finite loss gives a zero without gradient (counted as such: nothing can be
    learnt from it). With the "error" policy a non-finite loss raises instead.

    Raises:
        FloatingPointError: a non-finite loss under the "error" policy.
    """
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return losses.mean()
    bad = int((~finite).sum())
    if NONFINITE["policy"] == "error":
        raise FloatingPointError(
            f"{bad} of {losses.numel()} per-utterance losses are not finite (a transcript "
            "longer than its audio allows, or a diverged model); set the policy to 'skip' "
            "to leave them out"
        )
    NONFINITE["items"] += bad
    count = NONFINITE["items"]
    if count == bad or (count & (count - 1)) == 0:
        logger.warning(
            "%d per-utterance loss(es) not finite so far, left out of the mean (a transcript "
            "longer than its audio allows, or a diverged model)",
            count,
        )
    if not bool(finite.any()):
        NONFINITE["batches_without_finite"] += 1
        return losses.new_zeros(())  # no gradient through infinite CTC losses
    return losses[finite].mean()


def sequence_kl(
    student_log_probs: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    frame_lengths: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Position-level distillation divergence ``KL(teacher || student)``, masked by lengths.

    Positions are CTC frames, or a Whisper decoder's label positions under teacher
    forcing (:func:`sequence_outputs`).

    The sequence-level counterpart of SCRUB's ``DistillKL`` (Kurmanji et al., NeurIPS
    2023): at every valid frame ``t`` of utterance ``i``,
    ``KL_t = sum_v p_t(v) (log p_t(v) - log p_s(v))`` with ``p = softmax(log p / T)``;
    the result is ``T^2`` times the mean of ``KL_t`` over all valid frames of the batch
    (padding frames excluded), i.e. a per-frame average like the per-sample average of
    the classification form.

    Args:
        student_log_probs: ``(batch, frames, vocab)`` log-probabilities (or logits).
        teacher_log_probs: ``(batch, frames, vocab)`` of the frozen teacher.
        frame_lengths: ``(batch,)`` valid frames per utterance.
        temperature: softmax temperature ``T > 0``.

    Returns:
        Scalar divergence (0 when no frame is valid).
    """
    if student_log_probs.shape != teacher_log_probs.shape:
        raise ValueError(
            f"student and teacher outputs differ in shape: {tuple(student_log_probs.shape)} "
            f"vs {tuple(teacher_log_probs.shape)}"
        )
    log_s = F.log_softmax(student_log_probs / temperature, dim=-1)
    log_t = F.log_softmax(teacher_log_probs / temperature, dim=-1)
    per_frame = (log_t.exp() * (log_t - log_s)).sum(-1)  # (B, T)
    frames = torch.arange(per_frame.shape[1], device=per_frame.device)
    mask = (frames[None, :] < frame_lengths.to(per_frame.device)[:, None]).to(per_frame.dtype)
    n = mask.sum().clamp(min=1.0)
    return (per_frame * mask).sum() / n * temperature**2


class ASRTask(Task):
    """Speech recognition: the recogniser's per-sample sequence loss, mean over the finite
    ones (:func:`finite_mean`); outputs are per-position log-probabilities."""

    name: ClassVar[str] = "asr"

    def outputs(self, model: nn.Module, batch, like=None) -> tuple[torch.Tensor, torch.Tensor]:
        return sequence_outputs(model, batch)

    def loss_from_outputs(self, model: nn.Module, outputs, batch) -> torch.Tensor:
        return finite_mean(loss_from_outputs(model, outputs, batch[2], batch[3]))

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        return finite_mean(self.per_sample_loss(model, batch))

    def per_sample_loss(self, model: nn.Module, batch) -> torch.Tensor:
        wavs, wav_lengths, targets, target_lengths = batch[:4]
        return model.loss(wavs, wav_lengths, targets, target_lengths)

    def random_label_loss(self, model: nn.Module, forget, pool, generator) -> torch.Tensor:
        """Each forget utterance trained towards the transcript of a random ``pool``
        utterance whose transcript differs from its own (any pool transcript when none
        differs): random wrong labels for a recogniser."""
        wavs, wav_lengths, targets, target_lengths = forget[:4]
        p_targets, p_lengths = pool[2].to(targets.device), pool[3].to(targets.device)
        width = max(targets.shape[1], p_targets.shape[1])
        mine = nn.functional.pad(targets, (0, width - targets.shape[1]))
        theirs = nn.functional.pad(p_targets, (0, width - p_targets.shape[1]))
        differs = (mine[:, None] != theirs[None]).any(-1) | (
            target_lengths[:, None] != p_lengths[None]
        )
        weights = torch.where(differs.any(1, keepdim=True), differs, torch.ones_like(differs))
        pick = torch.multinomial(weights.float().cpu(), 1, generator=generator)[:, 0]
        pick = pick.to(targets.device)
        new_lengths = p_lengths[pick]
        new_targets = theirs[pick][:, : int(new_lengths.max())]
        return self.loss(model, (wavs, wav_lengths, new_targets, new_lengths))

    def divergence(self, student, teacher, batch, temperature: float = 1.0) -> torch.Tensor:
        return sequence_kl(student[0], teacher[0], student[1], temperature)

    def batch_size(self, batch) -> int:
        return int(batch[1].numel())

    def concat(self, a, b) -> tuple[torch.Tensor, ...]:
        """Waveforms and transcripts of both batches, zero-padded to the longer of each."""
        wavs = _pad_cat(a[0], b[0])
        targets = _pad_cat(a[2], b[2])
        return wavs, torch.cat([a[1], b[1]]), targets, torch.cat([a[3], b[3]])

    def output_rows(self, outputs) -> torch.Tensor:
        return outputs[0]

    def with_rows(self, outputs, rows: torch.Tensor):
        log_probs = outputs[0].clone()
        n, positions = rows.shape[0], min(rows.shape[1], log_probs.shape[1])
        log_probs[:n, :positions] = rows[:, :positions]
        return log_probs, outputs[1]


def _pad_cat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` and ``b`` ``(batch, length)`` stacked, the shorter zero-padded on the right."""
    length = max(a.shape[1], b.shape[1])
    a = F.pad(a, (0, length - a.shape[1]))
    b = F.pad(b, (0, length - b.shape[1]))
    return torch.cat([a, b])
