"""Speaker embeddings and speaker similarity (SIM, SIM-o, SIM-r).

One interface, :class:`SpeakerEncoder` (``embed(wavs) -> (N, D)`` and ``describe()``), with
four backends:

- :class:`ResemblyzerEncoder`: the GE2E LSTM d-vector of Resemblyzer (Wan et al., "Generalized
  End-to-End Loss for Speaker Verification", ICASSP 2018); its wheel ships the weights, so it
  is the offline default. Apache-2.0.
- :class:`SpeechBrainECAPAEncoder`: SpeechBrain's ECAPA-TDNN (Desplanques et al., Interspeech
  2020), ``speechbrain/spkrec-ecapa-voxceleb`` or any local directory with the same layout.
  Apache-2.0.
- :class:`WavLMXVectorEncoder`: transformers ``WavLMForXVector`` (Chen et al., "WavLM", IEEE
  JSTSP 2022), ``microsoft/wavlm-base-plus-sv`` or a local directory.
- :class:`WavLMLargeECAPAEncoder`: UniSpeech's ``wavlm_large_finetune.pth`` (WavLM-Large +
  ECAPA-TDNN), the SIM model of zero-shot TTS papers (seed-tts-eval, F5-TTS), loaded from a
  local file into transformers' ``WavLMModel`` and this library's :class:`WavLMECAPAHead`
  (:func:`convert_unispeech_state_dict` maps the keys). MIT.

Pure functions first: :func:`speaker_similarity` (cosine), :func:`sim_o` and :func:`sim_r`
(the two SIM variants of VoiceBox, Le et al. 2023, used by the TGU paper, Kim et al.,
"Do Not Mimic My Voice", ICML 2025). Then batching:
:func:`~audio_unlearn.evaluation.batching.length_batches` groups utterances of similar
length; :class:`EmbeddingCache` stores embeddings on disk keyed by the file's content hash
and the encoder's description.

Model weights are never fetched in ``__init__``: a backend loads its model on the first
:meth:`SpeakerEncoder.embed` call or an explicit :meth:`SpeakerEncoder.load`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audio_unlearn.evaluation.batching import length_batches

from ..models.speaker import (
    UNISPEECH_UPSTREAM_PREFIX,
    WavLMECAPAHead,
    check_state,
    convert_unispeech_state_dict,
    head_checkpoint_name,
)

__all__ = [
    "EmbeddingCache",
    "ResemblyzerEncoder",
    "SpeakerEncoder",
    "SpeechBrainECAPAEncoder",
    "WavLMECAPAHead",
    "WavLMLargeECAPAEncoder",
    "WavLMXVectorEncoder",
    "convert_unispeech_state_dict",
    "embed_files",
    "get_speaker_encoder",
    "length_buckets",
    "sim_o",
    "sim_r",
    "speaker_similarity",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- pure functions


def _as_embeddings(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or array of embeddings, got {type(x).__name__}")
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (D,) or (N, D), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf; embed the audio again or drop the item")
    return x.to(torch.float64)


def speaker_similarity(a: Any, b: Any) -> torch.Tensor:
    """Cosine similarity of speaker embeddings, row by row.

    Args:
        a: Embeddings, shape ``(D,)`` or ``(N, D)``.
        b: Embeddings, same shape as ``a`` (or ``(D,)``, broadcast against every row of
            ``a``).

    Returns:
        Cosine similarities in ``[-1, 1]``: a 0-d tensor for two vectors, else shape
        ``(N,)`` (float64).

    Raises:
        ValueError: On shape mismatch, NaN/inf, or a zero-norm embedding.
    """
    ea = _as_embeddings(a, "a")
    eb = _as_embeddings(b, "b")
    if ea.shape[-1] != eb.shape[-1]:
        raise ValueError(f"embedding sizes differ: a has D={ea.shape[-1]}, b has D={eb.shape[-1]}")
    if ea.ndim == 2 and eb.ndim == 2 and ea.shape[0] != eb.shape[0]:
        raise ValueError(
            f"a has {ea.shape[0]} rows and b has {eb.shape[0]}; pass paired rows (same N)"
        )
    for name, e in (("a", ea), ("b", eb)):
        norms = e.norm(dim=-1)
        if (norms == 0).any():
            index = int(torch.nonzero(norms.reshape(-1) == 0)[0])
            raise ValueError(f"{name} has a zero-norm embedding at row {index}; cosine undefined")
    ea, eb = torch.broadcast_tensors(ea, eb)
    return (F.normalize(ea, dim=-1) * F.normalize(eb, dim=-1)).sum(-1).clamp(-1.0, 1.0)


def sim_o(generated: Any, prompt: Any) -> torch.Tensor:
    """SIM-o: similarity of generated speech to the *original* prompt audio.

    As defined by VoiceBox (Le et al., NeurIPS 2023) and used by the TGU paper (Kim et al.,
    ICML 2025): the cosine between the speaker embedding of each generated utterance and
    the embedding of the prompt (audio context) recording it was conditioned on, as
    recorded (not passed through the vocoder).

    Args:
        generated: Embeddings of generated utterances, ``(N, D)``.
        prompt: Embeddings of the original prompt recordings, ``(N, D)``, paired by row.

    Returns:
        Per-item SIM-o, shape ``(N,)``; report its mean.
    """
    return speaker_similarity(generated, prompt)


def sim_r(generated: Any, resynthesized_prompt: Any) -> torch.Tensor:
    """SIM-r: similarity of generated speech to the *vocoder-resynthesised* prompt.

    VoiceBox's second variant (Le et al., NeurIPS 2023; TGU, Kim et al., ICML 2025): the
    reference is the prompt's mel spectrogram passed through the same vocoder that renders
    the generated speech, so vocoder artefacts common to both do not lower the score.
    SIM-r >= SIM-o is typical.

    Args:
        generated: Embeddings of generated utterances, ``(N, D)``.
        resynthesized_prompt: Embeddings of vocoder(mel(prompt)), ``(N, D)``, paired by row.

    Returns:
        Per-item SIM-r, shape ``(N,)``.
    """
    return speaker_similarity(generated, resynthesized_prompt)


def length_buckets(
    lengths: Sequence[int], *, batch_size: int, max_padding: int = 0
) -> list[list[int]]:
    """Shortest-first batches of at most ``batch_size`` items whose lengths differ by at
    most ``max_padding`` samples (a thin alias).

    Same as :func:`audio_unlearn.evaluation.batching.length_batches` with
    ``max_batch_size=batch_size`` and ``longest_first=False``; kept so that existing
    callers keep working.
    """
    return length_batches(
        lengths, max_batch_size=batch_size, max_padding=max_padding, longest_first=False
    )


# --------------------------------------------------------------------------- interface


def _prepare_wavs(wavs: Sequence[Any], sample_rate: int, target_rate: int) -> list[torch.Tensor]:
    if isinstance(wavs, torch.Tensor | np.ndarray):
        raise ValueError("wavs must be a list of 1-D waveforms (one per utterance), not one array")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    out = []
    for i, wav in enumerate(wavs):
        if isinstance(wav, np.ndarray):
            wav = torch.from_numpy(np.ascontiguousarray(wav))
        if not isinstance(wav, torch.Tensor):
            raise ValueError(f"wavs[{i}] must be a tensor or array, got {type(wav).__name__}")
        wav = wav.detach().to("cpu", torch.float32)
        if wav.ndim == 2 and 1 in wav.shape:
            wav = wav.reshape(-1)
        if wav.ndim != 1:
            raise ValueError(f"wavs[{i}] must be mono 1-D audio, got shape {tuple(wav.shape)}")
        if wav.numel() == 0:
            raise ValueError(f"wavs[{i}] is empty; drop it from the list")
        if not torch.isfinite(wav).all():
            raise ValueError(f"wavs[{i}] holds NaN or inf samples")
        if sample_rate != target_rate:
            wav = torchaudio.functional.resample(wav, sample_rate, target_rate)
        out.append(wav)
    return out


class SpeakerEncoder(ABC):
    """A speaker-embedding model behind one interface.

    Subclasses implement :meth:`_load` (build the model) and :meth:`_embed_batch` (embed a
    list of waveforms at :attr:`sample_rate`); this class validates and resamples the input
    and loads the model lazily.
    """

    #: Sample rate the model expects; inputs at another rate are resampled.
    sample_rate: int = 16_000

    def __init__(self) -> None:
        self._model: Any = None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (backend, model, settings): goes into results and
        into the embedding-cache key, so two encoders with equal descriptions must give
        equal embeddings."""

    @abstractmethod
    def _load(self) -> Any: ...

    @abstractmethod
    def _embed_batch(self, wavs: list[torch.Tensor]) -> torch.Tensor: ...

    def load(self) -> SpeakerEncoder:
        """Load (and, for a hub name, download) the model now; returns ``self``."""
        if self._model is None:
            self._model = self._load()
        return self

    @torch.inference_mode()
    def embed(self, wavs: Sequence[Any], sample_rate: int = 16_000) -> torch.Tensor:
        """Embed utterances.

        Args:
            wavs: Mono waveforms, each a 1-D tensor/array of float samples in [-1, 1].
            sample_rate: Rate of ``wavs`` in Hz (resampled to :attr:`sample_rate`).

        Returns:
            Embeddings, shape ``(N, D)``, float32, in the order of ``wavs``.
        """
        prepared = _prepare_wavs(wavs, sample_rate, self.sample_rate)
        if not prepared:
            raise ValueError("wavs is empty; pass at least one waveform")
        self.load()
        out = self._embed_batch(prepared)
        return out.to(torch.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.describe(), sort_keys=True)})"


