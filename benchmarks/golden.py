"""Golden files: every recipe's smoke-sized report, recorded before a refactor and compared after.

The runners are being folded into one (issue "one runner, tasks as plug-ins"). To show the
move keeps the numbers, this script runs each recipe at smoke size through its command-line
entry point (the same commands a user types), keeps every numeric metric of the report
(timings, speed-ups, hashes and paths left out: they differ between any two runs) and
writes them to ``tests/golden/<recipe>.json``. ``compare`` re-runs and lists each metric
whose value moved by more than the tolerance.

Usage::

    python benchmarks/golden.py record  --out runs/golden            # all recipes
    python benchmarks/golden.py compare --out runs/golden_after      # re-run and compare
    python benchmarks/golden.py compare --out runs/golden_after --only demo tts_speaker

The runs are deterministic on one machine, kernel set and thread count (a rerun
reproduces every metric exactly), so ``compare`` uses ``--atol 1e-6`` by default: run it
on the machine kind and kernel set that recorded (the file says which). Reports from
another kernel set move by the spreads of ``tests/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from audio_unlearn.testing.bands import flatten  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
CLI = [sys.executable, "-m", "audio_unlearn.cli"]

# recipe -> (steps, the report files whose numbers are kept); "{out}" is the recipe's
# run directory, "{work}" a scratch directory beside it (corpora, deployed models)
RECIPES: dict[str, tuple[list[list[str]], list[str]]] = {
    "demo": (
        [
            [
                *CLI,
                *("run", "recipes/demo/config.yaml", "--out", "{out}", "--no-progress"),
                *("--set", "corpus.dir={work}/corpus"),
                *("--set", "corpus.synth={n_speakers: 16, n_intents: 6, repeats_per_intent: 2}"),
                *("--set", "split.n_test_speakers=4", "--set", "split.n_speakers=2"),
                *("--set", "split.min_utterances=1", "--set", "train.epochs=2"),
            ]
        ],
        ["report.json"],
    ),
    "prune_regrow": (
        [
            [
                *CLI,
                *("run", "recipes/prune_regrow/smoke.yaml", "--out", "{out}", "--no-progress"),
                *("--set", "corpus.dir={work}/corpus"),
            ]
        ],
        ["report.json"],
    ),
    "unslu": (
        [
            [
                sys.executable,
                "-c",
                "import sys; from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder"
                " as s; s(sys.argv[1], 'wav2vec2')",
                "{work}/tiny-wav2vec2",
            ],
            [
                *CLI,
                *("run", "recipes/unslu/smoke.yaml", "--out", "{out}", "--no-progress"),
                *("--set", "corpus.dir={work}/corpus"),
                *("--set", "model.pretrained={work}/tiny-wav2vec2"),
            ],
        ],
        ["unslu_table.json"],
    ),
    "asr_speaker": (
        [
            [
                *CLI,
                *("run", "recipes/asr_speaker/synthetic.yaml", "--out", "{out}"),
                "--no-progress",
                *("--set", "corpus.dir={work}/corpus"),
                *("--set", "corpus.synth={n_speakers: 8, n_intents: 4, repeats_per_intent: 2}"),
                *("--set", "split.n_test_speakers=2", "--set", "split.min_utterances=1"),
                *("--set", "train.epochs=2", "--set", "eval.mia_bin_s=5.0"),
                *("--set", "eval.judge_full_audio=true"),
            ]
        ],
        ["report.json", "judge.json"],
    ),
    "tts_speaker": (
        [
            [
                *CLI,
                *("run", "recipes/tts_speaker/synthetic.yaml", "--out", "{out}"),
                "--no-progress",
                *("--set", "corpus.dir={work}/corpus"),
                *(
                    "--set",
                    "corpus.synth={n_speakers: 6, n_intents: 3, repeats_per_intent: 1, "
                    "noise: clean}",
                ),
                *("--set", "split.n_test_speakers=2", "--set", "split.n_speakers=1"),
                *("--set", "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}"),
                *("--set", "train.steps=4", "--set", "train.batch_size=4"),
                *("--set", "train.precision=32-true"),
                *("--set", "unlearn={steps: 2, batch_size: 4, precision: 32-true}"),
                *("--set", "methods.tts_tgu={lr: 1.0e-4, cache_size: 1, teacher_nfe: 2}"),
                *("--set", "methods.tts_ng={lr: 1.0e-5, steps: 5}"),
                *("--set", "eval.per_speaker=1", "--set", "eval.nfe=2"),
                *("--set", "eval.judge_epochs=1", "--set", "eval.relearn_steps=2"),
                *("--set", "eval.probe_every=1"),
                *("--set", "eval.validation_texts=0", "--set", "seeds=null"),
            ]
        ],
        ["report.json", "judge.json"],
    ),
    "speaker_id": (
        [
            [
                sys.executable,
                "recipes/speaker_id/prepare.py",
                *("--corpus", "{work}/corpus", "--out", "{work}/deploy"),
                *("--speakers", "12", "--intents", "6", "--repeats", "2", "--epochs", "10"),
            ],
            [
                *CLI,
                *("forget", "--checkpoint", "{work}/deploy/model.pt"),
                *("--manifest", "{work}/deploy/train.jsonl"),
                *("--heldout", "{work}/deploy/heldout.jsonl"),
                *("--request", "recipes/speaker_id/request.yaml"),
                *("--config", "recipes/speaker_id/config.yaml", "--out", "{out}"),
                *("--option", "attack.relearn.steps=6", "--option", "attack.relearn.eval_every=2"),
            ],
        ],
        ["record.json"],
    ),
}

# numbers that differ between any two runs of the same computation: timings, and what is
# computed from them (speed-ups; GUM / CGUM, whose efficiency term is a speed-up)
VOLATILE = re.compile(
    r"(^|[._/])(time|times|seconds|elapsed|wall|speed_?up|speedup|hash|hashes|sha\w*|"
    r"date|created|duration_s|t_[a-z]+|\w*_s|\w*_time|\w*seconds|progress|efficiency|"
    r"gum|cgum|gum_terms|cgum_terms)($|[._/\[])",
    re.IGNORECASE,
)


def metrics(run: Path, files: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in files:
        for key, value in flatten(json.loads((run / name).read_text())).items():
            if not VOLATILE.search(key):
                found[f"{name}:{key}"] = value
    return found


def run_recipe(name: str, base: Path) -> tuple[Path, float]:
    steps, _ = RECIPES[name]
    out, work = base / name, base / f"{name}.work"
    if (out / ".done").is_file():
        return out, float((out / ".done").read_text())
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONHASHSEED="0")
    start = time.perf_counter()
    for step in steps:
        argv = [a.replace("{out}", str(out)).replace("{work}", str(work)) for a in step]
        print("+", " ".join(argv[2:] if argv[:3] == CLI else argv), flush=True)
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    (out / ".done").write_text(f"{seconds:.1f}")
    return out, seconds


def machine() -> dict[str, object]:
    import torch

    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("action", choices=["record", "compare"])
    p.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    p.add_argument("--only", nargs="+", choices=sorted(RECIPES), help="these recipes only")
    p.add_argument("--atol", type=float, default=1e-6)
    p.add_argument("--rtol", type=float, default=0.0)
    args = p.parse_args(argv)
    names = args.only or sorted(RECIPES)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    moved_any = False
    for name in names:
        run, seconds = run_recipe(name, args.out)
        found = metrics(run, RECIPES[name][1])
        path = GOLDEN / f"{name}.json"
        if args.action == "record":
            path.write_text(
                json.dumps(
                    {"commit": commit, "machine": machine(), "metrics": found},
                    indent=1,
                    sort_keys=True,
                )
                + "\n"
            )
            print(f"{name}: {len(found)} metrics recorded in {seconds:.0f} s -> {path}")
            continue
        golden = {
            k: v
            for k, v in json.loads(path.read_text())["metrics"].items()
            if not VOLATILE.search(k.split(":", 1)[1])
        }
        moved, missing, new = [], sorted(set(golden) - set(found)), sorted(set(found) - set(golden))
        for key in sorted(set(golden) & set(found)):
            a, e = found[key], golden[key]
            same_nan = math.isnan(a) and math.isnan(e)
            if not same_nan and not abs(a - e) <= args.atol + args.rtol * abs(e):
                moved.append((key, e, a))
        moved_any |= bool(moved or missing)
        print(
            f"{name}: {len(golden)} golden metrics, {len(moved)} moved, {len(missing)} missing, "
            f"{len(new)} new ({seconds:.0f} s)"
        )
        for key, e, a in moved:
            print(f"  moved   {key}: {e:.6g} -> {a:.6g} ({a - e:+.3g})")
        for key in missing:
            print(f"  missing {key}")
        for key in new:
            print(f"  new     {key}")
    return 1 if moved_any else 0


if __name__ == "__main__":
    raise SystemExit(main())
