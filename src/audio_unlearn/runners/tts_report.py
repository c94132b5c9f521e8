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
    ("steps", "steps", "{:.0f}"),
]

#: identity leakage against the enrolled gallery (``eval.gallery``)
IDENTITY_COLUMNS = [
    ("model", "model", "{}"),
    ("reid1_f", "re-ID top-1 F", "{:.3f}"),
    ("reid5_f", "top-5 F", "{:.3f}"),
    ("reid_chance1", "chance top-1", "{:.3f}"),
    ("imp_auroc_f", "impostor AUROC F", "{:.3f}"),
    ("fssim_avg_f", "Avg-FSSIM", "{:.3f}"),
    ("fssim_max_f", "Max-FSSIM", "{:.3f}"),
    ("fssim_f_minus_impostor", "Avg-FSSIM - impostor", "{:+.3f}"),
    ("reid1_r", "re-ID top-1 R", "{:.3f}"),
    ("reid1_u", "re-ID top-1 U", "{:.3f}"),
    ("imp_auroc_u", "impostor AUROC U", "{:.3f}"),
]

#: the table of sequential requests: each request's rows with their earlier voices' revival
REQUEST_COLUMNS = [
    ("request", "request", "{}"),
    *(c for c in REPORT_COLUMNS if c[0] in ("model", "sim_f", "sim_r", "sim_u", "cross_sim")),
    ("revival_max", "revival (max earlier)", "{:+.3f}"),
    ("reid1_f", "re-ID top-1 F", "{:.3f}"),
    ("reid1_forget_r1", "re-ID top-1 request 1", "{:.3f}"),
    ("time_s", "time (s)", "{:.0f}"),
]


def _mean(summary: dict[str, Any], group: str, key: str) -> float | None:
    entry = summary.get(group, {}).get(key)
    return None if entry is None else entry.get("mean")


def _identity(s: dict[str, Any]) -> dict[str, Any]:
    """The gallery's identity columns of a summary (none without ``eval.gallery``):
    top-1 / top-5 re-identification per group with chance, Avg-/Max-FSSIM and the
    impostor AUROC of the forget (and earlier forget) generations."""
    ident = {g: v["identity"] for g, v in s.items() if "identity" in v}
    if not ident:
        return {}
    short = {"forget": "f", "remain": "r", "unseen": "u"}
    out: dict[str, Any] = {}
    for g, v in ident.items():
        tag = short.get(g, g)
        out[f"reid1_{tag}"] = v["top1"]
        if "top5" in v:
            out[f"reid5_{tag}"] = v["top5"]
        out[f"imp_auroc_{tag}"] = v["impostor_auroc"]
    first = next(iter(ident.values()))
    out["reid_chance1"] = first["chance_top1"]
    out["gallery_size"] = first["n_gallery"]
    out["impostor_level"] = first["impostor_level"]
    if "forget" in ident:
        out["fssim_avg_f"] = ident["forget"]["avg_fssim"]
        out["fssim_max_f"] = ident["forget"]["max_fssim"]
        out["fssim_f_minus_impostor"] = out["fssim_avg_f"] - out["impostor_level"]
    return out


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
        **_identity(s),
    }


def _target_values(row: dict[str, Any], original: dict[str, Any]) -> dict[str, float | None]:
    """The quantities the targets bound, for one (per-seed) row, against references fixed
    before unlearning (the original's levels)."""

    def diff(a, b):
        return None if a is None or b is None else a - b

    return {
        "sim_f_minus_reference": diff(row.get("sim_f"), original.get("cross_sim")),
        "sim_f_minus_own_level": diff(row.get("sim_f"), row.get("cross_sim")),
        "paired_gap_f": row.get("paired_gap_f"),
        "sim_r_ratio": (
            None
            if row.get("sim_r") is None or not original.get("sim_r")
            else row["sim_r"] / original["sim_r"]
        ),
        "wer_r_rise": diff(row.get("wer_r"), original.get("wer_r")),
        # the gallery's reading: the forget generations' similarity to their speakers'
        # enrolments against the impostor (stranger) level, a property of the data
        "fssim_f_minus_impostor": diff(row.get("fssim_avg_f"), row.get("impostor_level")),
    }


