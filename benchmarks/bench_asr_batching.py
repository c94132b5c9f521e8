"""Batched vs one-file-at-a-time ASR scoring: same files, same model, one run.

Random CTC models (no download) transcribe synthetic espeak-ng speech with
:class:`audio_unlearn.evaluation.asr.CTCTranscriber`, two ways over the same files:

- ``one_by_one``: ``transcribe([w])`` for every file (the natural per-file call: logits of
  one file, then its greedy decoding);
- ``batched``: ``transcribe(all files)``, length-bucketed batches; also with
  ``streams=2`` (two batches at once, one CPU thread each).

Both must give identical transcripts and CTC logits within 1e-4 (and the first files are
checked against the model's own transformers forward, without this library's front end).
Timing: ``--repeats`` interleaved rounds (one-by-one, batched, batched with streams), the
minimum of each; process CPU time is recorded beside wall time, and the machine load.
Where the time goes: one extra pass of each, timed per stage (input preparation, the
convolutional front end, the transformer + CTC head, decoding), and the same two passes
with one CPU thread (the work, free of threading effects).

Scenarios (one row each):

- ``commands_layer_norm``: 100 single espeak commands cut at the end of speech
  (0.9-2.3 s, the utterances of command / SLU sets); 6-layer, 256-wide wav2vec2 with a
  layer-norm feature encoder (HuBERT-large-like).
- ``tts_lengths_layer_norm``: 100 utterances of 2.6-10 s (2-6 commands of one speaker
  joined with 0.2 s pauses: the lengths of zero-shot TTS evaluation), same model.
- ``commands_group_norm``: the commands with a group-norm feature encoder
  (wav2vec2-base-like): features are computed per utterance, so different lengths batch.
- ``fixed_window_group_norm``: the 3.6 s fixed-window corpus files, group-norm model.
- ``commands_hubert_large``: the first ``--large-n`` commands with a randomly initialised
  model of HuBERT-large's shape (24 layers, 1024 wide, 512-channel front end; the paper's
  WER judge ``facebook/hubert-large-ls960-ft``), skipped with ``--large-n 0``.

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_asr_batching.py \\
        [--out benchmarks/results/asr_batching.json] [--repeats 3] [--large-n 30]
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
SMALL = {"hidden_size": 256, "num_hidden_layers": 6, "num_attention_heads": 4}
SMALL_EXTRA = {"intermediate_size": 1024, "conv_dim": (128,) * 7}
LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16}
LARGE_EXTRA = {"intermediate_size": 4096, "conv_dim": (512,) * 7}


def save_random_ctc(directory: Path, *, norm: str, size: str = "small", seed: int = 0) -> int:
    """Write a random wav2vec2/HuBERT CTC model + processor; return its parameter count."""
    from transformers import (
        HubertConfig,
        HubertForCTC,
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
    shape = {**SMALL, **SMALL_EXTRA} if size == "small" else {**LARGE, **LARGE_EXTRA}
    kwargs = dict(
        vocab_size=len(vocab),
        **shape,
        feat_extract_norm=norm,  # wav2vec2 strides and kernels: 20 ms frames
        do_stable_layer_norm=norm == "layer",
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    if size == "small":
        model = Wav2Vec2ForCTC(Wav2Vec2Config(**kwargs))
    else:
        model = HubertForCTC(HubertConfig(**kwargs))
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


def one_by_one(tr: CTCTranscriber, wavs):
    """The natural per-file call: transcribe([w]) = decode(logits([w])), file after file."""
    logits = [tr.logits([w])[0] for w in wavs]
    return logits, [tr.decode([lg])[0] for lg in logits]


def batched(tr: CTCTranscriber, wavs):
    """transcribe(wavs) = decode(logits(wavs)), keeping the logits to compare."""
    logits = tr.logits(wavs)
    return logits, tr.decode(logits)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


class _StageClock:
    """Seconds spent per stage of CTCTranscriber.logits/decode during one pass."""

    def __init__(self, tr: CTCTranscriber):
        self.tr, self.seconds = tr, {}

    def _wrap(self, name, fn):
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed_call

    def run(self, mode: str, wavs) -> dict:
        tr = self.tr
        extractor = tr.processor.feature_extractor
        clock = self

        class _TimedExtractor:
            def __getattr__(self, name):
                return getattr(extractor, name)

            def __call__(self, *args, **kwargs):
                return clock._wrap("input_preparation", extractor)(*args, **kwargs)

        tr.processor.feature_extractor = _TimedExtractor()
        tr._features = self._wrap("front_end", tr._features)
        model_forward = tr.model.forward
        tr.model.forward = self._wrap("transformer_and_head", model_forward)
        tr.decode = self._wrap("decode", tr.decode)
        try:
            wall, _, _ = timed(lambda: (one_by_one if mode == "one_by_one" else batched)(tr, wavs))
        finally:
            tr.processor.feature_extractor = extractor
            del tr._features, tr.model.forward, tr.decode
        stages = {k: round(v, 3) for k, v in self.seconds.items()}
        stages["other"] = round(wall - sum(self.seconds.values()), 3)
        stages["total"] = round(wall, 3)
        return stages


def transformers_reference(model_dir: Path, wavs) -> list[torch.Tensor]:
    """Logits from the model's own transformers forward, one unpadded file at a time."""
    from transformers import AutoModelForCTC, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForCTC.from_pretrained(model_dir).eval()
    out = []
    with torch.inference_mode():
        for w in wavs:
            x = processor.feature_extractor(w.numpy(), sampling_rate=SR, return_tensors="pt")
            out.append(model(x.input_values).logits[0])
    return out


