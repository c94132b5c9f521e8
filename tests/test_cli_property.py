"""Property: no input makes the command line print a traceback. Generated ``--set``
overrides (``run --dry-run``), request files (``forget --dry-run``) and manifest lines
(``data validate``) go through ``audio_unlearn.cli.main`` itself; each ends in exit 0, a
reported problem (``data validate``: 1) or one ``error:`` line with exit 2."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audio_unlearn.cli import main

# SpeechBrain's lazy proxies break Hypothesis's scan of loaded modules (see conftest.py)
pytestmark = pytest.mark.usefixtures("without_broken_lazy_modules")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
)
KEYS = [
    "task",
    "protocol",
    "seed",
    "label_key",
    "max_seconds",
    "corpus.manifest",
    "corpus.dir",
    "split.n_test_speakers",
    "split.kind",
    "split.n_valid_speakers",
    "train.lr",
    "train.epochs",
    "train.batch_size",
    "methods",
    "methods.ng.lr",
    "methods.ft",
    "sweep",
    "sweep.lrs",
    "requests",
    "model",
    "model.name",
    "model.channels",
    "model.d_model",
    "model.nosuch",
    "eval.encoder",
    "eval.nfe",
    "trainer",
    "nope.key",
]


def _cli(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of the CLI; an exception escaping it fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own usage errors
            code = exit_.code
    return int(code or 0), err.getvalue()


def _no_traceback(code: int, err: str, allowed=(0, 2)) -> None:
    assert code in allowed, (code, err)
    assert "Traceback" not in err, err
    if code == 2 and not err.startswith("usage:"):  # else: argparse's usage + error line
        assert err.startswith("error:") and err.count("\n") == 1, err


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    sets=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.one_of(VALUES.map(lambda v: yaml.safe_dump(v).strip()), st.text(max_size=12)),
        ),
        min_size=1,
        max_size=3,
    )
)
@example(sets=[("train.lr", "1e-3")])
@example(sets=[("task", "tts"), ("eval.encoder", "ecapa:/")])
def test_no_override_makes_run_print_a_traceback(sets):
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["run", "--dry-run", "--out", str(Path(tmp) / "run")]
        for key, value in sets:
            argv += ["--set", f"{key}={value}"]
        _no_traceback(*_cli(argv))
        assert not (Path(tmp) / "run").exists()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A deployed tiny speaker-ID model (6 speakers, 1 s tones)."""
    from audio_unlearn.privacy import deploy_classifier
    from audio_unlearn.testing import make_dummy_corpus

    root = tmp_path_factory.mktemp("deployed")
    manifest = make_dummy_corpus(root / "corpus", n_speakers=6, n_classes=3, per_class=2)
    model = {"name": "logmel_cnn", "channels": 8, "n_layers": 1}
    return deploy_classifier(
        manifest, root / "deploy", label_key="speaker", model=model, epochs=1, max_seconds=1.0
    )


REQUEST_FIELDS = ["id", "speakers", "utterances", "reason", "received", "subject", "notes"]
SPEAKERS = st.one_of(st.sampled_from(["s00", "s01", "s05", "s99", ""]), st.text(max_size=4))
REQUESTS = st.dictionaries(
    st.sampled_from(REQUEST_FIELDS),
    st.one_of(VALUES, st.lists(SPEAKERS, max_size=4), SPEAKERS),
    max_size=4,
)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    request=REQUESTS,
    raw=st.one_of(st.none(), st.text(max_size=30)),
    suffix=st.sampled_from([".yaml", ".json", ".yml", ".txt"]),
)
@example(request={"id": "r1", "speakers": ["s01"]}, raw=None, suffix=".yaml")
@example(request={"speakers": "s01"}, raw=None, suffix=".json")
def test_no_request_file_makes_forget_print_a_traceback(deployed, request, raw, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"request{suffix}"
        if raw is not None:
            path.write_text(raw, encoding="utf-8")
        elif suffix == ".json":
            path.write_text(json.dumps(request), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(request), encoding="utf-8")
        out = Path(tmp) / "out"
        argv = ["forget", "--checkpoint", str(deployed.checkpoint), "--manifest"]
        argv += [str(deployed.train_manifest), "--request", str(path), "--out", str(out)]
        code, err = _cli([*argv, "--dry-run", "--no-progress"])
        _no_traceback(code, err)
        assert not out.exists()


LINE_FIELDS = ["id", "audio", "speaker", "duration", "sample_rate", "text", "labels"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(LINE_FIELDS), VALUES, max_size=len(LINE_FIELDS)),
        min_size=1,
        max_size=3,
    ),
    raw=st.one_of(st.none(), st.text(max_size=20)),
)
def test_no_manifest_line_makes_data_validate_print_a_traceback(records, raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.jsonl"
        lines = [raw] if raw is not None else [json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _no_traceback(*_cli(["data", "validate", str(path)]), allowed=(0, 1, 2))


def test_forget_dry_run_checks_the_request_and_prints_the_plan(deployed, tmp_path, capsys):
    request = tmp_path / "r.yaml"
    request.write_text("id: r1\nspeakers: [s01]\n")
    out = tmp_path / "out"
    argv = ["forget", "--checkpoint", str(deployed.checkpoint), "--manifest"]
    argv += [str(deployed.train_manifest), "--request", str(request), "--out", str(out)]
    assert main([*argv, "--dry-run", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "request r1: class removal" in said and "speaker(s) s01" in said
    assert "nothing written: --dry-run" in said and not out.exists()
    request.write_text("id: r1\nspeakers: [s77]\n")
    assert main([*argv, "--dry-run", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error:") and not out.exists()
