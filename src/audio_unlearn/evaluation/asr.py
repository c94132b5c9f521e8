"""ASR backends that turn waveforms into text for WER scoring.

One small interface, :class:`Transcriber` (``transcribe(wavs, sample_rate) -> texts`` and
``describe() -> dict``), with two transformers-backed implementations:

- :class:`CTCTranscriber`: any ``AutoModelForCTC`` checkpoint (wav2vec2, HuBERT, WavLM,
  ...), greedy CTC decoding (arg-max per frame, repeats merged, blanks dropped by the
  checkpoint's own tokenizer). Default ``facebook/hubert-large-ls960-ft``, the judge of the
  speaker-forgetting paper (Kim et al., "Do Not Mimic My Voice", ICML 2025,
  arXiv 2507.20140; model: Hsu et al., "HuBERT", 2021; MIT licence).
- :class:`WhisperTranscriber`: ``WhisperForConditionalGeneration`` with greedy generation
  (one beam, no sampling). Default ``openai/whisper-large-v3``, the judge of seed-tts-eval
  (Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision", 2022;
  Apache-2.0).

Both load by hub name or local directory through ``from_pretrained``, lazily (on the first
:meth:`~Transcriber.transcribe` or an explicit :meth:`~Transcriber.load`), so building one
never downloads anything. :func:`get_transcriber` builds one from a spec string:
``"ctc:<name-or-path>"``, ``"whisper:<name-or-path>"``, or ``"library:<checkpoint>"``
(the library's own CTC recogniser, :mod:`audio_unlearn.evaluation.asr_library`).

Batching with length bucketing (:func:`audio_unlearn.evaluation.batching.length_batches`):
utterances are sorted by length (longest first), cut into batches whose padded size
(items x longest item, in samples) stays within ``max_batch_samples``, run under
``torch.inference_mode`` and put back in input order.

Padding and exactness (CTC). Batched results are meant to equal one-at-a-time results:

- Checkpoints whose convolutional feature encoder uses layer normalisation
  (``config.feat_extract_norm == "layer"``: HuBERT-large, wav2vec2-large-lv60, WavLM-large)
  take an attention mask: padded frames are masked out of self-attention and zeroed before
  the positional convolution, and the valid frames' receptive fields never reach the
  padding, so padded batches give the same logits up to float rounding.
- Checkpoints with group normalisation in the feature encoder (``"group"``: wav2vec2-base,
  HuBERT-base, WavLM-base) normalise each channel over the *whole* padded sequence, and
  their processors return no attention mask; zero padding changes every frame's logits.
  For these the transcriber never pads: a batch holds only utterances of identical length
  (common for synthetic or fixed-window audio), anything else runs on its own.

Every utterance is normalised on its own (zero mean, unit variance when the checkpoint's
feature extractor says so) before padding, so the padding never enters the statistics
(the feature extractor normalises over the padded array when it returns no mask).

Whisper pads or cuts every input to 30 s of log-mel frames, so batching changes no
encoder input; longer clips are rejected (cut them first), as long-form decoding is a
different algorithm.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

from audio_unlearn.evaluation.batching import length_batches

__all__ = [
    "CTCTranscriber",
    "Transcriber",
    "WhisperTranscriber",
    "bucket_by_length",
    "get_transcriber",
]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def bucket_by_length(
    lengths: Sequence[int],
    max_batch_samples: int,
    *,
    equal_length_only: bool = False,
    padded_length: Callable[[int], int] | None = None,
) -> list[list[int]]:
    """Longest-first batches under a padded-samples budget (a thin alias).

    Same as :func:`audio_unlearn.evaluation.batching.length_batches` with
    ``max_batch_samples`` and ``max_padding=0`` when ``equal_length_only``; kept so that
    existing callers keep working.
    """
    return length_batches(
        lengths,
        max_batch_samples=max_batch_samples,
        max_padding=0 if equal_length_only else None,
        padded_length=padded_length,
    )


def _as_waveforms(wavs: Sequence[Any], sample_rate: int, target_rate: int) -> list[torch.Tensor]:
    """Validate waveforms, make them 1-D float32 CPU tensors at ``target_rate``."""
    if isinstance(wavs, (torch.Tensor, np.ndarray)) or not isinstance(wavs, Sequence):
        raise ValueError(
            "wavs must be a list of 1-D waveforms (one tensor per utterance), got "
            f"{type(wavs).__name__}; wrap a single waveform in a list"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    out = []
    for i, wav in enumerate(wavs):
        t = torch.as_tensor(wav)
        if t.ndim == 2 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 1:
            raise ValueError(
                f"wavs[{i}] must be 1-D (samples) or (1, samples), got shape {tuple(t.shape)}; "
                "mix multi-channel audio down to mono first"
            )
        if t.numel() == 0:
            raise ValueError(f"wavs[{i}] is empty")
        if not t.is_floating_point():
            raise ValueError(f"wavs[{i}] must be floating point in [-1, 1], got {t.dtype}")
        t = t.detach().to("cpu", torch.float32)
        if not torch.isfinite(t).all():
            raise ValueError(f"wavs[{i}] holds NaN or inf samples")
        if sample_rate != target_rate:
            t = torchaudio.functional.resample(t, sample_rate, target_rate)
        out.append(t)
    return out


def _resolve_source(name_or_path: str | os.PathLike) -> tuple[str, bool]:
    """Return ``(source, is_local)``; a path-like string that does not exist is an error."""
    text = os.fspath(name_or_path)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"model name or path must be a non-empty string, got {name_or_path!r}")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(
                f"ASR model path {path} is a file; pass the directory written by "
                "save_pretrained (config.json, weights and processor files)"
            )
        return str(path.resolve()), True
    if text.startswith(("/", "./", "../", "~")) or text.count("/") > 1 or os.sep + os.sep in text:
        raise FileNotFoundError(
            f"ASR model directory {text!r} does not exist; pass an existing local directory "
            "or a hub name such as 'facebook/hubert-large-ls960-ft'"
        )
    return text, False


def _resolve_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda:0': {err}") from err


def _resolve_dtype(dtype: str | None) -> torch.dtype | None:
    if dtype is None:
        return None
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be None or one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


class Transcriber(abc.ABC):
    """Speech-to-text for evaluation: a list of waveforms in, one string per waveform out."""

    @abc.abstractmethod
    def transcribe(self, wavs: Sequence[torch.Tensor], sample_rate: int = 16000) -> list[str]:
        """Transcribe waveforms.

        Args:
            wavs: Mono waveforms, each ``(samples,)`` or ``(1, samples)``, float in [-1, 1].
            sample_rate: Their sample rate in Hz (resampled to the model's rate if needed).

        Returns:
            One raw transcript per waveform, in input order (normalise before scoring).
        """

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Settings that identify the transcripts: backend, model, decoding, batching."""


class _HFTranscriber(Transcriber):
    """Shared loading and batching of the transformers backends."""

    backend = ""
    default_model = ""

    def __init__(
        self,
        name_or_path: str | os.PathLike | None,
        *,
        device: str | torch.device,
        dtype: str | None,
        max_batch_samples: int,
        local_files_only: bool,
        progress: bool,
    ) -> None:
        self.name_or_path = os.fspath(name_or_path) if name_or_path else self.default_model
        self._source, self._is_local = _resolve_source(self.name_or_path)
        self.device = _resolve_device(device)
        self.dtype = _resolve_dtype(dtype)
        length_batches([], max_batch_samples=max_batch_samples)  # validates the budget
        self.max_batch_samples = max_batch_samples
        self.local_files_only = bool(local_files_only)
        self.progress = bool(progress)
        self.model: Any = None
        self.processor: Any = None

    # -- loading ---------------------------------------------------------------------
    def load(self) -> _HFTranscriber:
        """Load model and processor (downloads a hub checkpoint unless cached); idempotent."""
        if self.model is None:
            if self._is_local and not (Path(self._source) / "config.json").is_file():
                raise FileNotFoundError(
                    f"{self.backend} ASR model directory {self._source} has no config.json; "
                    "pass a directory written by save_pretrained (model and processor)"
                )
            kwargs: dict[str, Any] = {"local_files_only": self.local_files_only or self._is_local}
            try:
                self.processor = self._load_processor(self._source, **kwargs)
                if self.dtype is not None:
                    kwargs["dtype"] = self.dtype
                model = self._load_model(self._source, **kwargs)
            except OSError as err:
                raise FileNotFoundError(
                    f"could not load {self.backend} ASR model {self.name_or_path!r}: {err}. "
                    "Pass a directory written by save_pretrained (model and processor), or a "
                    "hub name reachable from this machine"
                ) from err
            self.model = model.to(self.device).eval()
            try:
                self._after_load()
            except Exception:
                self.model = self.processor = None
                raise
        return self

    @abc.abstractmethod
    def _load_processor(self, source: str, **kwargs: Any) -> Any: ...

    @abc.abstractmethod
    def _load_model(self, source: str, **kwargs: Any) -> Any: ...

    def _after_load(self) -> None:
        return None

    @property
    def sample_rate(self) -> int:
        """Sample rate the model expects (from its feature extractor)."""
        self.load()
        return int(self.processor.feature_extractor.sampling_rate)

    def _batches(self, batches: list[list[int]]) -> Any:
        if not self.progress:
            return batches
        from tqdm.auto import tqdm

        return tqdm(batches, desc=f"{self.backend} ASR", unit="batch")

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "model": self.name_or_path,
            "source": "local" if self._is_local else "hub",
            "decoding": "greedy",
            "max_batch_samples": self.max_batch_samples,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch.") if self.dtype else "checkpoint",
        }
        if self.model is not None:
            info["model_class"] = type(self.model).__name__
            info["sample_rate"] = self.sample_rate
        return info


