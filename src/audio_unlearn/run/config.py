"""One config loader for every runner: defaults live in each task's config dataclass; a YAML
file holds overrides, a Lightning ``Trainer`` preset fills ``trainer:``, and ``key.sub=value``
items come last. Every key is checked against the dataclass (an unknown key is an error
naming the allowed ones), and a config of another task is refused before anything else.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "POSITIVE",
    "apply_overrides",
    "check_task",
    "coerce",
    "load_task_config",
    "merge_config",
    "read_config_values",
    "typed_settings",
]


#: settings that count something or scale a step: a value <= 0 is a mistake wherever they
#: appear (``relearn_steps``, ``probe_every`` and the like use 0 for "off" and are not here)
POSITIVE = frozenset(
    {
        "epochs",
        "batch_size",
        "eval_batch_size",
        "steps",
        "max_steps",
        "lr",
        "nfe",
        "per_speaker",
        "judge_epochs",
        "relearn_utterances",
        "relearn_lr",
    }
)


def merge_config(dc_type, values: dict[str, Any], where: str):
    """``dc_type`` built from its defaults and ``values`` (a nested mapping), every value
    checked against its field's type: numbers in any notation (YAML 1.1 reads ``1e-3`` as
    text), integers, flags, text, lists of those, ``None`` where the type allows it; and
    the counts and rates of :data:`POSITIVE` must be > 0.

    Raises:
        ValueError: an unknown key, or a value of the wrong type or range, naming the key
            (``train.epochs``) and what it takes.
    """
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(dc_type)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(dc_type)
    kwargs = {}
    for name, value in values.items():
        sub = (
            fields[name].default_factory
            if fields[name].default_factory is not dataclasses.MISSING
            else None
        )
        key = f"{where}.{name}" if where != "config" else name
        if dataclasses.is_dataclass(sub):
            kwargs[name] = merge_config(sub, value or {}, key)
            continue
        value = coerce(value, hints.get(name, Any), key)
        if name in POSITIVE and _is_number(value) and not value > 0:
            raise ValueError(f"{key} must be > 0, got {value}")
        kwargs[name] = value
    return dc_type(**kwargs)


def typed_settings(config_cls, settings: Any, where: str, **fixed) -> dict[str, Any]:
    """``settings``, the keyword arguments of the dataclass ``config_cls`` a config passes
    through (e.g. ``model:``), checked like every other key (:func:`merge_config`: unknown
    keys, types, ranges, the dataclass's own checks) before any work, and returned with
    typed values. ``fixed``: arguments the runner sets itself (e.g. ``num_classes``); a
    config may not give them.

    Raises:
        ValueError: naming the key (``model.d_model``) and what it takes.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError(f"{where} must be a mapping (key: value), got {settings!r}")
    allowed = {f.name for f in dataclasses.fields(config_cls)} - set(fixed)
    unknown = sorted(set(settings) - allowed - set(fixed))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    taken = sorted(set(settings) & set(fixed))
    if taken:
        raise ValueError(f"{where}: {taken} are set by the run itself (from the data); remove them")
    try:
        built = merge_config(config_cls, {**fixed, **settings}, where)
    except TypeError as err:  # a check of the dataclass's own on a value of another type
        raise ValueError(f"{where}: {err}") from None
    return {k: getattr(built, k) for k in settings}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def coerce(value, hint, key: str):
    """``value`` as the type ``hint`` says (see :func:`merge_config`)."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else f"{key}: {value!r} fits none of {hint}")
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping (key: value), got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if hint is float:
        if _is_number(value):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{key} must be a number, got {value!r}")
    if hint is int:
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if _is_number(number) and float(number).is_integer():
            return int(number)
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if _is_number(value):  # a speaker id or label YAML read as a number
            return str(value)
        raise ValueError(f"{key} must be text, got {value!r}")
    return value


def read_config_values(
    path, overrides=(), *, recipes: str = "recipes/", trainer_preset=None
) -> dict[str, Any]:
    """The override values of a config: a YAML file (optional), a Lightning ``Trainer``
    preset under ``trainer`` (the file's own ``trainer:`` keys win), then ``key.sub=value``
    items.

    Raises:
        FileNotFoundError: the YAML file or the preset does not exist (names ``recipes``
            for examples).
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} not found (see {recipes})")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML ({yaml_problem(err)})") from None
    if trainer_preset is not None:
        preset = Path(trainer_preset)
        if not preset.is_file():
            raise FileNotFoundError(f"trainer preset {preset} not found (see configs/trainer/)")
        values["trainer"] = {
            **(yaml.safe_load(preset.read_text()) or {}),
            **(values.get("trainer") or {}),
        }
    return apply_overrides(values, overrides)


def apply_overrides(values: dict[str, Any], overrides) -> dict[str, Any]:
    """Set each ``key.sub=value`` override (the value read as YAML) in ``values``, in place."""
    for item in overrides:
        keys, value = _parse_override(item)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return values


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key.sub=value")
    key, value = text.split("=", 1)
    try:
        return key.split("."), yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ValueError(
            f"override {text!r}: the value is not valid YAML ({yaml_problem(err)})"
        ) from None


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (line, column)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def check_task(
    values: dict[str, Any], task: str, where: str, *, protocol: str | None = None
) -> None:
    """Refuse config ``values`` of another task (or protocol) than the runner's own, before
    any other key is read.

    Raises:
        ValueError: naming the config's task and the command that runs it.
    """
    got = (values.get("task", task), values.get("protocol", protocol))
    if got != (task, protocol):
        label = " / ".join(str(v) for v in got if v is not None)
        mine = " / ".join(str(v) for v in (task, protocol) if v is not None)
        raise ValueError(
            f"{where}: the config says task {label!r}, but this runner runs {mine!r}; run it "
            "with `audio-unlearn run CONFIG`, which picks the runner from `task:`"
        )


def load_task_config(
    cls,
    path: str | Path | None,
    overrides=(),
    *,
    task: str,
    protocol: str | None = None,
    recipes: str = "recipes/",
    trainer_preset: str | Path | None = None,
    merge_defaults: dict[str, dict[str, Any]] | None = None,
):
    """Defaults of the dataclass ``cls``, then a YAML file of overrides (and a ``Trainer``
    preset under the file's own ``trainer:`` keys), then ``key.sub=value`` overrides.

    ``merge_defaults``: mapping-valued keys whose given values are merged into these
    defaults instead of replacing them (e.g. the TTS model's settings).

    Raises:
        FileNotFoundError: the YAML file or the preset does not exist.
        ValueError: a config of another task, an unknown key or an invalid value.
    """
    where = str(path or "config")
    values = read_config_values(path, overrides, recipes=recipes, trainer_preset=trainer_preset)
    check_task(values, task, where, protocol=protocol)
    for key, default in (merge_defaults or {}).items():
        if key in values:
            given = values[key] or {}
            if not isinstance(given, dict):
                raise ValueError(f"{key} must be a mapping (key: value), got {given!r}")
            values[key] = {**default, **given}
    return merge_config(cls, values, where)
