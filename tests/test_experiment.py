"""End-to-end runs of the experiment on the dummy corpus (seconds, no espeak-ng)."""

import json
import shutil

import pytest

from audio_unlearn.cli import main
from audio_unlearn.experiment import load_config, run_experiment
from audio_unlearn.models.checkpoint import CheckpointError, load_classifier
from audio_unlearn.testing import suite_seed

OVERRIDES = [
    "split.n_test_speakers=3",
    "split.n_speakers=2",
    "split.min_utterances=1",
    "train.epochs=5",  # 3 left the original at 0.85 forget acc on seed 1 (tests/README.md)
    "train.batch_size=16",
    "max_seconds=1.0",
    f"seed={suite_seed()}",
    f"split.seed={42 + suite_seed()}",
]


@pytest.fixture(scope="module")
def run(dummy_manifest, tmp_path_factory, seed):  # OVERRIDES carry the suite seed
    out = tmp_path_factory.mktemp("run")
    cfg = load_config(None, [f"corpus.manifest={dummy_manifest}", *OVERRIDES])
    return out, run_experiment(cfg, out, progress=False)


def test_report_has_every_model_and_metric(run):
    out, report = run
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert [r["model"] for r in on_disk["models"]] == ["original", "gold", "ft", "ng"]
    for row in on_disk["models"]:
        for key in (
            "test_acc",
            "test_f1",
            "forget_acc",
            "forget_f1",
            "retain_acc",
            "retain_f1",
            "mia",
            "time_s",
            "speedup",
            "gum",
            "cgum",
        ):
            assert key in row, (row["model"], key)
    for row in on_disk["models"][2:]:
        assert 0.0 <= row["gum"] <= 1.0 and 0.0 <= row["cgum"] <= 1.0
    rows = {r["model"]: r for r in on_disk["models"]}
    assert rows["gold"]["activation_distance"] == 0.0 and rows["gold"]["js_to_gold"] == 0.0
    assert rows["original"]["activation_distance"] > 0.0
    assert (out / "report.md").read_text().count("\n| ") >= 5
    assert (out / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"


def test_original_fits_train_and_gold_never_saw_forget(run, bound):
    out, report = run
    rows = {r["model"]: r for r in report["models"]}
    bound("original forget acc", rows["original"]["forget_acc"], ">", 0.9)
    bound("gold retain acc", rows["gold"]["retain_acc"], ">", 0.9)
    split = json.loads((out / "split.json").read_text())
    assert len(split["forget_speakers"]) == 2


def test_rerun_reuses_checkpoints_and_gives_the_same_numbers(run, dummy_manifest, capsys):
    out, report = run
    cfg = load_config(None, [f"corpus.manifest={dummy_manifest}", *OVERRIDES])
    shutil.rmtree(out / "eval")  # re-evaluate the reused checkpoints
    again = run_experiment(cfg, out, progress=False)
    assert capsys.readouterr().out.count("reusing") == 4
    strip = lambda rows: [{k: v for k, v in r.items() if k != "speedup"} for r in rows]  # noqa: E731
    assert strip(again["models"]) == strip(report["models"])


def test_changed_split_settings_are_refused(run, dummy_manifest):
    out, _ = run
    cfg = load_config(None, [f"corpus.manifest={dummy_manifest}", *OVERRIDES, "split.seed=1"])
    with pytest.raises(ValueError, match="other split settings"):
        run_experiment(cfg, out, progress=False)


def test_checkpoint_for_other_classes_is_refused(run):
    out, _ = run
    with pytest.raises(CheckpointError, match="trained on 4 classes"):
        load_classifier(out / "checkpoints" / "original.pt", expect_classes=("a", "b"))


def test_unknown_config_key_and_method_hparam(dummy_manifest, tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        load_config(None, ["train.epoch=3"])
    cfg = load_config(
        None, [f"corpus.manifest={dummy_manifest}", *OVERRIDES, "methods.ng.momentum=0.9"]
    )
    with pytest.raises(ValueError, match="method 'ng' has no hyper-parameter"):
        run_experiment(cfg, tmp_path / "r", progress=False)


def test_cli_help_explains_every_command(capsys):
    for argv in (
        ["--help"],
        ["run", "--help"],
        ["data", "--help"],
        ["data", "synth", "--help"],
        ["data", "validate", "--help"],
        ["split", "--help"],
        ["methods", "--help"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "usage: audio-unlearn" in text and len(text) > 300, argv


def test_cli_split_and_validate(dummy_manifest, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert (
        main(
            [
                "split",
                str(dummy_manifest),
                "--out",
                str(out),
                "--test-speakers",
                "3",
                "--n-speakers",
                "2",
                "--min-utterances",
                "1",
            ]
        )
        == 0
    )
    assert main(["split", str(dummy_manifest), "--out", str(out)]) == 2  # never overwritten
    assert main(["data", "validate", str(dummy_manifest), "--no-progress"]) == 0
    assert "pass validation" in capsys.readouterr().out


def test_class_removal_of_an_enrolled_speaker(dummy_manifest, tmp_path):
    """Speaker identification (class = speaker, closed-set hold-out), forget one speaker."""
    cfg = load_config(
        None,
        [
            f"corpus.manifest={dummy_manifest}",
            "label_key=speaker",
            "split.kind=class",
            "split.holdout=utterance",
            "split.test_fraction=0.25",
            "split.classes=[s03]",
            "train.epochs=4",
            "train.batch_size=16",
            "max_seconds=1.0",
        ],
    )
    report = run_experiment(cfg, tmp_path / "run", progress=False)
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["kind"] == "class" and split["forget_classes"] == ["s03"]
    assert all(i.startswith("s03_") for i in split["forget"])
    assert not any(i.startswith("s03_") for i in split["retain"] + split["test"])
    # closed set: every retained speaker appears in both train and test
    speakers = lambda ids: {i.split("_")[0] for i in ids}  # noqa: E731
    assert speakers(split["test"]) == speakers(split["retain"])
    rows = {r["model"]: r for r in report["models"]}
    assert rows["gold"]["forget_acc"] == 0.0  # never saw the class, cannot predict it
    assert "forget_test_acc" in rows["original"] and "test_ece" in rows["original"]


def test_item_split_and_bad_split_settings(dummy_manifest, tmp_path):
    base = [
        f"corpus.manifest={dummy_manifest}",
        "train.epochs=1",
        "max_seconds=1.0",
        "split.n_test_speakers=3",
    ]
    cfg = load_config(
        None,
        [*base, "split.kind=item", "split.fraction=0.1", "split.n_test_speakers=3", "methods={}"],
    )
    report = run_experiment(cfg, tmp_path / "item", progress=False)
    assert report["sizes"]["forget"] == round(
        0.1 * (report["sizes"]["forget"] + report["sizes"]["retain"])
    )
    with pytest.raises(ValueError, match=r"split\.kind must be"):
        run_experiment(
            load_config(None, [*base, "split.kind=bogus"]), tmp_path / "b", progress=False
        )


def test_prepared_corpus_with_its_official_split(tmp_path):
    """corpus.prepare reads a downloaded corpus; split.holdout=official keeps its lists."""
    from test_corpora import _fake_audiomnist

    source = _fake_audiomnist(tmp_path / "AudioMNIST", n_speakers=8, digits=(0, 1, 2))
    cfg = load_config(
        None,
        [
            "corpus.prepare=audiomnist",
            f"corpus.source={source}",
            f"corpus.dir={tmp_path / 'prepared'}",
            "corpus.options={n_test_speakers: 2, n_valid_speakers: 1}",
            "label_key=digit",
            "split.kind=class",
            "split.holdout=official",
            "split.classes=['0']",
            "train.epochs=1",
            "max_seconds=0.5",
            "methods={ft: {}}",
        ],
    )
    report = run_experiment(cfg, tmp_path / "run", progress=False)
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    test_manifest = (tmp_path / "prepared" / "test.jsonl").read_text().splitlines()
    official_test = {json.loads(line)["id"] for line in test_manifest}
    assert set(split["test"]) == {i for i in official_test if not i.startswith("0_")}
    assert all(i.startswith("0_") for i in split["forget"])
    assert [r["model"] for r in report["models"]] == ["original", "gold", "ft"]


def test_prune_regrow_reports_its_impair_time_and_sparsity(dummy_manifest, tmp_path):
    cfg = load_config(
        None,
        [f"corpus.manifest={dummy_manifest}", *OVERRIDES, "methods={prune_regrow: {epochs: 1}}"],
    )
    report = run_experiment(cfg, tmp_path / "run", progress=False)
    row = report["models"][-1]
    assert row["model"] == "prune_regrow"
    assert 0.0 < row["chosen_sparsity"] <= 1.0 and row["n_pruned"] > 0
    assert 0.0 < row["impair_seconds"] < row["time_s"] + 1.0
    again = run_experiment(cfg, tmp_path / "run", progress=False)  # reused: facts kept
    assert again["models"][-1]["chosen_sparsity"] == row["chosen_sparsity"]
