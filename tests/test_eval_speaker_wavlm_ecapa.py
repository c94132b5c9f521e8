"""WavLM-Large + ECAPA-TDNN speaker encoder (UniSpeech ``wavlm_large_finetune.pth`` layout).

No real checkpoint can be downloaded here, so a tiny model is saved in the checkpoint's own
key layout (``torch.save({"model": state_dict})``, s3prl/UniSpeech names, written out below
independently of the library's mapping) and loaded through the encoder's real loading path.
The embeddings are checked against a functional re-computation straight from the saved
tensors (the published algorithm, step by step), and batched against one-by-one.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audio_unlearn.evaluation.speaker import (
    WavLMECAPAHead,
    WavLMLargeECAPAEncoder,
    convert_unispeech_state_dict,
    get_speaker_encoder,
)

TINY = {
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 48,
    "conv_dim": 16,
    "pos_conv_kernel": 16,
    "pos_conv_groups": 4,
    "num_buckets": 16,
    "max_distance": 64,
    "channels": 16,
    "mfa_channels": 24,
    "embedding_dim": 12,
    "attention_channels": 8,
    "se_channels": 8,
    "res2net_scale": 4,
}
UP = "feature_extract.model."


def _tiny_wavlm():
    """A random transformers WavLMModel with WavLM-Large's layout (layer-norm conv encoder,
    pre-LN transformer) and tiny sizes."""
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        conv_dim=(16,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_bias=False,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        num_buckets=16,
        max_bucket_distance=64,
    )
    torch.manual_seed(0)
    model = WavLMModel(config).eval()
    with torch.no_grad():  # non-trivial norms and gates so that a wrong mapping shows
        for name, p in model.named_parameters():
            if "layer_norm" in name or "gru_rel_pos" in name:
                p.add_(0.2 * torch.randn_like(p))
    return model


# transformers WavLM name -> s3prl/UniSpeech (fairseq) name: the published checkpoint layout.
_TO_CHECKPOINT = [
    (r"^masked_spec_embed$", "mask_emb"),
    (r"conv_layers\.(\d+)\.conv\.weight$", r"conv_layers.\1.0.weight"),
    (r"conv_layers\.(\d+)\.layer_norm\.", r"conv_layers.\1.2.1."),
    (r"^feature_projection\.layer_norm\.", "layer_norm."),
    (r"^feature_projection\.projection\.", "post_extract_proj."),
    (r"pos_conv_embed\.conv\.parametrizations\.weight\.original0$", "pos_conv.0.weight_g"),
    (r"pos_conv_embed\.conv\.parametrizations\.weight\.original1$", "pos_conv.0.weight_v"),
    (r"pos_conv_embed\.conv\.bias$", "pos_conv.0.bias"),
    (r"\.attention\.gru_rel_pos_const$", ".self_attn.grep_a"),
    (r"\.attention\.gru_rel_pos_linear\.", ".self_attn.grep_linear."),
    (r"\.attention\.rel_attn_embed\.", ".self_attn.relative_attention_bias."),
    (r"\.attention\.", ".self_attn."),
    (r"(layers\.\d+)\.layer_norm\.", r"\1.self_attn_layer_norm."),
    (r"\.feed_forward\.intermediate_dense\.", ".fc1."),
    (r"\.feed_forward\.output_dense\.", ".fc2."),
]


def _upstream_in_checkpoint_layout(model) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in model.state_dict().items():
        for pattern, replacement in _TO_CHECKPOINT:  # in order: specific before general
            name = re.sub(pattern, replacement, name)
        out[UP + name] = value.clone()
    return out


def _head_in_checkpoint_layout(n_layers: int) -> dict[str, torch.Tensor]:
    """Random ECAPA head tensors under UniSpeech's names and shapes."""
    g = torch.Generator().manual_seed(1)
    c, mfa, feat = TINY["channels"], TINY["mfa_channels"], TINY["hidden_size"]
    width = c // TINY["res2net_scale"]
    sd: dict[str, torch.Tensor] = {}

    def rand(*shape, scale=0.3):
        return scale * torch.randn(*shape, generator=g)

    def conv(prefix, out_ch, in_ch, k):
        sd[f"{prefix}.weight"] = rand(out_ch, in_ch, k)
        sd[f"{prefix}.bias"] = rand(out_ch, scale=0.1)

    def bn(prefix, n):
        sd[f"{prefix}.weight"] = 1 + rand(n, scale=0.1)
        sd[f"{prefix}.bias"] = rand(n, scale=0.1)
        sd[f"{prefix}.running_mean"] = rand(n, scale=0.1)
        sd[f"{prefix}.running_var"] = 0.5 + torch.rand(n, generator=g)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(100)

    sd["feature_weight"] = rand(n_layers, scale=1.0)
    conv("layer1.conv", c, feat, 5)
    bn("layer1.bn", c)
    for b in (2, 3, 4):
        for part in ("Conv1dReluBn1", "Conv1dReluBn2"):
            conv(f"layer{b}.{part}.conv", c, c, 1)
            bn(f"layer{b}.{part}.bn", c)
        for i in range(TINY["res2net_scale"] - 1):
            conv(f"layer{b}.Res2Conv1dReluBn.convs.{i}", width, width, 3)
            bn(f"layer{b}.Res2Conv1dReluBn.bns.{i}", width)
        sd[f"layer{b}.SE_Connect.linear1.weight"] = rand(TINY["se_channels"], c)
        sd[f"layer{b}.SE_Connect.linear1.bias"] = rand(TINY["se_channels"], scale=0.1)
        sd[f"layer{b}.SE_Connect.linear2.weight"] = rand(c, TINY["se_channels"])
        sd[f"layer{b}.SE_Connect.linear2.bias"] = rand(c, scale=0.1)
    conv("conv", mfa, 3 * c, 1)
    conv("pooling.linear1", TINY["attention_channels"], mfa, 1)
    conv("pooling.linear2", mfa, TINY["attention_channels"], 1)
    bn("bn", 2 * mfa)
    sd["linear.weight"] = rand(TINY["embedding_dim"], 2 * mfa)
    sd["linear.bias"] = rand(TINY["embedding_dim"], scale=0.1)
    sd["loss_calculator.projection.weight"] = rand(7, TINY["embedding_dim"])  # training only
    return sd


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    wavlm = _tiny_wavlm()
    state = {**_upstream_in_checkpoint_layout(wavlm), **_head_in_checkpoint_layout(3)}
    path = tmp_path_factory.mktemp("wavlm_ecapa") / "wavlm_large_finetune.pth"
    torch.save({"model": state}, path)
    return path, state, wavlm


