"""The base LightningModule every unlearning method derives from, and shared helpers."""

from __future__ import annotations

import copy
import inspect
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

    Hyper-parameters: the shared ones (``lr``, ``epochs``, ``weight_decay``) are declared
    here once, their defaults in :attr:`shared_defaults`. A method's ``__init__`` takes its
    own hyper-parameters as keyword-only arguments with defaults plus ``**shared``, which it
    passes on to ``super().__init__``; :meth:`hparam_defaults` lists them all.

    Args:
        model: the trained model to unlearn (modified in place).
        lr: learning rate (``None``: the class's :attr:`shared_defaults`).
        epochs: passes over the longest set in :attr:`uses` (likewise).
        weight_decay: AdamW weight decay (likewise).
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
    #: defaults of the hyper-parameters every method shares. A subclass with other defaults
    #: declares only the keys it changes (e.g. ``{"lr": 1e-3, "epochs": 20}``); the
    #: effective defaults merge these dicts over the MRO, the subclass's winning
    #: (:meth:`merged_shared_defaults`).
    shared_defaults: ClassVar[dict[str, object]] = {"lr": 1e-4, "epochs": 1, "weight_decay": 0.0}

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float | None = None,
        epochs: int | None = None,
        weight_decay: float | None = None,
    ):
        super().__init__()
        # resolved before save_hyperparameters, which records these local variables
        lr = self.shared_value("lr", lr)
        epochs = self.shared_value("epochs", epochs)
        weight_decay = self.shared_value("weight_decay", weight_decay)
        self.model = model
        self.lr = lr
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.task: Task = get_task(self.tasks[0])
        self.save_hyperparameters(ignore=["model"])

    @classmethod
    def merged_shared_defaults(cls) -> dict[str, object]:
        """The effective defaults of ``lr`` / ``epochs`` / ``weight_decay``: every
        :attr:`shared_defaults` along the MRO, base first, the subclass's winning."""
        merged: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("shared_defaults", {}))
        return merged

    @classmethod
    def shared_value(cls, name: str, value):
        """``value`` of shared hyper-parameter ``name``, or its default when ``None``."""
        return cls.merged_shared_defaults()[name] if value is None else value

    @classmethod
    def hparam_defaults(cls) -> dict[str, object]:
        """``{name: default}`` of every hyper-parameter of the class.

        The keyword-only parameters with defaults of each ``__init__`` along the MRO (a
        subclass's default winning), up to the first ``__init__`` that takes no
        ``**kwargs`` (it passes nothing further on); the shared ones (``lr``, ``epochs``,
        ``weight_decay``) that the class takes default to :meth:`merged_shared_defaults`.
        """
        per_class: list[dict[str, object]] = []  # most derived first
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            per_class.append(
                {
                    p.name: p.default
                    for p in params
                    if p.kind == p.KEYWORD_ONLY and p.default is not p.empty
                }
            )
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        defaults: dict[str, object] = {}
        for own in reversed(per_class):  # listed base first, the subclass's default winning
            defaults.update(own)
        shared = cls.merged_shared_defaults()
        return {k: shared.get(k, v) for k, v in defaults.items()}

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
