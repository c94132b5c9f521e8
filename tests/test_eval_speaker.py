"""Speaker similarity, verification metrics, ZRF-style scores and the SVC attack."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from audio_unlearn.data.audio import save_audio
from audio_unlearn.evaluation.mia import (
    confidence_features,
    svc_attack,
    svc_mia,
    svc_mia_from_losses,
)
from audio_unlearn.evaluation.scores import (
    activation_distance,
    js_divergence,
    js_to_retrained,
    spk_zrf,
    zrf,
)
from audio_unlearn.evaluation.speaker import (
    EmbeddingCache,
    ResemblyzerEncoder,
    SpeakerEncoder,
    SpeechBrainECAPAEncoder,
    WavLMLargeECAPAEncoder,
    WavLMXVectorEncoder,
    embed_files,
    get_speaker_encoder,
    length_buckets,
    sim_o,
    sim_r,
    speaker_similarity,
)
from audio_unlearn.evaluation.verification import (
    Trial,
    build_trials,
    detection_curve,
    equal_error_rate,
    min_dcf,
    score_trials,
    verification_metrics,
)

# --------------------------------------------------------------------------- helpers


def _voice(seconds: float, f0: float, seed: int) -> torch.Tensor:
    """A voice-like signal: harmonics of a wobbling f0, syllable-rate amplitude, some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f) / 16000
    wav = sum(np.sin(k * phase) / k for k in range(1, 12))
    wav *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    wav += 0.01 * rng.standard_normal(t.size)
    return torch.from_numpy((0.1 * wav / np.abs(wav).max()).astype(np.float32))


def _wavs() -> list[torch.Tensor]:
    lengths = [1.0, 2.3, 1.0, 3.1, 0.7, 2.3]
    return [_voice(s, 110 + 20 * i, i) for i, s in enumerate(lengths)]


# --------------------------------------------------------------------------- similarity


def test_speaker_similarity_and_sim_variants():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert torch.allclose(speaker_similarity(a, b), torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert float(speaker_similarity(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 3.0]))) == (
        pytest.approx(24 / 25)
    )
    assert torch.equal(sim_o(a, b), sim_r(a, b))
    with pytest.raises(ValueError, match="zero-norm"):
        speaker_similarity(torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="rows"):
        speaker_similarity(torch.ones(2, 3), torch.ones(3, 3))


def test_length_buckets_respect_padding_and_size():
    lengths = [10, 30, 11, 12, 29, 100]
    batches = length_buckets(lengths, batch_size=2, max_padding=2)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 2
        assert max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 2
    assert length_buckets(lengths, batch_size=8, max_padding=0) == [[0], [2], [3], [4], [1], [5]]


# --------------------------------------------------------------------------- spk-ZRF / ZRF


def test_spk_zrf_identical_embeddings_is_one():
    e = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    result = spk_zrf(e, e.clone())
    assert result.value == pytest.approx(1.0, abs=1e-12)
    assert result.log_base == "e"


def test_spk_zrf_hand_computation():
    # zscore([0, 1]) = [-1, 1] -> softmax = [s, 1 - s] with s = 1 / (1 + e^2); the pair is
    # mirrored, so m = [1/2, 1/2] and JSD = ln 2 - H(s) (binary entropy, nats).
    s = 1 / (1 + math.e**2)
    jsd = math.log(2) + s * math.log(s) + (1 - s) * math.log(1 - s)
    result = spk_zrf(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    assert result.value == pytest.approx(1 - jsd, abs=1e-12)
    assert result.mean_js == pytest.approx(0.3278, abs=1e-4)
    base2 = spk_zrf(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]), log_base=2)
    assert base2.value == pytest.approx(1 - jsd / math.log(2), abs=1e-12)
    assert base2.to_dict()["log_base"] == "2"


