"""Relabelling, saliency, sparsity and retraining methods: rl, srl, amnesiac, salun,
l1sparse, retrain."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.methods import amnesiac as amnesiac_module
from audio_unlearn.methods import build_method, fit_unlearning, get_method, reinitialise_
from audio_unlearn.methods import random_labels as random_labels_module
from audio_unlearn.methods import successive_random_labels as srl_module
from audio_unlearn.methods.l1_sparse import l1_weight
from audio_unlearn.methods.random_labels import random_wrong_labels
from audio_unlearn.methods.salun import forget_saliency, top_fraction_masks
from audio_unlearn.models import LogMelCNN, LogMelCNNConfig


@pytest.fixture(scope="module")
def dm(dummy_manifest, seed):
    """Class removal on the dummy corpus: class "c0" forgotten, batch size 8."""
    utts = read_manifest(dummy_manifest)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=seed)
    split = class_forget_split(utts, corpus, classes=["c0"], label_key="intent")
    dm = UnlearningDataModule(utts, split, batch_size=8, max_seconds=1.0, seed=seed)
    dm.setup()
    return dm


def _model(dm, seed=None):
    """A fresh small CNN, initialised from ``seed`` (default: the data module's seed)."""
    torch.manual_seed(dm.seed if seed is None else seed)
    return LogMelCNN(LogMelCNNConfig(num_classes=dm.num_classes, channels=16, n_layers=2))


def _n_batches(dm, name):
    return -(-len(dm.dataset(name)) // dm.batch_size)


def _mean_ce(model, dm, name):
    """Mean cross-entropy of ``model`` on set ``name``."""
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in dm.eval_dataloader(name)])
    return float(F.cross_entropy(logits, dm.dataset(name).targets))


class _Calls(list):
    method = None


def _record_training_targets(monkeypatch, module, model):
    """Record every cross-entropy a method module computes as (epoch, inputs, targets),
    including those of the random-label step it inherits (:class:`RandomLabelSteps`).

    ``inputs`` are the waveforms of the model's latest forward pass (the batch the loss is
    on); ``epoch`` is read from ``calls.method``, which the test sets.
    """
    calls = _Calls()
    latest = {}
    model.register_forward_pre_hook(lambda _, args: latest.update(wav=args[0].detach().clone()))

    def cross_entropy(logits, targets, *args, **kwargs):
        calls.append((calls.method.current_epoch, latest["wav"], targets.detach().clone()))
        return F.cross_entropy(logits, targets, *args, **kwargs)

    for patched in (module, random_labels_module):
        monkeypatch.setattr(patched, "F", SimpleNamespace(cross_entropy=cross_entropy))
    return calls


def _is_forget(dm):
    keys = {wav.numpy().tobytes() for wav, _ in dm.dataset("forget")}
    return lambda wav: wav[0].numpy().tobytes() in keys


# -- random wrong labels -------------------------------------------------------------------
def test_random_wrong_labels_are_uniform_over_the_other_classes():
    targets = torch.full((6000,), 2)
    drawn = random_wrong_labels(targets, 4, generator=torch.Generator().manual_seed(0))
    assert not (drawn == targets).any()
    counts = torch.bincount(drawn, minlength=4)
    assert counts[2] == 0
    assert all(abs(int(c) - 2000) < 150 for c in counts[[0, 1, 3]])
    again = random_wrong_labels(targets, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again)
    with pytest.raises(ValueError, match="at least 2 classes"):
        random_wrong_labels(targets, 1)


# -- rl ------------------------------------------------------------------------------------
def test_rl_relabels_forget_once_with_wrong_labels_and_learns_them(dm, bound):
    model = _model(dm)
    method = build_method("rl", model, lr=1e-2, epochs=6, seed=dm.seed + 1)
    assert get_method("rl").uses == ("retain",)
    fit_unlearning(method, dm)
    true = dm.dataset("forget").targets
    assert method.forget_labels.shape == true.shape
    assert not (method.forget_labels == true).any()
    # the labels are fixed per utterance: the model has learnt them, not just "not y"
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(x).argmax(-1) for x, _ in dm.eval_dataloader("forget")])
    agreement = float((preds == method.forget_labels).float().mean())
    bound("forget agreement with the drawn labels", agreement, ">", 0.8)
    bound("retain CE", _mean_ce(model, dm, "retain"), "<", 0.5)


def test_rl_same_seed_same_result(dm):
    models = [_model(dm), _model(dm)]
    for m in models:
        fit_unlearning(build_method("rl", m, lr=1e-3, epochs=1, seed=3), dm)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)