def _wavs() -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    lengths = [16000, 9000, 16000, 23000, 4000]
    out = []
    for i, n in enumerate(lengths):
        t = np.arange(n) / 16000
        wav = 0.3 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.05 * rng.standard_normal(n)
        out.append(torch.from_numpy(wav.astype(np.float32)))
    return out


def _reference_embedding(state, wavlm, wav) -> torch.Tensor:
    """The published computation, written out from the checkpoint tensors."""
    sd = state
    x = F.layer_norm(wav, wav.shape)[None]  # s3prl: WavLM-Large normalises each waveform
    with torch.no_grad():
        out = wavlm(x, output_hidden_states=True)
    n_layers = wavlm.config.num_hidden_layers
    # s3prl hidden states: the input of every transformer layer, then the encoder output
    hidden = [out.hidden_states[i][0] for i in range(n_layers)] + [out.last_hidden_state[0]]
    weights = torch.softmax(sd["feature_weight"], dim=0)
    feats = sum(w * h for w, h in zip(weights, hidden, strict=True)).T[None] + 1e-6
    x = (feats - feats.mean(-1, keepdim=True)) / torch.sqrt(
        feats.var(-1, unbiased=False, keepdim=True) + 1e-5
    )

    def bn(x, p):
        scale = sd[f"{p}.weight"] / torch.sqrt(sd[f"{p}.running_var"] + 1e-5)
        shift = sd[f"{p}.bias"] - sd[f"{p}.running_mean"] * scale
        return x * scale[:, None] + shift[:, None] if x.ndim == 3 else x * scale + shift

    def conv_relu_bn(x, p, **kw):
        y = F.conv1d(x, sd[f"{p}.conv.weight"], sd[f"{p}.conv.bias"], **kw)
        return bn(F.relu(y), f"{p}.bn")

    outs = [conv_relu_bn(x, "layer1", padding=2)]
    width = TINY["channels"] // TINY["res2net_scale"]
    for b, d in ((2, 2), (3, 3), (4, 4)):
        p, h = f"layer{b}", outs[-1]
        y = conv_relu_bn(h, f"{p}.Conv1dReluBn1")
        parts, res, prev = y.split(width, 1), [], None
        for i in range(TINY["res2net_scale"] - 1):
            inp = parts[i] if prev is None else prev + parts[i]
            r = f"{p}.Res2Conv1dReluBn"
            z = F.conv1d(
                inp, sd[f"{r}.convs.{i}.weight"], sd[f"{r}.convs.{i}.bias"], padding=d, dilation=d
            )
            prev = bn(F.relu(z), f"{r}.bns.{i}")
            res.append(prev)
        y = conv_relu_bn(torch.cat([*res, parts[-1]], 1), f"{p}.Conv1dReluBn2")
        s = f"{p}.SE_Connect"
        gate = F.relu(F.linear(y.mean(2), sd[f"{s}.linear1.weight"], sd[f"{s}.linear1.bias"]))
        gate = torch.sigmoid(F.linear(gate, sd[f"{s}.linear2.weight"], sd[f"{s}.linear2.bias"]))
        outs.append(h + y * gate[..., None])
    z = F.relu(F.conv1d(torch.cat(outs[1:], 1), sd["conv.weight"], sd["conv.bias"]))
    a = F.conv1d(z, sd["pooling.linear1.weight"], sd["pooling.linear1.bias"])
    a = torch.softmax(
        F.conv1d(torch.tanh(a), sd["pooling.linear2.weight"], sd["pooling.linear2.bias"]), 2
    )
    mean = (a * z).sum(2)
    std = ((a * z * z).sum(2) - mean**2).clamp(min=1e-9).sqrt()
    pooled = bn(torch.cat([mean, std], 1), "bn")
    return F.linear(pooled, sd["linear.weight"], sd["linear.bias"])[0]


