"""The demo end to end on the real synthetic corpus (about 3-4 minutes on 2 cores)."""

import json
from pathlib import Path

import pytest

from audio_unlearn.experiment import load_config, run_experiment

DEMO = Path(__file__).resolve().parents[1] / "recipes" / "demo" / "config.yaml"


@pytest.mark.slow
@pytest.mark.synth
def test_demo_shows_membership_signal_and_reports_every_model(tmp_path, seed, bound):
    # the corpus stays the recipe's; the suite seed moves the split and all training
    sets = [f"corpus.dir={tmp_path / 'corpus'}", f"seed={seed}"]
    if seed:
        sets.append(f"split.seed={load_config(DEMO).split.seed + seed}")
    cfg = load_config(DEMO, sets)
    run_experiment(cfg, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    rows = {r["model"]: r for r in report["models"]}
    assert list(rows) == ["original", "gold", "ft", "ng"]
    assert report["sizes"]["forget"] == 6 * 56
    # the corpus/training design makes membership detectable: original >> gold
    bound("MIA original - gold", rows["original"]["mia"] - rows["gold"]["mia"], ">", 0.1)
    bound("original test acc", rows["original"]["test_acc"], ">", 0.85)
    # both methods remove part of the signal while the model stays useful
    for name in ("ft", "ng"):
        bound(
            f"{name} MIA fall from the original",
            rows["original"]["mia"] - rows[name]["mia"],
            ">",
            0,
        )
        bound(f"{name} test F1", rows[name]["test_f1"], ">", 0.8)
        bound(f"{name} speed-up", rows[name]["speedup"], ">", 5)
        assert 0 < rows[name]["gum"] <= 1
