"""Shadow-model membership attacks (LiRA, RMIA, U-LiRA), speaker-level aggregation and
the low-FPR ROC summary, on constructed cases whose answers are known in closed form."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from audio_unlearn.evaluation.lira import (
    lira,
    logit_confidence,
    rmia,
    roc_summary,
    speaker_scores,
    unlearning_lira,
)


def loss_of(phi):
    """The loss whose logit-scaled confidence is ``phi``: ``-log(sigmoid(phi))``."""
    return np.logaddexp(0.0, -np.asarray(phi, dtype=np.float64))


def test_logit_confidence_is_the_log_odds_of_exp_minus_loss():
    losses = np.array([math.log(2), 0.01, 1.0, 5.0])
    p = np.exp(-losses)
    assert logit_confidence(losses) == pytest.approx(np.log(p / (1 - p)))
    assert logit_confidence([math.log(2)])[0] == pytest.approx(0.0, abs=1e-12)
    phi = np.array([-3.0, 0.0, 2.5, 9.0])
    assert logit_confidence(loss_of(phi)) == pytest.approx(phi)


def _two_point_shadows(n, mean_in, mean_out):
    """Shadow phi per sample: two IN shadows at mean_in -+ 1/sqrt(2), two OUT ones at
    mean_out -+ 1/sqrt(2): sample means mean_in / mean_out, unbiased std exactly 1."""
    a = 1 / math.sqrt(2)
    phis = np.array([[mean_in - a] * n, [mean_in + a] * n, [mean_out - a] * n, [mean_out + a] * n])
    mask = np.array([[True] * n, [True] * n, [False] * n, [False] * n])
    return loss_of(phis), mask


def test_online_lira_is_the_gaussian_log_likelihood_ratio():
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    shadows, mask = _two_point_shadows(len(x), mean_in=1.0, mean_out=0.0)
    scores = lira(loss_of(x), shadows, mask)
    # log N(x; 1, 1) - log N(x; 0, 1) = x - 1/2
    assert scores == pytest.approx(x - 0.5, abs=1e-9)
    assert lira(loss_of(x), shadows, mask, global_variance=True) == pytest.approx(x - 0.5)


def test_offline_lira_is_the_one_sided_out_tail():
    x = np.array([-1.0, 0.0, 1.5])
    shadows, mask = _two_point_shadows(len(x), mean_in=5.0, mean_out=0.0)
    scores = lira(loss_of(x), shadows, mask, online=False)
    assert scores == pytest.approx(norm.logcdf(x), abs=1e-9)
    assert scores[1] == pytest.approx(math.log(0.5))


def test_lira_refuses_a_sample_without_out_shadows():
    shadows, mask = _two_point_shadows(3, 1.0, 0.0)
    mask[:, 1] = True  # sample 1: every shadow trained on it
    with pytest.raises(ValueError, match="no shadow model on this side"):
        lira(loss_of([0.0, 0.0, 0.0]), shadows, mask)
    with pytest.raises(ValueError, match=r"must be \(n_shadows, 3\)"):
        lira(loss_of([0.0, 0.0, 0.0]), shadows[:, :2], mask[:, :2])


def test_rmia_counts_the_population_samples_each_sample_dominates():
    t = 0.1
    r_z = np.array([1.0, 2.0, 3.0, 4.0])  # population likelihood ratios
    pop_target = np.full(4, t)
    pop_shadow = (t + np.log(r_z))[None, :]  # ratio exp(s - t) = r_z
    r_x = np.array([0.5, 2.5, 4.0, 10.0])
    scores = rmia(
        np.full(4, t),
        (t + np.log(r_x))[None, :],
        population_target=pop_target,
        population_shadow=pop_shadow,
    )
    assert scores == pytest.approx([0.0, 0.5, 1.0, 1.0])
    # gamma 2: r_x / r_z >= 2
    strict = rmia(
        np.full(4, t),
        (t + np.log(r_x))[None, :],
        population_target=pop_target,
        population_shadow=pop_shadow,
        gamma=2.0,
    )
    assert strict == pytest.approx([0.0, 0.25, 0.5, 1.0])


def test_rmia_never_compares_a_population_sample_with_itself():
    t = 0.1
    r = np.array([1.0, 2.0, 3.0])  # three population samples, audited too
    common = dict(population_target=np.full(3, t), population_shadow=(t + np.log(r))[None, :])
    with_self = rmia(np.full(3, t), (t + np.log(r))[None, :], **common)
    assert with_self == pytest.approx([1 / 3, 2 / 3, 1.0])  # each dominates itself
    loo = rmia(np.full(3, t), (t + np.log(r))[None, :], population_index=[0, 1, 2], **common)
    assert loo == pytest.approx([0.0, 0.5, 1.0])


def test_offline_rmia_scales_the_out_marginal():
    # Pr(x) = ((1 + a) p_out + 1 - a) / 2; with a = 1 it is p_out
    t, s = np.array([0.2, 0.7]), np.array([[0.5, 0.5]])
    common = dict(population_target=np.array([0.3]), population_shadow=np.array([[0.3]]))
    a1 = rmia(t, s, np.zeros_like(s, bool), offline_a=1.0, **common)
    online = rmia(t, s, **common)
    assert a1 == pytest.approx(online)
    assert list(online) == [1.0, 0.0]  # ratio exp(0.3) vs population 1; exp(-0.2) vs 1


def test_unlearning_lira_is_zero_midway_and_signs_the_side():
    n = 3
    a = 1 / math.sqrt(2)
    unlearned = loss_of(np.array([[2 - a] * n, [2 + a] * n]))
    retrained = loss_of(np.array([[-a] * n, [a] * n]))
    target = loss_of(np.array([1.0, 2.0, 0.0]))  # midway, like unlearned, like retrained
    scores = unlearning_lira(target, unlearned, retrained)
    # log N(x; 2, 1) - log N(x; 0, 1) = 2x - 2
    assert scores == pytest.approx([0.0, 2.0, -2.0], abs=1e-9)


def test_speaker_scores_aggregate_utterances():
    order, values = speaker_scores([1.0, 3.0, 10.0, 0.0], ["b", "b", "a", "b"])
    assert order == ["b", "a"] and values == pytest.approx([4 / 3, 10.0])
    _, top = speaker_scores([1.0, 3.0, 10.0, 0.0], ["b", "b", "a", "b"], how="max")
    assert top == pytest.approx([3.0, 10.0])
    with pytest.raises(ValueError, match="3 speakers for 4 scores"):
        speaker_scores([1, 2, 3, 4], ["a", "b", "c"])


def test_roc_summary_reads_tpr_at_low_fpr():
    separated = roc_summary([5, 6, 7], [1, 2, 3, 4])
    assert separated.auc == 1.0 and separated.tpr_at_fpr[0.01] == 1.0
    # 100 non-members 0..99, members 50.5 and 99.5: 99.5 is above every non-member (found
    # at FPR 0), 50.5 above 51 of them (found once FPR reaches 49%)
    summary = roc_summary([99.5, 50.5], np.arange(100.0), fprs=(0.01, 0.5))
    assert summary.tpr_at_fpr[0.01] == 0.5 and summary.tpr_at_fpr[0.5] == 1.0
    assert summary.auc == pytest.approx((1.0 + 0.51) / 2)
    assert summary.to_dict()["tpr_at_fpr"] == {"0.01": 0.5, "0.5": 1.0}


def test_lira_finds_members_a_loss_threshold_misses():
    """A seeded world where samples differ in difficulty: each sample's OUT phi has its own
    mean, membership raises it by 0.5 (noise 0.3). A global loss threshold barely sees
    members; LiRA, calibrated per sample by 32 shadows, does. Pure numpy (no kernel-set
    spread). Over seeds 0-4: LiRA (global variance) AUC 0.871-0.886, TPR at 1% FPR
    0.18-0.27; the loss threshold AUC 0.570-0.594, TPR at 1% FPR 0.066-0.095."""
    rng = np.random.default_rng(0)
    n, k = 2000, 32
    hardness = rng.uniform(0.0, 6.0, n)
    member = rng.random(n) < 0.5
    shadow_in = rng.random((k, n)) < 0.5
    phi_shadow = hardness + 0.5 * shadow_in + rng.normal(0, 0.3, (k, n))
    phi_target = hardness + 0.5 * member + rng.normal(0, 0.3, n)
    scores = lira(loss_of(phi_target), loss_of(phi_shadow), shadow_in, global_variance=True)
    attack = roc_summary(scores[member], scores[~member])
    baseline = roc_summary(-loss_of(phi_target)[member], -loss_of(phi_target)[~member])
    assert attack.auc > 0.8 and attack.tpr_at_fpr[0.01] > 0.12
    assert baseline.auc < 0.65 and baseline.tpr_at_fpr[0.01] < 0.12
