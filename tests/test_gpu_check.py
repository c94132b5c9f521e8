"""The prepared GPU check (benchmarks/gpu_check.py) runs end to end as a CPU dry run, so
the script a GPU machine gets is known to work up to the device itself."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks/gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.synth
def test_gpu_check_dry_run_writes_throughput_and_memory(tmp_path):
    gpu_check = _module()
    assert gpu_check.main(["--out", str(tmp_path), "--cpu", "--tiny"]) == 0
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert record["trainer"] is None and record["tiny"] is True
    for run in ("demo", "unslu_smoke"):
        assert record[run]["exit_code"] == 0 and record[run]["wall_s"] > 0
        assert "peak_allocated_gib" in record[run]
    demo = record["demo"]
    assert demo["samples_per_s"] == pytest.approx(demo["train_samples"] / demo["original_train_s"])
    assert (tmp_path / "unslu" / "unslu_table.json").is_file()
    assert Path(gpu_check.main.__globals__["ROOT"] / "configs/trainer/gpu.yaml").is_file()


def test_gpu_check_refuses_to_run_without_a_gpu_unless_asked(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _module().main(["--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