def _targets(
    rows: list[dict[str, Any]], original: dict[str, Any], margin: float, wer_bound: float
) -> dict:
    """The issue's checks for every method row, against references fixed before
    unlearning: SIM-F within ``margin`` of the **original's** cross-speaker level (each
    row's own level and the paired own-vs-other gap reported beside it), SIM-R >= 0.9x the
    original's, WER-R rise within ``wer_bound``.

    A row run over seeds (``per_seed``) gets each quantity's mean and 95% interval over
    seeds and a verdict per target (met / not met / inconclusive,
    :func:`~audio_unlearn.evaluation.intervals.verdict`); a single run gets booleans."""
    from ..evaluation.intervals import mean_interval, verdict

    out: dict[str, Any] = {
        "reference_level": original.get("cross_sim"),
        "original_sim_f_above_cross": (
            None
            if original["sim_f"] is None or original["cross_sim"] is None
            else original["sim_f"] - original["cross_sim"]
        ),
    }
    bounds = {  # quantity -> (bound, at_most, target name)
        "sim_f_minus_reference": (margin, True, "sim_f_at_reference_level"),
        "sim_r_ratio": (0.9, False, "sim_r_kept"),
        "wer_r_rise": (wer_bound, True, "wer_r_within_bound"),
    }
    for row in rows[1:]:
        values = _target_values(row, original)
        entry: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        if row.get("reference"):  # not a method: only where its voices lie
            out[row["model"]] = {
                k: entry[k]
                for k in ("sim_f_minus_reference", "sim_f_minus_own_level")
                if k in entry
            }
            continue
        per_seed = row.get("per_seed")
        if per_seed:
            seeded = [_target_values(r, original) for r in per_seed]
            entry["over_seeds"] = {}
            for key in values:
                vals = [v[key] for v in seeded if v[key] is not None]
                if not vals:
                    continue
                iv = mean_interval(vals)
                entry["over_seeds"][key] = {"values": vals, **iv.to_dict()}
                if key in bounds:
                    bound, at_most, target = bounds[key]
                    entry[target] = verdict(iv, bound, at_most=at_most)
        else:
            for key, (bound, at_most, target) in bounds.items():
                if values[key] is not None:
                    v = values[key]
                    entry[target] = v <= bound if at_most else v >= bound
        out[row["model"]] = entry
    return out


