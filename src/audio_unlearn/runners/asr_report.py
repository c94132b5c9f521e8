"""The ASR run's report: loss units, table columns, Markdown and the trade-off plot
(:class:`~audio_unlearn.asr_experiment.ASRExperiment` writes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..reporting import save_figure

#: What the per-sample loss is, by model kind (report text and plot label).
LOSS_UNITS: dict[str, tuple[str, str]] = {
    "library": ("CTC nats per character", "CTC nats/char"),
    "hf_ctc": ("CTC nats per token (the checkpoint's characters)", "CTC nats/token"),
    "hf_whisper": (
        "teacher-forced token cross-entropy, nats per token (transcript tokens + end of "
        "text, after the decoder prompt)",
        "CE nats/token",
    ),
}


#: Columns of the ASR report table: (key, title, format).
ASR_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "{}"),
    ("forget_wer", "forget WER", "{:.3f}"),
    ("forget_loss", "forget loss", "{:.3f}"),
    ("retain_wer", "retain WER", "{:.3f}"),
    ("retain_loss", "retain loss", "{:.3f}"),
    ("test_wer", "test WER", "{:.3f}"),
    ("test_cer", "test CER", "{:.3f}"),
    ("test_loss", "test loss", "{:.3f}"),
    ("mia_acc", "MIA acc", "{:.3f}"),
    ("mia_auc", "MIA AUC", "{:.3f}"),
    ("informed_auc", "informed AUC", "{:.3f}"),
    ("time_s", "time s", "{:.1f}"),
    ("verdict", "verdict", "{}"),
)

#: Columns of the table of sequential requests: the request, then :data:`ASR_COLUMNS`
#: with the earlier requests' forget sets re-measured (pooled) before time and verdict.
REQUEST_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("request", "request", "{}"),
    *ASR_COLUMNS[:-2],
    ("earlier_forget_wer", "earlier forget WER", "{:.3f}"),
    ("earlier_forget_loss", "earlier forget loss", "{:.3f}"),
    ("earlier_mia_auc", "earlier MIA AUC", "{:.3f}"),
    ("earlier_still_forgotten", "earlier still forgotten", "{}"),
    *ASR_COLUMNS[-2:],
)


def _report_markdown(
    report: dict[str, Any], table: str, unit: str = "CTC nats per character"
) -> str:
    judge = report["judge"]
    full = judge.get("full_audio")
    judge_line = (
        f"Judge (`{judge['spec']}`): unseen-speaker test WER {judge['cropped']['wer']:.2%} / "
        f"CER {judge['cropped']['cer']:.2%} on speech-cropped audio"
        + (f", WER {full['wer']:.2%} / CER {full['cer']:.2%} on the full files" if full else "")
        + f" ({judge['n']} utterances)."
    )
    crit = report["criteria"]
    requests = ""
    if "requests" in report:
        listed = "; ".join(
            f"{r['request']}: {', '.join(r['speakers'])} ({r['sizes']['forget']} utterances)"
            for r in report["requests"]
        )
        requests = (
            f"Requests, applied in sequence: {listed}. The `earlier` columns re-measure the "
            "forget sets of the previous requests (pooled) on each model; earlier still "
            f"forgotten = {crit['earlier_still_forgotten']}.\n\n"
        )
    return (
        f"# ASR speaker forgetting report\n\n{report['task']}; {report['tool']}\n\n"
        f"Forget speakers: {', '.join(report['forget_speakers'])}; sizes {report['sizes']}.\n\n"
        f"{judge_line}\n\nMIA: {report['mia_protocol']}.\n\n"
        f"Verdict: reaches the retrained level = {crit['reaches_retrained']}; keeps utility = "
        f"{crit['keeps_utility']}.\n\n{requests}Losses are {unit}.\n\n{table}\n\n"
        "![forget/retain trade-off](tradeoff.png)\n"
    )


def plot_asr_tradeoff(
    rows: list[dict[str, Any]],
    path: str | Path,
    *,
    loss_label: str = "forget loss (CTC nats/char)",
) -> Path:
    """Two panels: forget loss vs retain WER, and MIA AUC (plain, informed) per model."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    gold = next((r for r in rows if r.get("role") == "gold"), None)
    for r in rows:
        marker = {"original": "s", "gold": "*"}.get(r.get("role"), "o")
        ax1.scatter(
            r["retain_wer"], r["forget_loss"], marker=marker, s=140 if marker == "*" else 60
        )
        ax1.annotate(
            r["model"],
            (r["retain_wer"], r["forget_loss"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    if gold is not None:
        ax1.axhline(gold["forget_loss"], color="grey", ls="--", lw=1, label="retrained forget loss")
        ax1.legend(fontsize=7)
    ax1.set_xlabel("retain WER")
    ax1.set_ylabel(loss_label)
    ax1.set_title("forgetting vs utility")
    x = np.arange(len(rows))
    ax2.bar(x - 0.2, [r["mia_auc"] for r in rows], width=0.4, label="duration-matched AUC")
    ax2.bar(x + 0.2, [r["informed_auc"] for r in rows], width=0.4, label="informed LOO AUC")
    ax2.axhline(0.5, color="lightgrey", ls=":", lw=1)
    ax2.set_xticks(x, [r["model"] for r in rows], rotation=30, fontsize=8)
    ax2.set_ylabel("membership AUC (forget vs test)")
    ax2.set_title("membership inference")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
