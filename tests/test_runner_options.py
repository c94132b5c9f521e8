"""Options of the one runner (run/runner.py) that reach every task: the relearning attack
(run/attacks.py), checked before any work and run on the classification, ASR and TTS
runners alike."""

import json
import re
from pathlib import Path

import pytest
import torch

from audio_unlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]

CLASSIFICATION = [
    "split.n_test_speakers=3",
    "split.n_speakers=2",
    "split.min_utterances=1",
    "train.epochs=2",
    "train.batch_size=16",
    "max_seconds=1.0",
]


#: smoke-sized settings of the TTS and ASR recipes (the recipes' own YAML supplies the rest)
TINY_TTS = [
    "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
    "train.steps=4",
    "train.batch_size=4",
    "train.precision=32-true",
    "unlearn={steps: 2, batch_size: 4, precision: 32-true}",
    # the recipe's held-out validation texts and seeds need a larger corpus
    "eval.validation_texts=0",
    "seeds=null",
]
TINY_ASR = ["split.min_utterances=1", "train.epochs=2", "eval.mia_bin_s=5.0"]


def _run_tiny_asr(tmp_path, *extra):
    """The ASR recipe at smoke size (NG only) with ``extra`` settings; its report rows."""
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 8, n_intents: 4, repeats_per_intent: 2}",
        "split.n_test_speakers=2",
        *TINY_ASR,
        "eval.judge_full_audio=false",
        "methods={asr_ng: {}}",
        *extra,
    ]
    config = str(ROOT / "recipes" / "asr_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    return _rows(tmp_path / "run")


def _rows(out):
    report = json.loads((out / "report.json").read_text())
    return {r["model"]: r for r in report.get("models", report.get("rows"))}


def test_relearning_attack_on_a_classifier_fits_the_attackers_utterances(
    dummy_manifest, tmp_path, bound, seed
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, f"seed={seed}"]
    sets += ["methods={ng: {lr: 1.0e-3}}", "eval.relearn_methods=[ng]"]
    sets += ["eval.relearn_steps=20", "eval.relearn_utterances=6", "eval.relearn_lr=3.0e-4"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    rows = _rows(out)
    assert list(rows) == ["original", "gold", "ng", "ng+relearn"]
    attacked = rows["ng+relearn"]
    assert attacked["role"] == "attack" and attacked["gum"] is None
    # the attack fitted the 6 forget utterances it was given (whether the rest of the forget
    # set follows is the measurement, not a property of the code)
    ratio = attacked["attacker_loss_after"] / attacked["attacker_loss_before"]
    bound("attacker loss after / before", ratio, "<", 0.7)
    assert attacked["steps"] == 20
    # a rerun reuses the method's checkpoint and repeats the (seeded) attack exactly
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    assert _rows(out)["ng+relearn"]["forget_loss"] == pytest.approx(attacked["forget_loss"])


def test_a_rerun_reuses_stored_evaluations_made_with_the_same_settings(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ng: {}}"]
    argv = ["run", "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    first = _rows(out)
    assert sorted(p.name for p in (out / "eval").iterdir()) == [
        "gold.json",
        "ng.json",
        "original.json",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.count("(same model and settings)") == 3
    assert _rows(out) == first  # the report from stored evaluations is the same report
    # an evaluation made with other settings (its key differs) is redone, and only it
    stored = out / "eval" / "ng.json"
    stored.write_text(stored.read_text().replace('"key": "', '"key": "0', 1))
    assert main(argv) == 0
    assert capsys.readouterr().out.count("(same model and settings)") == 2
    assert _rows(out) == first


def test_relearning_a_method_the_run_does_not_run_is_refused_before_any_work(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ft: {}}"]
    sets += ["eval.relearn_steps=2", "eval.relearn_methods=[ng]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 2
    assert "eval.relearn_methods names ['ng']" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


@pytest.mark.slow
@pytest.mark.synth
def test_relearning_attack_on_the_asr_runner(tmp_path, bound, seed):
    extra = [f"seed={seed}", "eval.relearn_methods=[asr_ng]", "eval.relearn_steps=20"]
    rows = _run_tiny_asr(tmp_path, *extra, "eval.relearn_utterances=4", "eval.relearn_lr=1.0e-3")
    assert list(rows) == ["original", "retrained", "asr_ng", "asr_ng+relearn"]
    attacked = rows["asr_ng+relearn"]
    ratio = attacked["attacker_loss_after"] / attacked["attacker_loss_before"]
    bound("attacker loss after / before", ratio, "<", 0.85)


def test_one_split_maker_gives_every_task_the_official_hold_out(dummy_manifest):
    from audio_unlearn.data import read_manifest
    from audio_unlearn.data.splits import CorpusSplit
    from audio_unlearn.run.splits import SplitConfig, make_split

    utts = read_manifest(dummy_manifest)
    speakers = sorted({u.speaker for u in utts})
    test_ids = tuple(u.id for u in utts if u.speaker in speakers[:2])
    train_ids = tuple(u.id for u in utts if u.speaker not in speakers[:2])
    official = CorpusSplit(train=train_ids, valid=(), test=test_ids)
    cfg = SplitConfig(holdout="official", n_speakers=2, min_utterances=1, seed=0)
    # no label key: an ASR or TTS run
    split = make_split(cfg, utts, official)
    assert split.test == test_ids
    assert len(split.forget_speakers) == 2
    assert not set(split.forget_speakers) & set(speakers[:2])
    with pytest.raises(ValueError, match="needs class labels"):
        make_split(SplitConfig(kind="class", n_classes=1), utts, official)
    with pytest.raises(ValueError, match=r"needs a corpus\.prepare step"):
        make_split(cfg, utts, None)


def test_a_forget_kind_the_task_cannot_evaluate_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--set", "split.kind=item"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "split.kind must be one of ['speaker'] for the tts runner, not 'item'" in err
    assert not out.exists()


def test_sequential_requests_on_a_classifier(dummy_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ft: {}, ng: {}}"]
    sets += ["requests=[1, 1]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    assert [(r["request"], r["model"]) for r in rows] == [
        (k, m) for k in (1, 2) for m in ("original", "gold", "ft", "ng")
    ]
    first, second = (r["speakers"] for r in report["requests"])
    assert len(first) == len(second) == 1 and first != second
    assert set(first + second) == set(report["forget_speakers"])
    # request 2 starts from each method's request-1 model and re-measures request 1's set
    ng2 = next(r for r in rows if r["request"] == 2 and r["model"] == "ng")
    ng1 = next(r for r in rows if r["request"] == 1 and r["model"] == "ng")
    (earlier,) = ng2["earlier"]
    assert earlier["request"] == 1
    assert earlier["forget_acc_at_request"] == ng1["forget_acc"]
    assert all(r["gum"] is not None for r in rows if r["role"] == "method")
    for k in (1, 2):
        assert (out / "checkpoints" / f"r{k}" / "gold.pt").is_file()
        assert (out / "checkpoints" / f"r{k}" / "ng.pt").is_file()
    assert "Request 2: forget" in (out / "report.md").read_text()
    # a rerun reuses every checkpoint and evaluation
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "training the" not in said and "unlearning with" not in said
    assert json.loads((out / "report.json").read_text())["models"] == rows


def test_relearning_attack_on_every_forget_request(dummy_manifest, tmp_path):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ng: {}}"]
    sets += ["requests=[1, 1]", "eval.relearn_methods=[ng]", "eval.relearn_steps=4"]
    sets += ["eval.relearn_utterances=3"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    assert [(r["request"], r["model"]) for r in rows] == [
        (k, m) for k in (1, 2) for m in ("original", "gold", "ng", "ng+relearn")
    ]
    # the attacker of request k holds request k's speaker
    for k, request in enumerate(report["requests"], start=1):
        attack = next(r for r in rows if r["request"] == k and r["role"] == "attack")
        assert attack["request_speakers"] == request["speakers"]
        assert attack["steps"] == 4


# -- the learning-rate x seed sweep (run/sweep.py) -----------------------------------------
def test_sweep_selection_takes_the_best_mean_over_seeds_ties_to_the_larger_rate():
    from audio_unlearn.run.sweep import gold_gap, select_rates

    gold = {"forget_loss": 2.0, "valid_loss": 1.0}
    assert gold_gap({"forget_loss": 1.5, "valid_loss": 1.25}, gold) == pytest.approx(-0.75)
    cells = [
        {"method": "ng", "lr": 1e-4, "seed": 0, "score": -0.2},
        {"method": "ng", "lr": 1e-4, "seed": 1, "score": -0.6},  # mean -0.4
        {"method": "ng", "lr": 1e-3, "seed": 0, "score": -0.1},
        {"method": "ng", "lr": 1e-3, "seed": 1, "score": -0.5},  # mean -0.3: best
        {"method": "ft", "lr": 1e-4, "seed": 0, "score": -0.3},
        {"method": "ft", "lr": 1e-2, "seed": 0, "score": -0.3},  # a tie: the larger rate
    ]
    chosen = select_rates(cells)
    assert chosen["ng"]["lr"] == 1e-3 and chosen["ng"]["score"] == pytest.approx(-0.3)
    assert chosen["ng"]["n_seeds"] == 2 and chosen["ng"]["score_std"] == pytest.approx(0.2828, 1e-3)
    assert chosen["ft"]["lr"] == 1e-2


def test_sweep_scores_read_only_the_forget_and_validation_sets(dummy_manifest):
    """The criterion's loader calls: forget and valid, never test or retain."""
    from audio_unlearn.run.sweep import validation_losses
    from audio_unlearn.tasks import get_task

    class Recorder:
        def __init__(self):
            self.read = []

        def eval_dataloader(self, name):
            self.read.append(name)
            g = torch.Generator().manual_seed(len(self.read))
            return [(torch.randn(3, 16000, generator=g) * 0.1, torch.tensor([0, 1, 2]))]

    from audio_unlearn.models import build_classifier

    torch.manual_seed(0)
    model = build_classifier(name="logmel_cnn", num_classes=3, channels=8, n_layers=2)
    dm = Recorder()
    losses = validation_losses("classification", model, dm)
    assert dm.read == ["forget", "valid"]
    assert set(losses) == {"forget_loss", "valid_loss"}
    assert losses["forget_loss"] == pytest.approx(
        float(get_task("classification").per_sample_loss(model.eval(), dm_batch(1)).mean())
    )


def dm_batch(k):
    g = torch.Generator().manual_seed(k)
    return torch.randn(3, 16000, generator=g) * 0.1, torch.tensor([0, 1, 2])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["split.n_valid_speakers=0"], r"split\.n_valid_speakers > 0"),
        (["sweep.methods=[ft, rl]"], "'rl', which the run does not run"),
        (["methods={ft: {lr: 1.0e-3}, ng: {}}", "sweep.methods=[ft]"], "methods.ft.lr is fixed"),
        (["methods={ssd: {}}", "sweep.methods=[ssd]"], "'ssd' has no learning rate"),
        (["requests=[1, 1]"], "sweep and forget requests"),
        (["sweep.lrs=[-1.0]"], "positive learning rates"),
    ],
)
def test_a_sweep_that_cannot_run_is_refused_before_any_work(
    dummy_manifest, tmp_path, capsys, sets, message
):
    out = tmp_path / "run"
    base = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "split.n_valid_speakers=2"]
    base += ["methods={ft: {}, ng: {}}", "sweep.lrs=[1.0e-4, 1.0e-2]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in base + sets for a in ("--set", s)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def _check_sweep_record(out, methods, lrs, seeds):
    from audio_unlearn.run.sweep import gold_gap, select_rates

    record = json.loads((out / "sweep.json").read_text())
    assert record["reads"] == ["forget", "valid"]
    cells = record["cells"]
    assert sorted((c["method"], c["lr"], c["seed"]) for c in cells) == sorted(
        (m, lr, s) for m in methods for lr in lrs for s in seeds
    )
    for c in cells:
        assert c["score"] == pytest.approx(gold_gap(c, record["gold"]))
    assert record["chosen"] == select_rates(cells)
    for m in methods:  # the report's model of each method ran at the chosen rate
        assert (out / "checkpoints" / "sweep" / m).is_dir()
    assert "`*` = chosen" in (out / "sweep.md").read_text()
    return record


def test_sweep_on_a_classifier_runs_the_report_at_the_rates_chosen_on_validation(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "split.n_valid_speakers=2"]
    sets += ["methods={ft: {}, ng: {}, ssd: {}}", "sweep={lrs: [1.0e-4, 1.0e-2], seeds: [0, 1]}"]
    argv = ["run", "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    record = _check_sweep_record(out, ["ft", "ng"], [1e-4, 1e-2], [0, 1])
    rows = _rows(out)
    for m in ("ft", "ng"):
        assert rows[m]["hparams"]["lr"] == record["chosen"][m]["lr"]
    assert rows["ssd"]["hparams"] == {}  # training-free: not swept
    capsys.readouterr()
    assert main(argv) == 0  # a rerun reuses every cell
    assert "unlearning with" not in capsys.readouterr().out
    assert json.loads((out / "sweep.json").read_text()) == record


@pytest.mark.synth
def test_sweep_on_the_asr_runner(tmp_path):
    out = tmp_path / "run"
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 9, n_intents: 4, repeats_per_intent: 2}",
        "split.n_test_speakers=2",
        "split.n_valid_speakers=1",
        *TINY_ASR,
        "eval.judge_full_audio=false",
        "methods={asr_ng: {}}",
        "sweep={lrs: [1.0e-5, 1.0e-3], seeds: [0, 1]}",
    ]
    config = str(ROOT / "recipes" / "asr_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    record = _check_sweep_record(out, ["asr_ng"], [1e-5, 1e-3], [0, 1])
    assert _rows(out)["asr_ng"]["hparams"]["lr"] == record["chosen"]["asr_ng"]["lr"]


@pytest.mark.synth
def test_sweep_on_the_tts_runner(tmp_path):
    out = tmp_path / "run"
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 7, n_intents: 3, repeats_per_intent: 1, noise: clean}",
        "split.n_test_speakers=2",
        "split.n_valid_speakers=1",
        "split.n_speakers=1",
        *TINY_TTS,
        "methods={tts_ng: {steps: 3}, scrub: {}}",
        "eval.per_speaker=1",
        "eval.nfe=2",
        "eval.judge=null",
        "eval.relearn_steps=0",
        "sweep={lrs: [1.0e-5, 1.0e-3], seeds: [0, 1]}",
    ]
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    record = _check_sweep_record(out, ["tts_ng", "scrub"], [1e-5, 1e-3], [0, 1])
    report = json.loads((out / "report.json").read_text())
    assert record["chosen"]["tts_ng"]["lr"] in (1e-5, 1e-3)
    assert [r["model"] for r in report["rows"]][-2:] == ["tts_ng", "scrub"]


