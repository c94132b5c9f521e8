"""The library's own small CTC speech recogniser, its checkpoints and a transcriber.

:class:`CTCRecognizer` is a character-level CTC model (Graves et al., "Connectionist
Temporal Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
Networks", ICML 2006) in the shape of Deep Speech 2 (Amodei et al., ICML 2016), made small
enough to train on a CPU in minutes on the synthetic corpus:

- log-mel front end (``center=False`` STFT, so a frame never reads past the waveform's
  end), log compression, mean/variance normalisation per utterance and mel bin over the
  utterance's own frames;
- a 1-D convolutional lobe over time (the mel bins are channels) whose strides subsample
  the frame rate (default 3x: 30 ms output frames);
- bidirectional GRU layers over packed sequences;
- a linear layer to the character vocabulary (blank, space, apostrophe, a-z).

Batching is exact: padded frames are zeroed before every convolution (so a convolution
sees what the per-item run's own zero padding would show), the GRUs run on packed
sequences, and the normalisation statistics cover valid frames only, so a padded batch
gives the per-item log-probabilities up to float rounding (tested).

The per-sample loss is the CTC negative log-likelihood, ``reduction="none"``; divided by
the transcript length in characters by default (:func:`per_sample_ctc_loss`), which makes
losses of short and long utterances comparable for membership attacks.

Checkpoints (:func:`save_asr` / :func:`load_asr`) hold the config, the vocabulary and the
weights in one file, written atomically; a vocabulary or config mismatch is an error.
:class:`audio_unlearn.evaluation.asr_library.LibraryCTCTranscriber` wraps a checkpoint in
the evaluation ``Transcriber`` interface (it lives in ``evaluation`` because models never
import evaluation); ``get_transcriber("library:<checkpoint>")`` returns one, so the model
is the offline WER judge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .checkpoint import atomic_torch_save, safe_torch_load

__all__ = [
    "ASRCheckpoint",
    "ASRCheckpointError",
    "CTCRecognizer",
    "CTCRecognizerConfig",
    "CharVocabulary",
    "greedy_ctc_decode",
    "load_asr",
    "per_sample_ctc_loss",
    "save_asr",
]

FORMAT = "audio-unlearn/asr-ctc"
VERSION = 1
BLANK = "<blank>"
#: Characters of the default vocabulary (after the blank): space, apostrophe, a-z.
DEFAULT_CHARACTERS: tuple[str, ...] = (" ", "'", *"abcdefghijklmnopqrstuvwxyz")


class CharVocabulary:
    """Character vocabulary of a CTC model; index 0 is the CTC blank.

    Args:
        characters: output characters in index order (1, 2, ...); unique, one
            character each; must contain the space (the word separator).

    Raises:
        ValueError: duplicates, multi-character entries or no space.
    """

    def __init__(self, characters: Sequence[str] = DEFAULT_CHARACTERS):
        chars = tuple(characters)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"vocabulary entries must be single characters, got {bad[:5]}")
        if len(set(chars)) != len(chars):
            raise ValueError(f"vocabulary has duplicate characters: {chars}")
        if " " not in chars:
            raise ValueError("the vocabulary must contain the space ' ' (the word separator)")
        self.characters = chars
        self.tokens = (BLANK, *chars)
        self.index = {c: i + 1 for i, c in enumerate(chars)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocabulary) and other.characters == self.characters

    def __hash__(self) -> int:
        return hash(self.characters)

    def __repr__(self) -> str:
        return f"CharVocabulary({''.join(self.characters)!r})"

    def normalise(self, text: str) -> str:
        """Lower-case; characters outside the vocabulary become spaces; spaces collapsed.

        ``"Turn on the lights!"`` -> ``"turn on the lights"``; ``"well-known"`` ->
        ``"well known"`` (with the default vocabulary).
        """
        lowered = text.lower()
        kept = "".join(c if c in self.index else " " for c in lowered)
        return re.sub(r" +", " ", kept).strip()

    def encode(self, text: str) -> list[int]:
        """Token ids of the normalised ``text`` (no blanks)."""
        return [self.index[c] for c in self.normalise(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Characters of token ids, blanks dropped (no CTC collapsing)."""
        return "".join(self.tokens[i] for i in ids if i != 0)


