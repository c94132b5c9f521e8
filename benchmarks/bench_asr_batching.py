"""Batched vs one-file-at-a-time ASR scoring: same files, same model, one run.

Builds a random CTC model of realistic shape (wav2vec2 convolutional front end with the
real 320x down-sampling, a 6-layer transformer; 5.6M parameters, no download), and
transcribes synthetic espeak-ng speech with :class:`audio_unlearn.evaluation.asr.CTCTranscriber`
twice: ``transcribe(all files)`` (length-bucketed batches) and a loop of
``transcribe([one file])``. Checks that transcripts are identical and CTC logits agree
within 1e-4, and records the speed-up.

Scenarios (each its own row in the results):

- ``tts_lengths_layer_norm``: 100 utterances of 2.6-10 s (2-6 espeak commands of one
  speaker, cut at the end of speech and joined with 0.2 s pauses: the length range of
  zero-shot TTS evaluation), model with a layer-norm feature encoder (HuBERT-large-like):
  padded batches with an attention mask.
- ``commands_layer_norm``: the 100 single commands cut at the end of speech (0.9-2.3 s).
- ``fixed_window_group_norm``: the 3.6 s fixed-window files as written by the corpus,
  model with a group-norm feature encoder (wav2vec2-base-like): no padding allowed, so
  only equal-length files share a batch (here all of them).

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_asr_batching.py \
        [--out benchmarks/results/asr_batching.json] [--repeats 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audio_unlearn.data.audio import load_audio
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.synth import SynthConfig, synthesize_corpus
from audio_unlearn.evaluation.asr import CTCTranscriber

SR = 16000
N_UTTERANCES = 100
ATOL = 1e-4


def save_random_ctc(directory: Path, *, norm: str, seed: int = 0) -> int:
    """Write a random wav2vec2 CTC model + processor; return its parameter count."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ'":
        vocab[c] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab_src.json").write_text(json.dumps(vocab))
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=256,
        num_hidden_layers=6,
        num_attention_heads=4,
        intermediate_size=1024,
        conv_dim=(128,) * 7,  # wav2vec2 strides and kernels: 20 ms frames
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config)
    model.save_pretrained(directory)
    Wav2Vec2Processor(
        feature_extractor=Wav2Vec2FeatureExtractor(
            sampling_rate=SR, do_normalize=True, return_attention_mask=norm == "layer"
        ),
        tokenizer=Wav2Vec2CTCTokenizer(str(directory / "vocab_src.json")),
    ).save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())


def speech_end(utt) -> int:
    """Sample index 0.15 s after the last aligned phone (the rest of the window is silence)."""
    end = max(span.end for span in utt.alignment) if utt.alignment else utt.duration
    return min(int((end + 0.15) * SR), int(utt.duration * SR))


def build_sets(corpus_dir: Path, seed: int) -> dict[str, list[torch.Tensor]]:
    corpus = synthesize_corpus(
        corpus_dir,
        SynthConfig(n_speakers=4, n_intents=28, repeats_per_intent=1, noise="mid", seed=seed),
        progress=False,
    )
    utts = read_manifest(corpus.manifest)
    root = corpus.manifest.parent
    full = [load_audio(root / u.audio, sample_rate=SR) for u in utts]
    cut = [w[: speech_end(u)] for u, w in zip(utts, full, strict=True)]
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[int]] = {}
    for i, u in enumerate(utts):
        by_speaker.setdefault(u.speaker, []).append(i)
    speakers = sorted(by_speaker)
    pause = torch.zeros(int(0.2 * SR))
    joined = []
    while len(joined) < N_UTTERANCES:
        items = by_speaker[speakers[int(rng.integers(len(speakers)))]]
        picks = rng.choice(items, size=int(rng.integers(2, 7)), replace=False)
        parts = []
        for j in picks:
            parts += [cut[int(j)], pause]
        wav = torch.cat(parts[:-1])
        if wav.numel() <= 10 * SR:
            joined.append(wav)
    return {
        "tts_lengths": joined,
        "commands": cut[:N_UTTERANCES],
        "fixed_window": full[:N_UTTERANCES],
    }


