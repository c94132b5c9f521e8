"""The TTS speaker-forgetting experiment end to end on a tiny synthetic corpus."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from audio_unlearn.tts_experiment import load_tts_config

ROOT = Path(__file__).resolve().parents[1]


def test_recipe_configs_load():
    for name in ("synthetic.yaml", "libritts.yaml"):
        cfg = load_tts_config(ROOT / "recipes" / "tts_speaker" / name)
        assert set(cfg.methods) >= {"tts_tgu", "tts_sgu", "tts_ng", "tts_kl", "tts_ft"}
    cfg = load_tts_config(None, ["model.d_model=64", "train.steps=5"])
    assert cfg.model["d_model"] == 64 and cfg.model["frames_per_token"] == 2
    with pytest.raises(ValueError, match="unknown key"):
        load_tts_config(None, ["train.epochz=3"])


@pytest.mark.synth
@pytest.mark.slow
def test_synthetic_recipe_smoke_run(tmp_path, capsys):
    from audio_unlearn.cli import main

    argv = [
        "run",  # one command for every task: the config says task: tts
        str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml"),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    smoke = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 6, n_intents: 3, repeats_per_intent: 1, noise: clean}",
        "split.n_test_speakers=2",
        "split.n_speakers=1",
        "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
        "train.steps=4",
        "train.batch_size=4",
        "train.precision=32-true",
        "unlearn={steps: 2, batch_size: 4, precision: 32-true}",
        "methods.tts_tgu={lr: 1.0e-4, cache_size: 1, teacher_nfe: 2}",
        "methods.tts_ng={lr: 1.0e-5, steps: 5}",  # more steps than one epoch of forget
        "eval.per_speaker=1",
        "eval.nfe=2",
        "eval.judge_epochs=1",
        "eval.relearn_steps=2",
        "eval.probe_every=1",
    ]
    for item in smoke:
        argv += ["--set", item]
    assert main(argv) == 0
    run = tmp_path / "run"
    for name in (
        "report.json",
        "report.md",
        "sim_distributions.png",
        "tradeoff.png",
        "judge.json",
        "split.json",
        "checkpoints/original.pt",
        "checkpoints/retrain.pt",
        "checkpoints/tts_tgu.pt",
        "eval/tts_tgu.json",
        "eval/original_text_only.json",
        "forgetting_curve.png",
    ):
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    names = [r["model"] for r in report["rows"]]
    assert names == [
        "original",
        "original, text only",
        "retrain",
        "tts_ft",
        "tts_ng",
        "tts_kl",
        "tts_sgu",
        "tts_tgu",
        "tts_tgu+relearn",
    ]
    for row in report["rows"]:
        for key in ("sim_f", "sim_r", "sim_u", "wer_r", "cross_sim", "spk_zrf_f"):
            if key == "spk_zrf_f" and row.get("reference"):
                continue  # the text-only row *is* spk-ZRF's reference
            assert row[key] is not None, (row["model"], key)
    tgu_record = json.loads((run / "eval" / "tts_tgu.json").read_text())
    forget_rows = [r for r in tgu_record["rows"] if r["group"] == "forget"]
    paired = sum(r["sim_o"] - r["cross_sim_o"] for r in forget_rows) / len(forget_rows)
    tgu_row = next(r for r in report["rows"] if r["model"] == "tts_tgu")
    assert tgu_row["paired_gap_f"] == pytest.approx(paired)
    # the teacher's random voices: scored, but not checked as a method
    assert set(report["targets"]["original, text only"]) == {
        "sim_f_minus_cross",
        "sim_f_at_cross_level",
    }
    assert report["evaluation"]["encoder"]["backend"] == "resemblyzer"
    assert report["judge"]["unseen_real"]["normaliser"] == "strip_punct"
    tgu = next(r for r in report["rows"] if r["model"] == "tts_tgu")
    assert tgu["teacher_generations"] >= 1
    assert {"sim_f_at_cross_level", "sim_r_kept", "wer_r_within_bound"} <= set(
        report["targets"]["tts_tgu"]
    )
    # the forgetting curve: TGU's forget trials probed at steps 0, 1, 2
    assert [c["step"] for c in tgu["curve"]] == [0, 1, 2]
    first = tgu["curve"][0]  # the probe at step 0 measures the original, as its evaluation
    assert first["sim"]["forget"] == pytest.approx(report["rows"][0]["sim_f"], abs=1e-4)
    assert first["level"] == pytest.approx(report["rows"][0]["cross_sim"], abs=1e-4)
    assert all(c["gap"] == pytest.approx(c["sim"]["forget"] - c["level"]) for c in tgu["curve"])
    assert "probe_steps_to_target" in report["targets"]["tts_tgu"]
    ng = next(r for r in report["rows"] if r["model"] == "tts_ng")
    assert ng["steps"] == 5  # steps, not epochs, bound a method's run
    # a second run reuses every checkpoint and evaluation record (resumable): same table
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "training the" not in out and "evaluating" not in out
    assert out.count("reusing") >= 11
    again = json.loads((run / "report.json").read_text())
    assert [r["sim_f"] for r in again["rows"]] == [r["sim_f"] for r in report["rows"]]
    # the TGU cost benchmark runs on the finished run directory
    spec = importlib.util.spec_from_file_location("bench_tgu", ROOT / "benchmarks/bench_tgu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tgu_cost.json"
    argv = ["--run-dir", str(run), "--out", str(out), "--timed-steps", "1", "--every", "1"]
    assert bench.main([*argv, "--max-steps", "2", "--margin", "-1"]) == 0
    cost = json.loads(out.read_text())
    assert cost["teacher_target_timing"]["cached"]["seconds_per_step"] > 0
    assert [c["step"] for c in cost["curve"]] == [0, 1, 2] and cost["reached"] is None
    assert bench.main([*argv, "--max-steps", "2", "--margin", "1"]) == 0
    cost = json.loads(out.read_text())  # a margin of 1 is met at once: the probe stops it
    assert cost["reached"]["step"] == 0 and cost["fraction_of_pretraining"]["steps"] == 0
    summary = out.with_suffix(".md").read_text()
    assert "Reached at step 0" in summary and "| cached (cache_size 4) |" in summary


def test_targets_by_hand():
    from audio_unlearn.tts_experiment import _targets

    original = {"model": "original", "sim_f": 0.70, "sim_r": 0.70, "cross_sim": 0.55, "wer_r": 0.02}
    rows = [
        original,
        {"model": "good", "sim_f": 0.58, "sim_r": 0.66, "cross_sim": 0.56, "wer_r": 0.05},
        {"model": "bad", "sim_f": 0.65, "sim_r": 0.50, "cross_sim": 0.55, "wer_r": 0.20},
    ]
    checks = _targets(rows, original, 0.05, 0.05)
    assert checks["original_sim_f_above_cross"] == pytest.approx(0.15)
    good, bad = checks["good"], checks["bad"]
    assert good["sim_f_minus_cross"] == pytest.approx(0.02) and good["sim_f_at_cross_level"]
    assert good["sim_r_ratio"] == pytest.approx(0.66 / 0.70) and good["sim_r_kept"]
    assert good["wer_r_rise"] == pytest.approx(0.03) and good["wer_r_within_bound"]
    assert not bad["sim_f_at_cross_level"] and not bad["sim_r_kept"]
    assert not bad["wer_r_within_bound"]
