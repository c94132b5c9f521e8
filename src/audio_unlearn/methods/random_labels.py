"""Random labels (RL): train the forget set towards random wrong labels, the retain set
towards its own labels."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .base import UnlearningModule
from .registry import register_method

__all__ = ["RandomLabelSteps", "RandomLabels", "RelabelledDataset", "random_wrong_labels"]


def random_wrong_labels(
    targets: torch.Tensor, num_classes: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Labels drawn uniformly from the ``num_classes - 1`` classes other than ``targets``.

    Draws an offset ``o ~ U{1, ..., C-1}`` per sample and returns ``(y + o) mod C``, which is
    uniform over the wrong classes and never the true one.

    Args:
        targets: true class ids, any shape, values in ``[0, num_classes)``.
        num_classes: C, at least 2.
        generator: a CPU generator for reproducible draws (the global RNG if ``None``).

    Returns:
        A ``long`` tensor shaped and placed like ``targets``.

    Raises:
        ValueError: ``num_classes`` below 2 (no wrong label exists).
    """
    if num_classes < 2:
        raise ValueError(f"random wrong labels need at least 2 classes, got {num_classes}")
    offset = torch.randint(1, num_classes, tuple(targets.shape), generator=generator)
    return (targets.long() + offset.to(targets.device)) % num_classes


class RelabelledDataset(Dataset):
    """A ``(input, label)`` dataset whose labels are replaced by ``labels`` (same order)."""

    def __init__(self, base: Dataset, labels: torch.Tensor):
        if len(base) != len(labels):
            raise ValueError(f"{len(labels)} labels for a dataset of {len(base)} items")
        self.base = base
        self.labels = labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.base[i][0], self.labels[i]


def _cycle(loader: DataLoader) -> Iterator:
    """Yield ``loader``'s batches forever, reshuffling on each pass."""
    while True:
        yield from loader


@register_method("rl")
class RandomLabels(UnlearningModule):
    """RL: cross-entropy towards random *wrong* labels on forget plus cross-entropy on retain.

    The "random labels" baseline of Golatkar et al., "Eternal Sunshine of the Spotless Net"
    (CVPR 2020) and the relabelling unlearning of Graves et al., "Amnesiac Machine
    Learning" (AAAI 2021), in the combined form SalUn (Fan et al., ICLR 2024) uses as its
    RL baseline: forget and retain samples trained together, the forget samples under
    random wrong labels.

    What runs here:

    * ``on_train_start`` relabels the forget set **once**: each forget utterance gets a
      label drawn uniformly from the C - 1 classes other than its own
      (:func:`random_wrong_labels`, seeded by ``seed``), kept for the whole run. (SRL,
      ``srl``, instead redraws at every step.)
    * Each step takes one retain batch from Lightning's loader and the next batch of the
      relabelled forget set (shuffled, cycled: an epoch is one pass over retain), and
      minimises the mean cross-entropy over the concatenation of the two batches (one
      forward pass, as on SalUn's union of relabelled forget and retain data).

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        seed: seed of the relabelling and of the forget-batch order.
    """

    uses = ("retain",)

    def __init__(self, model, *, seed: int = 0, **shared):
        super().__init__(model, **shared)
        self.seed = seed
        self.forget_labels: torch.Tensor | None = None
        self._forget_batches: Iterator | None = None
        self._relabel_generator: torch.Generator | None = None

    def on_train_start(self) -> None:
        dm = self.trainer.datamodule
        forget = dm.dataset("forget")
        if len(forget) == 0:
            raise ValueError(f"{self.method_name}: the forget set is empty; nothing to relabel")
        generator = torch.Generator().manual_seed(self.seed)
        if not self.task.class_labels:  # wrong targets drawn per step from the retain batch
            self._relabel_generator = generator
            self._forget_batches = _cycle(dm.loader("forget", shuffle=True))
            return
        self.forget_labels = random_wrong_labels(
            forget.targets, dm.num_classes, generator=generator
        )
        loader = DataLoader(
            RelabelledDataset(forget, self.forget_labels),
            batch_size=dm.batch_size,
            shuffle=True,
            generator=generator,
        )
        self._forget_batches = _cycle(loader)

    def next_relabelled_forget_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(waveforms, random wrong labels)`` batch of the forget set."""
        if self._forget_batches is None:
            raise RuntimeError(f"{self.method_name}: the forget set is relabelled at train start")
        wav, y = next(self._forget_batches)
        return wav.to(self.device), y.to(self.device)

    def unlearning_loss(self, batch) -> torch.Tensor:
        if not self.task.class_labels:
            return self.random_target_loss(batch["retain"])
        wav_f, y_f = self.next_relabelled_forget_batch()
        wav_r, y_r = batch["retain"]
        logits = self.model(torch.cat([wav_f, wav_r]))
        return F.cross_entropy(logits, torch.cat([y_f, y_r]))

    def random_target_loss(self, retain) -> torch.Tensor:
        """On a task without class labels: the next forget batch under random wrong targets
        from this retain batch (:meth:`~audio_unlearn.tasks.Task.random_label_loss`) and
        the retain batch's own loss, weighted by their item counts (the mean over the
        union, as the cross-entropy over the joined batch on classifiers)."""
        if self._forget_batches is None:
            raise RuntimeError(f"{self.method_name}: the forget batches are made at train start")
        task = self.task
        forget = task.to_device(next(self._forget_batches), self.device)
        n_f, n_r = task.batch_size(forget), task.batch_size(retain)
        wrong = task.random_label_loss(self.model, forget, retain, self._relabel_generator)
        own = task.loss(self.model, retain)
        return (n_f * wrong + n_r * own) / (n_f + n_r)


class RandomLabelSteps(UnlearningModule):
    """Base of the methods that take manual optimiser steps on forget batches relabelled
    afresh at each step (SRL, Amnesiac): the labels' seeded generator, made at train start,
    and the relabelled step.

    Args:
        model: the trained model (modified in place).
        seed: seed of the random labels.
        (``lr``, ``epochs``, ``weight_decay`` as :class:`UnlearningModule`.)
    """

    def __init__(self, model, *, seed: int = 0, **shared):
        super().__init__(model, **shared)
        self.seed = seed
        self.automatic_optimization = False
        self._generator: torch.Generator | None = None

    def on_train_start(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def random_label_step(self, wav: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on ``CE(model(wav), y_random)``, the wrong labels drawn by
        :func:`random_wrong_labels` for this batch; returns the loss, detached."""
        logits = self.model(wav)
        y_random = random_wrong_labels(y, logits.shape[-1], generator=self._generator)
        return self.manual_step(F.cross_entropy(logits, y_random))
