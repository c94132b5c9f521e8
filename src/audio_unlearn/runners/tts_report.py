"""The TTS run's report: table columns, per-model rows, the TGU targets, Markdown and plots
(:class:`~audio_unlearn.tts_experiment.TTSExperiment` writes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT_COLUMNS = [
    ("model", "model", "{}"),
    ("wer_r", "WER-R", "{:.3f}"),
    ("sim_r", "SIM-R", "{:.3f}"),
    ("wer_f", "WER-F", "{:.3f}"),
    ("sim_f", "SIM-F", "{:.3f}"),
    ("spk_zrf_f", "spk-ZRF-F", "{:.3f}"),
    ("sim_u", "SIM-U", "{:.3f}"),
    ("wer_u", "WER-U", "{:.3f}"),
    ("cross_sim", "cross-spk SIM", "{:.3f}"),
    ("paired_gap_f", "F own-other", "{:+.3f}"),
    ("sim_r_f", "SIM-r F", "{:.3f}"),
    ("seconds", "time (s)", "{:.0f}"),
    ("steps", "steps", "{}"),
]

#: the table of sequential requests: each request's rows with their earlier voices' revival
REQUEST_COLUMNS = [
    ("request", "request", "{}"),
    *(c for c in REPORT_COLUMNS if c[0] in ("model", "sim_f", "sim_r", "sim_u", "cross_sim")),
    ("revival_max", "revival (max earlier)", "{:+.3f}"),
    ("time_s", "time (s)", "{:.0f}"),
]


def _mean(summary: dict[str, Any], group: str, key: str) -> float | None:
    entry = summary.get(group, {}).get(key)
    return None if entry is None else entry.get("mean")


def _row(
    name: str, s: dict[str, Any], cross: dict[str, Any], zrf: dict[str, Any]
) -> dict[str, Any]:
    sim_f, cross_f = _mean(s, "forget", "sim_o"), _mean(s, "forget", "cross_sim_o")
    return {
        "model": name,
        "sim_f": _mean(s, "forget", "sim_o"),
        "sim_r": _mean(s, "remain", "sim_o"),
        "sim_u": _mean(s, "unseen", "sim_o"),
        "sim_r_f": _mean(s, "forget", "sim_r"),
        "sim_r_r": _mean(s, "remain", "sim_r"),
        "wer_f": _mean(s, "forget", "wer"),
        "wer_r": _mean(s, "remain", "wer"),
        "wer_u": _mean(s, "unseen", "wer"),
        "cross_sim": cross.get("sim_o"),
        # the same forget generations against other speakers' prompts: a paired measure
        # of how much of the forget voice is left (0 = as close to others as to it)
        "paired_gap_f": None if sim_f is None or cross_f is None else sim_f - cross_f,
        "spk_zrf_f": zrf.get("groups", {}).get("forget", {}).get("value"),
        # earlier requests' forget speakers, cloned again (sequential requests)
        **{f"sim_{g}": _mean(s, g, "sim_o") for g in s if g.startswith("forget_r")},
    }


def _targets(
    rows: list[dict[str, Any]], original: dict[str, Any], margin: float, wer_bound: float
) -> dict:
    """The issue's checks for every method row: SIM-F within ``margin`` of the
    cross-speaker level, SIM-R >= 0.9x the original's, WER-R rise within ``wer_bound``."""
    out: dict[str, Any] = {
        "original_sim_f_above_cross": (
            None
            if original["sim_f"] is None or original["cross_sim"] is None
            else original["sim_f"] - original["cross_sim"]
        )
    }
    for row in rows[1:]:
        entry: dict[str, Any] = {}
        if row["sim_f"] is not None and row["cross_sim"] is not None:
            entry["sim_f_minus_cross"] = row["sim_f"] - row["cross_sim"]
            entry["sim_f_at_cross_level"] = row["sim_f"] - row["cross_sim"] <= margin
        if row.get("reference"):  # not a method: only where its voices lie
            out[row["model"]] = entry
            continue
        if row["sim_r"] is not None and original["sim_r"]:
            entry["sim_r_ratio"] = row["sim_r"] / original["sim_r"]
            entry["sim_r_kept"] = entry["sim_r_ratio"] >= 0.9
        if row["wer_r"] is not None and original["wer_r"] is not None:
            entry["wer_r_rise"] = row["wer_r"] - original["wer_r"]
            entry["wer_r_within_bound"] = entry["wer_r_rise"] <= wer_bound
        out[row["model"]] = entry
    return out


