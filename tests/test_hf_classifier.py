"""HFAudioClassifier: tiny random encoders of each family, saved with save_pretrained and
loaded by local path (no network)."""

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers as tf

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import speaker_disjoint_split, speaker_forget_split
from audio_unlearn.evaluation import classification_scores, loss_mia
from audio_unlearn.evaluation.model_eval import predict_logits
from audio_unlearn.methods import build_method, fit_unlearning, layer_groups
from audio_unlearn.models import build_classifier, load_classifier, save_classifier
from audio_unlearn.models.hf_classifier import HFAudioClassifier, HFAudioClassifierConfig
from audio_unlearn.testing import train_classifier
from audio_unlearn.testing.tiny_hf import save_tiny_audio_encoder

SR = 16000
# (family, feature-encoder norm): group norm takes no attention mask, layer norm does
VARIANTS = [
    ("wav2vec2", "group"),
    ("wav2vec2", "layer"),
    ("hubert", "group"),
    ("wavlm", "layer"),
    ("whisper_encoder", "group"),
]
IDS = [f"{f}-{n}" for f, n in VARIANTS]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    return {
        (f, n): save_tiny_audio_encoder(root / f"{f}-{n}", f, norm=n, seed=1) for f, n in VARIANTS
    }


@pytest.fixture(scope="module")
def dm(tiny_corpus):
    utts = read_manifest(tiny_corpus)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=0)
    split = speaker_forget_split(
        utts, corpus, n_speakers=2, fraction=None, min_utterances=1, seed=0
    )
    module = UnlearningDataModule(utts, split, batch_size=16, max_seconds=1.0, seed=0)
    module.setup()
    return module