@dataclass(frozen=True)
class CTCRecognizerConfig:
    """Hyper-parameters of :class:`CTCRecognizer` (the checkpoint stores them).

    Attributes:
        characters: output characters (the blank is added as index 0).
        sample_rate: input sample rate, Hz.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples; 160 = 10 ms at 16 kHz).
        n_mels: mel bins.
        conv_channels: channels of the convolutional lobe.
        conv_kernel: kernel size of each convolution (odd).
        conv_strides: stride of each convolution; their product subsamples the frame rate.
        blocks: residual convolution blocks after the subsampling (each: layer norm,
            depthwise convolution, position-wise feed-forward), the convolution module
            of a Conformer (Gulati et al., Interspeech 2020) without attention; they run
            in parallel over time, which keeps CPU training fast.
        block_kernel: depthwise kernel size of the blocks (odd).
        ffn_mult: feed-forward width of the blocks, as a multiple of ``conv_channels``.
        rnn_hidden: hidden size of each GRU direction.
        rnn_layers: bidirectional GRU layers on top of the blocks (0 = none).
        dropout: dropout inside the blocks and before each GRU layer.
        freq_masks: SpecAugment frequency masks per utterance in training mode (Park et
            al., "SpecAugment", Interspeech 2019); 0 = off.
        freq_mask_width: maximum width of a frequency mask (mel bins).
        time_masks: SpecAugment time masks per utterance in training mode.
        time_mask_width: maximum width of a time mask (frames).
    """

    characters: tuple[str, ...] = DEFAULT_CHARACTERS
    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 64
    conv_channels: int = 192
    conv_kernel: int = 5
    conv_strides: tuple[int, ...] = (1, 3)
    blocks: int = 5
    block_kernel: int = 11
    ffn_mult: int = 2
    rnn_hidden: int = 128
    rnn_layers: int = 0
    dropout: float = 0.1
    freq_masks: int = 2
    freq_mask_width: int = 10
    time_masks: int = 2
    time_mask_width: int = 12

    def __post_init__(self) -> None:
        object.__setattr__(self, "characters", tuple(self.characters))
        object.__setattr__(self, "conv_strides", tuple(int(s) for s in self.conv_strides))
        positive = ("sample_rate", "n_fft", "hop_length", "n_mels", "conv_channels")
        zero_ok = ("blocks", "rnn_layers", "freq_masks", "freq_mask_width", "time_masks")
        for name in (*positive, "rnn_hidden", "ffn_mult", *zero_ok, "time_mask_width"):
            value = getattr(self, name)
            low = 0 if name in zero_ok or name == "time_mask_width" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"CTCRecognizerConfig.{name} must be an int >= {low}, got {value!r}"
                )
        for name in ("conv_kernel", "block_kernel"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise ValueError(f"{name} must be odd and >= 1, got {value}")
        if not self.conv_strides or any(s < 1 for s in self.conv_strides):
            raise ValueError(f"conv_strides must be >= 1 each, got {self.conv_strides}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        CharVocabulary(self.characters)  # validates

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["characters"] = list(self.characters)
        record["conv_strides"] = list(self.conv_strides)
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> CTCRecognizerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ValueError(f"unknown CTCRecognizer setting(s) {unknown}; known: {sorted(known)}")
        return cls(**record)


def _mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(batch, max_len)`` bool, True on valid positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class ConvBlock(nn.Module):
    """Residual block: layer norm, depthwise convolution, GELU, feed-forward, dropout.

    Input and output ``(batch, channels, frames)``; padded frames are zeroed before the
    depthwise convolution, so they never leak into valid frames.
    """

    def __init__(self, channels: int, kernel: int, ffn_mult: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.depthwise = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.ffn_in = nn.Linear(channels, ffn_mult * channels)
        self.ffn_out = nn.Linear(ffn_mult * channels, channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.norm(x.transpose(1, 2)).transpose(1, 2) * mask
        y = F.gelu(self.depthwise(y)).transpose(1, 2)
        y = self.ffn_out(self.dropout(F.gelu(self.ffn_in(y))))
        return (x + self.dropout(y).transpose(1, 2)) * mask


class CTCRecognizer(nn.Module):
    """Log-mel + convolution (+ BiGRU) character CTC recogniser (see the module docstring).

    Args:
        config: the hyper-parameters; ``CTCRecognizerConfig()`` gives about 1.0 M
            parameters.
    """

    def __init__(self, config: CTCRecognizerConfig | None = None):
        super().__init__()
        self.config = config = config or CTCRecognizerConfig()
        self.vocab = CharVocabulary(config.characters)
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            center=False,
        )
        convs = []
        in_ch = config.n_mels
        for stride in config.conv_strides:
            convs.append(
                nn.Conv1d(
                    in_ch,
                    config.conv_channels,
                    config.conv_kernel,
                    stride=stride,
                    padding=config.conv_kernel // 2,
                )
            )
            in_ch = config.conv_channels
        self.convs = nn.ModuleList(convs)
        self.blocks = nn.ModuleList(
            ConvBlock(config.conv_channels, config.block_kernel, config.ffn_mult, config.dropout)
            for _ in range(config.blocks)
        )
        self.rnns = nn.ModuleList(
            nn.GRU(
                config.conv_channels if i == 0 else 2 * config.rnn_hidden,
                config.rnn_hidden,
                batch_first=True,
                bidirectional=True,
            )
            for i in range(config.rnn_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        out_dim = 2 * config.rnn_hidden if config.rnn_layers else config.conv_channels
        self.output = nn.Linear(out_dim, len(self.vocab))

    # -- shapes --------------------------------------------------------------------------
    def frame_lengths(self, wav_lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for waveforms of ``wav_lengths`` samples, ``(batch,)`` long."""
        c = self.config
        n = torch.div(wav_lengths - c.n_fft, c.hop_length, rounding_mode="floor") + 1
        n = n.clamp(min=0)
        pad = c.conv_kernel // 2
        for stride in c.conv_strides:
            n = torch.div(n + 2 * pad - c.conv_kernel, stride, rounding_mode="floor") + 1
            n = n.clamp(min=0)
        return n

    def layer_groups(self) -> list[nn.Module]:
        """Input-to-output groups for CF-k: convolutions, blocks, GRUs, the output layer."""
        return [*self.convs, *self.blocks, *self.rnns, self.output]

    # -- forward -------------------------------------------------------------------------
    def features(self, wavs: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Normalised log-mel features ``(batch, n_mels, frames)`` and frame lengths."""
        c = self.config
        n_frames = torch.div(wav_lengths - c.n_fft, c.hop_length, rounding_mode="floor") + 1
        if bool((n_frames < 1).any()):
            short = int(wav_lengths.min())
            raise ValueError(
                f"a waveform of {short} samples is shorter than one STFT frame ({c.n_fft} "
                "samples); pad or drop it"
            )
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            mel = self.melspec(wavs.float())  # (B, n_mels, T)
        mel = torch.log(mel + 1e-6)
        mask = _mask(n_frames, mel.shape[-1])[:, None, :].to(mel.dtype)
        count = n_frames[:, None, None].to(mel.dtype)
        mean = (mel * mask).sum(-1, keepdim=True) / count
        var = (((mel - mean) * mask) ** 2).sum(-1, keepdim=True) / count
        feats = (mel - mean) / torch.sqrt(var + 1e-5) * mask
        if self.training:
            feats = self._spec_augment(feats, n_frames)
        return feats, n_frames

    def _spec_augment(self, feats: torch.Tensor, n_frames: torch.Tensor) -> torch.Tensor:
        """Zero random frequency bands and time spans of each utterance (training only)."""
        c = self.config
        batch, n_mels, t_max = feats.shape
        keep = torch.ones_like(feats)
        bins = torch.arange(n_mels, device=feats.device)
        frames = torch.arange(t_max, device=feats.device)
        for _ in range(c.freq_masks if c.freq_mask_width else 0):
            width = torch.randint(0, c.freq_mask_width + 1, (batch,), device=feats.device)
            start = (torch.rand(batch, device=feats.device) * (n_mels - width + 1)).long()
            band = (bins[None, :] >= start[:, None]) & (bins[None, :] < (start + width)[:, None])
            keep = keep * (~band)[:, :, None]
        for _ in range(c.time_masks if c.time_mask_width else 0):
            width = torch.randint(0, c.time_mask_width + 1, (batch,), device=feats.device)
            width = torch.minimum(width, n_frames // 5)
            start = (torch.rand(batch, device=feats.device) * (n_frames - width + 1)).long()
            span = (frames[None, :] >= start[:, None]) & (
                frames[None, :] < (start + width)[:, None]
            )
            keep = keep * (~span)[:, None, :]
        return feats * keep

    def forward(
        self, wavs: torch.Tensor, wav_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame log-probabilities.

        Args:
            wavs: ``(batch, samples)`` float waveforms, zero-padded on the right.
            wav_lengths: ``(batch,)`` valid samples of each row (default: all).

        Returns:
            ``log_probs`` ``(batch, frames, vocab)`` (log-softmax) and ``frame_lengths``
            ``(batch,)``; frames past a row's length are padding.
        """
        if wavs.ndim != 2:
            raise ValueError(f"wavs must be (batch, samples), got shape {tuple(wavs.shape)}")
        if wav_lengths is None:
            wav_lengths = torch.full((wavs.shape[0],), wavs.shape[1], device=wavs.device)
        wav_lengths = wav_lengths.to(wavs.device).long()
        x, lengths = self.features(wavs, wav_lengths)
        pad = self.config.conv_kernel // 2
        for conv in self.convs:
            x = x * _mask(lengths, x.shape[-1])[:, None, :].to(x.dtype)
            x = F.gelu(conv(x))
            lengths = (
                torch.div(
                    lengths + 2 * pad - conv.kernel_size[0], conv.stride[0], rounding_mode="floor"
                )
                + 1
            )
        mask = _mask(lengths, x.shape[-1])[:, None, :].to(x.dtype)
        x = x * mask
        for block in self.blocks:
            x = block(x, mask)
        x = x.transpose(1, 2)  # (B, T, C)
        t_max = x.shape[1]
        for rnn in self.rnns:
            packed = pack_padded_sequence(
                self.dropout(x), lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = rnn(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=t_max)
        logits = self.output(x)
        return logits.float().log_softmax(-1), lengths

    def sequence_outputs(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The output distributions a sequence KL compares: :meth:`forward`'s per-frame
        log-probabilities and frame lengths (CTC needs no targets for them).

        The recogniser interface shared with :mod:`audio_unlearn.models.asr_hf`, whose
        Whisper wrapper returns teacher-forced decoder distributions here.
        """
        return self(wavs, wav_lengths)

    def loss_from_outputs(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_character: bool = True,
    ) -> torch.Tensor:
        """Per-sample CTC loss ``(batch,)`` of :meth:`sequence_outputs`' outputs."""
        return per_sample_ctc_loss(
            log_probs, lengths, targets, target_lengths, per_character=per_character
        )

    def loss(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        per_character: bool = True,
    ) -> torch.Tensor:
        """Per-sample CTC loss ``(batch,)`` (see :func:`per_sample_ctc_loss`)."""
        log_probs, frames = self(wavs, wav_lengths)
        return per_sample_ctc_loss(
            log_probs, frames, targets, target_lengths, per_character=per_character
        )

    @torch.no_grad()
    def transcribe_batch(self, wavs: torch.Tensor, wav_lengths: torch.Tensor) -> list[str]:
        """Greedy transcripts of a padded batch (the model's mode is left unchanged)."""
        log_probs, frames = self(wavs, wav_lengths)
        return greedy_ctc_decode(log_probs, frames, self.vocab)

    @torch.no_grad()
    def score_batch(
        self,
        wavs: torch.Tensor,
        wav_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, list[str]]:
        """Per-sample losses (nats per character) and greedy transcripts, one forward pass."""
        log_probs, frames = self(wavs, wav_lengths)
        losses = per_sample_ctc_loss(log_probs, frames, targets, target_lengths)
        return losses, greedy_ctc_decode(log_probs, frames, self.vocab)

    def settings(self) -> dict[str, Any]:
        """What identifies this recogniser: its kind and config (JSON)."""
        return {"kind": "library", **self.config.to_json()}


def per_sample_ctc_loss(
    log_probs: torch.Tensor,
    frame_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    *,
    per_character: bool = True,
    blank: int = 0,
) -> torch.Tensor:
    """CTC negative log-likelihood of each utterance (Graves et al., ICML 2006).

    Args:
        log_probs: ``(batch, frames, vocab)`` log-softmax outputs.
        frame_lengths: ``(batch,)`` valid frames.
        targets: ``(batch, max_target_len)`` token ids (padding ignored).
        target_lengths: ``(batch,)`` transcript lengths in tokens (>= 1).
        per_character: divide each loss by its transcript length (nats per character),
            else the summed negative log-likelihood.
        blank: index of the CTC blank (0 for the library's model; the pad token of
            transformers CTC checkpoints).

    Returns:
        ``(batch,)`` losses. An utterance too short for its transcript (an impossible
        alignment) gets ``inf`` summed loss; ``zero_infinity`` is deliberately *not* used,
        so callers see it (training code may mask it).
    """
    losses = F.ctc_loss(
        log_probs.transpose(0, 1).float(),
        targets,
        frame_lengths,
        target_lengths,
        blank=blank,
        reduction="none",
        zero_infinity=False,
    )
    if per_character:
        losses = losses / target_lengths.clamp(min=1).to(losses.dtype)
    return losses


def greedy_ctc_decode(
    log_probs: torch.Tensor, frame_lengths: torch.Tensor, vocab: CharVocabulary
) -> list[str]:
    """Greedy CTC decoding: arg-max per frame, repeats merged, blanks dropped.

    Args:
        log_probs: ``(batch, frames, vocab)``.
        frame_lengths: ``(batch,)`` valid frames.
        vocab: the model's vocabulary.

    Returns:
        One string per row, with runs of spaces collapsed and ends stripped.
    """
    best = log_probs.argmax(-1).cpu()
    out = []
    for row, n in zip(best, frame_lengths.cpu().tolist(), strict=True):
        ids = row[:n]
        if ids.numel():
            keep = torch.ones_like(ids, dtype=torch.bool)
            keep[1:] = ids[1:] != ids[:-1]
            ids = ids[keep & (ids != 0)]
        text = vocab.decode(ids.tolist())
        out.append(re.sub(r" +", " ", text).strip())
    return out


# --------------------------------------------------------------------------- checkpoints


class ASRCheckpointError(ValueError):
    """An ASR checkpoint is unreadable or does not match what the caller expects."""


@dataclass
class ASRCheckpoint:
    """A loaded ASR checkpoint: the model (eval mode) and what was stored with it.

    ``model`` is a :class:`CTCRecognizer` (:func:`load_asr`) or a transformers wrapper of
    :mod:`audio_unlearn.models.asr_hf` (:func:`~audio_unlearn.models.asr_hf.load_hf_asr`).
    """

    model: nn.Module
    meta: dict = field(default_factory=dict)


def save_asr(path: str | os.PathLike, model: CTCRecognizer, *, meta: dict | None = None) -> Path:
    """Save a :class:`CTCRecognizer` with its config and vocabulary, atomically.

    Args:
        path: output file (parents created).
        model: the model.
        meta: JSON-like extra information (training settings, metrics, a settings key).

    Raises:
        ASRCheckpointError: ``model`` is not a :class:`CTCRecognizer`.
    """
    if not isinstance(model, CTCRecognizer):
        raise ASRCheckpointError(f"save_asr saves CTCRecognizer models, got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_json(),
        "vocabulary": list(model.vocab.tokens),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    return atomic_torch_save(payload, path)


def load_asr(
    path: str | os.PathLike,
    *,
    expect_vocabulary: Sequence[str] | CharVocabulary | None = None,
    expect_config: CTCRecognizerConfig | None = None,
) -> ASRCheckpoint:
    """Load a checkpoint written by :func:`save_asr` (model in eval mode, on CPU).

    Args:
        path: checkpoint file.
        expect_vocabulary: if given (characters without the blank, or a
            :class:`CharVocabulary`), the checkpoint's must equal it.
        expect_config: if given, the checkpoint's config must equal it.

    Raises:
        FileNotFoundError: no such file.
        ASRCheckpointError: unreadable, another format or version, weights that do not
            fit the config, or a vocabulary/config other than expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"ASR checkpoint {path} not found; train one with `audio-unlearn asr-speaker` "
            "(recipes/asr_speaker) or pass the path of an existing checkpoint"
        )
    payload = safe_torch_load(path, ASRCheckpointError, "ASR checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ASRCheckpointError(
            f"{path} is not an audio-unlearn CTC ASR checkpoint (format {found!r}, expected "
            f"{FORMAT!r})"
        )
    if payload.get("version") != VERSION:
        raise ASRCheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, this library reads "
            f"version {VERSION}; re-train or upgrade audio-unlearn"
        )
    try:
        config = CTCRecognizerConfig.from_json(dict(payload["config"]))
    except (TypeError, ValueError, KeyError) as err:
        raise ASRCheckpointError(f"{path}: invalid model config ({err})") from None
    model = CTCRecognizer(config)
    stored_vocab = tuple(payload.get("vocabulary", ()))
    if stored_vocab != model.vocab.tokens:
        raise ASRCheckpointError(
            f"{path}: stored vocabulary {stored_vocab} disagrees with its config's "
            f"{model.vocab.tokens}; the file is corrupt or hand-edited"
        )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ASRCheckpointError(f"{path}: weights do not match the model config ({err})") from None
    if expect_vocabulary is not None:
        expected = (
            expect_vocabulary.characters
            if isinstance(expect_vocabulary, CharVocabulary)
            else tuple(expect_vocabulary)
        )
        if expected != config.characters:
            raise ASRCheckpointError(
                f"{path} outputs characters {''.join(config.characters)!r}, expected "
                f"{''.join(expected)!r}; use a checkpoint trained with this vocabulary"
            )
    if expect_config is not None and expect_config != config:
        raise ASRCheckpointError(
            f"{path} was saved with config {config.to_json()}, expected "
            f"{expect_config.to_json()}; use the checkpoint of this model or a new run directory"
        )
    return ASRCheckpoint(model.eval(), dict(payload.get("meta") or {}))
