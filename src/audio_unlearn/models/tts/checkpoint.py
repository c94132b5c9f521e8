"""Save and load a TTS model with everything needed to use it: phones, durations, mel."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import atomic_torch_save, safe_torch_load
from .mel import MelConfig
from .phones import DurationTable, PhoneVocabulary
from .voicebox import FlowMatchingTTS, FlowMatchingTTSConfig

__all__ = ["TTSCheckpoint", "TTSCheckpointError", "load_tts", "save_tts"]

FORMAT = "audio_unlearn.tts.flow_matching"
VERSION = 1


class TTSCheckpointError(ValueError):
    """A TTS checkpoint is unreadable or does not match what the caller expects."""


@dataclass
class TTSCheckpoint:
    """A TTS model (eval mode) and its phone vocabulary, duration table and mel settings."""

    model: FlowMatchingTTS
    vocab: PhoneVocabulary
    durations: DurationTable
    mel: MelConfig
    meta: dict = field(default_factory=dict)


def save_tts(
    path: str | os.PathLike,
    model: FlowMatchingTTS,
    vocab: PhoneVocabulary,
    durations: DurationTable,
    mel: MelConfig,
    *,
    meta: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file renamed into place).

    Raises:
        TTSCheckpointError: the vocabulary does not fit the model's phone embedding.
    """
    if len(vocab) != model.config.n_phones:
        raise TTSCheckpointError(
            f"vocabulary has {len(vocab)} phones but the model was built for "
            f"{model.config.n_phones}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_json(),
        "phones": list(vocab.symbols[3:]),
        "durations": durations.to_json(),
        "mel": mel.to_json(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    return atomic_torch_save(payload, path)


def load_tts(
    path: str | os.PathLike, *, expect_vocab: PhoneVocabulary | None = None
) -> TTSCheckpoint:
    """Load a checkpoint written by :func:`save_tts` (on CPU, eval mode).

    Raises:
        FileNotFoundError: no such file.
        TTSCheckpointError: unreadable, another format, weights that do not fit the
            config, or a phone vocabulary other than ``expect_vocab``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"TTS checkpoint {path} not found; train one with `audio-unlearn tts-speaker` "
            "(recipes/tts_speaker) or pass the path of an existing checkpoint"
        )
    payload = safe_torch_load(path, TTSCheckpointError, "TTS checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise TTSCheckpointError(
            f"{path} is not an audio-unlearn TTS checkpoint (format {found!r}, expected {FORMAT!r})"
        )
    if payload.get("version") != VERSION:
        raise TTSCheckpointError(
            f"{path} has TTS checkpoint version {payload.get('version')}, this library reads "
            f"{VERSION}"
        )
    vocab = PhoneVocabulary(payload["phones"])
    if expect_vocab is not None and vocab != expect_vocab:
        raise TTSCheckpointError(
            f"{path} was trained with a different phone vocabulary ({len(vocab)} phones vs "
            f"{len(expect_vocab)} expected); use the checkpoint trained on this corpus"
        )
    model = FlowMatchingTTS(FlowMatchingTTSConfig.from_json(payload["config"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise TTSCheckpointError(f"{path}: weights do not fit its config ({err})") from None
    return TTSCheckpoint(
        model=model.eval(),
        vocab=vocab,
        durations=DurationTable.from_json(payload["durations"]),
        mel=MelConfig.from_json(payload["mel"]),
        meta=dict(payload.get("meta") or {}),
    )
