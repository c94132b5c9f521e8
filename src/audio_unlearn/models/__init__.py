"""Task models behind small interfaces.

Classifiers map waveforms ``(batch, samples)`` to logits ``(batch, classes)``; each is
registered by name in :data:`CLASSIFIERS` with its config dataclass, so experiments name a
model in YAML (``model: {name: logmel_cnn, n_mels: 40}``) and checkpoints rebuild it.
"""

from .checkpoint import CLASSIFIERS, build_classifier, load_classifier, save_classifier
from .classifiers import LogMelCNN, LogMelCNNConfig

__all__ = [
    "CLASSIFIERS",
    "LogMelCNN",
    "LogMelCNNConfig",
    "build_classifier",
    "load_classifier",
    "save_classifier",
]
