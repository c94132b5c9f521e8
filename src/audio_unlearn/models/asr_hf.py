"""transformers speech recognisers behind the interface of the library's CTC recogniser.

The ASR unlearning methods (:mod:`audio_unlearn.methods.asr`) and the ASR experiment
(:mod:`audio_unlearn.asr_experiment`) talk to a recogniser through a few methods, which
:class:`~audio_unlearn.models.asr.CTCRecognizer` defines and the two wrappers here
implement the same way:

- ``vocab``: the text side, ``encode(text) -> ids`` (the ASR batches' targets),
  ``normalise(text) -> str`` (what references and hypotheses are scored on);
- ``sequence_outputs(wavs, wav_lengths, targets, target_lengths) -> (log_probs, lengths)``:
  the per-position output distributions ``(batch, positions, vocab)`` that SCRUB's
  sequence KL compares (CTC: the frames; Whisper: the decoder's label positions under
  teacher forcing), with the valid positions of each row;
- ``loss_from_outputs(log_probs, lengths, targets, target_lengths) -> (batch,)`` and
  ``loss(wavs, wav_lengths, targets, target_lengths) -> (batch,)``: per-sample losses
  (normalised per target token by default), the losses of training, unlearning and the
  membership attacks;
- ``transcribe_batch(wavs, wav_lengths) -> list[str]`` (greedy) and
  ``score_batch(...) -> (losses, transcripts)``;
- ``layer_groups()`` (CF-k), ``settings()`` (what identifies the model in checkpoints).

:class:`HFCTCRecognizer` wraps any ``*ForCTC`` model (wav2vec2, HuBERT, WavLM; Baevski et
al., "wav2vec 2.0", NeurIPS 2020; Hsu et al., "HuBERT", 2021; Chen et al., "WavLM", 2022),
CTC loss (Graves et al., ICML 2006) with the checkpoint's pad token as the blank and its
character tokenizer as the vocabulary. :class:`HFWhisperRecognizer` wraps
``WhisperForConditionalGeneration`` (Radford et al., "Robust Speech Recognition via
Large-Scale Weak Supervision", 2022): the per-sample loss is the teacher-forced token
cross-entropy of the transcript and the end-of-text token after the decoder prompt
(start of transcript, language, task, no timestamps: the prompt ``generate`` uses),
padding masked; decoding is batched greedy ``generate``.

Both load by hub name or local ``save_pretrained`` directory through
:meth:`from_pretrained` (the only place the hub is contacted; never in ``__init__``).
:func:`save_hf_asr` / :func:`load_hf_asr` write and read a checkpoint *directory*: the
model and processor with ``save_pretrained`` (so ``get_transcriber("ctc:<dir>")`` or
``"whisper:<dir>"`` serves it as well) plus ``audio_unlearn_asr.json`` with the wrapper's
settings and the caller's metadata. :func:`build_recognizer`, :func:`save_recognizer`
and :func:`load_recognizer` dispatch over the three kinds (``library``, ``hf_ctc``,
``hf_whisper``).

Padding. The CTC wrapper normalises each utterance over its own samples (when the
feature extractor says ``do_normalize``) and zeroes the padding. Checkpoints whose
feature extractor returns an attention mask (layer-norm feature encoders: HuBERT-large,
wav2vec2-large-lv60, WavLM) get one, and a padded batch then gives the per-item outputs
up to float rounding (tested). Group-norm checkpoints (wav2vec2-base, HuBERT-base)
normalise over the padded sequence and take no mask, as in their own fine-tuning
recipes: their outputs depend on the padding unless a batch holds equal lengths. Whisper
pads every input to its encoder window, so batching changes no encoder input, and the
decoder is causal, so label padding at the end of a row changes no earlier position.

Licences: wav2vec2/HuBERT/WavLM checkpoints (Meta, Microsoft) are Apache-2.0 or MIT,
Whisper (OpenAI) MIT; see each model card.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .asr import (
    ASRCheckpoint,
    ASRCheckpointError,
    CTCRecognizer,
    CTCRecognizerConfig,
    load_asr,
    per_sample_ctc_loss,
    save_asr,
)
from .hf_classifier import whisper_log_mel

__all__ = [
    "HF_ASR_FORMAT",
    "RECOGNIZER_KINDS",
    "CTCTokenizerVocabulary",
    "HFCTCRecognizer",
    "HFWhisperRecognizer",
    "WhisperTextVocabulary",
    "build_recognizer",
    "load_hf_asr",
    "load_recognizer",
    "recognizer_kind",
    "save_hf_asr",
    "save_recognizer",
]

logger = logging.getLogger(__name__)

HF_ASR_FORMAT = "audio-unlearn/asr-hf"
HF_ASR_VERSION = 1
#: File beside the ``save_pretrained`` files of an HF ASR checkpoint directory.
META_FILE = "audio_unlearn_asr.json"
#: Recogniser kinds of :func:`build_recognizer` (and the ASR experiment's ``model.kind``).
RECOGNIZER_KINDS: tuple[str, ...] = ("library", "hf_ctc", "hf_whisper")


def _check_source(source: str | os.PathLike) -> tuple[str, bool]:
    """``(source, is_local)``; a path-like source that does not exist is an error."""
    text = os.fspath(source)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"model source must be a hub name or a directory, got {source!r}")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(
                f"ASR model source {path} is a file; pass the directory written by "
                "save_pretrained (config.json, weights and processor files)"
            )
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"ASR model directory {path} has no config.json; pass a directory written "
                "by save_pretrained (model and processor)"
            )
        return str(path.resolve()), True
    if text.startswith(("/", "./", "../", "~")) or text.count("/") > 1:
        raise FileNotFoundError(
            f"ASR model directory {text!r} does not exist; pass an existing directory or a "
            "hub name such as 'facebook/wav2vec2-base-960h'"
        )
    return text, False


def _load_or_explain(loader, source: str, what: str, **kwargs):
    try:
        return loader(source, **kwargs)
    except OSError as err:
        raise FileNotFoundError(
            f"could not load the {what} of {source!r} ({err}); pass a save_pretrained "
            "directory or a hub name reachable from this machine"
        ) from err


# --------------------------------------------------------------------------- text


class CTCTokenizerVocabulary:
    """The text side of a CTC checkpoint's character tokenizer (``Wav2Vec2CTCTokenizer``).

    Characters are the tokenizer's one-character tokens other than its special tokens;
    the word delimiter token (``|``) stands for the space. A single-case vocabulary (the
    LibriSpeech checkpoints are upper-case) is matched case-insensitively and
    :meth:`normalise` returns lower case.

    Args:
        tokenizer: the checkpoint's CTC tokenizer.
        blank: the blank id (the model's ``pad_token_id``).

    Raises:
        ValueError: the tokenizer has no word delimiter or no character tokens.
    """

    def __init__(self, tokenizer: Any, blank: int):
        vocab = dict(tokenizer.get_vocab())
        delimiter = getattr(tokenizer, "word_delimiter_token", None)
        if delimiter is None or delimiter not in vocab:
            raise ValueError(
                "the CTC tokenizer has no word delimiter token (e.g. '|'); a character CTC "
                "checkpoint (Wav2Vec2CTCTokenizer) is needed"
            )
        specials = {str(t) for t in tokenizer.all_special_tokens} - {delimiter}
        chars = {t: i for t, i in vocab.items() if len(t) == 1 and t not in specials}
        chars.pop(delimiter, None)
        if not chars:
            raise ValueError("the CTC tokenizer has no one-character tokens")
        letters = [c for c in chars if c.isalpha()]
        if letters and all(c.isupper() for c in letters):
            self._case = str.upper
        elif letters and all(c.islower() for c in letters):
            self._case = str.lower
        else:
            self._case = None
        self.blank = int(blank)
        self.delimiter_id = int(vocab[delimiter])
        self.index = {c: int(i) for c, i in chars.items()}
        self.tokens = {int(i): t for t, i in vocab.items()}
        self.tokens[self.delimiter_id] = " "
        self._special_ids = {int(vocab[t]) for t in specials if t in vocab}
        self.characters = "".join(sorted(chars))

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"CTCTokenizerVocabulary({self.characters!r})"

    def normalise(self, text: str) -> str:
        """Characters outside the vocabulary become spaces, spaces collapsed; lower case
        for a single-case vocabulary (``"Turn it ON!"`` -> ``"turn it on"``)."""
        cased = self._case(text) if self._case else text
        kept = "".join(c if c in self.index else " " for c in cased)
        kept = re.sub(r"\s+", " ", kept).strip()
        return kept.lower() if self._case else kept

    def encode(self, text: str) -> list[int]:
        """Token ids of the normalised text (spaces as the word delimiter; no blanks)."""
        out = []
        for c in self.normalise(text):
            if c == " ":
                out.append(self.delimiter_id)
            else:
                out.append(self.index[self._case(c) if self._case else c])
        return out

    def decode_ctc(self, ids: Sequence[int]) -> str:
        """Greedy CTC collapse of frame ids: repeats merged, blanks and special tokens
        dropped, the delimiter as a space; normalised."""
        out, prev = [], None
        for i in ids:
            if i != prev and i != self.blank and i not in self._special_ids:
                out.append(self.tokens.get(int(i), ""))
            prev = i
        return self.normalise("".join(out))


class WhisperTextVocabulary:
    """The text side of a Whisper checkpoint: normaliser and byte-level BPE ids.

    :meth:`normalise` lower-cases, turns every character other than a letter, digit,
    apostrophe or space into a space and collapses spaces; :meth:`encode` tokenises the
    normalised text with a leading space (Whisper's transcripts start with one), without
    special tokens.

    Args:
        tokenizer: the checkpoint's ``WhisperTokenizer``.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"WhisperTextVocabulary({type(self.tokenizer).__name__}, {len(self.tokenizer)})"

    def normalise(self, text: str) -> str:
        lowered = text.lower().replace("_", " ")
        kept = re.sub(r"[^\w' ]", " ", lowered)
        return re.sub(r"\s+", " ", kept).strip()

    def encode(self, text: str) -> list[int]:
        normalised = self.normalise(text)
        if not normalised:
            return []
        return list(self.tokenizer.encode(" " + normalised, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self.normalise(self.tokenizer.decode(list(ids), skip_special_tokens=True))


def _mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


# --------------------------------------------------------------------------- CTC


class HFCTCRecognizer(nn.Module):
    """A transformers ``*ForCTC`` model (wav2vec2, HuBERT, WavLM) as a recogniser.

    Build it with :meth:`from_pretrained`; the constructor takes loaded objects.

    Args:
        net: the ``*ForCTC`` model (its output size must match the tokenizer).
        processor: the checkpoint's processor (``feature_extractor`` + CTC ``tokenizer``).
        source: where it came from (hub name or directory; recorded in checkpoints).
        freeze_feature_encoder: keep the convolutional feature encoder frozen
            (``requires_grad=False``), as the transformers CTC fine-tuning recipes do.

    Raises:
        ValueError: the processor lacks a part, or the model's vocabulary size does not
            match the tokenizer's.
    """

    kind: ClassVar[str] = "hf_ctc"

    def __init__(
        self, net: nn.Module, processor: Any, *, source: str = "", freeze_feature_encoder=True
    ):
        super().__init__()
        for part in ("feature_extractor", "tokenizer"):
            if not hasattr(processor, part):
                raise ValueError(
                    f"the processor of {source or 'the CTC model'} has no {part}; a CTC "
                    "checkpoint needs a Wav2Vec2Processor-style processor beside the model"
                )
        n_out = int(net.config.vocab_size)
        if n_out < len(processor.tokenizer):
            raise ValueError(
                f"{source or 'the CTC model'} outputs {n_out} tokens but its tokenizer has "
                f"{len(processor.tokenizer)}; load the processor of this model"
            )
        self.net = net
        self.processor = processor
        self.source = str(source)
        self.freeze_feature_encoder = bool(freeze_feature_encoder)
        fe = processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.do_normalize = bool(getattr(fe, "do_normalize", True))
        self.uses_attention_mask = bool(getattr(fe, "return_attention_mask", False))
        self.blank = int(net.config.pad_token_id if net.config.pad_token_id is not None else 0)
        self.vocab = CTCTokenizerVocabulary(processor.tokenizer, self.blank)
        if self.freeze_feature_encoder:
            for p in net.base_model.feature_extractor.parameters():
                p.requires_grad_(False)

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        *,
        processor: str | os.PathLike | None = None,
        freeze_feature_encoder: bool = True,
        local_files_only: bool = False,
    ) -> HFCTCRecognizer:
        """Load a CTC model and its processor by hub name or ``save_pretrained`` directory.

        Args:
            source: the model.
            processor: where the processor (feature extractor + CTC tokenizer) comes from
                when the model has none (a self-supervised encoder such as
                ``facebook/wav2vec2-base`` with ``facebook/wav2vec2-base-960h``'s
                processor); then the CTC head is sized to that tokenizer and freshly
                initialised. ``None``: the model's own.
            freeze_feature_encoder: see the class.
            local_files_only: never contact the hub.

        Raises:
            FileNotFoundError: a local path that does not exist, or nothing loadable.
        """
        from transformers import AutoModelForCTC, AutoProcessor

        src, local = _check_source(source)
        proc_src, proc_local = _check_source(processor) if processor is not None else (src, local)
        proc = _load_or_explain(
            AutoProcessor.from_pretrained,
            proc_src,
            "processor",
            local_files_only=local_files_only or proc_local,
        )
        tok = proc.tokenizer
        overrides: dict[str, Any] = {}
        if processor is not None:
            overrides = {"vocab_size": len(tok), "pad_token_id": tok.pad_token_id}
        net = _load_or_explain(
            AutoModelForCTC.from_pretrained,
            src,
            "CTC model",
            local_files_only=local_files_only or local,
            dtype=torch.float32,
            **overrides,
        )
        return cls(
            net,
            proc,
            source=os.fspath(source),
            freeze_feature_encoder=freeze_feature_encoder,
        )

    def settings(self) -> dict[str, Any]:
        """What identifies this recogniser (JSON; stored in checkpoints and run keys)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "freeze_feature_encoder": self.freeze_feature_encoder,
        }

    # -- shapes --------------------------------------------------------------------------
    def frame_lengths(self, wav_lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for waveforms of ``wav_lengths`` samples, ``(batch,)`` long."""
        return self.net._get_feat_extract_output_lengths(wav_lengths).long()

    def layer_groups(self) -> list[nn.Module]:
        """Input-to-output groups for CF-k: the front (convolutional feature encoder,
        feature projection, positional convolution; the encoder's input layer norm in
        post-norm models), each transformer layer, the head (the final layer norm of
        pre-norm "stable layer norm" models and the CTC output layer)."""
        base = self.net.base_model
        enc = base.encoder
        front = [base.feature_extractor, base.feature_projection, enc.pos_conv_embed]
        head = [self.net.lm_head]
        if getattr(self.net.config, "do_stable_layer_norm", False):
            head.insert(0, enc.layer_norm)
        else:
            front.append(enc.layer_norm)
        return [nn.ModuleList(front), *enc.layers, nn.ModuleList(head)]

    # -- forward -------------------------------------------------------------------------
    def inputs(
        self, wavs: torch.Tensor, wav_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Model inputs: per-utterance normalised values (padding zero) and the mask."""
        wavs = wavs.float()
        valid = _mask(wav_lengths, wavs.shape[1]).to(wavs.dtype)
        if self.do_normalize:
            n = wav_lengths[:, None].to(wavs.dtype).clamp(min=1)
            mean = (wavs * valid).sum(-1, keepdim=True) / n
            var = (((wavs - mean) * valid) ** 2).sum(-1, keepdim=True) / n
            wavs = (wavs - mean) / torch.sqrt(var + 1e-7)
        wavs = wavs * valid
        return wavs, valid.long() if self.uses_attention_mask else None

    def forward(
        self, wavs: torch.Tensor, wav_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame log-probabilities ``(batch, frames, vocab)`` and frame lengths.

        Args:
            wavs: ``(batch, samples)`` float waveforms at :attr:`sample_rate`, zero-padded.
            wav_lengths: ``(batch,)`` valid samples of each row (default: all).
        """
        if wavs.ndim != 2:
            raise ValueError(f"wavs must be (batch, samples), got shape {tuple(wavs.shape)}")
        if wav_lengths is None:
            wav_lengths = torch.full((wavs.shape[0],), wavs.shape[1], device=wavs.device)
        wav_lengths = wav_lengths.to(wavs.device).long()
        frames = self.frame_lengths(wav_lengths)
        if bool((frames < 1).any()):
            raise ValueError(
                f"a waveform of {int(wav_lengths.min())} samples is too short for one frame "
                f"of {self.source or 'the CTC model'}; pad or drop it"
            )
        values, mask = self.inputs(wavs, wav_lengths)
        logits = self.net(input_values=values, attention_mask=mask).logits
        return logits.float().log_softmax(-1), frames.clamp(max=logits.shape[1])

    def sequence_outputs(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames' log-probabilities and frame lengths (targets are not needed)."""
        return self(wavs, wav_lengths)

    def loss_from_outputs(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_token: bool = True,
    ) -> torch.Tensor:
        """Per-sample CTC loss ``(batch,)`` with the model's blank (see
        :func:`~audio_unlearn.models.asr.per_sample_ctc_loss`)."""
        return per_sample_ctc_loss(
            log_probs, lengths, targets, target_lengths, per_character=per_token, blank=self.blank
        )

    def loss(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_token: bool = True,
    ) -> torch.Tensor:
        """Per-sample CTC loss ``(batch,)``, nats per target token by default."""
        log_probs, frames = self(wavs, wav_lengths)
        return self.loss_from_outputs(
            log_probs, frames, targets.to(log_probs.device), target_lengths, per_token=per_token
        )

    def decode(self, log_probs: torch.Tensor, frames: torch.Tensor) -> list[str]:
        """Greedy CTC transcripts (normalised) of per-frame outputs."""
        best = log_probs.argmax(-1).cpu()
        return [
            self.vocab.decode_ctc(row[:n].tolist())
            for row, n in zip(best, frames.cpu().tolist(), strict=True)
        ]

    @torch.no_grad()
    def transcribe_batch(self, wavs: torch.Tensor, wav_lengths: torch.Tensor) -> list[str]:
        """Greedy transcripts of a padded batch (the model's mode is left unchanged)."""
        return self.decode(*self(wavs, wav_lengths))

    @torch.no_grad()
    def score_batch(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, list[str]]:
        """Per-sample losses and greedy transcripts from one forward pass."""
        log_probs, frames = self(wavs, wav_lengths)
        losses = self.loss_from_outputs(log_probs, frames, targets, target_lengths)
        return losses, self.decode(log_probs, frames)


# --------------------------------------------------------------------------- Whisper


def _language_token(language: str) -> str:
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    text = language.strip().lower()
    if text.startswith("<|") and text.endswith("|>"):
        return text
    code = TO_LANGUAGE_CODE.get(text, text)
    return f"<|{code}|>"


class HFWhisperRecognizer(nn.Module):
    """``WhisperForConditionalGeneration`` as a recogniser (teacher-forced loss, greedy
    ``generate``).

    Build it with :meth:`from_pretrained`; the constructor takes loaded objects.

    The decoder prompt is the one ``generate`` forces: start of transcript, the language
    and task tokens (multilingual checkpoints), no-timestamps. Targets are the
    transcript's token ids (:class:`WhisperTextVocabulary`); the loss scores the
    transcript tokens and the end-of-text token after the prompt (the prompt itself is
    given, not scored).

    Args:
        net: the Whisper model.
        processor: its ``WhisperProcessor`` (feature extractor + tokenizer).
        source: where it came from (recorded in checkpoints).
        language: the spoken language (``"en"``, ``"english"``); required for
            multilingual checkpoints (teacher forcing needs the prompt), ``None`` or
            English for English-only ones.
        task: ``"transcribe"`` or ``"translate"`` (multilingual checkpoints).
        max_new_tokens: cap on generated tokens (``None``: the generation config's
            ``max_length``).

    Raises:
        ValueError: a language or task the checkpoint cannot take.
    """

    kind: ClassVar[str] = "hf_whisper"

    def __init__(
        self,
        net: nn.Module,
        processor: Any,
        *,
        source: str = "",
        language: str | None = "en",
        task: str = "transcribe",
        max_new_tokens: int | None = None,
    ):
        super().__init__()
        if task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', got {task!r}")
        if max_new_tokens is not None and (
            isinstance(max_new_tokens, bool) or int(max_new_tokens) < 1
        ):
            raise ValueError(f"max_new_tokens must be None or >= 1, got {max_new_tokens!r}")
        self.net = net
        self.processor = processor
        self.source = str(source)
        self.language = language
        self.task = task
        self.max_new_tokens = None if max_new_tokens is None else int(max_new_tokens)
        self.vocab = WhisperTextVocabulary(processor.tokenizer)
        gen = net.generation_config
        lang_to_id = dict(getattr(gen, "lang_to_id", None) or {})
        self.multilingual = bool(getattr(gen, "is_multilingual", bool(lang_to_id)))
        prompt = [int(gen.decoder_start_token_id)]
        if self.multilingual:
            if language is None:
                raise ValueError(
                    f"{source or 'this Whisper model'} is multilingual: give `language` (e.g. "
                    "'en'); teacher-forced losses need the decoder prompt's language token"
                )
            token = _language_token(language)
            if token not in lang_to_id:
                raise ValueError(
                    f"language {language!r} ({token}) is not in the generation config of "
                    f"{source or 'this Whisper model'}; known: {sorted(lang_to_id)[:10]} ..."
                )
            prompt += [int(lang_to_id[token]), int(gen.task_to_id[task])]
        elif task != "transcribe" or (
            language is not None and _language_token(language) != "<|en|>"
        ):
            raise ValueError(
                f"{source or 'this Whisper model'} is English-only: it takes language=None "
                f"or English and task='transcribe', not language={language!r}, task={task!r}"
            )
        no_ts = getattr(gen, "no_timestamps_token_id", None)
        if no_ts is None:
            no_ts = processor.tokenizer.convert_tokens_to_ids("<|notimestamps|>")
        prompt.append(int(no_ts))
        self.prompt_ids = prompt
        eos = gen.eos_token_id if gen.eos_token_id is not None else net.config.eos_token_id
        self.eot = int(eos[0] if isinstance(eos, (list, tuple)) else eos)
        fe = processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.window_samples = int(fe.n_samples)
        self.n_fft = int(fe.n_fft)
        self.hop_length = int(fe.hop_length)
        self.register_buffer(
            "mel_filters", torch.tensor(fe.mel_filters, dtype=torch.float32), persistent=False
        )
        self.max_target_positions = int(net.config.max_target_positions)

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        *,
        language: str | None = "en",
        task: str = "transcribe",
        max_new_tokens: int | None = None,
        local_files_only: bool = False,
    ) -> HFWhisperRecognizer:
        """Load a Whisper model and its processor by hub name or ``save_pretrained`` directory.

        Raises:
            FileNotFoundError: a local path that does not exist, or nothing loadable.
        """
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        src, local = _check_source(source)
        kwargs = {"local_files_only": local_files_only or local}
        proc = _load_or_explain(WhisperProcessor.from_pretrained, src, "processor", **kwargs)
        net = _load_or_explain(
            WhisperForConditionalGeneration.from_pretrained,
            src,
            "Whisper model",
            dtype=torch.float32,
            **kwargs,
        )
        return cls(
            net,
            proc,
            source=os.fspath(source),
            language=language,
            task=task,
            max_new_tokens=max_new_tokens,
        )

    def settings(self) -> dict[str, Any]:
        """What identifies this recogniser (JSON; stored in checkpoints and run keys)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "language": self.language,
            "task": self.task,
            "max_new_tokens": self.max_new_tokens,
        }

    def layer_groups(self) -> list[nn.Module]:
        """Input-to-output groups for CF-k: the encoder's front (two convolutions and the
        positional embedding), each encoder layer, the encoder's final layer norm with the
        decoder's positional embedding, each decoder layer, and the head (the decoder's
        final layer norm and the token embedding, which the output projection shares)."""
        model = self.net.model
        enc, dec = model.encoder, model.decoder
        return [
            nn.ModuleList([enc.conv1, enc.conv2, enc.embed_positions]),
            *enc.layers,
            nn.ModuleList([enc.layer_norm, dec.embed_positions]),
            *dec.layers,
            nn.ModuleList([dec.layer_norm, dec.embed_tokens, self.net.proj_out]),
        ]

    # -- inputs --------------------------------------------------------------------------
    def features(self, wavs: torch.Tensor, wav_lengths: torch.Tensor) -> torch.Tensor:
        """Log-mel input features ``(batch, n_mels, frames)`` of the window-padded audio.

        Raises:
            ValueError: a waveform longer than the encoder's window.
        """
        wav_lengths = wav_lengths.to(wavs.device).long()
        if bool((wav_lengths > self.window_samples).any()):
            raise ValueError(
                f"a waveform of {int(wav_lengths.max()) / self.sample_rate:.1f} s is longer "
                f"than Whisper's {self.window_samples / self.sample_rate:g} s window; cut it or "
                "leave such utterances out (the ASR experiment's max_duration_s)"
            )
        x = wavs.float()[:, : self.window_samples]
        x = x * _mask(wav_lengths, x.shape[1]).to(x.dtype)
        x = F.pad(x, (0, self.window_samples - x.shape[1]))
        with torch.autocast(device_type=x.device.type, enabled=False):
            feats = whisper_log_mel(
                x, self.mel_filters, n_fft=self.n_fft, hop_length=self.hop_length
            )
        return feats.to(next(self.net.parameters()).dtype)

    def _decoder_inputs(
        self, targets: torch.Tensor, target_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder input ids ``(batch, P + L)`` and labels ``(batch, L + 1)``."""
        target_lengths = target_lengths.to(targets.device).long()
        n = int(target_lengths.max())
        if len(self.prompt_ids) + n > self.max_target_positions:
            raise ValueError(
                f"a transcript of {n} tokens plus the {len(self.prompt_ids)}-token prompt "
                f"exceeds the decoder's {self.max_target_positions} positions; drop or split "
                "such utterances"
            )
        batch = targets.shape[0]
        valid = _mask(target_lengths, n)
        text = torch.where(valid, targets[:, :n], torch.full_like(targets[:, :n], self.eot))
        prompt = torch.tensor(self.prompt_ids, device=targets.device).expand(batch, -1)
        labels = torch.cat([text, torch.full_like(text[:, :1], self.eot)], dim=1)
        labels[torch.arange(batch, device=targets.device), target_lengths] = self.eot
        return torch.cat([prompt, text], dim=1), labels

    # -- forward -------------------------------------------------------------------------
    def sequence_outputs(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced next-token log-probabilities at the label positions.

        Returns:
            ``log_probs`` ``(batch, L + 1, vocab)``: position ``j`` is the distribution
            after the prompt and the first ``j`` transcript tokens (``L`` = longest
            transcript); and ``lengths`` ``(batch,)`` = ``target_lengths + 1`` valid
            positions (the transcript and the end-of-text token).
        """
        targets = targets.to(wavs.device)
        target_lengths = target_lengths.to(wavs.device).long()
        decoder_ids, _ = self._decoder_inputs(targets, target_lengths)
        logits = self.net(
            input_features=self.features(wavs, wav_lengths),
            decoder_input_ids=decoder_ids,
            use_cache=False,
        ).logits
        start = len(self.prompt_ids) - 1
        return logits[:, start:].float().log_softmax(-1), target_lengths + 1

    def forward(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`sequence_outputs` (Whisper's outputs need the targets)."""
        return self.sequence_outputs(wavs, wav_lengths, targets, target_lengths)

    def loss_from_outputs(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_token: bool = True,
    ) -> torch.Tensor:
        """Token cross-entropy per utterance ``(batch,)``, padding masked.

        Args:
            log_probs: :meth:`sequence_outputs`'s log-probabilities.
            lengths: its valid positions (``target_lengths + 1``).
            targets: ``(batch, L)`` transcript token ids.
            target_lengths: ``(batch,)``.
            per_token: divide by the scored tokens (transcript + end of text), else sum.
        """
        targets = targets.to(log_probs.device)
        _, labels = self._decoder_inputs(targets, target_lengths.to(log_probs.device))
        nll = -log_probs.gather(-1, labels[..., None]).squeeze(-1)
        lengths = lengths.to(log_probs.device)
        valid = _mask(lengths, nll.shape[1]).to(nll.dtype)
        summed = (nll * valid).sum(-1)
        return summed / lengths.to(nll.dtype) if per_token else summed

    def loss(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_token: bool = True,
    ) -> torch.Tensor:
        """Per-sample teacher-forced cross-entropy ``(batch,)``, nats per token by default."""
        log_probs, lengths = self.sequence_outputs(wavs, wav_lengths, targets, target_lengths)
        return self.loss_from_outputs(
            log_probs, lengths, targets, target_lengths, per_token=per_token
        )

    @torch.no_grad()
    def transcribe_batch(self, wavs: torch.Tensor, wav_lengths: torch.Tensor) -> list[str]:
        """Greedy ``generate`` transcripts (normalised) of a padded batch."""
        kwargs: dict[str, Any] = {"do_sample": False, "num_beams": 1}
        if self.multilingual:
            kwargs.update(language=self.language, task=self.task)
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = self.max_new_tokens
        ids = self.net.generate(self.features(wavs, wav_lengths), **kwargs)
        if not isinstance(ids, torch.Tensor):
            ids = ids["sequences"]
        return [self.vocab.decode(row) for row in ids.tolist()]

    @torch.no_grad()
    def score_batch(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, list[str]]:
        """Per-sample teacher-forced losses and greedy transcripts."""
        losses = self.loss(wavs, wav_lengths, targets, target_lengths)
        return losses, self.transcribe_batch(wavs, wav_lengths)


# --------------------------------------------------------------------------- checkpoints

_HF_CLASSES: dict[str, type[nn.Module]] = {
    "hf_ctc": HFCTCRecognizer,
    "hf_whisper": HFWhisperRecognizer,
}


def recognizer_kind(model: nn.Module) -> str:
    """``"library"``, ``"hf_ctc"`` or ``"hf_whisper"``.

    Raises:
        ValueError: another model type.
    """
    if isinstance(model, CTCRecognizer):
        return "library"
    for kind, cls in _HF_CLASSES.items():
        if isinstance(model, cls):
            return kind
    raise ValueError(
        f"{type(model).__name__} is not a recogniser of this library (CTCRecognizer, "
        "HFCTCRecognizer, HFWhisperRecognizer)"
    )


def build_recognizer(kind: str, settings: dict[str, Any] | None = None) -> nn.Module:
    """A fresh recogniser of ``kind`` from its settings.

    Args:
        kind: ``"library"`` (settings = :class:`CTCRecognizerConfig` overrides; randomly
            initialised), ``"hf_ctc"`` (settings: ``source`` and the keyword options of
            :meth:`HFCTCRecognizer.from_pretrained`) or ``"hf_whisper"`` (``source`` and
            :meth:`HFWhisperRecognizer.from_pretrained`'s options).
        settings: the settings.

    Raises:
        ValueError: an unknown kind or setting, or no ``source`` for a transformers kind.
    """
    settings = dict(settings or {})
    if kind == "library":
        return CTCRecognizer(CTCRecognizerConfig(**settings))
    if kind not in _HF_CLASSES:
        raise ValueError(f"unknown recogniser kind {kind!r}; use one of {RECOGNIZER_KINDS}")
    source = settings.pop("source", None)
    if not source:
        raise ValueError(
            f"model kind {kind!r} needs `source`: a hub name or a save_pretrained directory"
        )
    cls = _HF_CLASSES[kind]
    import inspect

    known = set(inspect.signature(cls.from_pretrained).parameters) - {"source"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"unknown {kind} setting(s) {unknown}; known: ['source', *{sorted(known)}]"
        )
    return cls.from_pretrained(source, **settings)


def save_hf_asr(
    path: str | os.PathLike, model: HFCTCRecognizer | HFWhisperRecognizer, *, meta=None
) -> Path:
    """Save a transformers recogniser as a checkpoint directory, atomically.

    The directory holds the model and processor (``save_pretrained``) and
    ``audio_unlearn_asr.json`` (format, version, the wrapper's :meth:`settings`, ``meta``).
    It is written beside ``path`` and moved into place, replacing an older one.

    Raises:
        ASRCheckpointError: ``model`` is not a transformers recogniser of this module.
    """
    if not isinstance(model, (HFCTCRecognizer, HFWhisperRecognizer)):
        raise ASRCheckpointError(
            f"save_hf_asr saves HFCTCRecognizer/HFWhisperRecognizer, got {type(model).__name__}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        model.net.save_pretrained(tmp)
        model.processor.save_pretrained(tmp)
        record = {
            "format": HF_ASR_FORMAT,
            "version": HF_ASR_VERSION,
            "settings": model.settings(),
            "meta": meta or {},
        }
        (tmp / META_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n")
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_hf_asr(
    path: str | os.PathLike, *, expect_settings: dict[str, Any] | None = None
) -> ASRCheckpoint:
    """Load a directory written by :func:`save_hf_asr` (model in eval mode, on CPU).

    Args:
        path: the checkpoint directory.
        expect_settings: if given, the stored wrapper settings must equal it.

    Raises:
        FileNotFoundError: no such directory.
        ASRCheckpointError: not such a checkpoint, another version, unloadable files or
            other settings than expected.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"HF ASR checkpoint directory {path} not found; the ASR experiment writes them "
            "under <run>/checkpoints/ for model kinds hf_ctc and hf_whisper"
        )
    meta_file = path / META_FILE
    try:
        record = json.loads(meta_file.read_text())
    except (OSError, ValueError) as err:
        raise ASRCheckpointError(
            f"{path} is not an audio-unlearn HF ASR checkpoint ({META_FILE}: {err})"
        ) from None
    if not isinstance(record, dict) or record.get("format") != HF_ASR_FORMAT:
        raise ASRCheckpointError(f"{meta_file} is not in format {HF_ASR_FORMAT!r}")
    if record.get("version") != HF_ASR_VERSION:
        raise ASRCheckpointError(
            f"{path} has version {record.get('version')}; this library reads {HF_ASR_VERSION}"
        )
    settings = dict(record.get("settings") or {})
    if expect_settings is not None and settings != expect_settings:
        raise ASRCheckpointError(
            f"{path} was saved with settings {settings}, expected {expect_settings}; use the "
            "checkpoint of this model or a new run directory"
        )
    kind = settings.pop("kind", None)
    if kind not in _HF_CLASSES:
        raise ASRCheckpointError(f"{meta_file}: unknown kind {kind!r}")
    source = settings.pop("source", "")
    try:
        model = _HF_CLASSES[kind].from_pretrained(path, local_files_only=True, **settings)
    except (OSError, ValueError, TypeError) as err:
        raise ASRCheckpointError(f"{path}: cannot load the model ({err})") from None
    model.source = source
    return ASRCheckpoint(model.eval(), dict(record.get("meta") or {}))


def save_recognizer(path: str | os.PathLike, model: nn.Module, *, meta=None) -> Path:
    """:func:`~audio_unlearn.models.asr.save_asr` (a file) for the library's model,
    :func:`save_hf_asr` (a directory) for the transformers wrappers."""
    if recognizer_kind(model) == "library":
        return save_asr(path, model, meta=meta)
    return save_hf_asr(path, model, meta=meta)


def load_recognizer(path: str | os.PathLike) -> ASRCheckpoint:
    """Load either checkpoint form: a :func:`save_asr` file or a :func:`save_hf_asr`
    directory.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ASRCheckpointError: an unreadable or foreign checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        return load_hf_asr(path)
    return load_asr(path)
