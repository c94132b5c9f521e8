"""One command for every task: ``audio-unlearn run CONFIG`` reads the config's ``task:``
(``classification``, ``asr``, ``tts``; classification also ``protocol:``, ``forget`` or
``unslu-bench``) and hands it to that task's runner.

The old per-task commands (``asr-speaker``, ``tts-speaker``, ``unslu``) are aliases that
warn once and default ``task:`` for configs written before it existed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .config import read_config_values

__all__ = ["KINDS", "config_kind", "load_run", "plan_config", "run_config", "warn_alias"]

#: (task, protocol) pairs ``run`` knows; protocol is None outside classification
KINDS: tuple[tuple[str, str | None], ...] = (
    ("classification", "forget"),
    ("classification", "unslu-bench"),
    ("asr", None),
    ("tts", None),
)
_WARNED: set[str] = set()


def config_kind(
    path: str | Path | None,
    overrides=(),
    *,
    default: tuple[str, str | None] = ("classification", "forget"),
) -> tuple[str, str | None]:
    """``(task, protocol)`` of a config (``default`` fills what it does not name).

    Raises:
        FileNotFoundError: the config does not exist.
        ValueError: an unknown task or protocol.
    """
    return _kind(read_config_values(path, overrides), default, str(path or "config"))


def _kind(
    values: dict[str, Any], default: tuple[str, str | None], where: str
) -> tuple[str, str | None]:
    task = values.get("task", default[0])
    fallback = default[1] if task == default[0] and default[1] else "forget"
    protocol = values.get("protocol", fallback) if task == "classification" else None
    if (task, protocol) not in KINDS:
        known = ", ".join(t if p is None else f"{t} / {p}" for t, p in KINDS)
        raise ValueError(
            f"{where}: task {task!r}"
            + (f" / protocol {protocol!r}" if protocol else "")
            + f" is unknown; known: {known}"
        )
    if task != "classification" and "protocol" in values:
        raise ValueError(f"{where}: protocol applies to classification only")
    return task, protocol


def load_run(
    path: str | Path | None,
    overrides=(),
    *,
    trainer_preset: str | Path | None = None,
    default: tuple[str, str | None] = ("classification", "forget"),
) -> tuple[Any, Any, Any]:
    """``(config, runner class, run function)`` of a config (+ overrides, + a Trainer
    preset): every value typed and checked, nothing run.

    Raises:
        FileNotFoundError: the config or the preset does not exist.
        ValueError: an unknown task, key or value.
    """
    overrides = list(overrides)
    given = read_config_values(path, overrides)
    task, protocol = _kind(given, default, str(path or "config"))
    if "task" not in given:
        overrides.append(f"task={task}")
    if protocol is not None and "protocol" not in given:
        overrides.append(f"protocol={protocol}")
    if task == "asr":
        from ..asr_experiment import ASRExperiment, load_asr_config, run_asr_experiment

        cfg = load_asr_config(path, overrides, trainer_preset=trainer_preset)
        return cfg, ASRExperiment, run_asr_experiment
    if task == "tts":
        from ..tts_experiment import TTSExperiment, load_tts_config, run_tts_experiment

        cfg = load_tts_config(path, overrides, trainer_preset=trainer_preset)
        return cfg, TTSExperiment, run_tts_experiment
    if protocol == "unslu-bench":
        from ..unslu import UnSLUBenchmark, load_unslu_config, run_unslu

        cfg = load_unslu_config(path, overrides, trainer_preset=trainer_preset)
        return cfg, UnSLUBenchmark, run_unslu
    from ..experiment import Experiment, load_config, run_experiment

    try:
        cfg = load_config(path, overrides, trainer_preset=trainer_preset)
    except ValueError as err:
        if "unknown key" in str(err) and "task" not in given:
            raise ValueError(
                f"{err} (an ASR, TTS or UnSLU-BENCH config? say `task: asr`, `task: tts` "
                "or `protocol: unslu-bench` in it)"
            ) from None
        raise
    return cfg, Experiment, run_experiment


def run_config(
    path: str | Path | None,
    overrides=(),
    out: str | Path = "runs/run",
    *,
    trainer_preset: str | Path | None = None,
    progress: bool = True,
    default: tuple[str, str | None] = ("classification", "forget"),
) -> dict[str, Any]:
    """Load ``path`` (+ overrides, + a Trainer preset) and run it with its task's runner.

    ``default``: the (task, protocol) of a config that names none (the old per-task
    commands pass theirs, so configs written before ``task:`` existed still run).

    Returns:
        The runner's report (the UnSLU-BENCH table for that protocol).
    """
    cfg, _, run = load_run(path, overrides, trainer_preset=trainer_preset, default=default)
    return run(cfg, out, progress=progress)


def plan_config(
    path: str | Path | None,
    overrides=(),
    out: str | Path = "runs/run",
    *,
    trainer_preset: str | Path | None = None,
    default: tuple[str, str | None] = ("classification", "forget"),
) -> str:
    """What ``run`` would do, after every check that comes before work (types, ranges,
    methods and their task, sweep, requests, the output path), as text: the plan, then
    the resolved config. Nothing is read beyond the config and nothing is written."""
    import dataclasses

    import yaml

    cfg, runner_cls, _ = load_run(path, overrides, trainer_preset=trainer_preset, default=default)
    runner = runner_cls(cfg, out, progress=False)
    methods = dict(getattr(cfg, "methods", {}) or {})
    state = "exists: work with the same settings is reused" if Path(out).exists() else "new"
    lines = [
        f"task: {cfg.task}" + (f" / {cfg.protocol}" if getattr(cfg, "protocol", None) else ""),
        f"runner: {runner_cls.__name__}",
        f"out: {out} ({state})",
        "methods: " + (", ".join(f"{m} {h or '(defaults)'}" for m, h in methods.items()) or "-"),
    ]
    sweep = getattr(cfg, "sweep", None)
    if sweep is not None and sweep.on:
        from .sweep import swept_methods

        swept = swept_methods(sweep, methods, runner.task)
        lines.append(
            f"sweep: {len(swept)} method(s) x {len(sweep.lrs)} lr x {len(sweep.seeds)} seed(s) "
            f"= {len(swept) * len(sweep.lrs) * len(sweep.seeds)} unlearning runs, chosen on "
            "validation"
        )
    requests = getattr(cfg, "requests", None)
    lines.append(f"requests: {requests}" if requests else "requests: one (the split's speakers)")
    config = yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
    return "\n".join([*lines, "", "resolved config:", config])


def warn_alias(command: str, task: str) -> None:
    """Say once per process that ``command`` is an alias of ``audio-unlearn run``."""
    if command in _WARNED:
        return
    _WARNED.add(command)
    print(
        f"note: `audio-unlearn {command}` is an alias of `audio-unlearn run` (its configs "
        f"say `task: {task}`); use `run`, this alias will go away",
        file=sys.stderr,
    )
