"""Loss-based membership inference attack (MIA) of UnSLU-BENCH.

The attack asks whether the per-sample loss of a model tells the forget set (trained on,
"members") from the test set (never trained on, "non-members"). After a good unlearning
run the answer should be "no better than chance": an attack accuracy near 0.5, close to
that of the gold model retrained without the forget set.

Reference: Koudounas et al., "Alexa, can you forget me? Machine Unlearning Benchmark in
Spoken Language Understanding", Interspeech 2025 (arXiv 2505.15700).

A second attack, :func:`svc_mia`, follows SalUn (Fan et al., "SalUn: Empowering Machine
Unlearning via Gradient-based Weight Saliency", ICLR 2024) and its predecessor (Jia et al.,
"Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023), after Song & Mittal
("Systematic Evaluation of Privacy Risks of Machine Learning Models", USENIX Security 2021):
an RBF support-vector classifier learns member (retain) vs non-member (test) from one
feature of the model's output, then labels the forget set; *MIA-Efficacy* is the fraction
of forget samples it calls non-members. Both attacks take arrays (losses or probabilities),
so classification, CTC and TTS losses use them alike (:func:`svc_mia_from_losses`).
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
from sklearn.svm import SVC

__all__ = [
    "MIAResult",
    "SVCMIAResult",
    "confidence_features",
    "loss_mia",
    "mia_auc",
    "svc_attack",
    "svc_mia",
    "svc_mia_from_losses",
]


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


# --------------------------------------------------------------------------- SalUn SVC attack

#: Feature names of :func:`confidence_features`, in SalUn's order.
SVC_FEATURES = ("correctness", "confidence", "entropy", "m_entropy", "prob")


def _probs_labels(probs: Any, labels: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().cpu().numpy()
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{name} probabilities must have shape (N, C) with C >= 2, got {p.shape}")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} labels must be integer class ids of shape ({p.shape[0]},)")
    if ((y < 0) | (y >= p.shape[1])).any():
        raise ValueError(f"{name} labels must lie in 0..{p.shape[1] - 1}")
    if not np.isfinite(p).all() or (p < 0).any() or np.abs(p.sum(1) - 1).max() > 1e-4:
        raise ValueError(
            f"{name} probabilities must be finite, non-negative rows summing to 1; pass "
            "logits.softmax(-1), not logits"
        )
    return p, y.astype(np.int64)


def confidence_features(probs: Any, labels: Any) -> dict[str, np.ndarray]:
    """Per-sample attack features of a classifier's output (SalUn / Song & Mittal 2021).

    Args:
        probs: Softmax probabilities, shape ``(N, C)``.
        labels: True class ids, shape ``(N,)``.

    Returns:
        ``{"correctness": 1 if argmax == label, "confidence": p_y, "entropy":
        -sum_i p_i ln p_i, "m_entropy": Song & Mittal's modified entropy
        -(1 - p_y) ln p_y - sum_{i != y} p_i ln(1 - p_i), "prob": the full vector}``; scalar
        features have shape ``(N, 1)``, ``prob`` ``(N, C)``. Logs are clipped at 1e-30.
        (SalUn's code computes the modified entropy with a broadcasting bug; this is the
        formula of the paper.)
    """
    p, y = _probs_labels(probs, labels, "probs")
    rows = np.arange(p.shape[0])
    p_y = p[rows, y]
    log_p = np.log(np.clip(p, 1e-30, None))
    log_1mp = np.log(np.clip(1.0 - p, 1e-30, None))
    entropy = -(p * log_p).sum(1)
    other = p * log_1mp
    other[rows, y] = 0.0
    m_entropy = -(1.0 - p_y) * log_p[rows, y] - other.sum(1)
    return {
        "correctness": (p.argmax(1) == y).astype(np.float64)[:, None],
        "confidence": p_y[:, None],
        "entropy": entropy[:, None],
        "m_entropy": m_entropy[:, None],
        "prob": p,
    }


def _features(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be (N,) or (N, F) features with N >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf")
    return x


def svc_attack(
    member_features: Any,
    nonmember_features: Any,
    target_features: Any,
    *,
    balance: bool = True,
    c: float = 3.0,
    seed: int = 0,
) -> float:
    """Fit SalUn's SVC (RBF kernel, ``C=3``, ``gamma="auto"``) on members (label 1) vs
    non-members (label 0), then return the fraction of ``target_features`` it labels
    *members*.

    Args:
        member_features: Shadow members (SalUn: retain), ``(N_m,)`` or ``(N_m, F)``.
        nonmember_features: Shadow non-members (SalUn: test), same feature width.
        target_features: Samples to classify (SalUn: forget).
        balance: Subsample the larger shadow side, without replacement, to the smaller
            side's size (SalUn uses as many retain samples as test samples).
        c: SVC regularisation.
        seed: Seed of the subsampling.

    Returns:
        Member rate of the targets in ``[0, 1]``.
    """
    members = _features(member_features, "member_features")
    nonmembers = _features(nonmember_features, "nonmember_features")
    targets = _features(target_features, "target_features")
    if not members.shape[1] == nonmembers.shape[1] == targets.shape[1]:
        raise ValueError(
            f"feature widths differ: members {members.shape[1]}, non-members "
            f"{nonmembers.shape[1]}, targets {targets.shape[1]}"
        )
    if balance:
        rng = np.random.default_rng(seed)
        n = min(len(members), len(nonmembers))
        if len(members) > n:
            members = members[np.sort(rng.choice(len(members), size=n, replace=False))]
        if len(nonmembers) > n:
            nonmembers = nonmembers[np.sort(rng.choice(len(nonmembers), size=n, replace=False))]
    x = np.concatenate([members, nonmembers])
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    if np.unique(x, axis=0).shape[0] == 1:
        # every shadow sample looks the same: no membership signal to learn
        return float(np.mean(y))
    clf = SVC(C=c, gamma="auto", kernel="rbf")
    clf.fit(x, y)
    return float(clf.predict(targets).mean())


@dataclass(frozen=True)
class SVCMIAResult:
    """Outcome of :func:`svc_mia` / :func:`svc_mia_from_losses`.

    Attributes:
        efficacy: ``{feature: fraction of forget samples labelled non-member}`` (SalUn's
            MIA-Efficacy; SalUn reports ``"confidence"``). Higher = forget looks unseen.
        n_shadow_per_class: Shadow samples per side after balancing.
        n_target: Number of forget samples attacked.
    """

    efficacy: dict[str, float]
    n_shadow_per_class: int
    n_target: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficacy": dict(self.efficacy),
            "n_shadow_per_class": self.n_shadow_per_class,
            "n_target": self.n_target,
            "attack": "SVC(rbf, C=3, gamma=auto), retain=member, test=non-member",
        }


def svc_mia(
    retain_probs: Any,
    retain_labels: Any,
    test_probs: Any,
    test_labels: Any,
    forget_probs: Any,
    forget_labels: Any,
    *,
    features: tuple[str, ...] = SVC_FEATURES,
    seed: int = 0,
) -> SVCMIAResult:
    """SalUn's MIA-Efficacy: one SVC attack per feature, trained on retain (member) vs
    test (non-member), applied to forget.

    Args:
        retain_probs: ``(N_r, C)`` probabilities on retain; ``retain_labels`` ``(N_r,)``.
        test_probs: ``(N_t, C)`` on test; ``test_labels`` ``(N_t,)``.
        forget_probs: ``(N_f, C)`` on forget; ``forget_labels`` ``(N_f,)``.
        features: Subset of ``("correctness", "confidence", "entropy", "m_entropy",
            "prob")``.
        seed: Seed of the retain/test balancing (SalUn takes the first ``N_t`` retain
            samples; here a seeded random subset of the larger side).

    Returns:
        ``SVCMIAResult`` with ``efficacy[f] = 1 - member rate of forget`` per feature.
    """
    unknown = [f for f in features if f not in SVC_FEATURES]
    if unknown or not features:
        raise ValueError(f"features must be a non-empty subset of {SVC_FEATURES}, got {features}")
    retain = confidence_features(retain_probs, retain_labels)
    test = confidence_features(test_probs, test_labels)
    forget = confidence_features(forget_probs, forget_labels)
    widths = {retain["prob"].shape[1], test["prob"].shape[1], forget["prob"].shape[1]}
    if len(widths) != 1:
        raise ValueError(f"retain, test and forget have different class counts: {sorted(widths)}")
    efficacy = {f: 1.0 - svc_attack(retain[f], test[f], forget[f], seed=seed) for f in features}
    n_shadow = min(len(retain["prob"]), len(test["prob"]))
    return SVCMIAResult(efficacy, n_shadow, len(forget["prob"]))


def svc_mia_from_losses(
    retain_losses: Any,
    test_losses: Any,
    forget_losses: Any,
    *,
    feature: str = "confidence",
    seed: int = 0,
) -> SVCMIAResult:
    """The SVC attack on per-sample losses, for tasks without class probabilities (CTC,
    TTS flow-matching loss, ...).

    ``feature="confidence"`` uses ``exp(-loss)``: for cross-entropy this *is* SalUn's
    confidence ``p_y``, so the result equals :func:`svc_mia` on that feature. Use
    per-token / per-frame mean losses (a summed CTC loss makes ``exp(-loss)`` underflow to
    0 for every sample). ``feature="loss"`` feeds the raw loss.

    Returns:
        ``SVCMIAResult`` with the single entry ``efficacy[feature]``.
    """
    if feature not in ("confidence", "loss"):
        raise ValueError(f"feature must be 'confidence' (exp(-loss)) or 'loss', got {feature!r}")
    sides = [
        _losses(retain_losses, "retain_losses"),
        _losses(test_losses, "test_losses"),
        _losses(forget_losses, "forget_losses"),
    ]
    if feature == "confidence":
        sides = [np.exp(-s) for s in sides]
    rate = svc_attack(sides[0], sides[1], sides[2], seed=seed)
    return SVCMIAResult({feature: 1.0 - rate}, min(sides[0].size, sides[1].size), sides[2].size)
