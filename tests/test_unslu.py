"""The UnSLU-BENCH runner: recipes, resumable cells, validation-based selection, table."""

import dataclasses
import json
import time
from pathlib import Path

import pytest
import yaml

import audio_unlearn.unslu as unslu
from audio_unlearn.cli import build_parser, main
from audio_unlearn.evaluation import gum
from audio_unlearn.methods.training import warmup_linear
from audio_unlearn.models import load_classifier
from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder
from audio_unlearn.unslu import (
    PUBLISHED,
    UNSLU_LRS,
    UNSLU_METHODS,
    UnSLUTraining,
    load_unslu_config,
    run_unslu,
    select_learning_rates,
    validation_scores,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "unslu"
SMOKE = RECIPES / "smoke.yaml"
# recipe -> (pretrained encoder, train steps, lr, split seed), from the anchor
EXPECTED_RECIPES = {
    "fsc_wav2vec2_base": ("facebook/wav2vec2-base", 2800, 5e-4, 42),
    "fsc_hubert_base": ("facebook/hubert-base-ls960", 2800, 5e-4, 42),
    "slurp_star_wav2vec2_base": ("facebook/wav2vec2-base", 30000, 5e-4, 0),
    "slurp_star_hubert_base": ("facebook/hubert-base-ls960", 30000, 5e-4, 0),
    "italic_xls_r_300m": ("facebook/wav2vec2-xls-r-300m", 15000, 1e-4, 42),
    "italic_xlsr53_it": ("jonatasgrosman/wav2vec2-large-xlsr-53-italian", 15000, 1e-4, 42),
    "speech_massive_de_xls_r_300m": ("facebook/wav2vec2-xls-r-300m", 15000, 1e-4, 42),
    "speech_massive_de_xlsr53_de": (
        "jonatasgrosman/wav2vec2-large-xlsr-53-german",
        15000,
        1e-4,
        42,
    ),
    "speech_massive_fr_xls_r_300m": ("facebook/wav2vec2-xls-r-300m", 15000, 1e-4, 42),
    "speech_massive_fr_xlsr53_fr": (
        "jonatasgrosman/wav2vec2-large-xlsr-53-french",
        15000,
        1e-4,
        42,
    ),
}


@pytest.fixture(scope="module")
def tiny_w2v2(tmp_path_factory):
    return save_tiny_audio_encoder(tmp_path_factory.mktemp("enc") / "w2v2", "wav2vec2")


def _fast_overrides(manifest, encoder):
    """The smoke recipe shrunk to seconds: the dummy tone corpus, FT and NG only."""
    return [
        f"corpus.manifest={manifest}",
        f"model.pretrained={encoder}",
        "max_seconds=1.0",
        "model.max_seconds=1.0",
        "train.max_steps=4",
        "train.accumulate_grad_batches=1",
        "methods={ft: {}, ng: {}}",
        "lrs=[1.0e-4, 1.0e-5]",
        "seeds=[0]",
        "paper=fsc_wav2vec2_base",
    ]


class CountingFit:
    """Wraps fit_unlearning to count the cells actually run."""

    def __init__(self):
        self.calls = []
        self.inner = unslu.fit_unlearning

    def __call__(self, module, dm, **kwargs):
        self.calls.append((module.method_name, module.lr))
        return self.inner(module, dm, **kwargs)


@pytest.fixture(scope="module")
def fast_run(tiny_corpus, tiny_w2v2, tmp_path_factory):
    out = tmp_path_factory.mktemp("unslu")
    cfg = load_unslu_config(SMOKE, _fast_overrides(tiny_corpus, tiny_w2v2))
    table = run_unslu(cfg, out, progress=False)
    return cfg, out, table


def test_fast_run_writes_the_table_cells_and_split(fast_run):
    _, out, table = fast_run
    on_disk = json.loads((out / "unslu_table.json").read_text())
    assert on_disk == json.loads(json.dumps(table))
    assert list(table["methods"]) == ["ft", "ng"]
    for entry in table["methods"].values():
        assert entry["selected_lr"] in (1e-4, 1e-5)
        assert entry["n_seeds"] == 1
        for key in ("test_f1", "forget_acc", "retain_f1", "mia", "time_s", "speedup", "gum"):
            assert key in entry["mean"] and key in entry["std"]
    for method in ("ft", "ng"):
        for lr in ("0.0001", "1e-05"):
            cell = out / "cells" / method / f"lr{float(lr):g}_seed0"
            assert (cell / "result.json").is_file() and (cell / "model.pt").is_file()
    split = json.loads((out / "split.json").read_text())
    listed = (out / "forget_speakers.txt").read_text().split()
    assert listed == split["forget_speakers"] and listed
    assert table["sizes"]["valid"] > 0
    assert (out / "checkpoints" / "original.pt").is_file()
    assert (out / "checkpoints" / "gold.pt").is_file()


def test_paper_values_appear_beside_ours(fast_run):
    _, out, table = fast_run
    assert table["methods"]["ng"]["paper"] == PUBLISHED["fsc_wav2vec2_base"]["ng"]
    assert table["references"]["gold"]["paper"]["test_f1"] == 0.993
    md = (out / "unslu_table.md").read_text()
    ng_row = next(line for line in md.splitlines() if line.startswith("| ng |"))
    assert "0.816" in ng_row and "206.9x" in ng_row and "0.987" in ng_row
    gold_row = next(line for line in md.splitlines() if line.startswith("| gold |"))
    assert "0.993" in gold_row and "0.503" in gold_row
    assert "paper GUM" in md and "selected on validation" in md


def test_rerun_skips_finished_cells_and_restarts_an_interrupted_one(
    fast_run, tiny_corpus, tiny_w2v2, monkeypatch
):
    cfg, out, table = fast_run
    counter = CountingFit()
    monkeypatch.setattr(unslu, "fit_unlearning", counter)
    trained = []
    monkeypatch.setattr(unslu, "UnSLUTraining", lambda *a, **k: trained.append(1))
    again = run_unslu(cfg, out, progress=False)
    assert counter.calls == [] and trained == []  # nothing recomputed
    assert again["methods"]["ng"]["mean"] == table["methods"]["ng"]["mean"]

    # interrupt one cell: its result never got written, a temp file and a partial
    # checkpoint were left behind
    cell = out / "cells" / "ng" / "lr1e-05_seed0"
    (cell / "result.json").unlink()
    (cell / ".model.pt.abc123.tmp").write_bytes(b"partial")
    (cell / "model.pt").write_bytes(b"truncated")
    run_unslu(cfg, out, progress=False)
    assert counter.calls == [("ng", 1e-5)]
    assert (cell / "result.json").is_file()
    assert not list(cell.glob("*.tmp"))
    assert load_classifier(cell / "model.pt").meta["method"] == "ng"


def test_a_cell_with_other_settings_is_recomputed(fast_run, monkeypatch):
    cfg, out, _ = fast_run
    counter = CountingFit()
    monkeypatch.setattr(unslu, "fit_unlearning", counter)
    changed = dataclasses.replace(cfg, methods={"ft": {"weight_decay": 0.01}})
    run_unslu(changed, out, progress=False)
    assert sorted(counter.calls) == [("ft", 1e-5), ("ft", 1e-4)]


def _cell(method, lr, seed, valid_gum, test_gum, valid_f1=0.9):
    return {
        "method": method,
        "lr": lr,
        "seed": seed,
        "valid_gum": valid_gum,
        "valid_cgum": valid_gum / 2,
        "valid_f1": valid_f1,
        "gum": test_gum,
    }


def test_selection_uses_validation_not_test():
    # lr 1e-4 is best on validation, lr 1e-5 would be best on test
    cells = [
        _cell("ng", 1e-4, 0, valid_gum=0.7, test_gum=0.1),
        _cell("ng", 1e-4, 1, valid_gum=0.6, test_gum=0.2),
        _cell("ng", 1e-5, 0, valid_gum=0.5, test_gum=0.9),
        _cell("ng", 1e-5, 1, valid_gum=0.5, test_gum=0.95),
    ]
    chosen = select_learning_rates(cells)
    assert chosen["ng"]["lr"] == 1e-4
    assert chosen["ng"]["score"] == pytest.approx(0.65)
    assert chosen["ng"]["n_seeds"] == 2
    # test numbers are never read: cells without them select the same way
    stripped = [{k: v for k, v in c.items() if k != "gum"} for c in cells]
    assert select_learning_rates(stripped)["ng"]["lr"] == 1e-4
    # ties on the score: higher validation F1 wins, then the larger lr
    tied = [
        _cell("ft", 1e-4, 0, 0.0, 0.5, valid_f1=0.80),
        _cell("ft", 1e-5, 0, 0.0, 0.9, valid_f1=0.85),
        _cell("ft", 1e-6, 0, 0.0, 0.9, valid_f1=0.85),
    ]
    assert select_learning_rates(tied)["ft"]["lr"] == 1e-5
    with pytest.raises(ValueError, match="criterion"):
        select_learning_rates(cells, criterion="test_gum")


def test_validation_scores_read_validation_metrics_only():
    original = {"valid_f1": 0.95, "mia_valid": 0.70}
    gold = {"valid_f1": 0.90, "mia_valid": 0.50, "time_s": 1000.0}
    cell = {"valid_f1": 0.88, "mia_valid": 0.55, "time_s": 10.0}
    scores = validation_scores(cell, original, gold, num_classes=10)
    expected = gum(
        f1_unlearned=0.88,
        f1_gold=0.90,
        mia_unlearned=0.55,
        mia_original=0.70,
        mia_gold=0.50,
        time_unlearned=10.0,
        time_gold=1000.0,
    )
    assert scores["valid_gum"] == pytest.approx(expected) and expected > 0
    # nothing forgotten on validation: GUM 0, whatever the test set says
    cell_same = {**cell, "mia_valid": 0.70}
    assert validation_scores(cell_same, original, gold, num_classes=10)["valid_gum"] == 0.0


def test_published_fsc_rows_reproduce_their_gum():
    """The transcribed FSC wav2vec2-base rows are consistent: with a gold time of 2400 s
    (the paper gives speed-ups), GUM recomputed from F1/MIA/speed-up matches within 0.002."""
    rows = PUBLISHED["fsc_wav2vec2_base"]
    gold, orig = rows["gold"], rows["original"]
    for method in UNSLU_METHODS:
        r = rows[method]
        value = gum(
            f1_unlearned=r["test_f1"],
            f1_gold=gold["test_f1"],
            mia_unlearned=r["mia"],
            mia_original=orig["mia"],
            mia_gold=gold["mia"],
            time_unlearned=2400.0 / r["speedup"],
            time_gold=2400.0,
        )
        assert value == pytest.approx(r["gum"], abs=0.002), method


def test_learning_rate_schedule_warms_up_then_decays():
    def f(step, total, warmup):
        return warmup_linear(step, warmup=warmup, total=total)

    total, warmup = 100, 10
    assert f(0, total, warmup) == 0.0
    assert f(5, total, warmup) == pytest.approx(0.5)
    assert f(10, total, warmup) == pytest.approx(1.0)
    assert f(55, total, warmup) == pytest.approx(0.5)
    assert f(100, total, warmup) == 0.0
    with pytest.raises(ValueError, match="warmup_ratio"):
        UnSLUTraining(None, warmup_ratio=1.0)


@pytest.mark.parametrize("name", sorted(EXPECTED_RECIPES))
def test_every_recipe_loads_with_the_paper_protocol(name):
    cfg = load_unslu_config(RECIPES / f"{name}.yaml")
    pretrained, steps, lr, split_seed = EXPECTED_RECIPES[name]
    assert cfg.model == {"name": "hf", "pretrained": pretrained}
    assert (cfg.train.max_steps, cfg.train.lr) == (steps, lr)
    assert (cfg.train.batch_size, cfg.train.accumulate_grad_batches) == (8, 4)
    assert cfg.train.warmup_ratio == 0.1
    assert cfg.split.seed == split_seed and cfg.split.fraction == 0.025
    assert cfg.split.min_utterances == 101 and cfg.split.holdout == "official"
    assert cfg.lrs == list(UNSLU_LRS) and list(cfg.methods) == list(UNSLU_METHODS)
    assert cfg.paper == name and name in PUBLISHED
    assert cfg.max_seconds == 10.0 and cfg.selection == "gum"


def test_every_recipe_file_is_covered():
    files = {p.stem for p in RECIPES.glob("*.yaml")}
    assert files == set(EXPECTED_RECIPES) | {"smoke"}
    readme = (RECIPES / "README.md").read_text()
    for name in files:
        assert f"{name}.yaml" in readme, name


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="comes from `lrs`"):
        load_unslu_config(SMOKE, ["methods={ng: {lr: 1e-3}}"])
    with pytest.raises(ValueError, match="no published values"):
        load_unslu_config(SMOKE, ["paper=fsc_conformer"])
    with pytest.raises(ValueError, match="unknown key"):
        load_unslu_config(SMOKE, ["train.epochs=3"])
    with pytest.raises(ValueError, match=r"train\.lr must be a number"):
        load_unslu_config(SMOKE, ["train.lr=fast"])
    with pytest.raises(FileNotFoundError, match="recipes/unslu"):
        load_unslu_config(tmp_path / "missing.yaml")


