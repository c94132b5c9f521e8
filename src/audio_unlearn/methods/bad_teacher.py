"""Bad Teacher (BT) and its noise-logit variant (BT-L): distil forget samples from an
incompetent teacher and retain samples from the original model."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .base import UnlearningModule, frozen_copy, reinitialise_
from .registry import register_method, register_preset

__all__ = ["BadTeacher", "BadTeacherLogits", "bad_teacher_loss"]


def bad_teacher_loss(
    student_logits: torch.Tensor,
    competent_logits: torch.Tensor,
    incompetent_logits: torch.Tensor,
    is_forget: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """KL divergence from each sample's teacher to the student (Chundawat et al., eq. 2).

    The teacher distribution of a sample is the incompetent teacher's for forget samples
    and the competent teacher's for retain samples:
    ``p_t = l_f * softmax(z_bad / T) + (1 - l_f) * softmax(z_good / T)``; the loss is
    ``KL(p_t || softmax(z_student / T))`` averaged over the batch.

    Args:
        student_logits: ``(batch, classes)``.
        competent_logits: ``(batch, classes)``, from the original model.
        incompetent_logits: ``(batch, classes)``, from the bad teacher.
        is_forget: ``(batch,)`` bool/0-1, 1 for forget samples.
        temperature: softmax temperature ``T``.

    Returns:
        The scalar loss (``reduction="batchmean"``, the true KL per sample; the reference
        implementation's elementwise mean only divides it further by the class count).
    """
    w = is_forget.to(student_logits.dtype).unsqueeze(-1)
    teacher = w * F.softmax(incompetent_logits / temperature, dim=-1) + (1 - w) * F.softmax(
        competent_logits / temperature, dim=-1
    )
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_student, teacher, reduction="batchmean")


@register_method("bt")
class BadTeacher(UnlearningModule):
    """BT: student = the original model, taught by a competent and an incompetent teacher.

    Chundawat et al., "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks
    Using an Incompetent Teacher" (AAAI 2023). Each step mixes a forget batch and a retain
    batch; forget samples are distilled from a randomly initialised copy of the
    architecture (the incompetent teacher), retain samples from a frozen copy of the
    original model (the competent teacher), with KL divergence at temperature 1 and Adam-
    style optimisation (AdamW here), one epoch as in UnSLU-BENCH. The UnSLU-BENCH reference
    code passes the original model as both teachers; here the bad teacher is a real
    re-initialised copy (:func:`reinitialise_`, seeded by ``teacher_seed``).

    The paper distils over all forget samples and a 30% subset of retain; here the epoch
    goes over the retain set, cycling the forget set (Lightning "max_size_cycle").

    On ASR the divergence is the position-level one of the recogniser's outputs; on the
    flow-matching TTS the squared velocity difference on shared draws (noise, time, infill
    span; :mod:`audio_unlearn.tasks.tts`), so the forget speakers' items are pulled towards
    a random network's velocities (BT-L: towards noise velocities) and the remain items
    towards the original's (presets ``tts_bt`` / ``tts_btl``: the TTS learning rate 1e-4).

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        temperature: distillation temperature.
        teacher_seed: seed of the incompetent teacher's initialisation.

    Raises:
        ValueError: a non-positive temperature.
    """

    uses = ("forget", "retain")
    tasks = ("classification", "asr", "tts")

    def __init__(self, model, *, temperature: float = 1.0, teacher_seed: int = 0, **shared):
        if temperature <= 0:
            raise ValueError(f"{type(self).__name__}: temperature must be > 0, got {temperature}")
        super().__init__(model, **shared)
        self.temperature = float(temperature)
        self.teacher_seed = teacher_seed
        self.competent_teacher = frozen_copy(model)
        self.incompetent_teacher = self._make_incompetent_teacher(model)

    def _make_incompetent_teacher(self, model) -> torch.nn.Module | None:
        return frozen_copy(reinitialise_(copy.deepcopy(model), seed=self.teacher_seed))

    @torch.no_grad()
    def incompetent_rows(self, forget, like) -> torch.Tensor:
        """The bad teacher's output rows for the ``forget`` batch (``like``: the competent
        teacher's outputs over the joined batch, whose first items are ``forget``'s)."""
        task = self.task
        return task.output_rows(task.outputs(self.incompetent_teacher, forget, like=like))

    def unlearning_loss(self, batch) -> torch.Tensor:
        # one forward pass over forget + retain items, as in the paper; each item's teacher
        # is the incompetent one for forget items and the competent one for retain items
        task, forget = self.task, batch["forget"]
        joined = task.concat(forget, batch["retain"])
        with torch.no_grad():
            good = task.outputs(self.competent_teacher, joined)
            teacher = task.with_rows(good, self.incompetent_rows(forget, good))
        student = task.outputs(self.model, joined, like=good)
        return task.divergence(student, teacher, joined, self.temperature)


@register_method("btl")
class BadTeacherLogits(BadTeacher):
    """BT-L: Bad Teacher whose incompetent teacher emits Gaussian-noise logits.

    The "light" Bad Teacher of UnSLU-BENCH: no second network; the bad teacher's logits
    for each forget sample are drawn from ``N(0, noise_std^2)`` at every step.

    Args:
        noise_std: standard deviation of the noise logits.
        teacher_seed: seed of the noise-logit generator (no network is initialised).
        (others as :class:`BadTeacher`.)

    Raises:
        ValueError: a non-positive temperature or negative ``noise_std``.
    """

    def __init__(self, model, *, noise_std: float = 1.0, **shared):
        if noise_std < 0:
            raise ValueError(f"btl: noise_std must be >= 0, got {noise_std}")
        super().__init__(model, **shared)
        self.noise_std = float(noise_std)
        self._noise = torch.Generator().manual_seed(self.teacher_seed)

    def _make_incompetent_teacher(self, model) -> None:
        return None

    @torch.no_grad()
    def incompetent_rows(self, forget, like) -> torch.Tensor:
        like = self.task.output_rows(like)
        n = self.task.batch_size(forget)
        noise = torch.randn(n, *like.shape[1:], generator=self._noise)
        return (self.noise_std * noise).to(like.device)


register_preset("tts_bt", "bt", task="tts", defaults={"lr": 1e-4})
register_preset("tts_btl", "btl", task="tts", defaults={"lr": 1e-4})
