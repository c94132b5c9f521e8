"""``audio-unlearn tts-speaker``: zero-shot TTS speaker-identity forgetting from a YAML."""

from __future__ import annotations

import argparse

__all__ = ["add_tts_parser"]


def _cmd_tts_speaker(args: argparse.Namespace) -> int:
    from .run import run_config, warn_alias

    warn_alias("tts-speaker", "tts")
    run_config(
        args.config,
        args.set or [],
        args.out,
        trainer_preset=args.trainer,
        progress=not args.no_progress,
        default=("tts", None),
    )
    return 0


def add_tts_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``tts-speaker`` subcommand to an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "tts-speaker",
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
    )
    p.add_argument("config", nargs="?", help="YAML of overrides (default: built-in defaults)")
    p.add_argument("--out", required=True, help="run directory (created; reused on resume)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one setting (repeatable)"
    )
    p.add_argument(
        "--trainer",
        metavar="PRESET.yaml",
        help="Lightning Trainer settings, e.g. configs/trainer/gpu.yaml; the config's own "
        "trainer: keys win",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_tts_speaker)
    return p
