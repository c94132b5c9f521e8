"""Peak memory and training throughput of the classification data path at 1x and 10x
corpus size: the in-memory cache vs streaming audio decoded in DataLoader workers.

    python benchmarks/bench_data_scale.py --manifest data/synth-spk24/manifest.jsonl \
        --out benchmarks/results/data_scale.json

The 10x corpus reuses every audio file under ten ids each (the files are decoded ten
times, as a ten-times larger corpus would be). Each cell runs in its own process: build
the data module (the cache loads the corpus; streaming checks the headers), then one
epoch of the log-mel CNN speaker classifier (Adam) over all utterances. Peak RSS is the
process's maximum resident set plus its largest worker's (``ru_maxrss`` of self and
children).
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


def _cell(manifest: str, copies: int, stream: bool, workers: int, batch: int) -> dict:
    import torch

    from audio_unlearn.data.datamodule import UnlearningDataModule, WaveformCache
    from audio_unlearn.data.manifest import Utterance, read_manifest
    from audio_unlearn.data.splits import ForgetSplit
    from audio_unlearn.models import build_classifier

    base = read_manifest(manifest)
    utts = [Utterance(**{**u.__dict__, "id": f"{u.id}#{k}"}) for k in range(copies) for u in base]
    ids = tuple(u.id for u in utts)
    split = ForgetSplit(kind="item", forget=ids[:1], retain=ids[1:], valid=(), test=())
    start = time.perf_counter()
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
    setup_s = time.perf_counter() - start
    torch.manual_seed(0)
    model = build_classifier(num_classes=dm.num_classes, name="logmel_cnn")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    start = time.perf_counter()
    n = 0
    for wavs, labels in dm.loader("train", shuffle=True):
        loss = torch.nn.functional.cross_entropy(model(wavs), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += labels.numel()
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", default="benchmarks/results/data_scale.json")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args(argv)
    if args.cell:
        copies, stream, workers = json.loads(args.cell)
        print(json.dumps(_cell(args.manifest, copies, stream, workers, args.batch)))
        return 0
    rows = []
    for copies in (1, 10):
        for stream, workers in ((False, 0), (True, args.workers)):
            cell = json.dumps([copies, stream, workers])
            cmd = [sys.executable, __file__, "--manifest", args.manifest, "--cell", cell]
            cmd += ["--batch", str(args.batch)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            row = {"copies": copies, "stream": stream, "workers": workers}
            row |= json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(row, flush=True)
    record = {
        "command": f"python benchmarks/bench_data_scale.py --manifest {args.manifest} --out "
        f"{args.out}",
        "python": platform.python_version(),
        "rows": rows,
    }
    by = {(r["copies"], r["stream"]): r for r in rows}
    record["rss_10x_over_1x"] = {
        "cache": by[(10, False)]["peak_rss_mib"] / by[(1, False)]["peak_rss_mib"],
        "stream": by[(10, True)]["peak_rss_mib"] / by[(1, True)]["peak_rss_mib"],
    }
    record["stream_over_cache_samples_per_s"] = {
        str(c): by[(c, True)]["samples_per_s"] / by[(c, False)]["samples_per_s"] for c in (1, 10)
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# Classification data at 1x and 10x: in-memory cache vs streaming",
        "",
        f"`{record['command']}` (one run; 2 CPU cores).",
        "",
        "| corpus | audio | workers | utterances | setup s | epoch s | samples/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['copies']}x | {'stream' if r['stream'] else 'cache'} | {r['workers']} | "
            f"{r['utterances']} | {r['setup_s']:.1f} | {r['epoch_s']:.1f} | "
            f"{r['samples_per_s']:.0f} | {r['peak_rss_mib']:.0f} |"
        )
    ratio = record["rss_10x_over_1x"]
    speed = record["stream_over_cache_samples_per_s"]
    lines += [
        "",
        f"Peak RSS 10x / 1x: cache {ratio['cache']:.2f}, stream {ratio['stream']:.2f}. "
        f"Streaming / cache samples/s: 1x {speed['1']:.2f}, 10x {speed['10']:.2f}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
