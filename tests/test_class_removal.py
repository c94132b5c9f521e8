"""Every registered method on class removal: forget accuracy must fall well below the
original's while retain accuracy stays within a bound (a method that does nothing, or one
that destroys the model, fails)."""

from pathlib import Path

import pytest
import yaml

from audio_unlearn.methods import build_method, fit_unlearning, methods_for_task

# Per-method settings for this small corpus (120 training utterances, 6 intents), one YAML
# per method; the methods' defaults are tuned for full-size data sets.
SETTINGS_DIR = Path(__file__).parent / "class_removal_settings"
FORGET_MAX = 0.35  # forget accuracy after unlearning (original: 1.0; chance: 1/6)
RETAIN_DROP_MAX = 0.15  # retain accuracy may fall at most this much


@pytest.mark.synth
@pytest.mark.parametrize("name", methods_for_task("classification"))
def test_method_forgets_the_class_and_keeps_the_rest(class_removal, name, bound):
    settings = SETTINGS_DIR / f"{name}.yaml"
    if not settings.is_file():
        pytest.fail(f"method {name!r} has no class-removal settings file {settings}")
    model = class_removal.original()
    hparams = yaml.safe_load(settings.read_text()) or {}
    fit_unlearning(build_method(name, model, **hparams), class_removal.dm)
    acc = class_removal.accuracy(model)
    orig = class_removal.original_acc
    bound("forget acc", acc["forget"], "<=", FORGET_MAX)
    bound("retain acc drop", orig["retain"] - acc["retain"], "<=", RETAIN_DROP_MAX)
