"""The prune-and-regrow recipe's smoke configuration end to end (CI: under 3 minutes).

recipes/prune_regrow/smoke.yaml is the synthetic speaker-identification recipe (forget one
enrolled speaker) on a tiny corpus with 1-epoch settings; it must list every registered
method, so a method added to the registry without a recipe entry fails here.
"""

import json
import time
from pathlib import Path

import pytest
import yaml

from audio_unlearn.experiment import load_config, run_experiment
from audio_unlearn.methods.registry import methods_for_task
from audio_unlearn.testing.bands import check_bands, recipe_bands

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "prune_regrow"
SMOKE = RECIPE_DIR / "smoke.yaml"
LIMIT_S = 180.0
METRICS = (
    "forget_acc",
    "retain_acc",
    "test_acc",
    "forget_test_acc",
    "mia",
    "time_s",
    "speedup",
)


@pytest.mark.parametrize("name", ["smoke.yaml", "synth_speaker_id.yaml"])
def test_synthetic_recipes_list_every_registered_method(name):
    cfg = load_config(RECIPE_DIR / name)
    assert sorted(cfg.methods) == methods_for_task("classification")
    assert cfg.label_key == "speaker" and cfg.split.kind == "class"


@pytest.mark.parametrize(
    ("name", "prepare", "holdout"),
    [
        ("speech_commands.yaml", "speech_commands", "official"),
        ("audiomnist.yaml", "audiomnist", "official"),
    ],
)
def test_gpu_recipes_name_a_corpus_loader_and_every_method(name, prepare, holdout):
    raw = yaml.safe_load((RECIPE_DIR / name).read_text())
    cfg = load_config(RECIPE_DIR / name)
    assert cfg.corpus.prepare == prepare and raw["corpus"]["source"]
    assert cfg.split.holdout == holdout and cfg.split.kind == "class"
    assert cfg.split.n_classes == 1
    assert sorted(cfg.methods) == methods_for_task("classification")


@pytest.mark.slow
@pytest.mark.synth
def test_smoke_recipe_reports_every_method_within_the_limit(tmp_path, bound):
    cfg = load_config(SMOKE, [f"corpus.dir={tmp_path / 'corpus'}"])
    start = time.perf_counter()
    run_experiment(cfg, tmp_path / "run", progress=False)
    elapsed = time.perf_counter() - start
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    rows = {r["model"]: r for r in report["models"]}
    assert set(rows) == {"original", "gold", *methods_for_task("classification")}
    for name, row in rows.items():
        missing = [k for k in METRICS if not isinstance(row.get(k), float)]
        assert not missing, (name, missing)
    assert report["sizes"]["forget"] > 0 and report["num_classes"] >= 2
    assert (tmp_path / "run" / "tradeoff.png").stat().st_size > 0
    table_csv = Path(__file__).parent / "recipes.csv"
    assert check_bands(tmp_path / "run", recipe_bands(table_csv, "prune_regrow")) == []
    bound("wall time (s)", elapsed, "<", LIMIT_S)
