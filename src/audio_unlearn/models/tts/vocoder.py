"""Vocoders: log-mel ``(batch, frames, n_mels)`` -> waveform ``(batch, samples)``.

One interface, :class:`Vocoder`, three implementations:

- :class:`GriffinLimVocoder` (no weights: pseudo-inverse of the mel filterbank, then
  Griffin-Lim phase reconstruction, all torchaudio) is the offline default;
- :class:`HiFiGANVocoder` loads a SpeechBrain HiFi-GAN (Kong et al., "HiFi-GAN: Generative
  Adversarial Networks for Efficient and High Fidelity Speech Synthesis", NeurIPS 2020)
  through ``speechbrain.inference.vocoders.HIFIGAN.from_hparams``; VoiceBox and the TGU
  paper (Kim et al., ICML 2025) render their mels with a 16 kHz HiFi-GAN;
- :class:`VocosVocoder` loads a Vocos model (Siuzdak, "Vocos: Closing the gap between
  time-domain and Fourier-based neural vocoders for high-quality audio synthesis", ICLR
  2024) through the optional ``vocos`` package (``pip install vocos``; MIT licence).

A neural vocoder only works on the features it was trained on. Its *analysis* settings
(sample rate, FFT size, window, hop, magnitude power) must equal the TTS model's
:class:`~audio_unlearn.models.tts.mel.MelConfig`: a mismatch is a ``ValueError`` naming
each differing setting and the ``MelConfig`` that would match. Its *filterbank*
(number of mels, frequency range, Slaney or HTK scale, band normalisation) and log floor
may differ: the adapters then map the TTS model's magnitude mels onto the vocoder's
filterbank with the least-squares matrix ``pinv(F_tts) @ F_vocoder`` (``F``: the
``(freq, mels)`` filterbanks), an approximation (about 0.15 nats mean absolute log-mel
error from Slaney to HTK filters on a chirp; see ``tests/test_tts_vocoder.py``) that is
logged once. ``convert_filterbank=False`` refuses those differences too.

Build one from a spec string with :func:`get_vocoder`: ``"griffin_lim"``,
``"vocos:<local dir or hub name>"``, ``"hifigan:<local dir or hub name>"``.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torchaudio
from torch import nn

from ..trust import check_loader_trust, hub_owner
from .mel import MelConfig

__all__ = [
    "VOCODER_SPECS",
    "GriffinLimVocoder",
    "HiFiGANVocoder",
    "MelConverter",
    "Vocoder",
    "VocoderFeatures",
    "VocosVocoder",
    "feature_mismatches",
    "get_vocoder",
]

logger = logging.getLogger(__name__)

#: Spec forms accepted by :func:`get_vocoder`.
VOCODER_SPECS = ("griffin_lim", "vocos:<local dir or hub name>", "hifigan:<local dir or hub name>")


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
        wav = self.griffin_lim(linear)  # (frames - 1) * hop samples (centred STFT)
        wav = nn.functional.pad(wav, (0, mel.shape[1] * self.mel.hop_length - wav.shape[-1]))
        peak = wav.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
        return wav / peak  # frames * hop samples, as Vocoder.lengths says

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "n_iter": self.n_iter}


# --------------------------------------------------------------------------------------
# The features a neural vocoder takes, and the conversion from the TTS model's mels.


@dataclass(frozen=True)
class VocoderFeatures:
    """The log-mel analysis a neural vocoder was trained on.

    Attributes:
        sample_rate: Hz of the audio the features were computed from (and the vocoder
            renders).
        n_fft: FFT size.
        win_length: analysis window, samples.
        hop_length: frame hop, samples (the vocoder's upsampling factor).
        n_mels: mel bins.
        f_min: lowest filter edge, Hz.
        f_max: highest filter edge, Hz (None = ``sample_rate / 2``).
        mel_scale: ``"slaney"`` or ``"htk"`` (torchaudio's names).
        norm: ``"slaney"`` (area-normalised triangles) or None.
        power: 1.0 = magnitude, 2.0 = power spectrogram under the filterbank.
        log_floor: features are ``log(max(mel, log_floor))``; None = linear mels (no log).
        center: True = frames centred on ``t * hop`` (torch's ``center=True``); False =
            Vocos's ``"same"`` padding (frames offset by half a hop; not converted).
    """

    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: str = "slaney"
    norm: str | None = "slaney"
    power: float = 1.0
    log_floor: float | None = 1e-5
    center: bool = True

    def __post_init__(self) -> None:
        if self.f_max is None:
            object.__setattr__(self, "f_max", self.sample_rate / 2)
        if self.mel_scale not in ("slaney", "htk"):
            raise ValueError(f"mel_scale must be 'slaney' or 'htk', got {self.mel_scale!r}")
        if self.norm not in ("slaney", None):
            raise ValueError(f"norm must be 'slaney' or None, got {self.norm!r}")
        if self.win_length > self.n_fft or self.hop_length < 1 or self.n_mels < 1:
            raise ValueError(
                f"invalid vocoder features: win_length {self.win_length} > n_fft "
                f"{self.n_fft}, or hop_length/n_mels < 1"
            )

    @classmethod
    def from_mel_config(cls, mel: MelConfig) -> VocoderFeatures:
        """The features :class:`~audio_unlearn.models.tts.mel.MelFrontEnd` computes."""
        return cls(
            sample_rate=mel.sample_rate,
            n_fft=mel.n_fft,
            win_length=mel.win_length,
            hop_length=mel.hop_length,
            n_mels=mel.n_mels,
            f_min=mel.f_min,
            f_max=mel.f_max,
            power=mel.power,
            log_floor=mel.log_floor,
        )

    def filterbank(self) -> torch.Tensor:
        """The ``(n_fft // 2 + 1, n_mels)`` mel filterbank (torchaudio's construction)."""
        return torchaudio.functional.melscale_fbanks(
            self.n_fft // 2 + 1,
            float(self.f_min),
            float(self.f_max),
            self.n_mels,
            self.sample_rate,
            self.norm,
            self.mel_scale,
        )

    def matching_mel_config(self) -> str:
        """The ``MelConfig(...)`` a TTS model needs to feed this vocoder (as source text)."""
        return (
            f"MelConfig(sample_rate={self.sample_rate}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, f_min={float(self.f_min)}, f_max={float(self.f_max)}, "
            f"power={float(self.power)})"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_ANALYSIS = ("sample_rate", "n_fft", "win_length", "hop_length", "power")
_FILTERBANK = ("n_mels", "f_min", "f_max", "mel_scale", "norm")


def feature_mismatches(mel: MelConfig, features: VocoderFeatures) -> tuple[list[str], list[str]]:
    """Compare the TTS model's mel settings with a vocoder's features.

    Returns:
        ``(analysis, filterbank)``: human-readable mismatches, e.g.
        ``"hop_length 256 (TTS: 160)"``. Analysis mismatches (sample rate, FFT, window,
        hop, power) cannot be converted; filterbank ones (mels, range, scale, norm) can,
        approximately (:class:`MelConverter`). The log floor is always re-applied.
    """
    ours = VocoderFeatures.from_mel_config(mel)

    def differ(name: str) -> bool:
        a, b = getattr(ours, name), getattr(features, name)
        if isinstance(a, float) or isinstance(b, float):
            return not math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
        return a != b

    def line(name: str) -> str:
        return f"{name} {getattr(features, name)!r} (TTS: {getattr(ours, name)!r})"

    analysis = [line(n) for n in _ANALYSIS if differ(n)]
    filterbank = [line(n) for n in _FILTERBANK if differ(n)]
    return analysis, filterbank


class MelConverter(nn.Module):
    """The TTS model's log-mels ``(batch, frames, n_mels)`` -> a vocoder's features
    ``(batch, vocoder n_mels, frames)`` (channels first, as vocoders take them).

    With equal filterbanks only the log floor is re-applied. Otherwise magnitude mels are
    mapped with ``A = pinv(F_tts) @ F_vocoder`` (``F``: ``(freq, mels)`` filterbanks), the
    least-squares estimate of the vocoder's mel from ours (exact for spectra in the span
    of our filters), clamped at the vocoder's floor.

    Args:
        mel: the TTS model's settings.
        features: the vocoder's.

    Raises:
        ValueError: an analysis setting differs (see :func:`feature_mismatches`).
    """

    def __init__(self, mel: MelConfig, features: VocoderFeatures):
        super().__init__()
        analysis, filterbank = feature_mismatches(mel, features)
        if analysis:
            raise ValueError(f"cannot convert mels across analysis settings: {analysis}")
        self.mel, self.features = mel, features
        self.maps_filterbank = bool(filterbank)
        ours = VocoderFeatures.from_mel_config(mel).filterbank()
        matrix = (
            torch.linalg.pinv(ours) @ features.filterbank()
            if self.maps_filterbank
            else torch.eye(mel.n_mels)
        )
        self.register_buffer("matrix", matrix)  # (tts mels, vocoder mels)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        if log_mel.dim() == 2:
            log_mel = log_mel.unsqueeze(0)
        if log_mel.dim() != 3 or log_mel.shape[-1] != self.mel.n_mels:
            raise ValueError(
                f"expected log-mels (batch, frames, {self.mel.n_mels}), got {tuple(log_mel.shape)}"
            )
        magnitude = log_mel.float().exp()
        if self.maps_filterbank:
            magnitude = magnitude @ self.matrix.to(magnitude.device)
        floor = self.features.log_floor
        out = magnitude.clamp_min(0.0) if floor is None else magnitude.clamp_min(floor).log()
        return out.transpose(1, 2).contiguous()


class _NeuralVocoder(Vocoder):
    """Shared part of the pretrained-vocoder adapters: feature checks, conversion,
    output length (exactly ``frames * hop`` samples) and optional resampling."""

    def __init__(
        self,
        mel: MelConfig | None,
        features: VocoderFeatures,
        *,
        name: str,
        output_sample_rate: int | None,
        convert_filterbank: bool,
    ):
        super().__init__()
        self.mel = mel or MelConfig()
        self.features = features
        self.name = name
        analysis, filterbank = feature_mismatches(self.mel, features)
        refused = analysis + ([] if convert_filterbank else filterbank)
        if refused:
            raise ValueError(
                f"vocoder {name} was trained on mels with {'; '.join(refused)}. A vocoder "
                "only works on the features it was trained on. Fix: train the TTS model "
                f"with {features.matching_mel_config()} (resampling its training audio to "
                f"{features.sample_rate} Hz; `output_sample_rate` can resample the "
                "vocoded audio back for 16 kHz evaluators), or use a vocoder trained on "
                f"the TTS model's settings {self.mel}"
                + ("" if convert_filterbank else "; or allow convert_filterbank=True")
            )
        if filterbank:
            logger.warning(
                "vocoder %s uses another mel filterbank (%s): converting the TTS model's "
                "mels by least squares (approximate)",
                name,
                "; ".join(filterbank),
            )
        if not features.center:
            logger.warning(
                "vocoder %s frames its mels with 'same' padding, the TTS model with centred "
                "frames: the audio is offset by half a hop (%d samples)",
                name,
                features.hop_length // 2,
            )
        if output_sample_rate is not None and output_sample_rate < 1:
            raise ValueError(
                f"output_sample_rate must be a positive rate in Hz or None, got "
                f"{output_sample_rate}"
            )
        self.output_sample_rate = output_sample_rate
        self.converter = MelConverter(self.mel, features)

    @property
    def sample_rate(self) -> int:
        return self.output_sample_rate or self.mel.sample_rate

    def lengths(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames * self.mel.hop_length
        if self.output_sample_rate in (None, self.mel.sample_rate):
            return n
        return torch.ceil(n * self.output_sample_rate / self.mel.sample_rate).long()

    def _finish(self, wav: torch.Tensor, frames: int) -> torch.Tensor:
        """Trim/zero-pad ``(batch, samples)`` to ``frames * hop``, then resample."""
        n = frames * self.mel.hop_length
        wav = wav[..., :n]
        if wav.shape[-1] < n:
            wav = nn.functional.pad(wav, (0, n - wav.shape[-1]))
        if self.output_sample_rate not in (None, self.mel.sample_rate):
            wav = torchaudio.functional.resample(
                wav, self.mel.sample_rate, int(self.output_sample_rate)
            )
            wav = wav[..., : int(self.lengths(torch.tensor(frames)))]
        return wav

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "source": self.name,
            "features": self.features.to_json(),
            "filterbank_converted": self.converter.maps_filterbank,
            "output_sample_rate": self.sample_rate,
        }


# --------------------------------------------------------------------------------------
# Vocos


def _is_hub_name(source: str | os.PathLike) -> bool:
    """``owner/name`` that is not an existing local path: a Hugging Face hub repo."""
    return hub_owner(source) is not None


def _import_vocos() -> Any:
    try:
        import vocos
    except ImportError as err:
        raise ImportError(
            "VocosVocoder needs the `vocos` package, which audio-unlearn does not install: "
            f"pip install vocos ({err})"
        ) from None
    return vocos


def _vocos_files(source: str | os.PathLike) -> tuple[Path, Path | None]:
    """``(config.yaml, weights)`` of a local Vocos directory, or of a hub repo (fetched
    with huggingface_hub; weights None = let ``Vocos.from_pretrained`` fetch them)."""
    path = Path(source)
    if path.is_dir():
        config = path / "config.yaml"
        if not config.is_file():
            raise FileNotFoundError(
                f"Vocos directory {path} has no config.yaml; a Vocos model folder holds "
                "config.yaml and pytorch_model.bin (as on the Hugging Face hub, e.g. "
                "charactr/vocos-mel-24khz)"
            )
        weights = path / "pytorch_model.bin"
        if not weights.is_file():
            raise FileNotFoundError(
                f"Vocos directory {path} has no pytorch_model.bin (the weights); copy it "
                "beside config.yaml"
            )
        return config, weights
    if not _is_hub_name(source):
        raise FileNotFoundError(
            f"Vocos source {source} is neither a model directory nor a hub name "
            "('owner/name'); give the folder holding config.yaml and pytorch_model.bin"
        )
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=str(source), filename="config.yaml")), None


def _vocos_features(model: nn.Module, name: str) -> VocoderFeatures:
    extractor = model.feature_extractor
    spec = getattr(extractor, "mel_spec", None)
    if not isinstance(spec, torchaudio.transforms.MelSpectrogram):
        raise ValueError(
            f"Vocos model {name} does not take mel spectrograms (its feature extractor is "
            f"{type(extractor).__name__}); use a mel Vocos (MelSpectrogramFeatures)"
        )
    return VocoderFeatures(
        sample_rate=int(spec.sample_rate),
        n_fft=int(spec.n_fft),
        win_length=int(spec.win_length),
        hop_length=int(spec.hop_length),
        n_mels=int(spec.n_mels),
        f_min=float(spec.f_min),
        f_max=float(spec.mel_scale.f_max),
        mel_scale=str(spec.mel_scale.mel_scale),
        norm=spec.mel_scale.norm,
        power=float(spec.power),
        log_floor=1e-7,  # vocos.modules.safe_log
        center=getattr(extractor, "padding", "center") == "center",
    )


class VocosVocoder(_NeuralVocoder):
    """A pretrained mel Vocos (Siuzdak, ICLR 2024) behind :class:`Vocoder`.

    Vocos's mel front end (``vocos.feature_extractors.MelSpectrogramFeatures``) is
    torchaudio's ``MelSpectrogram`` with ``win_length = n_fft``, HTK mel scale without band
    normalisation, ``f_max = sample_rate / 2`` and ``log(max(mel, 1e-7))``. The published
    ``charactr/vocos-mel-24khz`` is 24 kHz, ``n_fft`` 1024, hop 256, 100 mels: it does not
    fit the paper's 16 kHz / hop 160 TTS front end; the error says which ``MelConfig``
    would (train the TTS with it, then ``output_sample_rate=16000`` resamples the audio
    for the 16 kHz evaluators). The filterbank difference (HTK vs Slaney) is converted
    (:class:`MelConverter`).

    Args:
        source: a local folder with ``config.yaml`` + ``pytorch_model.bin``, or a Hugging
            Face hub name (downloaded here, by this explicit call).
        mel: the TTS model's mel settings.
        output_sample_rate: resample the vocoded audio to this rate (None = the model's).
        convert_filterbank: map filterbank differences (else refuse them).
        trust_code: load a source outside charactr's hub repositories: ``from_hparams``
            instantiates every ``class_path`` of its ``config.yaml``
            (:mod:`audio_unlearn.models.trust`). Refused without it, before any loading.

    Raises:
        ImportError: the ``vocos`` package is not installed (``pip install vocos``).
        FileNotFoundError: a local folder lacks ``config.yaml`` or the weights.
        ValueError: the model's mel settings do not fit ``mel`` (names each setting and
            the fix), or it is not a mel Vocos.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        mel: MelConfig | None = None,
        *,
        output_sample_rate: int | None = None,
        convert_filterbank: bool = True,
        trust_code: bool = False,
    ):
        vocos = _import_vocos()
        config, weights = _vocos_files(source)  # a hub repo: config.yaml only, no code run
        check_loader_trust("vocos", source, trust_code=trust_code)
        import yaml

        with config.open(encoding="utf-8") as f:
            hparams = yaml.safe_load(f) or {}
        extractor = str((hparams.get("feature_extractor") or {}).get("class_path", ""))
        if not extractor.endswith("MelSpectrogramFeatures"):
            raise ValueError(
                f"Vocos model {source} does not take mel spectrograms (feature_extractor "
                f"{extractor or 'missing'} in {config}); use a mel Vocos "
                "(vocos.feature_extractors.MelSpectrogramFeatures)"
            )
        if weights is None:
            model = vocos.Vocos.from_pretrained(str(source))
        else:
            model = vocos.Vocos.from_hparams(str(config))
            state = torch.load(weights, map_location="cpu", weights_only=True)
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(
                    f"{weights} does not fit the model of {config} ({err}); the two files "
                    "come from different Vocos models"
                ) from None
        model.eval()
        features = _vocos_features(model, str(source))
        head_hop = getattr(getattr(model.head, "istft", None), "hop_length", features.hop_length)
        if head_hop != features.hop_length:
            raise ValueError(
                f"Vocos model {source}: its head hops {head_hop} samples but its features "
                f"{features.hop_length}; the config is inconsistent"
            )
        super().__init__(
            mel,
            features,
            name=str(source),
            output_sample_rate=output_sample_rate,
            convert_filterbank=convert_filterbank,
        )
        self.model = model

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        device = self.converter.matrix.device
        features = self.converter(mel.to(device))
        wav = self.model.decode(features).clone()  # decode runs in inference mode
        return self._finish(wav, mel.shape[1])


# --------------------------------------------------------------------------------------
# SpeechBrain HiFi-GAN


def _hparam(hparams: dict[str, Any], *names: str) -> Any:
    for n in names:
        if hparams.get(n) is not None:
            return hparams[n]
    return None


class HiFiGANVocoder(_NeuralVocoder):
    """A SpeechBrain HiFi-GAN (Kong et al., NeurIPS 2020) behind :class:`Vocoder`.

    Loads ``speechbrain.inference.vocoders.HIFIGAN.from_hparams(source=...)``: a folder
    (or hub repo) with ``hyperparams.yaml`` (a ``generator`` =
    ``speechbrain.lobes.models.HifiGAN.HifiganGenerator``, ``modules`` and a
    ``pretrainer`` whose loadable ``generator`` is ``generator.ckpt``), as
    ``speechbrain/tts-hifigan-libritts-16kHz`` ships it.

    Mel conventions of SpeechBrain's HiFi-GAN recipes (``recipes/LibriTTS/vocoder/hifigan``,
    ``speechbrain.lobes.models.HifiGAN.mel_spectogram``): torchaudio ``MelSpectrogram``
    of magnitudes (``power`` 1), Slaney scale and norm, 80 mels, 0-8 kHz, then
    ``log(clamp(mel, min=1e-5))`` (``dynamic_range_compression``): the same as
    :class:`~audio_unlearn.models.tts.mel.MelFrontEnd`. The published 16 kHz LibriTTS
    model, however, uses ``n_fft`` 1024, window 1024 and hop 256 (its generator upsamples
    by 8*8*2*2 = 256), not the paper's 640 / 160: it needs a TTS trained with
    ``MelConfig(win_length=1024, hop_length=256)``, and says so when refused.

    The inference ``hyperparams.yaml`` usually does not state the analysis settings. The
    hop (product of the generator's upsampling strides) and the number of mels (its
    input channels) are read from the generator; ``sample_rate``, ``n_fft``,
    ``win_length``, ``hop_length``, ``n_mel_channels``, ``mel_fmin``, ``mel_fmax``,
    ``norm``, ``mel_scale``, ``power`` and ``dynamic_range_compression`` are read from
    the YAML when present (the training recipe's names); the rest are assumed equal to the
    TTS model's (logged), unless ``features`` gives them.

    SpeechBrain's ``inference`` pads ``inference_padding`` frames on both sides and
    returns them; this adapter cuts them off, so ``T`` frames give exactly ``T * hop``
    samples aligned with the mels.

    Args:
        source: folder (or SpeechBrain hub name) with ``hyperparams.yaml`` and
            ``generator.ckpt``.
        mel: the TTS model's mel settings.
        features: the vocoder's features, when the YAML does not state them.
        output_sample_rate: resample the vocoded audio to this rate (None = the model's).
        convert_filterbank: map filterbank differences (else refuse them).
        savedir: where SpeechBrain links/copies the fetched files (None = none for a local
            folder, the Hugging Face cache for a hub name).
        trust_code: load a source outside SpeechBrain's hub repositories (a local folder,
            another publisher): its ``hyperparams.yaml`` runs the code it names
            (:mod:`audio_unlearn.models.trust`). Refused without it, before any loading.

    Raises:
        FileNotFoundError: a local ``source`` without ``hyperparams.yaml``.
        ValueError: the vocoder's mel settings do not fit ``mel`` (names each setting and
            the fix), or ``features`` contradicts the generator.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        mel: MelConfig | None = None,
        *,
        features: VocoderFeatures | None = None,
        output_sample_rate: int | None = None,
        convert_filterbank: bool = True,
        savedir: str | os.PathLike | None = None,
        trust_code: bool = False,
    ):
        mel = mel or MelConfig()
        path = Path(source)
        if not _is_hub_name(source) and not (path / "hyperparams.yaml").is_file():
            raise FileNotFoundError(
                f"HiFi-GAN source {path} has no hyperparams.yaml; give the folder of a "
                "SpeechBrain HiFi-GAN (hyperparams.yaml + generator.ckpt, as "
                "speechbrain/tts-hifigan-libritts-16kHz ships them)"
            )
        check_loader_trust("hifigan", source, trust_code=trust_code)
        from speechbrain.inference.vocoders import HIFIGAN

        interface = HIFIGAN.from_hparams(
            source=str(source),
            savedir=None if savedir is None else str(savedir),
            run_opts={"device": "cpu"},
        )
        generator = interface.hparams.generator
        generator.remove_weight_norm()  # what HIFIGAN.decode_batch does on its first call
        interface.first_call = False
        generator.eval()
        hop = math.prod(int(up.conv.stride[0]) for up in generator.ups)
        n_mels = int(generator.conv_pre.conv.in_channels)
        hparams = dict(vars(interface.hparams))
        if features is None:
            features = self._features_from_hparams(hparams, mel, hop, n_mels, str(source))
        elif (features.hop_length, features.n_mels) != (hop, n_mels):
            raise ValueError(
                f"features say hop_length {features.hop_length} / n_mels {features.n_mels}, "
                f"but the generator of {source} upsamples by {hop} and takes {n_mels} mels"
            )
        super().__init__(
            mel,
            features,
            name=str(source),
            output_sample_rate=output_sample_rate,
            convert_filterbank=convert_filterbank,
        )
        self.generator = generator
        self.inference_padding = int(getattr(generator, "inference_padding", 0))

    @staticmethod
    def _features_from_hparams(
        hparams: dict[str, Any], mel: MelConfig, hop: int, n_mels: int, source: str
    ) -> VocoderFeatures:
        stated_hop = _hparam(hparams, "hop_length")
        if stated_hop is not None and int(stated_hop) != hop:
            raise ValueError(
                f"hyperparams.yaml of {source} says hop_length {stated_hop} but its "
                f"generator upsamples by {hop}; the file is inconsistent"
            )
        read = {
            "sample_rate": _hparam(hparams, "sample_rate"),
            "n_fft": _hparam(hparams, "n_fft"),
            "win_length": _hparam(hparams, "win_length"),
            "f_min": _hparam(hparams, "mel_fmin", "f_min"),
            "f_max": _hparam(hparams, "mel_fmax", "f_max"),
            "mel_scale": _hparam(hparams, "mel_scale"),
            "power": _hparam(hparams, "power"),
        }
        assumed_from_tts = {
            "sample_rate": mel.sample_rate,
            "n_fft": mel.n_fft,
            "win_length": mel.win_length,
            "f_min": mel.f_min,
            "f_max": mel.f_max,
            "mel_scale": "slaney",
            "power": 1.0,
        }
        assumed = sorted(k for k, v in read.items() if v is None)
        if assumed:
            logger.warning(
                "hyperparams.yaml of %s does not state %s: assuming the TTS model's values "
                "(SpeechBrain's LibriTTS recipe: n_fft 1024, win_length 1024, Slaney, "
                "power 1); pass features=VocoderFeatures(...) if the vocoder differs",
                source,
                ", ".join(assumed),
            )
        values = {k: (assumed_from_tts[k] if v is None else v) for k, v in read.items()}
        compression = hparams.get("dynamic_range_compression", True)
        return VocoderFeatures(
            sample_rate=int(values["sample_rate"]),
            n_fft=int(values["n_fft"]),
            win_length=int(values["win_length"]),
            hop_length=hop,
            n_mels=n_mels,
            f_min=float(values["f_min"]),
            f_max=float(values["f_max"]),
            mel_scale=str(values["mel_scale"]),
            norm=hparams.get("norm", "slaney"),  # null in the YAML = no band normalisation
            power=float(values["power"]),
            log_floor=1e-5 if compression else None,
        )

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        device = self.converter.matrix.device
        features = self.converter(mel.to(device))
        wav = self.generator.inference(features).squeeze(1)  # (B, (T + 2 pad) * hop)
        start = self.inference_padding * self.features.hop_length
        return self._finish(wav[:, start:], mel.shape[1])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "inference_padding_frames": self.inference_padding}


