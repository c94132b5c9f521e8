"""Vocoders: log-mel ``(batch, frames, n_mels)`` -> waveform ``(batch, samples)``.

One interface, :class:`Vocoder`; :class:`GriffinLimVocoder` (no weights: pseudo-inverse
of the mel filterbank, then Griffin-Lim phase reconstruction, all torchaudio) is the
offline default.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torchaudio
from torch import nn

from .mel import MelConfig

__all__ = ["GriffinLimVocoder", "Vocoder"]


class Vocoder(nn.Module, ABC):
    """Turns the TTS model's natural-log mels into audio at :attr:`sample_rate`."""

    mel: MelConfig

    @property
    def sample_rate(self) -> int:
        return self.mel.sample_rate

    @abstractmethod
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, n_mels)`` log-mel -> ``(batch, samples)`` waveform."""

    def describe(self) -> dict[str, Any]:
        """Name and settings, for reports."""
        return {"vocoder": type(self).__name__, "mel": self.mel.to_json()}

    def lengths(self, frames: torch.Tensor) -> torch.Tensor:
        """Samples of audio for ``frames`` mel frames."""
        return frames * self.mel.hop_length


class GriffinLimVocoder(Vocoder):
    """Mel -> linear magnitude (least-squares inverse of the filterbank) -> Griffin-Lim.

    Args:
        mel: the front end's settings (must be the model's).
        n_iter: Griffin-Lim iterations.
        momentum: fast Griffin-Lim momentum (Perraudin et al., 2013).
    """

    def __init__(self, mel: MelConfig | None = None, *, n_iter: int = 32, momentum: float = 0.99):
        super().__init__()
        self.mel = mel or MelConfig()
        m = self.mel
        fb = torchaudio.functional.melscale_fbanks(
            m.n_fft // 2 + 1, m.f_min, m.f_max, m.n_mels, m.sample_rate, "slaney", "slaney"
        )  # (freq, mels)
        self.register_buffer("inverse", torch.linalg.pinv(fb))  # (mels, freq)
        self.n_iter = n_iter
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=m.n_fft,
            win_length=m.win_length,
            hop_length=m.hop_length,
            power=1.0,
            n_iter=n_iter,
            momentum=momentum,
            rand_init=False,
        )

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        mag_mel = mel.float().exp()
        if self.mel.power != 1.0:
            mag_mel = mag_mel.pow(1.0 / self.mel.power)
        linear = (mag_mel @ self.inverse).clamp_min(0.0).transpose(1, 2)  # (B, freq, T)
        wav = self.griffin_lim(linear)
        peak = wav.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
        return wav / peak

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "n_iter": self.n_iter}
