"""Amnesiac unlearning by relabelling: impair on randomly relabelled forget data, then
repair on retain data."""

from __future__ import annotations

import torch.nn.functional as F

from .random_labels import RandomLabelSteps
from .registry import register_method

__all__ = ["Amnesiac"]


@register_method("amnesiac")
class Amnesiac(RandomLabelSteps):
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
        lr: AdamW learning rate (both phases); ``None``: the shared default.
        impair_epochs: passes over the relabelled forget set, at least 1.
        repair_epochs: passes over the retain set, at least 0.
        weight_decay: AdamW weight decay; ``None``: the shared default.
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
        lr: float | None = None,
        impair_epochs: int = 1,
        repair_epochs: int = 1,
        weight_decay: float | None = None,
        seed: int = 0,
    ):
        # no **shared: ``epochs`` is impair + repair epochs, not a hyper-parameter. lr and
        # weight_decay are resolved here too, as Lightning records this frame's values.
        lr = self.shared_value("lr", lr)
        weight_decay = self.shared_value("weight_decay", weight_decay)
        if impair_epochs < 1:
            raise ValueError(f"amnesiac: impair_epochs must be at least 1, got {impair_epochs}")
        if repair_epochs < 0:
            raise ValueError(
                f"amnesiac: repair_epochs must be at least 0 (0 = no repair), got {repair_epochs}"
            )
        super().__init__(
            model,
            seed=seed,
            lr=lr,
            epochs=impair_epochs + repair_epochs,
            weight_decay=weight_decay,
        )
        self.impair_epochs = impair_epochs
        self.repair_epochs = repair_epochs

    @property
    def impairing(self) -> bool:
        """Whether the current epoch belongs to the impair phase."""
        return self.current_epoch < self.impair_epochs

    def training_step(self, batch, batch_idx):
        name = "forget" if self.impairing else "retain"
        if batch.get(name) is None:  # the other set is longer: nothing left of this one
            return None
        wav, y = batch[name]
        if self.impairing:
            loss = self.random_label_step(wav, y)
        else:
            loss = self.manual_step(F.cross_entropy(self.model(wav), y))
        self.log(f"unlearn/{name}_ce", loss, prog_bar=True, batch_size=y.numel())
        return None
