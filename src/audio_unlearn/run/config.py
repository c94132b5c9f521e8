"""One config loader for every runner: defaults live in each task's config dataclass; a YAML
file holds overrides, a Lightning ``Trainer`` preset fills ``trainer:``, and ``key.sub=value``
items come last. Every key is checked against the dataclass (an unknown key is an error
naming the allowed ones), and a config of another task is refused before anything else.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "apply_overrides",
    "check_task",
    "load_task_config",
    "merge_config",
    "read_config_values",
]


def merge_config(dc_type, values: dict[str, Any], where: str):
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(dc_type)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        sub = (
            fields[name].default_factory
            if fields[name].default_factory is not dataclasses.MISSING
            else None
        )
        if dataclasses.is_dataclass(sub):
            kwargs[name] = merge_config(sub, value or {}, f"{where}.{name}")
        else:
            kwargs[name] = value
    return dc_type(**kwargs)


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
        values = yaml.safe_load(path.read_text()) or {}
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
    return key.split("."), yaml.safe_load(value)


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
            values[key] = {**default, **(values[key] or {})}
    return merge_config(cls, values, where)
