"""Speaker verification metrics: EER and minDCF from trial scores, and trial lists.

A *trial* pairs two utterances; it is a *target* trial when both come from the same
speaker. A verifier accepts a trial when its score is at least a threshold ``t``:

- miss rate ``P_miss(t)`` = fraction of target trials with score < t;
- false-alarm rate ``P_fa(t)`` = fraction of non-target trials with score >= t.

Both curves are computed for every distinct score at once (one sort and two cumulative
sums; no Python loop over thresholds, unlike SpeechBrain's ``EER``).

- **EER**: the rate where ``P_miss = P_fa``, by linear interpolation between the two
  adjacent operating points whose difference ``P_miss - P_fa`` changes sign (the usual
  "interpolated EER"; exact when a threshold hits the crossing).
- **minDCF** (NIST SRE detection cost): ``DCF(t) = C_miss P_miss(t) p + C_fa P_fa(t) (1-p)``,
  normalised by ``min(C_miss p, C_fa (1-p))`` (the cost of the best threshold-free
  decision), minimised over all thresholds including "accept none" and "accept all".
  Defaults ``C_miss = C_fa = 1`` with ``p_target`` 0.01 and 0.05 (VoxSRC conventions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Trial",
    "VerificationResult",
    "build_trials",
    "detection_curve",
    "equal_error_rate",
    "min_dcf",
    "read_trials",
    "score_trials",
    "verification_metrics",
    "write_trials",
]


def _scores_labels(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().numpy()
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"scores and labels must be 1-D of equal length, got {s.shape} and {y.shape}"
        )
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or inf; every trial needs a finite score")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be 0/1 or bool (1 = target, same speaker)")
        y = y.astype(bool)
    n_target = int(y.sum())
    if n_target == 0 or n_target == y.size:
        raise ValueError(
            f"need both target and non-target trials, got {n_target} target and "
            f"{y.size - n_target} non-target"
        )
    return s, y


def detection_curve(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every distinct threshold, vectorised.

    Args:
        scores: Trial scores, shape ``(T,)``; higher = more likely the same speaker.
        labels: 1/True for target trials, 0/False for non-target, shape ``(T,)``.

    Returns:
        ``(thresholds, p_miss, p_fa)``, each of shape ``(K + 1,)`` for ``K`` distinct
        scores: first the "accept none" point (threshold ``+inf``, ``p_miss = 1``,
        ``p_fa = 0``), then each distinct score in decreasing order, ending at "accept
        all" (``p_miss = 0``, ``p_fa = 1``).
    """
    s, y = _scores_labels(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    accepted_targets = np.cumsum(y)
    accepted_nontargets = np.cumsum(~y)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    n_target = accepted_targets[-1]
    n_nontarget = accepted_nontargets[-1]
    thresholds = np.r_[np.inf, s[last_of_tie]]
    p_miss = np.r_[1.0, 1.0 - accepted_targets[last_of_tie] / n_target]
    p_fa = np.r_[0.0, accepted_nontargets[last_of_tie] / n_nontarget]
    return thresholds, p_miss, p_fa


def equal_error_rate(scores: Any, labels: Any) -> tuple[float, float]:
    """Equal error rate (interpolated), and the threshold where it is reached.

    Args:
        scores: Trial scores ``(T,)``.
        labels: Target (1) / non-target (0) labels ``(T,)``.

    Returns:
        ``(eer, threshold)``: EER in ``[0, 1]``; threshold = the first score (going down)
        at which ``P_miss <= P_fa``.
    """
    thresholds, p_miss, p_fa = detection_curve(scores, labels)
    diff = p_miss - p_fa  # non-increasing from 1 to -1
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0:
        return float(p_fa[i]), float(thresholds[i])
    alpha = diff[i - 1] / (diff[i - 1] - diff[i])
    eer = p_fa[i - 1] + alpha * (p_fa[i] - p_fa[i - 1])
    return float(eer), float(thresholds[i])


def min_dcf(
    scores: Any,
    labels: Any,
    *,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> tuple[float, float]:
    """Normalised minimum detection cost.

    Args:
        scores: Trial scores ``(T,)``.
        labels: Target (1) / non-target (0) labels ``(T,)``.
        p_target: Prior probability of a target trial, in ``(0, 1)``.
        c_miss: Cost of a miss.
        c_fa: Cost of a false alarm.

    Returns:
        ``(min_dcf, threshold)``; the threshold is ``inf`` when rejecting everything is best.
    """
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target!r}")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"c_miss and c_fa must be > 0, got {c_miss!r} and {c_fa!r}")
    thresholds, p_miss, p_fa = detection_curve(scores, labels)
    dcf = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    dcf /= min(c_miss * p_target, c_fa * (1.0 - p_target))
    i = int(np.argmin(dcf))
    return float(dcf[i]), float(thresholds[i])


@dataclass(frozen=True)
class VerificationResult:
    """EER and minDCF of a trial list.

    Attributes:
        eer: Equal error rate in ``[0, 1]``.
        eer_threshold: Score threshold at the EER.
        min_dcf: ``{p_target: normalised minDCF}``.
        n_target: Number of target trials.
        n_nontarget: Number of non-target trials.
    """

    eer: float
    eer_threshold: float
    min_dcf: dict[float, float]
    n_target: int
    n_nontarget: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "min_dcf": {str(k): v for k, v in self.min_dcf.items()},
            "c_miss": 1.0,
            "c_fa": 1.0,
            "n_target": self.n_target,
            "n_nontarget": self.n_nontarget,
        }


