"""Amnesiac unlearning by relabelling: impair on randomly relabelled forget data, then
repair on retain data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import UnlearningModule
from .random_labels import random_wrong_labels
from .registry import register_method

__all__ = ["Amnesiac"]


@register_method("amnesiac")
class Amnesiac(UnlearningModule):
    """Amnesiac: train the forget set on random wrong labels, then repair on the retain set.

    Graves, Nagisetty and Ganesh, "Amnesiac Machine Learning" (AAAI 2021), "unlearning"
    by relabelling: the sensitive (forget) samples are given randomly chosen incorrect
    labels and the model is trained on them for a few iterations, which removes what it
    knew about them but also costs some accuracy elsewhere, restored by further training
    on the remaining data. (The paper's other method, undoing the stored parameter updates
    of the batches that held the sensitive data, needs book-keeping during the original
    training and is not implemented.)

    What runs here, in phased epochs with manual optimisation and one AdamW optimiser:

    * epochs ``0 .. impair_epochs - 1`` (impair): one optimiser step per forget batch on
      ``CE(model(x_f), y_random)``, the wrong labels drawn uniformly from the other
      classes (:func:`random_wrong_labels`, seeded by ``seed``) when the batch arrives.
      With the default single impair epoch each forget utterance is relabelled exactly
      once, as in the paper; with more epochs it gets a new label on every pass.
    * the next ``repair_epochs`` epochs (repair): one step per retain batch on
      ``CE(model(x_r), y_r)``.

    Batches come from Lightning's ``CombinedLoader`` in "max_size" mode (no cycling), so
    an impair epoch is exactly one pass over the forget set and a repair epoch one pass
    over the retain set; the batches of the other set are drawn but unused.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate (both phases).
        impair_epochs: passes over the relabelled forget set, at least 1.
        repair_epochs: passes over the retain set, at least 0.
        weight_decay: AdamW weight decay.
        seed: seed of the random labels.

    Raises:
        ValueError: ``impair_epochs`` below 1 or ``repair_epochs`` below 0.
    """

    uses = ("forget", "retain")
    combine_mode = "max_size"

    def __init__(
        self,
        model,
        *,
        lr: float = 1e-4,
        impair_epochs: int = 1,
        repair_epochs: int = 1,
        weight_decay: float = 0.0,
        seed: int = 0,
    ):
        if impair_epochs < 1:
            raise ValueError(f"amnesiac: impair_epochs must be at least 1, got {impair_epochs}")
        if repair_epochs < 0:
            raise ValueError(
                f"amnesiac: repair_epochs must be at least 0 (0 = no repair), got {repair_epochs}"
            )
        super().__init__(
            model, lr=lr, epochs=impair_epochs + repair_epochs, weight_decay=weight_decay
        )
        self.impair_epochs = impair_epochs
        self.repair_epochs = repair_epochs
        self.seed = seed
        self.automatic_optimization = False
        self._generator: torch.Generator | None = None

    def on_train_start(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    @property
    def impairing(self) -> bool:
        """Whether the current epoch belongs to the impair phase."""
        return self.current_epoch < self.impair_epochs

    def training_step(self, batch, batch_idx):
        name = "forget" if self.impairing else "retain"
        if batch.get(name) is None:  # the other set is longer: nothing left of this one
            return None
        wav, y = batch[name]
        logits = self.model(wav)
        if self.impairing:
            y = random_wrong_labels(y, logits.shape[-1], generator=self._generator)
        loss = F.cross_entropy(logits, y)
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.log(f"unlearn/{name}_ce", loss.detach(), prog_bar=True, batch_size=y.numel())
        return None
