"""Identity-level privacy metrics: Cllr / min-Cllr, TPR at a fixed FPR, and gallery
re-identification.

The voice-privacy community reads a verifier's scores as log-likelihood ratios (LLRs) and
judges them by the **log-likelihood-ratio cost** (Brümmer & du Preez, "Application-independent
evaluation of speaker detection", Computer Speech & Language 2006; the VoicePrivacy
Challenge's Cllr):

    Cllr = 1/2 * ( mean_target log2(1 + e^-llr) + mean_nontarget log2(1 + e^llr) )

in bits: 0 for perfect, well-calibrated LLRs; 1 for a system that always says LLR = 0 (no
information); above 1 for confident mistakes. **min-Cllr** is the Cllr after the best
monotone recalibration of the scores (pool-adjacent-violators, PAV, fitted on the trials
themselves): what discrimination alone allows, calibration aside.

Zero-shot TTS work measures identity leakage of generated speech by **re-identification**:
each generation is embedded and compared with a gallery of enrolled speakers; top-k is the
share of generations whose true speaker is among the k most similar (chance k / N).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .verification import _scores_labels, detection_curve

__all__ = ["cllr", "min_cllr", "reidentification", "tpr_at_fpr"]


def _softplus_bits(x: np.ndarray) -> np.ndarray:
    """log2(1 + e^x), stable for large |x| (e^x overflows past ~709)."""
    return np.logaddexp(0.0, x) / np.log(2.0)


def cllr(llrs: Any, labels: Any) -> float:
    """Log-likelihood-ratio cost (bits) of natural-log LLRs ``llrs`` for trials
    ``labels`` (1 / True = target)."""
    s, y = _scores_labels(llrs, labels)
    return float(0.5 * (_softplus_bits(-s[y]).mean() + _softplus_bits(s[~y]).mean()))


def min_cllr(scores: Any, labels: Any) -> float:
    """Cllr after the optimal monotone (PAV) calibration of ``scores`` on these trials.

    PAV (scikit-learn's isotonic regression) maps the scores to target posteriors at the
    trials' own prior; dividing out the prior odds gives LLRs. A pooled block holds both
    classes unless it lies at an end of the score range, where it holds one class only
    and its infinite LLR costs nothing; ties are pooled (one score, one LLR).
    """
    from sklearn.isotonic import IsotonicRegression

    s, y = _scores_labels(scores, labels)
    posterior = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit_transform(
        s, y.astype(np.float64)
    )
    prior_logit = np.log(y.sum() / (~y).sum())
    with np.errstate(divide="ignore"):
        llr = np.log(posterior) - np.log1p(-posterior) - prior_logit
    # one-class end blocks: +inf for targets, -inf for non-targets, each costing 0 bits
    cost_t = np.where(np.isposinf(llr[y]), 0.0, _softplus_bits(-llr[y]))
    cost_n = np.where(np.isneginf(llr[~y]), 0.0, _softplus_bits(llr[~y]))
    return float(0.5 * (cost_t.mean() + cost_n.mean()))


def tpr_at_fpr(scores: Any, labels: Any, fpr: float) -> float:
    """The highest true-positive rate (1 - miss rate) of any threshold whose
    false-positive rate is at most ``fpr`` (0 when none is)."""
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must lie in [0, 1], got {fpr}")
    _, p_miss, p_fa = detection_curve(scores, labels)
    ok = p_fa <= fpr + 1e-12
    return float((1.0 - p_miss[ok]).max()) if ok.any() else 0.0


def reidentification(
    similarity: Any, true_index: Sequence[int], *, ks: Sequence[int] = (1, 5)
) -> dict[str, Any]:
    """Top-k re-identification of queries against a gallery.

    Args:
        similarity: ``[n_queries, n_gallery]`` scores (higher = more alike), e.g. cosine
            of a generation's embedding with each enrolled speaker's.
        true_index: the gallery column of each query's true speaker.
        ks: the k of each top-k rate.

    Returns:
        ``{"top<k>": rate, "chance_top<k>": k / n_gallery, "n_queries", "n_gallery",
        "ranks": 1-based rank of the true speaker per query}``. A tie with the true
        speaker's score counts against it (the pessimistic rank, as a privacy audit
        should read it).

    Raises:
        ValueError: a shape mismatch, an index outside the gallery, non-finite scores, or
            a k outside ``1..n_gallery``.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    idx = np.asarray(true_index, dtype=np.int64)
    if sim.ndim != 2 or idx.shape != (sim.shape[0],) or sim.shape[0] == 0:
        raise ValueError(
            f"similarity must be [n_queries, n_gallery] with one true index per query, got "
            f"{sim.shape} and {idx.shape}"
        )
    n_gallery = sim.shape[1]
    if ((idx < 0) | (idx >= n_gallery)).any():
        raise ValueError(f"true_index must lie in 0..{n_gallery - 1}")
    if not np.isfinite(sim).all():
        raise ValueError("similarity holds NaN or inf")
    true = sim[np.arange(sim.shape[0]), idx]
    ranks = (sim >= true[:, None]).sum(axis=1)  # the true column counts itself: rank >= 1
    out: dict[str, Any] = {"n_queries": int(sim.shape[0]), "n_gallery": int(n_gallery)}
    for k in ks:
        if not 1 <= k <= n_gallery:
            raise ValueError(f"k must lie in 1..{n_gallery}, got {k}")
        out[f"top{k}"] = float((ranks <= k).mean())
        out[f"chance_top{k}"] = k / n_gallery
    out["ranks"] = ranks.tolist()
    return out
