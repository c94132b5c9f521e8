"""Test helpers for users' CI and the library's own tests (no network)."""

import os

from .dummies import make_dummy_corpus
from .harness import set_accuracy, train_classifier

__all__ = ["make_dummy_corpus", "set_accuracy", "suite_seed", "train_classifier"]


def suite_seed() -> int:
    """The seed a test suite's set-ups and training start from: ``AUDIO_UNLEARN_TEST_SEED``
    (default 0). Running the suite under several values shows how far trained results move
    with the seed (the library's own ``benchmarks/bound_spread.py`` does)."""
    value = os.environ.get("AUDIO_UNLEARN_TEST_SEED", "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"AUDIO_UNLEARN_TEST_SEED must be an integer, got {value!r}") from None
