"""``audio-unlearn run``: one command for every task; the config's ``task:`` (and
``protocol:``) picks the runner; the old per-task commands are aliases that warn."""

from pathlib import Path

import pytest

import audio_unlearn.asr_experiment as asr_experiment
import audio_unlearn.experiment as experiment
import audio_unlearn.run as run_package
import audio_unlearn.tts_experiment as tts_experiment
import audio_unlearn.unslu as unslu
from audio_unlearn.cli import main
from audio_unlearn.run import config_kind

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

CASES = [
    ("demo/config.yaml", ("classification", "forget"), experiment, "run_experiment"),
    ("prune_regrow/smoke.yaml", ("classification", "forget"), experiment, "run_experiment"),
    ("asr_speaker/synthetic.yaml", ("asr", None), asr_experiment, "run_asr_experiment"),
    ("tts_speaker/synthetic.yaml", ("tts", None), tts_experiment, "run_tts_experiment"),
    ("unslu/smoke.yaml", ("classification", "unslu-bench"), unslu, "run_unslu"),
]


@pytest.fixture
def calls(monkeypatch):
    """Replace every runner by a recorder of (runner, config)."""
    seen = []
    for _, _, module, name in CASES:

        def record(cfg, out, progress=True, _name=name):
            seen.append((_name, cfg, Path(out)))
            return {}

        monkeypatch.setattr(module, name, record)
    return seen


@pytest.mark.parametrize(("recipe", "kind", "module", "runner"), CASES, ids=lambda c: str(c))
def test_run_hands_every_recipe_to_its_tasks_runner(calls, tmp_path, recipe, kind, module, runner):
    path = RECIPES / recipe
    assert config_kind(path) == kind
    argv = ["run", str(path), "--out", str(tmp_path / "out"), "--set", "seed=3"]
    assert main(argv) == 0
    assert [(name, cfg.seed) for name, cfg, _ in calls] == [(runner, 3)]
    assert calls[0][1].task == kind[0]


@pytest.mark.parametrize(
    ("command", "recipe", "runner"),
    [
        ("asr-speaker", "asr_speaker/synthetic.yaml", "run_asr_experiment"),
        ("tts-speaker", "tts_speaker/synthetic.yaml", "run_tts_experiment"),
        ("unslu", "unslu/smoke.yaml", "run_unslu"),
    ],
)
def test_old_commands_are_aliases_that_warn_and_run_old_configs(
    calls, monkeypatch, tmp_path, capsys, command, recipe, runner
):
    monkeypatch.setattr(run_package, "_WARNED", set())  # each alias warns once per process
    # a config written before `task:` existed still runs through its old command
    text = (RECIPES / recipe).read_text()
    old = tmp_path / "old.yaml"
    old.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith(("task:", "protocol:")))
    )
    assert main([command, str(old), "--out", str(tmp_path / "out")]) == 0
    assert [name for name, _, _ in calls] == [runner]
    assert "is an alias of `audio-unlearn run`" in capsys.readouterr().err


def test_a_config_of_another_task_is_refused_by_a_runner_and_named(tmp_path, capsys):
    tts_recipe = str(RECIPES / "tts_speaker" / "synthetic.yaml")
    with pytest.raises(ValueError, match=r"task .tts.*audio-unlearn run"):
        asr_experiment.load_asr_config(tts_recipe)
    with pytest.raises(ValueError, match=r"unslu-bench.*audio-unlearn run"):
        experiment.load_config(RECIPES / "unslu" / "smoke.yaml")
    # an ASR config without `task:` given to `run` gets a hint, not only a key error
    old = tmp_path / "asr.yaml"
    old.write_text("crop: speech\neval: {mia_bin_s: 5.0}\n")
    assert main(["run", str(old), "--out", str(tmp_path / "out")]) == 2
    assert "say `task: asr`" in capsys.readouterr().err
    assert main(["run", str(old), "--out", str(tmp_path / "o"), "--set", "task=speech"]) == 2
    assert "task 'speech' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


RUN_RECIPES = sorted(
    p.relative_to(RECIPES).as_posix()
    for p in RECIPES.glob("*/*.yaml")
    if p.parent.name != "speaker_id"  # `forget --config` files and a request, not run configs
)


@pytest.mark.parametrize("recipe", RUN_RECIPES)
def test_every_run_recipe_passes_the_checks_that_come_before_work(recipe, tmp_path, capsys):
    """Methods and their hyper-parameters, model settings, trust, types: a recipe that
    would fail after hours of training fails here instead."""
    assert len(RUN_RECIPES) >= 20
    assert main(["run", str(RECIPES / recipe), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    assert "resolved config:" in capsys.readouterr().out
