"""Report rendering: a Markdown table and a forget/retain trade-off plot."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .evaluation.intervals import format_interval

__all__ = [
    "REPORT_COLUMNS",
    "markdown_table",
    "plot_revival",
    "plot_tradeoff",
    "report_columns",
    "revival_series",
    "save_figure",
]

REPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "{}"),
    ("test_acc", "test acc", "{:.3f}"),
    ("test_f1", "test F1", "{:.3f}"),
    ("forget_acc", "forget acc", "{:.3f}"),
    ("forget_f1", "forget F1", "{:.3f}"),
    ("retain_acc", "retain acc", "{:.3f}"),
    ("retain_f1", "retain F1", "{:.3f}"),
    ("mia", "MIA", "{:.3f}"),
    ("mia_std", "MIA sd", "{:.3f}"),
    ("time_s", "time s", "{:.1f}"),
    ("speedup", "speed-up", "{:.1f}x"),
    ("gum", "GUM", "{:.3f}"),
    ("cgum", "CGUM", "{:.3f}"),
)


def report_columns(rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, str, str], ...]:
    """The standard columns, plus forget-class test accuracy when rows have it."""
    cols = list(REPORT_COLUMNS)
    if any("forget_test_acc" in r for r in rows):
        at = [c[0] for c in cols].index("forget_f1") + 1
        cols.insert(at, ("forget_test_acc", "forget-class test acc", "{:.3f}"))
    return tuple(cols)


def markdown_table(rows: Sequence[dict[str, Any]], columns=None) -> str:
    """Render report rows as a GitHub Markdown table (missing values as "-").

    A row run over seeds (``over_seeds``: metric -> ``{"mean", "lo", "hi", ...}``, see
    :func:`~audio_unlearn.evaluation.intervals.seed_summary`) shows each metric as
    ``mean [lo, hi]``, its 95% interval over seeds."""
    columns = columns or report_columns(rows)
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for row in rows:
        cells = []
        seeds = row.get("over_seeds") or {}
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("-" if value is None else format_interval(value, seeds.get(key), fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_tradeoff(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Two panels: MIA vs test F1 (gold MIA marked), and forget vs retain accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    gold = next((r for r in rows if r.get("role") == "gold"), None)
    for r in rows:
        marker = {"original": "s", "gold": "*"}.get(r.get("role"), "o")
        size = 160 if marker == "*" else 60
        ax1.errorbar(r["mia"], r["test_f1"], xerr=r.get("mia_std"), fmt="none", alpha=0.4)
        for ax, x, y in ((ax1, "mia", "test_f1"), (ax2, "retain_acc", "forget_acc")):
            ax.scatter(r[x], r[y], marker=marker, s=size, label=r["model"] if ax is ax1 else None)
            ax.annotate(
                r["model"], (r[x], r[y]), textcoords="offset points", xytext=(5, 5), fontsize=8
            )
    if gold is not None:
        ax1.axvline(gold["mia"], color="grey", ls="--", lw=1, label="gold MIA")
        ax2.axhline(gold["forget_acc"], color="grey", ls="--", lw=1)
    ax1.axvline(0.5, color="lightgrey", ls=":", lw=1)
    ax1.set_xlabel("MIA accuracy on forget vs test (0.5 = no membership signal)")
    ax1.set_ylabel("test macro-F1")
    ax1.set_title("forgetting vs utility")
    ax2.set_xlabel("retain accuracy")
    ax2.set_ylabel("forget accuracy (gold level dashed)")
    ax2.set_title("forget vs retain")
    ax1.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (temporary file + rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path


def revival_series(
    rows: Sequence[dict[str, Any]], current: str, earlier: str
) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """Each model's measurement of each request's forget set over the requests that
    followed: ``(model, j) -> [(k, value at request k), ...]`` for ``k >= j``, reading
    ``row[current]`` at its own request and ``row[earlier.format(j=j)]`` later (rows of
    sequential requests: ``request``, ``model``)."""
    out: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for row in rows:
        k = row.get("request")
        if k is None:
            continue
        for j in range(1, k + 1):
            value = row.get(current) if j == k else row.get(earlier.format(j=j))
            if value is not None:
                out.setdefault((row["model"], j), []).append((k, float(value)))
    return {key: sorted(points) for key, points in out.items()}


def plot_revival(
    rows: Sequence[dict[str, Any]],
    panels: Sequence[tuple[str, str, str]],
    path: str | os.PathLike,
    *,
    title: str = "Forgotten speakers over later requests",
) -> Path:
    """One panel per ``(label, current key, earlier key with {j})``: each model's value
    on each request's forget speakers at that request and every later one (a line that
    moves back towards the original's after a later request = the voice revives)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    n_requests = max((r.get("request") or 0) for r in rows)
    for ax, (label, current, earlier) in zip(axes[0], panels, strict=True):
        for (model, j), points in revival_series(rows, current, earlier).items():
            ks, values = zip(*points, strict=True)
            style = "--" if model in ("original", "gold", "retrain") else "-"
            ax.plot(ks, values, style, marker="o", label=f"{model}, request {j}'s speakers")
        ax.set_xticks(range(1, n_requests + 1))
        ax.set_xlabel("after request")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
