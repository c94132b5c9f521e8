"""Every runner checks its methods against its task before any work: a method of another
task, an unknown method or hyper-parameter, or a value of the wrong kind is an error that
names it, raised before a corpus is read or a model trained."""

import pytest
import torch

from audio_unlearn.asr_experiment import ASRExperiment, load_asr_config
from audio_unlearn.experiment import Experiment, load_config
from audio_unlearn.methods import METHODS, build_method, method_hparams
from audio_unlearn.methods.registry import PRESETS, check_methods
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
        (lambda m: TTSExperiment(load_tts_config(None, [m]), "unused"), "{rl: {}}", "serves"),
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


SHARED = ("lr", "epochs", "weight_decay")
#: methods that do not take all three shared hyper-parameters: SSD is training-free (none),
#: Amnesiac's epochs are impair_epochs + repair_epochs.
NOT_SHARED = {"ssd": SHARED, "amnesiac": ("epochs",)}


def _tiny_model(task: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if task == "classification":
        from audio_unlearn.models import LogMelCNN, LogMelCNNConfig

        return LogMelCNN(LogMelCNNConfig(num_classes=3, channels=8, n_layers=2))
    if task == "asr":
        from audio_unlearn.models.asr import CTCRecognizer, CTCRecognizerConfig
        from audio_unlearn.smoke import TINY_ASR

        return CTCRecognizer(CTCRecognizerConfig(characters=(" ", "a", "b"), **TINY_ASR))
    from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig

    cfg = FlowMatchingTTSConfig(n_phones=8, d_model=16, n_layers=2, n_heads=2, d_phone=8)
    return FlowMatchingTTS(cfg)


@pytest.mark.parametrize(
    ("name", "task"),
    [
        *((n, t) for n, cls in sorted(METHODS.items()) for t in cls.tasks),
        *((n, p.task) for n, p in sorted(PRESETS.items())),
    ],
)
def test_every_method_takes_the_shared_hyper_parameters_with_their_defaults(name, task):
    known = method_hparams(name, task)
    method = build_method(name, _tiny_model(task), task=task)
    base = PRESETS[name].method if name in PRESETS else name
    for key in SHARED:
        if key in NOT_SHARED.get(base, ()):
            assert key not in known
            continue
        assert key in known, f"{name} on {task} does not take {key}"
        assert getattr(method, key) == known[key]
        assert method.hparams[key] == known[key]  # what Lightning records
    if base == "amnesiac":
        assert method.epochs == known["impair_epochs"] + known["repair_epochs"]


def test_shared_defaults_merge_over_the_class_hierarchy():
    assert method_hparams("ng") == {"lr": 1e-4, "epochs": 1, "weight_decay": 0.0}
    assert method_hparams("ft")["lr"] == 1e-3
    assert (method_hparams("retrain")["lr"], method_hparams("retrain")["epochs"]) == (1e-3, 20)
    assert method_hparams("l1sparse")["epochs"] == 5
    assert method_hparams("omp")["lr"] == method_hparams("prune_regrow")["lr"] == 0.01
    tts_retrain = method_hparams("tts_retrain")
    assert {k: tts_retrain[k] for k in (*SHARED, "warmup_steps")} == {
        "lr": 1e-3,
        "epochs": 20,
        "weight_decay": 0.01,
        "warmup_steps": 200,
    }
    assert method_hparams("tts_kl")["warmup_steps"] == 0
    assert set(method_hparams("btl")) == {*SHARED, "temperature", "teacher_seed", "noise_std"}
    assert build_method("btl", _tiny_model("classification"), lr=3e-4, teacher_seed=2).lr == 3e-4
