"""OMP: one-shot magnitude pruning, then a sparse fine-tune on the retain set."""

from __future__ import annotations

import time

import torch

from .prune_regrow import RetainSGDRepair
from .pruning import apply_prune_masks_, global_l1_prune_
from .registry import register_method

__all__ = ["OneShotMagnitudePruning"]


@register_method("omp")
class OneShotMagnitudePruning(RetainSGDRepair):
    """OMP baseline: global L1 pruning at a fixed sparsity, masks kept while fine-tuning.

    Jia et al., "Model Sparsity Can Simplify Machine Unlearning" (NeurIPS 2023), as the
    baseline of the prune-and-regrow paper: prune ``round(sparsity * n)`` of all weights and
    biases by magnitude (95 % there), then fine-tune on the retain set with SGD + momentum.
    The mask is re-applied after every optimiser step, so pruned entries are exactly zero
    throughout and after training (the model stays a dense tensor with zeros).

    Args:
        model: the trained original (changed in place).
        lr: fine-tune learning rate.
        epochs: fine-tune epochs over the retain set.
        weight_decay: SGD weight decay.
        momentum: SGD momentum.
        sparsity: fraction of all parameters pruned.

    Attributes (set in ``on_train_start``):
        masks: per-parameter prune masks (``True`` = pruned).
        n_pruned: number of pruned entries.
        impair_seconds: wall time of the pruning step.
    """

    def __init__(self, model, *, sparsity: float = 0.95, **shared):
        super().__init__(model, **shared)
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1) (0.95 in the paper), got {sparsity}")
        self.sparsity = sparsity
        self.masks: dict[str, torch.Tensor] | None = None
        self.n_pruned: int | None = None
        self.impair_seconds: float | None = None

    def prune(self) -> None:
        """Prune the model and keep the masks (the impair step)."""
        start = time.perf_counter()
        self.masks = global_l1_prune_(self.model, self.sparsity)
        self.n_pruned = sum(int(m.sum()) for m in self.masks.values())
        self.impair_seconds = time.perf_counter() - start

    def on_train_start(self) -> None:
        self.prune()

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        if self.masks is not None:
            apply_prune_masks_(self.model, self.masks)
