"""Pruning building blocks for prune-and-regrow and OMP: pure functions, no Lightning.

Prune-and-regrow ("Machine Unlearning in Audio: Bridging the Modality Gap via the Prune and
Regrow Paradigm", 2025) chooses a sparsity from the weights alone with the cosine-similarity
curve of "What Makes a Good Prune? Maximal Unstructured Pruning for Maximal Cosine
Similarity" (Mason-Williams & Dahlqvist, ICLR 2024), prunes globally by magnitude, and
regrows every pruned entry from a fresh initialisation before a repair fine-tune.

Conventions:
    * "All parameters" means every entry of ``model.parameters()`` (weights and biases of
      every layer, normalisation affine parameters included; buffers such as BatchNorm
      running statistics are not parameters and are never pruned), in
      ``named_parameters()`` order.
    * A *prune mask* is a boolean tensor that is ``True`` where an entry is pruned. Masks
      of a model are a ``dict`` from parameter name to a mask of that parameter's shape.
    * Pruning ``p`` of ``n`` entries removes ``round(p * n)`` of them (as
      ``torch.nn.utils.prune`` does).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .base import reinitialise_

__all__ = [
    "REGROW_POLICIES",
    "SELECTORS",
    "SPARSITY_RULES",
    "Batches",
    "apply_prune_masks_",
    "cosine_curve",
    "flatten_params",
    "global_l1_prune_",
    "magnitude_scores",
    "n_to_prune",
    "prune_mask",
    "regrow_",
    "salun_scores",
    "select_sparsity",
    "ssd_scores",
    "top_fraction_mask",
    "unflatten_mask",
]

Batches = Iterable[tuple[torch.Tensor, ...]]
#: ``loss(model, batch) -> scalar``: the batch loss gradients are taken of
BatchLoss = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
"""Any iterable of ``(inputs, targets)`` batches, e.g. a ``DataLoader``."""

SPARSITY_RULES = ("opt", "orth", "pop")
SELECTORS = ("magnitude", "salun", "ssd")
REGROW_POLICIES = ("reinit", "zero", "rewind")


# ---------------------------------------------------------------------------------------
# flat views of a model's parameters
# ---------------------------------------------------------------------------------------


def flatten_params(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` (weights and biases) as one detached 1-D tensor.

    Returns:
        ``(n,)`` with ``n = sum(p.numel() for p in model.parameters())``, in
        ``named_parameters()`` order.
    """
    params = [p.detach().reshape(-1) for p in model.parameters()]
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameters to prune")
    return torch.cat(params)