def test_spk_zrf_matches_released_scipy_formula():
    rng = np.random.default_rng(1)
    ea, eb = rng.standard_normal((7, 32)), rng.standard_normal((7, 32))

    def dist(e):  # the TGU release: zscore with numpy std, softmax over dims
        z = (e - e.mean(1, keepdims=True)) / e.std(1, keepdims=True)
        x = np.exp(z - z.max(1, keepdims=True))
        return x / x.sum(1, keepdims=True)

    pa, pb = dist(ea), dist(eb)
    expected = 1 - np.mean([jensenshannon(pa[i], pb[i]) ** 2 for i in range(7)])
    assert spk_zrf(ea, eb).value == pytest.approx(expected, abs=1e-10)


def test_zrf_activation_distance_and_js():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    q = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    assert js_divergence(p, q).tolist() == pytest.approx([math.log(2), 0.0])
    assert js_divergence(p, q, log_base=2).tolist() == pytest.approx([1.0, 0.0])
    z = zrf(p, q)
    assert z.value == pytest.approx(1 - math.log(2) / 2)
    assert zrf(p, p).value == pytest.approx(1.0)
    assert activation_distance(p, q) == pytest.approx(math.sqrt(2) / 2)
    assert js_to_retrained(p, q, log_base=2) == {"js": pytest.approx(0.5), "log_base": "2", "n": 2}
    with pytest.raises(ValueError, match="not 1"):
        zrf(torch.tensor([[2.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="log_base"):
        zrf(p, q, log_base=10)


# --------------------------------------------------------------------------- EER / minDCF

TARGETS = [0.9, 0.8, 0.6, 0.3]
NONTARGETS = [0.7, 0.4, 0.2, 0.1]


def _scores_labels():
    return np.array(TARGETS + NONTARGETS), np.array([1] * 4 + [0] * 4)


def test_eer_hand_values():
    scores, labels = _scores_labels()
    # accept >= 0.6: misses {0.3} = 1/4, false alarms {0.7} = 1/4 -> EER 0.25 exactly
    assert equal_error_rate(scores, labels) == (0.25, 0.6)
    # interpolated case: (miss, fa) goes (1/2, 1/3) -> (0, 1/3): crossing at 1/3
    eer, _ = equal_error_rate([0.9, 0.5, 0.6, 0.1, 0.0], [1, 1, 0, 0, 0])
    assert eer == pytest.approx(1 / 3)
    assert equal_error_rate([2.0, 1.0], [1, 0])[0] == 0.0
    assert equal_error_rate([1.0, 2.0], [1, 0])[0] == 1.0


def test_min_dcf_hand_values():
    scores, labels = _scores_labels()
    # normalised DCF = miss + 19 fa at p=0.05: best is (miss 1/2, fa 0) -> 0.5
    assert min_dcf(scores, labels, p_target=0.05) == (0.5, 0.8)
    # c_miss=10, p=0.5: DCF = 10 miss + fa; best accepts >= 0.3: (0, 1/2) -> 0.5
    assert min_dcf(scores, labels, p_target=0.5, c_miss=10.0) == (0.5, 0.3)
    result = verification_metrics(scores, labels)
    assert result.min_dcf == {0.01: 0.5, 0.05: 0.5}
    assert result.to_dict()["eer"] == 0.25
    with pytest.raises(ValueError, match="target"):
        verification_metrics([0.1, 0.2], [1, 1])


def test_vectorised_metrics_equal_brute_force_loop():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    scores = np.round(rng.normal(labels * 1.0, 1.0), 1)  # rounding makes ties
    thresholds = [np.inf, *sorted(set(scores.tolist()), reverse=True)]
    miss, fa = [], []
    for t in thresholds:
        miss.append(
            sum(1 for s, y in zip(scores, labels, strict=True) if y and s < t) / labels.sum()
        )
        fa.append(
            sum(1 for s, y in zip(scores, labels, strict=True) if not y and s >= t)
            / (~labels).sum()
        )
    t_v, miss_v, fa_v = detection_curve(scores, labels)
    assert np.array_equal(t_v, thresholds)
    assert np.allclose(miss_v, miss) and np.allclose(fa_v, fa)
    for i in range(1, len(thresholds)):
        if miss[i] - fa[i] <= 0:
            d0, d1 = miss[i - 1] - fa[i - 1], miss[i] - fa[i]
            alpha = d0 / (d0 - d1)
            brute = fa[i - 1] + alpha * (fa[i] - fa[i - 1])
            break
    assert equal_error_rate(scores, labels)[0] == pytest.approx(brute, abs=1e-12)
    for p in (0.01, 0.05):
        brute_dcf = min(
            (p * m + (1 - p) * f) / min(p, 1 - p) for m, f in zip(miss, fa, strict=True)
        )
        assert min_dcf(scores, labels, p_target=p)[0] == pytest.approx(brute_dcf, abs=1e-12)


class _Utt:
    def __init__(self, id, speaker):
        self.id, self.speaker = id, speaker


def test_build_trials_and_score_trials():
    utts = [_Utt(f"s{s}_{i}", f"s{s}") for s in range(4) for i in range(3)]
    trials = build_trials(utts, n_per_speaker=2, seed=3)
    spk = {u.id: u.speaker for u in utts}
    assert len(trials) == 4 * 2 * 2
    assert all((spk[t.enroll] == spk[t.test]) == t.target for t in trials)
    assert len({frozenset((t.enroll, t.test)) for t in trials}) == len(trials)
    assert trials == build_trials(utts, n_per_speaker=2, seed=3)
    assert trials != build_trials(utts, n_per_speaker=2, seed=4)
    # a speaker with 3 utterances has only 3 target pairs
    assert sum(t.target for t in build_trials(utts, n_per_speaker=10)) == 4 * 3
    ids = [u.id for u in utts]
    emb = torch.stack([torch.eye(4)[int(u.speaker[1])] for u in utts])
    scores, labels = score_trials(trials, ids, emb)
    assert np.array_equal(scores, labels.astype(float))
    with pytest.raises(ValueError, match="two speakers"):
        build_trials([_Utt("a", "x"), _Utt("b", "x")])
    with pytest.raises(ValueError, match="no embedding"):
        score_trials([Trial("zz", ids[0], True)], ids, emb)


# --------------------------------------------------------------------------- cache


class _CountingEncoder(SpeakerEncoder):
    def __init__(self, tag="a"):
        super().__init__()
        self.tag = tag
        self.seen = 0

    def describe(self):
        return {"backend": "counting", "tag": self.tag}

    def _load(self):
        return object()

    def _embed_batch(self, wavs):
        self.seen += len(wavs)
        return torch.stack(
            [torch.stack([w.abs().mean(), w.std(), torch.tensor(w.numel() / 1e4)]) for w in wavs]
        )


def test_embedding_cache_hits_and_misses(tmp_path):
    files = []
    for i, wav in enumerate(_wavs()[:3]):
        files.append(tmp_path / f"{i}.wav")
        save_audio(files[-1], wav)
    cache = EmbeddingCache(tmp_path / "cache")
    enc = _CountingEncoder()
    first = cache.embed_files(files, enc)
    assert (cache.hits, cache.misses, enc.seen) == (0, 3, 3)
    second = cache.embed_files(list(reversed(files)), enc)
    assert (cache.hits, cache.misses, enc.seen) == (3, 3, 3)
    assert torch.equal(second, first.flip(0))
    moved = tmp_path / "moved.wav"
    moved.write_bytes(files[0].read_bytes())
    cache.embed_files([moved], enc)
    assert (cache.hits, enc.seen) == (4, 3)  # same content, new name: a hit
    save_audio(files[1], _wavs()[4])  # edited file: a miss
    cache.embed_files([files[1]], enc)
    assert (cache.misses, enc.seen) == (4, 4)
    other = _CountingEncoder(tag="b")  # another encoder description: a miss
    cache.embed_files([files[0]], other)
    assert other.seen == 1
    metas = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*/encoder.json")]
    assert sorted(m["tag"] for m in metas) == ["a", "b"]
    assert torch.equal(embed_files(files, enc), embed_files(files, enc, cache=cache))


# --------------------------------------------------------------------------- backends

ECAPA_YAML = """\
n_mels: 16
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12
    res2net_scale: 4
    se_channels: 8
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 12
    out_neurons: 3
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrained_path: speechbrain/this-must-not-be-downloaded
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


@pytest.fixture(scope="module")
def ecapa_dir(tmp_path_factory) -> tuple[Path, dict]:
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    directory = tmp_path_factory.mktemp("ecapa")
    (directory / "hyperparams.yaml").write_text(ECAPA_YAML)
    torch.manual_seed(0)
    model = ECAPA_TDNN(
        16,
        channels=[16, 16, 16, 16, 48],
        kernel_sizes=[5, 3, 3, 3, 1],
        dilations=[1, 2, 3, 4, 1],
        attention_channels=8,
        lin_neurons=12,
        res2net_scale=4,
        se_channels=8,
    )
    torch.save(model.state_dict(), directory / "embedding_model.ckpt")
    return directory, model.state_dict()


def _assert_batched_equals_single(encoder, wavs, dim, bound):
    batched = encoder.embed(wavs)
    single = torch.cat([encoder.embed([w]) for w in wavs])
    assert batched.shape == (len(wavs), dim)
    bound.close("embedding batched vs one", batched, single, atol=1e-4)
    return batched


def test_ecapa_loads_local_directory_and_batches(ecapa_dir, bound):
    directory, saved = ecapa_dir
    encoder = get_speaker_encoder(f"ecapa:{directory}", batch_size=4, trust_code=True)
    assert isinstance(encoder, SpeechBrainECAPAEncoder)
    assert encoder._model is None  # nothing loaded before use
    encoder.load()
    loaded = encoder._model.mods.embedding_model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())  # the checkpoint, not init
    wavs = _wavs()
    emb = _assert_batched_equals_single(encoder, wavs, 12, bound)
    assert not torch.allclose(emb[0], emb[1])
    # 8 kHz input is resampled to 16 kHz
    wav8k = torch.from_numpy(np.interp(np.arange(8000) * 2, np.arange(16000), wavs[0].numpy()))
    assert encoder.embed([wav8k.float()], sample_rate=8000).shape == (1, 12)
    assert encoder.describe()["model"] == str(directory.resolve())
    # padded batches (mixed lengths) run and stay close to the exact embeddings
    padded = SpeechBrainECAPAEncoder(
        str(directory), batch_size=8, max_padding_s=5.0, trust_code=True
    ).embed(wavs)
    assert padded.shape == (6, 12)
    assert float(speaker_similarity(padded, emb).min()) > 0.9


def test_wavlm_xvector_loads_local_directory_and_batches(tmp_path, bound):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    config = WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        tdnn_dim=(16, 16, 24),
        tdnn_kernel=(5, 3, 1),
        tdnn_dilation=(1, 2, 1),
        xvector_output_dim=8,
        num_buckets=16,
        max_bucket_distance=64,
    )
    torch.manual_seed(0)
    model = WavLMForXVector(config).eval()
    model.save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(
        tmp_path
    )
    encoder = get_speaker_encoder(f"wavlm-xvector:{tmp_path}", batch_size=3)
    assert isinstance(encoder, WavLMXVectorEncoder)
    encoder.load()
    loaded = encoder._model[1].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    emb = _assert_batched_equals_single(encoder, _wavs(), 8, bound)
    assert not torch.allclose(emb[0], emb[1])


def test_resemblyzer_batched_equals_one_by_one_and_reference(bound):
    from resemblyzer import VoiceEncoder, preprocess_wav

    wavs = _wavs()
    encoder = ResemblyzerEncoder(batch_size=3)
    emb = _assert_batched_equals_single(encoder, wavs, 256, bound)
    reference = VoiceEncoder("cpu", verbose=False)
    expected = np.stack([reference.embed_utterance(preprocess_wav(w.numpy())) for w in wavs])
    assert np.allclose(emb.numpy(), expected, atol=1e-4)
    assert torch.allclose(emb.norm(dim=1), torch.ones(len(wavs)), atol=1e-5)


def test_registry_and_wavlm_large_errors(tmp_path):
    assert isinstance(get_speaker_encoder("resemblyzer"), ResemblyzerEncoder)
    assert get_speaker_encoder("ecapa").source == "speechbrain/spkrec-ecapa-voxceleb"
    assert get_speaker_encoder("wavlm-xvector").source == "microsoft/wavlm-base-plus-sv"
    with pytest.raises(ValueError, match="unknown speaker encoder"):
        get_speaker_encoder("xvector")
    with pytest.raises(FileNotFoundError, match=r"hyperparams\.yaml"):
        SpeechBrainECAPAEncoder(str(tmp_path), trust_code=True).load()
    missing = WavLMLargeECAPAEncoder(tmp_path / "none.pth")
    with pytest.raises(FileNotFoundError, match="wavlm_large_finetune"):
        missing.load()
    ckpt = tmp_path / "wavlm_large_finetune.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, ckpt)
    with pytest.raises(ValueError, match="lacks the WavLM upstream weights"):
        get_speaker_encoder(f"wavlm-large-ecapa:{ckpt}").embed([torch.ones(1600)])
    with pytest.raises(ValueError, match="needs a checkpoint"):
        get_speaker_encoder("wavlm-large-ecapa")
    with pytest.raises(ValueError, match="1-D"):
        ResemblyzerEncoder().embed([torch.ones(2, 100)])


# --------------------------------------------------------------------------- SVC MIA


def test_confidence_features_hand_values():
    probs = np.array([[0.7, 0.2, 0.1]])
    feats = confidence_features(probs, np.array([0]))
    assert feats["confidence"][0, 0] == pytest.approx(0.7)
    assert feats["correctness"][0, 0] == 1.0
    assert feats["entropy"][0, 0] == pytest.approx(-sum(p * math.log(p) for p in probs[0]))
    m = -0.3 * math.log(0.7) - 0.2 * math.log(0.8) - 0.1 * math.log(0.9)
    assert feats["m_entropy"][0, 0] == pytest.approx(m)


def test_svc_mia_separates_and_matches_loss_version():
    rng = np.random.default_rng(0)

    def outputs(n, confident):
        labels = rng.integers(0, 4, n)
        logits = rng.normal(0, 0.3, (n, 4))
        logits[np.arange(n), labels] += 5.0 if confident else 0.5
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return probs, labels

    retain, test = outputs(80, True), outputs(60, False)
    remembered, forgotten = outputs(40, True), outputs(40, False)
    kept = svc_mia(*retain, *test, *remembered)
    gone = svc_mia(*retain, *test, *forgotten)
    assert kept.efficacy["confidence"] < 0.1
    assert gone.efficacy["confidence"] > 0.9
    assert kept.n_shadow_per_class == 60 and kept.n_target == 40
    ce = [-np.log(p[np.arange(len(y)), y]) for p, y in (retain, test, forgotten)]
    from_losses = svc_mia_from_losses(*ce)
    assert from_losses.efficacy["confidence"] == pytest.approx(gone.efficacy["confidence"])
    assert svc_attack(np.ones(5), np.ones(5), np.zeros(3)) == 0.5
    with pytest.raises(ValueError, match="logits"):
        svc_mia(np.ones((3, 2)), np.zeros(3, int), *test, *forgotten)
