"""Hugging Face speech encoders with the UnSLU-BENCH classification head.

UnSLU-BENCH (Koudounas et al., "Alexa, can you forget me? Machine Unlearning Benchmark in
Spoken Language Understanding", Interspeech 2025, arXiv 2505.15700) fine-tunes
``AutoModelForAudioClassification`` heads on self-supervised speech encoders:
``facebook/wav2vec2-base``, ``facebook/hubert-base-ls960``, ``facebook/wav2vec2-xls-r-300m``
and the per-language ``jonatasgrosman/wav2vec2-large-xlsr-53-*``. The head projects every
frame to ``classifier_proj_size`` (256), mean-pools over time and applies a linear
classifier. :class:`HFAudioClassifier` wraps that head, plus WavLM (same architecture) and
the Whisper encoder (``WhisperForAudioClassification``: the same projector / mean pooling /
linear head on the encoder of a Whisper checkpoint), behind the library's classifier
interface: waveforms ``(batch, samples)`` at 16 kHz in, logits out.

The feature extractor's work is done in torch inside ``forward`` so that gradients reach
the waveform (UNSIR learns waveform noise) and no numpy round trip happens per batch:

- wav2vec2 / HuBERT / WavLM / XLS-R: zero-mean unit-variance normalisation per utterance
  when the checkpoint's extractor says ``do_normalize``; when it returns attention masks
  (layer-norm models: large, XLS-R, WavLM) the statistics use the unpadded samples only and
  the padding stays zero, exactly as ``Wav2Vec2FeatureExtractor`` does;
- Whisper: the log-mel spectrogram of ``WhisperFeatureExtractor`` (Hann STFT, Slaney mel
  filters, ``log10``, dynamic range clipped to 8, ``(x + 4) / 4``), audio padded to the
  encoder's window (30 s for the released models).

Audio is padded / truncated to ``max_seconds`` (10 s in UnSLU-BENCH) first.

Downloads: ``pretrained`` (a hub name or a local directory) is read with
``from_pretrained`` in ``__init__`` and nowhere else; that is where the hub is contacted.
Offline users pass a local directory written by ``save_pretrained``. A checkpoint written
by :func:`audio_unlearn.models.save_classifier` stores the encoder's Hugging Face config
(``hf_config``) and the resolved feature-extractor settings, so
:func:`audio_unlearn.models.load_classifier` rebuilds the architecture with
``from_config`` and loads the saved weights without the original path or the network.

Model licences: wav2vec2 / HuBERT / XLS-R / WavLM checkpoints by Meta and Microsoft are
Apache-2.0 or MIT (see each model card); Whisper (OpenAI) is MIT.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["HF_FAMILIES", "HFAudioClassifier", "HFAudioClassifierConfig", "whisper_log_mel"]

logger = logging.getLogger(__name__)

#: family name -> Hugging Face ``model_type`` it accepts ("xls-r" is the wav2vec2 architecture).
HF_FAMILIES: dict[str, str] = {
    "wav2vec2": "wav2vec2",
    "xls-r": "wav2vec2",
    "hubert": "hubert",
    "wavlm": "wavlm",
    "whisper_encoder": "whisper",
}
_FAMILY_OF_TYPE = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm"}
_FAMILY_OF_TYPE["whisper"] = "whisper_encoder"


@dataclass(frozen=True)
class HFAudioClassifierConfig:
    """Settings of :class:`HFAudioClassifier` (saved with every checkpoint).

    Attributes:
        num_classes: number of output classes.
        pretrained: hub name (``facebook/wav2vec2-base``) or local ``save_pretrained``
            directory the encoder is loaded from (only when ``hf_config`` is not given).
        family: ``wav2vec2``, ``hubert``, ``wavlm``, ``xls-r`` (the wav2vec2 architecture)
            or ``whisper_encoder``; ``None`` detects it from the checkpoint's ``model_type``.
        classifier_proj_size: width of the projector before mean pooling (UnSLU-BENCH: 256).
        max_seconds: audio is padded / truncated to this many seconds (UnSLU-BENCH: 10).
        sample_rate: input sampling rate, Hz (the encoders expect 16 kHz).
        hf_config: the encoder's Hugging Face config as a dict (``config.to_dict()``);
            filled in when ``pretrained`` is loaded. When given, the architecture is built
            from it with ``from_config`` (random weights, no download): this is how a
            checkpoint is rebuilt before its weights are loaded.
        feature_extractor: the preprocessing settings read from the checkpoint's feature
            extractor (``do_normalize`` / ``return_attention_mask`` for wav2vec2-family,
            ``feature_size`` / ``n_fft`` / ``hop_length`` / ``n_samples`` for Whisper);
            ``None`` reads them at load time (family defaults when the checkpoint has no
            ``preprocessor_config.json``).
    """

    num_classes: int
    pretrained: str | None = None
    family: str | None = None
    classifier_proj_size: int = 256
    max_seconds: float = 10.0
    sample_rate: int = 16_000
    hf_config: dict[str, Any] | None = None
    feature_extractor: dict[str, Any] | None = None

    def __post_init__(self):
        if self.pretrained is None and self.hf_config is None:
            raise ValueError(
                "HFAudioClassifierConfig needs `pretrained` (a hub name such as "
                "facebook/wav2vec2-base, or a local save_pretrained directory)"
            )
        if self.family is not None and self.family not in HF_FAMILIES:
            raise ValueError(
                f"unknown family {self.family!r}; choose one of {sorted(HF_FAMILIES)} "
                "or leave it out to detect it from the checkpoint"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")


def _check_family(family: str | None, model_type: str, where: str) -> str:
    detected = _FAMILY_OF_TYPE.get(model_type)
    if detected is None:
        raise ValueError(
            f"{where}: model_type {model_type!r} is not supported; supported: "
            f"{sorted(_FAMILY_OF_TYPE)} (families {sorted(HF_FAMILIES)})"
        )
    if family is None:
        return detected
    if HF_FAMILIES[family] != model_type:
        raise ValueError(
            f"{where}: family {family!r} expects model_type {HF_FAMILIES[family]!r}, but the "
            f"checkpoint is {model_type!r}; drop `family` to detect it"
        )
    return family


def _json_safe(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON types only (checkpoints load with ``torch.load(weights_only=True)``)."""
    return json.loads(json.dumps(config_dict, default=str))