# -- srl -----------------------------------------------------------------------------------
def test_srl_redraws_wrong_labels_every_step_and_alternates_with_retain(dm, monkeypatch):
    model = _model(dm)
    calls = _record_training_targets(monkeypatch, srl_module, model)
    calls.method = method = build_method("srl", model, lr=1e-3, epochs=2, seed=0)
    fit_unlearning(method, dm)
    n_forget, n_retain = _n_batches(dm, "forget"), _n_batches(dm, "retain")
    assert n_forget < n_retain
    # one step per forget batch (no cycling) and one per retain batch, each epoch
    is_forget = _is_forget(dm)
    forget_calls = [c for c in calls if is_forget(c[1])]
    assert len(forget_calls) == 2 * n_forget and len(calls) == 2 * (n_forget + n_retain)
    assert method.trainer.global_step == 2 * (n_forget + n_retain)
    forgotten = int(dm.dataset("forget").targets[0])
    labels_of = {}  # utterance (its waveform) -> the labels it was trained on, per epoch
    for _, wav, targets in forget_calls:
        assert not (targets == forgotten).any()  # always a wrong label
        for w, label in zip(wav, targets, strict=True):
            labels_of.setdefault(w.numpy().tobytes(), []).append(int(label))
    assert len(labels_of) == len(dm.dataset("forget"))
    assert all(len(v) == 2 for v in labels_of.values())  # each utterance once per epoch
    # redrawn at every visit: many utterances get a different label in epoch 2
    assert sum(a != b for a, b in labels_of.values()) > len(labels_of) / 3


# -- amnesiac ------------------------------------------------------------------------------
def test_amnesiac_impairs_on_forget_then_repairs_on_retain(dm, monkeypatch):
    model = _model(dm)
    fit_unlearning(build_method("ft", model, lr=3e-3, epochs=3), dm)  # learn the retain classes
    model.train()
    n_forget, n_retain = _n_batches(dm, "forget"), _n_batches(dm, "retain")
    forgotten = int(dm.dataset("forget").targets[0])
    is_forget = _is_forget(dm)

    impaired = copy.deepcopy(model)
    calls = _record_training_targets(monkeypatch, amnesiac_module, impaired)
    calls.method = method = build_method(
        "amnesiac", impaired, lr=1e-2, impair_epochs=2, repair_epochs=0
    )
    fit_unlearning(method, dm)
    assert len(calls) == 2 * n_forget and method.trainer.global_step == 2 * n_forget
    assert all(is_forget(wav) and not (y == forgotten).any() for _, wav, y in calls)
    assert _mean_ce(impaired, dm, "forget") > _mean_ce(model, dm, "forget") + 0.5

    repaired = copy.deepcopy(model).train()
    calls = _record_training_targets(monkeypatch, amnesiac_module, repaired)
    calls.method = method = build_method(
        "amnesiac", repaired, lr=1e-2, impair_epochs=2, repair_epochs=2
    )
    fit_unlearning(method, dm)
    assert method.trainer.global_step == 2 * n_forget + 2 * n_retain
    phases = [(epoch, is_forget(wav)) for epoch, wav, _ in calls]
    assert phases == [(0, True)] * n_forget + [(1, True)] * n_forget + [
        (e, False) for e in (2, 3) for _ in range(n_retain)
    ]
    assert _mean_ce(repaired, dm, "retain") < _mean_ce(impaired, dm, "retain")


def test_amnesiac_validates_phase_lengths(dm):
    with pytest.raises(ValueError, match="impair_epochs must be at least 1"):
        build_method("amnesiac", _model(dm), impair_epochs=0)
    with pytest.raises(ValueError, match="repair_epochs must be at least 0"):
        build_method("amnesiac", _model(dm), repair_epochs=-1)
    assert build_method("amnesiac", _model(dm), impair_epochs=2, repair_epochs=3).epochs == 5


# -- salun ---------------------------------------------------------------------------------
def test_top_fraction_masks_use_one_global_threshold():
    saliency = {
        "a.weight": torch.tensor([[0.9, 0.1], [0.8, 0.2]]),
        "b.bias": torch.tensor([0.05, 0.7, 0.3, 0.6]),
        "enc.masked_spec_embed": torch.tensor([100.0, 100.0]),
    }
    masks = top_fraction_masks(saliency, 0.5)
    assert masks["a.weight"].tolist() == [[True, False], [True, False]]
    assert masks["b.bias"].tolist() == [False, True, False, True]
    assert not masks["enc.masked_spec_embed"].any()  # excluded however salient
    n_ranked = 8
    assert sum(int(m.sum()) for m in masks.values()) == int(0.5 * n_ranked)
    assert sum(int(m.sum()) for m in top_fraction_masks(saliency, 0.3).values()) == 2
    with pytest.raises(ValueError, match=r"gamma .* must be in \(0, 1\]"):
        top_fraction_masks(saliency, 0.0)


