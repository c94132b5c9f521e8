"""``audio-unlearn forget``, ``attack`` and ``purge``: the voice-privacy workflow commands.

``add_privacy_parsers(subparsers)`` adds them to the main parser (:mod:`audio_unlearn.cli`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["add_privacy_parsers"]

FORGET_EPILOG = """\
examples:
  audio-unlearn forget --checkpoint deploy/model.pt --manifest deploy/train.jsonl \\
      --heldout deploy/heldout.jsonl --request recipes/speaker_id/request.yaml \\
      --config recipes/speaker_id/config.yaml --out runs/req-0042
  audio-unlearn forget ... --method ft --set epochs=2 --option attack.relearn.steps=40

Everything is checked before anything is written (unknown speakers, speakers without
training data, an empty retain set, a checkpoint that does not match the manifest, a bad
method or hyper-parameter): on error, no file or directory is created.
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _summary(record: dict[str, Any]) -> str:
    b, a = record["metrics"]["before"], record["metrics"]["after"]
    lines = [f"request {record['request']['id']}: {record['task']}, method {record['method']}"]
    for name in ("forget", "retain", "test", "forget_test"):
        if name in b["sets"]:
            lines.append(
                f"  {name:12s} acc {_fmt(b['sets'][name]['acc'])} -> "
                f"{_fmt(a['sets'][name]['acc'])}   loss {_fmt(b['sets'][name]['loss'])} -> "
                f"{_fmt(a['sets'][name]['loss'])}"
            )
    lines.append(
        f"  MIA AUC (forget vs test) {_fmt(b['mia'].get('auc'))} -> {_fmt(a['mia'].get('auc'))}; "
        f"informed AUC {_fmt(b['informed_mia'].get('auc'))} -> "
        f"{_fmt(a['informed_mia'].get('auc'))}"
    )
    if "verification" in a:
        eer = lambda m, g: m["verification"].get(g, {}).get("eer")  # noqa: E731
        lines.append(
            f"  EER forgotten speakers {_fmt(eer(b, 'forgotten'))} -> {_fmt(eer(a, 'forgotten'))}"
            f"; others {_fmt(eer(b, 'others'))} -> {_fmt(eer(a, 'others'))}"
        )
    rel = record.get("attacks", {}).get("relearn")
    if rel:
        last = rel["curve"][-1]
        lines.append(
            f"  relearning ({len(rel['attacker_utterances'])} utt., {last['step']} steps): "
            f"forget acc {_fmt(rel['curve'][0]['forget_acc'])} -> {_fmt(last['forget_acc'])}, "
            f"recovered at step {_fmt(rel['steps_to_recover'])}"
        )
    return "\n".join(lines)


def _plan_summary(plan: Any, out: str) -> str:
    split = plan.split
    speakers = ", ".join(split.forget_speakers) or "-"
    return "\n".join(
        [
            f"request {plan.request.request_id}: {plan.task}",
            f"  forget: {len(split.forget)} training utterance(s) of speaker(s) {speakers}"
            + (f"; classes {list(split.forget_classes)}" if split.forget_classes else ""),
            f"  retain: {len(split.retain)} utterance(s); held out: {len(plan.heldout)}",
            f"  method: {plan.config.method} {dict(plan.config.hparams) or '(defaults)'}",
            f"  out: {out} (nothing written: --dry-run)",
        ]
    )


#: inference-time methods: an enrolment file for a deployed TTS service, not new weights
STEERING_METHODS = ("tts_steer", "tts_steer_gate")


def _cmd_forget_steering(args: argparse.Namespace) -> int:
    import yaml

    from ..privacy.steering import forget_by_steering

    hparams = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: write KEY=VALUE")
        hparams[key.strip()] = yaml.safe_load(value)
    record = forget_by_steering(
        args.checkpoint,
        args.manifest,
        args.request,
        args.out,
        method=args.method,
        hparams=hparams,
        enrol_manifest=args.enrol_manifest,
        dry_run=args.dry_run,
    )
    if args.dry_run:
        print(json.dumps(record, indent=1, default=str))
        return 0
    out = Path(args.out)
    print((out / "record.md").read_text())
    print(f"enrolment {out / record['outputs']['enrolment']}; record {out / 'record.json'}")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    from ..privacy.workflow import load_forget_config, plan_forget, run_forget

    if args.method in STEERING_METHODS:
        return _cmd_forget_steering(args)

    config = load_forget_config(
        args.config, args.option or [], method=args.method, hparams=args.set or []
    )
    plan = plan_forget(
        args.checkpoint,
        args.manifest,
        args.request,
        out_dir=args.out,
        heldout=args.heldout,
        config=config,
        progress=not args.no_progress,
    )
    if args.dry_run:
        print(_plan_summary(plan, args.out))
        return 0
    record = run_forget(plan, args.out, progress=not args.no_progress)
    print(_summary(record))
    out = Path(args.out)
    print(
        f"\nnew checkpoint {out / record['outputs']['checkpoint']} (original untouched: "
        f"{record['hashes']['original_checkpoint_unchanged']})\nrecord {out / 'record.json'}, "
        f"{out / 'record.md'}; artefacts holding forget-set data: "
        f"{sum(a['action'] == 'purge' for a in record['artefacts'])} "
        f"(remove them with `audio-unlearn purge {out}`)"
    )
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from ..privacy.purge import format_purge_report, purge_run_directory

    report = purge_run_directory(args.run_dir, dry_run=args.dry_run)
    print(format_purge_report(report))
    return 1 if report.remaining and not report.dry_run else 0


