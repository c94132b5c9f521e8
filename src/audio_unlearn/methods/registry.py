"""Method registry: ``--method NAME`` plus a YAML of overrides is all a user names.

One class per algorithm is registered under its name (``ng``, ``scrub``, ...) with the tasks
it serves (:attr:`~audio_unlearn.methods.base.UnlearningModule.tasks`). A **preset** is a
named (method, task, defaults) triple: ``asr_scrub`` is SCRUB on ASR batches with the
sequence-level defaults. The preset marked as a task's default applies when the method is
built for that task by its own name (``build_method("scrub", model, task="asr")``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import UnlearningModule

__all__ = [
    "METHODS",
    "PRESETS",
    "Preset",
    "build_method",
    "check_methods",
    "get_method",
    "method_hparams",
    "method_task",
    "methods_for_task",
    "register_method",
    "register_preset",
    "resolve_method",
]

METHODS: dict[str, type[UnlearningModule]] = {}


@dataclass(frozen=True)
class Preset:
    """A registered name for ``method`` on ``task`` with default hyper-parameters."""

    name: str
    method: str
    task: str
    defaults: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {}
#: (method, task) -> the preset whose defaults apply when ``method`` runs on ``task``
_TASK_DEFAULTS: dict[tuple[str, str], Preset] = {}


def register_method(name: str):
    """Class decorator adding an :class:`UnlearningModule` subclass under ``name``."""

    def decorate(cls):
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"method name {name!r} already registered by {METHODS[name]}")
        if name in PRESETS:
            raise ValueError(f"method name {name!r} is already a preset")
        cls.method_name = name
        METHODS[name] = cls
        return cls

    return decorate


def register_preset(
    name: str, method: str, *, task: str, defaults: dict[str, Any] | None = None
) -> Preset:
    """Register ``name`` as ``method`` on ``task`` with ``defaults``; they are also the
    defaults of ``method`` on ``task`` (one preset per (method, task)).

    Raises:
        ValueError: a taken name, an unknown method, a task the method does not serve, a
            default the method does not take, or a second preset for (method, task).
    """
    if name in METHODS or (name in PRESETS and PRESETS[name].method != method):
        raise ValueError(f"preset name {name!r} is already taken")
    cls = get_method(method)
    if task not in cls.tasks:
        raise ValueError(f"preset {name!r}: method {method!r} does not serve task {task!r}")
    unknown = sorted(set(defaults or {}) - set(cls.hparam_defaults()))
    if unknown:
        raise ValueError(f"preset {name!r}: method {method!r} has no hyper-parameter(s) {unknown}")
    if (method, task) in _TASK_DEFAULTS and _TASK_DEFAULTS[(method, task)].name != name:
        raise ValueError(f"method {method!r} already has a preset for task {task!r}")
    preset = Preset(name, method, task, dict(defaults or {}))
    PRESETS[name] = _TASK_DEFAULTS[(method, task)] = preset
    return preset


def methods_for_task(task: str = "classification") -> list[str]:
    """Names of the registered methods that serve ``task`` (presets not included)."""
    return sorted(name for name, cls in METHODS.items() if task in cls.tasks)


def get_method(name: str) -> type[UnlearningModule]:
    """The class of method or preset ``name``."""
    if name in PRESETS:
        name = PRESETS[name].method
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; registered methods: {sorted(METHODS)}; "
            f"presets: {sorted(PRESETS)}"
        ) from None


def resolve_method(name: str, task: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """``(method, task, defaults)`` of ``name`` (a method or a preset) run on ``task``.

    ``task=None`` takes the preset's task, or the method's first task.

    Raises:
        ValueError: an unknown name, or a task the method (or preset) does not serve.
    """
    cls = get_method(name)
    if name in PRESETS:
        preset = PRESETS[name]
        if task is not None and task != preset.task:
            raise ValueError(
                f"{name!r} is {preset.method!r} preset for task {preset.task!r}, not {task!r}; "
                f"use {preset.method!r} on task {task!r}"
            )
        return preset.method, preset.task, dict(preset.defaults)
    task = cls.tasks[0] if task is None else task
    if task not in cls.tasks:
        raise ValueError(
            f"method {name!r} serves {list(cls.tasks)}, not task {task!r} "
            f"(methods for {task!r}: {methods_for_task(task)})"
        )
    preset = _TASK_DEFAULTS.get((name, task))
    return name, task, dict(preset.defaults) if preset else {}


def method_task(name: str) -> str:
    """The task ``name`` (a method or a preset) runs on by default."""
    return resolve_method(name)[1]


def method_hparams(name: str, task: str | None = None) -> dict[str, object]:
    """The hyper-parameters of ``name`` (a method or a preset) on ``task`` and their
    defaults (:meth:`~audio_unlearn.methods.base.UnlearningModule.hparam_defaults`, with
    the task's preset applied)."""
    method, _, defaults = resolve_method(name, task)
    return {**METHODS[method].hparam_defaults(), **defaults}


def build_method(name: str, model, *, task: str | None = None, **overrides) -> UnlearningModule:
    """Instantiate method (or preset) ``name`` around ``model`` for ``task`` with
    hyper-parameter ``overrides``.

    Raises:
        ValueError: unknown method, a task it does not serve, or an override the method
            does not take.
    """
    method, task, defaults = resolve_method(name, task)
    cls = METHODS[method]
    known = method_hparams(name, task)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter(s) {unknown}; it takes {sorted(known)}"
        )
    values = {**defaults, **{k: _coerce(name, k, v, known[k]) for k, v in overrides.items()}}
    return cls(model, **values).use_task(task)


def check_methods(
    methods: Mapping[str, Mapping[str, Any] | None],
    task: str,
    *,
    runner_keys: Collection[str] = (),
) -> dict[str, dict[str, Any]]:
    """Check a run's ``{method: hyper-parameters}`` before any work is done.

    Every name must be a method or preset that serves ``task``, and every hyper-parameter
    one it takes (``runner_keys``, e.g. the TTS runner's per-method ``steps``, are the
    runner's) with a value of the right kind.

    Returns:
        The same mapping with numbers given as text (``lr: 3e-4`` in YAML 1.1) as numbers.

    Raises:
        ValueError: naming every problem found.
    """
    problems = []
    checked: dict[str, dict[str, Any]] = {}
    for name, hparams in methods.items():
        try:
            known = method_hparams(name, task)
            if hparams is not None and not isinstance(hparams, Mapping):
                raise ValueError(
                    f"methods.{name} must be a mapping of hyper-parameters (or empty), got "
                    f"{hparams!r}"
                )
            given = dict(hparams or {})
            values = {k: v for k, v in given.items() if k not in runner_keys}
            unknown = sorted(set(values) - set(known))
            if unknown:
                raise ValueError(
                    f"method {name!r} has no hyper-parameter(s) {unknown}; it takes {sorted(known)}"
                )
            checked[name] = {
                k: (_coerce(name, k, v, known[k]) if k in values else v) for k, v in given.items()
            }
        except ValueError as err:
            problems.append(str(err))
    if problems:
        raise ValueError("; ".join(problems))
    return checked


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