def _report_markdown(report: dict[str, Any], table: str) -> str:
    ev = report["evaluation"]
    judge = report.get("judge") or {}
    lines = [
        "# Zero-shot TTS speaker-identity forgetting",
        "",
        f"Forget speakers: {', '.join(report['split']['forget_speakers'])} "
        f"({report['split']['n_forget']} utterances); remain utterances "
        f"{report['split']['n_retain']}; unseen speakers' utterances "
        f"{report['split']['n_unseen']}.",
        f"Model: {report['model']['parameters'] / 1e6:.2f}M parameters. Sampler: "
        f"{ev['solver']}, {ev['nfe']} function evaluations, guidance {ev['guidance']}. "
        f"Vocoder: {ev['vocoder']['vocoder']}. Speaker encoder: {ev['encoder']}. "
        f"{ev['n_trials']} cloning trials (cross-sentence, 3 s prompts, aligner durations).",
        f"WER judge: {judge.get('spec', 'none')}, normaliser {ev['normaliser']}"
        + (
            f"; judge WER on unseen speakers: real {judge['unseen_real']['wer']:.3f}, "
            f"vocoded {judge['unseen_vocoded']['wer']:.3f}"
            if "unseen_real" in judge
            else ""
        )
        + ".",
        "",
        "SIM = SIM-o (cosine to the real prompt audio); SIM-r F = against the vocoded prompt. "
        "cross-spk SIM = mean SIM of generations to other speakers' prompts (the level a "
        "random voice reaches with this encoder and vocoder); the target compares SIM-F "
        "with it. F own-other = SIM-F minus the same forget generations' mean SIM to other "
        "speakers' prompts (a paired view of the voice left; not the target). "
        "spk-ZRF in natural log.",
        "",
        table,
        "",
        "Targets (SIM-F within "
        f"{ev['sim_margin']} of the cross-speaker level; SIM-R >= 0.9x original; WER-R "
        f"rise <= {ev['wer_bound']}):",
        "",
        "```json",
        json.dumps(report["targets"], indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def plot_tts_tradeoff(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """SIM-F (forgetting, lower is better) against SIM-R (cloning kept), one point per
    model, with the first row's (the original's) cross-speaker level as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..reporting import save_figure

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for row in rows:
        if row.get("sim_f") is None or row.get("sim_r") is None:
            continue
        ax.scatter(row["sim_f"], row["sim_r"], s=40)
        ax.annotate(
            row["model"],
            (row["sim_f"], row["sim_r"]),
            fontsize=8,
            xytext=(4, 3),
            textcoords="offset points",
        )
    level = rows[0].get("cross_sim") if rows else None
    if level is not None:  # each model has its own level (report.md); the original's is drawn
        ax.axvline(
            level, ls="--", c="grey", label=f"{rows[0]['model']}'s cross-speaker level {level:.3f}"
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("SIM-F (forget speakers' prompts; lower = forgotten)")
    ax.set_ylabel("SIM-R (remain speakers; higher = still cloned)")
    ax.set_title("Zero-shot TTS speaker forgetting")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_forgetting_curves(rows: list[dict[str, Any]], path: str | Path, margin: float) -> Path:
    """SIM-F minus the cross-speaker level against unlearning steps, one line per probed
    method, with the target margin drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..reporting import save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for row in rows:
        curve = [c for c in row.get("curve") or () if c["gap"] is not None]
        if not curve:
            continue
        steps = [c["step"] for c in curve]
        left.plot(steps, [c["gap"] for c in curve], "o-", label=row["model"])
        for group, style in (("forget", "o-"), ("remain", "s--"), ("unseen", "^:")):
            values = [c["sim"].get(group) for c in curve]
            if all(v is not None for v in values):
                right.plot(steps, values, style, label=f"{row['model']} SIM {group}")
        right.plot(steps, [c["level"] for c in curve], "k-", lw=0.8, label="cross-speaker level")
    left.axhline(margin, ls="--", c="grey", label=f"target: gap <= {margin}")
    left.axhline(0.0, ls=":", c="lightgrey")
    left.set_xlabel("unlearning steps")
    left.set_ylabel("SIM-F - cross-speaker level")
    left.set_title("Forgetting curve")
    left.legend(fontsize=8)
    right.set_xlabel("unlearning steps")
    right.set_ylabel("mean SIM-o")
    right.set_title("Cloning per group")
    right.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
