"""Expected bands for the recipes' smoke-sized runs: recorded numbers as tests.

``tests/recipes.csv`` gives each recipe row a ``bands`` cell: ``;``-separated entries
``<file>:<json path>=<lo>..<hi>``, where the path is the key :func:`flatten` gives a number
of that report file (rows named by their ``model`` / ``method``, e.g.
``report.json:models[original].test_acc=0.0..0.6``). A smoke run whose number leaves its
band, or lacks it, fails the test that ran it (:func:`check_bands`); the recorded golden
numbers of ``tests/golden/<recipe>.json`` must lie inside the bands too.

Bands are deliberately wider than one machine's run-to-run spread (none on one kernel set
and thread count) and than the spread across CPU kernel sets of ``tests/README.md``: they
catch a regression (a broken metric, a method that stops forgetting, an evaluation that
reads the wrong data), not a rounding change.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Band", "check_bands", "flatten", "parse_bands", "recipe_bands"]


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every finite or non-finite number in ``obj`` under its JSON path (bools left out);
    list items that are rows named by ``"model"`` / ``"method"`` keep that name in the
    path, not their position."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            name = v.get("model") or v.get("method") if isinstance(v, dict) else None
            key = f"{prefix}[{name}]" if isinstance(name, str) else f"{prefix}[{i}]"
            out.update(flatten(v, key))
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out[prefix] = float(obj)
    return out


@dataclass(frozen=True)
class Band:
    """``lo <= <file>:<key> <= hi``."""

    file: str
    key: str
    lo: float
    hi: float

    def __str__(self) -> str:
        return f"{self.file}:{self.key}={self.lo:g}..{self.hi:g}"


def parse_bands(cell: str) -> list[Band]:
    """The bands of one ``bands`` cell.

    Raises:
        ValueError: an entry not of the form ``file:key=lo..hi`` or with ``lo > hi``.
    """
    bands = []
    for entry in filter(None, (e.strip() for e in cell.split(";"))):
        try:
            where, interval = entry.rsplit("=", 1)
            file, key = where.split(":", 1)
            lo, hi = (float(v) for v in interval.split(".."))
        except ValueError:
            raise ValueError(f"band {entry!r} is not file:key=lo..hi") from None
        if not lo <= hi:
            raise ValueError(f"band {entry!r} has lo > hi")
        bands.append(Band(file, key, lo, hi))
    return bands


def recipe_bands(table: str | Path, recipe: str) -> list[Band]:
    """The bands of ``recipe``'s row in the recipe table ``table`` (a CSV file)."""
    with open(table, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["recipe"] == recipe]
    if len(rows) != 1:
        raise ValueError(f"{table} has {len(rows)} rows for recipe {recipe!r}")
    return parse_bands(rows[0].get("bands") or "")


def check_bands(values: dict[str, float] | str | Path, bands: list[Band]) -> list[str]:
    """What leaves its band: one line per band whose number is missing, non-finite or
    outside ``[lo, hi]`` (empty when every number is inside).

    ``values``: ``{"<file>:<key>": number}`` (as :func:`flatten` keys them, prefixed by
    the file name), or a run directory whose report files are read.
    """
    if not isinstance(values, dict):
        run = Path(values)
        values = {}
        for file in sorted({b.file for b in bands}):
            path = run / file
            if path.is_file():
                data = json.loads(path.read_text())
                values.update({f"{file}:{k}": v for k, v in flatten(data).items()})
    failures = []
    for band in bands:
        value = values.get(f"{band.file}:{band.key}")
        if value is None:
            failures.append(f"{band}: missing")
        elif not math.isfinite(value) or not band.lo <= value <= band.hi:
            failures.append(f"{band}: got {value:.6g}")
    return failures
