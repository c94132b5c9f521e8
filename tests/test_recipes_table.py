"""Every recipe has a row in tests/recipes.csv (SpeechBrain-style recipe table): the config
it runs, smoke overrides, the files it must produce, and the number it should approach."""

import csv
from pathlib import Path

import pytest

from audio_unlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
TABLE = Path(__file__).parent / "recipes.csv"
ROWS = list(csv.DictReader(TABLE.open()))


def test_every_recipe_folder_has_a_row_and_its_files_exist():
    recipes = sorted(p.name for p in (ROOT / "recipes").iterdir() if p.is_dir())
    assert sorted({r["recipe"] for r in ROWS}) == recipes
    for row in ROWS:
        assert (ROOT / row["config"]).is_file(), row["config"]
        assert (ROOT / "recipes" / row["recipe"] / "README.md").is_file(), row["recipe"]
        assert row["produces"] and row["published"], row["recipe"]


@pytest.mark.slow
@pytest.mark.synth
@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["smoke_overrides"]], ids=lambda r: r["recipe"]
)
def test_recipe_smoke_run_produces_its_files(row, tmp_path):
    sets = [f"corpus.dir={tmp_path / 'corpus'}", *row["smoke_overrides"].split(";")]
    argv = ["run", str(ROOT / row["config"]), "--out", str(tmp_path / "run"), "--no-progress"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    for name in row["produces"].split(";"):
        assert (tmp_path / "run" / name).is_file(), name
