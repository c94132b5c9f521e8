"""Selective Synaptic Dampening (ssd)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.methods import build_method, fit_unlearning, get_method
from audio_unlearn.methods.ssd import dampening_factors, mean_squared_gradients
from audio_unlearn.models import LogMelCNN, LogMelCNNConfig


def test_dampening_rule_on_a_hand_made_example():
    i_d = torch.tensor([1.0, 1.0, 0.0, 2.0, 0.5, 0.0])
    i_f = torch.tensor([5.0, 20.0, 3.0, 21.0, 100.0, 0.0])
    # selected: I_F > 10 I_D -> entries 1 (20 > 10), 2 (3 > 0), 3 (21 > 20), 4 (100 > 5)
    got = dampening_factors(i_d, i_f, alpha=10.0, dampening_constant=1.0)
    expected = torch.tensor([1.0, 1 / 20, 0.0, 2 / 21, 0.5 / 100, 1.0])
    torch.testing.assert_close(got, expected)
    # lambda scales beta, capped at 1: lambda * I_D / I_F = 15 * 2 / 21 > 1 -> factor 1
    got = dampening_factors(i_d, i_f, alpha=10.0, dampening_constant=15.0)
    torch.testing.assert_close(got, torch.tensor([1.0, 0.75, 0.0, 1.0, 0.075, 1.0]))
    # alpha only selects: with alpha = 25 entry 1 (20 < 25) and 3 (21 < 50) keep factor 1
    got = dampening_factors(i_d, i_f, alpha=25.0)
    torch.testing.assert_close(got, torch.tensor([1.0, 1.0, 0.0, 1.0, 0.005, 1.0]))


def test_importance_is_the_mean_over_batches_of_squared_batch_gradients():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    batches = [(torch.randn(5, 3), torch.randint(0, 2, (5,))) for _ in range(3)]
    got = mean_squared_gradients(model, batches)
    for name, p in model.named_parameters():
        squares = [torch.autograd.grad(F.cross_entropy(model(x), y), p)[0] ** 2 for x, y in batches]
        torch.testing.assert_close(got[name], torch.stack(squares).mean(0))
    with pytest.raises(ValueError, match="no batches"):
        mean_squared_gradients(model, [])


@pytest.fixture(scope="module")
def dm(dummy_manifest):
    utts = read_manifest(dummy_manifest)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=0)
    split = class_forget_split(utts, corpus, classes=["c0"], label_key="intent")
    dm = UnlearningDataModule(utts, split, batch_size=8, max_seconds=1.0)
    dm.setup()
    return dm


@pytest.mark.parametrize("batch_size", [None, 1, 5], ids=["datamodule", "per-sample", "5"])
def test_ssd_dampens_exactly_the_selected_parameters(dm, batch_size):
    torch.manual_seed(0)
    model = LogMelCNN(LogMelCNNConfig(num_classes=dm.num_classes, channels=16, n_layers=2))
    fit_unlearning(build_method("ft", model, lr=3e-3, epochs=2), dm)  # some structure to find
    model.eval()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def batches(name):  # the importance batches: the datamodule's, or of batch_size in order
        if batch_size is None:
            return dm.eval_dataloader(name)
        items = list(dm.dataset(name))
        return [
            (
                torch.stack([w for w, _ in items[i : i + batch_size]]),
                torch.stack([torch.as_tensor(y) for _, y in items[i : i + batch_size]]),
            )
            for i in range(0, len(items), batch_size)
        ]

    i_d = mean_squared_gradients(model, batches("train"))
    i_f = mean_squared_gradients(model, batches("forget"))
    method = build_method(
        "ssd", model, alpha=2.0, dampening_constant=1.0, importance_batch_size=batch_size
    )
    assert get_method("ssd").training_free
    seconds = fit_unlearning(method, dm)
    assert seconds > 0
    n_selected = 0
    for n, p in model.named_parameters():
        selected = i_f[n] > 2.0 * i_d[n]
        n_selected += int(selected.sum())
        torch.testing.assert_close(p[~selected], before[n][~selected], rtol=0, atol=0)
        beta = (i_d[n][selected] / i_f[n][selected]).clamp(max=1.0)
        torch.testing.assert_close(p[selected], before[n][selected] * beta)
    assert n_selected > 0
    total = sum(p.numel() for p in model.parameters())
    assert method.dampened_fraction == pytest.approx(n_selected / total)


def test_ssd_validates_hyperparameters():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="alpha"):
        build_method("ssd", model, alpha=0.0)
    with pytest.raises(ValueError, match="dampening_constant"):
        build_method("ssd", model, dampening_constant=-1.0)
    with pytest.raises(ValueError, match="importance_batch_size"):
        build_method("ssd", model, importance_batch_size=0)