@pytest.mark.synth
def test_sequential_requests_on_the_tts_runner_measure_earlier_voices_again(tmp_path, capsys):
    """Request 2 starts from each method's request-1 model; its trials clone request 1's
    forget speakers again with the same prompts, targets and noise, so the original (the
    same model at both requests) shows no revival and a method's revival is paired."""
    out = tmp_path / "run"
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        # 5 utterances a speaker: trials of both requests use up to 4, the gallery the rest
        "corpus.synth={n_speakers: 7, n_intents: 5, repeats_per_intent: 1, noise: clean}",
        "split.n_test_speakers=2",
        "requests=[1, 1]",
        *TINY_TTS,
        "methods={tts_ng: {steps: 3}, tts_tgu: {lr: 1.0e-4, cache_size: 1, teacher_nfe: 2}}",
        "eval.per_speaker=1",
        "eval.nfe=2",
        "eval.judge=null",
        "eval.relearn_steps=2",
        "eval.probe_every=0",
    ]
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--no-progress"]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    models = ("original", "retrain", "tts_ng", "tts_tgu", "tts_tgu+relearn")
    assert [(r["request"], r["model"]) for r in rows] == [(k, m) for k in (1, 2) for m in models]
    first, second = (r["speakers"] for r in report["requests"])
    assert len(first) == len(second) == 1 and first != second
    at = {(r["request"], r["model"]): r for r in rows}
    assert at[(2, "original")]["sim_forget_r1"] == pytest.approx(
        at[(1, "original")]["sim_f"], abs=1e-3
    )
    for m in ("tts_ng", "tts_tgu"):
        r2 = at[(2, m)]
        assert r2["revival_r1"] == pytest.approx(r2["sim_forget_r1"] - at[(1, m)]["sim_f"])
        assert (out / "checkpoints" / "r2" / f"{m}.pt").is_file()
    assert "revival" in (out / "report.md").read_text()
    # the recipe's gallery: earlier forget speakers are re-identified again, and plotted
    assert at[(2, "tts_tgu")]["reid1_forget_r1"] is not None
    assert at[(1, "tts_tgu")]["reid_chance1"] == pytest.approx(1 / 7)
    assert (out / "revival.png").is_file()
    capsys.readouterr()
    assert main(argv) == 0  # a rerun reuses every checkpoint and evaluation
    said = capsys.readouterr().out
    assert "unlearning with" not in said and "evaluating" not in said

    def timeless(rs):  # the (seeded) attack runs again: its wall time differs
        return [{k: v for k, v in r.items() if k != "time_s"} for r in rs]

    assert timeless(json.loads((out / "report.json").read_text())["rows"]) == timeless(rows)


