"""The mel front end of the TTS models (VoiceBox's: 16 kHz, 80 mels, hop 160).

VoiceBox (Le et al., NeurIPS 2023) and the TGU paper (Kim et al., ICML 2025) use
16 kHz audio, 80 mel bins, ``n_fft`` 1024, a 640-sample window and a 160-sample hop
(100 frames per second), 0-8 kHz. Features are natural-log mel magnitudes with a floor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torchaudio
from torch import nn

__all__ = ["MelConfig", "MelFrontEnd"]


@dataclass(frozen=True)
class MelConfig:
    """Settings of the log-mel front end (defaults: the paper's).

    Attributes:
        sample_rate: Hz.
        n_fft: FFT size.
        win_length: analysis window, samples.
        hop_length: frame hop, samples (160 = 100 frames/s at 16 kHz).
        n_mels: mel bins.
        f_min: lowest mel filter edge, Hz.
        f_max: highest mel filter edge, Hz.
        log_floor: magnitudes are clamped to at least this before the log.
        power: 1.0 = magnitude mel (HiFi-GAN/Vocos convention), 2.0 = power.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    win_length: int = 640
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8_000.0
    log_floor: float = 1e-5
    power: float = 1.0

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}"
            )
        if self.hop_length < 1 or self.n_mels < 1:
            raise ValueError("hop_length and n_mels must be >= 1")

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames the (centred) front end makes from ``n_samples`` samples."""
        return n_samples // self.hop_length + 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> MelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


class MelFrontEnd(nn.Module):
    """Waveform ``(batch, samples)`` -> natural-log mel ``(batch, frames, n_mels)``.

    A thin module over :class:`torchaudio.transforms.MelSpectrogram` (Slaney-normalised
    filters, as HiFi-GAN/Vocos mel front ends use), centred frames.
    """

    def __init__(self, config: MelConfig | None = None):
        super().__init__()
        self.config = config or MelConfig()
        c = self.config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            win_length=c.win_length,
            hop_length=c.hop_length,
            f_min=c.f_min,
            f_max=c.f_max,
            n_mels=c.n_mels,
            power=c.power,
            norm="slaney",
            mel_scale="slaney",
            center=True,
        )

    @property
    def log_floor(self) -> float:
        return math.log(self.config.log_floor)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {tuple(wav.shape)}")
        spec = self.mel(wav.float())  # (B, n_mels, T)
        return torch.log(spec.clamp_min(self.config.log_floor)).transpose(1, 2).contiguous()
