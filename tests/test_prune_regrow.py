"""Prune-and-regrow building blocks (cosine curve, sparsity rules, pruning, regrowing,
selectors), the prune_regrow method and the OMP baseline."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.methods import build_method, fit_unlearning, reinitialise_
from audio_unlearn.methods.pruning import (
    cosine_curve,
    flatten_params,
    global_l1_prune_,
    prune_mask,
    regrow_,
    select_sparsity,
    unflatten_mask,
)
from audio_unlearn.models import LogMelCNN, LogMelCNNConfig


def _tiny_cnn(seed=0, num_classes=4):
    torch.manual_seed(seed)
    return LogMelCNN(LogMelCNNConfig(num_classes=num_classes, channels=8, n_layers=2))


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def _flat_masks(model, masks):
    return torch.cat([masks[n].reshape(-1) for n, _ in model.named_parameters()])


@pytest.fixture(scope="module")
def dm(dummy_manifest):
    utts = read_manifest(dummy_manifest)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=0)
    label = sorted({u.labels["intent"] for u in utts})[0]
    split = class_forget_split(utts, corpus, classes=[label], label_key="intent")
    dm = UnlearningDataModule(utts, split, batch_size=16, max_seconds=1.0)
    dm.setup()
    return dm


# ---------------------------------------------------------------------- cosine curve


def test_vectorised_cosine_curve_equals_a_brute_force_loop():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(537, generator=gen) ** 3  # heavy-tailed, like trained weights
    w[:40] = w[40:80]  # tied magnitudes
    p, cs = cosine_curve(w, steps=101)
    assert torch.equal(p, torch.linspace(0, 1, 101, dtype=torch.float64))
    order = torch.argsort(w.abs())
    brute = []
    for frac in p.tolist():
        pruned = w.double().clone()
        pruned[order[: round(frac * w.numel())]] = 0.0
        brute.append(F.cosine_similarity(pruned, w.double(), dim=0))
    torch.testing.assert_close(cs, torch.stack(brute), rtol=1e-10, atol=1e-12)
    assert cs[0] == pytest.approx(1.0) and cs[-1] == 0.0
    assert bool((cs[1:] <= cs[:-1] + 1e-12).all())  # pruning more never raises the cosine


def test_cosine_curve_rejects_all_zero_weights():
    with pytest.raises(ValueError, match="all weights are zero"):
        cosine_curve(torch.zeros(10))


def test_the_three_sparsity_rules_pick_different_points():
    # 50 exact zeros and 50 ones (n = 100, so p = k/100 prunes exactly k entries).
    # For p <= 0.5 only zeros go: cs = 1. For p >= 0.5, cs^2 = (#ones kept)/50 = 2(1 - p).
    #  orth, max p^2 + cs^2: p <= .5 gives p^2 + 1 <= 1.25; p >= .5 gives
    #        p^2 + 2 - 2p = (p - 1)^2 + 1 <= 1.25 with equality only at p = .5  -> 0.50
    #  pop,  max (1 + p)^2 + cs^2: p <= .5 gives <= 2.25 + 1 = 3.25; p >= .5 gives
    #        (1 + p)^2 + 2 - 2p = p^2 + 3, largest at p = 1 (= 4)            -> 1.00
    #  opt,  min (1 - p)^2 + (1 - cs)^2: p <= .5 gives >= .25; for p >= .5,
    #        p = .69: .0961 + (1 - sqrt(.62))^2 = .14130
    #        p = .70: .0900 + (1 - sqrt(.60))^2 = .14081   (the minimum)
    #        p = .71: .0841 + (1 - sqrt(.58))^2 = .14095
    #        (continuous optimum at s^3 + 2s - 2 = 0, s = sqrt(2(1 - p)), p ~ .703) -> 0.70
    w = torch.cat([torch.zeros(50), torch.ones(50)])
    p, cs = cosine_curve(w)
    picks = {rule: select_sparsity(p, cs, rule) for rule in ("opt", "orth", "pop")}
    assert picks == {
        "opt": pytest.approx(0.70),
        "orth": pytest.approx(0.50),
        "pop": pytest.approx(1.00),
    }
    with pytest.raises(ValueError, match="unknown sparsity rule 'cosine'"):
        select_sparsity(p, cs, "cosine")


# ---------------------------------------------------------------------- pruning


def test_global_l1_prune_matches_torch_global_unstructured_over_weights_and_biases():
    model = _tiny_cnn()
    reference = copy.deepcopy(model)
    n = flatten_params(model).numel()
    masks = global_l1_prune_(model, 0.4)
    assert int(_flat_masks(model, masks).sum()) == round(0.4 * n)
    assert int((flatten_params(model) == 0).sum()) == round(0.4 * n)
    # torch's own global L1 pruning over every (module, parameter) gives the same mask
    targets = [
        (module, name)
        for module in reference.modules()
        for name, _ in module.named_parameters(recurse=False)
    ]
    torch_prune.global_unstructured(targets, torch_prune.L1Unstructured, amount=0.4)
    for module_name, module in reference.named_modules():
        for buffer_name, keep in module.named_buffers(recurse=False):
            if buffer_name.endswith("_mask"):
                name = f"{module_name}.{buffer_name[: -len('_mask')]}".lstrip(".")
                assert torch.equal(masks[name], keep == 0), name
    assert any(masks[n].any() for n in masks if n.endswith("bias"))  # biases are candidates


def test_pruning_is_permanent_and_smallest_first():
    model = _mlp()
    before = flatten_params(model).abs()
    masks = global_l1_prune_(model, 0.25)
    flat = _flat_masks(model, masks)
    assert before[flat].max() <= before[~flat].min()
    assert torch.equal(flatten_params(model)[flat], torch.zeros(int(flat.sum())))
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())  # no reparametrisation


# ---------------------------------------------------------------------- regrowing


def test_reinit_regrow_copies_the_fresh_initialisation_only_where_pruned():
    original = _tiny_cnn()
    model = copy.deepcopy(original)
    masks = global_l1_prune_(model, 0.5)
    fresh = reinitialise_(copy.deepcopy(original), seed=7)
    regrow_(model, masks, "reinit", fresh=fresh)
    mask = _flat_masks(model, masks)
    now, orig, new = flatten_params(model), flatten_params(original), flatten_params(fresh)
    assert torch.equal(now[mask], new[mask])
    assert torch.equal(now[~mask], orig[~mask])  # nothing else was touched
    assert (now[mask] != orig[mask]).float().mean() > 0.5  # the fresh draw differs
    # without ``fresh``, the seed gives the same draw
    again = copy.deepcopy(original)
    regrow_(again, global_l1_prune_(again, 0.5), "reinit", seed=7)
    assert torch.equal(flatten_params(again), now)


def test_zero_and_rewind_regrow_policies():
    original = _mlp(0)
    early = _mlp(1).state_dict()
    zeroed = copy.deepcopy(original)
    masks = global_l1_prune_(zeroed, 0.3)
    mask = _flat_masks(zeroed, masks)
    regrow_(zeroed, masks, "zero")
    assert int((flatten_params(zeroed) == 0).sum()) == int(mask.sum())
    assert torch.equal(flatten_params(zeroed)[~mask], flatten_params(original)[~mask])

    rewound = copy.deepcopy(original)
    regrow_(rewound, global_l1_prune_(rewound, 0.3), "rewind", rewind_state=early)
    early_flat = torch.cat([v.reshape(-1) for v in early.values()])
    assert torch.equal(flatten_params(rewound)[mask], early_flat[mask])
    assert torch.equal(flatten_params(rewound)[~mask], flatten_params(original)[~mask])

    with pytest.raises(ValueError, match="needs rewind_state"):
        regrow_(rewound, masks, "rewind")
    with pytest.raises(ValueError, match="unknown regrow policy 'grow'"):
        regrow_(rewound, masks, "grow")
    with pytest.raises(ValueError, match="lacks parameters"):
        regrow_(rewound, masks, "rewind", rewind_state={"0.weight": early["0.weight"]})


# ---------------------------------------------------------------------- selectors


def test_salun_and_ssd_prune_the_forget_specific_weights_magnitude_does_not():
    # Linear(4 -> 2): forget inputs use only feature 0, retain inputs never do. The
    # gradient of every weight W[:, j], j > 0, is zero on the forget set, while W[:, 0]
    # gets 3x the bias gradient (x_0 = 3): SalUn's top-2 is W[:, 0]. Its train importance
    # is half its forget importance (the retain batch adds zero): ratio 2, above the
    # biases' 2 g_f^2 / (g_f^2 + g_r^2) < 2 and the 0 of W[:, 1:], so SSD's top-2 is
    # W[:, 0] too. Magnitude prunes the two smallest |w|, and W[:, 0] is the largest.
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[5.0, 0.1, -0.2, 0.3], [-5.0, 0.4, 0.05, -0.6]]))
        model.bias.copy_(torch.tensor([0.2, -0.3]))
    forget = [(torch.tensor([[3.0, 0, 0, 0], [3.0, 0, 0, 0]]), torch.tensor([1, 1]))]
    retain = [(torch.tensor([[0.0, 1, 2, -1], [0.0, -1, 1, 2]]), torch.tensor([0, 1]))]
    expected = torch.zeros(2, 4, dtype=torch.bool)
    expected[:, 0] = True
    magnitude = prune_mask(model, 0.2, "magnitude")
    salun = prune_mask(model, 0.2, "salun", forget=forget)
    ssd = prune_mask(model, 0.2, "ssd", forget=forget, train=forget + retain)
    assert torch.equal(salun["weight"], expected) and not salun["bias"].any()
    assert torch.equal(ssd["weight"], expected) and not ssd["bias"].any()
    assert not (magnitude["weight"] & expected).any()
    assert int(magnitude["weight"].sum() + magnitude["bias"].sum()) == 2
    with pytest.raises(ValueError, match="needs the forget"):
        prune_mask(model, 0.2, "ssd", forget=forget)


def test_unflatten_mask_checks_the_size():
    with pytest.raises(ValueError, match="flat mask has 3 entries"):
        unflatten_mask(_mlp(), torch.zeros(3, dtype=torch.bool))


# ---------------------------------------------------------------------- the methods


class _Exploding:
    def __iter__(self):
        raise AssertionError("the forget set was read")


def test_prune_regrow_impair_uses_the_cosine_rule_and_never_reads_forget_for_magnitude():
    original = _tiny_cnn()
    model = copy.deepcopy(original)
    method = build_method("prune_regrow", model, sparsity_rule="opt", seed=3)
    method.impair(forget=_Exploding(), train=_Exploding())
    p, cs = cosine_curve(flatten_params(original))
    n = flatten_params(original).numel()
    assert method.chosen_sparsity == select_sparsity(p, cs, "opt")
    assert method.n_pruned == round(method.chosen_sparsity * n)
    assert method.impair_seconds > 0
    # the pruned entries now hold the seed-3 fresh initialisation, the rest is unchanged
    expected = copy.deepcopy(original)
    regrow_(expected, global_l1_prune_(expected, method.chosen_sparsity), "reinit", seed=3)
    assert torch.equal(flatten_params(model), flatten_params(expected))
    fixed = build_method("prune_regrow", copy.deepcopy(original), sparsity_rule=0.3)
    fixed.impair()
    assert fixed.chosen_sparsity == 0.3 and fixed.n_pruned == round(0.3 * n)


def test_prune_regrow_rewinds_from_a_checkpoint_file(tmp_path):
    original, early = _tiny_cnn(0), _tiny_cnn(1)
    path = tmp_path / "early.pt"
    # a Lightning-style checkpoint: "state_dict" with a "model." prefix
    torch.save({"state_dict": {f"model.{k}": v for k, v in early.state_dict().items()}}, path)
    model = copy.deepcopy(original)
    method = build_method(
        "prune_regrow", model, sparsity_rule=0.5, regrow="rewind", rewind_checkpoint=str(path)
    )
    method.impair()
    mask = _flat_masks(original, prune_mask(original, 0.5))
    assert torch.equal(flatten_params(model)[mask], flatten_params(early)[mask])
    assert torch.equal(flatten_params(model)[~mask], flatten_params(original)[~mask])


def test_prune_regrow_validates_its_hyper_parameters(tmp_path):
    model = _mlp()
    with pytest.raises(ValueError, match="sparsity_rule must be one of"):
        build_method("prune_regrow", model, sparsity_rule="cosine")
    with pytest.raises(ValueError, match="sparsity_rule must be one of"):
        build_method("prune_regrow", model, sparsity_rule=1.5)
    with pytest.raises(ValueError, match="unknown selector"):
        build_method("prune_regrow", model, selector="random")
    with pytest.raises(ValueError, match="needs rewind_checkpoint"):
        build_method("prune_regrow", model, regrow="rewind")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        build_method(
            "prune_regrow", model, regrow="rewind", rewind_checkpoint=str(tmp_path / "missing.pt")
        )
    with pytest.raises(ValueError, match="only read with regrow='rewind'"):
        build_method("prune_regrow", model, rewind_checkpoint=str(tmp_path / "x.pt"))
    with pytest.raises(ValueError, match="sparsity must be in"):
        build_method("omp", model, sparsity=1.0)


def test_prune_regrow_impairs_at_train_start_then_repairs_on_retain(dm):
    model = _tiny_cnn(num_classes=dm.num_classes)
    method = build_method("prune_regrow", model, selector="ssd", sparsity_rule=0.5, epochs=1)
    fit_unlearning(method, dm)
    assert method.chosen_sparsity == 0.5
    assert method.n_pruned == round(0.5 * flatten_params(model).numel())
    assert method.impair_seconds > 0
    assert method.uses == ("retain",)


def test_omp_keeps_exactly_95_percent_zeros_after_fine_tuning(dm):
    original = _tiny_cnn(num_classes=dm.num_classes)
    model = copy.deepcopy(original)
    method = build_method("omp", model, epochs=2, lr=0.05)
    fit_unlearning(method, dm)
    n = flatten_params(model).numel()
    mask = _flat_masks(model, method.masks)
    after = flatten_params(model)
    assert method.n_pruned == int(mask.sum()) == round(0.95 * n)
    assert int((after == 0).sum()) == round(0.95 * n)
    assert bool((after[mask] == 0).all())
    # the kept 5 % were trained
    assert not torch.equal(after[~mask], flatten_params(original)[~mask])