def test_checkpoint_layout_loads_and_matches_the_published_computation(tiny):
    path, state, wavlm = tiny
    encoder = get_speaker_encoder(f"wavlm-large-ecapa:{path}", batch_size=4, **TINY)
    assert isinstance(encoder, WavLMLargeECAPAEncoder)
    assert encoder._model is None  # nothing loaded before use
    wavs = _wavs()
    emb = encoder.embed(wavs)
    assert emb.shape == (len(wavs), TINY["embedding_dim"])
    # the checkpoint's tensors, not a fresh initialisation, ended up in the model
    loaded_wavlm, head = encoder._model
    attention = loaded_wavlm.encoder.layers[0].attention
    assert torch.equal(attention.gru_rel_pos_const, state[UP + "encoder.layers.0.self_attn.grep_a"])
    assert torch.equal(
        head.layer3.res2.convs[1].weight, state["layer3.Res2Conv1dReluBn.convs.1.weight"]
    )
    assert torch.equal(head.bn.running_var, state["bn.running_var"])
    expected = torch.stack([_reference_embedding(state, wavlm, w) for w in wavs])
    assert torch.allclose(emb, expected, atol=1e-4), (emb - expected).abs().max()


def test_deterministic_and_batched_equals_one_by_one(tiny, bound):
    path, _, _ = tiny
    wavs = _wavs()
    encoder = WavLMLargeECAPAEncoder(path, batch_size=8, **TINY)
    batched = encoder.embed(wavs)  # one padded batch of five lengths
    again = WavLMLargeECAPAEncoder(path, batch_size=8, **TINY).embed(wavs)
    single = torch.cat([encoder.embed([w]) for w in wavs])
    assert torch.equal(batched, again)
    bound.close("embedding batched vs one", batched, single, atol=1e-4)
    pairs = WavLMLargeECAPAEncoder(path, batch_size=2, **TINY).embed(wavs)
    bound.close("embedding pairs vs one", pairs, single, atol=1e-4)
    assert (batched[0] - batched[1]).abs().max() > 1e-2  # different audio, different embedding
    # 8 kHz input is resampled to 16 kHz; order follows the input
    assert encoder.embed([wavs[1][::2].clone(), wavs[0]], sample_rate=8000).shape == (2, 12)
    info = encoder.describe()
    assert info["backend"] == "wavlm-large-ecapa" and info["hidden_size"] == 32
    assert info["model"] == str(path.resolve())