def test_no_validation_set_is_an_error(tiny_corpus, tiny_w2v2, tmp_path):
    cfg = load_unslu_config(
        SMOKE, [*_fast_overrides(tiny_corpus, tiny_w2v2), "split.n_valid_speakers=0"]
    )
    with pytest.raises(ValueError, match="no validation utterances"):
        run_unslu(cfg, tmp_path, progress=False)


def test_cli_has_the_unslu_command(tmp_path, capsys):
    args = build_parser().parse_args(
        ["unslu", str(SMOKE), "--out", str(tmp_path), "--trainer", "configs/trainer/gpu.yaml"]
    )
    assert args.config == str(SMOKE) and args.trainer.endswith("gpu.yaml")
    assert main(["unslu", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_trainer_preset_fills_trainer_and_recipe_wins(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"accelerator": "gpu", "devices": 2, "precision": "bf16"}))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"trainer": {"devices": 1}}))
    cfg = load_unslu_config(recipe, trainer_preset=preset)
    assert cfg.trainer == {"accelerator": "gpu", "devices": 1, "precision": "bf16"}


@pytest.mark.slow
@pytest.mark.synth
def test_smoke_recipe_all_methods_two_lrs_two_seeds(tmp_path, bound):
    """The full recipe on the synthetic corpus with a tiny random wav2vec2 (CI smoke)."""
    encoder = save_tiny_audio_encoder(tmp_path / "tiny-wav2vec2", "wav2vec2")
    cfg = load_unslu_config(
        SMOKE, [f"model.pretrained={encoder}", f"corpus.dir={tmp_path / 'corpus'}"]
    )
    assert list(cfg.methods) == list(UNSLU_METHODS)
    assert len(cfg.lrs) == 2 and len(cfg.seeds) == 2
    start = time.perf_counter()
    table = run_unslu(cfg, tmp_path / "run", progress=False)
    elapsed = time.perf_counter() - start
    bound("wall time (s)", elapsed, "<", 600)
    results = sorted((tmp_path / "run" / "cells").glob("*/*/result.json"))
    assert len(results) == 8 * 2 * 2
    assert list(table["methods"]) == list(UNSLU_METHODS)
    for entry in table["methods"].values():
        assert entry["n_seeds"] == 2 and entry["selected_lr"] in cfg.lrs
        assert 0.0 <= entry["mean"]["gum"] <= 1.0 and 0.0 <= entry["mean"]["cgum"] <= 1.0
    md = (tmp_path / "run" / "unslu_table.md").read_text()
    for method in UNSLU_METHODS:
        assert f"| {method} |" in md
