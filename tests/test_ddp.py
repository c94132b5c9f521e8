"""DDP on two CPU processes (gloo, Lightning's subprocess launcher) for every task's runner:
two processes take part (each rank records its rank and world size), rank zero alone
writes and evaluates, and its metrics, computed once on the full sets, equal a
single-process evaluation of the same checkpoints."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audio_unlearn.run.ddp import rank_records

ROOT = Path(__file__).resolve().parents[1]
DDP_CPU = ROOT / "configs" / "trainer" / "ddp_cpu.yaml"

ASR_SMOKE = [
    "corpus.synth={n_speakers: 8, n_intents: 4, repeats_per_intent: 2}",
    "split.n_test_speakers=2",
    "split.min_utterances=1",
    "train.epochs=2",
    "eval.mia_bin_s=5.0",
    "methods={asr_ng: {}, ssd: {importance_batch_size: 1}}",
]


def _run(config, out, sets, *, trainer=None, cwd):
    cmd = [sys.executable, "-m", "audio_unlearn.cli", "run", *([str(config)] if config else [])]
    cmd += ["--out", str(out)]
    cmd += ["--no-progress", *(["--trainer", str(trainer)] if trainer else [])]
    for item in sets:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _metrics(report):
    return {
        (row["model"], key): value
        for row in report.get("models", report.get("rows"))
        for key, value in row.items()
        if isinstance(value, float)
        and key not in ("time_s", "seconds")
        and "fraction_time" not in key
    }


def _ddp_then_single(config, out, sets, *, stages, method, cwd, min_metrics):
    """Run under DDP on two CPU processes, check both ranks trained and rank zero alone
    reported, then rerun in one process on the same directory (every checkpoint reused,
    the evaluation redone) and check the metrics agree. Returns the DDP report."""
    stdout = _run(config, out, sets, trainer=DDP_CPU, cwd=cwd)
    records = rank_records(out)
    assert [(r["rank"], r["world_size"]) for r in records] == [(0, 2), (1, 2)]
    assert all(r["stages"] == stages for r in records)
    assert stdout.count(f"unlearning with {method}") == 1  # rank zero alone reports
    ddp = json.loads((out / "report.json").read_text())
    ddp["config_yaml"] = yaml.safe_load((out / "config.yaml").read_text())
    shutil.rmtree(out / "eval")  # the single-process run evaluates afresh
    stdout = _run(config, out, sets, cwd=cwd)
    assert "training the" not in stdout and "unlearning with" not in stdout
    single = json.loads((out / "report.json").read_text())
    a, b = _metrics(ddp), _metrics(single)
    assert a.keys() == b.keys() and len(a) > min_metrics
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-6), key
    return ddp


@pytest.mark.slow
@pytest.mark.synth
@pytest.mark.parametrize(
    "batching", [[], ["train.bucket_seconds=12.0"]], ids=["fixed", "duration_buckets"]
)
def test_asr_runner_under_ddp_trains_on_two_ranks_and_evaluates_once(tmp_path, batching):
    """Also with duration-bucketed batches, which shard themselves across the ranks."""
    sets = [f"corpus.dir={tmp_path / 'corpus'}", *ASR_SMOKE, *batching]
    config = ROOT / "recipes" / "asr_speaker" / "synthetic.yaml"
    ddp = _ddp_then_single(
        config,
        tmp_path / "run",
        sets,
        stages=["original", "gold"],
        method="asr_ng",
        cwd=tmp_path,
        min_metrics=20,
    )
    assert [r["model"] for r in ddp["models"]] == ["original", "retrained", "asr_ng", "ssd"]


TTS_SMOKE = [
    "corpus.synth={n_speakers: 6, n_intents: 3, repeats_per_intent: 1, noise: clean}",
    "split.n_test_speakers=2",
    "split.n_speakers=1",
    "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
    "train.steps=4",
    "train.batch_size=4",
    "train.precision=32-true",
    "unlearn={steps: 2, batch_size: 4, precision: 32-true}",
    "methods={tts_ng: {lr: 1.0e-5}, tts_tgu: {lr: 1.0e-4, cache_size: 1, teacher_nfe: 2}}",
    "eval.per_speaker=1",
    "eval.nfe=2",
    "eval.judge_epochs=1",
    "eval.relearn_steps=0",
    "eval.probe_every=0",
    "eval.validation_texts=0",
    "seeds=null",
]


@pytest.mark.slow
@pytest.mark.synth
def test_tts_runner_under_ddp_trains_on_two_ranks_and_evaluates_once(tmp_path):
    sets = [f"corpus.dir={tmp_path / 'corpus'}", *TTS_SMOKE]
    config = ROOT / "recipes" / "tts_speaker" / "synthetic.yaml"
    ddp = _ddp_then_single(
        config,
        tmp_path / "run",
        sets,
        stages=["original", "retrain"],
        method="tts_tgu",
        cwd=tmp_path,
        min_metrics=10,
    )
    names = [r["model"] for r in ddp["rows"]]
    assert names[0] == "original" and "tts_tgu" in names and "tts_ng" in names


CLASSIFICATION = [
    "split.n_test_speakers=3",
    "split.n_speakers=2",
    "split.min_utterances=1",
    "train.epochs=2",
    "train.batch_size=16",
    "max_seconds=1.0",
]


@pytest.mark.slow
def test_classification_runner_under_ddp_trains_on_two_ranks_and_evaluates_once(
    dummy_manifest, tmp_path
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION]
    ddp = _ddp_then_single(
        None, out, sets, stages=["original", "gold"], method="ng", cwd=tmp_path, min_metrics=20
    )
    assert [r["model"] for r in ddp["models"]] == ["original", "gold", "ft", "ng"]
    assert ddp["config_yaml"]["trainer"] == yaml.safe_load(DDP_CPU.read_text())


@pytest.mark.slow
def test_unslu_runner_under_ddp_trains_on_two_ranks_and_writes_once(dummy_manifest, tmp_path):
    from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder

    encoder = save_tiny_audio_encoder(tmp_path / "w2v2", "wav2vec2")
    out = tmp_path / "run"
    sets = [
        f"corpus.manifest={dummy_manifest}",
        f"model.pretrained={encoder}",
        "max_seconds=1.0",
        "model.max_seconds=1.0",
        "train.max_steps=4",
        "train.accumulate_grad_batches=1",
        "methods={ft: {}, ng: {}}",
        "lrs=[1.0e-4]",
        "seeds=[0]",
    ]
    stdout = _run(
        ROOT / "recipes" / "unslu" / "smoke.yaml", out, sets, trainer=DDP_CPU, cwd=tmp_path
    )
    records = rank_records(out)
    assert [(r["rank"], r["world_size"]) for r in records] == [(0, 2), (1, 2)]
    assert all(r["stages"] == ["original", "gold"] for r in records)
    table = json.loads((out / "unslu_table.json").read_text())
    assert list(table["methods"]) == ["ft", "ng"]  # rank zero evaluated every cell
    assert stdout.count("ft lr=0.0001 seed=0") == 1  # one rank reports
    for method in ("ft", "ng"):
        assert (out / "cells" / method / "lr0.0001_seed0" / "result.json").is_file()
