"""Loss-based membership inference attack (MIA) of UnSLU-BENCH.

The attack asks whether the per-sample loss of a model tells the forget set (trained on,
"members") from the test set (never trained on, "non-members"). After a good unlearning
run the answer should be "no better than chance": an attack accuracy near 0.5, close to
that of the gold model retrained without the forget set.

Reference: Koudounas et al., "Alexa, can you forget me? Machine Unlearning Benchmark in
Spoken Language Understanding", Interspeech 2025 (arXiv 2505.15700).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

__all__ = ["MIAResult", "loss_mia", "mia_auc"]


@dataclass(frozen=True)
class MIAResult:
    """Outcome of :func:`loss_mia`.

    Attributes:
        accuracy: Attack accuracy averaged over the splits (0.5 = no membership signal).
        std: Standard deviation of the per-split accuracies.
        n_per_class: Samples per side after balancing (the smaller side's size).
        n_splits: Number of shuffle-splits averaged.
    """

    accuracy: float
    std: float
    n_per_class: int
    n_splits: int


def _losses(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric losses: {err}") from err
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one loss per sample), got {tuple(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; need one loss per sample")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} holds {int(bad.sum())} non-finite value(s) (NaN/inf) at index "
            f"{int(np.flatnonzero(bad)[0])}; losses must be finite"
        )
    return array


def _split_sizes(n_per_class: int, test_size: float) -> tuple[int, int]:
    """Train/test sizes that StratifiedShuffleSplit uses for ``2 * n_per_class`` samples."""
    n_total = 2 * n_per_class
    n_test = math.ceil(test_size * n_total)
    return n_total - n_test, n_test


def _min_per_class(test_size: float) -> int:
    """Smallest per-side size for which both split parts hold at least one sample per class."""
    n = 2
    while True:
        n_train, n_test = _split_sizes(n, test_size)
        if n_train >= 2 and n_test >= 2:
            return n
        n += 1


def loss_mia(
    member_losses: Any,
    nonmember_losses: Any,
    *,
    n_splits: int = 10,
    test_size: float = 0.1,
    seed: int = 0,
) -> MIAResult:
    """UnSLU-BENCH loss attack: logistic regression on the per-sample loss.

    Members (forget set, label 1) and non-members (test set, label 0) are balanced by
    subsampling the larger side, without replacement, to the size of the smaller (seeded by
    ``seed``). A logistic regression on the 1-D loss feature is fitted and scored by
    accuracy on ``n_splits`` stratified shuffle-splits (``test_size`` held out, seeded by
    ``seed``); the mean and standard deviation of those accuracies are returned.

    Args:
        member_losses: Per-sample losses of the forget set, shape ``(N_f,)``.
        nonmember_losses: Per-sample losses of the test set, shape ``(N_t,)``.
        n_splits: Number of shuffle-splits.
        test_size: Held-out fraction of each split, in ``(0, 1)``.
        seed: Seed for the subsampling and the splits (same seed, same result).

    Returns:
        The attack accuracy (0.5 = no membership signal) with its spread.

    Raises:
        ValueError: If a side is empty, holds NaN/inf, or is too small for a split with at
            least one sample of each class on both parts, or if ``n_splits``/``test_size``
            are out of range.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if not (isinstance(test_size, float | int) and 0.0 < float(test_size) < 1.0):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    test_size = float(test_size)
    members = _losses(member_losses, "member_losses")
    nonmembers = _losses(nonmember_losses, "nonmember_losses")
    n_per_class = min(members.size, nonmembers.size)
    needed = _min_per_class(test_size)
    if n_per_class < needed:
        raise ValueError(
            f"too few samples for the attack: {members.size} member and {nonmembers.size} "
            f"non-member losses given; with test_size={test_size} each side needs at least "
            f"{needed} so both parts of every split hold both classes"
        )

    rng = np.random.default_rng(seed)
    if members.size > n_per_class:
        members = rng.choice(members, size=n_per_class, replace=False)
    if nonmembers.size > n_per_class:
        nonmembers = rng.choice(nonmembers, size=n_per_class, replace=False)
    features = np.concatenate([members, nonmembers])[:, None]
    labels = np.concatenate([np.ones(n_per_class, np.int64), np.zeros(n_per_class, np.int64)])

    splitter = StratifiedShuffleSplit(
        n_splits=int(n_splits), test_size=test_size, random_state=seed
    )
    scores = np.empty(int(n_splits))
    for i, (train_idx, test_idx) in enumerate(splitter.split(features, labels)):
        attack = LogisticRegression()
        attack.fit(features[train_idx], labels[train_idx])
        scores[i] = attack.score(features[test_idx], labels[test_idx])
    return MIAResult(
        accuracy=float(scores.mean()),
        std=float(scores.std()),
        n_per_class=int(n_per_class),
        n_splits=int(n_splits),
    )


def mia_auc(member_losses: Any, nonmember_losses: Any) -> float:
    """Threshold-free companion of :func:`loss_mia`: ROC AUC of ``-loss`` as member score.

    A lower loss is taken as evidence of membership. All samples are used (the AUC does not
    depend on class balance). 0.5 = no signal; above 0.5, members have lower losses.

    Args:
        member_losses: Per-sample losses of the forget set, shape ``(N_f,)``.
        nonmember_losses: Per-sample losses of the test set, shape ``(N_t,)``.

    Returns:
        ROC AUC in ``[0, 1]``.

    Raises:
        ValueError: If a side is empty or holds NaN/inf.
    """
    members = _losses(member_losses, "member_losses")
    nonmembers = _losses(nonmember_losses, "nonmember_losses")
    scores = -np.concatenate([members, nonmembers])
    labels = np.concatenate([np.ones(members.size), np.zeros(nonmembers.size)])
    return float(roc_auc_score(labels, scores))