def unflatten_mask(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split a flat ``(n,)`` mask (order of :func:`flatten_params`) into per-parameter masks."""
    named = list(model.named_parameters())
    n = sum(p.numel() for _, p in named)
    if flat.numel() != n:
        raise ValueError(f"flat mask has {flat.numel()} entries, the model has {n} parameters")
    out, start = {}, 0
    for name, p in named:
        mask = flat[start : start + p.numel()].reshape(p.shape).to(p.device)
        if _is_weight_norm_direction(model, name):
            # A weight-norm layer (wav2vec2's positional convolution) computes
            # w = g * v / ||v||: zeroing a whole slice of v divides by zero (NaN). The
            # direction v is not a weight of its own, so it is never pruned.
            mask = torch.zeros_like(mask)
        out[name] = mask
        start += p.numel()
    return out


def _is_weight_norm_direction(model: nn.Module, name: str) -> bool:
    """True for the ``v`` tensor of a ``torch.nn.utils.parametrizations.weight_norm``."""
    if not name.endswith(".original1") or ".parametrizations." not in name:
        return False
    owner_name, _, rest = name.partition(".parametrizations.")
    owner = model.get_submodule(owner_name) if owner_name else model
    plist = owner.parametrizations[rest.split(".")[0]]
    return any(type(m).__name__ == "_WeightNorm" for m in plist)


def n_to_prune(n: int, p: float) -> int:
    """How many of ``n`` entries pruning fraction ``p`` removes: ``round(p * n)``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {p}")
    return round(p * n)


# ---------------------------------------------------------------------------------------
# choosing the sparsity: the cosine-similarity curve
# ---------------------------------------------------------------------------------------


def cosine_curve(weights: torch.Tensor, steps: int = 101) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity between ``weights`` and its magnitude-pruned copies.

    For each sparsity ``p`` in ``linspace(0, 1, steps)`` the ``round(p * n)`` entries of
    smallest ``|w|`` are zeroed and ``cs(p) = cos(w_pruned, w)`` recorded (Mason-Williams &
    Dahlqvist, ICLR 2024, section 4). Since the pruned vector is ``w`` restricted to the
    kept entries, ``cos = ||w_kept|| / ||w||``: one sort of ``w**2`` and a suffix sum give
    every point without building a pruned copy. ``cs(1) = 0`` (nothing kept).

    Args:
        weights: any shape; flattened.
        steps: number of sparsities (101 gives 0 %, 1 %, ..., 100 %).

    Returns:
        ``(p, cs)``, both ``(steps,)`` float64.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    w2 = weights.detach().reshape(-1).double().square()
    n = w2.numel()
    if n == 0:
        raise ValueError("cosine_curve needs at least one weight")
    w2, _ = torch.sort(w2)
    # kept[k] = energy of the n - k largest entries (k pruned); kept[n] = 0
    kept = torch.cat([torch.flip(torch.cumsum(torch.flip(w2, (0,)), 0), (0,)), w2.new_zeros(1)])
    total = kept[0]
    if total <= 0:
        raise ValueError("all weights are zero: the cosine similarity is undefined")
    p = torch.linspace(0.0, 1.0, steps, dtype=torch.float64, device=w2.device)
    k = torch.round(p * n).long()
    cs = torch.sqrt(kept[k] / total)
    return p, cs


def select_sparsity(p: torch.Tensor, cs: torch.Tensor, rule: str) -> float:
    """Pick a sparsity on the cosine curve.

    Points are ``(x, y) = (p, cs(p))`` with ``p`` the pruned fraction in ``[0, 1]`` and
    ``cs`` the cosine similarity (both axes on the unit scale, as in the prune-and-regrow
    reference):

    * ``"opt"`` (the "Cosine" method): the point closest to ``(1, 1)``, i.e. as much pruning
      and as much similarity as possible at once;
    * ``"orth"``: the point farthest from ``(0, 0)``;
    * ``"pop"``: the point farthest from ``(-1, 0)``.

    The three are distinct selectors (the reference code never calls POP and runs Orth
    twice). Ties go to the smallest ``p``.

    Returns:
        the chosen sparsity as a Python float.
    """
    if p.shape != cs.shape or p.ndim != 1 or p.numel() == 0:
        raise ValueError(f"p and cs must be equal-length 1-D tensors, got {p.shape}, {cs.shape}")
    p, cs = p.double(), cs.double()
    if rule == "opt":
        score = -((p - 1.0).square() + (cs - 1.0).square())
    elif rule == "orth":
        score = p.square() + cs.square()
    elif rule == "pop":
        score = (p + 1.0).square() + cs.square()
    else:
        raise ValueError(f"unknown sparsity rule {rule!r}; use one of {SPARSITY_RULES}")
    return float(p[int(torch.argmax(score))])  # argmax returns the first maximum


# ---------------------------------------------------------------------------------------
# choosing WHAT to prune: scores, higher = pruned first
# ---------------------------------------------------------------------------------------


def top_fraction_mask(scores: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask of the ``round(p * n)`` highest ``scores`` (ties: lowest index first)."""
    flat = scores.reshape(-1)
    k = n_to_prune(flat.numel(), p)
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k:
        order = torch.argsort(flat, descending=True, stable=True)
        mask[order[:k]] = True
    return mask.reshape(scores.shape)


def magnitude_scores(model: nn.Module) -> torch.Tensor:
    """Prune score of global L1 (magnitude) pruning: ``-|w|``, so the smallest go first."""
    return -flatten_params(model).abs()


def _flat_grads(model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).detach().reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


def cross_entropy_loss(model: nn.Module, batch) -> torch.Tensor:
    """The default batch loss of the selectors: mean cross-entropy of ``(inputs, targets)``
    (:meth:`audio_unlearn.tasks.ClassificationTask.loss`); methods pass their task's."""
    return F.cross_entropy(model(batch[0]), batch[1])


def _batch_grads(model: nn.Module, batches: Batches, loss: BatchLoss) -> Iterable[torch.Tensor]:
    """Per-batch flat gradients of the batch loss (mean cross-entropy by default), in eval
    mode (BatchNorm running statistics are not updated); the model's train/eval mode is
    restored afterwards."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for batch in batches:
                batch = tuple(t.to(device) for t in batch)
                yield _flat_grads(model, loss(model, batch))
    finally:
        model.train(was_training)


def salun_scores(
    model: nn.Module, forget: Batches, *, loss: BatchLoss = cross_entropy_loss
) -> torch.Tensor:
    """SalUn weight saliency ``|sum over forget batches of grad(-loss)|`` (Fan et al., ICLR
    2024, eq. 5, with the cross-entropy or the task's loss), flat; the most salient entries
    are pruned first."""
    total = None
    for g in _batch_grads(model, forget, loss):
        total = -g if total is None else total - g
    if total is None:
        raise ValueError("the forget set is empty: SalUn saliency needs at least one batch")
    return total.abs()


def ssd_scores(
    model: nn.Module,
    forget: Batches,
    train: Batches,
    *,
    eps: float = 1e-12,
    loss: BatchLoss = cross_entropy_loss,
) -> torch.Tensor:
    """SSD importance ratio ``I_F / I_D`` (Foster et al., AAAI 2024), flat.

    ``I_F`` and ``I_D`` are the mean over batches of the squared gradient of the
    cross-entropy on the forget set and on the full training set; entries most specific to
    the forget set (highest ratio) are pruned first. ``eps`` guards ``I_D = 0``.
    """

    def mean_sq(batches: Batches, name: str) -> torch.Tensor:
        total, count = None, 0
        for g in _batch_grads(model, batches, loss):
            total = g.square() if total is None else total + g.square()
            count += 1
        if total is None:
            raise ValueError(f"the {name} set is empty: SSD importance needs at least one batch")
        return total / count

    return mean_sq(forget, "forget") / (mean_sq(train, "train") + eps)


def prune_mask(
    model: nn.Module,
    p: float,
    selector: str = "magnitude",
    *,
    forget: Batches | None = None,
    train: Batches | None = None,
    loss: BatchLoss = cross_entropy_loss,
) -> dict[str, torch.Tensor]:
    """Per-parameter prune masks with ``round(p * n)`` entries selected globally.

    Args:
        model: the model to score.
        p: fraction of all parameters to prune.
        selector: ``"magnitude"`` (smallest ``|w|``; the paper; uses no data),
            ``"salun"`` (highest forget-gradient saliency; needs ``forget``) or ``"ssd"``
            (highest forget/train importance ratio; needs ``forget`` and ``train``).
        forget, train: batches (``(inputs, targets)`` for classification).
        loss: ``loss(model, batch) -> scalar`` of the data-based selectors (default: mean
            cross-entropy; a method passes its task's loss).
    """
    if selector == "magnitude":
        scores = magnitude_scores(model)
    elif selector == "salun":
        if forget is None:
            raise ValueError("selector 'salun' needs the forget batches (forget=...)")
        scores = salun_scores(model, forget, loss=loss)
    elif selector == "ssd":
        if forget is None or train is None:
            raise ValueError("selector 'ssd' needs the forget and train batches")
        scores = ssd_scores(model, forget, train, loss=loss)
    else:
        raise ValueError(f"unknown selector {selector!r}; use one of {SELECTORS}")
    return unflatten_mask(model, top_fraction_mask(scores, p))


@torch.no_grad()
def apply_prune_masks_(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> int:
    """Zero the masked entries of ``model`` in place; returns how many entries are masked."""
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ValueError(f"masks name parameters the model does not have: {unknown[:5]}")
    n = 0
    for name, mask in masks.items():
        params[name].masked_fill_(mask, 0.0)
        n += int(mask.sum())
    return n


def global_l1_prune_(model: nn.Module, p: float) -> dict[str, torch.Tensor]:
    """Global unstructured magnitude (L1) pruning of all weights and biases, made permanent.

    Zeroes the ``round(p * n)`` entries of smallest ``|w|`` over the whole model (the
    mask ``torch.nn.utils.prune.global_unstructured(..., L1Unstructured)`` computes, without
    the reparametrisation). Returns the prune masks (``True`` = pruned).
    """
    masks = prune_mask(model, p, "magnitude")
    apply_prune_masks_(model, masks)
    return masks


# ---------------------------------------------------------------------------------------
# regrowing
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def regrow_(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor],
    policy: str = "reinit",
    fresh: nn.Module | None = None,
    rewind_state: Mapping[str, torch.Tensor] | None = None,
    *,
    seed: int | None = None,
) -> nn.Module:
    """Give every pruned entry a new value; nothing that was not pruned changes.

    Policies:
        * ``"reinit"`` (the paper): the same entry of ``fresh``, a freshly initialised model
          of the same architecture; when ``fresh`` is None it is
          ``reinitialise_(copy.deepcopy(model), seed)``.
        * ``"zero"``: pruned entries stay zero (the model stays dense).
        * ``"rewind"``: the same entry of ``rewind_state``, a ``state_dict`` saved early in
          training (keys as in ``model.named_parameters()``).

    Args:
        model: the pruned model, changed in place.
        masks: prune masks (``True`` = pruned), as returned by :func:`prune_mask`.
        policy: one of :data:`REGROW_POLICIES`.
        fresh: source model for ``"reinit"``.
        rewind_state: source weights for ``"rewind"``.
        seed: seed of the fresh draw when ``fresh`` is None.

    Returns:
        ``model``.
    """
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ValueError(f"masks name parameters the model does not have: {unknown[:5]}")
    sources: Mapping[str, torch.Tensor]
    if policy == "zero":
        sources = {name: torch.zeros_like(params[name]) for name in masks}
    elif policy == "reinit":
        if fresh is None:
            fresh = reinitialise_(copy.deepcopy(model), seed=seed)
        sources = dict(fresh.named_parameters())
    elif policy == "rewind":
        if rewind_state is None:
            raise ValueError("regrow policy 'rewind' needs rewind_state (an early state_dict)")
        sources = rewind_state
    else:
        raise ValueError(f"unknown regrow policy {policy!r}; use one of {REGROW_POLICIES}")
    missing = sorted(set(masks) - set(sources))
    if missing:
        raise ValueError(
            f"the {policy!r} regrow source lacks parameters {missing[:5]}; is it this model's?"
        )
    for name, mask in masks.items():
        target, value = params[name], sources[name]
        if value.shape != target.shape:
            raise ValueError(
                f"regrow source for {name!r} has shape {tuple(value.shape)}, "
                f"the model has {tuple(target.shape)}"
            )
        target.copy_(torch.where(mask, value.to(target.device, target.dtype), target))
    return model
