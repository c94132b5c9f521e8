"""User mistakes end in one ``error:`` line and exit 2, before any work and without
writing to the run directory; ``--debug`` shows the traceback instead."""

import errno

import pytest

from audio_unlearn.cli import describe_error, main

CLASSIFICATION = ["split.n_test_speakers=3", "split.n_speakers=2", "split.min_utterances=1"]


def _argv(manifest, out, *sets):
    items = [f"corpus.manifest={manifest}", *CLASSIFICATION, *sets]
    return ["run", "--out", str(out), "--no-progress"] + [a for s in items for a in ("--set", s)]


def test_an_output_path_that_is_a_file_is_refused_before_any_work(dummy_manifest, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    for out, says in ((blocker, "is a file"), (blocker / "run", f"is inside {blocker}")):
        assert main(_argv(dummy_manifest, out)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {out}") and says in err and "Traceback" not in err
    assert blocker.read_text() == "not a directory"


def test_a_missing_label_key_is_refused_before_the_run_directory_exists(
    dummy_manifest, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(_argv(dummy_manifest, out, "label_key=nope")) == 2
    err = capsys.readouterr().err
    assert "have no label 'nope'" in err and "which has ['intent', 'speaker']" in err
    assert not out.exists()


def test_debug_shows_the_traceback(dummy_manifest, tmp_path):
    with pytest.raises(ValueError, match="have no label"):
        main(["--debug", *_argv(dummy_manifest, tmp_path / "run", "label_key=nope")])


@pytest.mark.parametrize(
    ("err", "says"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.pt"), "no space left"),
        (PermissionError(errno.EACCES, "Permission denied", "/runs/x"), "no permission"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/runs/f/x"), "is a file"),
    ],
)
def test_file_system_errors_say_which_file_and_what_to_do(err, says):
    line = describe_error(err)
    assert says in line and err.filename in line


class _Payload:
    """A pickle that would create ``marker`` when loaded unsafely."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["classifier", "asr", "tts"])
def test_a_checkpoint_holding_code_is_refused_without_advice_to_load_it_unsafely(tmp_path, kind):
    import torch

    from audio_unlearn.models.asr import load_asr
    from audio_unlearn.models.checkpoint import load_classifier
    from audio_unlearn.models.tts import load_tts

    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "x", "payload": _Payload(marker)}, path)
    load = {"classifier": load_classifier, "asr": load_asr, "tts": load_tts}[kind]
    with pytest.raises(ValueError) as err:
        load(path)
    text = str(err.value)
    assert "safe load refuses" in text and str(path) in text
    assert "weights_only=False" not in text and "likely succeed" not in text
    assert not marker.exists()


def test_a_classifier_checkpoint_without_its_model_class_names_what_it_lacks(tmp_path):
    import torch

    from audio_unlearn.models.checkpoint import FORMAT, CheckpointError, load_classifier

    path = tmp_path / "hand.pt"
    torch.save({"format": FORMAT, "config": {}, "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"lacks \['model_class', 'classes', 'label_key'\]"):
        load_classifier(path)


def test_data_validate_finds_every_problem_in_one_pass(tmp_path, capsys):
    import json

    import soundfile as sf

    from audio_unlearn.testing import make_dummy_corpus

    manifest = make_dummy_corpus(tmp_path / "c", n_speakers=3, n_classes=2, per_class=2)
    recs = [json.loads(line) for line in manifest.read_text().splitlines()]
    cut = tmp_path / "c" / recs[0]["audio"]
    wav, sr = sf.read(cut)
    sf.write(cut, wav[: len(wav) // 2], sr)  # a wav cut in half
    recs[1]["sample_rate"] = 8000  # a line that lies about the rate
    del recs[2]["labels"]["intent"]
    lines = [json.dumps(r) for r in recs]
    lines[3], lines[4] = "{not json", json.dumps({"id": "x"})
    manifest.write_text("\n".join(lines) + "\n")
    code = main(["data", "validate", str(manifest), "--label-key", "intent", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and "5 problem(s)" in out
    for says in (
        ":4: not valid JSON",
        ":5: missing field(s)",
        "lasts 0.50 s, its line says 1.00 s",
        "is 16000 Hz, its line says 8000",
        "no label 'intent'",
    ):
        assert says in out, says


def test_removing_a_bad_audio_line_as_told_lets_the_rerun_go_on(tmp_path, capsys):
    """The first run stops on a corrupt file (nothing trained); once its line is removed,
    the rerun makes the split again instead of refusing the one the failed run saved."""
    from audio_unlearn.testing import make_dummy_corpus

    manifest = make_dummy_corpus(tmp_path / "c", n_speakers=10, n_classes=4, per_class=6)
    lines = manifest.read_text().splitlines()
    import json

    bad = json.loads(lines[0])
    (tmp_path / "c" / bad["audio"]).write_bytes(b"RIFF broken")
    out = tmp_path / "run"
    argv = _argv(manifest, out, "train.epochs=1", "max_seconds=1.0", "methods={ng: {}}")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and bad["audio"].split("/")[-1] in err
    manifest.write_text("\n".join(lines[1:]) + "\n")
    assert main(argv) == 0
    assert "making the split again" in capsys.readouterr().out
    split = json.loads((out / "split.json").read_text())
    assert bad["id"] not in {*split["forget"], *split["retain"], *split["test"]}


def test_dry_run_checks_everything_before_work_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--dry-run", "--set", "methods={ft: {}, ng: {}}"]
    argv += ["--set", "sweep={lrs: [1e-4, 1e-3], seeds: [0, 1]}"]
    assert main([*argv, "--set", "split.n_valid_speakers=2"]) == 0
    said = capsys.readouterr().out
    assert "runner: Experiment" in said and "= 8 unlearning runs" in said
    assert "resolved config:" in said and "lrs:\n  - 0.0001\n  - 0.001" in said
    assert main(argv) == 2  # no validation speakers for the sweep: refused by the dry run
    assert "split.n_valid_speakers > 0" in capsys.readouterr().err
    assert not out.exists()


def test_purge_reports_files_it_cannot_inspect_instead_of_passing_them(tmp_path):
    import torch

    from audio_unlearn.privacy.purge import PurgeReport, format_purge_report, scan_run_directory

    torch.save({"x": _Payload(tmp_path / "ran")}, tmp_path / "pickled.pt")
    (tmp_path / "damaged.pt").write_bytes(b"\x00garbage")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVE")
    torch.save({"w": torch.zeros(3)}, tmp_path / "plain.pt")  # readable, nothing forgotten
    found = {a.path: a for a in scan_run_directory(tmp_path, {"fingerprints": {}})}
    assert set(found) == {"pickled.pt", "damaged.pt", "broken.wav"}
    assert all(a.kind == "uninspectable" and a.action == "keep" for a in found.values())
    assert "safe load refuses" in found["pickled.pt"].holds
    assert not (tmp_path / "ran").exists()
    text = format_purge_report(PurgeReport([], list(found.values()), [], False))
    assert "3 file(s) could not be inspected" in text
    assert text.endswith("among the files that could be read")


@pytest.mark.parametrize("task", ["asr", "tts"])
def test_asr_and_tts_runs_write_nothing_before_their_corpus_is_read(task, tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "speaker": "s", "audio": "a.wav", "duration": -1}\n')
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--no-progress", "--set", f"task={task}"]
    assert main([*argv, "--set", f"corpus.manifest={manifest}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "m.jsonl" in err and "Traceback" not in err
    assert not out.exists()


def test_a_code_running_model_folder_needs_the_trust_flag_before_any_work(
    dummy_manifest, tmp_path, capsys
):
    folder = tmp_path / "ecapa"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text("x: !apply:os.getcwd []\n")
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--set", "task=tts"]
    for spec in (f"eval.encoder=ecapa:{folder}", f"eval.vocoder=hifigan:{folder}"):
        assert main([*argv, "--set", spec]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: SpeechBrain's from_hparams would run the Python code")
        assert "set eval.trust_code=true" in err
    assert not out.exists()
    sim = ["evaluate", "sim", "--manifest", str(dummy_manifest), "--reference"]
    sim += [str(dummy_manifest), "--encoder", f"ecapa:{folder}", "--out", str(tmp_path / "s")]
    assert main(sim) == 2
    assert "--trust-code" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["model.name=nosuch"], "model.name 'nosuch' is unknown; known models: ['ecapa'"),
        (["model.channels=abc"], "model.channels must be a whole number, got 'abc'"),
        (["model.num_classes=3"], "['num_classes'] are set by the run itself"),
        (["task=asr", "model.nosuch=1"], "model: unknown key(s) ['nosuch']; allowed: ["),
        (["task=tts", "model.d_model=abc"], "model.d_model must be a whole number"),
        (["methods.ft=true"], "methods.ft must be a mapping of hyper-parameters"),
    ],
)
def test_model_settings_are_checked_before_any_work(sets, says, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and says in err, err
    assert not out.exists()