def _attack_context(args: argparse.Namespace):
    """(plan, model, record or None, forget accuracy before unlearning or None)."""
    from ..data.manifest import read_manifest
    from ..models.checkpoint import load_classifier
    from ..privacy.record import load_record
    from ..privacy.request import ForgetRequest, load_request
    from ..privacy.workflow import load_forget_config, plan_from_objects

    record = None
    if args.record:
        if args.checkpoint or args.manifest or args.request:
            raise ValueError("give either --record DIR or --checkpoint/--manifest/--request")
        record = load_record(args.record)
        checkpoint = Path(args.record) / record["outputs"]["checkpoint"]
        manifest, heldout = record["inputs"]["manifest"], record["inputs"]["heldout"]
        request = ForgetRequest.from_mapping(record["request"], "record request")
        config = load_forget_config(None, args.option or [], base=record["settings"])
        target = record["metrics"]["before"]["sets"]["forget"]["acc"]
    else:
        missing = [n for n in ("checkpoint", "manifest", "request") if not getattr(args, n)]
        if missing:
            raise ValueError(
                f"give --record DIR, or all of --checkpoint, --manifest and --request "
                f"(missing: {', '.join('--' + m for m in missing)})"
            )
        checkpoint, manifest, heldout = args.checkpoint, args.manifest, args.heldout
        request = load_request(args.request)
        config = load_forget_config(args.config, args.option or [])
        target = None
    plan = plan_from_objects(
        checkpoint=load_classifier(checkpoint),
        checkpoint_path=checkpoint,
        train=read_manifest(manifest),
        heldout=read_manifest(heldout) if heldout else [],
        request=request,
        config=config,
        manifest_path=manifest,
        heldout_path=heldout,
        progress=False,
    )
    return plan, plan.checkpoint.model.eval(), record, target


def _cmd_attack(args: argparse.Namespace) -> int:
    from ..privacy.attacks import informed_mia, relearn_attack, sequential_attack
    from ..privacy.metrics import set_outputs
    from ..privacy.request import ForgetRequest, load_request

    plan, model, record, target = _attack_context(args)
    if args.kind == "relearn":
        options = dict(plan.config.attack.relearn or {})
        if args.minutes is not None:
            options.update(minutes=args.minutes, utterances=None)
        elif args.utterances is not None:
            options.update(utterances=args.utterances, minutes=None)
        for key in ("steps", "lr"):
            if getattr(args, key) is not None:
                options[key] = getattr(args, key)
        if target is None:
            target = set_outputs(model, plan.dm, "forget").accuracy
            options.setdefault("recovery", 1.0)
        result = relearn_attack(
            model, plan.dm, target_acc=target, **{"seed": plan.config.seed, **options}
        )
        last = result["curve"][-1]
        print(
            f"relearning on {len(result['attacker_utterances'])} utterances "
            f"({result['attacker_seconds']:.1f} s): forget acc "
            f"{_fmt(result['curve'][0]['forget_acc'])} -> {_fmt(last['forget_acc'])} after "
            f"{last['step']} steps; recovered at step {_fmt(result['steps_to_recover'])}"
        )
    elif args.kind == "sequential":
        if bool(args.then) == bool(args.speakers):
            raise ValueError("sequential needs exactly one of --then REQUEST or --speakers ...")
        second = (
            load_request(args.then)
            if args.then
            else ForgetRequest(speakers=tuple(args.speakers), id=f"{plan.request.request_id}-B")
        )
        result = sequential_attack(plan, model, second, plan.config)
        a1, a2 = result["first_after_first"], result["first_after_second"]
        print(
            f"request {plan.request.request_id} after {second.request_id}: forget acc "
            f"{_fmt(a1['forget_acc'])} -> {_fmt(a2['forget_acc'])}, informed AUC "
            f"{_fmt(a1['informed_auc'])} -> {_fmt(a2['informed_auc'])}"
        )
    else:
        result = informed_mia(
            set_outputs(model, plan.dm, "forget").losses,
            set_outputs(model, plan.dm, "forget_heldout").losses,
            n_splits=plan.config.mia_splits,
            seed=plan.config.seed,
        )
        print(f"informed MIA AUC {_fmt(result.get('auc'))} {result.get('skipped', '')}")
    if record is not None and not args.out:
        from ..privacy.purge import scan_run_directory, write_artefacts

        key = args.kind.replace("-", "_")
        record.setdefault("attacks", {})[key] = (
            {"before": record["attacks"].get(key, {}).get("before"), "after": result}
            if key == "informed_mia"
            else result
        )
        record["artefacts"] = [a.to_json() for a in scan_run_directory(args.record, record)]
        write_artefacts(args.record, record)
        print(f"added to {Path(args.record) / 'record.json'}")
    elif args.out:
        from ..data.manifest import atomic_write_text

        atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


