"""Method registry: ``--method NAME`` plus a YAML of overrides is all a user names."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import UnlearningModule

__all__ = [
    "METHODS",
    "build_method",
    "get_method",
    "method_hparams",
    "methods_for_task",
    "register_method",
]

METHODS: dict[str, type[UnlearningModule]] = {}


def register_method(name: str):
    """Class decorator adding an :class:`UnlearningModule` subclass under ``name``."""

    def decorate(cls):
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"method name {name!r} already registered by {METHODS[name]}")
        cls.method_name = name
        METHODS[name] = cls
        return cls

    return decorate


def methods_for_task(task: str = "classification") -> list[str]:
    """Registered method names whose batches are of ``task`` ("classification", "asr")."""
    return sorted(name for name, cls in METHODS.items() if cls.task == task)


def get_method(name: str) -> type[UnlearningModule]:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; registered methods: {sorted(METHODS)}"
        ) from None


def method_hparams(name: str) -> dict[str, object]:
    """The method's hyper-parameters and their defaults (from its ``__init__`` signature)."""
    sig = inspect.signature(get_method(name).__init__)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind == p.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }


def build_method(name: str, model, **overrides) -> UnlearningModule:
    """Instantiate method ``name`` around ``model`` with hyper-parameter ``overrides``.

    Raises:
        ValueError: unknown method or an override the method does not take.
    """
    cls = get_method(name)
    known = method_hparams(name)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter(s) {unknown}; it takes {sorted(known)}"
        )
    return cls(model, **{k: _coerce(name, k, v, known[k]) for k, v in overrides.items()})


def _coerce(method: str, key: str, value, default):
    """Convert YAML strings such as ``1e-5`` (YAML 1.1 reads them as text) to numbers."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"method {method!r}: {key}={value!r} is not a number") from None
    if isinstance(default, int) and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"method {method!r}: {key} must be an integer, got {value}")
        value = int(value)
    return value
