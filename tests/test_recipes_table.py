"""Every recipe has a row in tests/recipes.csv (SpeechBrain-style recipe table): the config
it runs, smoke overrides, the files it must produce, and the number it should approach."""

import csv
import json
from pathlib import Path

import pytest

from audio_unlearn.cli import main
from audio_unlearn.testing.bands import check_bands, parse_bands, recipe_bands

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
    assert check_bands(tmp_path / "run", parse_bands(row["bands"])) == []


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["recipe"])
def test_recorded_smoke_numbers_lie_in_their_bands(row):
    """Every row has bands; the numbers recorded from its smoke-sized run
    (tests/golden/<recipe>.json) lie inside them."""
    bands = parse_bands(row["bands"])
    assert len(bands) >= 3, row["recipe"]
    golden = json.loads((ROOT / "tests" / "golden" / f"{row['recipe']}.json").read_text())
    assert check_bands(golden["metrics"], bands) == []


def test_a_number_out_of_its_band_fails():
    """A smoke number that leaves its band (or goes missing, or is NaN) is reported, so the
    smoke test that checks it fails red."""
    bands = recipe_bands(TABLE, "demo")
    golden = json.loads((ROOT / "tests" / "golden" / "demo.json").read_text())["metrics"]
    band = bands[0]
    key = f"{band.file}:{band.key}"
    moved = {**golden, key: band.hi + 0.01}
    assert check_bands(moved, bands) == [f"{band}: got {band.hi + 0.01:.6g}"]
    assert check_bands({**golden, key: float("nan")}, bands) == [f"{band}: got nan"]
    del moved[key]
    assert check_bands(moved, bands) == [f"{band}: missing"]
    with pytest.raises(ValueError, match=r"file:key=lo\.\.hi"):
        parse_bands("report.json:models[x].acc=0.5")
    with pytest.raises(ValueError, match="lo > hi"):
        parse_bands("report.json:models[x].acc=0.9..0.1")
