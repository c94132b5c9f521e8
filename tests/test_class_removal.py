"""Every registered method on class removal: forget accuracy must fall well below the
original's while retain accuracy stays within a bound (a method that does nothing, or one
that destroys the model, fails)."""

import pytest

from audio_unlearn.methods import METHODS, build_method, fit_unlearning

# Per-method settings for this small corpus (120 training utterances, 6 intents); the
# defaults are tuned for full-size data sets.
SETTINGS = {
    "ft": {"lr": 3e-3, "epochs": 5},
    "ng": {"lr": 3e-4, "epochs": 2},
}
FORGET_MAX = 0.35  # forget accuracy after unlearning (original: 1.0; chance: 1/6)
RETAIN_DROP_MAX = 0.15  # retain accuracy may fall at most this much


@pytest.mark.synth
@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_forgets_the_class_and_keeps_the_rest(class_removal, name):
    if name not in SETTINGS:
        pytest.fail(f"method {name!r} has no class-removal settings in this test")
    model = class_removal.original()
    fit_unlearning(build_method(name, model, **SETTINGS[name]), class_removal.dm)
    acc = class_removal.accuracy(model)
    orig = class_removal.original_acc
    assert acc["forget"] <= FORGET_MAX, (name, acc, orig)
    assert acc["retain"] >= orig["retain"] - RETAIN_DROP_MAX, (name, acc, orig)
