"""Data layer: utterance manifests, validated audio I/O, splits, the DataModule."""

from .audio import TARGET_SAMPLE_RATE, AudioError, load_audio, save_audio
from .manifest import ManifestError, PhoneSpan, Utterance, read_manifest, write_manifest
from .splits import (
    CorpusSplit,
    ForgetSplit,
    class_forget_split,
    item_forget_split,
    speaker_disjoint_split,
    speaker_forget_split,
)

__all__ = [
    "TARGET_SAMPLE_RATE",
    "AudioError",
    "CorpusSplit",
    "ForgetSplit",
    "ManifestError",
    "PhoneSpan",
    "Utterance",
    "class_forget_split",
    "item_forget_split",
    "load_audio",
    "read_manifest",
    "save_audio",
    "speaker_disjoint_split",
    "speaker_forget_split",
    "write_manifest",
]
