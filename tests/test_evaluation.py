"""Tests for audio_unlearn.evaluation: classification metrics, the loss MIA, GUM and CGUM."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audio_unlearn.evaluation import (
    ClassificationScores,
    GUMTerms,
    MIAResult,
    accuracy,
    cgum,
    cgum_terms,
    classification_scores,
    expected_calibration_error,
    gum,
    gum_terms,
    loss_mia,
    macro_f1,
    mia_auc,
    per_sample_cross_entropy,
)

# --------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------


def test_per_sample_cross_entropy_matches_torch_mean_and_shape():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 7, generator=gen)
    targets = torch.randint(0, 7, (32,), generator=gen)
    losses = per_sample_cross_entropy(logits, targets)
    assert losses.shape == (32,)
    torch.testing.assert_close(losses.mean(), F.cross_entropy(logits, targets))
    # batched == per item
    one = torch.stack(
        [per_sample_cross_entropy(logits[i : i + 1], targets[i : i + 1])[0] for i in range(32)]
    )
    torch.testing.assert_close(losses, one)


def test_per_sample_cross_entropy_promotes_half_precision():
    logits = torch.randn(4, 3).to(torch.bfloat16)
    losses = per_sample_cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    assert losses.dtype == torch.float32


@pytest.mark.parametrize(
    ("logits", "targets", "match"),
    [
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), "targets must have shape"),
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), r"logits must have shape \(N, C\)"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), "3 classes"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "integer class ids"),
    ],
)
def test_per_sample_cross_entropy_rejects_bad_input(logits, targets, match):
    with pytest.raises(ValueError, match=match):
        per_sample_cross_entropy(logits, targets)


def test_accuracy_hand_example():
    # 3 of 4 match
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == pytest.approx(0.75)
    assert accuracy(torch.tensor([1, 1]), np.array([1, 1])) == 1.0


def test_macro_f1_hand_example():
    targets = [0, 0, 1, 1, 2]
    preds = [0, 1, 1, 1, 0]
    # class 0: TP 1, FP 1, FN 1 -> P = R = 1/2 -> F1 = 0.5
    # class 1: TP 2, FP 1, FN 0 -> P = 2/3, R = 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    # class 2: TP 0 -> F1 = 0
    assert macro_f1(preds, targets) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # restricted class set
    assert macro_f1(preds, targets, labels=[0, 1]) == pytest.approx((0.5 + 0.8) / 2)
    # class 3 never seen: F1 0 (zero_division=0), counted in the average
    assert macro_f1(preds, targets, labels=[0, 1, 2, 3]) == pytest.approx(1.3 / 4)


@pytest.mark.parametrize(
    ("preds", "targets", "match"),
    [
        ([], [], "empty"),
        ([0, 1], [0], "differ in length"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([0.5, 1.0], [0, 1], "integer class ids"),
    ],
)
def test_accuracy_and_f1_reject_bad_input(preds, targets, match):
    with pytest.raises(ValueError, match=match):
        accuracy(preds, targets)
    with pytest.raises(ValueError, match=match):
        macro_f1(preds, targets)


def test_ece_hand_example():
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # conf 0.9, pred 0, target 0: correct
            [0.8, 0.1, 0.1],  # conf 0.8, pred 0, target 1: wrong
            [0.2, 0.6, 0.2],  # conf 0.6, pred 1, target 1: correct
            [0.4, 0.3, 0.3],  # conf 0.4, pred 0, target 2: wrong
        ]
    )
    targets = [0, 1, 1, 2]
    # 2 bins: (0, 0.5] holds sample 4: |0 - 0.4| * 1/4 = 0.1
    #         (0.5, 1] holds 1-3: acc 2/3, mean conf 2.3/3 -> |2 - 2.3| / 3 * 3/4 = 0.075
    assert expected_calibration_error(probs, targets, n_bins=2) == pytest.approx(0.175)
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(targets), n_bins=2) == (
        pytest.approx(0.175)
    )


def test_ece_zero_for_perfect_calibration():
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])  # conf 0.5, one of two correct
    assert expected_calibration_error(probs, [0, 1], n_bins=2) == pytest.approx(0.0)


def test_ece_confidence_on_an_edge_goes_to_the_lower_bin():
    # A: conf 0.5, correct (acc - conf = +0.5); B: conf 0.6, wrong (-0.6); 2 bins.
    # 0.5 in (0, 0.5]: 0.5 / 2 + 0.6 / 2 = 0.55. (In (0.5, 1] with B it would be 0.05.)
    probs = np.array([[0.5, 0.5], [0.6, 0.4]])
    assert expected_calibration_error(probs, [0, 1], n_bins=2) == pytest.approx(0.55)


def _ece_loop(probs: np.ndarray, targets: np.ndarray, n_bins: int) -> float:
    """Reference implementation (Guo et al. 2017), one bin at a time."""
    conf = probs.max(1)
    correct = probs.argmax(1) == targets
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return ece


def test_ece_matches_loop_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = rng.integers(0, 10, 500)
    assert expected_calibration_error(probs, targets) == pytest.approx(
        _ece_loop(probs, targets, 15), abs=1e-12
    )


@pytest.mark.parametrize(
    ("probs", "targets", "kwargs", "match"),
    [
        (np.array([[2.0, -1.0]]), [0], {}, "probabilities"),
        (np.array([[0.2, 0.2]]), [0], {}, "sum to 1"),
        (np.array([[0.5, 0.5]]), [0], {"n_bins": 0}, "n_bins"),
        (np.zeros((0, 2)), [], {}, "empty"),
        (np.array([[0.5, 0.5]]), [0, 1], {}, "differ in length"),
    ],
)
def test_ece_rejects_bad_input(probs, targets, kwargs, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(probs, targets, **kwargs)


def test_classification_scores():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 0.0]])
    targets = torch.tensor([0, 1, 1, 0])  # preds 0, 1, 0, 0 -> 3/4 correct
    scores = classification_scores(logits, targets)
    assert isinstance(scores, ClassificationScores)
    assert scores.n == 4
    assert scores.accuracy == pytest.approx(0.75)
    # class 0: TP 2, FP 1, FN 0 -> F1 0.8; class 1: TP 1, FN 1 -> F1 2/3
    assert scores.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    assert scores.loss == pytest.approx(float(F.cross_entropy(logits, targets)))
    # arrays work too
    assert classification_scores(logits.numpy(), [0, 1, 1, 0]) == scores


# --------------------------------------------------------------------------------------
# MIA
# --------------------------------------------------------------------------------------


def test_loss_mia_near_chance_for_identical_distributions():
    rng = np.random.default_rng(1)
    members = rng.gamma(2.0, 0.5, size=5000)
    nonmembers = rng.gamma(2.0, 0.5, size=6000)
    result = loss_mia(members, nonmembers, seed=0)
    assert isinstance(result, MIAResult)
    assert abs(result.accuracy - 0.5) < 0.03
    assert result.n_splits == 10


def test_loss_mia_high_for_separated_losses():
    rng = np.random.default_rng(2)
    members = rng.normal(0.1, 0.05, size=400)  # trained-on: low loss
    nonmembers = rng.normal(1.0, 0.3, size=400)
    result = loss_mia(torch.tensor(members), torch.tensor(nonmembers))
    assert result.accuracy > 0.8
    assert mia_auc(members, nonmembers) > 0.95


def test_loss_mia_balances_to_smaller_side():
    rng = np.random.default_rng(3)
    assert loss_mia(rng.random(50), rng.random(300)).n_per_class == 50
    assert loss_mia(rng.random(300), rng.random(37)).n_per_class == 37


def test_loss_mia_subsamples_the_larger_side_at_random():
    # If the larger side were truncated (first n) instead of sampled, the attack would see
    # only the low-loss head of the sorted members and be perfect.
    members = np.linspace(0.0, 10.0, 2000)
    nonmembers = np.random.default_rng(4).uniform(0.0, 10.0, 200)
    assert loss_mia(members, nonmembers, seed=0).accuracy < 0.7


def test_loss_mia_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    members, nonmembers = rng.normal(0.4, 0.3, 120), rng.normal(0.6, 0.3, 500)
    assert loss_mia(members, nonmembers, seed=7) == loss_mia(members, nonmembers, seed=7)
    others = {loss_mia(members, nonmembers, seed=s).accuracy for s in range(5)}
    assert len(others) > 1  # the seed is actually used


@pytest.mark.parametrize(
    ("members", "nonmembers", "match"),
    [
        ([], [0.1, 0.2], "member_losses is empty"),
        ([0.1, 0.2], [], "nonmember_losses is empty"),
        ([0.1, float("nan"), 0.3] * 10, [0.2] * 30, "non-finite"),
        ([0.1] * 30, [0.2, float("inf")] * 15, "non-finite"),
        ([0.1], [0.2] * 30, "at least"),
        ([[0.1, 0.2]], [0.2] * 30, "1-D"),
    ],
)
def test_loss_mia_rejects_bad_input(members, nonmembers, match):
    with pytest.raises(ValueError, match=match):
        loss_mia(members, nonmembers)


def test_loss_mia_minimum_size_message_and_boundary():
    # test_size 0.1: 6 per side -> 12 samples, ceil(1.2) = 2 test / 10 train: the smallest
    # that holds both classes on both parts (5 per side -> ceil(1.0) = 1 test sample)
    assert loss_mia(np.arange(6.0), np.arange(6.0) + 0.5).n_per_class == 6
    with pytest.raises(ValueError, match=r"5 member .* at least 6"):
        loss_mia(np.arange(5.0), np.arange(30.0))


@pytest.mark.parametrize("kwargs", [{"n_splits": 0}, {"test_size": 1.0}, {"test_size": 0.0}])
def test_loss_mia_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        loss_mia(np.arange(50.0), np.arange(50.0), **kwargs)


def test_mia_auc_hand_example():
    # member score = -loss; pairs (m, n) with m < n: (0.1, 0.2) (0.1, 0.4) (0.3, 0.4) -> 3 / 4
    assert mia_auc([0.1, 0.3], [0.2, 0.4]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="non-finite"):
        mia_auc([0.1, float("nan")], [0.2])


# --------------------------------------------------------------------------------------
# GUM
# --------------------------------------------------------------------------------------

FSC_GOLD = {"f1_gold": 0.993, "mia_gold": 0.503, "mia_original": 0.508, "time_gold": 2400.0}

# UnSLU-BENCH README, FSC wav2vec2-base: (test F1, MIA, speed-up vs gold) -> GUM
FSC_ROWS = [
    ("FT", 0.993, 0.504, 7.96, 0.517),
    ("NG", 0.987, 0.501, 206.9, 0.816),
    ("NG+", 0.994, 0.493, 4.03, 0.000),
    ("CF-k", 0.994, 0.501, 16.97, 0.606),
    ("UNSIR", 0.991, 0.506, 6.55, 0.447),
    ("BT", 0.993, 0.508, 4.78, 0.000),
    ("BT-L", 0.994, 0.506, 5.87, 0.431),
    ("SCRUB", 0.994, 0.506, 6.21, 0.439),
]


@pytest.mark.parametrize(
    ("f1", "mia", "speedup", "expected"),
    [row[1:] for row in FSC_ROWS],
    ids=[r[0] for r in FSC_ROWS],
)
def test_gum_reproduces_published_fsc_rows(f1, mia, speedup, expected):
    score = gum(f1_unlearned=f1, mia_unlearned=mia, time_unlearned=2400.0 / speedup, **FSC_GOLD)
    assert score == pytest.approx(expected, abs=0.002)


def _gum_args(**overrides):
    args = {
        "f1_unlearned": 0.95,
        "f1_gold": 0.97,
        "mia_unlearned": 0.55,
        "mia_original": 0.60,
        "mia_gold": 0.52,
        "time_unlearned": 60.0,
        "time_gold": 3600.0,
    }
    args.update(overrides)
    return args


def test_gum_terms_hand_example():
    terms = gum_terms(**_gum_args())
    assert isinstance(terms, GUMTerms)
    # mia_u' = 0.55, mia_g' = min(0.575, 0.52) = 0.52, E = 1 - (0.03 / 0.08)^2
    assert terms.efficacy == pytest.approx(1 - (0.03 / 0.08) ** 2)
    assert terms.utility == pytest.approx(0.98)
    assert terms.efficiency == pytest.approx(1 - math.log(61) / math.log(3601))
    u, e, t = terms.utility, terms.efficacy, terms.efficiency
    assert terms.score == pytest.approx(3 * u * e * t / (e * t + u * t + u * e))
    assert gum(**_gum_args()) == terms.score


@pytest.mark.parametrize("mia_u", [0.60, 0.62, 0.9])
def test_gum_zero_when_nothing_forgotten(mia_u):
    terms = gum_terms(**_gum_args(mia_unlearned=mia_u))
    assert terms.efficacy == 0.0
    assert terms.score == 0.0


@pytest.mark.parametrize("mia_u", [0.44, 0.40, 0.0])
def test_gum_zero_at_or_below_gold_midpoint(mia_u):
    # MIA_o 0.60, MIA_g 0.52: mia_g' = (mia_u' + 0.60) / 2 <= 0.52 once mia_u' <= 0.44
    terms = gum_terms(**_gum_args(mia_unlearned=mia_u))
    assert terms.efficacy == 0.0
    assert terms.score == 0.0


@pytest.mark.parametrize(("mia_u", "efficacy"), [(0.52, 1.0), (0.48, 0.75), (0.56, 0.75)])
def test_gum_efficacy_symmetric_around_gold_inside_the_band(mia_u, efficacy):
    # (0.52 -/+ 0.04 - 0.52) / 0.08 = -/+ 0.5 -> E = 0.75 both sides; 0.52 is perfect
    terms = gum_terms(**_gum_args(mia_unlearned=mia_u))
    assert terms.efficacy == pytest.approx(efficacy)
    assert terms.score > 0


@pytest.mark.parametrize("mia_u", [0.50, 0.55])
def test_gum_zero_denominator_is_zero_efficacy(mia_u):
    # MIA_o (0.50) <= MIA_g (0.52) and MIA_u >= MIA_o: max(MIA_o, mia_u') == mia_g'
    terms = gum_terms(**_gum_args(mia_original=0.50, mia_unlearned=mia_u))
    assert terms.efficacy == 0.0
    assert terms.score == 0.0


def test_gum_zero_when_not_faster_than_gold():
    same = gum_terms(**_gum_args(time_unlearned=3600.0))
    assert same.efficiency == pytest.approx(0.0)
    assert same.score == 0.0
    slower = gum_terms(**_gum_args(time_unlearned=4 * 3600.0))
    assert slower.efficiency < 0  # raw term reported
    assert slower.score == 0.0  # the unclipped harmonic form would not give this


def test_gum_instant_unlearning_has_full_efficiency():
    assert gum_terms(**_gum_args(time_unlearned=0.0)).efficiency == 1.0


def test_gum_weights():
    terms = gum_terms(**_gum_args(a=2.0, b=0.5))
    u, e, t = terms.utility, terms.efficacy, terms.efficiency
    assert terms.score == pytest.approx(3.5 * u * e * t / (2 * e * t + 0.5 * u * t + u * e))
    # a = 0 drops utility out, even when it is 0
    no_u = gum_terms(**_gum_args(a=0.0, f1_unlearned=0.0, f1_gold=1.0))
    assert no_u.utility == 0.0
    assert no_u.score == pytest.approx(2 * e * t / (t + e))


@pytest.mark.parametrize("fn", [gum, cgum])
@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"f1_unlearned": 1.2}, "f1_unlearned"),
        ({"mia_gold": -0.1}, "mia_gold"),
        ({"mia_original": float("nan")}, "mia_original"),
        ({"time_unlearned": -1.0}, "time_unlearned"),
        ({"time_gold": 0.0}, "time_gold"),
        ({"a": -1.0}, "weights"),
        ({"f1_gold": "high"}, "f1_gold"),
    ],
)
def test_gum_and_cgum_validate_inputs(fn, override, match):
    extra = {"n_classes": 4} if fn is cgum else {}
    with pytest.raises(ValueError, match=match):
        fn(**_gum_args(**override), **extra)


# --------------------------------------------------------------------------------------
# CGUM
# --------------------------------------------------------------------------------------


def _cgum_args(**overrides):
    args = {
        "f1_unlearned": 0.70,
        "f1_gold": 0.85,
        "mia_unlearned": 0.525,
        "mia_original": 0.60,
        "mia_gold": 0.50,
        "time_unlearned": 9.0,
        "time_gold": 999.0,
        "n_classes": 4,
    }
    args.update(overrides)
    return args


def test_cgum_hand_computed():
    # C = 4, chance 0.25:   U = (0.70 - 0.25) / (0.85 - 0.25) = 0.45 / 0.60 = 0.75
    # MIA_o 0.60 >= MIA_g 0.50 -> mia_sat = min(0.525, 0.60) = 0.525
    #                       E = 1 - |0.525 - 0.50| / |0.60 - 0.50| = 1 - 0.025 / 0.1 = 0.75
    #                       T = 1 - ln(9 + 1) / ln(999 + 1) = 1 - ln 10 / (3 ln 10) = 2/3
    # CGUM = 3 U E T / (E T + U T + U E)
    #      = 3 * 0.75 * 0.75 * 2/3 / (0.75 * 2/3 + 0.75 * 2/3 + 0.75 * 0.75)
    #      = 1.125 / (0.5 + 0.5 + 0.5625) = 1.125 / 1.5625 = 0.72
    terms = cgum_terms(**_cgum_args())
    assert terms.utility == pytest.approx(0.75)
    assert terms.efficacy == pytest.approx(0.75)
    assert terms.efficiency == pytest.approx(2 / 3)
    assert terms.score == pytest.approx(0.72)
    assert cgum(**_cgum_args()) == terms.score


@pytest.mark.parametrize(
    ("override", "term", "value"),
    [
        ({"f1_unlearned": 0.20}, "utility", 0.0),  # below chance
        ({"f1_unlearned": 0.95}, "utility", 1.0),  # better than gold
        ({"mia_unlearned": 0.35}, "efficacy", 0.0),  # overshoots gold by > |MIA_o - MIA_g|
        ({"mia_unlearned": 0.70}, "efficacy", 0.0),  # above original: saturates at MIA_o
        ({"mia_unlearned": 0.45}, "efficacy", 0.5),  # below gold, inside the band
        ({"time_unlearned": 5000.0}, "efficiency", 0.0),  # slower than gold
        ({"time_unlearned": 0.0}, "efficiency", 1.0),
        # MIA_o < MIA_g: mia_sat = max(0.48, 0.45) = 0.48 -> 1 - 0.02 / 0.05 = 0.6
        ({"mia_original": 0.45, "mia_unlearned": 0.48}, "efficacy", 0.6),
        ({"mia_original": 0.45, "mia_unlearned": 0.40}, "efficacy", 0.0),  # saturates at MIA_o
    ],
)
def test_cgum_clipping(override, term, value):
    terms = cgum_terms(**_cgum_args(**override))
    assert getattr(terms, term) == pytest.approx(value)
    assert 0.0 <= terms.score <= 1.0
    if value == 0.0:
        assert terms.score == 0.0


@pytest.mark.parametrize(("mia_u", "efficacy"), [(0.50, 1.0), (0.60, 1.0), (0.49, 0.0)])
def test_cgum_original_equals_gold(mia_u, efficacy):
    terms = cgum_terms(**_cgum_args(mia_original=0.50, mia_gold=0.50, mia_unlearned=mia_u))
    assert terms.efficacy == efficacy


def test_cgum_gold_at_chance_warns_and_defines_utility():
    with pytest.warns(RuntimeWarning, match="chance"):
        above = cgum_terms(**_cgum_args(f1_gold=0.25, f1_unlearned=0.30))
    assert above.utility == 1.0
    with pytest.warns(RuntimeWarning):
        below = cgum_terms(**_cgum_args(f1_gold=0.20, f1_unlearned=0.22))
    assert below.utility == 0.0


@pytest.mark.parametrize("n_classes", [1, 0, 2.5, True])
def test_cgum_rejects_bad_n_classes(n_classes):
    with pytest.raises(ValueError, match="n_classes"):
        cgum(**_cgum_args(n_classes=n_classes))
