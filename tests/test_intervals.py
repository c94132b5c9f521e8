"""Means over seeds, Student-t intervals and verdicts against hand-computed values."""

from __future__ import annotations

import math

import pytest

from audio_unlearn.evaluation.intervals import mean_interval, seed_summary, verdict


def test_mean_interval_by_hand():
    # values 1, 2, 3, 4: mean 2.5, sd sqrt(5/3); t_{0.975, 3} = 3.182446305284263
    iv = mean_interval([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5 / 3)
    half = 3.182446305284263 * sd / 2
    assert iv.mean == 2.5 and iv.sd == pytest.approx(sd) and iv.n == 4
    assert iv.lo == pytest.approx(2.5 - half) and iv.hi == pytest.approx(2.5 + half)
    # a 90% interval is narrower: t_{0.95, 3} = 2.353363434801823
    iv90 = mean_interval([1.0, 2.0, 3.0, 4.0], confidence=0.9)
    assert iv90.hi == pytest.approx(2.5 + 2.353363434801823 * sd / 2)
    assert iv.format("{:.2f}") == f"2.50 [{2.5 - half:.2f}, {2.5 + half:.2f}]"


def test_one_value_has_no_interval_and_no_verdict():
    iv = mean_interval([0.3])
    assert (iv.mean, iv.sd, iv.lo, iv.hi) == (0.3, None, None, None)
    assert verdict(iv, 1.0, at_most=True) == "inconclusive"
    assert iv.format() == "0.300"


@pytest.mark.parametrize(
    ("values", "bound", "at_most", "expected"),
    [
        ([0.01, 0.02, 0.03], 0.05, True, "met"),  # hi = 0.045
        ([0.08, 0.09, 0.10], 0.05, True, "not met"),  # lo = 0.065
        ([0.00, 0.05, 0.10], 0.05, True, "inconclusive"),
        ([0.95, 0.96, 0.97], 0.9, False, "met"),
        ([0.80, 0.81, 0.82], 0.9, False, "not met"),
        ([0.85, 0.90, 0.95], 0.9, False, "inconclusive"),
    ],
)
def test_verdicts(values, bound, at_most, expected):
    assert verdict(mean_interval(values), bound, at_most=at_most) == expected


def test_identical_values_give_a_point_interval():
    iv = mean_interval([0.2, 0.2, 0.2])
    assert (
        iv.sd == pytest.approx(0, abs=1e-12)
        and iv.lo == pytest.approx(0.2)
        and iv.hi == pytest.approx(0.2)
    )
    assert verdict(iv, 0.21, at_most=True) == "met"


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])
    with pytest.raises(ValueError, match="non-finite"):
        mean_interval([1.0, math.nan])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.0)


def test_seed_summary_skips_missing_values():
    rows = [{"a": 1.0, "b": None, "c": True}, {"a": 3.0, "b": 2.0, "c": False}]
    out = seed_summary(rows)
    assert set(out) == {"a"}  # b is None in the first row, c is a bool
    assert out["a"]["mean"] == 2.0 and out["a"]["values"] == [1.0, 3.0]
    assert seed_summary(rows, ["b"])["b"]["n"] == 1


def test_merge_seed_rows_folds_each_method_over_its_seeds():
    from audio_unlearn.evaluation.intervals import merge_seed_rows

    rows = [
        {"model": "original", "acc": 0.9},
        {"model": "ng", "seed": 0, "acc": 0.2, "role": "method", "ok": True, "note": "a"},
        {"model": "ng+relearn", "seed": 0, "acc": 0.5},
        {"model": "ng", "seed": 1, "acc": 0.4, "role": "method", "ok": False, "note": "a"},
        {"model": "ng+relearn", "seed": 1, "acc": 0.7},
    ]
    out = merge_seed_rows(rows)
    assert [r["model"] for r in out] == ["original", "ng", "ng+relearn"]
    assert out[0] == rows[0]
    ng = out[1]
    assert ng["acc"] == pytest.approx(0.3) and ng["seeds"] == [0, 1]
    assert ng["role"] == "method" and ng["note"] == "a"  # agreed
    assert ng["ok"] is None  # differs between seeds: the per-seed rows hold it
    assert [r["ok"] for r in ng["per_seed"]] == [True, False]
    assert ng["over_seeds"]["acc"]["sd"] == pytest.approx(2**0.5 * 0.1)
    assert "seed" not in ng and out[2]["acc"] == pytest.approx(0.6)
