"""Every runner checks its methods against its task before any work: a method of another
task, an unknown method or hyper-parameter, or a value of the wrong kind is an error that
names it, raised before a corpus is read or a model trained."""

import pytest

from audio_unlearn.asr_experiment import ASRExperiment, load_asr_config
from audio_unlearn.experiment import Experiment, load_config
from audio_unlearn.methods.registry import check_methods
from audio_unlearn.tts_experiment import TTSExperiment, load_tts_config
from audio_unlearn.unslu import load_unslu_config


def test_check_methods_names_every_problem():
    check_methods({"ng": {"lr": "3e-4"}, "asr_scrub": {}, "ssd": None}, "asr")
    with pytest.raises(ValueError) as err:
        check_methods({"unsir": {}, "ng": {"nope": 1}, "ft": {"epochs": "abc"}, "zzz": {}}, "asr")
    text = str(err.value)
    assert "serves ['classification'], not task 'asr'" in text
    assert "no hyper-parameter(s) ['nope']" in text
    assert "epochs='abc' is not a number" in text
    assert "unknown method 'zzz'" in text
    # a runner's own per-method keys pass
    check_methods({"tts_ng": {"steps": 5}}, "tts", runner_keys=("steps",))


@pytest.mark.parametrize(
    ("make", "methods", "message"),
    [
        (lambda m: ASRExperiment(load_asr_config(None, [m]), "unused"), "{unsir: {}}", "serves"),
        (lambda m: ASRExperiment(load_asr_config(None, [m]), "unused"), "{ng: {k: 2}}", "no hyper"),
        (lambda m: TTSExperiment(load_tts_config(None, [m]), "unused"), "{scrub: {}}", "serves"),
        (lambda m: Experiment(load_config(None, [m]), "unused"), "{asr_ft: {}}", "preset for task"),
        (lambda m: load_unslu_config(None, [m]), "{tts_tgu: {}}", "serves"),
    ],
)
def test_runners_refuse_methods_of_another_task_before_any_work(
    tmp_path, monkeypatch, make, methods, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        make(f"methods={methods}")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_asr_runner_accepts_every_method_that_serves_asr():
    cfg = load_asr_config(None, ["methods={ssd: {importance_batch_size: 1}, ng: {}, asr_cfk: {}}"])
    ASRExperiment(cfg, "unused")
