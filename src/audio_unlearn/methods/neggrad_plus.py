"""NegGrad+ (NG+): descend on the retain set while ascending on the forget set."""

from __future__ import annotations

import torch

from .base import UnlearningModule
from .registry import register_method, register_preset

__all__ = ["NegGradPlus", "neggrad_plus_loss"]


def neggrad_plus_loss(
    retain_loss: torch.Tensor, forget_loss: torch.Tensor, alpha: float | None = None
) -> torch.Tensor:
    """The NG+ objective from the two cross-entropies.

    Args:
        retain_loss: mean cross-entropy on a retain batch (scalar).
        forget_loss: mean cross-entropy on a forget batch (scalar).
        alpha: ``None`` gives the unweighted UnSLU-BENCH form ``CE_r - CE_f``; a number in
            ``[0, 1]`` gives Kurmanji et al.'s weighting ``alpha * CE_r - (1 - alpha) * CE_f``.

    Returns:
        The scalar loss to minimise.
    """
    if alpha is None:
        return retain_loss - forget_loss
    return alpha * retain_loss - (1.0 - alpha) * forget_loss


@register_method("ngplus")
class NegGradPlus(UnlearningModule):
    """NG+: cross-entropy on retain minus cross-entropy on forget, per step.

    As run in UnSLU-BENCH (Koudounas et al., Interspeech 2025): one pass over the retain
    batches, cycling the (smaller) forget set, loss ``CE(retain) - CE(forget)``, AdamW,
    gradient norm clipped to 1.0 as for NG. With ``alpha`` set, the loss is the NegGrad+ of
    Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023, appendix):
    ``alpha * CE(retain) - (1 - alpha) * CE(forget)`` (they use alpha close to 1, e.g.
    0.95-0.999). The default (``alpha=None``) is the unweighted UnSLU-BENCH form, which
    equals ``2 x`` the weighted form at ``alpha=0.5``.

    Batches come from Lightning's ``CombinedLoader`` in "max_size_cycle" mode, i.e. the
    epoch goes over the longer set (retain, in every forget protocol of this project) and
    cycles the shorter one. The losses are the task's (cross-entropy for classification,
    mean per-character CTC / token loss for ASR).

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        alpha: retain weight of the Kurmanji et al. form, in ``[0, 1]``; ``None`` for
            ``CE_r - CE_f``.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``.
    """

    uses = ("forget", "retain")
    tasks = ("classification", "asr", "tts")
    gradient_clip_val = 1.0

    def __init__(self, model, *, alpha: float | None = None, **shared):
        if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(
                f"ngplus: alpha must lie in [0, 1] (retain weight), got {alpha}; "
                "use alpha=None for the unweighted CE_r - CE_f"
            )
        super().__init__(model, **shared)
        self.alpha = None if alpha is None else float(alpha)

    def unlearning_loss(self, batch) -> torch.Tensor:
        retain_loss = self.task_loss(batch["retain"])
        forget_loss = self.task_loss(batch["forget"])
        return neggrad_plus_loss(retain_loss, forget_loss, self.alpha)


register_preset("asr_ngplus", "ngplus", task="asr")
