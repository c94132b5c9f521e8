"""Means over seeds with 95% intervals, and target verdicts read from the interval.

A claim about a trained model holds only when it holds over seeds: every report that runs
several seeds gives, per metric, the mean, the sample standard deviation and a two-sided
Student-t interval of the mean, and a target counts as

- ``"met"`` when the whole interval lies on the target's side of the bound,
- ``"not met"`` when the whole interval lies on the other side,
- ``"inconclusive"`` when the interval straddles the bound (more seeds would decide), or
  when there is one value only (no interval).

The interval is over seeds of the unlearning (the trials are fixed), so it measures the
method's run-to-run spread, not the sampling of speakers or trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "VERDICTS",
    "Interval",
    "format_interval",
    "mean_interval",
    "merge_seed_rows",
    "seed_summary",
    "verdict",
]

#: what a target check can say
VERDICTS = ("met", "not met", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """Mean, sample standard deviation and ``confidence`` Student-t interval of ``n``
    values (``sd``, ``lo``, ``hi`` are None with one value)."""

    mean: float
    sd: float | None
    lo: float | None
    hi: float | None
    n: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self, spec: str = "{:.3f}") -> str:
        """``mean [lo, hi]`` (the mean alone with one value)."""
        return format_interval(self.mean, self.to_dict(), spec)


def format_interval(value: float, summary: Mapping[str, Any] | None, spec: str = "{:.3f}") -> str:
    """``value [lo, hi]`` with the bounds of ``summary`` (an :class:`Interval` dict or a
    :func:`seed_summary` entry); ``value`` alone without bounds."""
    text = spec.format(value)
    if summary and summary.get("lo") is not None and summary.get("hi") is not None:
        text += f" [{spec.format(summary['lo'])}, {spec.format(summary['hi'])}]"
    return text


def mean_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean and two-sided Student-t interval of the mean of ``values``.

    ``mean +- t_{(1+confidence)/2, n-1} * sd / sqrt(n)`` with the sample (n - 1)
    standard deviation.

    Raises:
        ValueError: no values, a non-finite value, or ``confidence`` outside (0, 1).
    """
    from scipy import stats

    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_interval needs at least one value")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"mean_interval got a non-finite value: {vals}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = len(vals)
    mean = math.fsum(vals) / n
    if n < 2:
        return Interval(mean, None, None, None, n, confidence)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, sd, mean - half, mean + half, n, confidence)


def verdict(interval: Interval, bound: float, *, at_most: bool) -> str:
    """``"met"`` / ``"not met"`` / ``"inconclusive"`` for the target ``value <= bound``
    (``at_most=True``) or ``value >= bound`` (``at_most=False``), read from the interval."""
    if interval.lo is None or interval.hi is None:
        return "inconclusive"
    lo, hi = interval.lo, interval.hi
    if at_most:
        return "met" if hi <= bound else "not met" if lo > bound else "inconclusive"
    return "met" if lo >= bound else "not met" if hi < bound else "inconclusive"


def seed_summary(
    rows: Sequence[Mapping[str, Any]], keys: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per metric over per-seed ``rows``: ``{"values", "mean", "sd", "lo", "hi", "n"}``.

    ``keys`` default to every key whose value is a number (not a bool) in every row; a key
    missing or None in some row is summarised over the rows that have it.
    """
    if keys is None:
        keys = (
            [
                k
                for k, v in rows[0].items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            if rows
            else []
        )
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [
            r[key]
            for r in rows
            if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)
        ]
        values = [float(v) for v in values if math.isfinite(v)]
        if values:
            out[key] = {"values": values, **mean_interval(values).to_dict()}
    return out


def merge_seed_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Report rows with the per-seed rows of each (model, request) folded into one row.

    Rows that carry a ``seed`` are grouped by ``(model, request)``; each group becomes one
    row at the place of its first member: every number is its mean over seeds, with the
    summary (:func:`seed_summary`) under ``over_seeds`` and the per-seed rows under
    ``per_seed``; any other field keeps its value when every seed agrees and is None when
    they differ (the per-seed rows hold them). Rows without a seed pass unchanged.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    order: list[Any] = []
    for row in rows:
        if row.get("seed") is None:
            order.append(row)
            continue
        key = (row["model"], row.get("request"))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    out = []
    for item in order:
        if not isinstance(item, tuple):
            out.append(dict(item))
            continue
        group = groups[item]
        summary = seed_summary(group, sorted({k for r in group for k in r if k != "seed"}))
        merged: dict[str, Any] = {}
        for key in dict.fromkeys(k for r in group for k in r):
            if key == "seed":
                continue
            if key in summary:
                merged[key] = summary[key]["mean"]
                continue
            values = [r.get(key) for r in group]
            merged[key] = values[0] if all(v == values[0] for v in values) else None
        merged.update(
            seeds=[r["seed"] for r in group],
            over_seeds=summary,
            per_seed=[dict(r) for r in group],
        )
        out.append(merged)
    return out
