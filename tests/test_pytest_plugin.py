"""The pytest plugin works for a user's test suite outside this repository."""

import os
import subprocess
import sys
import textwrap

import torch

USER_TEST = textwrap.dedent(
    """
    import torch
    from audio_unlearn.methods import build_method, fit_unlearning


    def test_user_can_unlearn_with_the_fixtures(tiny_classifier, tiny_datamodule):
        fit_unlearning(build_method("ng", tiny_classifier, lr=1e-3), tiny_datamodule)
        wav, _ = next(iter(tiny_datamodule.eval_dataloader("forget")))
        assert torch.isfinite(tiny_classifier.eval()(wav)).all()


    def test_every_family_has_a_tiny_checkpoint(tiny_checkpoints):
        from audio_unlearn.models import load_classifier

        assert set(tiny_checkpoints) == {
            "logmel_cnn", "ecapa", "hf:wav2vec2", "hf:hubert", "hf:wavlm", "hf:whisper_encoder"
        }
        for path in tiny_checkpoints.values():
            assert load_classifier(path).classes == ("c0", "c1", "c2", "c3")


    def test_user_can_run_tgu_on_the_tiny_tts(tiny_tts):
        from audio_unlearn.models.tts import load_tts

        dm, path = tiny_tts
        model = load_tts(path).model.train()
        before = [p.detach().clone() for p in model.parameters()]
        method = build_method("tts_tgu", model, lr=1e-3, teacher_nfe=2)
        dm.batch_size = dm.forget_batch_size = 2
        fit_unlearning(method, dm, max_steps=1)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    """
)


def test_fixtures_work_in_a_foreign_directory_through_the_entry_point(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TEST)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_tiny_fixtures_in_this_suite(tiny_classifier, tiny_datamodule, tiny_class_split, bound):
    assert tiny_class_split.forget_classes == ("c0",)
    wav, y = next(iter(tiny_datamodule.eval_dataloader("retain")))
    acc = (tiny_classifier.eval()(wav).argmax(-1) == y).float().mean()
    bound("retain batch acc", acc, ">", 0.5)  # trained, not random (chance is 0.25)
    assert torch.isfinite(tiny_classifier(wav)).all()
