"""Speaker-encoder networks: the ECAPA-TDNN head of UniSpeech's WavLM-Large speaker
verification model (Chen et al., "WavLM", IEEE JSTSP 2022; ECAPA-TDNN: Desplanques et al.,
Interspeech 2020) and the mapping of that checkpoint's keys onto transformers' ``WavLMModel``
and :class:`WavLMECAPAHead`.

Networks live here; the evaluators that load weights and embed audio
(:class:`~audio_unlearn.evaluation.speaker.WavLMLargeECAPAEncoder` and the others) stay in
:mod:`audio_unlearn.evaluation.speaker`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "UNISPEECH_IGNORED_PREFIXES",
    "UNISPEECH_UPSTREAM_PREFIX",
    "WavLMECAPAHead",
    "check_state",
    "convert_unispeech_state_dict",
    "head_checkpoint_name",
]


class _ConvReluBN(nn.Module):
    """Conv1d, then ReLU, then BatchNorm1d (this order, as in the checkpoint's head)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int = 1, padding: int = 0, dilation: int = 1
    ):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding=padding, dilation=dilation)
        self.bn = nn.BatchNorm1d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class _Res2ConvReluBN(nn.Module):
    """Res2Net-style multi-scale convolution (Gao et al., TPAMI 2021) over channel groups.

    The input is split into ``scale`` groups of ``channels // scale``; group ``i`` (for
    ``i < scale - 1``) is convolved after adding the previous group's output, and the last
    group passes through unchanged.
    """

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int):
        super().__init__()
        self.width = channels // scale
        n_convs = scale - 1 if scale > 1 else 1
        padding = dilation * (kernel - 1) // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(self.width, self.width, kernel, padding=padding, dilation=dilation)
            for _ in range(n_convs)
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.width) for _ in range(n_convs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(x, self.width, dim=1)
        outputs = []
        previous: torch.Tensor | None = None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            part = groups[i] if previous is None else previous + groups[i]
            previous = bn(F.relu(conv(part)))
            outputs.append(previous)
        outputs.extend(groups[len(self.convs) :])
        return torch.cat(outputs, dim=1)


class _SqueezeExcitation(nn.Module):
    """Channel gates from the time-averaged input (Hu et al., CVPR 2018)."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.linear1 = nn.Linear(channels, bottleneck)
        self.linear2 = nn.Linear(bottleneck, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(x.mean(dim=2)))))
        return x * gate.unsqueeze(2)


class _SERes2Block(nn.Module):
    """ECAPA-TDNN block: 1x1 conv, Res2 dilated conv, 1x1 conv, SE gate, residual."""

    def __init__(self, channels: int, *, dilation: int, scale: int, se_channels: int):
        super().__init__()
        self.conv_in = _ConvReluBN(channels, channels)
        self.res2 = _Res2ConvReluBN(channels, kernel=3, dilation=dilation, scale=scale)
        self.conv_out = _ConvReluBN(channels, channels)
        self.se = _SqueezeExcitation(channels, se_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se(self.conv_out(self.res2(self.conv_in(x))))


class _AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling (Okabe et al., Interspeech 2018): per-channel softmax
    attention over time, then the weighted mean and standard deviation."""

    def __init__(self, channels: int, attention_channels: int):
        super().__init__()
        self.linear1 = nn.Conv1d(channels, attention_channels, kernel_size=1)
        self.linear2 = nn.Conv1d(attention_channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
        mean = (alpha * x).sum(dim=2)
        variance = (alpha * x.square()).sum(dim=2) - mean.square()
        return torch.cat([mean, variance.clamp(min=1e-9).sqrt()], dim=1)


class WavLMECAPAHead(nn.Module):
    """ECAPA-TDNN over a learnt weighted sum of WavLM hidden layers.

    The speaker-verification head of UniSpeech's ``wavlm_large_finetune.pth`` (Chen et al.,
    "WavLM", IEEE JSTSP 2022, Table 4; ECAPA-TDNN: Desplanques et al., Interspeech 2020),
    written for this library with the checkpoint's layer sizes and order of operations:

    1. ``softmax(feature_weight)``-weighted sum of the ``n_layers`` hidden states
       ``(n_layers, frames, feat_dim)``, plus ``1e-6``, instance-normalised over time per
       channel (no affine parameters);
    2. a 5-tap conv (``feat_dim -> channels``), then three SE-Res2 blocks with dilations 2,
       3 and 4 (kernel 3, ``res2net_scale`` groups, SE bottleneck ``se_channels``); every
       conv is followed by ReLU then batch norm;
    3. the three blocks' outputs concatenated, a 1x1 conv to ``mfa_channels`` and ReLU;
    4. attentive statistics pooling (mean and std, ``2 * mfa_channels``), batch norm and a
       linear layer to ``embedding_dim``.

    It embeds one utterance at a time (the instance norm, SE means and pooling run over
    all frames, so padding would change them); the WavLM features before it are batched.

    Args:
        n_layers: Number of hidden states weighted (WavLM-Large: 25, the 24 layer inputs
            and the final layer-normalised output).
        feat_dim: Width of the hidden states (1024).
        channels: ECAPA channels (512).
        mfa_channels: Channels after multi-layer feature aggregation (1536).
        embedding_dim: Embedding size (256).
        attention_channels: Bottleneck of the attentive pooling (128).
        se_channels: Bottleneck of the SE gates (128).
        res2net_scale: Res2Net groups (8).
    """

    def __init__(
        self,
        *,
        n_layers: int = 25,
        feat_dim: int = 1024,
        channels: int = 512,
        mfa_channels: int = 1536,
        embedding_dim: int = 256,
        attention_channels: int = 128,
        se_channels: int = 128,
        res2net_scale: int = 8,
    ) -> None:
        super().__init__()
        if channels % res2net_scale:
            raise ValueError(
                f"channels ({channels}) must be divisible by res2net_scale ({res2net_scale})"
            )
        self.feature_weight = nn.Parameter(torch.zeros(n_layers))
        self.instance_norm = nn.InstanceNorm1d(feat_dim)
        self.layer1 = _ConvReluBN(feat_dim, channels, kernel=5, padding=2)
        blocks = {
            f"layer{i}": _SERes2Block(
                channels, dilation=d, scale=res2net_scale, se_channels=se_channels
            )
            for i, d in ((2, 2), (3, 3), (4, 4))
        }
        self.layer2, self.layer3, self.layer4 = blocks.values()
        self.conv = nn.Conv1d(3 * channels, mfa_channels, kernel_size=1)
        self.pooling = _AttentiveStatsPool(mfa_channels, attention_channels)
        self.bn = nn.BatchNorm1d(2 * mfa_channels)
        self.linear = nn.Linear(2 * mfa_channels, embedding_dim)

    def layer_weights(self) -> torch.Tensor:
        """Softmax-normalised weights of the hidden layers, shape ``(n_layers,)``."""
        return torch.softmax(self.feature_weight, dim=0)

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """Embed one utterance from its weighted layer sum.

        Args:
            features: ``(frames, feat_dim)``, the :meth:`layer_weights`-weighted sum of the
                hidden states of one utterance.

        Returns:
            The embedding, shape ``(embedding_dim,)`` (not normalised; compare by cosine).
        """
        x = self.instance_norm(features.transpose(0, 1).unsqueeze(0) + 1e-6)
        out1 = self.layer1(x)
        out2 = self.layer2(out1)
        out3 = self.layer3(out2)
        out4 = self.layer4(out3)
        x = F.relu(self.conv(torch.cat([out2, out3, out4], dim=1)))
        return self.linear(self.bn(self.pooling(x)))[0]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Embed one utterance.

        Args:
            hidden_states: ``(n_layers, frames, feat_dim)`` hidden states of one utterance.

        Returns:
            The embedding, shape ``(embedding_dim,)``.
        """
        weights = self.layer_weights()[:, None, None]
        return self.embed_features((weights * hidden_states).sum(dim=0))


#: Prefix of the WavLM (upstream) parameters in a UniSpeech verification checkpoint.
UNISPEECH_UPSTREAM_PREFIX = "feature_extract.model."

# (checkpoint pattern, transformers WavLMModel replacement) for the upstream keys once the
# prefix is removed: s3prl/UniSpeech WavLM (fairseq layout) -> transformers WavLM. Patterns
# match name prefixes; a suffix the model lacks is reported as an unexpected key.
_LAYER = r"^(encoder\.layers\.\d+\.)"
_POS_CONV = "encoder.pos_conv_embed.conv."
_UPSTREAM_RULES: tuple[tuple[str, str], ...] = (
    (r"^mask_emb$", "masked_spec_embed"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (
        r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.",
        r"feature_extractor.conv_layers.\1.layer_norm.",
    ),
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^encoder\.pos_conv\.0\.bias$", _POS_CONV + "bias"),
    (r"^encoder\.pos_conv\.0\.weight_g$", _POS_CONV + "parametrizations.weight.original0"),
    (r"^encoder\.pos_conv\.0\.weight_v$", _POS_CONV + "parametrizations.weight.original1"),
    (r"^encoder\.layer_norm\.", "encoder.layer_norm."),
    (_LAYER + r"self_attn\.(k|q|v|out)_proj\.", r"\1attention.\2_proj."),
    (_LAYER + r"self_attn\.grep_a$", r"\1attention.gru_rel_pos_const"),
    (_LAYER + r"self_attn\.grep_linear\.", r"\1attention.gru_rel_pos_linear."),
    (_LAYER + r"self_attn\.relative_attention_bias\.", r"\1attention.rel_attn_embed."),
    (_LAYER + r"self_attn_layer_norm\.", r"\1layer_norm."),
    (_LAYER + r"fc1\.", r"\1feed_forward.intermediate_dense."),
    (_LAYER + r"fc2\.", r"\1feed_forward.output_dense."),
    (_LAYER + r"final_layer_norm\.", r"\1final_layer_norm."),
)

# UniSpeech's head module names -> WavLMECAPAHead's (the rest are identical).
_HEAD_RENAMES: tuple[tuple[str, str], ...] = (
    (".Conv1dReluBn1.", ".conv_in."),
    (".Res2Conv1dReluBn.", ".res2."),
    (".Conv1dReluBn2.", ".conv_out."),
    (".SE_Connect.", ".se."),
)

#: Training-only entries of the checkpoint, ignored on load: the AAM-softmax speaker
#: classifier and the upstream's pre-training heads (UniSpeech freezes these names).
UNISPEECH_IGNORED_PREFIXES = (
    "loss_calculator.",
    UNISPEECH_UPSTREAM_PREFIX + "final_proj.",
    UNISPEECH_UPSTREAM_PREFIX + "label_embs_concat",
    UNISPEECH_UPSTREAM_PREFIX + "project_q.",
    UNISPEECH_UPSTREAM_PREFIX + "quantizer.",
)


def convert_unispeech_state_dict(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """Split a UniSpeech verification state dict into WavLM and head state dicts.

    Maps the s3prl/UniSpeech WavLM parameter names (``feature_extract.model.*``, fairseq
    layout) to transformers ``WavLMModel`` names and UniSpeech's ECAPA module names to
    :class:`WavLMECAPAHead`'s.

    Args:
        state_dict: The ``"model"`` entry of ``wavlm_large_finetune.pth``.

    Returns:
        ``(wavlm_state, head_state, unknown)``: transformers ``WavLMModel`` entries, head
        entries, and the checkpoint keys that are neither (nor training-only entries of
        :data:`UNISPEECH_IGNORED_PREFIXES`).
    """
    wavlm: dict[str, torch.Tensor] = {}
    head: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        if key.startswith(UNISPEECH_IGNORED_PREFIXES):
            continue
        if key.startswith(UNISPEECH_UPSTREAM_PREFIX):
            name = key[len(UNISPEECH_UPSTREAM_PREFIX) :]
            for pattern, replacement in _UPSTREAM_RULES:
                new, hits = re.subn(pattern, replacement, name, count=1)
                if hits:
                    wavlm[new] = value
                    break
            else:
                unknown.append(key)
            continue
        name = key
        for old, new in _HEAD_RENAMES:
            name = name.replace(old, new)
        head[name] = value
    return wavlm, head, unknown


def head_checkpoint_name(name: str) -> str:
    """A :class:`WavLMECAPAHead` key as the checkpoint names it."""
    for old, new in _HEAD_RENAMES:
        name = name.replace(new, old)
    return name


def check_state(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    what: str,
    path: Path,
    fix: str,
    shown: Any = str,
) -> None:
    """Raise a ValueError naming missing, unexpected or mis-shaped entries of ``state``
    (``shown`` turns a model key into the name printed)."""
    expected = {
        k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    missing = [shown(k) for k in sorted(set(expected) - set(state))]
    unexpected = [
        shown(k)
        for k in sorted(set(state) - set(expected))
        if not k.endswith("num_batches_tracked")
    ]
    shapes = [
        f"{shown(k)}: checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing {what} keys ({missing[:5]}...)")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected {what} keys (e.g. {unexpected[:5]})")
    if shapes:
        problems.append(f"{len(shapes)} {what} shape mismatches (e.g. {shapes[:3]})")
    if problems:
        raise ValueError(f"{path} does not fit the WavLM+ECAPA model: {'; '.join(problems)}. {fix}")
