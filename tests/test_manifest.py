import json

import pytest

from audio_unlearn.data.manifest import (
    ManifestError,
    PhoneSpan,
    Utterance,
    read_manifest,
    write_manifest,
)


def _utt(i, **kw):
    base = dict(id=f"u{i}", audio=f"/abs/u{i}.wav", speaker="s1", duration=1.0, sample_rate=16000)
    return Utterance(**{**base, **kw})


def test_roundtrip_keeps_every_field(tmp_path):
    utts = [
        _utt(1, text="turn on", labels={"intent": "a_b_c"}, alignment=(PhoneSpan("t", 0.0, 0.1),)),
        _utt(2),
    ]
    path = write_manifest(tmp_path / "m.jsonl", utts)
    assert read_manifest(path) == utts


def test_relative_audio_paths_resolve_against_manifest_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.jsonl").write_text(
        json.dumps(dict(id="a", audio="w/a.wav", speaker="s", duration=1, sample_rate=16000)) + "\n"
    )
    (utt,) = read_manifest(tmp_path / "sub" / "m.jsonl")
    assert utt.audio == str(tmp_path.resolve() / "sub" / "w" / "a.wav")


def test_written_paths_below_the_manifest_are_relative(tmp_path):
    utt = _utt(1, audio=str(tmp_path / "wavs" / "u1.wav"))
    path = write_manifest(tmp_path / "m.jsonl", [utt])
    assert json.loads(path.read_text())["audio"] == "wavs/u1.wav"


@pytest.mark.parametrize("missing", ["id", "audio", "speaker", "duration", "sample_rate"])
def test_missing_field_names_line_and_field(tmp_path, missing):
    rec = dict(id="a", audio="a.wav", speaker="s", duration=1, sample_rate=16000)
    del rec[missing]
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(ManifestError, match=rf"m\.jsonl:1: missing field\(s\) \['{missing}'\]"):
        read_manifest(path)


def test_duplicate_ids_are_rejected(tmp_path):
    rec = json.dumps(dict(id="a", audio="a.wav", speaker="s", duration=1, sample_rate=16000))
    path = tmp_path / "m.jsonl"
    path.write_text(rec + "\n" + rec + "\n")
    with pytest.raises(ManifestError, match=r":2: duplicate utterance id 'a' \(first on line 1\)"):
        read_manifest(path)


def test_bad_json_names_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: not valid JSON"):
        read_manifest(path)


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="audio-unlearn data synth"):
        read_manifest(tmp_path / "none.jsonl")


def test_unknown_label_names_the_utterance():
    with pytest.raises(KeyError, match="utterance 'u1' has no label 'intent'"):
        _utt(1).label("intent")