def verification_metrics(
    scores: Any, labels: Any, *, p_targets: Sequence[float] = (0.01, 0.05)
) -> VerificationResult:
    """EER and minDCF (``C_miss = C_fa = 1``) at each ``p_target``."""
    s, y = _scores_labels(scores, labels)
    eer, threshold = equal_error_rate(s, y)
    dcfs = {float(p): min_dcf(s, y, p_target=float(p))[0] for p in p_targets}
    return VerificationResult(eer, threshold, dcfs, int(y.sum()), int((~y).sum()))


@dataclass(frozen=True)
class Trial:
    """One verification trial: two utterance ids and whether they share a speaker."""

    enroll: str
    test: str
    target: bool


def build_trials(
    utterances: Sequence[Any],
    *,
    n_per_speaker: int = 10,
    seed: int = 0,
    gender_of: Mapping[str, str] | None = None,
) -> list[Trial]:
    """Same- and different-speaker trial pairs from a manifest.

    For every speaker with at least two utterances: up to ``n_per_speaker`` distinct
    same-speaker pairs (fewer if the speaker has fewer pairs), and as many
    different-speaker pairs, each joining one of the speaker's utterances with an utterance
    of another speaker drawn uniformly. Unordered pairs are never repeated. Deterministic
    for a seed.

    Args:
        utterances: Records with ``id`` and ``speaker`` attributes (e.g. ``Utterance``).
        n_per_speaker: Target trials per speaker (and as many non-target trials).
        seed: Random seed.
        gender_of: speaker -> gender: non-target partners then come from speakers of the
            same gender only (the VoicePrivacy Challenge's same-gender trials).

    Returns:
        The trials, targets of each speaker followed by its non-targets, speakers in sorted
        order.

    Raises:
        ValueError: If fewer than two speakers, no speaker has two utterances, ids repeat,
            or ``n_per_speaker < 1``.
    """
    if isinstance(n_per_speaker, bool) or not isinstance(n_per_speaker, int) or n_per_speaker < 1:
        raise ValueError(f"n_per_speaker must be a positive int, got {n_per_speaker!r}")
    by_speaker: dict[str, list[str]] = {}
    seen: set[str] = set()
    for u in utterances:
        if u.id in seen:
            raise ValueError(f"utterance id {u.id!r} appears twice; ids must be unique")
        seen.add(u.id)
        by_speaker.setdefault(str(u.speaker), []).append(u.id)
    if len(by_speaker) < 2:
        raise ValueError(f"need at least two speakers for trials, got {len(by_speaker)}")
    if all(len(ids) < 2 for ids in by_speaker.values()):
        raise ValueError("no speaker has two utterances, so no same-speaker trial exists")
    rng = np.random.default_rng(seed)
    speakers = sorted(by_speaker)
    trials: list[Trial] = []
    used: set[frozenset[str]] = set()
    for spk in speakers:
        ids = sorted(by_speaker[spk])
        if len(ids) < 2:
            continue
        iu, ju = np.triu_indices(len(ids), k=1)
        n = min(n_per_speaker, iu.size)
        for k in rng.choice(iu.size, size=n, replace=False):
            a, b = ids[iu[k]], ids[ju[k]]
            used.add(frozenset((a, b)))
            trials.append(Trial(a, b, True))
        others = [
            (o, oid)
            for o in speakers
            if o != spk and (gender_of is None or gender_of.get(o) == gender_of.get(spk))
            for oid in sorted(by_speaker[o])
        ]
        n_other = len(ids) * len(others)
        picks = rng.permutation(n_other)
        made = 0
        for p in picks:
            a = ids[p // len(others)]
            b = others[p % len(others)][1]
            pair = frozenset((a, b))
            if pair in used:
                continue
            used.add(pair)
            trials.append(Trial(a, b, False))
            made += 1
            if made == n:
                break
    return trials


def score_trials(
    trials: Sequence[Trial], ids: Sequence[str], embeddings: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine score of every trial from embeddings.

    Args:
        trials: Trials from :func:`build_trials`.
        ids: Utterance id of each embedding row.
        embeddings: ``(N, D)`` embeddings in the order of ``ids``.

    Returns:
        ``(scores, labels)`` arrays of shape ``(T,)``, ready for :func:`verification_metrics`.
    """
    if isinstance(embeddings, np.ndarray):
        embeddings = torch.from_numpy(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(ids):
        raise ValueError(
            f"embeddings must be (N, D) with N = len(ids) = {len(ids)}, "
            f"got {tuple(embeddings.shape)}"
        )
    index = {u: i for i, u in enumerate(ids)}
    missing = [
        t.enroll if t.enroll not in index else t.test
        for t in trials
        if t.enroll not in index or t.test not in index
    ]
    if missing:
        raise ValueError(f"trial utterance {missing[0]!r} has no embedding; embed it first")
    e = torch.nn.functional.normalize(embeddings.to(torch.float64), dim=1)
    a = torch.tensor([index[t.enroll] for t in trials])
    b = torch.tensor([index[t.test] for t in trials])
    scores = (e[a] * e[b]).sum(1).numpy()
    labels = np.array([t.target for t in trials], dtype=bool)
    return scores, labels


def write_trials(path: str | os.PathLike, trials: Sequence[Trial]) -> Path:
    """Write trials in the VoicePrivacy Challenge's (Kaldi) trial-list format: one
    ``<enrolment id> <test utterance id> target|nontarget`` line per trial (written
    atomically)."""
    from ..data.manifest import atomic_write_text

    for t in trials:
        if any(c.isspace() for c in t.enroll + t.test) or not t.enroll or not t.test:
            raise ValueError(f"trial ids must be non-empty without spaces: {t!r}")
    body = "".join(f"{t.enroll} {t.test} {'target' if t.target else 'nontarget'}\n" for t in trials)
    path = Path(path)
    atomic_write_text(path, body)
    return path


def read_trials(path: str | os.PathLike) -> list[Trial]:
    """Read a VoicePrivacy-style trial list (:func:`write_trials`); the enrolment id may
    name an utterance or a speaker (the caller decides which).

    Raises:
        ValueError: a line without three fields or with a label other than
            target / nontarget (the file and line named), or an empty list.
    """
    path = Path(path)
    trials = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or fields[2] not in ("target", "nontarget"):
            raise ValueError(
                f"{path}:{n}: expected '<enrolment id> <test utterance id> target|nontarget', "
                f"got {line.strip()!r}"
            )
        trials.append(Trial(fields[0], fields[1], fields[2] == "target"))
    if not trials:
        raise ValueError(f"{path} holds no trials")
    return trials
