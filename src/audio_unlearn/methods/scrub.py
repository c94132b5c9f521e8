"""SCRUB: a student that moves away from its teacher on forget and stays close on retain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import UnlearningModule, frozen_copy
from .registry import register_method

__all__ = ["SCRUB", "distill_kl"]


def distill_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0
) -> torch.Tensor:
    """Knowledge-distillation divergence ``KL(teacher || student)`` at temperature ``T``.

    ``T^2 * mean_i sum_c p_t(c|x_i) * (log p_t(c|x_i) - log p_s(c|x_i))`` with
    ``p = softmax(logits / T)``: the teacher distribution is the reference (first argument
    of the KL), as in SCRUB's ``d(x; w^u) = KL(p(f(x; w^o)) || p(f(x; w^u)))`` and the
    authors' ``DistillKL`` (``F.kl_div(log p_s, p_t)``, summed, divided by the batch
    size, times ``T^2``).

    Args:
        student_logits: ``(batch, classes)``.
        teacher_logits: ``(batch, classes)``.
        temperature: softmax temperature ``T``.

    Returns:
        Scalar divergence.
    """
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_s, p_t, reduction="batchmean") * temperature**2


@register_method("scrub")
class SCRUB(UnlearningModule):
    """SCRUB: alternating max-steps on forget and min-steps on retain.

    Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023). The student
    starts as the original model; the teacher is a frozen copy of it. With
    ``d(x) = KL(teacher(x) || student(x))`` at temperature ``T`` (:func:`distill_kl`),
    each epoch

    1. if ``epoch < msteps``: a max-step pass over the forget set, minimising ``-d(x_f)``
       (the student moves away from the teacher on forget data);
    2. a min-step pass over the retain set, minimising
       ``gamma * CE(student(x_r), y_r) + alpha * d(x_r)``.

    Defaults follow the authors' released configuration (``T = 4``, ``alpha = 0.001``,
    ``gamma = 0.99``, ``msteps = 2``); one epoch and AdamW as in UnSLU-BENCH. The two
    passes are separate (manual optimisation): the retain pass is the Lightning epoch;
    the forget pass runs first in ``on_train_epoch_start``, so it is timed with the rest.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate (both passes).
        epochs: number of epochs (each: optional max pass, then min pass).
        weight_decay: AdamW weight decay.
        temperature: distillation temperature ``T``.
        alpha: weight of the retain KL term in the min-step.
        gamma: weight of the retain cross-entropy in the min-step.
        msteps: the first ``msteps`` epochs include a max-step pass.

    Raises:
        ValueError: a non-positive temperature or negative weights / ``msteps``.
    """

    uses = ("retain",)

    def __init__(
        self,
        model,
        *,
        lr: float = 1e-4,
        epochs: int = 1,
        weight_decay: float = 0.0,
        temperature: float = 4.0,
        alpha: float = 0.001,
        gamma: float = 0.99,
        msteps: int = 2,
    ):
        if temperature <= 0:
            raise ValueError(f"scrub: temperature must be > 0, got {temperature}")
        for name, value in (("alpha", alpha), ("gamma", gamma), ("msteps", msteps)):
            if value < 0:
                raise ValueError(f"scrub: {name} must be >= 0, got {value}")
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.msteps = int(msteps)
        self.teacher = frozen_copy(model)
        self.automatic_optimization = False

    def _teacher_logits(self, wav: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.teacher(wav)

    def max_step(self, wav_f: torch.Tensor) -> torch.Tensor:
        """One optimiser step maximising ``d`` on a forget batch; returns ``d`` (detached)."""
        div = distill_kl(self.model(wav_f), self._teacher_logits(wav_f), self.temperature)
        self.manual_step(-div)
        return div.detach()

    def min_step(self, wav_r: torch.Tensor, y_r: torch.Tensor) -> torch.Tensor:
        """One optimiser step on ``gamma * CE + alpha * d`` over a retain batch."""
        logits = self.model(wav_r)
        loss = self.gamma * F.cross_entropy(logits, y_r) + self.alpha * distill_kl(
            logits, self._teacher_logits(wav_r), self.temperature
        )
        return self.manual_step(loss)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch >= self.msteps:
            return
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "loader"):
            raise ValueError(
                "scrub: the max-step pass reads the forget set from the datamodule; run it "
                "with fit_unlearning(method, datamodule) on an UnlearningDataModule"
            )
        for wav_f, _ in dm.loader("forget", shuffle=True):
            div = self.max_step(wav_f.to(self.device))
            self.log("unlearn/forget_kl", div, batch_size=wav_f.shape[0])

    def training_step(self, batch, batch_idx):
        wav_r, y_r = batch["retain"]
        loss = self.min_step(wav_r, y_r)
        self.log("unlearn/loss", loss, prog_bar=True, batch_size=y_r.numel())
        return loss