def _top2_gap(logits: torch.Tensor) -> float:
    """Smallest difference between the best and second-best logit over the frames."""
    top = logits.topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


def max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def run_scenario(name: str, model_dir: Path, wavs, args) -> dict:
    kwargs = {"device": args.device}
    if args.max_batch_samples is not None:
        kwargs["max_batch_samples"] = args.max_batch_samples
    tr = CTCTranscriber(model_dir, **kwargs).load()
    tr_streams = CTCTranscriber(model_dir, streams=2, **kwargs).load()
    # the previous implementation's strategy: transformers' own front end on padded
    # waveforms (layer norm) or equal-length batches only (group norm)
    previous = "attention_mask" if tr.model.config.feat_extract_norm == "layer" else "none"
    tr_module = CTCTranscriber(model_dir, fast_front_end=False, **kwargs).load()
    tr_prev = CTCTranscriber(model_dir, fast_front_end=False, padding=previous, **kwargs).load()
    for t in (tr, tr_streams, tr_module, tr_prev):
        t.transcribe(wavs[:4])  # warm-up (first-call allocations)
    modes = {
        "one_by_one": lambda: one_by_one(tr, wavs),
        "batched": lambda: batched(tr, wavs),
        "batched_streams": lambda: batched(tr_streams, wavs),
        "one_by_one_module_front_end": lambda: one_by_one(tr_module, wavs),
        "batched_previous_strategy": lambda: batched(tr_prev, wavs),
    }
    walls = {m: [] for m in modes}
    cpus = {m: [] for m in modes}
    results = {}
    load_before = os.getloadavg()
    for _ in range(args.repeats):  # interleaved, so load changes hit every mode alike
        for mode, fn in modes.items():
            wall, cpu, results[mode] = timed(fn)
            walls[mode].append(round(wall, 3))
            cpus[mode].append(round(cpu, 3))
    load_after = os.getloadavg()
    logits_s, texts_s = results["one_by_one"]
    exact = {}
    for mode in [m for m in modes if m != "one_by_one"]:
        logits_b, texts_b = results[mode]
        shapes = all(a.shape == b.shape for a, b in zip(logits_b, logits_s, strict=True))
        diff = max_diff(logits_b, logits_s)
        differing = [i for i, (a, b) in enumerate(zip(texts_b, texts_s, strict=True)) if a != b]
        exact[mode] = {
            "identical_transcripts": not differing,
            "n_transcripts_differing": len(differing),
            "max_abs_logit_diff": diff,
            "within_tolerance": shapes and diff <= ATOL,
        }
        if differing:  # an arg-max near-tie flips on float rounding: how near?
            gaps = [_top2_gap(logits_s[i]) for i in differing]
            exact[mode]["smallest_top2_logit_gap_in_differing_files"] = min(gaps)
    n_ref = min(10, len(wavs))
    reference = transformers_reference(model_dir, wavs[:n_ref])
    ref_diff = max_diff(reference, logits_s[:n_ref])

    # where the time goes: one more pass per mode, per stage; then the work on one thread
    profile = {m: _StageClock(tr).run(m, wavs) for m in ("one_by_one", "batched")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work = {m: round(timed(modes[m])[1], 3) for m in ("one_by_one", "batched")}
    finally:
        torch.set_num_threads(threads)

    best = {m: min(v) for m, v in walls.items()}
    lengths = [w.numel() / SR for w in wavs]
    row = {
        "scenario": name,
        "n_utterances": len(wavs),
        "audio_seconds": round(sum(lengths), 2),
        "length_s": {"min": round(min(lengths), 2), "max": round(max(lengths), 2)},
        "transcriber": tr.describe(),
        "wall_s": best,
        "wall_runs_s": walls,
        "cpu_s_min": {m: min(v) for m, v in cpus.items()},
        "speedup": round(best["one_by_one"] / best["batched"], 2),
        "speedup_streams": round(best["one_by_one"] / best["batched_streams"], 2),
        "previous_strategy": {
            "padding": previous,
            "front_end": "transformers module",
            "speedup": round(
                best["one_by_one_module_front_end"] / best["batched_previous_strategy"], 2
            ),
            "batched_now_vs_one_by_one_then": round(
                best["one_by_one_module_front_end"] / best["batched"], 2
            ),
        },
        "work_1_thread_cpu_s": work,
        "work_ratio_1_thread": round(work["one_by_one"] / work["batched"], 2),
        "stage_seconds": profile,
        "padded_frames_fraction": _padding_fraction(tr, wavs),
        "exactness": exact,
        "distinct_transcripts": len(set(texts_s)),
        "max_abs_logit_diff_vs_transformers_forward": ref_diff,
        "reference_files_checked": n_ref,
        "tolerance": ATOL,
        "loadavg_before_after": [list(load_before), list(load_after)],
    }
    print(
        f"{name:24s} {row['audio_seconds']:6.1f} s audio  one-by-one {best['one_by_one']:6.2f}"
        f" s  batched {best['batched']:6.2f} s ({row['speedup']:.2f}x)  streams "
        f"{best['batched_streams']:6.2f} s ({row['speedup_streams']:.2f}x)  1-thread work "
        f"{row['work_ratio_1_thread']:.2f}x  batched exact="
        f"{exact['batched']['within_tolerance'] and exact['batched']['identical_transcripts']}",
        flush=True,
    )
    return row


def _padding_fraction(tr: CTCTranscriber, wavs) -> float:
    """Padded transformer frames / real frames in the batched run (sorted buckets)."""
    from audio_unlearn.evaluation.batching import length_batches

    samples = [w.numel() for w in wavs]
    frames = [tr._n_frames(n) for n in samples]
    batches = length_batches(
        samples,
        max_batch_samples=tr.max_batch_samples,
        max_padding=None if tr.uses_attention_mask else 0,
    )
    padded = sum(len(b) * frames[b[0]] for b in batches)
    return round(padded / sum(frames) - 1, 4)


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


def matmul_gflops() -> dict:
    """fp32 matmul throughput at transformer-like shapes, 1 and all threads (GFLOP/s)."""
    out = {}
    threads = torch.get_num_threads()
    try:
        for n_threads in sorted({1, threads}):
            torch.set_num_threads(n_threads)
            for rows in (50, 100, 800):
                a, w = torch.randn(rows, 1024), torch.randn(4096, 1024)
                torch.nn.functional.linear(a, w)
                start, n = time.perf_counter(), 0
                while time.perf_counter() - start < 0.3:
                    torch.nn.functional.linear(a, w)
                    n += 1
                rate = 2 * rows * 1024 * 4096 * n / (time.perf_counter() - start) / 1e9
                out[f"{n_threads}_threads_rows_{rows}"] = round(rate, 1)
    finally:
        torch.set_num_threads(threads)
    return out


def write_markdown(result: dict, path: Path) -> None:
    """A readable summary of the results: the ratios, where the time goes, and why."""
    lines = [
        "# ASR scoring: batched vs one file at a time",
        "",
        f"`{result['command']}` ({result['total_seconds']} s, "
        f"{result['machine']['cpu_count']} CPU cores, torch {result['machine']['torch']}, "
        f"{result['timing']}). Random CTC models of the shapes below (no download), "
        f"{result['data']}.",
        "",
        "| scenario | files | audio s | one-by-one s | batched s | speed-up | streams=2 "
        "| 1-thread work ratio | previous strategy | batched now vs one-by-one with "
        "transformers' front end | batched transcripts == one-by-one | max abs logit diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    loads = [x[0] for r in result["results"] for x in r["loadavg_before_after"]]
    usage = [r["cpu_s_min"][m] / r["wall_s"][m] for r in result["results"] for m in r["wall_s"]]
    usage.sort()
    lines[-2:-2] = [
        f"Shared machine: 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the "
        "run (this benchmark counts for about 1); process CPU time / wall time per mode "
        f"{usage[0]:.2f}-{usage[-1]:.2f}, median {usage[len(usage) // 2]:.2f} (1: one core "
        "busy on average, 2: both), so other jobs often held a core. The one-thread work "
        "ratio (CPU seconds on one thread) is the figure least affected by them.",
        "",
    ]
    for r in result["results"]:
        exact = r["exactness"]
        lines.append(
            f"| {r['scenario']} | {r['n_utterances']} | {r['audio_seconds']} | "
            f"{r['wall_s']['one_by_one']:.2f} | {r['wall_s']['batched']:.2f} | "
            f"{r['speedup']:.2f}x | {r['speedup_streams']:.2f}x | "
            f"{r['work_ratio_1_thread']:.2f}x | {r['previous_strategy']['speedup']:.2f}x | "
            f"{r['previous_strategy']['batched_now_vs_one_by_one_then']:.2f}x | "
            f"{exact['batched']['identical_transcripts']} | "
            f"{exact['batched']['max_abs_logit_diff']:.1e} |"
        )
    notes = []
    for r in result["results"]:
        for mode, e in r["exactness"].items():
            if not e["identical_transcripts"]:
                notes.append(
                    f"- {r['scenario']}, {mode}: {e['n_transcripts_differing']} of "
                    f"{r['n_utterances']} transcripts differ from one-by-one although the "
                    f"logits agree within {e['max_abs_logit_diff']:.1e}: an arg-max near-tie "
                    "of the random model (top-2 logit gap "
                    f"{e['smallest_top2_logit_gap_in_differing_files']:.1e}) flips on float "
                    "rounding."
                )
    within = all(e["within_tolerance"] for r in result["results"] for e in r["exactness"].values())
    lines += [
        "",
        "All modes (batched, streams=2, transformers' front end per file, the previous "
        "batching strategy) give logits "
        + ("within" if within else "NOT all within")
        + " 1e-4 of one-by-one in every scenario"
        + (". Transcripts:" if notes else ", and identical transcripts."),
        *notes,
        "",
        "## Where the time goes (seconds per stage, one pass, all threads)",
        "",
        "| scenario | mode | input prep | front end | transformer + head | decode | other "
        "| total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["results"]:
        for mode, st in r["stage_seconds"].items():
            lines.append(
                f"| {r['scenario']} | {mode} | {st.get('input_preparation', 0):.3f} | "
                f"{st.get('front_end', 0):.3f} | {st.get('transformer_and_head', 0):.3f} | "
                f"{st.get('decode', 0):.3f} | {st['other']:.3f} | {st['total']:.3f} |"
            )
    gflops = result["matmul_gflops"]
    lines += [
        "",
        "fp32 matmul throughput on this machine (GFLOP/s, rows x 1024 @ 1024 x 4096): "
        + ", ".join(f"{k} {v}" for k, v in gflops.items())
        + ".",
        "",
        "## Why the ratio is what it is",
        "",
        "Batching can only save what a batch of one wastes. Per scenario, from the stage "
        "profile above and the extra runs:",
        "",
        "| scenario | per-file time outside the model | front end share of per-file time "
        "| ceiling if the batched transformer cost nothing | transformer + head: one-by-one / "
        "batched | per-file: transformers front end / ours |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["results"]:
        one, bat = r["stage_seconds"]["one_by_one"], r["stage_seconds"]["batched"]
        outside = one.get("input_preparation", 0) + one.get("decode", 0) + one["other"]
        ceiling = one["total"] / (one["total"] - one["transformer_and_head"])
        lines.append(
            f"| {r['scenario']} | {100 * outside / one['total']:.0f}% | "
            f"{100 * one.get('front_end', 0) / one['total']:.0f}% | {ceiling:.1f}x | "
            f"{one['transformer_and_head'] / bat['transformer_and_head']:.2f}x | "
            f"{r['wall_s']['one_by_one_module_front_end'] / r['wall_s']['one_by_one']:.2f}x |"
        )
    gemm = []
    for n_threads in sorted({int(k.split("_")[0]) for k in gflops}):
        small = gflops.get(f"{n_threads}_threads_rows_50")
        large = gflops.get(f"{n_threads}_threads_rows_800")
        if small and large:
            gemm.append(
                f"{n_threads} thread(s): {small} GFLOP/s at 50 rows (one 1 s file) vs {large} "
                f"at 800 rows (a 16 s batch), {large / small:.2f}x"
            )
    lines += [
        "",
        "- Input preparation, decoding and Python outside the model are a small share of the "
        "per-file time: removing them entirely would barely move the ratio.",
        "- The convolutional front end does the same arithmetic per sample whatever the "
        "batch (its cost is proportional to the audio; batching it gains little or loses "
        "cache locality), so it runs per utterance in both paths; for layer-norm encoders as "
        "channels-last matrix products (last column: how much faster than transformers' "
        "channels-first module, which transposes around every layer norm; outputs equal "
        "within 1e-4). Its share of the per-file time caps the speed-up even if batching "
        "made the transformer free (ceiling column).",
        "- The transformer's matrix products are where batching helps: more rows per product "
        "and fewer per-layer calls. With 1-3 s commands (50-115 frames per file) a batch of "
        "one leaves the matrix units partly idle and pays Python and threading overhead per "
        "layer; with TTS-length utterances (130-500 frames) one file already fills them. "
        "The matrix-product throughput measured at the two sizes bounds that gain: "
        + "; ".join(gemm)
        + ".",
        "- Two CPU cores: small per-file operations split badly between them; batched "
        "operations (or two batches at once, `streams=2`) use both.",
        "",
        "So the speed-up is bounded by (per-file time) / (front end + batched transformer), "
        "not by the number of files per batch.",
    ]
    best = max(max(r["speedup"], r["speedup_streams"]) for r in result["results"])
    if best >= 5:
        lines.append(f"The >= 5x target is met (best {best:.2f}x).")
    else:
        lines.append(
            f"The >= 5x target is not met here (best {best:.2f}x): it would need the per-file "
            "path to waste four fifths of its time, and on this 2-core CPU it wastes far less "
            "(one-thread work ratios above); only an artificially slow per-file baseline "
            "would show 5x."
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/asr_batching.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max-batch-samples", type=int, default=None, help="default: the transcriber's"
    )
    parser.add_argument("--large-n", type=int, default=30, help="0 skips the HuBERT-large row")
    parser.add_argument("--n", type=int, default=N_UTTERANCES, help="utterances per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default=None, help="keep corpus and models here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        sets = {k: v[: args.n] for k, v in build_sets(work / "corpus", args.seed).items()}
        n_params = {
            f"small_{norm}": save_random_ctc(work / f"ctc_{norm}", norm=norm, seed=args.seed)
            for norm in ("layer", "group")
        }
        print(f"parameters: {n_params}", flush=True)
        rows = [
            run_scenario("commands_layer_norm", work / "ctc_layer", sets["commands"], args),
            run_scenario("tts_lengths_layer_norm", work / "ctc_layer", sets["tts_lengths"], args),
            run_scenario("commands_group_norm", work / "ctc_group", sets["commands"], args),
            run_scenario("fixed_window_group_norm", work / "ctc_group", sets["fixed_window"], args),
        ]
        if args.large_n > 0:
            n_params["hubert_large_shape"] = save_random_ctc(
                work / "ctc_large", norm="layer", size="large", seed=args.seed
            )
            rows.append(
                run_scenario(
                    "commands_hubert_large",
                    work / "ctc_large",
                    sets["commands"][: args.large_n],
                    args,
                )
            )
    result = {
        "benchmark": "ASR scoring: length-bucketed batches vs one file at a time",
        "command": " ".join(
            shlex.quote(a) for a in ["OMP_WAIT_POLICY=PASSIVE", sys.executable, *sys.argv]
        ),
        "models": {
            "small": {
                "kind": "random wav2vec2 CTC (no download)",
                **SMALL,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in SMALL_EXTRA.items()},
            },
            "hubert_large": {
                "kind": "random HuBERT CTC with facebook/hubert-large-ls960-ft's shape",
                **LARGE,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in LARGE_EXTRA.items()},
            },
            "parameters": n_params,
        },
        "data": "synthetic espeak-ng speech (audio_unlearn.data.synth, 4 speakers x 28 "
        "commands, mid noise)",
        "timing": f"minimum of {args.repeats} interleaved runs per mode, after a warm-up call",
        "machine": machine_info(args.device),
        "matmul_gflops": matmul_gflops(),
        "total_seconds": None,
        "results": rows,
    }
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, out.with_suffix(".md"))
    print(f"wrote {out} and {out.with_suffix('.md')} ({result['total_seconds']} s)")
    return result


if __name__ == "__main__":
    main()
