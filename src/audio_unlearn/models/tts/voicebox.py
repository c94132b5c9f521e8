"""A VoiceBox-style zero-shot TTS: masked-mel infilling by conditional flow matching.

Le et al., "Voicebox: Text-Guided Multilingual Universal Speech Generation at Scale",
NeurIPS 2023. The audio model predicts the flow's velocity for every mel frame from the
noisy frames ``x_t``, the audio context (the unmasked frames of the real mel; zeros where
masked) and the frame-aligned phone ids. Trained by infilling a random contiguous span of
70-100% of each utterance (loss on the span only); with probability ``p_drop_context`` the
whole utterance is masked (text only: the no-prompt mode TGU's teacher uses) and with
``p_drop_all`` the phones are dropped too (the unconditional branch of classifier-free
guidance).

Zero-shot cloning: prompt mel + target phones; the target frames are infilled in the
prompt's voice. The no-prompt mode (``prompt=None``) draws a voice from the noise.

The backbone is a pre-norm Transformer with U-Net skip connections (as VoiceBox) and a
convolutional positional embedding; the built-in default (~3M parameters) trains on a CPU.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from .flow import cfm_path, cfm_target, guided, masked_mse, ode_solve

__all__ = [
    "FieldRows",
    "FlowDraws",
    "FlowMatchingTTS",
    "FlowMatchingTTSConfig",
    "field_rows",
    "lengths_mask",
]


def lengths_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(batch, max_len)`` bool, true on the valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


@dataclass(frozen=True)
class FlowDraws:
    """One conditional-flow-matching step's network inputs and target
    (:meth:`FlowMatchingTTS.flow_draws`), batch first."""

    x_t: torch.Tensor
    t: torch.Tensor
    context: torch.Tensor
    infill: torch.Tensor
    phones: torch.Tensor
    lengths: torch.Tensor
    #: the conditional velocity ``u_t(x | x1)`` the field regresses on
    target: torch.Tensor

    def head(self, n: int) -> FlowDraws:
        """The draws of the first ``n`` items."""
        return FlowDraws(**{f.name: getattr(self, f.name)[:n] for f in fields(self)})


@dataclass(frozen=True)
class FlowMatchingTTSConfig:
    """Size and training settings of :class:`FlowMatchingTTS`.

    Attributes:
        n_phones: phone vocabulary size (id 0 = padding / no text).
        n_mels: mel bins.
        d_model: Transformer width.
        n_layers: Transformer layers (even: U-Net skips pair layer i with n-1-i).
        n_heads: attention heads.
        ff_mult: feed-forward width multiple.
        d_phone: phone embedding width.
        conv_kernel: kernel of the convolutional positional embedding.
        dropout: dropout inside the Transformer.
        sigma_min: the OT path's minimum noise level.
        mask_min, mask_max: fraction of frames infilled during training (uniform).
        p_drop_context: probability an utterance is trained with no audio context.
        p_drop_all: probability it is trained with no context and no phones.
        frames_per_token: mel frames the Transformer sees as one token (1 = VoiceBox;
            2 halves the sequence, about twice as fast on a CPU; the loss and the
            sampler still work frame by frame).
    """

    n_phones: int
    n_mels: int = 80
    d_model: int = 192
    n_layers: int = 6
    n_heads: int = 4
    ff_mult: int = 4
    d_phone: int = 64
    conv_kernel: int = 31
    dropout: float = 0.1
    sigma_min: float = 1e-5
    mask_min: float = 0.7
    mask_max: float = 1.0
    p_drop_context: float = 0.1
    p_drop_all: float = 0.1
    frames_per_token: int = 1

    def __post_init__(self) -> None:
        if self.n_phones < 4:
            raise ValueError(f"n_phones must be >= 4 (3 reserved ids), got {self.n_phones}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by n_heads {self.n_heads}")
        if self.n_layers < 2 or self.n_layers % 2:
            raise ValueError(f"n_layers must be an even number >= 2, got {self.n_layers}")
        if not 0 < self.mask_min <= self.mask_max <= 1:
            raise ValueError("need 0 < mask_min <= mask_max <= 1")
        if self.frames_per_token < 1:
            raise ValueError(f"frames_per_token must be >= 1, got {self.frames_per_token}")
        if not 0 <= self.p_drop_context + self.p_drop_all < 1:
            raise ValueError("p_drop_context + p_drop_all must be in [0, 1)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FlowMatchingTTSConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


@dataclass(frozen=True)
class FieldRows:
    """What the rows of one network pass inside :meth:`FlowMatchingTTS.generate` are.

    Attributes:
        prompt_row: ``(rows,)`` the row of the ``generate`` batch each pass row belongs to
            (with packed guidance each prompt row appears twice).
        conditional: ``(rows,)`` true on the conditional (text + audio prompt) branch.
    """

    prompt_row: torch.Tensor
    conditional: torch.Tensor


_FIELD_ROWS: ContextVar[FieldRows | None] = ContextVar("field_rows", default=None)


def field_rows() -> FieldRows | None:
    """The :class:`FieldRows` of the network pass running inside ``generate`` (``None``
    outside it, e.g. in training)."""
    return _FIELD_ROWS.get()


class FlowMatchingTTS(nn.Module):
    """Masked-mel infilling flow-matching TTS (VoiceBox's audio model).

    Tensors: mel ``(batch, frames, n_mels)`` natural-log mel; phones ``(batch, frames)``
    frame-aligned ids; lengths ``(batch,)`` valid frames; infill masks ``(batch, frames)``
    bool (true = generate / score this frame). Normalisation to zero mean / unit variance
    per bin happens inside (``set_mel_stats``), so callers pass and receive log-mels.
    """

    def __init__(self, config: FlowMatchingTTSConfig):
        super().__init__()
        self.config = c = config
        self.phone_embedding = nn.Embedding(c.n_phones, c.d_phone, padding_idx=0)
        r = c.frames_per_token
        self.in_proj = nn.Linear(r * (2 * c.n_mels + c.d_phone + 1), c.d_model)
        self.time_mlp = nn.Sequential(
            nn.Linear(c.d_model, c.d_model), nn.SiLU(), nn.Linear(c.d_model, c.d_model)
        )
        self.conv_pos = nn.Conv1d(
            c.d_model, c.d_model, c.conv_kernel, padding=c.conv_kernel // 2, groups=16
        )
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                c.d_model,
                c.n_heads,
                c.ff_mult * c.d_model,
                dropout=c.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(c.n_layers)
        )
        self.skips = nn.ModuleList(
            nn.Linear(2 * c.d_model, c.d_model) for _ in range(c.n_layers // 2)
        )
        self.out_norm = nn.LayerNorm(c.d_model)
        self.out_proj = nn.Linear(c.d_model, r * c.n_mels)
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))
        self.register_buffer("mel_std", torch.ones(c.n_mels))

    # ------------------------------------------------------------------ normalisation
    @torch.no_grad()
    def set_mel_stats(self, mels: torch.Tensor, lengths: torch.Tensor) -> None:
        """Per-bin mean and standard deviation over the valid frames of ``mels``."""
        valid = mels[lengths_mask(lengths, mels.shape[1])]
        self.set_mel_moments(valid.mean(0), valid.std(0))

    def set_mel_moments(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-bin mean and standard deviation computed elsewhere (e.g. streamed over a
        corpus by :func:`audio_unlearn.data.tts_data.mel_moments`); std floored at 1e-3."""
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std.clamp_min(1e-3))

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mel_std + self.mel_mean

    def layer_groups(self) -> list[nn.Module]:
        """Input-to-output parameter groups (for CF-k-style methods)."""
        head = nn.ModuleList([self.phone_embedding, self.in_proj, self.time_mlp, self.conv_pos])
        tail = nn.ModuleList([self.out_norm, self.out_proj])
        return [head, *self.layers, tail]

    # ------------------------------------------------------------------ network
    def vector_field(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        infill: torch.Tensor,
        phones: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Velocity ``(batch, frames, n_mels)`` in normalised units.

        Args:
            x_t: the noisy normalised frames.
            t: ``(batch,)`` times in [0, 1].
            context: normalised real frames; values at ``infill`` frames are ignored.
            infill: frames to generate (no context there).
            phones: frame-aligned phone ids (0 = no text).
            lengths: valid frames per row.
        """
        batch, frames, _ = x_t.shape
        r = self.config.frames_per_token
        valid = lengths_mask(lengths, frames)
        keep = (~infill & valid).unsqueeze(-1).to(x_t.dtype)
        h = torch.cat([x_t, context * keep, self.phone_embedding(phones), keep], dim=-1)
        h = h * valid.unsqueeze(-1)
        tokens = -(-frames // r)
        if r > 1:  # stack r frames per token (zero frames pad the last token)
            h = nn.functional.pad(h, (0, 0, 0, tokens * r - frames))
            h = h.reshape(batch, tokens, r * h.shape[-1])
        token_valid = lengths_mask(-(-lengths // r), tokens)
        h = self.in_proj(h) + self.time_mlp(_timestep_embedding(t, self.config.d_model))[:, None]
        h = h * token_valid.unsqueeze(-1)
        h = h + nn.functional.gelu(self.conv_pos(h.transpose(1, 2))).transpose(1, 2)
        pad = ~token_valid
        stack = []
        half = len(self.layers) // 2
        for i, layer in enumerate(self.layers):
            if i < half:
                stack.append(h)
            else:
                h = self.skips[i - half](torch.cat([h, stack.pop()], dim=-1))
            h = layer(h, src_key_padding_mask=pad)
        out = self.out_proj(self.out_norm(h))
        return out.reshape(batch, tokens * r, -1)[:, :frames]

    # ------------------------------------------------------------------ training
    def random_infill_mask(
        self, lengths: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A contiguous span of ``U(mask_min, mask_max)`` of each row's valid frames,
        at a uniformly random position."""
        c = self.config
        batch, max_len = lengths.numel(), int(lengths.max())
        u = torch.rand(batch, generator=generator)
        frac = c.mask_min + (c.mask_max - c.mask_min) * u
        span = (frac * lengths.cpu().float()).round().long().clamp(min=1)
        span = torch.minimum(span, lengths.cpu())
        start = (torch.rand(batch, generator=generator) * (lengths.cpu() - span + 1)).long()
        idx = torch.arange(max_len)[None]
        mask = (idx >= start[:, None]) & (idx < (start + span)[:, None])
        return mask.to(lengths.device)

    def flow_draws(
        self,
        mel: torch.Tensor,
        phones: torch.Tensor,
        lengths: torch.Tensor,
        *,
        infill: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        drop_conditions: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> FlowDraws:
        """The random draws of one CFM training step (infill span, condition dropout, noise,
        time) and the network inputs and regression target they give. Two models scored on
        the same draws (a student and its teacher) see the same noisy input, time and mask.

        Args:
            mel: the real log-mels (their unmasked frames are the audio context).
            phones, lengths: as in the class docstring.
            infill: frames to infill and score (default: a random span per row).
            target: log-mel the path runs to (default ``mel``); TGU passes the teacher's
                generation ``x_bar`` here while the context stays the forget speaker's.
            drop_conditions: apply training-time condition dropout (default: in train mode).
            generator: seeds noise, times and masks (reproducible evaluation losses).
        """
        c = self.config
        valid = lengths_mask(lengths, mel.shape[1])
        if infill is None:
            infill = self.random_infill_mask(lengths, generator)
        infill = infill & valid
        x_ctx = self.normalise(mel)
        x1 = x_ctx if target is None else self.normalise(target)
        if drop_conditions is None:
            drop_conditions = self.training
        if drop_conditions and (c.p_drop_context + c.p_drop_all) > 0:
            u = torch.rand(mel.shape[0], generator=generator).to(mel.device)
            no_ctx = u < c.p_drop_context + c.p_drop_all
            no_text = u < c.p_drop_all
            infill = torch.where(no_ctx[:, None], valid, infill)
            phones = phones.masked_fill(no_text[:, None], 0)
        x0 = torch.randn(x1.shape, generator=generator).to(x1)
        t = torch.rand(mel.shape[0], generator=generator).to(x1)
        return FlowDraws(
            x_t=cfm_path(x0, x1, t, c.sigma_min),
            t=t,
            context=x_ctx,
            infill=infill,
            phones=phones,
            lengths=lengths,
            target=cfm_target(x0, x1, c.sigma_min),
        )

    def draws_field(self, draws: FlowDraws) -> torch.Tensor:
        """The velocity this model predicts at ``draws`` (:meth:`flow_draws`)."""
        d = draws
        return self.vector_field(d.x_t, d.t, d.context, d.infill, d.phones, d.lengths)

    def flow_loss(
        self,
        mel: torch.Tensor,
        phones: torch.Tensor,
        lengths: torch.Tensor,
        *,
        per_sample: bool = False,
        **draw_options,
    ) -> torch.Tensor:
        """The masked CFM loss ``|| m * (u_t(x | x1) - v_t(x_t, ctx, phones)) ||^2`` at fresh
        draws (:meth:`flow_draws`, whose keyword options ``infill``, ``target``,
        ``drop_conditions`` and ``generator`` it takes); ``per_sample``: ``(batch,)``
        losses instead of their mean."""
        draws = self.flow_draws(mel, phones, lengths, **draw_options)
        v = self.draws_field(draws)
        return masked_mse(v, draws.target, draws.infill, per_sample=per_sample)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(
        self,
        phones: torch.Tensor,
        lengths: torch.Tensor,
        *,
        prompt: torch.Tensor | None = None,
        infill: torch.Tensor | None = None,
        nfe: int = 32,
        solver: str = "midpoint",
        guidance: float = 0.7,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        guidance_passes: str = "packed",
    ) -> torch.Tensor:
        """Infill mel frames by integrating the flow from noise.

        Args:
            phones: frame-aligned phone ids of the whole sequence (prompt + target).
            lengths: valid frames per row.
            prompt: log-mel whose frames outside ``infill`` are the audio context; ``None``
                = no-prompt mode (text only: a voice drawn from the noise).
            infill: frames to generate (default: every frame when there is no prompt).
            nfe: function evaluations (each one network pass, two with guidance).
            solver: ``"euler"`` or ``"midpoint"``.
            guidance: classifier-free guidance weight (0 = none; VoiceBox uses 0.7).
            noise: the start ``x0`` in normalised units (default: drawn from ``generator``).
            guidance_passes: ``"packed"`` (the conditional and unconditional branches in one
                network pass of twice the batch) or ``"separate"`` (two passes); the same
                numbers up to float rounding. During each pass :func:`field_rows` says
                which rows are the conditional branch and which prompt row each one is.

        Returns:
            log-mel ``(batch, frames, n_mels)``: generated frames in ``infill``, the
            prompt's own frames elsewhere (zero padding past ``lengths``).
        """
        c = self.config
        batch, frames = phones.shape
        valid = lengths_mask(lengths, frames)
        if prompt is None:
            if infill is not None and bool((valid & ~infill).any()):
                raise ValueError("frames outside infill need a prompt to copy from")
            infill = valid
            x_ctx = torch.zeros(batch, frames, c.n_mels, device=phones.device)
        else:
            if infill is None:
                raise ValueError("with a prompt, say which frames to infill")
            x_ctx = self.normalise(prompt)
        infill = infill & valid
        if noise is None:
            noise = torch.randn(batch, frames, c.n_mels, generator=generator).to(x_ctx)
        if guidance_passes not in ("packed", "separate"):
            raise ValueError(f"guidance_passes must be packed or separate, got {guidance_passes!r}")
        uncond_phones = torch.zeros_like(phones)
        all_frames = valid
        rows = torch.arange(batch, device=phones.device)
        yes = torch.ones(batch, dtype=torch.bool, device=phones.device)

        def call(branch: FieldRows, *args) -> torch.Tensor:
            token = _FIELD_ROWS.set(branch)
            try:
                return self.vector_field(*args)
            finally:
                _FIELD_ROWS.reset(token)

        def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if guidance == 0:
                return call(FieldRows(rows, yes), x, t, x_ctx, infill, phones, lengths)
            if guidance_passes == "separate":
                v_c = call(FieldRows(rows, yes), x, t, x_ctx, infill, phones, lengths)
                v_u = call(FieldRows(rows, ~yes), x, t, x_ctx, all_frames, uncond_phones, lengths)
                return guided(v_c, v_u, guidance)
            v = call(
                FieldRows(torch.cat([rows, rows]), torch.cat([yes, ~yes])),
                torch.cat([x, x]),
                torch.cat([t, t]),
                torch.cat([x_ctx, x_ctx]),
                torch.cat([infill, all_frames]),
                torch.cat([phones, uncond_phones]),
                torch.cat([lengths, lengths]),
            )
            return guided(v[:batch], v[batch:], guidance)

        x1 = ode_solve(field, noise, nfe=nfe, solver=solver)
        out = torch.where(infill.unsqueeze(-1), x1, x_ctx)
        return self.denormalise(out) * valid.unsqueeze(-1)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
