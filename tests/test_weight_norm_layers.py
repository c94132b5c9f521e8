"""Weight-normed layers (wav2vec2's positional convolution) under re-initialisation and
pruning: reset_parameters alone is lost on a parametrized tensor, and a pruned all-zero
slice of the direction v divides by zero."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from audio_unlearn.methods.base import reinitialise_
from audio_unlearn.methods.pruning import global_l1_prune_, regrow_


def _model():
    torch.manual_seed(0)
    return nn.Sequential(weight_norm(nn.Conv1d(4, 4, 5, padding=2), dim=2), nn.Conv1d(4, 2, 1))


def test_reinitialise_redraws_a_weight_normed_layer():
    model = _model()
    before = model[0].weight.detach().clone()
    reinitialise_(model, seed=1)
    after = model[0].weight.detach()
    assert not torch.allclose(before, after)
    assert torch.isfinite(after).all()
    # seeded: the same draw twice
    again = _model()
    reinitialise_(again, seed=1)
    assert torch.allclose(again[0].weight, after)


def test_pruning_never_zeroes_the_weight_norm_direction():
    model = _model()
    masks = global_l1_prune_(model, 0.95)
    v_name = "0.parametrizations.weight.original1"
    assert not masks[v_name].any()
    x = torch.randn(2, 4, 16)
    assert torch.isfinite(model(x)).all()
    regrow_(model, masks, "reinit", seed=0)
    assert torch.isfinite(model(x)).all()
