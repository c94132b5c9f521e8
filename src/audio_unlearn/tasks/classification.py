"""The classification task: batches ``(waveforms (batch, samples), class ids (batch,))`` and a
model that maps waveforms to logits ``(batch, classes)``; loss: cross-entropy."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import Task

__all__ = ["ClassificationTask", "distill_kl"]


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


class ClassificationTask(Task):
    """Utterance classification (intent, speaker, keyword): cross-entropy on logits."""

    name: ClassVar[str] = "classification"
    class_labels: ClassVar[bool] = True

    def outputs(self, model: nn.Module, batch, like=None) -> torch.Tensor:
        return model(batch[0])

    def loss_from_outputs(self, model: nn.Module, outputs: torch.Tensor, batch) -> torch.Tensor:
        return F.cross_entropy(outputs, batch[1])

    def per_sample_loss(self, model: nn.Module, batch) -> torch.Tensor:
        return F.cross_entropy(model(batch[0]), batch[1], reduction="none")

    def divergence(self, student, teacher, batch, temperature: float = 1.0) -> torch.Tensor:
        return distill_kl(student, teacher, temperature)

    def batch_size(self, batch) -> int:
        return int(batch[1].numel())

    def concat(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])

    def output_rows(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs

    def with_rows(self, outputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        joined = outputs.clone()
        joined[: rows.shape[0]] = rows
        return joined
