import pytest
import torch

from audio_unlearn.methods import layer_groups
from audio_unlearn.models import CLASSIFIERS, build_classifier, load_classifier, save_classifier
from audio_unlearn.models.checkpoint import CheckpointError
from audio_unlearn.smoke import ALL_MODELS, tiny_model_kwargs


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_classifier_maps_waveforms_to_logits_and_roundtrips(name, tmp_path):
    torch.manual_seed(0)
    model = build_classifier(num_classes=5, **tiny_model_kwargs(name, tmp_path)).eval()
    wav = torch.randn(3, 16000) * 0.1
    logits = model(wav)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    path = save_classifier(tmp_path / "m.pt", model, classes=tuple("abcde"), label_key="x")
    loaded = load_classifier(path, expect_classes=tuple("abcde")).model.eval()
    assert torch.allclose(loaded(wav), logits, atol=1e-5)
    # CF-k relies on the layer groups covering every trainable parameter, in order
    # (wav2vec2-family `masked_spec_embed` is SpecAugment's mask vector, not a layer)
    grouped = {id(p) for g in layer_groups(model) for p in g.parameters()}
    expected = {id(p) for n, p in model.named_parameters() if "masked_spec_embed" not in n}
    assert grouped == expected


def test_unknown_model_and_bad_config():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_classifier(name="nope", num_classes=2)
    with pytest.raises(ValueError, match="model 'logmel_cnn'"):
        build_classifier(name="logmel_cnn", num_classes=2, n_mel=3)


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_classifier(bad)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an audio-unlearn classifier checkpoint"):
        load_classifier(tmp_path / "other.pt")


def test_ecapa_additive_margin_lowers_the_target_logit_in_training():
    torch.manual_seed(0)
    model = build_classifier(name="ecapa", num_classes=4, margin=0.2).train()
    wav = torch.randn(2, 16000) * 0.1
    y = torch.tensor([1, 2])
    torch.manual_seed(1)
    plain = model(wav)
    torch.manual_seed(1)
    with_margin = model(wav, y)
    diff = plain - with_margin
    assert torch.allclose(diff[0, 1], torch.tensor(0.2 * 30.0), atol=1e-3)
    assert torch.allclose(diff[0, 0], torch.tensor(0.0), atol=1e-3)


def test_every_registered_family_has_a_tiny_model():
    assert {m.split(":")[0] for m in ALL_MODELS} == set(CLASSIFIERS)
