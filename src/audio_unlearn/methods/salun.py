"""SalUn: random-label unlearning restricted to the weights most salient for the forget set."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .random_labels import RandomLabels
from .registry import register_method

__all__ = ["SalUn", "forget_saliency", "top_fraction_masks"]

#: Parameter-name fragments never masked in: wav2vec2/HuBERT's ``masked_spec_embed`` is
#: used only for SpecAugment-style time masking during pre-training.
EXCLUDED_PARAMETERS: tuple[str, ...] = ("masked_spec_embed",)


def forget_saliency(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, ...]],
    device=None,
    *,
    loss: Callable[[nn.Module, tuple], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Weight saliency ``|g|`` with ``g = sum over forget batches of grad of -loss`` (the
    mean cross-entropy by default; a task's loss, e.g. :meth:`Task.loss`, otherwise).

    Fan et al. (ICLR 2024), eq. 5: the gradient of the forgetting loss (here the negated
    mean cross-entropy of each batch, summed over batches) at the trained weights. The
    model runs in eval mode (no dropout, BatchNorm statistics untouched) and is put back
    in its previous mode; existing ``.grad`` values are cleared.

    Args:
        model: the trained model.
        batches: the forget set's batches (``(waveforms (B, T), targets (B,))`` for the
            default cross-entropy).
        device: where to run; the model's own device if ``None``.
        loss: ``loss(model, batch)``, the batch's scalar training loss.

    Returns:
        ``{parameter name: |g|}`` for every parameter that requires grad (zeros for one
        the forward pass does not reach).
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    device = device if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    try:
        for batch in batches:
            batch = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in batch)
            if loss is None:
                value = F.cross_entropy(model(batch[0]), batch[1])
            else:
                value = loss(model, batch)
            (-value).backward()  # accumulates: the sum over batches
        return {
            n: (p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p))
            for n, p in params.items()
        }
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def top_fraction_masks(
    saliency: dict[str, torch.Tensor],
    gamma: float,
    exclude: Iterable[str] = EXCLUDED_PARAMETERS,
) -> dict[str, torch.Tensor]:
    """Boolean masks selecting the top ``gamma`` fraction of saliency, with one global
    threshold over all parameters.

    As in SalUn (Fan et al., ICLR 2024, eq. 6, and its reference code), the ranking is
    global: one threshold over every weight of every layer, so layers with larger
    gradients get more of their weights updated. Exactly ``int(gamma * N)`` entries are
    selected, N being the number of ranked entries (ties broken by ``torch.topk``).
    Parameters whose name contains a fragment of ``exclude`` are neither ranked nor
    selected (their mask is all False).

    Args:
        saliency: ``{parameter name: |g|}``, e.g. from :func:`forget_saliency`.
        gamma: fraction of the ranked entries to select, in ``(0, 1]``.
        exclude: parameter-name fragments to leave out.

    Returns:
        ``{parameter name: bool tensor shaped like the parameter}``.

    Raises:
        ValueError: ``gamma`` outside ``(0, 1]``.
    """
    if not 0.0 < gamma <= 1.0:
        raise ValueError(
            f"salun: gamma (fraction of weights updated) must be in (0, 1], got {gamma}"
        )
    exclude = tuple(exclude)
    ranked = [n for n in saliency if not any(frag in n for frag in exclude)]
    masks = {n: torch.zeros_like(s, dtype=torch.bool) for n, s in saliency.items()}
    if not ranked:
        return masks
    flat = torch.cat([saliency[n].flatten().float() for n in ranked])
    k = int(gamma * flat.numel())
    selected = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        selected[torch.topk(flat, k, sorted=False).indices] = True
    start = 0
    for n in ranked:
        size = saliency[n].numel()
        masks[n] = selected[start : start + size].view_as(saliency[n])
        start += size
    return masks


@register_method("salun")
class SalUn(RandomLabels):
    """SalUn: random-label unlearning with gradients masked to the salient weights.

    Fan, Liu, Zhang, Wei, Wong and Liu, "SalUn: Empowering Machine Unlearning via
    Gradient-based Weight Saliency" (ICLR 2024). In ``on_train_start`` (counted as
    unlearning time):

    1. saliency ``|g|``, ``g = sum over forget batches of grad(-CE)`` at the trained
       weights (:func:`forget_saliency`, unshuffled forget loader);
    2. mask = the top ``gamma`` fraction of ``|g|`` over all parameters with one *global*
       threshold, as the paper and its code do (:func:`top_fraction_masks`); parameters
       named ``*masked_spec_embed*`` (wav2vec2/HuBERT) are excluded and frozen.

    Then random-label training as :class:`RandomLabels` (forget set relabelled once with
    random wrong labels, joint cross-entropy with the retain batch), with every gradient
    multiplied by the mask after the backward pass (``on_after_backward``), so only the
    salient weights move (AdamW's decoupled weight decay, off by default, still applies
    to all).

    On tasks without class labels the gradient is that of the task's loss and the random
    labels are the task's random wrong targets (:meth:`Task.random_label_loss`, drawn at
    each step from the retain batch): on ASR another utterance's transcript, on the
    flow-matching TTS another speaker's speech infilled after the forget utterance (the
    SGU objective), which is SalUn's generative form (a wrong output for the forget
    condition) read for speaker forgetting.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        gamma: fraction of weights updated (the paper's sparsity ratio; 0.5 is its
            typical choice).
        seed: seed of the relabelling and of the forget-batch order.

    Raises:
        ValueError: ``gamma`` outside ``(0, 1]``.
    """

    tasks = ("classification", "asr", "tts")

    def __init__(self, model, *, gamma: float = 0.5, **shared):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(
                f"salun: gamma (fraction of weights updated) must be in (0, 1], got {gamma}"
            )
        super().__init__(model, **shared)
        self.gamma = gamma
        self.masks: dict[str, torch.Tensor] = {}

    def on_train_start(self) -> None:
        super().on_train_start()
        saliency = forget_saliency(
            self.model,
            self.trainer.datamodule.eval_dataloader("forget"),
            self.device,
            loss=self.task.loss,
        )
        self.masks = top_fraction_masks(saliency, self.gamma)

    def on_after_backward(self) -> None:
        for name, p in self.model.named_parameters():
            mask = self.masks.get(name)
            if p.grad is not None and mask is not None:
                p.grad.masked_fill_(~mask, 0.0)