def _check_batching(batch_size: int, max_padding_s: float) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(max_padding_s, int | float) or max_padding_s < 0:
        raise ValueError(f"max_padding_s must be >= 0 seconds, got {max_padding_s!r}")


def _pad_batch(wavs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([w.numel() for w in wavs])
    batch = torch.zeros(len(wavs), int(lengths.max()))
    for row, wav in enumerate(wavs):
        batch[row, : wav.numel()] = wav
    return batch, lengths


# --------------------------------------------------------------------------- Resemblyzer


class ResemblyzerEncoder(SpeakerEncoder):
    """Resemblyzer's GE2E d-vector (256-D), batched across files.

    Same result as Resemblyzer's ``preprocess_wav`` + ``VoiceEncoder.embed_utterance``
    (volume normalisation to -30 dBFS, WebRTC-VAD silence trimming, 40-band mel, 1.6 s
    partial windows at ``rate`` per second, mean of the L2-normalised partial embeddings,
    L2-normalised), but batched: mel spectrograms are computed with ``torch.stft`` over
    length buckets of files (zero padding leaves each file's frames unchanged), and the
    partial windows of *all* files go through the LSTM together in batches of
    ``batch_size``. Every partial is exactly 160 frames, so the LSTM batches need no
    padding; batched == one-by-one == Resemblyzer's own loop up to float rounding
    (measured below 1e-6).

    If the VAD finds no speech in an utterance (Resemblyzer would return NaN), the
    volume-normalised audio is embedded untrimmed and a warning is logged.

    Source: ``resemblyzer`` (Resemble AI, Apache-2.0), weights shipped in its wheel; install
    it with ``webrtcvad-wheels`` instead of the unbuildable ``webrtcvad``. Cite Wan et al.,
    "Generalized End-to-End Loss for Speaker Verification", ICASSP 2018.

    Args:
        device: Torch device for the LSTM.
        batch_size: Partial windows per LSTM call.
        rate: Partial windows per second (Resemblyzer's default 1.3).
        min_coverage: Keep the last partial if it covers this fraction (default 0.75).
        weights: Optional path of another Resemblyzer ``.pt`` checkpoint.
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        rate: float = 1.3,
        min_coverage: float = 0.75,
        weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        _check_batching(batch_size, 0.0)
        if not 0 < min_coverage <= 1:
            raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
        if not rate > 0:
            raise ValueError(f"rate must be > 0 partial windows per second, got {rate!r}")
        self.device = device
        self.batch_size = batch_size
        self.rate = float(rate)
        self.min_coverage = float(min_coverage)
        self.weights = None if weights is None else str(weights)
        self._mel_basis: torch.Tensor | None = None
        if self.weights is not None and not Path(self.weights).is_file():
            raise FileNotFoundError(f"Resemblyzer weights {self.weights} not found")

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "resemblyzer",
            "model": self.weights or "resemblyzer/pretrained.pt",
            "rate": self.rate,
            "min_coverage": self.min_coverage,
            "sample_rate": self.sample_rate,
        }

    def _load(self) -> Any:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as err:
            raise ImportError(
                "ResemblyzerEncoder needs resemblyzer: pip install resemblyzer "
                "webrtcvad-wheels (then `pip uninstall webrtcvad` if pip pulled it in)"
            ) from err
        return VoiceEncoder(device=self.device, verbose=False, weights_fpath=self.weights).eval()

    @staticmethod
    def preprocess(wav: np.ndarray) -> np.ndarray:
        """Resemblyzer's ``preprocess_wav`` for 16 kHz float audio, without its slow
        ``struct.pack`` (same bytes from ``ndarray.tobytes``): volume normalisation and
        long-silence trimming. Returns an empty array if the VAD finds no speech."""
        import webrtcvad
        from resemblyzer import hparams as hp
        from resemblyzer.audio import normalize_volume
        from scipy.ndimage import binary_dilation

        wav = normalize_volume(wav, hp.audio_norm_target_dBFS, increase_only=True)
        window = (hp.vad_window_length * hp.sampling_rate) // 1000
        wav = wav[: len(wav) - (len(wav) % window)]
        pcm = (np.round(wav * ((2**15) - 1))).astype("<i2").tobytes()
        vad = webrtcvad.Vad(mode=3)
        flags = np.array(
            [
                vad.is_speech(pcm[start * 2 : (start + window) * 2], sample_rate=hp.sampling_rate)
                for start in range(0, len(wav), window)
            ],
            dtype=np.float64,
        )
        width = hp.vad_moving_average_width
        padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
        csum = np.cumsum(padded, dtype=float)
        csum[width:] = csum[width:] - csum[:-width]
        mask = np.round(csum[width - 1 :] / width).astype(bool)
        mask = binary_dilation(mask, np.ones(hp.vad_max_silence_length + 1))
        return wav[np.repeat(mask, window)]

    def _padded_for_partials(self, wav: np.ndarray) -> tuple[np.ndarray, list[slice]]:
        from resemblyzer import VoiceEncoder

        wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(
            len(wav), self.rate, self.min_coverage
        )
        needed = wav_slices[-1].stop
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)), "constant")
        return wav, mel_slices

    def _mel_spectrograms(self, wavs: list[np.ndarray]) -> list[torch.Tensor]:
        """Resemblyzer's mel spectrogram (librosa: power STFT, n_fft 400, hop 160, Hann,
        centred with zero padding, 40 Slaney mel bands), computed with ``torch.stft`` on
        length buckets. Zero padding a bucket to its longest file leaves every file's own
        frames unchanged (librosa pads with zeros too), so this is exact up to float
        rounding. Returns ``(frames, 40)`` per file."""
        import librosa
        from resemblyzer import hparams as hp

        n_fft = int(hp.sampling_rate * hp.mel_window_length / 1000)
        hop = int(hp.sampling_rate * hp.mel_window_step / 1000)
        if self._mel_basis is None:
            basis = librosa.filters.mel(sr=hp.sampling_rate, n_fft=n_fft, n_mels=hp.mel_n_channels)
            self._mel_basis = torch.from_numpy(basis)
        window = torch.hann_window(n_fft, periodic=True)
        lengths = [len(w) for w in wavs]
        out: list[torch.Tensor | None] = [None] * len(wavs)
        buckets = length_batches(lengths, max_batch_size=64, max_padding=hp.sampling_rate)
        for bucket in buckets:
            batch, _ = _pad_batch([torch.from_numpy(wavs[i]) for i in bucket])
            spec = torch.stft(
                batch,
                n_fft,
                hop_length=hop,
                win_length=n_fft,
                window=window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            mels = torch.matmul(self._mel_basis, power).transpose(1, 2)
            for row, i in enumerate(bucket):
                out[i] = mels[row, : 1 + lengths[i] // hop]
        return out  # type: ignore[return-value]

    def _embed_batch(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        padded, slices = [], []
        for index, wav in enumerate(wavs):
            raw = wav.numpy()
            trimmed = self.preprocess(raw)
            if trimmed.size == 0:
                logger.warning(
                    "Resemblyzer VAD found no speech in wavs[%d] (%.2f s); embedding it untrimmed",
                    index,
                    raw.size / self.sample_rate,
                )
                from resemblyzer import hparams as hp
                from resemblyzer.audio import normalize_volume

                trimmed = normalize_volume(raw, hp.audio_norm_target_dBFS, increase_only=True)
            wav_padded, mel_slices = self._padded_for_partials(
                trimmed.astype(np.float32, copy=False)
            )
            padded.append(wav_padded)
            slices.append(mel_slices)
        partials, owners = [], []
        for index, (mel, mel_slices) in enumerate(
            zip(self._mel_spectrograms(padded), slices, strict=True)
        ):
            partials.extend(mel[s] for s in mel_slices)
            owners.extend([index] * len(mel_slices))
        stacked = torch.stack(partials)
        outputs = []
        for start in range(0, len(stacked), self.batch_size):
            chunk = stacked[start : start + self.batch_size].to(self._model.device)
            outputs.append(self._model(chunk).cpu())
        partial_embeds = torch.cat(outputs)
        owner = torch.tensor(owners)
        sums = torch.zeros(len(wavs), partial_embeds.shape[1]).index_add_(0, owner, partial_embeds)
        counts = torch.bincount(owner, minlength=len(wavs)).to(sums.dtype)
        means = sums / counts[:, None]
        return means / means.norm(dim=1, keepdim=True)


# --------------------------------------------------------------------------- SpeechBrain ECAPA


def _is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


class _BucketedHubEncoder(SpeakerEncoder):
    """Shared part of the hub-or-directory encoders (ECAPA, WavLM x-vector).

    Holds ``source``/``device``/batching settings, describes itself as
    ``{"backend": backend, "model": source, ...}`` (a local ``source`` resolved to an absolute
    path) and embeds in length buckets (:func:`length_batches`, padding within a bucket at
    most ``max_padding_s``); subclasses implement :meth:`_embed_bucket` for one bucket.
    """

    #: ``"backend"`` entry of :meth:`describe`.
    backend: ClassVar[str]

    def __init__(self, source: str, *, device: str, batch_size: int, max_padding_s: float):
        super().__init__()
        _check_batching(batch_size, max_padding_s)
        self.source = str(source)
        self.device = device
        self.batch_size = batch_size
        self.max_padding_s = float(max_padding_s)

    def describe(self) -> dict[str, Any]:
        source = (
            str(Path(self.source).expanduser().resolve()) if _is_local(self.source) else self.source
        )
        return {
            "backend": self.backend,
            "model": source,
            "max_padding_s": self.max_padding_s,
            "sample_rate": self.sample_rate,
        }

    @abstractmethod
    def _embed_bucket(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        """Embeddings ``(len(wavs), D)``, on the CPU, of one length bucket."""

    def _embed_batch(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        lengths = [w.numel() for w in wavs]
        max_pad = round(self.max_padding_s * self.sample_rate)
        out: list[torch.Tensor | None] = [None] * len(wavs)
        for batch in length_batches(lengths, max_batch_size=self.batch_size, max_padding=max_pad):
            emb = self._embed_bucket([wavs[i] for i in batch])
            for row, i in enumerate(batch):
                out[i] = emb[row]
        return torch.stack(out)  # type: ignore[arg-type]


class SpeechBrainECAPAEncoder(_BucketedHubEncoder):
    """SpeechBrain ECAPA-TDNN speaker embeddings (192-D for the VoxCeleb model).

    Loads through ``speechbrain.inference.speaker.EncoderClassifier.from_hparams``: a hub
    name (downloaded on first use into ``savedir`` or the Hugging Face cache) or a local
    directory holding ``hyperparams.yaml`` and the checkpoints it names. For a local copy of
    ``speechbrain/spkrec-ecapa-voxceleb``, whose YAML points ``pretrained_path`` at the hub,
    ``pretrained_path`` is overridden with the local directory so nothing is downloaded.
    Embeddings are ``encode_batch(..., normalize=False)``, as SpeechBrain's verification
    interface uses them.

    Batching: utterances are length-bucketed; a batch only mixes lengths that differ by at
    most ``max_padding_s``. With the default 0 only equal-length utterances share a batch,
    so results equal one-by-one embedding; a positive value is faster on varied lengths but
    the padded frames reach the last frames' convolutions (embeddings then depend slightly
    on batch neighbours; the setting is part of :meth:`describe`).

    Source: Ravanelli et al., "SpeechBrain", 2021 (Apache-2.0); model: Desplanques et al.,
    "ECAPA-TDNN", Interspeech 2020, trained on VoxCeleb 1+2.

    Args:
        source: Hub name or local directory.
        savedir: Where SpeechBrain collects the files (None: its cache / the local dir).
        device: Torch device.
        batch_size: Utterances per forward pass.
        max_padding_s: Maximum padding within a batch, seconds.
        trust_code: load a source outside SpeechBrain's own hub repositories (a local
            folder, another publisher): its ``hyperparams.yaml`` runs the code it names
            (:mod:`audio_unlearn.models.trust`). Refused without it, before any loading.
    """

    backend = "speechbrain-ecapa"

    def __init__(
        self,
        source: str = "speechbrain/spkrec-ecapa-voxceleb",
        *,
        savedir: str | os.PathLike | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        max_padding_s: float = 0.0,
        trust_code: bool = False,
    ) -> None:
        from ..models.trust import check_loader_trust

        check_loader_trust("ecapa", source, trust_code=trust_code)
        super().__init__(source, device=device, batch_size=batch_size, max_padding_s=max_padding_s)
        self.savedir = None if savedir is None else str(savedir)

    def _load(self) -> Any:
        try:
            from speechbrain.inference.speaker import EncoderClassifier
        except ImportError as err:
            raise ImportError("SpeechBrainECAPAEncoder needs speechbrain>=1.0") from err
        overrides: dict[str, Any] = {}
        if _is_local(self.source):
            directory = Path(self.source).expanduser().resolve()
            hparams = directory / "hyperparams.yaml"
            if not hparams.is_file():
                raise FileNotFoundError(
                    f"{hparams} not found; a local SpeechBrain model directory needs a "
                    "hyperparams.yaml with 'modules' and 'pretrainer' keys"
                )
            if re.search(r"^pretrained_path\s*:", hparams.read_text(), flags=re.MULTILINE):
                overrides["pretrained_path"] = str(directory)
            source = str(directory)
        else:
            source = self.source
        model = EncoderClassifier.from_hparams(
            source=source,
            savedir=self.savedir,
            overrides=overrides,
            run_opts={"device": self.device},
        )
        model.eval()
        return model

    def _embed_bucket(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        padded, lens = _pad_batch(wavs)
        relative = lens.to(torch.float32) / float(lens.max())
        emb = self._model.encode_batch(padded, relative, normalize=False)
        return emb.reshape(len(wavs), -1).cpu()


# --------------------------------------------------------------------------- WavLM x-vector


class WavLMXVectorEncoder(_BucketedHubEncoder):
    """transformers ``WavLMForXVector`` embeddings (512-D for ``wavlm-base-plus-sv``).

    Loads ``WavLMForXVector`` and its feature extractor with ``from_pretrained`` from a hub
    name or a local directory (``save_pretrained`` layout). Returns the model's
    ``embeddings`` output (compare with cosine, as the model card does).

    Batching as in :class:`SpeechBrainECAPAEncoder`: length buckets, padding within a batch
    limited to ``max_padding_s`` (default 0: exact; WavLM-base's group-normalised first
    convolution sees padding over the whole utterance, so any padding changes results).

    Source: Chen et al., "WavLM: Large-Scale Self-Supervised Pre-Training for Full Stack
    Speech Processing", IEEE JSTSP 2022; ``microsoft/wavlm-base-plus-sv`` fine-tuned on
    VoxCeleb1 with an x-vector head and AM-softmax.

    Args:
        source: Hub name or local directory.
        device: Torch device.
        batch_size: Utterances per forward pass.
        max_padding_s: Maximum padding within a batch, seconds.
    """

    backend = "wavlm-xvector"

    def __init__(
        self,
        source: str = "microsoft/wavlm-base-plus-sv",
        *,
        device: str = "cpu",
        batch_size: int = 16,
        max_padding_s: float = 0.0,
    ) -> None:
        super().__init__(source, device=device, batch_size=batch_size, max_padding_s=max_padding_s)

    def _load(self) -> Any:
        from transformers import AutoFeatureExtractor, WavLMForXVector

        if _is_local(self.source) and not (Path(self.source) / "config.json").is_file():
            raise FileNotFoundError(
                f"{Path(self.source) / 'config.json'} not found; save the model with "
                "WavLMForXVector.save_pretrained(dir) and its feature extractor beside it"
            )
        extractor = AutoFeatureExtractor.from_pretrained(self.source)
        model = WavLMForXVector.from_pretrained(self.source).to(self.device).eval()
        return extractor, model

    def _embed_bucket(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        extractor, model = self._model
        inputs = extractor(
            [w.numpy() for w in wavs],
            sampling_rate=self.sample_rate,
            return_tensors="pt",
            padding=True,
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with warnings.catch_warnings():
            # torch warns that WavLM's key-padding and attention masks differ in dtype
            warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask.*")
            return model(**inputs).embeddings.cpu()


class WavLMLargeECAPAEncoder(SpeakerEncoder):
    """UniSpeech's WavLM-Large + ECAPA-TDNN verification model, the SIM judge of zero-shot TTS.

    Zero-shot TTS papers (VoiceBox, F5-TTS, seed-tts-eval, the TGU paper: Kim et al., ICML
    2025) compute SIM with ``wavlm_large_finetune.pth`` from ``microsoft/UniSpeech``
    (``downstreams/speaker_verification``; Chen et al., "WavLM", IEEE JSTSP 2022; MIT
    licence). The file is a ``torch.save`` dict whose ``"model"`` entry is the state dict of
    UniSpeech's ``ECAPA_TDNN_SMALL(feat_dim=1024, feat_type="wavlm_large")``: the fine-tuned
    WavLM-Large upstream under ``feature_extract.model.`` and the ECAPA head.

    This class runs it without s3prl or UniSpeech code: the upstream is a transformers
    ``WavLMModel`` built from a config written here (no download) and loaded through
    :func:`convert_unispeech_state_dict`; the head is :class:`WavLMECAPAHead`. The features
    are what s3prl's WavLM expert hands the head: each waveform layer-normalised on its own
    (WavLM-Large's ``normalize`` setting), then the inputs of the 24 transformer layers and
    the encoder's final layer-normalised output (25 hidden states; transformers'
    ``output_hidden_states`` returns the last layer *before* that norm, so they are captured
    with hooks instead).

    Batching: utterances are length-bucketed (:func:`length_batches`) and padded within a
    batch; WavLM-Large's layer-norm feature encoder takes an attention mask, so the valid
    frames equal the unpadded run up to float rounding, and the head then embeds each
    utterance's valid frames on its own. Batched == one-by-one within 1e-4.

    The defaults are WavLM-Large's sizes; the size arguments exist so that tests can build a
    tiny model in the same layout.

    Args:
        checkpoint: Path of ``wavlm_large_finetune.pth`` (or a file in its layout).
        device: Torch device.
        batch_size: Utterances per WavLM forward pass.
        max_batch_samples: Budget of padded samples per WavLM batch.
        normalize_waveform: Layer-normalise each waveform first (WavLM-Large: True).
        hidden_size: WavLM width (1024).
        num_layers: WavLM transformer layers (24).
        num_heads: Attention heads (16).
        intermediate_size: Feed-forward width (4096).
        conv_dim: Channels of the 7 feature-encoder convolutions (512).
        pos_conv_kernel: Positional convolution kernel (128).
        pos_conv_groups: Positional convolution groups (16).
        num_buckets: Relative-position buckets (320).
        max_distance: Relative-position maximum distance (800).
        channels: ECAPA channels (512).
        mfa_channels: ECAPA aggregation channels (1536).
        embedding_dim: Embedding size (256).
        attention_channels: Attentive-pooling bottleneck (128).
        se_channels: SE bottleneck (128).
        res2net_scale: Res2Net groups (8).
    """

    backend = "wavlm-large-ecapa"

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        *,
        device: str = "cpu",
        batch_size: int = 8,
        max_batch_samples: int = 16000 * 80,
        normalize_waveform: bool = True,
        hidden_size: int = 1024,
        num_layers: int = 24,
        num_heads: int = 16,
        intermediate_size: int = 4096,
        conv_dim: int = 512,
        pos_conv_kernel: int = 128,
        pos_conv_groups: int = 16,
        num_buckets: int = 320,
        max_distance: int = 800,
        channels: int = 512,
        mfa_channels: int = 1536,
        embedding_dim: int = 256,
        attention_channels: int = 128,
        se_channels: int = 128,
        res2net_scale: int = 8,
    ) -> None:
        super().__init__()
        _check_batching(batch_size, 0.0)
        length_batches([], max_batch_samples=max_batch_samples)  # validates the budget
        sizes = {
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "intermediate_size": intermediate_size,
            "conv_dim": conv_dim,
            "pos_conv_kernel": pos_conv_kernel,
            "pos_conv_groups": pos_conv_groups,
            "num_buckets": num_buckets,
            "max_distance": max_distance,
            "channels": channels,
            "mfa_channels": mfa_channels,
            "embedding_dim": embedding_dim,
            "attention_channels": attention_channels,
            "se_channels": se_channels,
            "res2net_scale": res2net_scale,
        }
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if hidden_size % num_heads or hidden_size % pos_conv_groups:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}) "
                f"and pos_conv_groups ({pos_conv_groups})"
            )
        if channels % res2net_scale:
            raise ValueError(
                f"channels ({channels}) must be divisible by res2net_scale ({res2net_scale})"
            )
        self.checkpoint = str(checkpoint)
        self.device = device
        self.batch_size = batch_size
        self.max_batch_samples = max_batch_samples
        self.normalize_waveform = bool(normalize_waveform)
        self.sizes = sizes
        self._layer_sum: torch.Tensor | int = 0
        self._layer_index = 0
        self._weights = torch.ones(num_layers + 1)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": str(Path(self.checkpoint).expanduser().resolve()),
            "normalize_waveform": self.normalize_waveform,
            "sample_rate": self.sample_rate,
            **self.sizes,
        }

    def wavlm_config(self) -> Any:
        """The transformers ``WavLMConfig`` of the upstream (WavLM-Large's by default)."""
        from transformers import WavLMConfig

        s = self.sizes
        return WavLMConfig(
            hidden_size=s["hidden_size"],
            num_hidden_layers=s["num_layers"],
            num_attention_heads=s["num_heads"],
            intermediate_size=s["intermediate_size"],
            conv_dim=(s["conv_dim"],) * 7,
            conv_stride=(5, 2, 2, 2, 2, 2, 2),
            conv_kernel=(10, 3, 3, 3, 3, 2, 2),
            conv_bias=False,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            num_conv_pos_embeddings=s["pos_conv_kernel"],
            num_conv_pos_embedding_groups=s["pos_conv_groups"],
            num_buckets=s["num_buckets"],
            max_bucket_distance=s["max_distance"],
            hidden_act="gelu",
            feat_extract_activation="gelu",
            layer_norm_eps=1e-5,
            apply_spec_augment=False,
        )

    def _build(self) -> tuple[Any, WavLMECAPAHead]:
        from transformers import WavLMModel

        s = self.sizes
        wavlm = WavLMModel(self.wavlm_config())
        head = WavLMECAPAHead(
            n_layers=s["num_layers"] + 1,
            feat_dim=s["hidden_size"],
            channels=s["channels"],
            mfa_channels=s["mfa_channels"],
            embedding_dim=s["embedding_dim"],
            attention_channels=s["attention_channels"],
            se_channels=s["se_channels"],
            res2net_scale=s["res2net_scale"],
        )
        return wavlm, head

    def _load(self) -> Any:
        path = Path(self.checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"WavLM-Large+ECAPA checkpoint {path} not found; download "
                "wavlm_large_finetune.pth from the microsoft/UniSpeech speaker_verification "
                "README and pass its path"
            )
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path} is not a readable torch checkpoint: {err}") from err
        if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
            raise ValueError(
                f"{path} is not a UniSpeech verification checkpoint: expected a dict with a "
                "'model' state dict (torch.save({'model': state_dict}, path))"
            )
        wavlm_state, head_state, unknown = convert_unispeech_state_dict(saved["model"])
        fix = (
            "Pass UniSpeech's wavlm_large_finetune.pth (ECAPA_TDNN_SMALL with "
            "feat_type='wavlm_large', fine-tuned WavLM-Large weights under "
            f"'{UNISPEECH_UPSTREAM_PREFIX}'), or give the size arguments of the model the file "
            "was saved from (the defaults are WavLM-Large's)"
        )
        if unknown:
            raise ValueError(
                f"{path} has {len(unknown)} upstream keys with no WavLM counterpart "
                f"(e.g. {unknown[:5]}); it is not a WavLM upstream. {fix}"
            )
        if not wavlm_state:
            raise ValueError(
                f"{path} holds no '{UNISPEECH_UPSTREAM_PREFIX}*' entries: it lacks the WavLM "
                f"upstream weights (missing WavLM keys: all of them). {fix}"
            )
        wavlm, head = self._build()
        check_state(wavlm, wavlm_state, "WavLM (transformers names)", path, fix)
        check_state(head, head_state, "ECAPA head", path, fix, head_checkpoint_name)
        wavlm.load_state_dict(wavlm_state, strict=False)
        head.load_state_dict(head_state, strict=False)
        from torch.nn.utils import parametrize

        for module in wavlm.modules():  # the weight-normalised positional conv: fold once
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        wavlm.to(self.device).eval()
        head.to(self.device).eval()
        for layer in wavlm.encoder.layers:
            layer.register_forward_pre_hook(self._capture_layer_input, with_kwargs=True)
        return wavlm, head

    def _capture_layer_input(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Add the weighted input of a transformer layer to the running layer sum (s3prl's
        hidden state ``i`` is the input of layer ``i``), so no stack of 25 is kept."""
        hidden = args[0] if args else kwargs["hidden_states"]
        self._layer_sum = self._layer_sum + self._weights[self._layer_index] * hidden
        self._layer_index += 1

    def _n_frames(self, n_samples: int) -> int:
        n = n_samples
        for kernel, stride in zip((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2), strict=True):
            n = (n - kernel) // stride + 1 if n >= kernel else 0
        return n

    def _embed_batch(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        wavlm, head = self._model
        waves = []
        for i, w in enumerate(wavs):
            if self._n_frames(w.numel()) < 1:
                raise ValueError(
                    f"wavs[{i}] has {w.numel()} samples, too short for one WavLM frame "
                    "(400 samples = 25 ms at 16 kHz); pad or drop it"
                )
            waves.append(F.layer_norm(w, w.shape) if self.normalize_waveform else w)
        lengths = [w.numel() for w in waves]
        out: list[torch.Tensor | None] = [None] * len(waves)
        batches = length_batches(
            lengths, max_batch_samples=self.max_batch_samples, max_batch_size=self.batch_size
        )
        weights = head.layer_weights()
        for batch in batches:
            padded, lens = _pad_batch([waves[i] for i in batch])
            mask = (torch.arange(padded.shape[1])[None, :] < lens[:, None]).long()
            self._layer_sum = self._layer_index = 0
            self._weights = weights
            with warnings.catch_warnings():
                # torch warns that the key-padding and attention masks differ in dtype
                warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask.*")
                final = wavlm(
                    padded.to(self.device), attention_mask=mask.to(self.device)
                ).last_hidden_state
            if self._layer_index != self.sizes["num_layers"]:  # transformers changed?
                raise RuntimeError(
                    f"captured {self._layer_index} WavLM layer inputs, expected "
                    f"{self.sizes['num_layers']}; this transformers version runs WavLM layers "
                    "differently"
                )
            features = self._layer_sum + weights[-1] * final  # (B, T, D)
            self._layer_sum = 0
            for row, i in enumerate(batch):
                frames = self._n_frames(lengths[i])
                out[i] = head.embed_features(features[row, :frames]).cpu()
        return torch.stack(out)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- registry


def get_speaker_encoder(spec: str, **kwargs: Any) -> SpeakerEncoder:
    """Build a speaker encoder from a short spec string.

    Specs: ``"resemblyzer"``; ``"ecapa"`` or ``"ecapa:<hub-name-or-dir>"``;
    ``"wavlm-xvector"`` or ``"wavlm-xvector:<hub-name-or-dir>"``;
    ``"wavlm-large-ecapa:<checkpoint.pth>"``. Keyword arguments go to the backend;
    ``trust_code`` only to the one that runs code from its files (ECAPA's
    ``hyperparams.yaml``, :mod:`audio_unlearn.models.trust`).

    Raises:
        ValueError: For an unknown backend name (the message lists the known ones).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"speaker encoder spec must be a non-empty string, got {spec!r}")
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    trust_code = bool(kwargs.pop("trust_code", False))
    if name == "resemblyzer":
        if arg:
            kwargs.setdefault("weights", arg)
        return ResemblyzerEncoder(**kwargs)
    if name == "ecapa":
        kwargs["trust_code"] = trust_code
        return SpeechBrainECAPAEncoder(arg, **kwargs) if arg else SpeechBrainECAPAEncoder(**kwargs)
    if name == "wavlm-xvector":
        return WavLMXVectorEncoder(arg, **kwargs) if arg else WavLMXVectorEncoder(**kwargs)
    if name == "wavlm-large-ecapa":
        if not arg:
            raise ValueError("wavlm-large-ecapa needs a checkpoint: 'wavlm-large-ecapa:<path>'")
        return WavLMLargeECAPAEncoder(arg, **kwargs)
    raise ValueError(
        f"unknown speaker encoder {name!r} in spec {spec!r}; use 'resemblyzer', "
        "'ecapa[:<name-or-dir>]', 'wavlm-xvector[:<name-or-dir>]' or "
        "'wavlm-large-ecapa:<checkpoint>'"
    )


