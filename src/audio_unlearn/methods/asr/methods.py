"""FT, NG, NG+ and CF-k for speech recognisers: the classification methods with the
per-sample sequence (CTC) loss in place of the cross-entropy."""

from __future__ import annotations

import torch

from ..base import layer_groups
from ..cf_k import CatastrophicForgettingK
from ..neggrad_plus import neggrad_plus_loss
from ..registry import register_method
from .base import ASRUnlearningModule

__all__ = ["ASRCatastrophicForgettingK", "ASRFineTune", "ASRNegGrad", "ASRNegGradPlus"]


@register_method("asr_ft")
class ASRFineTune(ASRUnlearningModule):
    """FT for ASR: continue training on the retain set (catastrophic forgetting).

    Golatkar et al., "Eternal Sunshine of the Spotless Net" (CVPR 2020) baseline, as
    run for ASR speaker forgetting by Dinis et al. (2026, "Evaluating Machine Unlearning
    in ASR"). Loss: mean per-character CTC loss on retain batches.

    Args:
        model: the trained recogniser (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
    """

    uses = ("retain",)

    def __init__(self, model, *, lr: float = 3e-4, epochs: int = 1, weight_decay: float = 0.0):
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.sequence_loss(batch["retain"])


@register_method("asr_ng")
class ASRNegGrad(ASRUnlearningModule):
    """NG for ASR: gradient ascent on the forget set's CTC loss, gradient norm clipped to 1.

    Golatkar et al. (CVPR 2020); UnSLU-BENCH settings (one epoch, AdamW, clip 1.0).
    Loss: ``-mean CTC(forget)``. The CTC loss is unbounded above, so NG can wreck the
    model: keep ``epochs``/``lr`` small and watch retain WER.

    Args:
        model: the trained recogniser (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the forget set.
        weight_decay: AdamW weight decay.
    """

    uses = ("forget",)
    gradient_clip_val = 1.0

    def __init__(self, model, *, lr: float = 1e-4, epochs: int = 1, weight_decay: float = 0.0):
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return -self.sequence_loss(batch["forget"])


@register_method("asr_ngplus")
class ASRNegGradPlus(ASRUnlearningModule):
    """NG+ for ASR: ``CTC(retain) - CTC(forget)`` per step (or Kurmanji et al.'s weighting).

    As :class:`~audio_unlearn.methods.neggrad_plus.NegGradPlus` (UnSLU-BENCH; Kurmanji et
    al., NeurIPS 2023, with ``alpha``) with mean per-character CTC losses. The epoch goes
    over the retain set and cycles the forget set.

    Args:
        model: the trained recogniser (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        alpha: retain weight in ``[0, 1]`` (``alpha * CTC_r - (1 - alpha) * CTC_f``);
            ``None`` for ``CTC_r - CTC_f``.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``.
    """

    uses = ("forget", "retain")
    gradient_clip_val = 1.0

    def __init__(
        self,
        model,
        *,
        lr: float = 1e-4,
        epochs: int = 1,
        weight_decay: float = 0.0,
        alpha: float | None = None,
    ):
        if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(
                f"asr_ngplus: alpha must lie in [0, 1] (retain weight), got {alpha}; "
                "use alpha=None for the unweighted CTC_r - CTC_f"
            )
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)
        self.alpha = None if alpha is None else float(alpha)

    def unlearning_loss(self, batch) -> torch.Tensor:
        retain = self.sequence_loss(batch["retain"])
        forget = self.sequence_loss(batch["forget"])
        return neggrad_plus_loss(retain, forget, self.alpha)


@register_method("asr_cfk")
class ASRCatastrophicForgettingK(ASRUnlearningModule):
    """CF-k for ASR: fine-tune only the last ``k`` layer groups on the retain set.

    Goel et al., "Towards Adversarial Evaluation of Machine Unlearning" (2022); the
    freezing (optimiser over the last k groups only, frozen groups in eval mode, flags
    restored at the end) is that of :class:`~audio_unlearn.methods.cf_k.
    CatastrophicForgettingK`, whose hooks this class reuses. Groups come from the model's
    ``layer_groups()`` (the recogniser: convolutions, blocks, GRUs, output layer).

    Args:
        model: the trained recogniser (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        k: trailing layer groups to train (``1 <= k <= len(layer_groups)``).

    Raises:
        ValueError: ``k`` out of range for the model.
    """

    uses = ("retain",)

    def __init__(
        self,
        model,
        *,
        lr: float = 3e-4,
        epochs: int = 1,
        weight_decay: float = 0.0,
        k: int = 2,
    ):
        groups = layer_groups(model)
        if not 1 <= k <= len(groups):
            raise ValueError(
                f"asr_cfk: k={k} is out of range; the model has {len(groups)} layer groups, "
                f"so choose k between 1 and {len(groups)}"
            )
        super().__init__(model, lr=lr, epochs=epochs, weight_decay=weight_decay)
        self.k = k
        self._saved_requires_grad: dict[str, bool] = {}

    trainable_groups = CatastrophicForgettingK.trainable_groups
    _trainable_parameters = CatastrophicForgettingK._trainable_parameters
    _frozen_groups = CatastrophicForgettingK._frozen_groups
    configure_optimizers = CatastrophicForgettingK.configure_optimizers
    on_train_start = CatastrophicForgettingK.on_train_start
    on_train_epoch_start = CatastrophicForgettingK.on_train_epoch_start
    on_train_end = CatastrophicForgettingK.on_train_end

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.sequence_loss(batch["retain"])
