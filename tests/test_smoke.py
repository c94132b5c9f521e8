import torch

from audio_unlearn.cli import main
from audio_unlearn.methods import METHODS, register_method
from audio_unlearn.methods.base import UnlearningModule


def test_smoke_passes_for_named_methods(capsys):
    assert main(["smoke", "--methods", "ft", "ng", "--models", "logmel_cnn"]) == 0
    out = capsys.readouterr().out
    assert "| logmel_cnn | ft | pass |" in out and "| logmel_cnn | ng | pass |" in out
    assert "2 passed, 0 failed" in out


def test_a_broken_method_fails_the_smoke_run_and_is_named(capsys):
    @register_method("broken_for_test")
    class Broken(UnlearningModule):
        uses = ("forget",)

        def unlearning_loss(self, batch):
            raise RuntimeError("deliberately broken")

    try:
        assert main(["smoke", "--methods", "ft", "broken_for_test", "--models", "logmel_cnn"]) == 1
    finally:
        del METHODS["broken_for_test"]
    captured = capsys.readouterr()
    assert "FAIL: RuntimeError: deliberately broken" in captured.out
    assert "failed: logmel_cnn/broken_for_test" in captured.err
    assert "| logmel_cnn | ft | pass |" in captured.out  # one failure does not stop the rest


def test_a_method_producing_nan_fails(capsys):
    @register_method("nan_for_test")
    class MakesNaN(UnlearningModule):
        uses = ("forget",)
        training_free = True

        def apply(self, datamodule):
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("nan"))

    try:
        assert main(["smoke", "--methods", "nan_for_test", "--models", "logmel_cnn"]) == 1
    finally:
        del METHODS["nan_for_test"]
    assert "non-finite logits" in capsys.readouterr().out


def test_unknown_names_are_errors(capsys):
    assert main(["smoke", "--methods", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_asr_methods_smoke_on_the_tiny_recogniser(capsys):
    from audio_unlearn.methods import methods_for_task

    assert main(["smoke", "--models", "asr"]) == 0
    out = capsys.readouterr().out
    names = methods_for_task("asr")
    assert {"ft", "ng", "ngplus", "cfk", "scrub"} <= set(names)
    for name in names:
        assert f"| asr | {name} | pass |" in out
    assert f"{len(names)} passed, 0 failed" in out


def test_a_preset_runs_on_its_task_and_a_method_of_no_listed_task_is_an_error(capsys):
    # a preset names its task: asr_ft is FT on the recogniser (it once exited 0 with no row)
    assert main(["smoke", "--methods", "asr_ft", "--models", "asr", "logmel_cnn"]) == 0
    out = capsys.readouterr().out
    assert "| asr | asr_ft | pass |" in out and "1 passed, 0 failed" in out
    # an ASR preset on classifiers only, or a label-bound method on ASR only: nothing would
    # run, which is an error before any work
    assert main(["smoke", "--methods", "asr_ft", "--models", "logmel_cnn"]) == 2
    assert "serves none of the models' tasks" in capsys.readouterr().err
    assert main(["smoke", "--methods", "unsir", "--models", "asr"]) == 2
    assert "serves none of the models' tasks" in capsys.readouterr().err


def test_tts_methods_smoke_on_the_tiny_tts(capsys):
    from audio_unlearn.methods import methods_for_task

    assert main(["smoke", "--models", "tts"]) == 0
    out = capsys.readouterr().out
    names = methods_for_task("tts")  # tts_ft / tts_ng / tts_retrain: FT / NG / retrain on TTS
    assert {"tts_tgu", "tts_sgu", "tts_kl", "retrain", "ft", "ng", "ssd"} <= set(names)
    for name in names:
        assert f"| tts | {name} | pass |" in out
    assert "| logmel_cnn |" not in out
