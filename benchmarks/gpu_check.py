"""One short GPU check: the demo and the UnSLU-BENCH smoke recipe with a trainer preset
(default ``configs/trainer/gpu.yaml``: one GPU, bf16), timed, with peak GPU memory and
training samples per second, written to one JSON.

Everything it needs is in the working tree or made here: the synthetic corpora are
synthesised (espeak-ng, the ``synth`` extra) and the UnSLU smoke's tiny wav2vec2 is
written by ``audio_unlearn.testing.tiny_hf``. Nothing is downloaded.

    python benchmarks/gpu_check.py --out runs/gpu_check             # on a GPU machine
    python benchmarks/gpu_check.py --out runs/gpu_check --cpu --tiny   # a dry run here

``benchmarks/gpu_check.sh`` wraps it for a bare GPU machine (wheels from ``.whl/``).
Samples per second = training utterances x epochs of the original model / its training
seconds (the demo), and methods' unlearning steps are not counted; the figures compare
machines and presets, not methods.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: smoke-sized overrides (--tiny): the recipes' plumbing in a minute on a CPU
TINY_DEMO = [
    "corpus.synth={n_speakers: 8, n_intents: 3, repeats_per_intent: 2}",
    "split.n_test_speakers=2",
    "split.n_speakers=1",
    "split.min_utterances=1",
    "train.epochs=1",
    "methods={ft: {epochs: 1}}",
]
TINY_UNSLU = [
    "corpus.synth={n_speakers: 8, n_intents: 3, repeats_per_intent: 2, window_s: 2.5}",
    "split.n_test_speakers=2",
    "split.n_valid_speakers=1",
    "train.max_steps=2",
    "lrs=[1.0e-4]",
    "seeds=[0]",
    "methods={ft: {}}",
]


def _gpu_memory() -> dict[str, float | None]:
    import torch

    if not torch.cuda.is_available():
        return {"peak_allocated_gib": None, "peak_reserved_gib": None}
    return {
        "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
    }


def _run(name: str, config: str, out: Path, trainer: str | None, sets: list[str]) -> dict:
    import torch

    from audio_unlearn.cli import main

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    argv = ["run", config, "--out", str(out / name), "--no-progress"]
    if trainer:
        argv += ["--trainer", trainer]
    for item in sets:
        argv += ["--set", item]
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    return {"exit_code": code, "wall_s": round(seconds, 2), **_gpu_memory()}


def _demo_throughput(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    config = (run / "config.yaml").read_text()
    import yaml

    epochs = yaml.safe_load(config)["train"]["epochs"]
    sizes = report["sizes"]
    original = next(r for r in report["models"] if r["role"] == "original")
    samples = (sizes["forget"] + sizes["retain"]) * epochs
    return {
        "train_samples": samples,
        "original_train_s": original["time_s"],
        "samples_per_s": samples / original["time_s"] if original["time_s"] else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu_check", help="run folders and gpu_check.json")
    parser.add_argument("--trainer", default=str(ROOT / "configs" / "trainer" / "gpu.yaml"))
    parser.add_argument("--cpu", action="store_true", help="no trainer preset (a CPU dry run)")
    parser.add_argument("--tiny", action="store_true", help="smoke-sized corpora and steps")
    args = parser.parse_args(argv)
    import torch

    from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = None if args.cpu else args.trainer
    if not args.cpu and not torch.cuda.is_available():
        print("error: no CUDA device; pass --cpu for a dry run", file=sys.stderr)
        return 2
    tiny_model = out / "tiny-wav2vec2"
    save_tiny_audio_encoder(str(tiny_model))
    demo_sets = [f"corpus.dir={out / 'corpus-demo'}", *(TINY_DEMO if args.tiny else [])]
    unslu_sets = [
        f"corpus.dir={out / 'corpus-unslu'}",
        f"model.pretrained={tiny_model}",
        *(TINY_UNSLU if args.tiny else []),
    ]
    record = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        },
        "trainer": trainer,
        "tiny": args.tiny,
        "demo": _run("demo", str(ROOT / "recipes/demo/config.yaml"), out, trainer, demo_sets),
        "unslu_smoke": _run(
            "unslu", str(ROOT / "recipes/unslu/smoke.yaml"), out, trainer, unslu_sets
        ),
    }
    if record["demo"]["exit_code"] == 0:
        record["demo"].update(_demo_throughput(out / "demo"))
    path = out / "gpu_check.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    ok = all(record[k]["exit_code"] == 0 for k in ("demo", "unslu_smoke"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
