"""The task seam: what an unlearning method needs to know about a task's batches and model.

Lightning separates the Trainer (the loop) from the LightningModule (the model); here a
method (the loop: ascend on forget, distil on retain, prune, ...) is separated from the
task (what a batch is, what the model's loss and output distribution are). A method written
against :class:`Task` serves every task that provides what it uses:

- :meth:`Task.loss`: the scalar training objective on one batch (what FT descends and NG
  ascends);
- :meth:`Task.per_sample_loss`: one loss per item (membership attacks, per-sample
  importances);
- :meth:`Task.outputs`, :meth:`Task.loss_from_outputs` and :meth:`Task.divergence`: the
  model's output distribution and a distillation divergence ``KL(teacher || student)``
  between two models' outputs on the same batch (SCRUB, bad teacher), from one forward
  pass of the student.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["Task"]


class Task:
    """Base of the task plug-ins (:mod:`audio_unlearn.tasks`).

    Subclasses set :attr:`name` and implement :meth:`outputs`, :meth:`loss_from_outputs`,
    :meth:`per_sample_loss` and :meth:`batch_size`; :meth:`divergence` where distillation
    methods may serve the task.
    """

    name: ClassVar[str] = ""
    #: items carry class ids (``batch[1]``) that random-label methods can redraw
    class_labels: ClassVar[bool] = False
    #: gradient-norm clip of methods that set none themselves (a convention of the task's
    #: training: flow-matching TTS clips at 1)
    gradient_clip_val: ClassVar[float | None] = None

    def outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...], like: Any = None) -> Any:
        """The model's outputs on ``batch`` (what :meth:`loss_from_outputs` and
        :meth:`divergence` read).

        ``like``: another model's outputs on the same batch (or on a batch that starts with
        this one's items); a task whose outputs depend on random draws (the flow-matching
        TTS: noise, time, infill span) reuses ``like``'s draws, so a teacher and its student
        are compared on the same input. Deterministic tasks ignore it."""
        raise NotImplementedError

    def loss_from_outputs(
        self, model: nn.Module, outputs: Any, batch: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """The scalar training loss of ``outputs`` (from :meth:`outputs`) on ``batch``."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The scalar training loss of ``model`` on ``batch``."""
        return self.loss_from_outputs(model, self.outputs(model, batch), batch)

    def per_sample_loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``(batch,)`` losses, one per item."""
        raise NotImplementedError

    def divergence(
        self,
        student: Any,
        teacher: Any,
        batch: tuple[torch.Tensor, ...],
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``KL(teacher || student)`` of two models' :meth:`outputs` on the same batch, at a
        softmax temperature, scaled by ``T^2`` (Hinton et al. 2015's distillation form)."""
        raise NotImplementedError(f"task {self.name!r} has no distillation divergence")

    def random_label_loss(
        self,
        model: nn.Module,
        forget: tuple[torch.Tensor, ...],
        pool: tuple[torch.Tensor, ...],
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The training loss of the ``forget`` items under random *wrong* targets taken from
        the ``pool`` items (another utterance's transcript, another speaker's speech): the
        task's reading of random labels, for SalUn on tasks without class labels."""
        raise NotImplementedError(f"task {self.name!r} has no random wrong targets")

    def concat(self, a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> tuple:
        """One batch of ``a``'s items followed by ``b``'s (one forward pass over both)."""
        raise NotImplementedError(f"task {self.name!r} cannot join batches")

    def output_rows(self, outputs: Any) -> torch.Tensor:
        """The per-item tensor of :meth:`outputs` (first dimension: the batch's items)."""
        raise NotImplementedError(f"task {self.name!r} has no output distribution")

    def with_rows(self, outputs: Any, rows: torch.Tensor) -> Any:
        """``outputs`` with its first ``len(rows)`` items' tensor replaced by ``rows`` (which
        may cover fewer positions: the rest, padding for those items, is kept)."""
        raise NotImplementedError(f"task {self.name!r} has no output distribution")

    def batch_size(self, batch: tuple[torch.Tensor, ...]) -> int:
        """Items in ``batch``."""
        raise NotImplementedError

    @staticmethod
    def to_device(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple:
        """``batch`` with every tensor moved to ``device``."""
        return tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in batch)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
