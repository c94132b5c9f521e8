"""Selective Synaptic Dampening (SSD): training-free unlearning by dampening the weights
far more important to the forget set than to the training data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from .base import UnlearningModule
from .pruning import BatchLoss, cross_entropy_loss
from .registry import register_method

if TYPE_CHECKING:
    from ..data.datamodule import UnlearningDataModule

__all__ = ["SelectiveSynapticDampening", "dampening_factors", "mean_squared_gradients"]


def mean_squared_gradients(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, ...]],
    device=None,
    *,
    loss: BatchLoss = cross_entropy_loss,
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher importance as SSD computes it: squared batch gradients, averaged.

    For each batch the gradient of the batch's *mean* loss (cross-entropy, or the task's
    loss) is squared element-wise;
    the result is the average of these over batches, ``I = (1/K) sum_k (grad L_k)^2``
    (Foster et al., AAAI 2024, and their reference code). This is not the per-sample
    Fisher ``(1/N) sum_i (grad l_i)^2``: it depends on the batch size (larger batches
    average out more of the per-sample gradient noise). The model runs in eval mode and is
    put back in its previous mode; existing ``.grad`` values are cleared.

    Args:
        model: the model.
        batches: batches of the task (``(waveforms (B, T), targets (B,))`` pairs for
            classification).
        device: where to run; the model's own device if ``None``.
        loss: ``loss(model, batch) -> scalar`` (default: mean cross-entropy).

    Returns:
        ``{parameter name: importance}`` for every parameter that requires grad.

    Raises:
        ValueError: ``batches`` is empty.
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    device = device if device is not None else next(model.parameters()).device
    importance = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    n_batches = 0
    try:
        for batch in batches:
            model.zero_grad(set_to_none=True)
            loss(model, tuple(t.to(device) for t in batch)).backward()
            for n, p in params.items():
                if p.grad is not None:
                    importance[n] += p.grad.detach() ** 2
            n_batches += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if n_batches == 0:
        raise ValueError("ssd: no batches to compute importance from (empty data set)")
    return {n: imp / n_batches for n, imp in importance.items()}


def dampening_factors(
    importance_full: torch.Tensor,
    importance_forget: torch.Tensor,
    *,
    alpha: float = 10.0,
    dampening_constant: float = 1.0,
) -> torch.Tensor:
    """SSD's multiplicative update for one parameter tensor.

    Foster, Schoepf and Brintrup, "Fast Machine Unlearning Without Retraining Through
    Selective Synaptic Dampening" (AAAI 2024), eq. 3-4: an entry is selected when
    ``I_F > alpha * I_D`` and scaled by ``beta = min(lambda * I_D / I_F, 1)``; every other
    entry keeps factor 1.

    Args:
        importance_full: ``I_D`` on the full training data.
        importance_forget: ``I_F`` on the forget set, same shape.
        alpha: selection weighting (how much more important to the forget set).
        dampening_constant: lambda.

    Returns:
        Factors in ``[0, 1]`` shaped like the inputs (multiply the parameter by them).
    """
    factors = torch.ones_like(importance_forget)
    selected = importance_forget > alpha * importance_full  # implies I_F > 0: no 0/0
    beta = dampening_constant * importance_full[selected] / importance_forget[selected]
    factors[selected] = beta.clamp(max=1.0)
    return factors


@register_method("ssd")
class SelectiveSynapticDampening(UnlearningModule):
    """SSD: scale down the parameters that matter far more to the forget set.

    Foster, Schoepf and Brintrup, "Fast Machine Unlearning Without Retraining Through
    Selective Synaptic Dampening" (AAAI 2024). Training-free: :meth:`apply` computes the
    importances ``I_D`` (full training set, forget + retain, the datamodule's "train"
    loader) and ``I_F`` (forget set) with :func:`mean_squared_gradients` (squared
    mean-batch gradients averaged over batches, as the paper's code does, with the
    datamodule's batch size, or ``importance_batch_size``), then multiplies every parameter
    in place by :func:`dampening_factors`: ``theta <- theta * min(lambda * I_D / I_F, 1)``
    where ``I_F > alpha * I_D``.

    The batch size of the importance estimate matters. With per-sample importances
    (``importance_batch_size=1``, the diagonal Fisher), a weight that only the forget set
    uses has ``I_F / I_D = N / N_F`` (training set over forget set size: 6 when one class of
    six is forgotten), while weights shared by all classes sit near 1, so any alpha between
    those levels selects the same weights. With batch-mean importances of a model trained
    to near-zero loss, ``I_D`` is mostly the residue of a train-set gradient that cancels
    across each batch, and the ratios spread continuously: which weights cross alpha then
    moves with the seed and even with the CPU's summation order (measured in
    ``tests/README.md``: SSD's class-removal case).

    Args:
        model: the trained model (modified in place).
        alpha: selection weighting (the paper's alpha; 10 for its class forgetting).
        dampening_constant: lambda (1 in the paper).
        importance_batch_size: batch size of the importance estimates; ``None`` (default)
            uses the datamodule's, as the paper's code does; 1 gives per-sample (diagonal
            Fisher) importances.

    Raises:
        ValueError: ``alpha``, ``dampening_constant`` or ``importance_batch_size`` not
            positive.
    """

    training_free = True
    uses = ("forget",)
    tasks = ("classification", "asr", "tts")

    def __init__(
        self,
        model,
        *,
        alpha: float = 10.0,
        dampening_constant: float = 1.0,
        importance_batch_size: int | None = None,
    ):
        if alpha <= 0:
            raise ValueError(f"ssd: alpha (selection weighting) must be > 0, got {alpha}")
        if dampening_constant <= 0:
            raise ValueError(f"ssd: dampening_constant must be > 0, got {dampening_constant}")
        if importance_batch_size is not None and importance_batch_size < 1:
            raise ValueError(
                f"ssd: importance_batch_size must be >= 1 (or None), got {importance_batch_size}"
            )
        super().__init__(model)
        self.alpha = alpha
        self.dampening_constant = dampening_constant
        self.importance_batch_size = importance_batch_size
        self.dampened_fraction: float | None = None

    @torch.no_grad()
    def _dampen(
        self, importance_full: dict[str, torch.Tensor], importance_forget: dict[str, torch.Tensor]
    ) -> None:
        dampened = total = 0
        for name, p in self.model.named_parameters():
            if name not in importance_forget:
                continue
            factors = dampening_factors(
                importance_full[name],
                importance_forget[name],
                alpha=self.alpha,
                dampening_constant=self.dampening_constant,
            )
            p.mul_(factors)
            dampened += int((factors < 1).sum())
            total += factors.numel()
        self.dampened_fraction = dampened / max(total, 1)

    def _batches(self, datamodule: UnlearningDataModule, name: str):
        if self.importance_batch_size is None:
            return datamodule.eval_dataloader(name)
        return datamodule.loader(name, shuffle=False, batch_size=self.importance_batch_size)

    def apply(self, datamodule: UnlearningDataModule) -> None:
        device = next(self.model.parameters()).device
        importance_full = mean_squared_gradients(
            self.model, self._batches(datamodule, "train"), device, loss=self.task.loss
        )
        importance_forget = mean_squared_gradients(
            self.model, self._batches(datamodule, "forget"), device, loss=self.task.loss
        )
        self._dampen(importance_full, importance_forget)