def add_privacy_parsers(subparsers) -> None:
    """Add ``forget``, ``attack`` and ``purge`` to the ``audio-unlearn`` subcommands."""
    fg = subparsers.add_parser(
        "forget",
        help="forget speakers on request: new checkpoint + unlearning record",
        description="Apply a forget request (speaker ids, optional utterance ids) to a "
        "deployed classifier: validate, build the split (speaker-ID model: class removal; "
        "other tasks: speaker removal), run the method, evaluate before/after (accuracy, "
        "loss, MIAs, verification EER for speaker models), attack (relearning, informed "
        "MIA, optionally a sequential request), and write the new checkpoint, record.json, "
        "record.md with plots and artefacts.json into OUT. The original checkpoint is only "
        "read.",
        epilog=FORGET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fg.add_argument("--checkpoint", required=True, help="the deployed model (.pt)")
    fg.add_argument("--manifest", required=True, help="its training manifest (JSONL)")
    fg.add_argument("--request", required=True, help="request file (.yaml/.json)")
    fg.add_argument("--out", required=True, help="run directory for the new checkpoint + record")
    fg.add_argument(
        "--heldout",
        help="manifest of utterances the model never saw (same labels): enables the MIAs, "
        "forget-class test accuracy and the informed attack",
    )
    fg.add_argument("--config", help="YAML of ForgetConfig overrides (method, attack, ...)")
    fg.add_argument(
        "--method",
        help="unlearning method (audio-unlearn methods); default ngplus. On a TTS checkpoint "
        "tts_steer / tts_steer_gate write an enrolment for inference-time steering (TruS) "
        "instead of new weights",
    )
    fg.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="method hyper-parameter (repeatable)"
    )
    fg.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="ForgetConfig setting, e.g. max_seconds=2 or attack.relearn.steps=40",
    )
    fg.add_argument(
        "--enrol-manifest",
        help="tts_steer: recordings (aligned manifest) of opt-out speakers outside training",
    )
    fg.add_argument("--no-progress", action="store_true", help="no progress bars")
    fg.add_argument(
        "--dry-run",
        action="store_true",
        help="check the request, checkpoint, data, method and --out, print the plan, write "
        "nothing and unlearn nothing",
    )
    fg.set_defaults(func=_cmd_forget)

    at = subparsers.add_parser(
        "attack",
        help="attack an unlearned model: relearning, sequential requests, informed MIA",
        description="Run one attack on the output of `forget` (--record DIR: results are "
        "added to its record) or on any checkpoint with its training manifest and the "
        "request it answered (--checkpoint/--manifest/--request; --out FILE for the JSON).",
    )
    at.add_argument("kind", choices=["relearn", "sequential", "informed-mia"])
    at.add_argument("--record", help="run directory written by `audio-unlearn forget`")
    at.add_argument("--checkpoint", help="an unlearned checkpoint (without --record)")
    at.add_argument("--manifest", help="the original training manifest (without --record)")
    at.add_argument("--heldout", help="held-out manifest (without --record)")
    at.add_argument("--request", help="the request the checkpoint answered (without --record)")
    at.add_argument("--config", help="ForgetConfig YAML (without --record)")
    at.add_argument("--option", action="append", metavar="KEY=VALUE", help="ForgetConfig setting")
    at.add_argument("--utterances", type=int, help="relearn: k forgotten utterances")
    at.add_argument("--minutes", type=float, help="relearn: minutes of forgotten audio")
    at.add_argument("--steps", type=int, help="relearn: optimiser steps")
    at.add_argument("--lr", type=float, help="relearn: learning rate")
    at.add_argument("--then", help="sequential: request file of the second request B")
    at.add_argument("--speakers", nargs="+", help="sequential: speakers of request B")
    at.add_argument("--out", help="write the result JSON here instead of into the record")
    at.set_defaults(func=_cmd_attack)

    pg = subparsers.add_parser(
        "purge",
        help="delete what in a forget run directory still holds forget-set data",
        description="Scan a run directory written by `forget` by content (hashes of the "
        "forgotten audio, their waveforms and embeddings, the original weights) and delete "
        "every file holding forget-set audio, features, embeddings or the original model; "
        "files that only name forgotten ids (split, request, record) are kept and listed. "
        "Scans again afterwards; exit 1 if anything remains.",
    )
    pg.add_argument("run_dir", help="run directory of a forget request")
    pg.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    pg.set_defaults(func=_cmd_purge)
