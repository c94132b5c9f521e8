"""Property: no manifest line makes reading a manifest fail with anything but a
ManifestError naming the file and line (the CLI's ``error:`` line), and a line that reads
gives a well-formed utterance."""

import json
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audio_unlearn.data.manifest import ManifestError, read_manifest

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)

# SpeechBrain's lazy proxies break Hypothesis's scan of loaded modules (see conftest.py)
pytestmark = pytest.mark.usefixtures("without_broken_lazy_modules")
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.lists(st.lists(SCALARS, max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=3),
)
FIELDS = ["id", "audio", "speaker", "duration", "sample_rate", "text", "labels", "alignment"]
RECORDS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS))


@settings(max_examples=500, deadline=None, derandomize=True)  # the same examples every run
@given(record=RECORDS, raw=st.one_of(st.none(), st.text(max_size=20)))
@example(record={}, raw="\r:")  # a carriage return starts a second line
def test_any_manifest_line_reads_or_is_a_manifest_error_naming_its_line(
    tmp_path_factory, record, raw
):
    path = tmp_path_factory.mktemp("m") / "manifest.jsonl"
    line = raw if raw is not None else json.dumps(record)
    path.write_text(line + "\n", encoding="utf-8")
    try:
        utts = read_manifest(path)
    except ManifestError as err:  # a raw "\r" or "\n" makes more than one line
        assert re.match(rf"{re.escape(str(path))}:\d+: ", str(err)), str(err)
        return
    for u in utts:
        assert u.duration > 0 and u.sample_rate > 0
        assert isinstance(u.id, str) and isinstance(u.speaker, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in u.labels.items())
        assert u.alignment is None or all(s.end >= s.start for s in u.alignment)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("duration", -1.0, "duration must be > 0"),
        ("duration", float("nan"), "duration must be > 0"),
        ("sample_rate", 0, "sample_rate must be > 0"),
        ("alignment", 5, "alignment"),
        ("alignment", [["a", 0.2, 0.1]], "alignment"),
    ],
)
def test_impossible_values_are_refused_with_their_line(tmp_path, field, value, says):
    record = {"id": "u", "audio": "a.wav", "speaker": "s", "duration": 1.0, "sample_rate": 16000}
    record[field] = value
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(ManifestError, match=f"{path}:1: .*{says}"):
        read_manifest(path)
