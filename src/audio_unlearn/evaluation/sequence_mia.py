"""Membership attacks for sequence models (ASR): duration matching and an informed,
leave-one-out calibrated attack. Pure functions over per-utterance losses.

Why duration matching. A recogniser's per-utterance loss depends on how long the
utterance is (longer context, more characters), so if the forget speaker's utterances are
longer or shorter than the test utterances a loss attack "detects" the length, not the
membership. :func:`duration_matched_indices` bins both sides by duration and keeps, in
every bin, as many members as non-members (a seeded subsample of the larger side), so the
two sides have the same duration histogram. :func:`duration_matched_mia` runs the
UnSLU-BENCH loss attack (:func:`audio_unlearn.evaluation.mia.loss_mia`, accuracy) and its
ROC AUC (:func:`~audio_unlearn.evaluation.mia.mia_auc`) on the matched pool.

The informed leave-one-out attack (:func:`informed_loo_mia`). The plain loss attack
compares raw losses, so utterances that are intrinsically hard (a long sentence, a fast
speaker) look like non-members whatever the model saw. An *informed* attacker knows each
utterance's content group (here: its transcript; for corpora where transcripts are
unique, a duration bin) and holds non-member recordings of the same groups; it calibrates
each loss by the mean non-member loss of its group ("difficulty calibration", Watson et
al., "On the Importance of Difficulty Calibration in Membership Inference Attacks", ICLR
2022) and scores ``group mean - loss`` (higher = more member-like). *Leave-one-out*: a
non-member's own loss is excluded from its group's mean, so a non-member is never
calibrated against itself (otherwise non-members of small groups would be pulled to a
score of 0 and members would stand out spuriously). Utterances whose group has no other
non-member are left out and counted. The result is the ROC AUC of the calibrated score,
members (forget) vs non-members (test); 0.5 = no signal. This attack is stronger than
the raw loss attack when content varies a lot (it removes the content difficulty), which
is the situation Dinis et al. (2026, "Evaluating Machine Unlearning in ASR") warn about:
methods that look fine on averaged metrics can still be exposed by an informed attacker.
(The calibration by content group is this library's construction, not a copy of theirs.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from audio_unlearn.evaluation.mia import _losses, loss_mia, mia_auc

__all__ = [
    "DurationMatchedMIA",
    "InformedMIA",
    "duration_matched_indices",
    "duration_matched_mia",
    "informed_loo_mia",
]


def _durations(values: Any, name: str) -> np.ndarray:
    array = _losses(values, name)
    if (array < 0).any():
        raise ValueError(f"{name} must be non-negative seconds")
    return array


def duration_matched_indices(
    member_durations: Any,
    nonmember_durations: Any,
    *,
    bin_s: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a duration-matched subset of members and non-members.

    Durations are binned as ``floor(duration / bin_s)``; in each bin the larger side is
    subsampled without replacement (seeded) to the smaller side's count; bins with only
    one side are dropped.

    Args:
        member_durations: ``(N_m,)`` seconds.
        nonmember_durations: ``(N_n,)`` seconds.
        bin_s: bin width in seconds (> 0).
        seed: subsampling seed.

    Returns:
        ``(member_idx, nonmember_idx)``, sorted, of equal length.

    Raises:
        ValueError: bad durations or ``bin_s``.
    """
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0 seconds, got {bin_s!r}")
    members = _durations(member_durations, "member_durations")
    nonmembers = _durations(nonmember_durations, "nonmember_durations")
    m_bins = np.floor(members / bin_s).astype(np.int64)
    n_bins = np.floor(nonmembers / bin_s).astype(np.int64)
    rng = np.random.default_rng(seed)
    keep_m: list[np.ndarray] = []
    keep_n: list[np.ndarray] = []
    for b in np.intersect1d(m_bins, n_bins):
        mi = np.flatnonzero(m_bins == b)
        ni = np.flatnonzero(n_bins == b)
        k = min(mi.size, ni.size)
        keep_m.append(rng.choice(mi, size=k, replace=False) if mi.size > k else mi)
        keep_n.append(rng.choice(ni, size=k, replace=False) if ni.size > k else ni)
    if not keep_m:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.sort(np.concatenate(keep_m)), np.sort(np.concatenate(keep_n))


@dataclass(frozen=True)
class DurationMatchedMIA:
    """Outcome of :func:`duration_matched_mia`.

    Attributes:
        accuracy: loss-attack accuracy (logistic regression, shuffle-splits), 0.5 = chance.
        std: its spread over the splits.
        auc: ROC AUC of ``-loss`` as the member score on the matched pool.
        n_per_class: matched utterances per side.
        bin_s: duration bin width used.
    """

    accuracy: float
    std: float
    auc: float
    n_per_class: int
    bin_s: float