class CTCTranscriber(_HFTranscriber):
    """Greedy CTC transcription with a transformers ``AutoModelForCTC`` checkpoint.

    Args:
        name_or_path: Hub name or local ``save_pretrained`` directory holding the model and
            its processor (feature extractor + CTC tokenizer). ``None`` = the default,
            ``facebook/hubert-large-ls960-ft`` (Hsu et al., "HuBERT", 2021), as in Kim et
            al., ICML 2025 (arXiv 2507.20140).
        device: Torch device to run on.
        dtype: ``None`` (the checkpoint's), ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        max_batch_samples: Budget of padded samples per batch (16 s of 16 kHz audio). On a
            CPU larger batches are slower, not faster (memory traffic; measured in
            ``benchmarks/bench_asr_batching.py``); on a GPU raise it as memory allows.
        padding: ``"auto"`` (attention mask for layer-norm feature encoders, equal-length
            batches only for group-norm ones; see the module docstring), ``"attention_mask"``
            (always pad and mask) or ``"none"`` (never pad).
        local_files_only: Never contact the hub.
        progress: Show a progress bar over batches.
    """

    backend = "ctc"
    default_model = "facebook/hubert-large-ls960-ft"

    def __init__(
        self,
        name_or_path: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: str | None = None,
        max_batch_samples: int = 16000 * 16,
        padding: str = "auto",
        local_files_only: bool = False,
        progress: bool = False,
    ) -> None:
        super().__init__(
            name_or_path,
            device=device,
            dtype=dtype,
            max_batch_samples=max_batch_samples,
            local_files_only=local_files_only,
            progress=progress,
        )
        if padding not in ("auto", "attention_mask", "none"):
            raise ValueError(f"padding must be 'auto', 'attention_mask' or 'none', got {padding!r}")
        self.padding = padding
        self._uses_mask: bool | None = None

    def _load_processor(self, source: str, **kwargs: Any) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(source, **kwargs)

    def _load_model(self, source: str, **kwargs: Any) -> Any:
        from transformers import AutoModelForCTC

        return AutoModelForCTC.from_pretrained(source, **kwargs)

    def _after_load(self) -> None:
        for part in ("feature_extractor", "tokenizer"):
            if not hasattr(self.processor, part):
                raise ValueError(
                    f"{self.name_or_path!r} has no {part} in its processor; a CTC checkpoint "
                    "needs a Wav2Vec2Processor-style processor (feature extractor + CTC "
                    "tokenizer) saved beside the model"
                )
        if self.padding == "auto":
            norm = getattr(self.model.config, "feat_extract_norm", None)
            self._uses_mask = norm == "layer"
        else:
            self._uses_mask = self.padding == "attention_mask"

    @property
    def uses_attention_mask(self) -> bool:
        """True when batches are padded and masked; False when only equal lengths batch."""
        self.load()
        return bool(self._uses_mask)

    def _n_frames(self, n_samples: int) -> int:
        return int(self.model._get_feat_extract_output_lengths(torch.tensor(n_samples)))

    def logits(self, wavs: Sequence[torch.Tensor], sample_rate: int = 16000) -> list[torch.Tensor]:
        """Per-utterance CTC logits ``(frames, vocab)`` (valid frames only, float32, CPU).

        Args:
            wavs: Mono waveforms as for :meth:`transcribe`.
            sample_rate: Their sample rate in Hz.

        Raises:
            ValueError: A waveform is malformed or too short for one output frame.
        """
        self.load()
        waves = _as_waveforms(wavs, sample_rate, self.sample_rate)
        fe = self.processor.feature_extractor
        inputs = []
        for i, w in enumerate(waves):
            if self._n_frames(w.numel()) < 1:
                raise ValueError(
                    f"wavs[{i}] has {w.numel()} samples, too short for one frame of "
                    f"{self.name_or_path!r}; pad or drop it"
                )
            # Normalised per utterance, before any padding.
            values = fe(w.numpy(), sampling_rate=self.sample_rate, padding=False)
            inputs.append(
                torch.as_tensor(np.asarray(values["input_values"][0]), dtype=torch.float32)
            )
        lengths = [x.numel() for x in inputs]
        batches = length_batches(
            lengths,
            max_batch_samples=self.max_batch_samples,
            max_padding=None if self.uses_attention_mask else 0,
        )
        dtype = next(self.model.parameters()).dtype
        out: list[torch.Tensor | None] = [None] * len(inputs)
        with torch.inference_mode():
            for batch in self._batches(batches):
                longest = lengths[batch[0]]
                x = torch.zeros(len(batch), longest)
                mask = torch.zeros(len(batch), longest, dtype=torch.long)
                for row, i in enumerate(batch):
                    x[row, : lengths[i]] = inputs[i]
                    mask[row, : lengths[i]] = 1
                kwargs = {}
                if self.uses_attention_mask:
                    kwargs["attention_mask"] = mask.to(self.device)
                logits = self.model(x.to(self.device, dtype), **kwargs).logits
                frames = self.model._get_feat_extract_output_lengths(mask.sum(-1))
                logits = logits.float().cpu()
                for row, i in enumerate(batch):
                    out[i] = logits[row, : int(frames[row])].clone()
        return [t for t in out if t is not None]

    def decode(self, logits: Sequence[torch.Tensor]) -> list[str]:
        """Greedy CTC decoding of per-utterance logits ``(frames, vocab)``.

        The arg-max token of every frame, then the checkpoint's CTC tokenizer merges
        repeats and drops the blank (pad) token and maps the word delimiter to spaces.
        """
        self.load()
        tokenizer = self.processor.tokenizer
        return [tokenizer.decode(lg.argmax(-1).tolist()) for lg in logits]

    def transcribe(self, wavs: Sequence[torch.Tensor], sample_rate: int = 16000) -> list[str]:
        """Greedy CTC transcripts, one per waveform, in input order."""
        return self.decode(self.logits(wavs, sample_rate))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["padding"] = self.padding
        if self.model is not None:
            info["padding_resolved"] = (
                "attention_mask" if self._uses_mask else "none (equal-length batches)"
            )
            info["feat_extract_norm"] = getattr(self.model.config, "feat_extract_norm", None)
        return info


