"""Shadow-model membership attacks on per-sample losses: LiRA, RMIA, U-LiRA, and their
speaker-level aggregation; read at low false-positive rates.

Every function takes per-sample losses (cross-entropy of the true label, per-utterance CTC
or flow-matching loss...) of a *target* model and of *shadow* (reference) models trained by
the same recipe on random halves of the eligible data, so that each sample is IN some
shadows' training data and OUT of the others'. Arrays are ``(n_samples,)`` for the target
and ``(n_shadows, n_samples)`` for the shadows, with a boolean ``(n_shadows, n_samples)``
mask saying which shadow trained on which sample. Larger scores mean "more likely a
member".

- :func:`lira` (Carlini et al., "Membership Inference Attacks From First Principles",
  IEEE S&P 2022). The per-sample statistic is the logit-scaled confidence
  ``phi = log(p / (1 - p))`` with ``p = exp(-loss)`` (:func:`logit_confidence`).
  - *Online*: a Gaussian per sample is fitted to the IN shadows' phi and another to the
    OUT shadows' phi. The score is the log-likelihood ratio
    ``log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out)``.
  - *Offline*: OUT shadows only. The score is the one-sided
    ``log Phi((phi - mu_out) / s_out)``.
  - ``global_variance`` uses one variance per side over all samples (the paper's choice
    with few shadows).
- :func:`rmia` (Zarifzadeh et al., "Low-Cost High-Power Membership Inference Attacks",
  ICML 2024). The per-sample likelihood ratio is ``Pr(x|target) / Pr(x)``, with
  ``Pr(x) = mean over shadows of Pr(x|shadow)`` and ``Pr = exp(-loss)``.
  - Offline: with OUT shadows only, ``Pr(x) = ((1 + a) Pr_out(x) + (1 - a)) / 2``.
  - The score is the fraction of population samples ``z`` with
    ``LR(x) / LR(z) >= gamma``.
- :func:`unlearning_lira` (U-LiRA; Hayes et al., "Inexact Unlearning Needs More Careful
  Evaluations to Avoid a False Sense of Privacy", SaTML 2025). It tells a model
  *unlearned* from one trained with the sample from a model *retrained* without it. The
  online LiRA statistic is computed with "IN" = shadow unlearned models and
  "OUT" = shadow retrained models. A good unlearning leaves the forget samples'
  scores at chance (AUC 0.5, TPR at low FPR equal to the FPR).
- :func:`speaker_scores`: a forget request names a *speaker*, so per-utterance scores are
  aggregated per speaker (mean by default) to ask "was this speaker in training?".
- :func:`roc_summary`: AUC and TPR at fixed false-positive rates (1% and 0.1% by default),
  the numbers this field reports, with the ROC curve for plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import log_ndtr
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "ROCSummary",
    "lira",
    "logit_confidence",
    "rmia",
    "roc_summary",
    "speaker_scores",
    "unlearning_lira",
]

#: smallest standard deviation of a fitted Gaussian (phi units)
MIN_STD = 1e-3


def _array(values: Any, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds non-finite values")
    return a


def _shadows(
    target: Any, shadow_losses: Any, shadow_in: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = _array(target, "target_losses", 1)
    s = _array(shadow_losses, "shadow_losses", 2)
    m = np.asarray(shadow_in, dtype=bool)
    if s.shape[1] != t.shape[0] or m.shape != s.shape:
        raise ValueError(
            f"shadow_losses {s.shape} and shadow_in {m.shape} must be (n_shadows, "
            f"{t.shape[0]}) for {t.shape[0]} target samples"
        )
    return t, s, m


def logit_confidence(losses: Any) -> np.ndarray:
    """``phi = log(p / (1 - p))`` with ``p = exp(-loss)``, computed stably (LiRA's
    statistic: nearly Gaussian across models for one sample)."""
    loss = np.maximum(np.asarray(losses, dtype=np.float64), 1e-12)
    return -loss - np.log(-np.expm1(-loss))


def _fit(phi: np.ndarray, mask: np.ndarray, global_variance: bool) -> tuple[np.ndarray, ...]:
    """Per-sample mean and std of ``phi`` over the shadows where ``mask`` holds."""
    count = mask.sum(axis=0)
    if np.any(count < 1):
        missing = int(np.sum(count < 1))
        raise ValueError(
            f"{missing} sample(s) have no shadow model on this side (IN / OUT); train more "
            "shadows (each sample should be IN about half of them)"
        )
    mean = np.where(mask, phi, 0.0).sum(axis=0) / count
    dev = np.where(mask, (phi - mean) ** 2, 0.0)
    if global_variance:  # pooled: every sample's squared deviations over its own dof
        var = np.full_like(mean, dev.sum() / max(1, int(np.sum(count - 1))))
    else:
        var = dev.sum(axis=0) / np.maximum(count - 1, 1)
    return mean, np.maximum(np.sqrt(var), MIN_STD)


def _log_normal(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)


def lira(
    target_losses: Any,
    shadow_losses: Any,
    shadow_in: Any,
    *,
    online: bool = True,
    global_variance: bool = False,
) -> np.ndarray:
    """LiRA membership scores of the target's samples (larger: more likely a member).

    Args:
        target_losses: ``(n,)`` per-sample losses under the target model.
        shadow_losses: ``(k, n)`` the same samples' losses under ``k`` shadow models.
        shadow_in: ``(k, n)`` bool, shadow ``i`` trained on sample ``j``.
        online: use the IN shadows too (else the offline, OUT-only variant).
        global_variance: one variance per side for all samples.

    Raises:
        ValueError: shapes that do not match, non-finite losses, or a sample without any
            OUT (or, online, IN) shadow.
    """
    t, s, m = _shadows(target_losses, shadow_losses, shadow_in)
    phi_t, phi_s = logit_confidence(t), logit_confidence(s)
    mu_out, sd_out = _fit(phi_s, ~m, global_variance)
    if not online:
        return log_ndtr((phi_t - mu_out) / sd_out)
    mu_in, sd_in = _fit(phi_s, m, global_variance)
    return _log_normal(phi_t, mu_in, sd_in) - _log_normal(phi_t, mu_out, sd_out)


def rmia(
    target_losses: Any,
    shadow_losses: Any,
    shadow_in: Any | None = None,
    *,
    population_target: Any,
    population_shadow: Any,
    gamma: float = 1.0,
    offline_a: float | None = None,
    population_index: Any | None = None,
) -> np.ndarray:
    """RMIA membership scores in [0, 1]: for each sample, the fraction of population
    samples ``z`` (never trained on by the target) it dominates,
    ``(Pr(x|target) / Pr(x)) / (Pr(z|target) / Pr(z)) >= gamma``.

    Args:
        target_losses: ``(n,)`` losses of the audited samples under the target.
        shadow_losses: ``(k, n)`` their losses under ``k`` reference models.
        shadow_in: ``(k, n)`` bool IN mask; with ``offline_a`` only OUT entries are used.
            None: every reference model is OUT (offline).
        population_target: ``(m,)`` losses of population samples under the target.
        population_shadow: ``(k, m)`` their losses under the reference models.
        gamma: the likelihood-ratio threshold (the paper: 1 or 2).
        offline_a: the offline scaling ``a`` (``Pr(x) = ((1+a) Pr_out(x) + 1 - a) / 2``);
            None: average all reference models (the online variant, IN and OUT).
        population_index: ``(n,)`` the position of each audited sample in the population
            (-1: not in it); a sample is never compared with itself (else every
            population member dominates at least itself and the scores tie at the top).
    """
    t = _array(target_losses, "target_losses", 1)
    s = _array(shadow_losses, "shadow_losses", 2)
    pt = _array(population_target, "population_target", 1)
    ps = _array(population_shadow, "population_shadow", 2)
    if s.shape[1] != len(t) or ps.shape != (s.shape[0], len(pt)):
        raise ValueError(
            f"shadow_losses {s.shape} must be (k, {len(t)}) and population_shadow "
            f"{ps.shape} (k, {len(pt)})"
        )
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    mask = np.zeros_like(s, dtype=bool) if shadow_in is None else np.asarray(shadow_in, bool)

    def marginal(losses: np.ndarray, in_mask: np.ndarray) -> np.ndarray:
        p = np.exp(-losses)
        if offline_a is None:
            return p.mean(axis=0)
        out = ~in_mask
        if np.any(out.sum(axis=0) < 1):
            raise ValueError("offline RMIA needs an OUT reference model for every sample")
        p_out = np.where(out, p, 0.0).sum(axis=0) / out.sum(axis=0)
        return 0.5 * ((1 + offline_a) * p_out + (1 - offline_a))

    ratio_x = np.exp(-t) / marginal(s, mask)
    ratio_z = np.exp(-pt) / marginal(ps, np.zeros_like(ps, dtype=bool))
    dominates = ratio_x[:, None] / ratio_z[None, :] >= gamma
    if population_index is None:
        return dominates.mean(axis=1)
    index = np.asarray(population_index, dtype=int)
    if index.shape != (len(t),) or index.max(initial=-1) >= len(pt):
        raise ValueError(f"population_index must be ({len(t)},) positions below {len(pt)}")
    own = np.zeros_like(dominates)
    rows = np.flatnonzero(index >= 0)
    own[rows, index[rows]] = True
    others = np.maximum((~own).sum(axis=1), 1)
    return (dominates & ~own).sum(axis=1) / others


def unlearning_lira(
    target_losses: Any,
    unlearned_shadow_losses: Any,
    retrained_shadow_losses: Any,
    *,
    global_variance: bool = False,
) -> np.ndarray:
    """U-LiRA scores: per forget sample, ``log N(phi; unlearned shadows) - log N(phi;
    retrained shadows)``. Positive: the target looks unlearned (the sample's influence
    remains); about 0 at chance. Score a target unlearned model's forget samples and a
    retrained model's, and read :func:`roc_summary` (AUC 0.5 = indistinguishable).

    Args:
        target_losses: ``(n,)`` forget-sample losses under the audited model.
        unlearned_shadow_losses: ``(k, n)`` under shadow models trained with the samples
            and then unlearned by the same method.
        retrained_shadow_losses: ``(k2, n)`` under shadow models trained without them.
    """
    t = _array(target_losses, "target_losses", 1)
    u = _array(unlearned_shadow_losses, "unlearned_shadow_losses", 2)
    r = _array(retrained_shadow_losses, "retrained_shadow_losses", 2)
    if u.shape[1] != len(t) or r.shape[1] != len(t):
        raise ValueError(f"shadow losses must have {len(t)} columns, got {u.shape} and {r.shape}")
    s = np.concatenate([u, r])
    m = np.zeros_like(s, dtype=bool)
    m[: len(u)] = True
    return lira(t, s, m, online=True, global_variance=global_variance)


def speaker_scores(
    scores: Any, speakers: Sequence[str], *, how: str = "mean"
) -> tuple[list[str], np.ndarray]:
    """Per-speaker membership scores from per-utterance ones (``mean`` or ``max``):
    ``(speakers in first-seen order, scores)``."""
    values = _array(scores, "scores", 1)
    if len(speakers) != len(values):
        raise ValueError(f"{len(speakers)} speakers for {len(values)} scores")
    if how not in ("mean", "max"):
        raise ValueError(f"how must be 'mean' or 'max', not {how!r}")
    order = list(dict.fromkeys(speakers))
    index = {s: i for i, s in enumerate(order)}
    groups: list[list[float]] = [[] for _ in order]
    for s, v in zip(speakers, values, strict=True):
        groups[index[s]].append(float(v))
    reduce = np.mean if how == "mean" else np.max
    return order, np.array([reduce(g) for g in groups])


@dataclass(frozen=True)
class ROCSummary:
    """AUC, TPR at fixed FPRs, and the curve (for plots)."""

    auc: float
    tpr_at_fpr: dict[float, float]
    fpr: np.ndarray
    tpr: np.ndarray
    n_members: int
    n_nonmembers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "tpr_at_fpr": {f"{k:g}": v for k, v in self.tpr_at_fpr.items()},
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
        }


def roc_summary(
    member_scores: Any, nonmember_scores: Any, *, fprs: Sequence[float] = (0.01, 0.001)
) -> ROCSummary:
    """ROC of scores (larger: member): AUC and the TPR at each FPR of ``fprs`` (the
    highest TPR whose FPR does not exceed it). With fewer than ``1 / fpr`` non-members a
    TPR at that FPR is the TPR at FPR 0 (no false positive allowed), which is what the data
    can say."""
    pos = _array(member_scores, "member_scores", 1)
    neg = _array(nonmember_scores, "nonmember_scores", 1)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("roc_summary needs members and non-members")
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    score = np.r_[pos, neg]
    fpr, tpr, _ = roc_curve(y, score)
    at = {float(f): float(tpr[fpr <= f + 1e-12].max()) for f in fprs}
    return ROCSummary(
        auc=float(roc_auc_score(y, score)),
        tpr_at_fpr=at,
        fpr=fpr,
        tpr=tpr,
        n_members=len(pos),
        n_nonmembers=len(neg),
    )
