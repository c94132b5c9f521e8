"""The UnSLU-BENCH table as Markdown: references, methods at their selected learning rates,
the published values beside ours and the learning-rate grid
(:class:`~audio_unlearn.unslu.UnSLUBenchmark` writes it)."""

from __future__ import annotations

from typing import Any

# -- rendering --------------------------------------------------------------------------
_COLUMNS = (  # CGUM first: the journal version's recommended score; GUM for the paper
    ("cgum", "CGUM"),
    ("gum", "GUM"),
    ("test_f1", "test F1"),
    ("test_acc", "test acc"),
    ("forget_f1", "forget F1"),
    ("forget_acc", "forget acc"),
    ("retain_f1", "retain F1"),
    ("retain_acc", "retain acc"),
    ("mia", "MIA"),
    ("time_s", "time s"),
    ("speedup", "speed-up"),
)
_PAPER_COLUMNS = (
    ("gum", "paper GUM"),
    ("test_f1", "paper test F1"),
    ("forget_f1", "paper forget F1"),
    ("mia", "paper MIA"),
    ("speedup", "paper speed-up"),
)


def _fmt(value: float | None, std: float | None = None, key: str = "") -> str:
    if value is None:
        return "-"
    if key == "speedup":
        text = f"{value:.1f}x"
        return text if not std else f"{text} ± {std:.1f}"
    if key == "time_s":
        text = f"{value:.1f}"
        return text if not std else f"{text} ± {std:.1f}"
    return f"{value:.3f}" if std is None else f"{value:.3f} ± {std:.3f}"


def unslu_markdown(table: dict[str, Any]) -> str:
    """The UnSLU-BENCH table as Markdown: references, methods at their selected learning
    rate (mean ± std over seeds) with the paper's values, and the learning-rate grid."""
    head = ["model", "lr", *(t for _, t in _COLUMNS), *(t for _, t in _PAPER_COLUMNS)]
    lines = [
        f"# UnSLU-BENCH: {table['setting']}",
        "",
        f"{table['tool']}; forget speakers {', '.join(table['forget_speakers'])}; sizes "
        f"{table['sizes']}; {table['num_classes']} classes; seeds {table['seeds']}.",
        "",
        f"Learning rate per method chosen on validation: {table['selection']['description']}",
        "",
        f"MIA: {table['mia_protocol']}. Paper values: {table['paper_source']}"
        + ("" if table["paper_setting"] else " (none published for this setting)")
        + ".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]

    def paper_cells(paper: dict[str, float] | None) -> list[str]:
        paper = paper or {}
        return [_fmt(paper.get(k), key=k) for k, _ in _PAPER_COLUMNS]

    for role in ("original", "gold"):
        ref = table["references"][role]
        cells = [_fmt(ref.get(k), key=k) if k not in ("gum", "cgum") else "-" for k, _ in _COLUMNS]
        lines.append("| " + " | ".join([role, "-", *cells, *paper_cells(ref.get("paper"))]) + " |")
    for method, entry in table["methods"].items():
        mean, std = entry["mean"], entry["std"]
        cells = [_fmt(mean.get(k), std.get(k), key=k) for k, _ in _COLUMNS]
        row = [method, f"{entry['selected_lr']:g}", *cells, *paper_cells(entry.get("paper"))]
        lines.append("| " + " | ".join(row) + " |")
    lrs = [f"{lr:g}" for lr in table["lrs"]]
    crit = table["selection"]["criterion"].removeprefix("valid_")
    lines += [
        "",
        f"## Learning-rate grid (mean over seeds): validation {crit.upper()} / test {crit.upper()}",
        "",
        "| method | " + " | ".join(lrs) + " |",
        "|" + "|".join("---" for _ in range(len(lrs) + 1)) + "|",
    ]
    for method, by_lr in table["grid"].items():
        cells = []
        for lr in lrs:
            m = by_lr.get(lr) or {}
            cells.append(
                "-"
                if not m
                else f"{_fmt(m.get('valid_' + crit))} / {_fmt(m.get(crit))}"
                + (" *" if lr == f"{table['methods'][method]['selected_lr']:g}" else "")
            )
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "`*` = selected on validation.", ""]
    return "\n".join(lines)