def duration_matched_mia(
    member_losses: Any,
    member_durations: Any,
    nonmember_losses: Any,
    nonmember_durations: Any,
    *,
    bin_s: float = 0.25,
    seed: int = 0,
) -> DurationMatchedMIA:
    """Loss attack (accuracy and AUC) on a duration-matched pool (module docstring).

    Raises:
        ValueError: mismatched array lengths, or too few matched utterances for the
            attack's splits (widen ``bin_s``).
    """
    m_loss = _losses(member_losses, "member_losses")
    n_loss = _losses(nonmember_losses, "nonmember_losses")
    m_dur = _durations(member_durations, "member_durations")
    n_dur = _durations(nonmember_durations, "nonmember_durations")
    if m_loss.size != m_dur.size or n_loss.size != n_dur.size:
        raise ValueError(
            f"one duration per loss needed: members {m_loss.size} losses / {m_dur.size} "
            f"durations, non-members {n_loss.size} / {n_dur.size}"
        )
    mi, ni = duration_matched_indices(m_dur, n_dur, bin_s=bin_s, seed=seed)
    if mi.size < 10:
        raise ValueError(
            f"only {mi.size} duration-matched pairs with bin_s={bin_s}; the attack needs at "
            "least 10 per side: widen bin_s or use larger forget/test sets"
        )
    attack = loss_mia(m_loss[mi], n_loss[ni], seed=seed)
    return DurationMatchedMIA(
        accuracy=attack.accuracy,
        std=attack.std,
        auc=mia_auc(m_loss[mi], n_loss[ni]),
        n_per_class=int(mi.size),
        bin_s=float(bin_s),
    )


@dataclass(frozen=True)
class InformedMIA:
    """Outcome of :func:`informed_loo_mia`.

    Attributes:
        auc: ROC AUC of the calibrated score, members vs non-members (0.5 = chance).
        n_members: members scored.
        n_nonmembers: non-members scored.
        n_dropped: utterances left out (no other non-member in their group).
        member_advantage: mean calibrated score of members minus that of non-members
            (in loss units; > 0 = members have lower loss than their group's non-members).
    """

    auc: float
    n_members: int
    n_nonmembers: int
    n_dropped: int
    member_advantage: float


def informed_loo_mia(
    member_losses: Any,
    member_groups: Sequence[Hashable],
    nonmember_losses: Any,
    nonmember_groups: Sequence[Hashable],
) -> InformedMIA:
    """The informed leave-one-out calibrated loss attack (module docstring).

    Args:
        member_losses: ``(N_m,)`` per-utterance losses of the members (forget set).
        member_groups: a content group per member (e.g. its normalised transcript).
        nonmember_losses: ``(N_n,)`` losses of the non-members (test set).
        nonmember_groups: a content group per non-member.

    Returns:
        :class:`InformedMIA`.

    Raises:
        ValueError: mismatched lengths, or fewer than one scored utterance per side.
    """
    m_loss = _losses(member_losses, "member_losses")
    n_loss = _losses(nonmember_losses, "nonmember_losses")
    m_groups = list(member_groups)
    n_groups = list(nonmember_groups)
    if len(m_groups) != m_loss.size or len(n_groups) != n_loss.size:
        raise ValueError(
            f"one group per loss needed: members {m_loss.size} losses / {len(m_groups)} "
            f"groups, non-members {n_loss.size} / {len(n_groups)}"
        )
    sums: dict[Hashable, float] = defaultdict(float)
    counts: dict[Hashable, int] = defaultdict(int)
    for g, v in zip(n_groups, n_loss, strict=True):
        sums[g] += float(v)
        counts[g] += 1
    m_scores, n_scores = [], []
    dropped = 0
    for g, v in zip(m_groups, m_loss, strict=True):
        if counts.get(g, 0) < 1:
            dropped += 1
            continue
        m_scores.append(sums[g] / counts[g] - float(v))
    for g, v in zip(n_groups, n_loss, strict=True):
        if counts[g] < 2:
            dropped += 1
            continue
        n_scores.append((sums[g] - float(v)) / (counts[g] - 1) - float(v))
    if not m_scores or not n_scores:
        raise ValueError(
            f"the informed attack scored {len(m_scores)} member(s) and {len(n_scores)} "
            "non-member(s): members need a group with a non-member and non-members a group "
            "with another non-member; use coarser groups (e.g. duration bins)"
        )
    scores = np.asarray(m_scores + n_scores)
    labels = np.concatenate([np.ones(len(m_scores)), np.zeros(len(n_scores))])
    return InformedMIA(
        auc=float(roc_auc_score(labels, scores)),
        n_members=len(m_scores),
        n_nonmembers=len(n_scores),
        n_dropped=dropped,
        member_advantage=float(np.mean(m_scores) - np.mean(n_scores)),
    )