class WhisperTranscriber(_HFTranscriber):
    """Greedy Whisper transcription (``WhisperForConditionalGeneration``).

    Args:
        name_or_path: Hub name or local ``save_pretrained`` directory with model, processor
            and generation config. ``None`` = ``openai/whisper-large-v3`` (the seed-tts-eval
            judge).
        language: Spoken language forced into the decoder prompt (``"en"``,
            ``"english"``...); ``None`` lets the model detect it. English-only checkpoints
            (``*.en``) accept only ``None`` or English, and get no language token.
        task: ``"transcribe"`` or ``"translate"`` (multilingual checkpoints only).
        max_new_tokens: Cap on generated tokens; ``None`` = the generation config's limit.
        device: Torch device to run on.
        dtype: ``None`` (the checkpoint's), ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        max_batch_samples: Budget of padded samples per batch; every clip is padded to
            30 s, so the default allows 8 clips per batch.
        local_files_only: Never contact the hub.
        progress: Show a progress bar over batches.
    """

    backend = "whisper"
    default_model = "openai/whisper-large-v3"

    def __init__(
        self,
        name_or_path: str | os.PathLike | None = None,
        *,
        language: str | None = "en",
        task: str = "transcribe",
        max_new_tokens: int | None = None,
        device: str | torch.device = "cpu",
        dtype: str | None = None,
        max_batch_samples: int = 16000 * 30 * 8,
        local_files_only: bool = False,
        progress: bool = False,
    ) -> None:
        super().__init__(
            name_or_path,
            device=device,
            dtype=dtype,
            max_batch_samples=max_batch_samples,
            local_files_only=local_files_only,
            progress=progress,
        )
        if task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', got {task!r}")
        if language is not None and (not isinstance(language, str) or not language.strip()):
            raise ValueError(f"language must be None or a language name/code, got {language!r}")
        if max_new_tokens is not None and (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 1
        ):
            raise ValueError(f"max_new_tokens must be None or an int >= 1, got {max_new_tokens!r}")
        self.language = language
        self.task = task
        self.max_new_tokens = max_new_tokens
        self._english_only = False

    def _load_processor(self, source: str, **kwargs: Any) -> Any:
        from transformers import WhisperProcessor

        return WhisperProcessor.from_pretrained(source, **kwargs)

    def _load_model(self, source: str, **kwargs: Any) -> Any:
        from transformers import WhisperForConditionalGeneration

        return WhisperForConditionalGeneration.from_pretrained(source, **kwargs)

    def _after_load(self) -> None:
        gen = self.model.generation_config
        self._english_only = getattr(gen, "is_multilingual", True) is False
        if self._english_only and (
            self.task != "transcribe"
            or (self.language is not None and self.language.lower() not in ("en", "english"))
        ):
            raise ValueError(
                f"{self.name_or_path!r} is an English-only Whisper checkpoint; it cannot take "
                f"language={self.language!r}, task={self.task!r}: use a multilingual checkpoint"
            )

    @property
    def _max_samples(self) -> int:
        fe = self.processor.feature_extractor
        return int(fe.n_samples)

    def transcribe(self, wavs: Sequence[torch.Tensor], sample_rate: int = 16000) -> list[str]:
        """Greedy Whisper transcripts, one per waveform, in input order.

        Raises:
            ValueError: A waveform is malformed or longer than the 30 s window.
        """
        self.load()
        waves = _as_waveforms(wavs, sample_rate, self.sample_rate)
        window = self._max_samples
        for i, w in enumerate(waves):
            if w.numel() > window:
                raise ValueError(
                    f"wavs[{i}] is {w.numel() / self.sample_rate:.1f} s, longer than Whisper's "
                    f"{window / self.sample_rate:.0f} s window; cut it into shorter segments"
                )
        lengths = [w.numel() for w in waves]
        batches = length_batches(
            lengths,
            max_batch_samples=self.max_batch_samples,
            padded_length=lambda n: max(n, window),
        )
        gen_kwargs: dict[str, Any] = {"do_sample": False, "num_beams": 1}
        if not self._english_only:
            gen_kwargs["task"] = self.task
            if self.language is not None:
                gen_kwargs["language"] = self.language
        if self.max_new_tokens is not None:
            gen_kwargs["max_new_tokens"] = self.max_new_tokens
        dtype = next(self.model.parameters()).dtype
        out: list[str | None] = [None] * len(waves)
        with torch.inference_mode():
            for batch in self._batches(batches):
                features = self.processor.feature_extractor(
                    [waves[i].numpy() for i in batch],
                    sampling_rate=self.sample_rate,
                    return_tensors="pt",
                ).input_features
                ids = self.model.generate(features.to(self.device, dtype), **gen_kwargs)
                texts = self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
                for i, text in zip(batch, texts, strict=True):
                    out[i] = text.strip()
        return [t if t is not None else "" for t in out]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            language=None if self._english_only else self.language,
            task=self.task,
            max_new_tokens=self.max_new_tokens,
            english_only=self._english_only if self.model is not None else None,
        )
        return info


