"""SCRUB: a student that moves away from its teacher on forget and stays close on retain."""

from __future__ import annotations

import torch

from ..tasks.classification import distill_kl
from .base import UnlearningModule, frozen_copy
from .registry import register_method, register_preset

__all__ = ["SCRUB", "distill_kl"]


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

    On ASR, ``d`` is the position-level :func:`~audio_unlearn.tasks.asr.sequence_kl`
    (CTC frames, or Whisper's teacher-forced decoder positions, padding masked) and the
    retain loss the recogniser's per-sample loss; the ``asr_scrub`` preset's defaults are
    ``T = 1``, ``alpha = 0.5``, ``gamma = 1``, ``msteps = 1``. On the flow-matching TTS,
    ``d`` is the squared velocity difference on the same draws (the Gaussian steps' KL,
    :meth:`~audio_unlearn.tasks.tts.TTSTask.divergence`) and the retain loss the CFM loss;
    the ``tts_scrub`` preset takes the ASR weights with the TTS learning rate ``1e-4``.

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
    tasks = ("classification", "asr", "tts")

    def __init__(
        self,
        model,
        *,
        temperature: float = 4.0,
        alpha: float = 0.001,
        gamma: float = 0.99,
        msteps: int = 2,
        **shared,
    ):
        if temperature <= 0:
            raise ValueError(f"scrub: temperature must be > 0, got {temperature}")
        for name, value in (("alpha", alpha), ("gamma", gamma), ("msteps", msteps)):
            if value < 0:
                raise ValueError(f"scrub: {name} must be >= 0, got {value}")
        super().__init__(model, **shared)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.msteps = int(msteps)
        self.teacher = frozen_copy(model)
        self.automatic_optimization = False

    def _teacher_outputs(self, batch, student):
        with torch.no_grad():
            return self.task.outputs(self.teacher, batch, like=student)

    def divergence(self, batch) -> torch.Tensor:
        """``d(x)`` on one batch of the task: ``KL(teacher || student)`` at ``T``."""
        student = self.task.outputs(self.model, batch)
        teacher = self._teacher_outputs(batch, student)
        return self.task.divergence(student, teacher, batch, self.temperature)

    def max_step(self, batch) -> torch.Tensor:
        """One optimiser step maximising ``d`` on a forget batch; returns ``d`` (detached)."""
        div = self.divergence(batch)
        self.manual_step(-div)
        return div.detach()

    def min_step(self, batch) -> torch.Tensor:
        """One optimiser step on ``gamma * loss + alpha * d`` over a retain batch."""
        student = self.task.outputs(self.model, batch)
        loss = self.gamma * self.task.loss_from_outputs(self.model, student, batch)
        if self.alpha > 0:
            teacher = self._teacher_outputs(batch, student)
            loss = loss + self.alpha * self.task.divergence(
                student, teacher, batch, self.temperature
            )
        return self.manual_step(loss)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch >= self.msteps:
            return
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "loader"):
            raise ValueError(
                f"{self.method_name}: the max-step pass reads the forget set from the "
                "datamodule; run it with fit_unlearning(method, datamodule)"
            )
        for batch in dm.loader("forget", shuffle=True):
            batch = self.task.to_device(batch, self.device)
            div = self.max_step(batch)
            self.log("unlearn/forget_kl", div, batch_size=self.task.batch_size(batch))

    def training_step(self, batch, batch_idx):
        retain = batch["retain"]
        loss = self.min_step(retain)
        self.log("unlearn/loss", loss, prog_bar=True, batch_size=self.task.batch_size(retain))
        return loss


register_preset(
    "asr_scrub",
    "scrub",
    task="asr",
    defaults={"temperature": 1.0, "alpha": 0.5, "gamma": 1.0, "msteps": 1},
)
register_preset(
    "tts_scrub",
    "scrub",
    task="tts",
    defaults={"temperature": 1.0, "alpha": 0.5, "gamma": 1.0, "msteps": 1, "lr": 1e-4},
)