def test_mismatched_checkpoints_raise_value_errors(tiny, tmp_path):
    path, state, _ = tiny
    head_only = tmp_path / "head_only.pth"
    torch.save({"model": {k: v for k, v in state.items() if not k.startswith(UP)}}, head_only)
    with pytest.raises(
        ValueError,
        match=r"no 'feature_extract\.model\.\*' entries.*wavlm_large_finetune",
    ):
        WavLMLargeECAPAEncoder(head_only, **TINY).load()
    partial = tmp_path / "partial.pth"
    torch.save({"model": {k: v for k, v in state.items() if ".layers.1." not in k}}, partial)
    with pytest.raises(
        ValueError,
        match=r"19 missing WavLM \(transformers names\) keys \(\['encoder\.layers\.1\.attention",
    ):
        WavLMLargeECAPAEncoder(partial, **TINY).load()
    no_se = tmp_path / "no_se.pth"
    torch.save({"model": {k: v for k, v in state.items() if "layer3.SE_" not in k}}, no_se)
    with pytest.raises(
        ValueError, match=r"4 missing ECAPA head keys \(\['layer3\.SE_Connect\.linear1"
    ):
        WavLMLargeECAPAEncoder(no_se, **TINY).load()
    with pytest.raises(ValueError, match=r"shape mismatches.*layer1\.conv\.weight.*size arguments"):
        WavLMLargeECAPAEncoder(path, **{**TINY, "channels": 32}).load()
    foreign = tmp_path / "foreign.pth"
    torch.save({"model": {**state, UP + "encoder.adapter.weight": torch.zeros(1)}}, foreign)
    with pytest.raises(ValueError, match=r"no WavLM counterpart.*encoder\.adapter"):
        WavLMLargeECAPAEncoder(foreign, **TINY).load()
    flat = tmp_path / "flat.pth"
    torch.save(state, flat)
    with pytest.raises(ValueError, match="'model' state dict"):
        WavLMLargeECAPAEncoder(flat, **TINY).load()
    with pytest.raises(FileNotFoundError, match="wavlm_large_finetune"):
        WavLMLargeECAPAEncoder(tmp_path / "none.pth").load()
    with pytest.raises(ValueError, match="too short for one WavLM frame"):
        WavLMLargeECAPAEncoder(path, **TINY).embed([torch.ones(300)])
    with pytest.raises(ValueError, match="divisible by res2net_scale"):
        WavLMLargeECAPAEncoder(path, channels=12, res2net_scale=8)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        WavLMLargeECAPAEncoder(path, num_layers=0)


def test_library_mapping_covers_the_published_key_names(tiny):
    _, state, _ = tiny
    wavlm_state, head_state, unknown = convert_unispeech_state_dict(state)
    assert unknown == []
    assert "loss_calculator.projection.weight" not in {**wavlm_state, **head_state}
    assert "encoder.layers.0.attention.rel_attn_embed.weight" in wavlm_state
    assert "feature_extractor.conv_layers.3.layer_norm.bias" in wavlm_state
    assert "layer4.se.linear2.bias" in head_state and "layer2.conv_in.bn.running_mean" in head_state
    assert len(wavlm_state) + len(head_state) == len(state) - 1


def test_defaults_are_wavlm_large_with_the_published_head_shapes():
    encoder = WavLMLargeECAPAEncoder("wavlm_large_finetune.pth")
    config = encoder.wavlm_config()
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (
        1024,
        24,
        16,
    )
    assert config.intermediate_size == 4096 and config.conv_dim == (512,) * 7
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (128, 16)
    assert (config.num_buckets, config.max_bucket_distance) == (320, 800)
    assert config.feat_extract_norm == "layer" and config.do_stable_layer_norm
    assert encoder.normalize_waveform
    shapes = {k: tuple(v.shape) for k, v in WavLMECAPAHead().state_dict().items()}
    assert shapes["feature_weight"] == (25,)
    assert shapes["layer1.conv.weight"] == (512, 1024, 5)
    assert shapes["layer2.res2.convs.6.weight"] == (64, 64, 3)
    assert "layer2.res2.convs.7.weight" not in shapes
    assert shapes["layer3.se.linear1.weight"] == (128, 512)
    assert shapes["conv.weight"] == (1536, 1536, 1)
    assert shapes["pooling.linear1.weight"] == (128, 1536, 1)
    assert shapes["bn.running_mean"] == (3072,)
    assert shapes["linear.weight"] == (256, 3072)