_BACKENDS: dict[str, type[_HFTranscriber]] = {
    "ctc": CTCTranscriber,
    "whisper": WhisperTranscriber,
}


def get_transcriber(spec: str, **kwargs: Any) -> Transcriber:
    """Build a transcriber from a spec string.

    Args:
        spec: ``"ctc:<name-or-path>"``, ``"whisper:<name-or-path>"`` (a bare ``"ctc"`` or
            ``"whisper"`` takes the backend's default model), or ``"library:<checkpoint>"``
            for the library's own CTC recogniser (a :func:`audio_unlearn.models.asr.save_asr`
            file, e.g. the ``asr-speaker`` recipe's ``checkpoints/original.pt``), served by
            :class:`audio_unlearn.evaluation.asr_library.LibraryCTCTranscriber`.
        **kwargs: Keyword options of the backend class (``device``, ``max_batch_samples``...).

    Raises:
        ValueError: The backend is unknown or the spec is malformed.
        FileNotFoundError: A ``library:`` checkpoint does not exist.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"ASR spec must be a string like 'ctc:<name-or-path>', got {spec!r}")
    backend, _, target = spec.strip().partition(":")
    backend = backend.lower()
    if backend == "library":
        from audio_unlearn.evaluation.asr_library import LibraryCTCTranscriber

        if not target.strip():
            raise ValueError(
                f"ASR spec {spec!r} names no checkpoint; use 'library:<path/to/asr.pt>'"
            )
        return LibraryCTCTranscriber(target.strip(), **kwargs)
    if backend not in _BACKENDS:
        raise ValueError(
            f"unknown ASR backend {backend!r} in spec {spec!r}; use one of "
            f"{[*sorted(_BACKENDS), 'library']} as '<backend>:<name-or-path>'"
        )
    return _BACKENDS[backend](target or None, **kwargs)