def test_forget_saliency_is_the_summed_gradient_of_minus_ce():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    batches = [(torch.randn(4, 3), torch.randint(0, 2, (4,))) for _ in range(2)]
    saliency = forget_saliency(model, batches)
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for x, y in batches:
        grads = torch.autograd.grad(-F.cross_entropy(model(x), y), list(model.parameters()))
        for (n, _), g in zip(model.named_parameters(), grads, strict=True):
            expected[n] += g
    for n in expected:
        torch.testing.assert_close(saliency[n], expected[n].abs())
    assert all(p.grad is None for p in model.parameters())


class _WithSpecEmbed(nn.Module):
    """A LogMelCNN plus an unused wav2vec2-style ``masked_spec_embed`` parameter."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.masked_spec_embed = nn.Parameter(torch.zeros(4))

    def forward(self, wav):
        return self.inner(wav) + 0.0 * self.masked_spec_embed.sum()


def test_salun_updates_only_the_salient_weights(dm, bound):
    model = _WithSpecEmbed(_model(dm))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = build_method("salun", model, lr=1e-2, epochs=1, gamma=0.3)
    fit_unlearning(method, dm)
    n_total = sum(p.numel() for n, p in model.named_parameters() if "masked_spec" not in n)
    assert sum(int(m.sum()) for m in method.masks.values()) == int(0.3 * n_total)
    assert not method.masks["masked_spec_embed"].any()
    changed = selected = 0
    for n, p in model.named_parameters():
        moved = p.detach() != before[n]
        assert not moved[~method.masks[n]].any(), n  # masked-out weights never move
        changed += int(moved.sum())
        selected += int(method.masks[n].sum())
    bound("moved fraction of the selected weights", changed / selected, ">", 0.9)
    assert torch.equal(model.masked_spec_embed, before["masked_spec_embed"])


# -- l1sparse ------------------------------------------------------------------------------
def test_l1_weight_decays_linearly_to_zero():
    assert [l1_weight(e, 4, 1.0) for e in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert [l1_weight(e, 4, 1.0, no_l1_epochs=2) for e in range(4)] == [1.0, 0.5, 0.0, 0.0]


def test_l1sparse_shrinks_the_weights(dm, bound):
    plain, sparse = _model(dm), _model(dm)
    fit_unlearning(build_method("l1sparse", plain, lr=1e-2, epochs=2, alpha=0.0), dm)
    fit_unlearning(build_method("l1sparse", sparse, lr=1e-2, epochs=2, alpha=1e-2), dm)

    def l1(m):
        return float(sum(p.detach().abs().sum() for p in m.parameters()))

    bound("L1 ratio sparse / plain", l1(sparse) / l1(plain), "<", 0.8)
    with pytest.raises(ValueError, match="no_l1_epochs must lie in"):
        build_method("l1sparse", plain, epochs=2, no_l1_epochs=2)
    with pytest.raises(ValueError, match="alpha"):
        build_method("l1sparse", plain, alpha=-1.0)


# -- retrain -------------------------------------------------------------------------------
def test_retrain_starts_from_a_seeded_reinitialisation(dm):
    model = _model(dm, seed=0)
    fit_unlearning(build_method("ft", model, lr=3e-3, epochs=1), dm)  # a "trained" model
    expected = reinitialise_(copy.deepcopy(model), seed=5)
    # a vanishing learning rate leaves the model at its re-initialisation
    fit_unlearning(build_method("retrain", model, lr=1e-12, epochs=1, seed=5), dm)
    for (n, p), q in zip(model.named_parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-8, rtol=0, msg=n)


def test_retrain_learns_retain_and_never_the_forgotten_class(dm, bound):
    model = _model(dm)
    fit_unlearning(build_method("retrain", model, lr=1e-2, epochs=4, seed=dm.seed), dm)
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(x).argmax(-1) for x, _ in dm.eval_dataloader("forget")])
    forgotten = int(dm.dataset("forget").targets[0])
    assert not (preds == forgotten).any()
    bound("retain CE", _mean_ce(model, dm, "retain"), "<", 0.5)
