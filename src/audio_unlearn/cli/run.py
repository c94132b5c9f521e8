"""``audio-unlearn run``: one command for every task (the config's ``task:`` picks the
runner, :mod:`audio_unlearn.run`), and the old per-task commands as aliases of it."""

from __future__ import annotations

import argparse

__all__ = ["add_run_aliases", "add_run_arguments"]

UNSLU_EPILOG = """\
examples:
  audio-unlearn run recipes/unslu/smoke.yaml --out runs/unslu-smoke
  audio-unlearn run recipes/unslu/fsc_wav2vec2_base.yaml --out runs/fsc-w2v2 \\
      --trainer configs/trainer/gpu.yaml
  audio-unlearn run recipes/unslu/fsc_wav2vec2_base.yaml --out runs/fsc-w2v2 \\
      --set corpus.source=/data/fluent_speech_commands_dataset --set 'seeds=[0,1,2,3,4]'
"""


def _cmd_run(args: argparse.Namespace) -> int:
    from ..run import plan_config, run_config, warn_alias

    if args.alias is not None:
        warn_alias(args.alias, args.default_kind[0])
    if args.dry_run:
        print(
            plan_config(
                args.config,
                args.set or [],
                args.out,
                trainer_preset=args.trainer,
                default=args.default_kind,
            )
        )
        return 0
    run_config(
        args.config,
        args.set or [],
        args.out,
        trainer_preset=args.trainer,
        progress=not args.no_progress,
        default=args.default_kind,
    )
    return 0


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    alias: str | None = None,
    default_kind: tuple[str, str | None] = ("classification", "forget"),
) -> argparse.ArgumentParser:
    """The arguments of ``run`` (and of its aliases, which default ``task:`` for configs
    that name none)."""
    parser.add_argument(
        "config", nargs="?", help="YAML of overrides (default: the task's built-in defaults)"
    )
    parser.add_argument("--out", required=True, help="run directory (created; reused on resume)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. train.epochs=10 (repeatable)",
    )
    parser.add_argument(
        "--trainer",
        metavar="PRESET.yaml",
        help="Lightning Trainer settings, e.g. configs/trainer/gpu.yaml (one GPU, bf16), "
        "ddp.yaml (all GPUs), slurm.yaml (several nodes); the config's own `trainer:` "
        "keys override the preset",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the config (types, ranges, methods, sweep, requests, --out) and print "
        "the plan and the resolved config; read no audio, train nothing, write nothing",
    )
    parser.set_defaults(func=_cmd_run, alias=alias, default_kind=default_kind)
    return parser


# alias -> (the (task, protocol) its configs default to, add_parser keyword arguments)
ALIASES: dict[str, tuple[tuple[str, str | None], dict]] = {
    "asr-speaker": (
        ("asr", None),
        dict(
            help="speaker forgetting for a speech recogniser (library CTC, transformers CTC or "
            "Whisper), end to end",
            description="Prepare the corpus, split off unseen test speakers and forget "
            "speakers, train the recogniser on train (the original, saved as "
            "OUT/checkpoints/original.pt: with the library's CTC model the offline WER judge, "
            "get_transcriber('library:OUT/checkpoints/original.pt'); with model.kind hf_ctc or "
            "hf_whisper a fine-tuning of model.source, saved as the directory "
            "OUT/checkpoints/original/) and on retain only (the retrained reference), run the "
            "unlearning methods, and write judge.json, report.json, report.md and "
            "tradeoff.png (WER, per-sample loss, duration-matched and informed membership "
            "attacks). With requests: [[spk_a], [spk_b, spk_c]] the forget requests run in "
            "sequence and earlier requests' speakers are re-measured after each later one. "
            "Finished steps are reused when settings match.",
            epilog="The YAML holds overrides of audio_unlearn.asr_experiment.ASRExperimentConfig "
            "(see recipes/asr_speaker/); --set takes the same keys with dots, e.g. "
            "--set train.epochs=5 or --set 'requests=[[spk11],[spk03]]'",
        ),
    ),
    "tts-speaker": (
        ("tts", None),
        dict(
            help="speaker-identity forgetting for a zero-shot flow-matching TTS, end to end",
            description="Prepare the corpus (default: clean synthetic espeak-ng speech with exact "
            "phone alignments), hold out unseen speakers and draw forget speakers, train the "
            "library's offline WER judge, pre-train the VoiceBox-style flow-matching TTS on "
            "every training speaker (original) and on the remain speakers only (exact "
            "unlearning), run the unlearning methods (TGU, SGU, NG, KL, FT), and evaluate every "
            "model by cross-sentence zero-shot cloning: SIM-o / SIM-r for forget, remain and "
            "unseen speakers, the cross-speaker SIM level, WER through the judge, spk-ZRF; "
            "the original's text-only generations (TGU's teacher voices) are scored as a "
            "reference row. Writes report.json, report.md, sim_distributions.png and "
            "tradeoff.png into OUT (and forgetting_curve.png with eval.probe_every > 0). "
            "Finished steps are reused when settings match.",
            epilog="The YAML holds overrides of audio_unlearn.tts_experiment.TTSExperimentConfig "
            "(see recipes/tts_speaker/); --set takes the same keys with dots, e.g. "
            "--set train.steps=500 --set 'methods={tts_tgu: {lr: 3e-4}}'",
        ),
    ),
    "unslu": (
        ("classification", "unslu-bench"),
        dict(
            help="run an UnSLU-BENCH setting: split, original + gold, 8 methods x lr grid x "
            "seeds, lr chosen on validation, table beside the paper's values",
            description="Prepare the corpus and the saved speaker split, train the original "
            "and gold models with the paper's recipe, run every method at every learning rate "
            "and seed (one resumable cell each), choose each method's learning rate on "
            "validation, and write OUT/unslu_table.md and unslu_table.json with the published "
            "values beside ours. Finished cells are skipped on a rerun.",
            epilog=UNSLU_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
    ),
}


def add_run_aliases(subparsers) -> None:
    """Add ``asr-speaker``, ``tts-speaker`` and ``unslu``: aliases of ``run`` that warn once."""
    for name, (kind, kwargs) in ALIASES.items():
        kwargs = dict(kwargs)
        kwargs["help"] = f"alias of `run` (task: {kind[0]}): " + kwargs["help"]
        p = subparsers.add_parser(name, **kwargs)
        add_run_arguments(p, alias=name, default_kind=kind)
