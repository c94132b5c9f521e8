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
GUARD ("Forget who you Forgot", arXiv 2609.27399) adds the **impostor AUROC**: the
probability that an impostor pair (two different real speakers) scores above a protected
output against its own speaker, 0.5 when the protected voice looks like a stranger, far
below when it is still identifiable, far above when it stands out (over-forgetting). The
impostor level is a property of the data and the encoder, fixed before any unlearning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .verification import _scores_labels, detection_curve

__all__ = [
    "Gallery",
    "calibrated_cllr",
    "cllr",
    "enrol",
    "group_verification",
    "identity_summary",
    "impostor_auroc",
    "level_verdict",
    "min_cllr",
    "reidentification",
    "tpr_at_fpr",
]


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


def _unit(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or not np.isfinite(a).all():
        raise ValueError(f"embeddings must be a finite [n, dim] array, got shape {a.shape}")
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    if (norm == 0).any():
        raise ValueError("a zero-norm embedding has no direction; cosine is undefined")
    return a / norm


def enrol(embeddings: Any, speakers: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """One enrolment vector per speaker: the unit-norm mean of its unit-norm embeddings.

    Returns ``(speakers in order of first appearance, [n_speakers, dim] unit vectors)``.
    """
    e = _unit(embeddings)
    if len(speakers) != e.shape[0]:
        raise ValueError(f"{e.shape[0]} embeddings but {len(speakers)} speaker ids")
    names = tuple(dict.fromkeys(str(s) for s in speakers))
    code = {s: i for i, s in enumerate(names)}
    idx = np.array([code[str(s)] for s in speakers])
    sums = np.zeros((len(names), e.shape[1]))
    np.add.at(sums, idx, e)
    return names, _unit(sums)


@dataclass(frozen=True)
class Gallery:
    """Enrolled speakers and the impostor scores of a re-identification audit.

    Attributes:
        speakers: the gallery's speaker ids (N).
        embeddings: ``[N, dim]`` unit enrolment vectors (:func:`enrol`).
        impostor_scores: cosine of real utterances with *other* speakers' enrolments (the
            stranger level; fixed before unlearning).
        settings: how it was made (encoder, utterances per speaker, audio, ...).
    """

    speakers: tuple[str, ...]
    embeddings: np.ndarray
    impostor_scores: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        embeddings: Any,
        speakers: Sequence[str],
        *,
        impostor_embeddings: Any | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Gallery:
        """Enrol ``speakers`` from ``embeddings`` (several rows per speaker allowed) and
        score every row of ``impostor_embeddings`` (default: the enrolment rows
        themselves, e.g. passed through the evaluation's vocoder) against every *other*
        speaker's enrolment."""
        names, enrolled = enrol(embeddings, speakers)
        if len(names) < 2:
            raise ValueError("a gallery needs at least two speakers")
        probe = _unit(embeddings if impostor_embeddings is None else impostor_embeddings)
        if probe.shape[0] != len(speakers):
            raise ValueError(
                f"{probe.shape[0]} impostor embeddings for {len(speakers)} enrolment rows"
            )
        code = {s: i for i, s in enumerate(names)}
        own = np.array([code[str(s)] for s in speakers])
        sim = probe @ enrolled.T
        other = np.ones_like(sim, dtype=bool)
        other[np.arange(len(own)), own] = False
        return cls(names, enrolled, sim[other], dict(settings or {}))

    def index(self, speakers: Sequence[str]) -> np.ndarray:
        """Gallery row of each speaker; a speaker outside the gallery is an error."""
        code = {s: i for i, s in enumerate(self.speakers)}
        missing = sorted({str(s) for s in speakers} - set(code))
        if missing:
            raise ValueError(f"speaker(s) {missing[:5]} are not enrolled in the gallery")
        return np.array([code[str(s)] for s in speakers], dtype=np.int64)

    def similarity(self, embeddings: Any) -> np.ndarray:
        """``[n, N]`` cosine of each embedding with every enrolled speaker."""
        return _unit(embeddings) @ self.embeddings.T


def impostor_auroc(protected: Any, impostor: Any) -> float:
    """``P(impostor > protected) + P(tie) / 2``: 0.5 = the protected outputs score against
    their own speaker like strangers do; near 0 = still identifiable; near 1 = they stand
    out (over-forgetting)."""
    p = np.asarray(protected, dtype=np.float64).ravel()
    q = np.asarray(impostor, dtype=np.float64).ravel()
    if not p.size or not q.size:
        raise ValueError("impostor_auroc needs protected and impostor scores")
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError("scores hold NaN or inf")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([q, p]))  # average ranks: ties count one half
    u = ranks[: q.size].sum() - q.size * (q.size + 1) / 2
    return float(u / (q.size * p.size))


def identity_summary(
    similarity: Any,
    true_index: Sequence[int],
    impostor: Any,
    *,
    ks: Sequence[int] = (1, 5),
) -> dict[str, Any]:
    """Identity leakage of a group of generations against a gallery.

    Args:
        similarity: ``[n, N]`` cosine of each generation with each enrolled speaker.
        true_index: the gallery row of each generation's (prompt's) speaker.
        impostor: the gallery's impostor scores.
        ks: top-k rates to report (k above N is left out).

    Returns:
        ``top<k>`` and ``chance_top<k>`` (:func:`reidentification`), ``avg_fssim`` (mean
        cosine of a generation with its own speaker's enrolment), ``max_fssim`` (per
        speaker the highest such cosine, averaged over speakers: the worst output of each
        voice), ``impostor_auroc`` (:func:`impostor_auroc` of those cosines),
        ``impostor_level`` (mean impostor score), ``n_queries``, ``n_gallery``,
        ``n_speakers``.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    idx = np.asarray(true_index, dtype=np.int64)
    ks = [k for k in ks if k <= sim.shape[1]] if sim.ndim == 2 else list(ks)
    out = reidentification(sim, idx, ks=ks)
    out.pop("ranks")
    own = sim[np.arange(sim.shape[0]), idx]
    best = [own[idx == i].max() for i in np.unique(idx)]
    out.update(
        avg_fssim=float(own.mean()),
        max_fssim=float(np.mean(best)),
        impostor_auroc=impostor_auroc(own, impostor),
        impostor_level=float(np.mean(impostor)),
        n_speakers=len(best),
    )
    return out


def calibrated_cllr(scores: Any, labels: Any, calibration: tuple[Any, Any]) -> float:
    """Cllr of ``scores`` after the affine score-to-LLR map fitted by logistic regression
    on the ``calibration`` trials ``(scores, labels)`` (prior-corrected to LLRs): how a
    verifier calibrated on other speakers' trials would do on these."""
    from sklearn.linear_model import LogisticRegression

    cs, cy = _scores_labels(*calibration)
    fit = LogisticRegression(C=1e6).fit(cs[:, None], cy)
    s, y = _scores_labels(scores, labels)
    prior_logit = np.log(cy.sum() / (~cy).sum())
    llr = fit.decision_function(s[:, None]) - prior_logit
    return cllr(llr, y)


def _metrics(scores: np.ndarray, labels: np.ndarray, calibration) -> dict[str, Any]:
    from .verification import verification_metrics

    out = verification_metrics(scores, labels).to_dict()
    out["min_cllr"] = min_cllr(scores, labels)
    if calibration is not None:
        out["cllr"] = calibrated_cllr(scores, labels, calibration)
    out["tpr_at_fpr_1pct"] = tpr_at_fpr(scores, labels, 0.01)
    out["tpr_at_fpr_0.1pct"] = tpr_at_fpr(scores, labels, 0.001)
    return out


def group_verification(
    trials: Sequence[Any],
    ids: Sequence[str],
    embeddings: Any,
    group_of: dict[str, str],
    *,
    gender_of: dict[str, str] | None = None,
    calibrate_on: str | None = "retain",
) -> dict[str, Any]:
    """Verification metrics per speaker group (and per gender within a group).

    Args:
        trials: :class:`~audio_unlearn.evaluation.verification.Trial` list; a trial
            belongs to the group (and gender) of its *enrolment* utterance's speaker.
        ids: utterance id of each embedding row.
        embeddings: ``[n, dim]`` speaker embeddings (cosine scoring).
        group_of: utterance id -> group name (e.g. forget / retain / unseen).
        gender_of: utterance id -> gender, for per-gender entries (``"by_gender"``).
        calibrate_on: the group whose trials fit the calibration of ``cllr`` (None: only
            ``min_cllr``); the calibration group's own ``cllr`` is then optimistic.

    Returns:
        group -> EER, minDCF, ``min_cllr``, ``cllr``, TPR at 1% / 0.1% FPR and trial
        counts (``{"skipped": why}`` for a group without both kinds of trials).
    """
    from .verification import score_trials

    scores, labels = score_trials(trials, ids, embeddings)
    groups = np.array([group_of[t.enroll] for t in trials])
    calibration = None
    if calibrate_on is not None and (groups == calibrate_on).any():
        mask = groups == calibrate_on
        if 0 < labels[mask].sum() < mask.sum():
            calibration = (scores[mask], labels[mask])
    out: dict[str, Any] = {}
    for g in dict.fromkeys(groups.tolist()):
        mask = groups == g
        try:
            entry = _metrics(scores[mask], labels[mask], calibration)
        except ValueError as err:
            out[g] = {"skipped": str(err)}
            continue
        if gender_of:
            genders = np.array([gender_of.get(t.enroll, "") for t in trials])
            by_gender = {}
            for sex in sorted(set(genders[mask].tolist()) - {""}):
                m = mask & (genders == sex)
                try:
                    by_gender[sex] = _metrics(scores[m], labels[m], calibration)
                except ValueError as err:
                    by_gender[sex] = {"skipped": str(err)}
            entry["by_gender"] = by_gender
        out[g] = entry
    return out


def level_verdict(interval: Any, tolerance: float) -> str:
    """Where a forget group's EER sits against the unseen speakers' (``interval`` of the
    difference forget - unseen over seeds): ``"at the unseen level"`` when the interval
    lies within ``+-tolerance``; ``"under-forgotten"`` when it lies below ``-tolerance``
    (still easier to verify than a stranger); ``"over-forgotten"`` when above
    ``+tolerance`` (harder than a stranger: it stands out); else ``"inconclusive"``."""
    from .intervals import verdict

    low = verdict(interval, -tolerance, at_most=False)
    high = verdict(interval, tolerance, at_most=True)
    if low == "met" and high == "met":
        return "at the unseen level"
    if low == "not met":
        return "under-forgotten"
    if high == "not met":
        return "over-forgotten"
    return "inconclusive"
