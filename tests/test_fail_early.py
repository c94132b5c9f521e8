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
