"""The unlearning record: one JSON per request and its Markdown rendering with plots.

``record.json`` holds the request, the split file and its hash, data and checkpoint hashes
before and after, the method and settings, before/after metrics for forget and retain, the
attack results, the tool version, timings, the fingerprints (hashes and content prints,
never audio) that :mod:`.purge` uses, and the list of artefacts that still hold forget-set data.
``record.md`` renders it for a reader, with ``plots/before_after.png`` (forget/retain
accuracy and attack AUCs before vs after) and ``plots/relearn.png`` (the relearning curve).
Every file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from ..data.manifest import atomic_write_text
from ..reporting import save_figure

__all__ = [
    "RECORD_FORMAT",
    "file_sha256",
    "load_record",
    "render_markdown",
    "state_sha256",
    "write_record",
]

RECORD_FORMAT = "audio-unlearn/unlearning-record"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def state_sha256(model_or_state: torch.nn.Module | dict[str, torch.Tensor]) -> str:
    """SHA-256 over a model's state dict (names, dtypes, shapes and values)."""
    state = (
        model_or_state.state_dict()
        if isinstance(model_or_state, torch.nn.Module)
        else model_or_state
    )
    h = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}\0{t.dtype}\0{tuple(tensor.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_record(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``run_dir/record.json``.

    Raises:
        FileNotFoundError: no record (not a directory written by ``audio-unlearn forget``).
        ValueError: not an unlearning record.
    """
    path = Path(run_dir) / "record.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; give a run directory written by `audio-unlearn forget`"
        )
    record = json.loads(path.read_text())
    if record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{path} is not an unlearning record (format {record.get('format')!r})")
    return record


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _metric_rows(record: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    b, a = record["metrics"]["before"], record["metrics"]["after"]
    rows = []
    for name in ("forget", "retain", "test", "forget_test", "forget_heldout"):
        if name in b.get("sets", {}):
            rows.append((f"{name} accuracy", b["sets"][name]["acc"], a["sets"][name]["acc"]))
            rows.append((f"{name} loss", b["sets"][name]["loss"], a["sets"][name]["loss"]))
    for label, keys in (
        ("MIA accuracy (forget vs test)", ("mia", "accuracy")),
        ("MIA AUC (forget vs test)", ("mia", "auc")),
        ("SVC MIA-efficacy (SalUn)", ("svc_mia", "efficacy")),
        ("informed MIA AUC (same speakers)", ("informed_mia", "auc")),
        ("verification EER, forgotten speakers", ("verification", "forgotten", "eer")),
        ("verification EER, other speakers", ("verification", "others", "eer")),
        ("EER threshold, forgotten speakers", ("verification", "forgotten", "eer_threshold")),
        ("min-Cllr (bits), forgotten speakers", ("verification", "forgotten", "min_cllr")),
        ("Cllr (bits), forgotten speakers", ("verification", "forgotten", "cllr")),
        ("TPR at 1% FPR, forgotten speakers", ("verification", "forgotten", "tpr_at_fpr_1pct")),
    ):
        if _get(b, *keys) is not None or _get(a, *keys) is not None:
            rows.append((label, _get(b, *keys), _get(a, *keys)))
    return rows


def render_markdown(record: dict[str, Any]) -> str:
    """The record as a readable Markdown page (plots referenced relative to it)."""
    req, split, h = record["request"], record["split"], record["hashes"]
    lines = [
        f"# Unlearning record: request `{req['id']}`",
        "",
        f"- speakers: {', '.join(req['speakers']) or '-'}",
        f"- single utterances: {', '.join(req['utterances']) or '-'}",
        f"- reason: {req['reason'] or '-'}; requester: {req['requester'] or '-'}; "
        f"date: {req['date'] or '-'}",
        f"- task: {record['task']}; label key `{record['label_key']}`",
        f"- method: `{record['method']['name']}` {record['method']['hparams'] or '(defaults)'}",
        f"- tool: {record['tool']['name']} {record['tool']['version']} "
        f"(torch {record['tool']['torch']}, Python {record['tool']['python']})",
        "",
        "## Data and checkpoints",
        "",
        f"Split `{split['file']}` (sha256 `{split['sha256'][:16]}`), kind {split['kind']}: "
        + ", ".join(f"{k} {v}" for k, v in split["sizes"].items())
        + f"; {split['forget_seconds']:.1f} s of forgotten audio.",
        "",
        "| item | before | after |",
        "|---|---|---|",
        f"| checkpoint sha256 | `{(h['checkpoint_before'] or '-')[:16]}` | "
        f"`{h['checkpoint_after'][:16]}` |",
        f"| training manifest sha256 | `{(h['data_before']['manifest_sha256'] or '-')[:16]}` | "
        f"`{h['data_after']['manifest_sha256'][:16]}` |",
        f"| training ids digest | `{h['data_before']['train_ids']}` | "
        f"`{h['data_after']['train_ids']}` |",
        "",
        f"Original checkpoint byte-identical after the run: "
        f"**{_fmt(h['original_checkpoint_unchanged'])}**; new checkpoint "
        f"`{record['outputs']['checkpoint']}`.",
        "",
        "## Metrics",
        "",
        "| metric | before | after |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {_fmt(b)} | {_fmt(a)} |" for n, b, a in _metric_rows(record)]
    proto = _get(record["metrics"]["after"], "verification", "protocol")
    if proto:
        lines += ["", "Verification protocol: " + "; ".join(f"{k}: {v}" for k, v in proto.items())]
    lines += ["", "![before/after](plots/before_after.png)", "", "## Attacks", ""]
    attacks = record.get("attacks", {})
    inf = attacks.get("informed_mia")
    if inf:
        proto = _get(inf, "after", "protocol") or ""
        lines += [
            f"**Informed MIA** ({proto}): AUC {_fmt(_get(inf, 'before', 'auc'))} before, "
            f"{_fmt(_get(inf, 'after', 'auc'))} after "
            f"{'(' + inf['after']['skipped'] + ')' if 'skipped' in inf.get('after', {}) else ''}.",
            "",
        ]
    rel = attacks.get("relearn")
    if rel:
        s = rel["settings"]
        amount = (
            f"{s['minutes']} min" if s.get("minutes") else f"{len(rel['attacker_utterances'])} utt."
        )
        lines += [
            f"**Relearning**: fine-tune on {amount} ({rel['attacker_seconds']:.1f} s) of the "
            f"forgotten data, Adam lr {s['lr']}, {s['steps']} steps; measured on the "
            f"{rel['measured_on']} other forget utterances. Forget accuracy before "
            f"unlearning: {_fmt(rel['target_acc'])}; recovered to {rel['recovery']:.0%} of it "
            f"at step {_fmt(rel['steps_to_recover'], 'd')}.",
            "",
            "| step | forget acc | forget loss | MIA AUC | informed AUC | retain acc |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['step']} | {_fmt(r['forget_acc'])} | {_fmt(r['forget_loss'])} | "
            f"{_fmt(r['mia_auc'])} | {_fmt(r['informed_auc'])} | {_fmt(r['retain_acc'])} |"
            for r in rel["curve"]
        ]
        lines += ["", "![relearning curve](plots/relearn.png)", ""]
    seq = attacks.get("sequential")
    if seq:
        a1, a2 = seq["first_after_first"], seq["first_after_second"]
        lines += [
            f"**Sequential request** B = {seq['second_request']['speakers']} "
            f"({seq['second_method']['name']}): this request's forget metrics after B.",
            "",
            "| metric | after this request | after B too |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {_fmt(a1.get(k))} | {_fmt(a2.get(k))} |" for k in a1]
        lines.append("")
    if not attacks or (set(attacks) == {"informed_mia"} and not inf):
        lines += ["(no attacks run)", ""]
    arts = record.get("artefacts") or []
    lines += ["## Artefacts holding forget-set data", ""]
    if arts:
        lines += ["| path | holds | action |", "|---|---|---|"]
        lines += [f"| `{a['path']}` | {a['holds']} | {a['action']} |" for a in arts]
    else:
        lines.append("none")
    purge = record.get("purge")
    if purge:
        lines += [
            "",
            f"Purged {purge['time']}: removed {len(purge['removed'])} file(s); "
            f"{len(purge['remaining_forget_data'])} file(s) with forget-set data remain.",
        ]
    t = record["timings_s"]
    lines += [
        "",
        "## Timings (s)",
        "",
        ", ".join(f"{k} {v:.1f}" for k, v in t.items()),
        "",
    ]
    return "\n".join(lines)


def plot_before_after(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Bars of forget/retain/test accuracy and the attack AUCs, before vs after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [
        (n, b, a)
        for n, b, a in _metric_rows(record)
        if ("accuracy" in n or "AUC" in n or "EER" in n) and b is not None and a is not None
    ]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r[1] for r in rows], 0.4, label="before")
    ax.bar(x + 0.2, [r[2] for r in rows], 0.4, label="after")
    ax.set_xticks(x, [r[0] for r in rows], rotation=30, ha="right", fontsize=7)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"request {record['request']['id']}: before vs after")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_relearn(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """The relearning curve: forget accuracy, attack AUCs and retain accuracy per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rel = record["attacks"]["relearn"]
    steps = [r["step"] for r in rel["curve"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("forget_acc", "forget acc (unseen by attacker)"),
        ("informed_auc", "informed MIA AUC"),
        ("mia_auc", "MIA AUC vs test"),
        ("retain_acc", "retain acc"),
    ):
        ys = [r.get(key) for r in rel["curve"]]
        if any(y is not None for y in ys):
            ax.plot(steps, [math.nan if y is None else y for y in ys], marker="o", label=label)
    if rel.get("target_acc") is not None:
        ax.axhline(rel["target_acc"], color="grey", ls="--", lw=1, label="forget acc before")
    ax.set_xlabel("relearning step")
    ax.set_ylim(0, 1.05)
    ax.set_title("relearning attack")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return Path(path)


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record.json``, its plots and ``record.md`` atomically; return the JSON path."""
    run_dir = Path(run_dir)
    plot_before_after(record, run_dir / "plots" / "before_after.png")
    if record.get("attacks", {}).get("relearn"):
        plot_relearn(record, run_dir / "plots" / "relearn.png")
    path = run_dir / "record.json"
    atomic_write_text(path, json.dumps(record, indent=1, default=_json_default) + "\n")
    atomic_write_text(run_dir / "record.md", render_markdown(record))
    return path


def _json_default(obj: Any):
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, tuple | set):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} in the record")
