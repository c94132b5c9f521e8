"""The TTS speaker-forgetting experiment end to end on a tiny synthetic corpus."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from audio_unlearn.testing.bands import check_bands, recipe_bands
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
        "eval.validation_texts=0",
        "seeds=null",
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
    table_csv = Path(__file__).parent / "recipes.csv"
    assert check_bands(run, recipe_bands(table_csv, "tts_speaker")) == []
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
        "sim_f_minus_reference",
        "sim_f_minus_own_level",
    }
    assert report["evaluation"]["encoder"]["backend"] == "resemblyzer"
    assert report["judge"]["unseen_real"]["normaliser"] == "strip_punct"
    tgu = next(r for r in report["rows"] if r["model"] == "tts_tgu")
    assert tgu["teacher_generations"] >= 1
    assert {"sim_f_at_reference_level", "sim_r_kept", "wer_r_within_bound"} <= set(
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
        # its own level rose to 0.56: the target reads the original's fixed 0.55
        {"model": "good", "sim_f": 0.59, "sim_r": 0.66, "cross_sim": 0.56, "wer_r": 0.05},
        {"model": "bad", "sim_f": 0.65, "sim_r": 0.50, "cross_sim": 0.55, "wer_r": 0.20},
        # a method that makes every voice alike: near its own level, far from the original's
        {"model": "alike", "sim_f": 0.63, "sim_r": 0.66, "cross_sim": 0.61, "wer_r": 0.02},
    ]
    checks = _targets(rows, original, 0.05, 0.05)
    assert checks["original_sim_f_above_cross"] == pytest.approx(0.15)
    assert checks["reference_level"] == 0.55
    good, bad, alike = checks["good"], checks["bad"], checks["alike"]
    assert good["sim_f_minus_reference"] == pytest.approx(0.04)
    assert good["sim_f_minus_own_level"] == pytest.approx(0.03) and good["sim_f_at_reference_level"]
    assert good["sim_r_ratio"] == pytest.approx(0.66 / 0.70) and good["sim_r_kept"]
    assert good["wer_r_rise"] == pytest.approx(0.03) and good["wer_r_within_bound"]
    assert not bad["sim_f_at_reference_level"] and not bad["sim_r_kept"]
    assert not bad["wer_r_within_bound"]
    assert alike["sim_f_minus_own_level"] == pytest.approx(0.02)
    assert not alike["sim_f_at_reference_level"]  # 0.08 above the original's level


def _seeded(name, values):
    from audio_unlearn.evaluation.intervals import merge_seed_rows

    (row,) = merge_seed_rows(
        [
            {"model": name, "seed": i, "sim_f": f, "sim_r": r, "cross_sim": 0.55, "wer_r": w}
            for i, (f, r, w) in enumerate(values)
        ]
    )
    return row


def test_seeded_targets_read_the_interval():
    """Over seeds a target is met only when the 95% interval clears its bound; the
    intervals are Student-t with n - 1 degrees of freedom (t_{0.975, 2} = 4.3027)."""
    from audio_unlearn.tts_experiment import _targets

    original = {"model": "original", "sim_f": 0.70, "sim_r": 0.70, "cross_sim": 0.55, "wer_r": 0.02}
    rows = [
        original,
        # gaps 0.010, 0.015, 0.020: mean 0.015, sd 0.005, half-width 4.3027 * 0.005 / sqrt(3)
        _seeded("tight", [(0.56, 0.69, 0.02), (0.565, 0.70, 0.02), (0.57, 0.68, 0.03)]),
        # gaps 0.00, 0.05, 0.10: the interval straddles 0.05
        _seeded("wide", [(0.55, 0.69, 0.02), (0.60, 0.69, 0.02), (0.65, 0.69, 0.02)]),
        # gaps 0.10, 0.11, 0.12; SIM-R 0.5x: both clearly missed
        _seeded("missed", [(0.65, 0.35, 0.30), (0.66, 0.35, 0.31), (0.67, 0.36, 0.30)]),
    ]
    tight = rows[1]
    assert tight["sim_f"] == pytest.approx(0.565) and tight["seeds"] == [0, 1, 2]
    assert tight["over_seeds"]["sim_f"]["sd"] == pytest.approx(0.005)
    checks = _targets(rows, original, 0.05, 0.05)
    gap = checks["tight"]["over_seeds"]["sim_f_minus_reference"]
    half = 4.302652729911275 * 0.005 / 3**0.5
    assert gap["mean"] == pytest.approx(0.015)
    assert gap["lo"] == pytest.approx(0.015 - half) and gap["hi"] == pytest.approx(0.015 + half)
    assert checks["tight"]["sim_f_at_reference_level"] == "met"
    assert checks["tight"]["sim_r_kept"] == "met"
    assert checks["wide"]["sim_f_at_reference_level"] == "inconclusive"
    assert checks["missed"]["sim_f_at_reference_level"] == "not met"
    assert checks["missed"]["sim_r_kept"] == "not met"
    assert checks["missed"]["wer_r_within_bound"] == "not met"


@pytest.mark.synth
@pytest.mark.slow
def test_seeds_and_validation_trials(tmp_path, capsys):
    """``seeds`` runs TGU once per seed and reports means with intervals and verdicts;
    ``eval.validation_texts`` holds texts out for validation trials that the forgetting
    curve reads, against the original's levels on those trials."""
    from audio_unlearn.cli import main
    from audio_unlearn.evaluation.intervals import VERDICTS

    run = tmp_path / "run"
    argv = ["run", str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml"), "--out", str(run)]
    smoke = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 6, n_intents: 8, repeats_per_intent: 1, noise: clean}",
        "split.n_test_speakers=2",
        "split.n_speakers=1",
        "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
        "train={steps: 4, batch_size: 4, precision: 32-true}",
        "unlearn={steps: 2, batch_size: 4, precision: 32-true}",
        "methods={tts_tgu: {lr: 1.0e-3, cache_size: 1, teacher_nfe: 2, steps: 2}}",
        "eval={per_speaker: 2, nfe: 2, judge_epochs: 1, relearn_steps: 0, probe_every: 1, "
        "validation_texts: 0.5, gallery: null, gallery_utterances: 2}",
        "seeds=[0, 1]",
    ]
    for item in smoke:
        argv += ["--set", item]
    assert main([*argv, "--no-progress"]) == 0
    trials = json.loads((run / "trials.json").read_text())
    held = set(trials["validation_texts"])
    by_id = {
        json.loads(line)["id"]: json.loads(line)
        for line in (tmp_path / "corpus" / "manifest.jsonl").read_text().splitlines()
    }
    distinct = {" ".join(u["text"].lower().split()) for u in by_id.values()}
    assert held < distinct and len(held) == round(len(distinct) / 2)
    assert trials["draw"] == {"fraction": 0.5, "seed": 0}
    assert trials["validation"] and trials["test"]

    def texts(keys):
        ids = [i for k in keys for i in k.split("/", 1)[1].split("->")]
        return {" ".join(by_id[i]["text"].lower().split()) for i in ids}

    assert texts(trials["validation"]) <= held  # prompts and targets
    assert not texts(trials["test"]) & held
    report = json.loads((run / "report.json").read_text())
    assert report["evaluation"]["n_validation_trials"] == len(trials["validation"])
    tgu = next(r for r in report["rows"] if r["model"] == "tts_tgu")
    assert tgu["seeds"] == [0, 1] and [r["seed"] for r in tgu["per_seed"]] == [0, 1]
    per_seed_sim = [r["sim_f"] for r in tgu["per_seed"]]
    assert tgu["sim_f"] == pytest.approx(sum(per_seed_sim) / 2)
    assert per_seed_sim[0] != per_seed_sim[1]  # another seed, another model
    for seed in (0, 1):
        assert (run / "checkpoints" / f"tts_tgu@s{seed}.pt").is_file()
    checks = report["targets"]["tts_tgu"]
    level = report["rows"][0]["cross_sim"]
    gaps = checks["over_seeds"]["sim_f_minus_reference"]["values"]
    assert gaps == pytest.approx([v - level for v in per_seed_sim])
    for target in ("sim_f_at_reference_level", "sim_r_kept", "wer_r_within_bound"):
        assert checks[target] in VERDICTS
    # the curve reads the validation trials, against the original's levels on them
    original_val = json.loads((run / "eval" / "original@validation.json").read_text())
    first = tgu["per_seed"][0]["curve"][0]  # step 0: the original itself
    assert tgu["per_seed"][0]["curve_trials"] == "validation"
    val_level = original_val["cross_speaker_level"]["sim_o"]
    assert first["level"] == pytest.approx(val_level, abs=1e-4)
    assert first["gap_reference"] == pytest.approx(first["gap"], abs=1e-4)
    assert first["sim_r_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert first["wer_r_rise"] == pytest.approx(0.0, abs=1e-6)
    md = (run / "report.md").read_text()
    assert "SIM-F - original's level" in md
    # identity leakage: every corpus speaker enrolled (gallery: null), from utterances no
    # trial uses; the per-trial ranks give the re-identification rates
    keys = trials["validation"] + trials["test"]
    used = {i for k in keys for i in k.split("/", 1)[1].split("->")}
    for name in ("original", "retrain", "tts_tgu@s0"):
        record = json.loads((run / "eval" / f"{name}.json").read_text())
        gallery = record["settings"]["gallery"]
        assert gallery["n_speakers"] == 6 and gallery["utterances_per_speaker"] == 2
        assert len(gallery["enrolment_ids"]) == 12 and not used & set(gallery["enrolment_ids"])
        forget = [r for r in record["rows"] if r["group"] == "forget"]
        ident = record["summary"]["forget"]["identity"]
        top1 = sum(r["reid_rank"] == 1 for r in forget) / len(forget)
        assert ident["top1"] == pytest.approx(top1) and ident["chance_top1"] == pytest.approx(1 / 6)
        assert ident["avg_fssim"] == pytest.approx(sum(r["fssim"] for r in forget) / len(forget))
        assert 0.0 <= ident["impostor_auroc"] <= 1.0
    rows = {r["model"]: r for r in report["rows"]}
    levels = {rows[m]["impostor_level"] for m in ("original", "retrain")}
    assert len(levels) == 1  # the impostor level does not depend on the model
    assert rows["tts_tgu"]["over_seeds"]["reid1_f"]["n"] == 2
    assert "Identity leakage against a gallery of 6 enrolled speakers" in md
    # the README's numbers come from the run directory: `audio-unlearn report RUN --markdown`
    capsys.readouterr()
    assert main(["report", str(run), "--markdown"]) == 0
    printed = capsys.readouterr().out
    lo, hi = (tgu["over_seeds"]["sim_f"][k] for k in ("lo", "hi"))
    assert "| tts_tgu | " in printed and f"{tgu['sim_f']:.3f} [{lo:.3f}, {hi:.3f}]" in printed
    assert printed.strip() in md  # the same rendering the runner wrote
    assert main(["report", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds no report" in capsys.readouterr().err


def test_tgu_choice_rule_on_validation_curves():
    """benchmarks/tune_tgu.py's rule: utility kept first, then the lowest validation gap,
    near-ties to fewer steps; step 0 (the original) never counts."""
    spec = importlib.util.spec_from_file_location("tune_tgu", ROOT / "benchmarks/tune_tgu.py")
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)

    def probe(step, gap, ratio, rise=0.0):
        return {"step": step, "gap_reference": gap, "sim_r_ratio": ratio, "wer_r_rise": rise}

    curves = {
        "a": [probe(0, 0.17, 1.0), probe(300, 0.03, 0.85), probe(600, 0.052, 0.91)],
        "b": [probe(0, 0.17, 1.0), probe(300, 0.06, 0.95), probe(900, 0.049, 0.92)],
        "c": [probe(300, 0.01, 0.99, rise=0.2)],  # WER-R broken: not kept
    }
    out = tune.choose(curves, wer_bound=0.05)
    # a@300 forgets most but loses SIM-R; b@900 (0.049) and a@600 (0.052) tie: fewer steps
    assert (out["chosen"]["candidate"], out["chosen"]["step"]) == ("a", 600)
    assert out["n_probes"] == 5 and out["n_kept"] == 3
    out = tune.choose({"a": [probe(300, 0.02, 0.8), probe(600, 0.03, 0.85)]}, 0.05)
    assert out["chosen"]["step"] == 600 and out["why"].startswith("no probe kept utility")
    with pytest.raises(ValueError, match="no probe after step 0"):
        tune.choose({"a": [probe(0, 0.1, 1.0)]}, 0.05)
