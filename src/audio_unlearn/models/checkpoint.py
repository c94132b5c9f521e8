"""Self-describing classifier checkpoints: config, class names and weights in one file."""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .classifiers import LogMelCNN, LogMelCNNConfig
from .hf_classifier import HFAudioClassifier, HFAudioClassifierConfig
from .speaker_id import EcapaSpeakerID, EcapaSpeakerIDConfig

__all__ = [
    "CLASSIFIERS",
    "CheckpointError",
    "ClassifierCheckpoint",
    "build_classifier",
    "load_classifier",
    "save_classifier",
]

FORMAT = "audio-unlearn/classifier"
VERSION = 1
# name used in configs -> (model class, config dataclass)
CLASSIFIERS: dict[str, tuple[type, type]] = {
    "logmel_cnn": (LogMelCNN, LogMelCNNConfig),
    "ecapa": (EcapaSpeakerID, EcapaSpeakerIDConfig),
    "hf": (HFAudioClassifier, HFAudioClassifierConfig),
}
MODEL_CLASSES = {cls.__name__: (cls, cfg) for cls, cfg in CLASSIFIERS.values()}


def build_classifier(*, num_classes: int, name: str = "logmel_cnn", **config) -> torch.nn.Module:
    """A freshly initialised classifier by registry name.

    Raises:
        ValueError: unknown name or a config key the model does not take.
    """
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(CLASSIFIERS)}")
    model_cls, config_cls = CLASSIFIERS[name]
    try:
        return model_cls(config_cls(num_classes=num_classes, **config))
    except TypeError as err:
        raise ValueError(f"model {name!r}: {err}") from None


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded into the requested model; the message says why."""


@dataclass
class ClassifierCheckpoint:
    model: torch.nn.Module
    classes: tuple[str, ...]
    label_key: str
    meta: dict = field(default_factory=dict)


def safe_torch_load(path: str | os.PathLike, error: type[Exception], what: str) -> object:
    """``torch.load(path, weights_only=True)``; a file a safe load refuses (it holds Python
    objects whose loading may run code) or cannot read raises ``error`` saying so, without
    advice to load it unsafely (PyTorch's own message suggests ``weights_only=False``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = str(err).strip()
        if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in text:
            raise error(
                f"{what} {path} holds Python objects that a safe load refuses (loading them "
                "could run code); audio-unlearn never loads such files: re-create the "
                "checkpoint with this library"
            ) from None
        found = [line for line in text.splitlines() if "Unsupported" in line]
        first = (found or text.splitlines() or [type(err).__name__])[0].strip()
        raise error(f"{what} {path} is unreadable ({first}); re-create it") from None


def atomic_torch_save(payload: object, path: str | os.PathLike) -> Path:
    """``torch.save`` into a temporary sibling file renamed into place, so a crash never
    leaves a truncated checkpoint (parents are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_classifier(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    classes: tuple[str, ...],
    label_key: str,
    meta: dict | None = None,
) -> Path:
    """Save a classifier atomically (a crash never leaves a truncated checkpoint)."""
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise CheckpointError(f"no checkpoint format for model class {name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_class": name,
        "config": asdict(model.config),
        "classes": list(classes),
        "label_key": label_key,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    return atomic_torch_save(payload, path)


def load_classifier(
    path: str | os.PathLike, *, expect_classes: tuple[str, ...] | None = None
) -> ClassifierCheckpoint:
    """Load a checkpoint written by :func:`save_classifier`.

    Args:
        path: checkpoint file.
        expect_classes: if given, the checkpoint's class list must equal it (a model
            trained on another label set cannot be evaluated on this one).

    Raises:
        FileNotFoundError, CheckpointError: naming the file and what does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    payload = safe_torch_load(path, CheckpointError, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an audio-unlearn classifier checkpoint (format "
            f"{payload.get('format') if isinstance(payload, dict) else type(payload).__name__})"
        )
    lacking = [
        k
        for k in ("model_class", "config", "state_dict", "classes", "label_key")
        if k not in payload
    ]
    if lacking:
        raise CheckpointError(
            f"{path} lacks {lacking}: a damaged or hand-made checkpoint; re-create it with "
            "this library"
        )
    model_cls, config_cls = MODEL_CLASSES.get(payload["model_class"], (None, None))
    if model_cls is None:
        raise CheckpointError(f"{path}: unknown model class {payload['model_class']!r}")
    model = model_cls(config_cls(**payload["config"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not match the model config ({err})") from None
    classes = tuple(payload["classes"])
    if expect_classes is not None and classes != tuple(expect_classes):
        raise CheckpointError(
            f"{path} was trained on {len(classes)} classes {classes[:5]}..., but the data has "
            f"{len(expect_classes)} classes {tuple(expect_classes)[:5]}...; use the checkpoint "
            "that belongs to this manifest and label key"
        )
    return ClassifierCheckpoint(model, classes, payload["label_key"], payload.get("meta", {}))
