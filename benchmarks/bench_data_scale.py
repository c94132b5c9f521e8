"""Peak memory and training throughput of the classification, ASR and TTS data paths at
1x and 10x corpus size: today's in-memory data vs streaming in DataLoader workers.

    python benchmarks/bench_data_scale.py --manifest data/synth-spk24/manifest.jsonl \
        --tasks classification asr tts --out benchmarks/results/data_scale.json

The 10x corpus reuses every audio file under ten ids each (the files are decoded ten
times, as a ten-times larger corpus would be). Each cell runs in its own process: build
the task's data module (the in-memory path loads the corpus, or computes every mel for
TTS; streaming checks the headers), then one epoch of the task's library model (Adam):

- classification: the log-mel CNN speaker classifier on 3.6 s windows (``WaveformCache``);
- asr: the CTC recogniser (the ASR recipe's model) on speech-cropped audio with random
  tails (``WaveformStore``, ``ASRDataModule``);
- tts: the flow-matching TTS model (the TTS recipe's default size) on phone-aligned mels
  (``TTSDataModule``).

Peak RSS is the process's maximum resident set plus its largest worker's (``ru_maxrss``
of self and children). ``--utterances`` takes the first N utterances as the 1x corpus.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

TASKS = ("classification", "asr", "tts")


def _corpus(manifest: str, copies: int, utterances: int | None):
    from audio_unlearn.data.manifest import Utterance, read_manifest
    from audio_unlearn.data.splits import ForgetSplit

    base = read_manifest(manifest)[:utterances]
    utts = [Utterance(**{**u.__dict__, "id": f"{u.id}#{k}"}) for k in range(copies) for u in base]
    ids = tuple(u.id for u in utts)
    split = ForgetSplit(kind="item", forget=ids[:1], retain=ids[1:], valid=(), test=())
    return utts, split


def _classification(utts, split, stream: bool, workers: int, batch: int):
    import torch

    from audio_unlearn.data.datamodule import UnlearningDataModule, WaveformCache
    from audio_unlearn.models import build_classifier

    dm = UnlearningDataModule(
        utts,
        split,
        label_key="speaker",
        batch_size=batch,
        cache=WaveformCache(3.6, stream=stream),
        num_workers=workers,
        progress=False,
    )
    dm.setup()
    torch.manual_seed(0)
    model = build_classifier(num_classes=dm.num_classes, name="logmel_cnn")

    def loss(b):
        wavs, labels = b
        return torch.nn.functional.cross_entropy(model(wavs), labels), labels.numel()

    return dm, model, loss


def _asr(utts, split, stream: bool, workers: int, batch: int):
    import torch

    from audio_unlearn.data.asr_data import ASRDataModule, WaveformStore
    from audio_unlearn.models.asr import CTCRecognizer

    torch.manual_seed(0)
    model = CTCRecognizer()
    store = WaveformStore(crop="speech", margin_s=0.3, stream=stream)
    dm = ASRDataModule(
        utts,
        split,
        model.vocab.encode,
        batch_size=batch,
        store=store,
        progress=False,
        random_tail=True,
        num_workers=workers,
    )
    dm.setup()

    def loss(b):
        return model.loss(*b).mean(), b[0].shape[0]

    return dm, model, loss


def _tts(utts, split, stream: bool, workers: int, batch: int):
    import torch

    from audio_unlearn.data.tts_data import TTSDataModule
    from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig, PhoneVocabulary
    from audio_unlearn.runners.tts_config import DEFAULT_MODEL

    vocab = PhoneVocabulary.from_utterances(utts)
    dm = TTSDataModule(
        utts, split, vocab, batch_size=batch, progress=False, stream=stream, num_workers=workers
    )
    dm.dataset("train")  # the in-memory path computes every mel here
    torch.manual_seed(0)
    model = FlowMatchingTTS(FlowMatchingTTSConfig(n_phones=len(vocab), **DEFAULT_MODEL))

    def loss(b):
        mels, phones, lengths = b[:3]
        return model.flow_loss(mels, phones, lengths), mels.shape[0]

    return dm, model, loss


def _cell(
    task: str,
    manifest: str,
    copies: int,
    stream: bool,
    workers: int,
    batch: int,
    utterances: int | None,
) -> dict:
    import torch

    utts, split = _corpus(manifest, copies, utterances)
    start = time.perf_counter()
    build = {"classification": _classification, "asr": _asr, "tts": _tts}[task]
    dm, model, loss_of = build(utts, split, stream, workers, batch)
    setup_s = time.perf_counter() - start
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    start = time.perf_counter()
    n = 0
    for b in dm.loader("train", shuffle=True):
        loss, k = loss_of(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += k
    epoch_s = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "utterances": len(utts),
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "samples_per_s": n / epoch_s,
        "peak_rss_mib": own + child,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest", required=True, help="a corpus with transcripts and alignments"
    )
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--out", default="benchmarks/results/data_scale.json")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--utterances", type=int, help="1x = the first N utterances (default all)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args(argv)
    if args.cell:
        task, copies, stream, workers = json.loads(args.cell)
        cell = _cell(task, args.manifest, copies, stream, workers, args.batch, args.utterances)
        print(json.dumps(cell))
        return 0
    rows = []
    for task in args.tasks:
        for copies in (1, 10):
            for stream, workers in ((False, 0), (True, args.workers)):
                cell = json.dumps([task, copies, stream, workers])
                cmd = [sys.executable, __file__, "--manifest", args.manifest, "--cell", cell]
                cmd += ["--batch", str(args.batch)]
                if args.utterances:
                    cmd += ["--utterances", str(args.utterances)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                row = {"task": task, "copies": copies, "stream": stream, "workers": workers}
                row |= json.loads(out.strip().splitlines()[-1])
                rows.append(row)
                print(row, flush=True)
    command = f"python benchmarks/bench_data_scale.py --manifest {args.manifest}"
    command += f" --tasks {' '.join(args.tasks)}"
    if args.utterances:
        command += f" --utterances {args.utterances}"
    command += f" --out {args.out}"
    record = {"command": command, "python": platform.python_version(), "rows": rows}
    by = {(r["task"], r["copies"], r["stream"]): r for r in rows}
    summary = {}
    for task in args.tasks:
        summary[task] = {
            "rss_10x_over_1x_cache": by[(task, 10, False)]["peak_rss_mib"]
            / by[(task, 1, False)]["peak_rss_mib"],
            "rss_10x_over_1x_stream": by[(task, 10, True)]["peak_rss_mib"]
            / by[(task, 1, True)]["peak_rss_mib"],
            **{
                f"stream_over_cache_samples_per_s_{c}x": by[(task, c, True)]["samples_per_s"]
                / by[(task, c, False)]["samples_per_s"]
                for c in (1, 10)
            },
        }
    record["summary"] = summary
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# Data at 1x and 10x: in-memory vs streaming in DataLoader workers",
        "",
        f"`{record['command']}` (one run; {args.workers} workers; 2 CPU cores shared by the "
        "training process and the workers).",
        "",
        "| task | corpus | data | workers | utterances | setup s | epoch s | samples/s "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['copies']}x | {'stream' if r['stream'] else 'in memory'} | "
            f"{r['workers']} | {r['utterances']} | {r['setup_s']:.1f} | {r['epoch_s']:.1f} | "
            f"{r['samples_per_s']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "| task | peak RSS 10x / 1x, in memory | peak RSS 10x / 1x, stream "
        "| samples/s stream / in memory, 1x | 10x |",
        "|---|---|---|---|---|",
    ]
    for task, v in summary.items():
        lines.append(
            f"| {task} | {v['rss_10x_over_1x_cache']:.2f} | {v['rss_10x_over_1x_stream']:.2f} | "
            f"{v['stream_over_cache_samples_per_s_1x']:.2f} | "
            f"{v['stream_over_cache_samples_per_s_10x']:.2f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