def _read_feature_extractor(pretrained: str, family: str, hf_config) -> dict[str, Any]:
    from transformers import AutoFeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(pretrained)
    except (OSError, ValueError) as err:
        extractor = None
        logger.warning(
            "%s has no usable feature-extractor config (%s); using the %s defaults",
            pretrained,
            err,
            family,
        )
    if family == "whisper_encoder":
        window = hf_config.max_source_positions * 2  # conv2 has stride 2
        if extractor is None:
            return {"feature_size": hf_config.num_mel_bins, "n_fft": 400, "hop_length": 160}
        return {
            "feature_size": int(extractor.feature_size),
            "n_fft": int(extractor.n_fft),
            "hop_length": int(extractor.hop_length),
            "n_frames": int(window),
        }
    if extractor is None:
        # wav2vec2-base style (group norm): no mask; layer-norm models: masks
        return {
            "do_normalize": True,
            "return_attention_mask": getattr(hf_config, "feat_extract_norm", "group") == "layer",
        }
    return {
        "do_normalize": bool(getattr(extractor, "do_normalize", True)),
        "return_attention_mask": bool(getattr(extractor, "return_attention_mask", False)),
    }


def whisper_log_mel(
    wav: torch.Tensor, mel_filters: torch.Tensor, *, n_fft: int = 400, hop_length: int = 160
) -> torch.Tensor:
    """Whisper's log-mel features in torch (differentiable), per utterance.

    The computation of ``WhisperFeatureExtractor`` (Radford et al., "Robust Speech
    Recognition via Large-Scale Weak Supervision", 2022): Hann-window STFT, power
    spectrum without the last frame, Slaney mel filters, ``log10`` clamped at ``1e-10``,
    values below ``max - 8`` raised to it (max per utterance), then ``(x + 4) / 4``.

    Args:
        wav: waveforms ``(batch, samples)`` already padded to the encoder's window.
        mel_filters: ``(n_fft // 2 + 1, n_mels)`` filter bank.
        n_fft: STFT size.
        hop_length: STFT hop.

    Returns:
        ``(batch, n_mels, samples // hop_length)``.
    """
    window = torch.hann_window(n_fft, device=wav.device, dtype=torch.float32)
    stft = torch.stft(wav.float(), n_fft, hop_length, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    mel = mel_filters.to(power.dtype).T @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0


class HFAudioClassifier(nn.Module):
    """A Hugging Face speech encoder + projector (256) + mean pooling + linear classifier.

    ``AutoModelForAudioClassification`` (``Wav2Vec2ForSequenceClassification``,
    ``HubertForSequenceClassification``, ``WavLMForSequenceClassification``,
    ``WhisperForAudioClassification``), the head of UnSLU-BENCH (Koudounas et al.,
    Interspeech 2025). With ``config.pretrained`` the encoder weights come from that hub
    name or directory (the head is freshly initialised); with ``config.hf_config`` the
    architecture is built without weights (they come from a checkpoint).

    Input: waveforms ``(batch, samples)`` at 16 kHz, any length (padded / truncated to
    ``max_seconds``). Output: logits ``(batch, num_classes)``.

    Attention masks: layer-norm wav2vec2-family models (the ones whose feature extractor
    returns masks) get a mask from each utterance's length: ``lengths`` if given, else the
    position after its last non-zero sample (the data module pads with exact zeros).
    Group-norm models (wav2vec2-base, HuBERT-base) and Whisper take no mask, like their
    feature extractors.

    Raises:
        ValueError: an unsupported architecture, a family that does not match the
            checkpoint, or ``max_seconds`` longer than a Whisper encoder's window.
    """

    def __init__(self, config: HFAudioClassifierConfig):
        super().__init__()
        from transformers import AutoConfig, AutoModelForAudioClassification

        if config.hf_config is not None:
            where = "hf_config"
            values = dict(config.hf_config)
            model_type = values.pop("model_type", None)
            if model_type is None:
                raise ValueError("hf_config has no model_type; it must come from config.to_dict()")
            hf_config = AutoConfig.for_model(model_type, **values)
            family = _check_family(config.family, model_type, where)
            hf_config.num_labels = config.num_classes
            hf_config.classifier_proj_size = config.classifier_proj_size
            self.net = AutoModelForAudioClassification.from_config(hf_config)
            extractor = config.feature_extractor
            if extractor is None:
                extractor = _read_feature_extractor(config.pretrained or "", family, hf_config)
        else:
            where = str(config.pretrained)
            hf_config = AutoConfig.from_pretrained(config.pretrained)
            family = _check_family(config.family, hf_config.model_type, where)
            hf_config.num_labels = config.num_classes
            hf_config.classifier_proj_size = config.classifier_proj_size
            self.net = AutoModelForAudioClassification.from_pretrained(
                config.pretrained, config=hf_config, dtype=torch.float32
            )
            extractor = config.feature_extractor or _read_feature_extractor(
                config.pretrained, family, hf_config
            )
        self.family = family
        self.num_samples = round(config.max_seconds * config.sample_rate)
        if family == "whisper_encoder":
            from transformers.audio_utils import mel_filter_bank

            n_frames = extractor.get("n_frames", self.net.config.max_source_positions * 2)
            extractor = {**extractor, "n_frames": int(n_frames)}
            self.window_samples = int(n_frames) * int(extractor["hop_length"])
            if self.num_samples > self.window_samples:
                raise ValueError(
                    f"{where}: max_seconds={config.max_seconds} exceeds the Whisper encoder's "
                    f"window of {self.window_samples / config.sample_rate:g} s; lower max_seconds"
                )
            filters = mel_filter_bank(
                num_frequency_bins=1 + int(extractor["n_fft"]) // 2,
                num_mel_filters=int(extractor["feature_size"]),
                min_frequency=0.0,
                max_frequency=8000.0,
                sampling_rate=config.sample_rate,
                norm="slaney",
                mel_scale="slaney",
            )
            self.register_buffer(
                "mel_filters", torch.tensor(filters, dtype=torch.float32), persistent=False
            )
        self.config = dataclasses.replace(
            config,
            family=family,
            hf_config=_json_safe(self.net.config.to_dict()),
            feature_extractor=dict(extractor),
        )

    # -- preprocessing ------------------------------------------------------------------
    @property
    def uses_attention_mask(self) -> bool:
        return self.family != "whisper_encoder" and bool(
            self.config.feature_extractor.get("return_attention_mask", False)
        )

    def fix_length(self, wav: torch.Tensor) -> torch.Tensor:
        """Pad with zeros / truncate ``(batch, samples)`` to ``max_seconds``."""
        if wav.shape[-1] >= self.num_samples:
            return wav[..., : self.num_samples]
        return nn.functional.pad(wav, (0, self.num_samples - wav.shape[-1]))

    @staticmethod
    def infer_lengths(wav: torch.Tensor) -> torch.Tensor:
        """Samples up to and including the last non-zero one, ``(batch,)`` (all-zero: full)."""
        nonzero = wav != 0
        last = wav.shape[-1] - nonzero.flip(-1).int().argmax(dim=-1)
        return torch.where(nonzero.any(dim=-1), last, torch.full_like(last, wav.shape[-1]))

    def wav2vec2_inputs(
        self, wav: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalised input values and (if the model takes one) the sample attention mask."""
        wav = self.fix_length(wav.float())
        mask = None
        if self.uses_attention_mask:
            if lengths is None:
                lengths = self.infer_lengths(wav)
            lengths = lengths.to(wav.device).clamp(1, wav.shape[-1])
            positions = torch.arange(wav.shape[-1], device=wav.device)
            mask = (positions.unsqueeze(0) < lengths.unsqueeze(1)).long()
        if self.config.feature_extractor.get("do_normalize", True):
            if mask is None:
                mean = wav.mean(dim=-1, keepdim=True)
                var = wav.var(dim=-1, unbiased=False, keepdim=True)
                wav = (wav - mean) / torch.sqrt(var + 1e-7)
            else:
                m = mask.to(wav.dtype)
                n = m.sum(dim=-1, keepdim=True)
                mean = (wav * m).sum(dim=-1, keepdim=True) / n
                var = (((wav - mean) * m) ** 2).sum(dim=-1, keepdim=True) / n
                wav = (wav - mean) / torch.sqrt(var + 1e-7) * m
        return wav, mask

    def whisper_inputs(self, wav: torch.Tensor) -> torch.Tensor:
        """Log-mel features ``(batch, n_mels, frames)`` of the padded waveform."""
        wav = self.fix_length(wav.float())
        wav = nn.functional.pad(wav, (0, self.window_samples - wav.shape[-1]))
        fe = self.config.feature_extractor
        return whisper_log_mel(
            wav, self.mel_filters, n_fft=int(fe["n_fft"]), hop_length=int(fe["hop_length"])
        )

    # -- model --------------------------------------------------------------------------
    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, num_classes)`` of waveforms ``(batch, samples)``.

        Args:
            wav: 16 kHz waveforms, zero-padded.
            lengths: true lengths in samples ``(batch,)``, for models that take attention
                masks; inferred from the trailing zeros when omitted.
        """
        if self.family == "whisper_encoder":
            return self.net(input_features=self.whisper_inputs(wav)).logits
        values, mask = self.wav2vec2_inputs(wav, lengths)
        return self.net(input_values=values, attention_mask=mask).logits

    def layer_groups(self) -> list[nn.Module]:
        """Trainable groups from input to output, for CF-k.

        wav2vec2-family: the convolutional feature encoder with the feature projection and
        positional convolution (and the encoder's input layer norm for post-norm models),
        then each transformer layer, then the head (the final layer norm of pre-norm
        "stable layer norm" models, projector and classifier). Whisper: the two input
        convolutions with the positional embedding, each encoder layer, then the final
        layer norm, projector and classifier. Parameters outside these groups (the
        SpecAugment mask embedding, the optional layer-sum weights) are left to the method.
        """
        net = self.net
        if self.family == "whisper_encoder":
            enc = net.encoder
            front = [enc.conv1, enc.conv2, enc.embed_positions]
            head = [enc.layer_norm, net.projector, net.classifier]
            return [nn.ModuleList(front), *enc.layers, nn.ModuleList(head)]
        base = net.base_model
        enc = base.encoder
        front = [base.feature_extractor, base.feature_projection, enc.pos_conv_embed]
        head = [net.projector, net.classifier]
        if getattr(net.config, "do_stable_layer_norm", False):
            head.insert(0, enc.layer_norm)
        else:
            front.append(enc.layer_norm)
        return [nn.ModuleList(front), *enc.layers, nn.ModuleList(head)]

    def hparams_dict(self) -> dict:
        return dataclasses.asdict(self.config)
