"""Seconds to build the TTS mel features of a corpus: computed (today) vs read from a warm
on-disk :class:`~audio_unlearn.data.tts_data.FeatureCache` (``data.feature_cache``).

    python benchmarks/bench_feature_cache.py --manifest data/synth-tts/manifest.jsonl \
        --out benchmarks/results/feature_cache.json

One process, one run: compute every utterance's features without a cache, then through
an empty cache (computes and writes), then through the warm cache (reads only); the
features read back are checked equal to the computed ones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="a corpus with phone alignments")
    parser.add_argument("--out", default="benchmarks/results/feature_cache.json")
    args = parser.parse_args(argv)

    import torch

    from audio_unlearn.data.manifest import read_manifest
    from audio_unlearn.data.tts_data import FeatureCache, TTSDataset
    from audio_unlearn.models.tts import MelConfig, MelFrontEnd, PhoneVocabulary

    utts = read_manifest(args.manifest)
    vocab = PhoneVocabulary.from_utterances(utts)
    front = MelFrontEnd(MelConfig())
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(Path(tmp) / "mels")
        start = time.perf_counter()
        computed = TTSDataset(utts, vocab, front)
        times["compute"] = time.perf_counter() - start
        start = time.perf_counter()
        TTSDataset(utts, vocab, front, cache=cache)
        times["compute_and_write"] = time.perf_counter() - start
        start = time.perf_counter()
        warm = TTSDataset(utts, vocab, front, cache=cache)
        times["read_warm_cache"] = time.perf_counter() - start
        assert cache.hits == len(utts), (cache.hits, len(utts))
        for (a, b), (c, d) in zip(computed.items, warm.items, strict=True):
            assert torch.equal(a, c) and torch.equal(b, d)
        size = sum(p.stat().st_size for p in (Path(tmp) / "mels").rglob("*.pt"))
    command = (
        f"python benchmarks/bench_feature_cache.py --manifest {args.manifest} --out {args.out}"
    )
    record = {
        "command": command,
        "utterances": len(utts),
        "seconds": times,
        "warm_over_compute": times["read_warm_cache"] / times["compute"],
        "cache_mib": size / 2**20,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# TTS mel features: computed vs read from the on-disk cache",
        "",
        f"`{command}` (one run, 2 CPU cores).",
        "",
        "| utterances | compute s | compute + write s | warm cache s | warm / compute "
        "| cache MiB |",
        "|---|---|---|---|---|---|",
        f"| {len(utts)} | {times['compute']:.1f} | {times['compute_and_write']:.1f} | "
        f"{times['read_warm_cache']:.1f} | {record['warm_over_compute']:.2f} | "
        f"{record['cache_mib']:.0f} |",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