def timed(fn, repeats: int):
    """Best-of-``repeats`` wall time, all times, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, result


def run_scenario(name: str, model_dir: Path, wavs, args) -> dict:
    kwargs = {"device": args.device}
    if args.max_batch_samples is not None:
        kwargs["max_batch_samples"] = args.max_batch_samples
    tr = CTCTranscriber(model_dir, **kwargs)
    tr.transcribe(wavs[:4])  # warm-up (loads the model, first-call allocations)

    # transcribe() is decode(logits()): time exactly that, keeping the logits to compare.
    def batched():
        logits = tr.logits(wavs)
        return logits, tr.decode(logits)

    def one_by_one():
        logits = [tr.logits([w])[0] for w in wavs]
        return logits, [tr.decode([lg])[0] for lg in logits]

    t_batched, batched_runs, (logits_b, texts_b) = timed(batched, args.repeats)
    t_single, single_runs, (logits_s, texts_s) = timed(one_by_one, args.repeats)
    max_diff = max((a - b).abs().max().item() for a, b in zip(logits_b, logits_s, strict=True))
    same_shapes = all(a.shape == b.shape for a, b in zip(logits_b, logits_s, strict=True))
    lengths = [w.numel() / SR for w in wavs]
    row = {
        "scenario": name,
        "n_utterances": len(wavs),
        "audio_seconds": round(sum(lengths), 2),
        "length_s": {"min": round(min(lengths), 2), "max": round(max(lengths), 2)},
        "transcriber": tr.describe(),
        "batched_s": round(t_batched, 3),
        "one_by_one_s": round(t_single, 3),
        "batched_runs_s": [round(t, 3) for t in batched_runs],
        "one_by_one_runs_s": [round(t, 3) for t in single_runs],
        "speedup": round(t_single / t_batched, 2),
        "identical_transcripts": texts_b == texts_s,
        "distinct_transcripts": len(set(texts_b)),
        "max_abs_logit_diff": max_diff,
        "logits_within_tolerance": same_shapes and max_diff <= ATOL,
        "tolerance": ATOL,
    }
    print(
        f"{name:26s} {row['audio_seconds']:7.1f} s audio  batched {t_batched:6.2f} s  "
        f"one-by-one {t_single:6.2f} s  speed-up {row['speedup']:5.2f}x  "
        f"identical={row['identical_transcripts']}  max|dlogit|={max_diff:.2e}",
        flush=True,
    )
    return row


def machine_info(device: str) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "device": device,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    return info


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/asr_batching.json")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max-batch-samples", type=int, default=None, help="default: the transcriber's"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default=None, help="keep corpus and models here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        sets = build_sets(work / "corpus", args.seed)
        n_params = {
            norm: save_random_ctc(work / f"ctc_{norm}", norm=norm, seed=args.seed)
            for norm in ("layer", "group")
        }
        print(f"parameters: {n_params}", flush=True)
        rows = [
            run_scenario("tts_lengths_layer_norm", work / "ctc_layer", sets["tts_lengths"], args),
            run_scenario("commands_layer_norm", work / "ctc_layer", sets["commands"], args),
            run_scenario("fixed_window_group_norm", work / "ctc_group", sets["fixed_window"], args),
        ]
    result = {
        "benchmark": "ASR scoring: length-bucketed batches vs one file at a time",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "model": {
            "kind": "random wav2vec2 CTC (no download)",
            "hidden_size": 256,
            "layers": 6,
            "conv_dim": 128,
            "parameters": n_params,
        },
        "data": "synthetic espeak-ng speech (audio_unlearn.data.synth, 4 speakers x 28 "
        "commands, mid noise)",
        "timing": f"best of {args.repeats} runs each, after a warm-up call",
        "machine": machine_info(args.device),
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
