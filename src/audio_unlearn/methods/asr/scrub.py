"""SCRUB for speech recognisers, with a frame-level (sequence) KL divergence."""

from __future__ import annotations

import torch

from ..base import frozen_copy
from ..registry import register_method
from .base import ASRUnlearningModule, finite_mean, loss_from_outputs, sequence_kl, sequence_outputs

__all__ = ["ASRSCRUB"]


@register_method("asr_scrub")
class ASRSCRUB(ASRUnlearningModule):
    """SCRUB for ASR: max-steps away from the teacher on forget, min-steps on retain.

    Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023), with the
    divergence ``d`` of the classification form replaced by :func:`~.base.sequence_kl`:
    ``KL(teacher || student)`` of the per-position output distributions at temperature
    ``T``, averaged over valid positions (padding masked by the lengths). Positions are
    CTC frames, or for Whisper the decoder's label positions under teacher forcing
    (:func:`~.base.sequence_outputs`). Each epoch:

    1. if ``epoch < msteps``: one pass over the forget set minimising ``-d(x_f)``;
    2. one pass over the retain set minimising ``gamma * L(x_r) + alpha * d(x_r)``, with
       ``L`` the model's per-sample loss (CTC per character, Whisper token
       cross-entropy).

    The teacher is a frozen copy of the original model. Manual optimisation; the forget
    pass runs in ``on_train_epoch_start`` so it is timed with the rest.

    Args:
        model: the trained recogniser (modified in place).
        lr: AdamW learning rate (both passes).
        epochs: epochs (each: optional max pass, then min pass).
        weight_decay: AdamW weight decay.
        temperature: distillation temperature ``T``.
        alpha: weight of the retain KL term.
        gamma: weight of the retain recognition loss.
        msteps: the first ``msteps`` epochs include a max pass.

    Raises:
        ValueError: a non-positive temperature, or negative weights / ``msteps``.
    """

    uses = ("retain",)

    def __init__(
        self,
        model,
        *,
        lr: float = 1e-4,
        epochs: int = 1,
        weight_decay: float = 0.0,
        temperature: float = 1.0,
        alpha: float = 0.5,
        gamma: float = 1.0,
        msteps: int = 1,
    ):
        if temperature <= 0:
            raise ValueError(f"asr_scrub: temperature must be > 0, got {temperature}")
        for name, value in (("alpha", alpha), ("gamma", gamma), ("msteps", msteps)):
            if value < 0:
                raise ValueError(f"asr_scrub: {name} must be >= 0, got {value}")
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.msteps = int(msteps)
        self.teacher = frozen_copy(model)
        self.automatic_optimization = False

    def divergence(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``d(x)`` of an ASR batch: sequence KL from the teacher to the student."""
        student, lengths = sequence_outputs(self.model, batch)
        with torch.no_grad():
            teacher, _ = sequence_outputs(self.teacher, batch)
        return sequence_kl(student, teacher, lengths, self.temperature)

    def max_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """One optimiser step maximising ``d`` on a forget batch; returns ``d`` (detached)."""
        opt = self.optimizers()
        div = self.divergence(batch)
        opt.zero_grad()
        self.manual_backward(-div)
        opt.step()
        return div.detach()

    def min_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """One optimiser step on ``gamma * loss + alpha * d`` over a retain batch."""
        _, _, targets, target_lengths = batch
        opt = self.optimizers()
        student, lengths = sequence_outputs(self.model, batch)
        task_loss = finite_mean(
            loss_from_outputs(self.model, (student, lengths), targets, target_lengths)
        )
        loss = self.gamma * task_loss
        if self.alpha > 0:
            with torch.no_grad():
                teacher, _ = sequence_outputs(self.teacher, batch)
            loss = loss + self.alpha * sequence_kl(student, teacher, lengths, self.temperature)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        return loss.detach()

    def on_train_epoch_start(self) -> None:
        if self.current_epoch >= self.msteps:
            return
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "loader"):
            raise ValueError(
                "asr_scrub: the max-step pass reads the forget set from the datamodule; run "
                "it with fit_unlearning(method, datamodule) on an ASRDataModule"
            )
        for batch in dm.loader("forget", shuffle=True):
            batch = tuple(t.to(self.device) for t in batch)
            div = self.max_step(batch)
            self.log("unlearn/forget_kl", div, batch_size=int(batch[1].numel()))

    def training_step(self, batch, batch_idx):
        retain = batch["retain"]
        loss = self.min_step(retain)
        self.log("unlearn/loss", loss, prog_bar=True, batch_size=int(retain[1].numel()))
        return loss
