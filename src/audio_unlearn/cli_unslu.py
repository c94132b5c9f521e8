"""``audio-unlearn unslu``: run one UnSLU-BENCH setting (recipes/unslu/*.yaml) end to end."""

from __future__ import annotations

import argparse

__all__ = ["add_unslu_parser"]

EPILOG = """\
examples:
  audio-unlearn unslu recipes/unslu/smoke.yaml --out runs/unslu-smoke
  audio-unlearn unslu recipes/unslu/fsc_wav2vec2_base.yaml --out runs/fsc-w2v2 \\
      --trainer configs/trainer/gpu.yaml
  audio-unlearn unslu recipes/unslu/fsc_wav2vec2_base.yaml --out runs/fsc-w2v2 \\
      --set corpus.source=/data/fluent_speech_commands_dataset --set 'seeds=[0,1,2,3,4]'
"""


def _cmd_unslu(args: argparse.Namespace) -> int:
    from .run import run_config, warn_alias

    warn_alias("unslu", "classification` and `protocol: unslu-bench")
    run_config(
        args.config,
        args.set or [],
        args.out,
        trainer_preset=args.trainer,
        progress=not args.no_progress,
        default=("classification", "unslu-bench"),
    )
    return 0


def add_unslu_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``unslu`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "unslu",
        help="run an UnSLU-BENCH setting: split, original + gold, 8 methods x lr grid x "
        "seeds, lr chosen on validation, table beside the paper's values",
        description="Prepare the corpus and the saved speaker split, train the original "
        "and gold models with the paper's recipe, run every method at every learning rate "
        "and seed (one resumable cell each), choose each method's learning rate on "
        "validation, and write OUT/unslu_table.md and unslu_table.json with the published "
        "values beside ours. Finished cells are skipped on a rerun.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="recipe YAML, e.g. recipes/unslu/fsc_wav2vec2_base.yaml")
    parser.add_argument("--out", required=True, help="run directory (created; reused on resume)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. train.max_steps=100 or seeds=[0,1] (repeatable)",
    )
    parser.add_argument(
        "--trainer",
        metavar="PRESET.yaml",
        help="Lightning Trainer settings: configs/trainer/gpu.yaml (one GPU, bf16), "
        "ddp.yaml (all GPUs of a node), slurm.yaml (several nodes); the recipe's own "
        "`trainer:` keys override the preset",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_cmd_unslu)
    return parser