# --------------------------------------------------------------------------- cache


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EmbeddingCache:
    """On-disk speaker-embedding cache keyed by (file content hash, encoder description).

    Layout: ``<dir>/<sha256(describe())[:16]>/encoder.json`` (the description) and one
    ``<sha256(file bytes)>.npy`` per embedded file beside it. A renamed or moved file hits
    the cache; an edited file or a different encoder/setting misses. Writes are atomic.

    Attributes:
        hits: Number of cache hits since creation.
        misses: Number of misses since creation.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def _encoder_dir(self, encoder: SpeakerEncoder) -> Path:
        description = json.dumps(encoder.describe(), sort_keys=True)
        key = hashlib.sha256(description.encode()).hexdigest()[:16]
        folder = self.directory / key
        meta = folder / "encoder.json"
        if not meta.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            meta.write_text(description + "\n")
        return folder

    def get(self, file_hash: str, encoder: SpeakerEncoder) -> torch.Tensor | None:
        """Cached embedding for a file hash under ``encoder``, or None."""
        path = self._encoder_dir(encoder) / f"{file_hash}.npy"
        if not path.is_file():
            return None
        return torch.from_numpy(np.load(path))

    def put(self, file_hash: str, encoder: SpeakerEncoder, embedding: torch.Tensor) -> None:
        """Store one embedding (atomic write)."""
        folder = self._encoder_dir(encoder)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, embedding.detach().cpu().numpy())
        os.replace(tmp, folder / f"{file_hash}.npy")

    def embed_files(
        self, paths: Sequence[str | os.PathLike], encoder: SpeakerEncoder
    ) -> torch.Tensor:
        """Embeddings of audio files, from the cache where present, the misses embedded in
        one batched call and stored. Returns ``(N, D)`` in the order of ``paths``."""
        from audio_unlearn.data.audio import load_audio

        files = [Path(p) for p in paths]
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"audio file {f} not found")
        hashes = [_file_hash(f) for f in files]
        out: dict[str, torch.Tensor] = {}
        for h in hashes:
            if h not in out:
                cached = self.get(h, encoder)
                if cached is not None:
                    out[h] = cached
        todo = [i for i, h in enumerate(hashes) if h not in out]
        unique = list(dict.fromkeys(hashes[i] for i in todo))
        self.hits += len(files) - len(todo)
        self.misses += len(todo)
        if unique:
            first = {h: files[hashes.index(h)] for h in unique}
            wavs = [load_audio(first[h], sample_rate=encoder.sample_rate) for h in unique]
            embs = encoder.embed(wavs, sample_rate=encoder.sample_rate)
            for h, e in zip(unique, embs, strict=True):
                self.put(h, encoder, e)
                out[h] = e
        return torch.stack([out[h] for h in hashes])


def embed_files(
    paths: Sequence[str | os.PathLike],
    encoder: SpeakerEncoder,
    *,
    cache: EmbeddingCache | None = None,
) -> torch.Tensor:
    """Embed audio files (16 kHz after :func:`audio_unlearn.data.audio.load_audio`), batched,
    optionally through an :class:`EmbeddingCache`. Returns ``(N, D)``."""
    if cache is not None:
        return cache.embed_files(paths, encoder)
    from audio_unlearn.data.audio import load_audio

    wavs = [load_audio(p, sample_rate=encoder.sample_rate) for p in paths]
    return encoder.embed(wavs, sample_rate=encoder.sample_rate)