def target_lines(targets: dict[str, Any], margin: float, wer_bound: float) -> list[str]:
    """Markdown lines of the target checks: per method, each bounded quantity as mean
    [95% interval] with its verdict (seeded rows) or its value with yes / no."""
    from ..evaluation.intervals import format_interval

    names = {
        "sim_f_minus_reference": (
            f"SIM-F - original's level <= {margin}",
            "sim_f_at_reference_level",
        ),
        "sim_r_ratio": ("SIM-R / original's >= 0.9", "sim_r_kept"),
        "wer_r_rise": (f"WER-R rise <= {wer_bound}", "wer_r_within_bound"),
    }
    lines = [
        "| model | " + " | ".join(label for label, _ in names.values()) + " | SIM-F - own level "
        "| F own-other |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for model, entry in targets.items():
        if not isinstance(entry, dict) or "sim_r_ratio" not in entry:
            continue
        seeds = entry.get("over_seeds", {})
        cells = []
        for key, (_, target) in names.items():
            if key in seeds:
                cells.append(f"{format_interval(seeds[key]['mean'], seeds[key])} {entry[target]}")
            elif key in entry:
                ok = entry.get(target)
                cells.append(f"{entry[key]:.3f} ({'yes' if ok else 'no'}, one run)")
            else:
                cells.append("-")
        for key in ("sim_f_minus_own_level", "paired_gap_f"):
            if key in seeds:
                cells.append(format_interval(seeds[key]["mean"], seeds[key], "{:+.3f}"))
            else:
                cells.append("-" if entry.get(key) is None else f"{entry[key]:+.3f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


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
        *_identity_lines(report),
        *_steering_lines(report),
        "Targets, against references fixed before unlearning (the original's cross-speaker "
        f"level {_fmt(report['targets'].get('reference_level'))}, SIM-R and WER-R); over "
        "seeds: mean [95% interval], met only when the interval clears the bound:",
        "",
        *target_lines(report["targets"], ev["sim_margin"], ev["wer_bound"]),
        "",
        "```json",
        json.dumps(report["targets"], indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def _identity_lines(report: dict[str, Any]) -> list[str]:
    """The identity table (rows with gallery metrics only), with how to read it."""
    from ..reporting import markdown_table

    rows = [r for r in report["rows"] if r.get("reid1_f") is not None]
    if not rows:
        return []
    first = rows[0]
    return [
        f"Identity leakage against a gallery of {first['gallery_size']} enrolled speakers "
        f"(real audio no trial uses; chance top-1 {first['reid_chance1']:.3f}): re-ID top-k = "
        "share of generations whose prompt's speaker is among the k nearest enrolments; "
        "impostor AUROC = P(an impostor pair scores above a generation against its own "
        "speaker): 0.5 = it sounds like a stranger, near 0 = still identifiable, near 1 = "
        f"it stands out; impostor level {first['impostor_level']:.3f} (fixed before "
        "unlearning). Avg-/Max-FSSIM = mean / per-speaker highest cosine of forget "
        "generations with their speaker's enrolment.",
        "",
        markdown_table(rows, IDENTITY_COLUMNS),
        "",
    ]


#: TruS's published relative SIM drops (Lee, Shin, Lee, ICASSP 2026, Table 1: F5-TTS, seen
#: forget speakers 0.657 -> 0.479; unseen opt-out speakers 0.668 -> 0.433, and 27-35% over
#: its settings): the range a reproduction is read against
TRUS_PUBLISHED = {"sim_f": (0.27, 0.27), "sim_u": (0.27, 0.35)}

STEERING_COLUMNS = [
    ("model", "model", "{}"),
    ("drop_sim_f", "SIM-F drop", "{:.1%}"),
    ("drop_sim_u", "SIM-U drop (opt-out)", "{:.1%}"),
    ("drop_sim_r", "SIM-R drop", "{:.1%}"),
    ("wer_f", "WER-F", "{:.3f}"),
    ("wer_u", "WER-U", "{:.3f}"),
    ("wer_r", "WER-R", "{:.3f}"),
    ("gate_fa_validation", "gate FA val", "{:.2f}"),
    ("gate_fr_validation", "gate FR val", "{:.2f}"),
    ("gate_fa_test", "gate FA test", "{:.2f}"),
    ("gate_fr_test", "gate FR test", "{:.2f}"),
    ("seconds", "compute (s)", "{:.0f}"),
    ("seconds_per_speaker", "s / enrolled speaker", "{:.1f}"),
]


def relative_drops(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method row: the relative SIM drop from the original (``1 - SIM / SIM_orig``)
    for the forget, unseen and remain groups; over seeds, each seed's drop with a 95%
    interval (``over_seeds``)."""
    from ..evaluation.intervals import seed_summary

    original = next((r for r in rows if r.get("model") == "original"), None)
    if original is None:
        return []
    out = []
    for row in rows:
        if row.get("model") in ("original",) or row.get("reference"):
            continue

        def drops(r):
            return {
                f"drop_{k}": (1 - r[k] / original[k])
                if r.get(k) is not None and original.get(k)
                else None
                for k in ("sim_f", "sim_u", "sim_r")
            }

        entry = {**{k: row.get(k) for k, _, _ in STEERING_COLUMNS}, **drops(row)}
        seeds = row.get("per_seed")
        if seeds:
            per = [{**r, **drops(r)} for r in seeds]
            keys = [k for k, _, _ in STEERING_COLUMNS if k != "model"]
            entry["over_seeds"] = {**(row.get("over_seeds") or {}), **seed_summary(per, keys)}
        out.append(entry)
    return out


def trus_verdict(entry: dict[str, Any], key: str) -> str:
    """The drop against TruS's published range: below / consistent / above, read from
    the interval over seeds (a single model: from its value, marked)."""
    lo_pub, hi_pub = TRUS_PUBLISHED[key]
    value = entry.get(f"drop_{key}")
    if value is None:
        return "-"
    s = (entry.get("over_seeds") or {}).get(f"drop_{key}") or {}
    lo, hi = s.get("lo"), s.get("hi")
    one = lo is None or hi is None
    lo, hi = (value, value) if one else (lo, hi)
    if hi < lo_pub:
        verdict = "below TruS"
    elif lo > hi_pub:
        verdict = "above TruS"
    else:
        verdict = "consistent with TruS"
    return verdict + (" (one model)" if one else "")


def _steering_lines(report: dict[str, Any]) -> list[str]:
    """Relative SIM drops of every method beside TruS's published ones, and the
    inference-time rows' gates and cost."""
    from ..reporting import markdown_table

    if not any(r.get("inference_time") for r in report["rows"]):
        return []
    entries = relative_drops(report["rows"])
    lines = [
        "Relative SIM drops from the original (1 - SIM / original's; SIM-U: the unseen "
        "speakers, enrolled as opt-out speakers by the steering rows only) beside TruS's "
        "published 27% (seen) and 27-35% (unseen opt-out); gate false accepts (an "
        "unprotected prompt steered) and false rejects (a protected prompt not steered), "
        "threshold chosen on validation speakers; compute: seconds to enrol (steering) or "
        "train (the others). Steering rows change no weight: the model still holds every "
        "voice.",
        "",
        markdown_table(entries, STEERING_COLUMNS),
        "",
    ]
    for e in entries:
        lines.append(
            f"- {e['model']}: SIM-F drop {trus_verdict(e, 'sim_f')} (27%); SIM-U drop "
            f"{trus_verdict(e, 'sim_u')} (27-35%)"
        )
    return [*lines, ""]


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md`` of a TTS report (what ``audio-unlearn report RUN_DIR`` prints)."""
    from ..reporting import markdown_table

    if "requests" in report and "targets" not in report:
        lines = ["# TTS speaker forgetting: sequential requests", ""]
        for r in report["requests"]:
            lines.append(f"Request {r['request']}: forget {', '.join(r['speakers'])}")
        lines += ["", markdown_table(report["rows"], REQUEST_COLUMNS), "", report["revival"], ""]
        return "\n".join(lines)
    return _report_markdown(report, markdown_table(report["rows"], REPORT_COLUMNS))


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
    curves = [(row["model"], row.get("curve")) for row in rows] + [
        (f"{row['model']} s{r.get('seed')}", r.get("curve"))
        for row in rows
        for r in row.get("per_seed") or ()
    ]
    for label, curve in curves:
        curve = [c for c in curve or () if c.get("gap_reference", c["gap"]) is not None]
        if not curve:
            continue
        steps = [c["step"] for c in curve]
        left.plot(steps, [c.get("gap_reference", c["gap"]) for c in curve], "o-", label=label)
        for group, style in (("forget", "o-"), ("remain", "s--"), ("unseen", "^:")):
            values = [c["sim"].get(group) for c in curve]
            if all(v is not None for v in values):
                right.plot(steps, values, style, label=f"{label} SIM {group}")
        right.plot(steps, [c["level"] for c in curve], "k-", lw=0.8, label="cross-speaker level")
    left.axhline(margin, ls="--", c="grey", label=f"target: gap <= {margin}")
    left.axhline(0.0, ls=":", c="lightgrey")
    left.set_xlabel("unlearning steps")
    left.set_ylabel("SIM-F - cross-speaker level (the original's when fixed)")
    left.set_title("Forgetting curve")
    left.legend(fontsize=8)
    right.set_xlabel("unlearning steps")
    right.set_ylabel("mean SIM-o")
    right.set_title("Cloning per group")
    right.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
