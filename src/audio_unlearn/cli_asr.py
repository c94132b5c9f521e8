"""``audio-unlearn asr-speaker``: the ASR speaker-forgetting experiment from a YAML."""

from __future__ import annotations

import argparse

__all__ = ["add_asr_parser"]


def _cmd_asr_speaker(args: argparse.Namespace) -> int:
    from .run import run_config, warn_alias

    warn_alias("asr-speaker", "asr")
    run_config(
        args.config,
        args.set or [],
        args.out,
        trainer_preset=args.trainer,
        progress=not args.no_progress,
        default=("asr", None),
    )
    return 0


def add_asr_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``asr-speaker`` subcommand to an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "asr-speaker",
        help="speaker forgetting for a speech recogniser (library CTC, transformers CTC or "
        "Whisper), end to end",
        description="Prepare the corpus, split off unseen test speakers and forget "
        "speakers, train the recogniser on train (the original, saved as "
        "OUT/checkpoints/original.pt: with the library's CTC model the offline WER judge, "
        "get_transcriber('library:OUT/checkpoints/original.pt'); with model.kind hf_ctc or "
        "hf_whisper a fine-tuning of model.source, saved as the directory "
        "OUT/checkpoints/original/) and on retain only (the retrained reference), run the "
        "asr_* unlearning methods, and write judge.json, report.json, report.md and "
        "tradeoff.png (WER, per-sample loss, duration-matched and informed membership "
        "attacks). With requests: [[spk_a], [spk_b, spk_c]] the forget requests run in "
        "sequence and earlier requests' speakers are re-measured after each later one. "
        "Finished steps are reused when settings match.",
        epilog="The YAML holds overrides of audio_unlearn.asr_experiment.ASRExperimentConfig "
        "(see recipes/asr_speaker/); --set takes the same keys with dots, e.g. "
        "--set train.epochs=5 or --set 'requests=[[spk11],[spk03]]'",
    )
    p.add_argument("config", nargs="?", help="YAML of overrides (default: built-in defaults)")
    p.add_argument("--out", required=True, help="run directory (created; reused on resume)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one setting (repeatable)"
    )
    p.add_argument(
        "--trainer",
        metavar="PRESET.yaml",
        help="Lightning Trainer settings, e.g. "
        "configs/trainer/gpu.yaml; the config's own trainer: keys win",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_asr_speaker)
    return p
