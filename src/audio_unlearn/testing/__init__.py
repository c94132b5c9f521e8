"""Test helpers for users' CI and the library's own tests (no network)."""

from .dummies import make_dummy_corpus
from .harness import set_accuracy, train_classifier

__all__ = ["make_dummy_corpus", "set_accuracy", "train_classifier"]
