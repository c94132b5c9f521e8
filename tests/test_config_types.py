"""Every config value is checked against its field's type before any work: numbers in any
notation (YAML 1.1 reads ``1e-3`` as text), whole numbers, flags, text, lists, ``None``
where allowed, and counts / rates > 0. A wrong value is a ValueError naming the key (the
CLI prints it as an ``error:`` line and exits 2), never a traceback from deep inside."""

import dataclasses
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_unlearn.asr_experiment import ASRExperimentConfig, load_asr_config
from audio_unlearn.cli import main
from audio_unlearn.experiment import Experiment, ExperimentConfig, load_config
from audio_unlearn.run.config import coerce
from audio_unlearn.tts_experiment import TTSExperimentConfig, load_tts_config
from audio_unlearn.unslu import UnSLUConfig, load_unslu_config

# SpeechBrain's lazy proxies break Hypothesis's scan of loaded modules (see conftest.py)
pytestmark = pytest.mark.usefixtures("without_broken_lazy_modules")


def test_scientific_notation_is_a_number_in_yaml_files_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  lr: 1e-3\n  epochs: 2.0\nmax_seconds: 2\n")
    cfg = load_config(recipe, ["train.weight_decay=5e-4"])
    assert cfg.train.lr == 1e-3 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 2 and isinstance(cfg.train.epochs, int)
    assert cfg.train.weight_decay == 5e-4 and cfg.max_seconds == 2.0
    assert load_tts_config(None, ["train.lr=3e-4"]).train.lr == 3e-4
    assert load_asr_config(None, ["train.lr=3e-4"]).train.lr == 3e-4


def test_method_hyper_parameters_given_as_text_become_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, ["methods={ng: {lr: 3e-4, epochs: '2'}, ft: {}}"])
    Experiment(cfg, "unused")  # the runner checks and normalises its methods
    assert cfg.methods["ng"] == {"lr": 3e-4, "epochs": 2}
    assert list(tmp_path.iterdir()) == []  # nothing written
    unslu = load_unslu_config(None, ["methods={ng: {epochs: '1'}}"])
    assert unslu.methods["ng"] == {"epochs": 1}


@pytest.mark.parametrize(
    ("load", "override", "message"),
    [
        (load_config, "train.epochs=abc", "train.epochs must be a whole number, got 'abc'"),
        (load_config, "train.epochs=-1", "train.epochs must be > 0, got -1"),
        (load_config, "train.batch_size=0", "train.batch_size must be > 0, got 0"),
        (load_config, "train.lr=0", "train.lr must be > 0"),
        (load_config, "max_seconds=abc", "max_seconds must be a number, got 'abc'"),
        (load_config, "eval.relearn_steps=1.5", "eval.relearn_steps must be a whole number"),
        (load_config, "split.speakers=spk1", "split.speakers must be a list"),
        (load_config, "trainer=[1]", "trainer must be a mapping"),
        (load_config, "eval.relearn_with_retain=maybe", "must be true or false"),
        (load_asr_config, "train.epochs=two", "train.epochs must be a whole number"),
        (load_tts_config, "train.steps=0", "train.steps must be > 0"),
        (load_tts_config, "eval.nfe=1e-3", "eval.nfe must be a whole number"),
        (load_unslu_config, "train.max_steps=-5", "train.max_steps must be > 0"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_names_its_key(load, override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load(None, [override])


def test_the_cli_says_error_and_exits_2_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--set", "train.epochs=abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.epochs must be a whole number") and "Traceback" not in err
    assert not out.exists()


def test_coerce_follows_optional_and_list_types():
    assert coerce(None, float | None, "k") is None
    assert coerce("2e-3", float | None, "k") == 2e-3
    assert coerce([1, "2"], list[str] | None, "k") == ["1", "2"]  # speaker ids read as numbers
    assert coerce(["1e-4", 3], list[float], "k") == [1e-4, 3.0]
    with pytest.raises(ValueError, match=r"k\[1\] must be a number"):
        coerce([1.0, "x"], list[float], "k")
    with pytest.raises(ValueError, match="must be text"):
        coerce(True, str, "k")


# -- property: no override value breaks the loader with anything but a named ValueError ----
def _typed_keys(cls, prefix=""):
    """Every (dotted key, type) of a config dataclass, nested sections included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        factory = f.default_factory
        if dataclasses.is_dataclass(factory):
            yield from _typed_keys(factory, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", hints[f.name]


LOADERS = {
    "classification": (load_config, ExperimentConfig),
    "asr": (load_asr_config, ASRExperimentConfig),
    "tts": (load_tts_config, TTSExperimentConfig),
    "unslu-bench": (load_unslu_config, UnSLUConfig),
}
KEYS = [
    (kind, key, hint)
    for kind, (_, cls) in LOADERS.items()
    for key, hint in sorted(dict(_typed_keys(cls)).items())
    if key not in ("task", "protocol")  # another task's config is refused by name
]
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-3, 5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e-3", "-1", "0", "true", "null", "[1, 2]", "{a: 1}", "~", "'7'", "3.5"]),
)


def _fits(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, float)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@settings(max_examples=400, deadline=None, derandomize=True)  # the same examples every run
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_override_value_gives_a_typed_config_or_an_error_naming_its_key(key, value):
    """Over the four config schemas (400 examples): a config whose field has its declared
    type, or a ValueError that names the key."""
    kind, name, hint = key
    try:
        cfg = LOADERS[kind][0](None, [f"{name}={value}"])
    except ValueError as err:
        assert name.split(".")[-1] in str(err) or "override" in str(err) or "task" in str(err)
        return
    node = cfg
    for part in name.split("."):
        node = getattr(node, part)
    assert _fits(node, hint), (name, value, node)
