"""Successive random labels (SRL): a step on freshly relabelled forget data, then a step on
retain data."""

from __future__ import annotations

import torch.nn.functional as F

from .random_labels import RandomLabelSteps
from .registry import register_method

__all__ = ["SuccessiveRandomLabels"]


@register_method("srl")
class SuccessiveRandomLabels(RandomLabelSteps):
    """SRL: successive optimiser steps on forget (random wrong labels, redrawn every step)
    and on retain (true labels).

    SRL is listed among the methods of the UnSLU-BENCH code (Koudounas et al., Interspeech
    2025); its unlearner module is not in the public snapshot this project read, so the
    rule follows the ``SuccessiveRandomLabels`` unlearner of ERASURE (D'Angelo, Savelli,
    Tagliente, Giobergia, Baralis, Stilo, "ERASURE: A Modular and Extensible Framework for
    Machine Unlearning", 2025; shared authors with UnSLU-BENCH). Per epoch, ERASURE makes
    one pass over the forget set, each batch relabelled with labels drawn uniformly from
    the classes other than the true one, freshly for every batch, and one optimiser step
    per batch on ``CE(model(x_f), y_random)``; then one pass over the retain set with one
    step per batch on ``CE(model(x_r), y_r)``.

    What runs here: the same steps and step counts per epoch, interleaved rather than
    in two blocks. Batches come from Lightning's ``CombinedLoader`` in "max_size" mode
    (the epoch runs over the longer set; the shorter one is not cycled and yields ``None``
    once exhausted), and each training step makes a forget step (while forget batches
    remain) followed by a retain step, with manual optimisation and one AdamW optimiser.
    Every forget step draws new wrong labels (:func:`random_wrong_labels`, seeded by
    ``seed``), so a forget utterance gets a different random label on each visit; RL
    (``rl``) instead fixes one random label per utterance and takes joint steps.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the longer of forget and retain.
        weight_decay: AdamW weight decay.
        seed: seed of the random labels.
    """

    uses = ("forget", "retain")
    combine_mode = "max_size"

    def training_step(self, batch, batch_idx):
        logged = {}
        if batch.get("forget") is not None:
            logged["unlearn/forget_random_ce"] = self.random_label_step(*batch["forget"])
        if batch.get("retain") is not None:
            wav, y = batch["retain"]
            loss = F.cross_entropy(self.model(wav), y)
            logged["unlearn/retain_ce"] = self.manual_step(loss)
        if logged:
            self.log_dict(logged, prog_bar=True, batch_size=self._batch_size(batch))
