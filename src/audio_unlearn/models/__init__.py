"""Task models behind small interfaces."""

from .checkpoint import load_classifier, save_classifier
from .classifiers import LogMelCNN, LogMelCNNConfig

__all__ = ["LogMelCNN", "LogMelCNNConfig", "load_classifier", "save_classifier"]
