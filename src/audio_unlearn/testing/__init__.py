"""Test helpers for users' CI and the library's own tests (no espeak-ng, no network)."""

from .dummies import make_dummy_corpus

__all__ = ["make_dummy_corpus"]