def test_tts_requests_refuse_the_forgetting_curve_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(out), "--set", "requests=[1, 1]"]
    argv += ["--set", "eval.probe_every=5"]
    assert main(argv) == 2
    assert "eval.probe_every (the forgetting curve) runs on single-request runs" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def _check_seeded_row(row, seeds, metric):
    """A method row over seeds: the mean and interval of ``metric`` match its per-seed
    rows, and each seed ran (its own checkpoint, its own numbers)."""
    from audio_unlearn.evaluation.intervals import mean_interval

    assert row["seeds"] == seeds and [r["seed"] for r in row["per_seed"]] == seeds
    values = [r[metric] for r in row["per_seed"]]
    iv = mean_interval(values)
    assert row[metric] == pytest.approx(iv.mean)
    assert row["over_seeds"][metric]["lo"] == pytest.approx(iv.lo)
    assert row["over_seeds"][metric]["values"] == pytest.approx(values)


def test_seeds_on_a_classifier_give_one_row_per_method_with_intervals(dummy_manifest, tmp_path):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "seeds=[0, 1, 2]"]
    sets += ["methods={ng: {lr: 1.0e-3, epochs: 1}}", "eval.relearn_methods=[ng]"]
    sets += ["eval.relearn_steps=2", "eval.relearn_utterances=4"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    rows = _rows(out)
    assert list(rows) == ["original", "gold", "ng", "ng+relearn"]
    _check_seeded_row(rows["ng"], [0, 1, 2], "forget_loss")
    _check_seeded_row(rows["ng+relearn"], [0, 1, 2], "attacker_loss_after")
    losses = [r["forget_loss"] for r in rows["ng"]["per_seed"]]
    assert len(set(losses)) == 3  # three seeds, three runs
    for seed in (0, 1, 2):
        assert (out / "checkpoints" / f"ng@s{seed}.pt").is_file()
    md = (out / "report.md").read_text()
    iv = rows["ng"]["over_seeds"]["forget_acc"]
    assert f"{iv['mean']:.3f} [{iv['lo']:.3f}, {iv['hi']:.3f}]" in md


def test_seeds_on_the_asr_runner(tmp_path):
    rows = _run_tiny_asr(tmp_path, "seeds=[0, 1]")
    assert list(rows) == ["original", "retrained", "asr_ng"]
    _check_seeded_row(rows["asr_ng"], [0, 1], "forget_loss")


def test_seeds_with_requests_are_refused_before_any_work(dummy_manifest, tmp_path, capsys):
    sets = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "seeds=[0, 1]"]
    sets += ["requests=[1, 1]"]
    argv = ["run", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 2
    assert "seeds run single-request experiments" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


SPEAKER_ID = [
    "label_key=speaker",
    "split={kind: speaker, holdout: utterance, test_fraction: 0.25, n_unseen_speakers: 2, "
    "n_speakers: 2, min_utterances: 1}",
    "train.epochs=2",
    "train.batch_size=16",
    "max_seconds=1.0",
    "eval.verification=true",
    "eval.trials_per_speaker=10",
]


def test_verification_per_speaker_group_on_a_speaker_id_model(dummy_manifest, tmp_path):
    """Speaker-ID forgetting judged by verification: EER, Cllr and TPR per group (forget,
    retain, unseen), the unseen speakers left out of every set, per request."""
    from audio_unlearn.reporting import revival_series

    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *SPEAKER_ID, "methods={ft: {}}"]
    sets += ["requests=[1, 1]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    split = json.loads((out / "split.json").read_text())
    unseen = set(split["params"]["unseen_speakers"])
    assert len(unseen) == 2
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    assert not unseen & set(report["forget_speakers"])
    for r in rows:
        groups = r["verification"]
        later = {"pending"} if r["request"] == 1 else {"forget_r1"}  # request 2's / 1's speakers
        expected = {"forget", "retain", "unseen"} | later
        assert set(groups) == expected, (r["model"], set(groups))
        for g in expected:
            entry = groups[g]
            assert 0.0 <= entry["eer"] <= 1.0 and entry["n_target"] > 0
            assert 0.0 <= entry["min_cllr"] <= entry["cllr"] + 1e-9  # PAV is the best map
        assert r["eer_gap_f"] == pytest.approx(r["eer_forget"] - r["eer_unseen"])
    at = {(r["request"], r["model"]): r for r in rows}
    # the same trials at every request: the original (one model) measures request 1's
    # speakers alike at both, so a method's change between requests is paired
    assert at[(2, "original")]["eer_forget_r1"] == at[(1, "original")]["eer_forget"]
    ft1, ft2 = at[(1, "ft")], at[(2, "ft")]
    assert ft2["eer_forget_r1"] == ft2["verification"]["forget_r1"]["eer"]
    # the revival plot's lines: request 1's speakers at request 1, then again at request 2
    series = revival_series(rows, "eer_forget", "eer_forget_r{j}")
    assert series[("ft", 1)] == [(1, ft1["eer_forget"]), (2, ft2["eer_forget_r1"])]
    assert series[("ft", 2)] == [(2, ft2["eer_forget"])]
    assert revival_series(rows, "forget_acc", "forget_acc_r{j}")[("ft", 1)][1] == (
        2,
        ft2["earlier"][0]["forget_acc"],
    )
    assert (out / "revival.png").is_file()
    assert " EER request 1 |" in (out / "report.md").read_text()


def test_verification_over_seeds_reads_the_unseen_level_from_the_interval(dummy_manifest, tmp_path):
    out = tmp_path / "run"
    sets = [f"corpus.manifest={dummy_manifest}", *SPEAKER_ID, "methods={ft: {}}", "seeds=[0, 1]"]
    argv = ["run", "--out", str(out), "--no-progress"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    rows = {r["model"]: r for r in json.loads((out / "report.json").read_text())["models"]}
    ft, gold = rows["ft"], rows["gold"]
    levels = {"at the unseen level", "under-forgotten", "over-forgotten", "inconclusive"}
    assert ft["eer_level"] in levels
    gaps = [r["eer_forget"] - r["eer_unseen"] for r in ft["per_seed"]]
    assert ft["over_seeds"]["eer_gap_f"]["values"] == pytest.approx(gaps)
    assert gold["eer_level"].endswith("(one model)") and "eer_level_gold" not in gold
    # against gold's EER on the same speakers' trials, per seed
    gold_gaps = [r["eer_forget"] - gold["eer_forget"] for r in ft["per_seed"]]
    assert ft["over_seeds"]["eer_gap_gold"]["values"] == pytest.approx(gold_gaps)
    assert ft["eer_level_gold"] in levels
    md = (out / "report.md").read_text()
    assert "| model | EER forget | EER unseen | forget - unseen |" in md


def test_sweep_chosen_from_reuses_an_earlier_runs_rates(tmp_path):
    from audio_unlearn.experiment import load_config
    from audio_unlearn.run.sweep import check_sweep

    sweep_json = tmp_path / "sweep.json"
    sweep_json.write_text(json.dumps({"chosen": {"ft": {"lr": 0.003}, "ng": {"lr": 3e-4}}}))
    cfg = load_config(
        None, ["methods={ft: {epochs: 2}, ssd: {}}", f"sweep.chosen_from={sweep_json}"]
    )
    check_sweep(cfg, "classification")
    assert cfg.methods["ft"] == {"epochs": 2, "lr": 0.003} and "lr" not in cfg.methods["ssd"]
    for sets, message in (
        (["methods={ft: {lr: 0.1}}"], "fix lr but sweep.chosen_from"),
        (["sweep.lrs=[0.1]"], "leave sweep.lrs empty"),
    ):
        cfg = load_config(None, [*sets, f"sweep.chosen_from={sweep_json}"])
        with pytest.raises(ValueError, match=message):
            check_sweep(cfg, "classification")
    cfg = load_config(None, [f"sweep.chosen_from={tmp_path / 'none.json'}"])
    with pytest.raises(ValueError, match=r"not a readable sweep\.json"):
        check_sweep(cfg, "classification")


@pytest.mark.synth
def test_asr_runner_trains_on_duration_bucketed_batches(tmp_path):
    """``train.bucket_seconds`` reaches the ASR runner's training and unlearning loaders,
    and turns Lightning's distributed sampler off (the batches shard themselves)."""
    from audio_unlearn.asr_experiment import ASRExperiment, load_asr_config

    rows = _run_tiny_asr(tmp_path, "train.bucket_seconds=12.0")
    assert rows["original"]["test_wer"] is not None and rows["asr_ng"]["forget_wer"] is not None
    cfg = load_asr_config(
        ROOT / "recipes" / "asr_speaker" / "synthetic.yaml", ["train.bucket_seconds=12.0"]
    )
    runner = ASRExperiment(cfg, tmp_path / "other", progress=False)
    assert runner.reference_trainer()["use_distributed_sampler"] is False
    assert runner.unlearning_trainer({})["use_distributed_sampler"] is False


def test_streaming_audio_in_workers_gives_the_run_of_the_in_memory_cache(dummy_manifest, tmp_path):
    """``data.stream`` decodes audio in DataLoader workers instead of holding the corpus:
    the same batches, so the same models and numbers as the in-memory cache."""
    base = [f"corpus.manifest={dummy_manifest}", *CLASSIFICATION, "methods={ft: {}}"]
    reports = {}
    for name, extra in (("cache", []), ("stream", ["data.stream=true", "data.num_workers=2"])):
        argv = ["run", "--out", str(tmp_path / name), "--no-progress"]
        assert main([*argv, *(a for s in base + extra for a in ("--set", s))]) == 0
        reports[name] = _rows(tmp_path / name)
    for model in ("original", "gold", "ft"):
        for key in ("forget_acc", "retain_acc", "test_acc", "test_loss", "mia_auc"):
            assert reports["stream"][model][key] == reports["cache"][model][key], (model, key)


def test_streaming_checks_every_file_before_training(dummy_manifest, tmp_path, capsys):
    import shutil

    from audio_unlearn.data.manifest import read_manifest, write_manifest

    utts = read_manifest(dummy_manifest)
    copy = tmp_path / "copy"
    copy.mkdir()
    moved = []
    for u in utts:
        target = copy / Path(u.audio).name
        shutil.copy(u.audio, target)
        moved.append(type(u)(**{**u.__dict__, "audio": str(target)}))
    write_manifest(tmp_path / "m.jsonl", moved)
    Path(moved[-1].audio).unlink()
    sets = [f"corpus.manifest={tmp_path / 'm.jsonl'}", *CLASSIFICATION, "data.stream=true"]
    argv = ["run", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 2
    err = capsys.readouterr()
    assert Path(moved[-1].audio).name in err.err
    assert "training the" not in err.out


def _tts_smoke(tmp_path, name, *extra):
    """The TTS recipe at smoke size (NG only, no retrain); its report rows and original."""
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 6, n_intents: 3, repeats_per_intent: 1, noise: clean}",
        "split.n_test_speakers=2",
        "split.n_speakers=1",
        "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
        "train={steps: 4, batch_size: 4, precision: 32-true}",
        "unlearn={steps: 2, batch_size: 4, precision: 32-true}",
        "methods={tts_ng: {lr: 1.0e-5}}",
        "retrain=false",
        "eval.per_speaker=1",
        "eval.nfe=2",
        "eval.judge_epochs=1",
        "eval.relearn_steps=0",
        "eval.probe_every=0",
        "eval.validation_texts=0",
        *extra,
    ]
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(tmp_path / name), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    state = torch.load(tmp_path / name / "checkpoints" / "original.pt", weights_only=False)
    return _rows(tmp_path / name), state


def test_streamed_asr_run_decodes_in_workers(tmp_path):
    """``data.stream`` on the ASR runner: headers checked, audio decoded (and random tails
    drawn) in two DataLoader workers, the whole run through."""
    rows = _run_tiny_asr(tmp_path, "data.stream=true", "data.num_workers=2")
    assert rows["original"]["test_wer"] is not None and rows["asr_ng"]["forget_wer"] is not None


def test_streamed_tts_features_in_workers_and_the_disk_cache_give_the_same_run(tmp_path):
    """``data.stream`` computes each mel in DataLoader workers (and ``data.feature_cache``
    keeps it on disk): the same batches and mel statistics, so the same original model and
    the same report as the in-memory features.

    Within one epoch: torch's ``RandomSampler`` draws once more from the shuffling
    generator when it is run to the end, which prefetching workers do before Lightning
    would, so a later epoch's order can differ between the two (see ``DataConfig``)."""
    one_epoch = "train.steps=3"  # 12 training utterances in batches of 4
    rows, state = _tts_smoke(tmp_path, "held", one_epoch)
    cache = tmp_path / "mels"
    stream = ["data.stream=true", "data.num_workers=2", f"data.feature_cache={cache}"]
    rows_s, state_s = _tts_smoke(tmp_path, "stream", one_epoch, *stream)
    assert any(cache.rglob("*.pt"))
    weights, weights_s = state["state_dict"], state_s["state_dict"]
    assert weights.keys() == weights_s.keys()
    assert all(torch.equal(weights[k], weights_s[k]) for k in weights)
    for model in ("original", "tts_ng"):
        for key in ("sim_f", "sim_r", "wer_f", "wer_r"):
            assert rows_s[model][key] == rows[model][key], (model, key)


def test_tts_reference_training_with_duration_batches(tmp_path):
    """``train.bucket_seconds`` on the TTS runner: the reference models train on
    duration-bucketed batches (which shard themselves, so Lightning adds no distributed
    sampler); the run goes through."""
    from audio_unlearn.runners.tts_config import load_tts_config
    from audio_unlearn.tts_experiment import TTSExperiment

    rows, _ = _tts_smoke(tmp_path, "bucket", "train.bucket_seconds=3.0")
    assert rows["tts_ng"]["sim_f"] is not None
    cfg = load_tts_config(None, ["train.bucket_seconds=3.0"])
    runner = TTSExperiment(cfg, tmp_path / "other", progress=False)
    assert runner.reference_trainer()["use_distributed_sampler"] is False
    with pytest.raises(ValueError, match="bucket_seconds"):
        load_tts_config(None, ["train.bucket_seconds=0"])


def _steer_smoke(tmp_path, methods, *extra):
    """The TTS recipe at smoke size with inference-time methods only (no retrain): 12
    speakers (2 unseen, 1 forgotten), 2 trial speakers per group, 4 Euler steps."""
    sets = [
        f"corpus.dir={tmp_path / 'corpus'}",
        "corpus.synth={n_speakers: 12, n_intents: 4, repeats_per_intent: 2, noise: clean}",
        "split.n_test_speakers=2",
        "split.n_speakers=1",
        "model={d_model: 32, n_layers: 2, n_heads: 2, d_phone: 8}",
        "train={steps: 4, batch_size: 4, precision: 32-true}",
        f"methods={methods}",
        "retrain=false",
        "seeds=null",
        "eval.per_speaker=1",
        "eval.max_speakers=2",
        "eval.nfe=4",
        "eval.solver=euler",
        "eval.judge_epochs=1",
        "eval.relearn_steps=0",
        "eval.probe_every=0",
        "eval.validation_texts=0",
        "eval.gallery=null",
        *extra,
    ]
    config = str(ROOT / "recipes" / "tts_speaker" / "synthetic.yaml")
    argv = ["run", config, "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    return _rows(tmp_path / "run")


def test_tts_steer_enrols_gates_and_steers_without_new_weights(tmp_path):
    """``tts_steer`` (oracle gate) and ``tts_steer_gate`` (embedding gate): an enrolment
    file instead of a checkpoint, the seen and unseen protected speakers enrolled, the
    forget and unseen generations changed, the oracle gate exact on the test prompts,
    gate rates reported; with alpha 0 every generation equals the original's."""
    methods = (
        "{tts_steer: {prototype_speakers: 3, k: null}, "
        "tts_steer_gate: {prototype_speakers: 3, gate_speakers: 2, k: null}}"
    )
    rows = _steer_smoke(tmp_path, methods)
    run = tmp_path / "run"
    for name in ("tts_steer", "tts_steer_gate"):
        artefact = torch.load(run / "checkpoints" / f"{name}.steer.pt", weights_only=False)
        assert "unchanged" in artefact["weights"]
        assert not (run / "checkpoints" / f"{name}.pt").exists()  # no new weights
        row = rows[name]
        assert row["inference_time"] is True and row["steps"] == 0
        assert (row["enrolled_seen"], row["enrolled_unseen"]) == (1, 2)
        assert row["kept_pairs"] > 0 and row["seconds_per_speaker"] > 0
    oracle = rows["tts_steer"]
    assert oracle["gate_fa_test"] == 0 and oracle["gate_fr_test"] == 0
    gated = rows["tts_steer_gate"]
    assert 0 <= gated["gate_fa_validation"] <= 1 and 0 <= gated["gate_fr_test"] <= 1
    assert gated["gate_threshold"] is not None

    def per_trial(name):
        record = json.loads((run / "eval" / f"{name}.json").read_text())
        return {(r["group"], r["prompt_id"], r["target_id"]): r["sim_o"] for r in record["rows"]}

    before, after = per_trial("original"), per_trial("tts_steer")
    changed = {k[0] for k in before if abs(before[k] - after[k]) > 1e-4}
    assert changed == {"forget", "unseen"}  # remain prompts are not steered
    # alpha 0: nothing attached, every generation bit-identical to the original's
    zero = "{tts_steer: {prototype_speakers: 3, k: null, alpha_seen: 0, alpha_unseen: 0}}"
    _steer_smoke(tmp_path, zero)
    assert per_trial("tts_steer") == before


def test_tts_steer_ablation_reads_validation_speakers_only(tmp_path):
    """The ablation's trials belong to speakers no test or validation trial uses (training
    speakers as seen, held-out ones as opt-out), its enrolment and prototype never touch
    them or the test trials, and the chosen setting comes from its rows."""
    from audio_unlearn.runners.tts_config import load_tts_config
    from audio_unlearn.runners.tts_steer import ablation
    from audio_unlearn.tts_experiment import TTSExperiment

    methods = "{tts_steer: {prototype_speakers: 2, k: null}}"
    extra = [
        "corpus.synth={n_speakers: 14, n_intents: 4, repeats_per_intent: 2, noise: clean}",
        "split.n_test_speakers=3",
    ]
    _steer_smoke(tmp_path, methods, *extra)
    run = tmp_path / "run"
    runner = TTSExperiment(load_tts_config(run / "config.yaml"), run, progress=False)
    runner.setup_evaluation()
    runner.trials = test = runner._trials()
    runner.validation_trials = []
    grid = (
        {"alpha_seen": 0.5, "alpha_unseen": 0.5, "prototype_speakers": 2},
        {"alpha_seen": 3.0, "alpha_unseen": 3.0, "prototype_speakers": 2},
    )
    result = ablation(runner, grid, base={"k": None}, speakers=(2, 1, 1))
    assert runner.trials is test  # restored
    v = result["validation_speakers"]
    test_speakers = {t.speaker for t in test}
    assert not test_speakers & {s for g in v.values() for s in g}
    assert set(v["unseen"]) <= {
        u.speaker for u in runner.utterances if u.id in set(runner.split.test)
    }
    assert (len(v["forget"]), len(v["unseen"]), len(v["remain"])) == (2, 1, 1)
    for row in result["rows"]:
        artefact = torch.load(
            run / "checkpoints" / f"tts_steer[{row['setting']}]@validation-speakers.steer.pt",
            weights_only=False,
        )
        assert set(artefact["profiles"]) == set(v["forget"]) | set(v["unseen"])
        # other speakers only: no validation speaker, no protected test speaker (a remain
        # speaker of the test trials may lend an utterance that no trial uses)
        reserved = {s for g in v.values() for s in g}
        protected = {t.speaker for t in test if t.group in ("forget", "unseen")}
        assert not set(artefact["prototype"]["speakers"]) & (protected | reserved)
    assert result["chosen"]["k"] is None and result["chosen"]["alpha_seen"] in (0.5, 3.0)
