"""The base LightningModule every unlearning method derives from, and shared helpers."""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, ClassVar

import lightning as L
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..tasks import Task, get_task

if TYPE_CHECKING:
    from ..data.datamodule import UnlearningDataModule

__all__ = ["UnlearningModule", "frozen_copy", "layer_groups", "reinitialise_"]


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with gradients off (a teacher)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def reinitialise_(model: nn.Module, seed: int | None = None) -> nn.Module:
    """Re-draw every parameter from its layer's own initialiser, in place.

    Calls ``reset_parameters()`` on each submodule that has one (PyTorch layers and
    Hugging Face layers do); with ``seed`` the draw is reproducible. BatchNorm running
    statistics are reset too.
    """
    state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        for module in model.modules():
            if parametrize.is_parametrized(module):
                _reinitialise_parametrized(module)
            elif hasattr(module, "reset_parameters") and callable(module.reset_parameters):
                module.reset_parameters()
    finally:
        if seed is not None:
            torch.random.set_rng_state(state)
    return model


def _reinitialise_parametrized(module: nn.Module) -> None:
    """Re-draw a parametrized layer (e.g. wav2vec2's weight-normed positional convolution).

    Its own ``reset_parameters`` would initialise a computed tensor and be lost, so each
    parametrized tensor is drawn with PyTorch's default Linear/Conv initialisation
    (Kaiming-uniform, a = sqrt(5)) and assigned through the parametrization
    (``right_inverse``); the bias as in those layers, uniform in +-1/sqrt(fan_in).
    """
    fan_in = None
    for name in list(module.parametrizations.keys()):
        fresh = torch.empty_like(getattr(module, name))
        nn.init.kaiming_uniform_(fresh, a=math.sqrt(5))
        setattr(module, name, fresh)
        if fresh.dim() > 1:
            fan_in = fresh[0].numel()
    bias = getattr(module, "bias", None)
    if isinstance(bias, nn.Parameter) and fan_in:
        nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))


def layer_groups(model: nn.Module) -> list[nn.Module]:
    """Trainable layer groups from input to output.

    Uses ``model.layer_groups()`` when the model defines it, else its direct children
    that hold parameters.
    """
    if hasattr(model, "layer_groups"):
        return list(model.layer_groups())
    return [m for m in model.children() if any(True for _ in m.parameters())]


class UnlearningModule(L.LightningModule):
    """Base class of unlearning methods.

    A method receives, per training step, ``batch[name]`` (a batch of :attr:`task`: for
    classification ``(waveforms, targets)``) for each set it names in :attr:`uses`
    ("forget", "retain"), assembled by Lightning's ``CombinedLoader`` in
    :attr:`combine_mode`. Methods written against the task (:meth:`task_loss`,
    ``self.task.outputs`` / ``divergence``) serve every task in :attr:`tasks`. Subclasses implement
    :meth:`unlearning_loss` (automatic optimisation) or override ``training_step`` with
    ``self.automatic_optimization = False`` when they alternate phases.

    Methods that need a pass over data before training (saliency, importance, pruning)
    do it in ``on_train_start`` through ``self.trainer.datamodule.eval_dataloader(name)``
    (name: "forget", "retain", "train", "test"), so its cost counts as unlearning time.
    Training-free methods set :attr:`training_free` and implement :meth:`apply`.

    The model passed in is the trained original; methods that need a teacher take a
    :func:`frozen_copy` of it in ``__init__``.

    Args:
        model: the trained model to unlearn (modified in place).
        lr: learning rate.
        epochs: passes over the longest set in :attr:`uses`.
        weight_decay: AdamW weight decay.
    """

    method_name: ClassVar[str] = ""
    uses: ClassVar[tuple[str, ...]] = ("forget", "retain")
    combine_mode: ClassVar[str] = "max_size_cycle"
    gradient_clip_val: ClassVar[float | None] = None
    training_free: ClassVar[bool] = False
    #: the tasks (:mod:`audio_unlearn.tasks`) this method serves, the default first. A
    #: method written against :attr:`task` (its loss, outputs and divergence) serves every
    #: task; one that needs class labels serves "classification" only.
    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    def __init__(
        self, model: nn.Module, *, lr: float = 1e-4, epochs: int = 1, weight_decay: float = 0.0
    ):
        super().__init__()
        self.model = model
        self.lr = lr
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.task: Task = get_task(self.tasks[0])
        self.save_hyperparameters(ignore=["model"])

    def use_task(self, task: str | Task) -> UnlearningModule:
        """Run on ``task``'s batches with its loss (one of :attr:`tasks`); returns self.

        Raises:
            ValueError: a task this method does not serve.
        """
        task = get_task(task)
        if task.name not in self.tasks:
            raise ValueError(
                f"method {self.method_name!r} serves {list(self.tasks)}, not {task.name!r}"
            )
        self.task = task
        return self

    def task_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The task's scalar training loss of the model on one set's batch."""
        return self.task.loss(self.model, batch)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model(wav)

    def unlearning_loss(self, batch: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, datamodule: UnlearningDataModule) -> None:
        """The whole unlearning step of a training-free method."""
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        loss = self.unlearning_loss(batch)
        self.log("unlearn/loss", loss, prog_bar=True, batch_size=self._batch_size(batch))
        return loss

    def manual_step(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.Tensor:
        """One manual-optimisation step on ``loss``: zero the gradients, backward, step.

        For methods that set ``self.automatic_optimization = False``.

        Args:
            loss: the scalar to minimise.
            optimizer: the optimiser to step; ``None`` takes ``self.optimizers()`` (the
                method's single optimiser).

        Returns:
            ``loss``, detached.
        """
        opt = self.optimizers() if optimizer is None else optimizer
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        return loss.detach()

    def _batch_size(self, batch) -> int:
        return sum(self.task.batch_size(b) for b in batch.values() if b is not None)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
