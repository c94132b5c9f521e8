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


def test_impostor_auroc_by_hand():
    from audio_unlearn.evaluation.identity import impostor_auroc

    # pairs (impostor, protected) with impostor above: (0.7, 0.5) and the tie (0.5, 0.5)
    # counted one half, out of 3 x 2
    assert impostor_auroc([0.5, 0.9], [0.1, 0.5, 0.7]) == pytest.approx(1.5 / 6)
    assert impostor_auroc([0.0], [1.0, 2.0]) == pytest.approx(1.0)  # stands out
    assert impostor_auroc([3.0], [1.0, 2.0]) == pytest.approx(0.0)  # still identifiable
    with pytest.raises(ValueError, match="needs protected and impostor"):
        impostor_auroc([], [1.0])


def test_gallery_enrolment_and_impostor_scores_by_hand():
    from audio_unlearn.evaluation.identity import Gallery, enrol

    rows = [[1.0, 0.0], [0.0, 3.0], [0.0, 2.0]]
    names, vectors = enrol(rows, ["a", "a", "b"])
    assert names == ("a", "b")
    r = 1 / math.sqrt(2)  # a: the mean of two unit vectors [1, 0] and [0, 1], normalised
    np.testing.assert_allclose(vectors, [[r, r], [0.0, 1.0]])
    g = Gallery.build(rows, ["a", "a", "b"])
    # each row against the *other* speaker: a1 . b = 0, a2 . b = 1, b1 . a = 1/sqrt(2)
    np.testing.assert_allclose(sorted(g.impostor_scores), [0.0, r, 1.0])
    np.testing.assert_array_equal(g.index(["b", "a"]), [1, 0])
    with pytest.raises(ValueError, match=r"\['c'\] are not enrolled"):
        g.index(["a", "c"])
    with pytest.raises(ValueError, match="at least two speakers"):
        Gallery.build(rows[:2], ["a", "a"])


def test_identity_summary_by_hand():
    from audio_unlearn.evaluation.identity import identity_summary

    sim = [[0.9, 0.2], [0.1, 0.3], [0.5, 0.4]]
    out = identity_summary(sim, [0, 0, 1], [0.2, 0.3], ks=(1, 5))
    # own scores 0.9, 0.1, 0.4; ranks 1, 2, 2 (a tie or a higher other counts against)
    assert out["top1"] == pytest.approx(1 / 3) and out["chance_top1"] == 0.5
    assert "top5" not in out  # k above the gallery size is left out
    assert out["avg_fssim"] == pytest.approx(1.4 / 3)
    assert out["max_fssim"] == pytest.approx((0.9 + 0.4) / 2)  # per speaker, then mean
    assert out["impostor_auroc"] == pytest.approx(2 / 6)  # 0.2 > 0.1 and 0.3 > 0.1
    assert out["impostor_level"] == pytest.approx(0.25)
    assert out["n_speakers"] == 2 and out["n_gallery"] == 2


def test_level_verdict_reads_both_directions():
    from audio_unlearn.evaluation.identity import level_verdict
    from audio_unlearn.evaluation.intervals import Interval

    def iv(lo, hi):
        return Interval((lo + hi) / 2, 0.1, lo, hi, 3)

    assert level_verdict(iv(-0.02, 0.03), 0.05) == "at the unseen level"
    assert level_verdict(iv(-0.3, -0.1), 0.05) == "under-forgotten"
    assert level_verdict(iv(0.1, 0.2), 0.05) == "over-forgotten"
    assert level_verdict(iv(-0.1, 0.02), 0.05) == "inconclusive"


def test_calibrated_cllr_is_affine_invariant_and_above_min_cllr():
    from audio_unlearn.evaluation.identity import calibrated_cllr

    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(200), np.zeros(200)].astype(bool)
    scores = np.r_[rng.normal(1.0, 1.0, 200), rng.normal(-1.0, 1.0, 200)]
    cal = (scores, labels)
    value = calibrated_cllr(scores, labels, cal)
    assert min_cllr(scores, labels) <= value < 1.0  # informative, not better than PAV
    # a verifier whose scores are 3s + 7 calibrates to the same LLRs
    shifted = calibrated_cllr(3 * scores + 7, labels, (3 * scores + 7, labels))
    assert shifted == pytest.approx(value, abs=1e-4)
    # calibrated on other trials whose scores mean the opposite: worse than saying nothing
    assert calibrated_cllr(scores, labels, (-scores, labels)) > 1.0


def test_group_verification_on_constructed_embeddings():
    """Forget speakers the encoder separates perfectly verify at EER 0; speakers whose
    embeddings are all the same direction cannot be verified (EER 0.5)."""
    from audio_unlearn.evaluation.identity import group_verification
    from audio_unlearn.evaluation.verification import Trial

    # f1, f2: orthogonal speakers; u1, u2: identical embeddings (indistinguishable)
    emb = {"f1a": [1, 0, 0], "f1b": [1, 0.1, 0], "f2a": [0, 1, 0], "f2b": [0.1, 1, 0]}
    emb |= {"u1a": [0, 0, 1], "u1b": [0, 0, 1], "u2a": [0, 0, 1], "u2b": [0, 0, 1]}
    ids = list(emb)
    trials = [
        Trial("f1a", "f1b", True),
        Trial("f1a", "f2a", False),
        Trial("f2a", "f2b", True),
        Trial("f2b", "f1b", False),
        Trial("u1a", "u1b", True),
        Trial("u1a", "u2a", False),
        Trial("u2a", "u2b", True),
        Trial("u2b", "u1b", False),
    ]
    group_of = {i: "forget" if i.startswith("f") else "unseen" for i in ids}
    gender_of = {i: "f" if i[1] == "1" else "m" for i in ids}
    out = group_verification(
        trials,
        ids,
        np.array(list(emb.values()), dtype=float),
        group_of,
        gender_of=gender_of,
        calibrate_on=None,
    )
    assert out["forget"]["eer"] == pytest.approx(0.0)
    assert out["unseen"]["eer"] == pytest.approx(0.5)  # all scores tie
    assert out["forget"]["min_cllr"] == pytest.approx(0.0)
    assert out["unseen"]["min_cllr"] == pytest.approx(1.0)
    assert "cllr" not in out["forget"]  # no calibration group
    assert out["forget"]["n_target"] == 2 and out["forget"]["tpr_at_fpr_1pct"] == 1.0
    assert set(out["forget"]["by_gender"]) == {"f", "m"}  # the enrolment speaker's gender
    assert out["forget"]["by_gender"]["f"]["n_target"] == 1


def test_same_gender_trials():
    from types import SimpleNamespace

    from audio_unlearn.evaluation.verification import build_trials

    utts = [SimpleNamespace(id=f"{s}{k}", speaker=s) for s in "abcd" for k in range(3)]
    genders = {"a": "f", "b": "f", "c": "m", "d": "m"}
    trials = build_trials(utts, n_per_speaker=3, seed=0, gender_of=genders)
    for t in trials:
        if not t.target:
            assert genders[t.enroll[0]] == genders[t.test[0]], t
    assert sum(not t.target for t in trials) == 12  # 3 per speaker, as many as targets
