"""Prune-and-regrow: impair by pruning and regrowing the pruned weights, repair on retain."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

import torch

from .base import UnlearningModule
from .pruning import (
    REGROW_POLICIES,
    SELECTORS,
    SPARSITY_RULES,
    Batches,
    apply_prune_masks_,
    cosine_curve,
    flatten_params,
    prune_mask,
    regrow_,
    select_sparsity,
)
from .registry import register_method

__all__ = ["PruneRegrow", "RetainSGDRepair", "load_rewind_state"]


class RetainSGDRepair(UnlearningModule):
    """Shared repair of the pruning methods: the task's loss on the retain set (cross-entropy
    for classification, the per-sample CTC / token loss for ASR), SGD + momentum.

    The repair (fine-tune) phase of prune-and-regrow and of its OMP baseline (Jia et al.,
    NeurIPS 2023): subclasses do their impair step in ``on_train_start``. The reference
    learning rate of this SGD repair is 0.01.

    Args:
        model: the trained original (changed in place).
        momentum: SGD momentum (reference: 0.9).
        lr, epochs, weight_decay: SGD learning rate, epochs over the retain set, SGD weight
            decay.
    """

    uses = ("retain",)
    tasks = ("classification", "asr", "tts")
    shared_defaults: ClassVar[dict[str, object]] = {"lr": 0.01}

    def __init__(self, model, *, momentum: float = 0.9, **shared):
        super().__init__(model, **shared)
        self.momentum = momentum

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.task_loss(batch["retain"])

    def configure_optimizers(self):
        return torch.optim.SGD(
            self.model.parameters(),
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
        )


def load_rewind_state(path: str | os.PathLike, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters saved in ``path`` for ``model``, for the ``"rewind"`` regrow policy.

    Accepts a plain ``state_dict``, an audio-unlearn classifier checkpoint or a Lightning
    checkpoint (a ``"state_dict"`` entry; a ``"model."`` key prefix is removed).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file does not hold every parameter of ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rewind checkpoint {path} not found; save an early state_dict")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"rewind checkpoint {path} holds {type(state).__name__}, not a state_dict")
    names = [n for n, _ in model.named_parameters()]
    if not all(n in state for n in names) and all(f"model.{n}" in state for n in names):
        state = {n: state[f"model.{n}"] for n in names}
    missing = [n for n in names if n not in state]
    if missing:
        raise ValueError(
            f"rewind checkpoint {path} lacks parameters {missing[:5]}; save it from the same "
            "architecture (model.state_dict())"
        )
    return {n: state[n] for n in names}


@register_method("prune_regrow")
class PruneRegrow(RetainSGDRepair):
    """Prune-and-regrow unlearning ("Machine Unlearning in Audio: Bridging the Modality Gap
    via the Prune and Regrow Paradigm", 2025).

    Impair (in ``on_train_start``, timed as :attr:`impair_seconds`):

    1. choose the sparsity ``p`` from the weights alone: the cosine-similarity curve of all
       weights and biases under magnitude pruning, and a point on it picked by
       ``sparsity_rule`` (Mason-Williams & Dahlqvist, ICLR 2024; see
       :func:`~audio_unlearn.methods.pruning.select_sparsity`), or a fixed ``p``;
    2. prune ``round(p * n)`` entries globally, chosen by ``selector``;
    3. regrow every pruned entry by ``regrow`` (the paper: from a fresh initialisation).

    Repair (the training loop): cross-entropy on the retain set with SGD + momentum.

    With the paper's ``selector="magnitude"`` the forget set is never read. ``"salun"``
    (highest forget-gradient saliency) and ``"ssd"`` (highest forget/train importance
    ratio) are extensions that target forget-specific weights; ``"zero"`` and ``"rewind"``
    regrow policies likewise.

    Args:
        model: the trained original (changed in place).
        lr: repair learning rate (reference: 0.01).
        epochs: repair epochs over the retain set.
        weight_decay: SGD weight decay.
        momentum: SGD momentum (reference: 0.9).
        sparsity_rule: ``"opt"`` (the paper's "Cosine" method), ``"orth"``, ``"pop"``, or a
            fixed fraction in ``[0, 1]``.
        selector: what to prune: ``"magnitude"``, ``"salun"`` or ``"ssd"``.
        regrow: ``"reinit"``, ``"zero"`` or ``"rewind"``.
        rewind_checkpoint: a ``state_dict`` file saved early in training (``"rewind"`` only).
        seed: seed of the fresh initialisation used by ``"reinit"``.

    Attributes (set by the impair step):
        chosen_sparsity: the pruned fraction ``p``.
        n_pruned: number of pruned (and regrown) entries.
        impair_seconds: wall time of choosing ``p``, pruning and regrowing.
        sparsity_curve: ``(p, cs)`` of the cosine curve (None for a fixed ``p``).
    """

    def __init__(
        self,
        model,
        *,
        sparsity_rule: str | float = "opt",
        selector: str = "magnitude",
        regrow: str = "reinit",
        rewind_checkpoint: str | None = None,
        seed: int = 0,
        **shared,
    ):
        super().__init__(model, **shared)
        self.sparsity_rule = _check_sparsity_rule(sparsity_rule)
        if selector not in SELECTORS:
            raise ValueError(f"unknown selector {selector!r}; use one of {SELECTORS}")
        if regrow not in REGROW_POLICIES:
            raise ValueError(f"unknown regrow policy {regrow!r}; use one of {REGROW_POLICIES}")
        if regrow == "rewind":
            if rewind_checkpoint is None:
                raise ValueError("regrow='rewind' needs rewind_checkpoint=<early state_dict file>")
            if not Path(rewind_checkpoint).is_file():
                raise FileNotFoundError(f"rewind_checkpoint {rewind_checkpoint} not found")
        elif rewind_checkpoint is not None:
            raise ValueError(
                f"rewind_checkpoint is only read with regrow='rewind' (got regrow={regrow!r})"
            )
        self.selector = selector
        self.regrow = regrow
        self.rewind_checkpoint = rewind_checkpoint
        self.seed = seed
        self.chosen_sparsity: float | None = None
        self.n_pruned: int | None = None
        self.impair_seconds: float | None = None
        self.sparsity_curve: tuple[torch.Tensor, torch.Tensor] | None = None

    def impair(self, *, forget: Batches | None = None, train: Batches | None = None) -> None:
        """Choose the sparsity, prune and regrow (the impair step), timing it.

        Args:
            forget, train: batches for the ``"salun"`` / ``"ssd"`` selectors (unused by
                ``"magnitude"``).
        """
        rewind_state = None
        if self.regrow == "rewind":
            rewind_state = load_rewind_state(self.rewind_checkpoint, self.model)
        start = time.perf_counter()
        if isinstance(self.sparsity_rule, str):
            self.sparsity_curve = cosine_curve(flatten_params(self.model))
            p = select_sparsity(*self.sparsity_curve, self.sparsity_rule)
        else:
            p = self.sparsity_rule
        masks = prune_mask(
            self.model, p, self.selector, forget=forget, train=train, loss=self.task.loss
        )
        self.n_pruned = apply_prune_masks_(self.model, masks)
        regrow_(self.model, masks, self.regrow, rewind_state=rewind_state, seed=self.seed)
        self.chosen_sparsity = p
        self.impair_seconds = time.perf_counter() - start

    def on_train_start(self) -> None:
        dm = self.trainer.datamodule
        forget = dm.eval_dataloader("forget") if self.selector in ("salun", "ssd") else None
        train = dm.eval_dataloader("train") if self.selector == "ssd" else None
        self.impair(forget=forget, train=train)


def _check_sparsity_rule(rule) -> str | float:
    if isinstance(rule, str) and rule in SPARSITY_RULES:
        return rule
    if not isinstance(rule, bool):
        try:
            value = float(rule)
        except (TypeError, ValueError):
            value = None
        if value is not None and 0.0 <= value <= 1.0:
            return value
    raise ValueError(
        f"sparsity_rule must be one of {SPARSITY_RULES} or a fraction in [0, 1], got {rule!r}"
    )