# --------------------------------------------------------------------------------------


def get_vocoder(spec: str, mel: MelConfig | None = None, **kwargs: Any) -> Vocoder:
    """Build a vocoder from a spec string.

    Args:
        spec: ``"griffin_lim"``, ``"vocos:<local dir or hub name>"`` or
            ``"hifigan:<local dir or hub name>"``.
        mel: the TTS model's mel settings.
        **kwargs: options of the vocoder class (e.g. ``n_iter`` for Griffin-Lim,
            ``output_sample_rate`` for the neural ones); ``trust_code`` reaches only the
            neural ones (:mod:`audio_unlearn.models.trust`).

    Raises:
        ValueError: an unknown spec (lists the known forms) or an empty source.
    """
    kind, sep, source = spec.partition(":")
    kind = kind.strip().lower()
    trust_code = bool(kwargs.pop("trust_code", False))
    if kind == "griffin_lim" and not sep:
        return GriffinLimVocoder(mel, **kwargs)
    if kind in ("vocos", "hifigan") and sep:
        if not source.strip():
            raise ValueError(f"vocoder spec {spec!r} names no model; write {kind}:<path>")
        cls = VocosVocoder if kind == "vocos" else HiFiGANVocoder
        return cls(source.strip(), mel, trust_code=trust_code, **kwargs)
    raise ValueError(f"unknown vocoder spec {spec!r}; use one of {list(VOCODER_SPECS)}")