def _waves(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    wav = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wav[i, :n] = 0.1 * torch.randn(n, generator=g)
    return wav


def _build(directory, **kw):
    return build_classifier(name="hf", num_classes=4, pretrained=str(directory), **kw)


def _mean_loss(model, dm, name):
    logits, targets = predict_logits(model, dm.eval_dataloader(name))
    return F.cross_entropy(logits, targets).item()


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_train_unlearn_evaluate(variant, encoders, dm, seed, bound):
    family, _ = variant
    model = train_classifier(
        dm,
        name="hf",
        pretrained=str(encoders[variant]),
        max_seconds=1.0,
        epochs=2,
        lr=3e-3,
        seed=seed,
    )
    assert model.family == family
    before = _mean_loss(model, dm, "forget")
    module = build_method("ng", model, lr=1e-3)
    seconds = fit_unlearning(module, dm)
    assert seconds > 0
    # gradient ascent on the forget set raises the forget loss
    bound("forget loss rise after NG", _mean_loss(model, dm, "forget") - before, ">", 0)
    logits, targets = predict_logits(model, dm.eval_dataloader("test"))
    assert logits.shape == (len(dm.sets["test"]), dm.num_classes)
    scores = classification_scores(logits, targets)
    assert 0.0 <= scores.macro_f1 <= 1.0 and np.isfinite(scores.loss)
    losses = {}
    for name in ("forget", "test"):
        lg, y = predict_logits(model, dm.eval_dataloader(name))
        losses[name] = F.cross_entropy(lg, y, reduction="none").numpy()
    assert 0.0 <= loss_mia(losses["forget"], losses["test"]).accuracy <= 1.0


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_encoder_weights_come_from_the_checkpoint(variant, encoders):
    family, _ = variant
    model = _build(encoders[variant], max_seconds=1.0)
    if family == "whisper_encoder":
        saved = tf.WhisperForConditionalGeneration.from_pretrained(encoders[variant])
        ours, theirs = model.net.encoder.conv1.weight, saved.model.encoder.conv1.weight
    else:
        saved = tf.AutoModel.from_pretrained(encoders[variant])
        ours = model.net.base_model.encoder.layers[0].attention.k_proj.weight
        theirs = saved.encoder.layers[0].attention.k_proj.weight
    assert torch.equal(ours, theirs)
    assert model.net.projector.out_features == 256  # the UnSLU-BENCH head
    assert model.net.classifier.out_features == 4


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_checkpoint_round_trip_without_the_original_directory(variant, encoders, tmp_path):
    local = tmp_path / "encoder"
    shutil.copytree(encoders[variant], local)
    model = _build(local, max_seconds=1.0).eval()
    with torch.no_grad():
        model.net.classifier.weight.add_(0.5)  # weights that from_pretrained cannot know
    wav = _waves([16000, 9000, 12000])
    expected = model(wav)
    save_classifier(tmp_path / "m.pt", model, classes=("a", "b", "c", "d"), label_key="intent")
    shutil.rmtree(local)
    loaded = load_classifier(tmp_path / "m.pt").model.eval()
    assert loaded.config == model.config
    assert torch.equal(loaded(wav), expected)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_preprocessing_matches_the_feature_extractor(variant, encoders):
    """Our torch preprocessing gives the logits of the HF extractor + HF model."""
    family, norm = variant
    model = _build(encoders[variant], max_seconds=1.0).eval()
    lengths = [16000, 7000, 11000]
    wav = _waves(lengths, seed=3)
    extractor = tf.AutoFeatureExtractor.from_pretrained(encoders[variant])
    raw = [wav[i, :n].numpy() for i, n in enumerate(lengths)]
    if family == "whisper_encoder":
        inputs = extractor(raw, sampling_rate=SR, return_tensors="pt")
        assert torch.allclose(model.whisper_inputs(wav), inputs.input_features, atol=1e-4)
    else:
        inputs = extractor(
            raw, sampling_rate=SR, padding="max_length", max_length=16000, return_tensors="pt"
        )
        assert ("attention_mask" in inputs) == (norm == "layer") == model.uses_attention_mask
    with torch.no_grad():
        theirs = model.net(**inputs).logits
        ours = model(wav)
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_batched_equals_per_item_and_gradients_reach_the_waveform(variant, encoders, bound):
    model = _build(encoders[variant], max_seconds=1.0).eval()
    lengths = [16000, 6000, 10000]
    wav = _waves(lengths, seed=4)
    with torch.no_grad():
        batched = model(wav)
        single = torch.cat([model(wav[i : i + 1, :n]) for i, n in enumerate(lengths)])
    bound.close("logits batched vs one", batched, single, atol=1e-5)
    x = wav.clone().requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_pad_and_truncate_to_max_seconds(encoders):
    model = _build(encoders[("wav2vec2", "group")], max_seconds=0.5).eval()
    wav = _waves([16000])
    with torch.no_grad():
        assert torch.equal(model(wav), model(wav[:, :8000]))  # truncated at 0.5 s
        assert torch.equal(model(wav[:, :6000]), model(F.pad(wav[:, :6000], (0, 2000))))


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_layer_groups_cover_the_model_and_cfk_trains_only_the_last(variant, encoders, dm):
    model = _build(encoders[variant], max_seconds=1.0)
    groups = layer_groups(model)
    assert len(groups) == 2 + 2  # front end, 2 transformer layers, head
    seen = [id(p) for g in groups for p in g.parameters()]
    assert len(seen) == len(set(seen)), "a parameter is in two groups"
    outside = {n for n, p in model.named_parameters() if id(p) not in set(seen)}
    # only the SpecAugment mask embedding (used to mask inputs, not a layer) is outside
    assert all(n.endswith(".masked_spec_embed") for n in outside), outside
    assert "net.classifier.weight" not in outside
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit_unlearning(build_method("cfk", model, lr=1e-2, k=1), dm)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    head = {id(p) for p in groups[-1].parameters()}
    assert changed == {n for n, p in model.named_parameters() if id(p) in head}
    assert {"net.classifier.weight", "net.projector.weight"} <= changed


def test_family_is_detected_and_checked(encoders):
    path = encoders[("hubert", "group")]
    assert _build(path, max_seconds=1.0).config.family == "hubert"
    with pytest.raises(ValueError, match="family 'wav2vec2' expects model_type 'wav2vec2'"):
        _build(path, family="wav2vec2", max_seconds=1.0)
    assert _build(encoders[("wav2vec2", "layer")], family="xls-r").family == "xls-r"
    with pytest.raises(ValueError, match="unknown family"):
        _build(path, family="conformer")
    with pytest.raises(ValueError, match="needs `pretrained`"):
        HFAudioClassifierConfig(num_classes=3)
    with pytest.raises(ValueError, match="exceeds the Whisper encoder's window"):
        _build(encoders[("whisper_encoder", "group")], max_seconds=2.0)


def test_registered_as_hf_and_rebuilt_from_hf_config(encoders):
    model = build_classifier(
        name="hf", num_classes=3, pretrained=str(encoders[("wavlm", "layer")]), max_seconds=1.0
    )
    assert isinstance(model, HFAudioClassifier)
    assert model.config.hf_config["model_type"] == "wavlm"
    assert model.config.feature_extractor == {"do_normalize": True, "return_attention_mask": True}
    rebuilt = HFAudioClassifier(
        HFAudioClassifierConfig(
            num_classes=3,
            pretrained="/nonexistent/never/read",
            hf_config=model.config.hf_config,
            feature_extractor=model.config.feature_extractor,
            max_seconds=1.0,
        )
    )
    assert rebuilt.load_state_dict(model.state_dict()) is not None
