"""Cllr, min-Cllr, TPR at fixed FPR and re-identification against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio_unlearn.evaluation.identity import cllr, min_cllr, reidentification, tpr_at_fpr


def test_cllr_by_hand():
    # LLR 0 everywhere says nothing: 1 bit
    assert cllr([0.0, 0.0, 0.0], [1, 0, 0]) == pytest.approx(1.0)
    # LLR +-ln 3 on the right side: log2(1 + 1/3) = log2(4/3) for every trial
    assert cllr([math.log(3), -math.log(3)], [1, 0]) == pytest.approx(math.log2(4 / 3))
    # the same LLRs on the wrong side: log2(1 + 3) = 2 bits, worse than saying nothing
    assert cllr([-math.log(3), math.log(3)], [1, 0]) == pytest.approx(2.0)
    # huge LLRs do not overflow
    assert cllr([1e4, -1e4], [1, 0]) == pytest.approx(0.0, abs=1e-12)


def test_min_cllr_by_hand():
    # separable scores: PAV gives one-class blocks, infinite LLRs at no cost
    assert min_cllr([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == pytest.approx(0.0)
    # one score for all: posterior = prior everywhere, LLR 0, 1 bit
    assert min_cllr([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == pytest.approx(1.0)
    # scores 1..4, labels 0 1 0 1: PAV pools (2, 3) at posterior 1/2 -> LLRs -inf, 0, 0,
    # +inf; each class pays 1 bit on one of two trials: Cllr = 1/2 (1/2 + 1/2)
    assert min_cllr([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1]) == pytest.approx(0.5)
    # calibration-free: any increasing map of the scores gives the same min-Cllr
    rng = np.random.default_rng(0)
    s = rng.normal(size=200)
    y = rng.random(200) < 1 / (1 + np.exp(-2 * s))
    assert min_cllr(np.exp(s), y) == pytest.approx(min_cllr(s, y))
    assert min_cllr(s, y) <= cllr(2 * s, y)  # the best recalibration is no worse


def test_tpr_at_fpr_by_hand():
    # descending: 0.9 T, 0.8 T, 0.7 N, 0.4 T, 0.3 N, 0.2 N, 0.1 N
    scores = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1]
    labels = [1, 1, 1, 0, 0, 0, 0]
    assert tpr_at_fpr(scores, labels, 0.0) == pytest.approx(2 / 3)
    assert tpr_at_fpr(scores, labels, 0.1) == pytest.approx(2 / 3)
    assert tpr_at_fpr(scores, labels, 0.25) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fpr"):
        tpr_at_fpr(scores, labels, 1.5)


def test_reidentification_by_hand():
    sim = [
        [0.9, 0.1, 0.2, 0.3],  # true 0: rank 1
        [0.5, 0.4, 0.6, 0.1],  # true 1: 0.5 and 0.6 above it: rank 3
        [0.3, 0.3, 0.3, 0.3],  # true 2: all tied: the pessimistic rank 4
    ]
    out = reidentification(sim, [0, 1, 2], ks=(1, 3))
    assert out["ranks"] == [1, 3, 4]
    assert out["top1"] == pytest.approx(1 / 3) and out["top3"] == pytest.approx(2 / 3)
    assert out["chance_top1"] == 0.25 and out["chance_top3"] == 0.75
    assert (out["n_queries"], out["n_gallery"]) == (3, 4)
    with pytest.raises(ValueError, match="k must lie"):
        reidentification(sim, [0, 1, 2], ks=(5,))
    with pytest.raises(ValueError, match="true_index"):
        reidentification(sim, [0, 1, 4])
    with pytest.raises(ValueError, match="one true index per query"):
        reidentification(sim, [0, 1])
