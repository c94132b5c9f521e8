"""Corpus loaders on tiny fake copies of the real on-disk layouts (quirks included)."""

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_unlearn.data.corpora import (
    CORPORA,
    prepare_audiomnist,
    prepare_corpus,
    prepare_fsc,
    prepare_italic,
    prepare_slurp,
    prepare_slurp_star,
    prepare_speech_commands,
    prepare_speech_massive,
    read_prepared,
    slurp_star_split,
)
from audio_unlearn.data.manifest import Utterance, read_manifest


def _audio(path, seconds=0.25, sr=16000, fmt="WAV", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * sr)), sr, format=fmt)
    return path


def _by_id(path):
    return {u.id: u for u in read_manifest(path)}


def _speakers(path):
    return {u.speaker for u in read_manifest(path)}


# --------------------------------------------------------------------------- FSC

FSC_HEADER = ["", "path", "speakerId", "transcription", "action", "object", "location"]
FSC_SPLITS = {
    "train": [
        ("2BqVo8kVB2Skwgyb", "turn on the kitchen lights", "activate", "lights", "kitchen"),
        ("2BqVo8kVB2Skwgyb", "volume up", "increase", "volume", "none"),
        ("4aGjX3AG5xcxeL7a", "bring me my shoes", "bring", "shoes", "none"),
    ],
    "valid": [("5o9BvRGEGvhaeBwA", "lights off", "deactivate", "lights", "none")],
    "test": [("73bEEYMKLwtmVwV43", "heat up the bedroom", "increase", "heat", "bedroom")],
}


def _fake_fsc(root, splits=FSC_SPLITS, header=FSC_HEADER):
    ds = root / "fluent_speech_commands_dataset"
    n = 0
    for split, rows in splits.items():
        (ds / "data").mkdir(parents=True, exist_ok=True)
        with (ds / "data" / f"{split}_data.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for idx, (spk, text, action, obj, loc) in enumerate(rows):  # index restarts at 0
                rel = f"wavs/speakers/{spk}/{n:08x}-uuid.wav"
                _audio(ds / rel, seconds=0.1 + 0.05 * n, seed=n)
                w.writerow([idx, rel, spk, text, action, obj, loc][-len(header) :])
                n += 1
    with (ds / "data" / "speaker_demographics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "speakerId",
                "Self-reported fluency level ",
                "First Language spoken",
                "Current language used for work/school",
                "gender",
                "ageRange",
            ]
        )
        w.writerow(
            ["2BqVo8kVB2Skwgyb", "native", "English (United States)", "English", "m", "22-40"]
        )
    return ds


def test_fsc_manifests_keep_speakers_labels_and_official_splits(tmp_path):
    ds = _fake_fsc(tmp_path / "raw")
    paths = prepare_fsc(ds, tmp_path / "out")
    assert set(paths) == {"train", "valid", "test"}
    train = _by_id(paths["train"])
    assert len(train) == 3
    u = train["2BqVo8kVB2Skwgyb_00000000-uuid"]
    assert u.speaker == "2BqVo8kVB2Skwgyb"
    assert u.text == "turn on the kitchen lights"
    assert u.labels == {
        "intent": "activate_lights_kitchen",
        "action": "activate",
        "object": "lights",
        "location": "kitchen",
    }
    assert u.sample_rate == 16000 and u.duration == pytest.approx(0.1)
    assert train["2BqVo8kVB2Skwgyb_00000001-uuid"].labels["intent"] == "increase_volume_none"
    assert _speakers(paths["valid"]) == {"5o9BvRGEGvhaeBwA"}
    assert _speakers(paths["test"]) == {"73bEEYMKLwtmVwV43"}
    assert read_manifest(paths["test"])[0].duration == pytest.approx(0.1 + 0.05 * 4)
    spk = json.loads((tmp_path / "out" / "speakers.json").read_text())
    assert spk["2BqVo8kVB2Skwgyb"]["Self-reported fluency level"] == "native"
    summary = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert summary["splits"]["train"] == {
        "manifest": "train.jsonl",
        "utterances": 3,
        "speakers": 2,
        "hours": pytest.approx(0.45 / 3600, abs=1e-4),
    }


def test_fsc_rerun_is_identical_and_parent_dir_is_accepted(tmp_path):
    _fake_fsc(tmp_path / "raw")
    first = prepare_fsc(tmp_path / "raw", tmp_path / "out")  # the archive's parent folder
    before = {k: p.read_bytes() for k, p in first.items()}
    second = prepare_fsc(tmp_path / "raw" / "fluent_speech_commands_dataset", tmp_path / "out")
    assert {k: p.read_bytes() for k, p in second.items()} == before


def test_fsc_missing_csv_and_column_errors_name_the_expectation(tmp_path):
    ds = _fake_fsc(tmp_path / "raw")
    (ds / "data" / "test_data.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected .*test_data\.csv \(Fluent Speech"):
        prepare_fsc(ds, tmp_path / "out")
    bad = _fake_fsc(tmp_path / "raw2", header=[*FSC_HEADER[:2], *FSC_HEADER[3:]])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['speakerId'\]"):
        prepare_fsc(bad, tmp_path / "out2")
    assert not (tmp_path / "out2" / "train.jsonl").exists()


def test_fsc_rejects_splits_that_share_a_speaker(tmp_path):
    splits = {**FSC_SPLITS, "test": [(FSC_SPLITS["train"][0][0], "x", "a", "b", "c")]}
    ds = _fake_fsc(tmp_path / "raw", splits=splits)
    with pytest.raises(ValueError, match=r"'train' and 'test' share 1 speaker"):
        prepare_fsc(ds, tmp_path / "out")


# --------------------------------------------------------------------------- SLURP


def _slurp_record(slurp_id, intent, scenario, action, files, sentence="hello"):
    return {
        "slurp_id": slurp_id,
        "sentence": sentence,
        "sentence_annotation": sentence,
        "intent": intent,
        "action": action,
        "tokens": [],
        "scenario": scenario,
        "recordings": [
            {"file": f, "wer": 0.0, "ent_wer": None, "status": "correct"} for f in files
        ],
        "entities": [],
    }


def _fake_slurp(root, *, drop_speaker_of=None):
    text = root / "dataset" / "slurp"
    text.mkdir(parents=True)
    splits = {
        "train": [
            _slurp_record(
                1, "alarm_set", "alarm", "set", ["audio-1.flac", "audio-1-headset.flac"], "wake"
            ),
            # intent == action quirk: take intent as given
            _slurp_record(2, "quirky", "general", "quirky", ["audio--1504194195.flac"]),
        ],
        "devel": [_slurp_record(3, "play_music", "play", "music", ["audio-3.flac"])],
        "test": [_slurp_record(4, "alarm_set", "alarm", "set", ["audio-4.flac"])],
    }
    users = {
        "audio-1.flac": "FO-488",
        "audio-1-headset.flac": "FO-488",
        "audio--1504194195.flac": "MS-123",
        "audio-3.flac": "FA-001",
        "audio-4.flac": "MO-777",
    }
    metadata = {}
    for split, records in splits.items():
        with (text / f"{split}.jsonl").open("w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
                metadata[str(r["slurp_id"])] = {
                    "recordings": {
                        rec["file"]: {"usrid": users[rec["file"]]}
                        for rec in r["recordings"]
                        if rec["file"] != drop_speaker_of
                    }
                }
                for i, rec in enumerate(r["recordings"]):
                    _audio(root / "audio" / "slurp_real" / rec["file"], fmt="FLAC", seed=i)
    (text / "metadata.json").write_text(json.dumps(metadata))
    with (text / "train_synthetic.jsonl").open("w") as f:
        f.write(json.dumps(_slurp_record(9, "alarm_set", "alarm", "set", ["audio-9.flac"])) + "\n")
    _audio(root / "audio" / "slurp_synth" / "audio-9.flac", fmt="FLAC")
    return root


def test_slurp_speakers_from_metadata_negative_ids_and_intent_as_given(tmp_path):
    root = _fake_slurp(tmp_path / "slurp")
    paths = prepare_slurp(root, tmp_path / "out")
    train = _by_id(paths["train"])
    assert sorted(train) == ["audio--1504194195", "audio-1", "audio-1-headset"]
    assert train["audio-1"].speaker == train["audio-1-headset"].speaker == "FO-488"
    quirky = train["audio--1504194195"]
    assert quirky.speaker == "MS-123"
    assert quirky.labels == {"intent": "quirky", "scenario": "general", "action": "quirky"}
    assert train["audio-1"].text == "wake" and train["audio-1"].sample_rate == 16000
    assert train["audio-1"].audio.endswith("slurp_real/audio-1.flac")
    assert _by_id(paths["valid"])["audio-3"].labels["intent"] == "play_music"
    assert _speakers(paths["test"]) == {"MO-777"}


def test_slurp_headset_and_synthetic_options(tmp_path):
    root = _fake_slurp(tmp_path / "slurp")
    no_headset = _by_id(prepare_slurp(root, tmp_path / "a", headset="exclude")["train"])
    assert "audio-1-headset" not in no_headset and "audio-1" in no_headset
    with pytest.raises(ValueError, match="split 'valid' is empty"):
        prepare_slurp(root, tmp_path / "b", headset="only")
    synth = _by_id(prepare_slurp(root, tmp_path / "c", include_synthetic=True)["train"])
    assert synth["audio-9"].speaker == "slurp_synth"
    assert synth["audio-9"].audio.endswith("slurp_synth/audio-9.flac")
    with pytest.raises(ValueError, match="headset must be one of"):
        prepare_slurp(root, tmp_path / "d", headset="yes")


def test_slurp_missing_speaker_and_missing_metadata_errors(tmp_path):
    root = _fake_slurp(tmp_path / "s1", drop_speaker_of="audio-3.flac")
    with pytest.raises(ValueError, match=r"no speaker for slurp_id 3 recording 'audio-3.flac'"):
        prepare_slurp(root, tmp_path / "out")
    root2 = _fake_slurp(tmp_path / "s2")
    (root2 / "dataset" / "slurp" / "metadata.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected .*metadata\.json \(SLURP layout"):
        prepare_slurp(root2, tmp_path / "out2")


def _u(uid, speaker, intent="i0"):
    return Utterance(uid, f"/a/{uid}.flac", speaker, 1.0, 16000, labels={"intent": intent})


def test_slurp_star_split_greedy_proportions_on_constructed_speakers():
    # 100 utterances after filtering; speakers in first-appearance order A..F.
    counts = {"A": 30, "B": 30, "C": 25, "D": 5, "E": 5, "F": 5}
    utts = [_u(f"{s}{k}", s) for s, n in counts.items() for k in range(n)]
    train, valid = utts[:70], utts[70:85]
    # D's first appearance is in valid, E and F only in test; one test utterance has an
    # intent never seen in train and is dropped before the split.
    test = [*utts[85:], _u("X0", "X", intent="unseen")]
    out = slurp_star_split(train, valid, test)
    spk = {name: [u.speaker for u in us] for name, us in out.items()}
    # A(30) -> 30 < 80 train; B -> 60 < 80 train; C -> 85; D: train full, valid 0 < 10;
    # E: valid 5 < 10; F: valid 10 is not < 10 -> test. X was filtered out.
    assert sorted(set(spk["train"])) == ["A", "B", "C"] and len(out["train"]) == 85
    assert sorted(set(spk["valid"])) == ["D", "E"] and len(out["valid"]) == 10
    assert set(spk["test"]) == {"F"} and len(out["test"]) == 5
    assert all(u.id != "X0" for us in out.values() for u in us)


def test_slurp_star_split_order_is_first_appearance_not_alphabetical():
    utts = [_u(f"z{k}", "Z") for k in range(8)] + [_u(f"a{k}", "A") for k in range(2)]
    out = slurp_star_split(utts, [], [])
    assert {u.speaker for u in out["train"]} == {"Z"}  # Z comes first and fills 80%
    assert {u.speaker for u in out["valid"]} == {"A"}
    assert out["test"] == []


def test_prepare_slurp_star_is_speaker_disjoint(tmp_path):
    root = _fake_slurp(tmp_path / "slurp")
    # 5 utterances (the test intent is seen in train, so none is dropped); 0.8 * 5 = 4:
    # FO-488 (2) -> train, MS-123 -> train (2 < 4), FA-001 -> train (3 < 4), MO-777: train
    # holds 4, valid 0 < 0.5 -> valid. Test ends empty, which prepare refuses, saying why
    with pytest.raises(ValueError, match=r"\['test'\] are empty: the 4 speakers ran out"):
        prepare_slurp_star(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    # 0.3 / 0.3 of 5 = 1.5: FO-488 -> train; MS-123, FA-001 -> valid; MO-777 -> test.
    paths = prepare_slurp_star(root, tmp_path / "out", train_fraction=0.3, valid_fraction=0.3)
    assert _speakers(paths["train"]) == {"FO-488"}
    assert _speakers(paths["valid"]) == {"MS-123", "FA-001"}
    assert _speakers(paths["test"]) == {"MO-777"}
    assert sorted(_by_id(paths["train"])) == ["audio-1", "audio-1-headset"]


# --------------------------------------------------------------------------- Speech Commands


def _fake_speech_commands(root):
    files = {
        "yes": ["0a7c2a8d_nohash_0", "0a7c2a8d_nohash_1", "1b4c9b89_nohash_0", "c1d39ce8_nohash_0"],
        "no": ["0a7c2a8d_nohash_0", "1b4c9b89_nohash_0", "c1d39ce8_nohash_2", "ffd2ba2f_nohash_0"],
    }
    for word, names in files.items():
        for i, name in enumerate(names):
            _audio(root / word / f"{name}.wav", seconds=0.5 + 0.1 * i, seed=i)
    _audio(root / "_background_noise_" / "white_noise.wav", seconds=1.0)
    (root / "validation_list.txt").write_text(
        "yes/1b4c9b89_nohash_0.wav\nno/1b4c9b89_nohash_0.wav\n"
    )
    (root / "testing_list.txt").write_text("no/c1d39ce8_nohash_2.wav\nyes/c1d39ce8_nohash_0.wav\n")
    (root / "LICENSE").write_text("CC-BY-4.0")
    return root


def test_speech_commands_official_lists_and_speakers(tmp_path):
    root = _fake_speech_commands(tmp_path / "sc")
    paths = prepare_speech_commands(root, tmp_path / "out")
    train = _by_id(paths["train"])
    assert sorted(train) == [
        "no_0a7c2a8d_nohash_0",
        "no_ffd2ba2f_nohash_0",
        "yes_0a7c2a8d_nohash_0",
        "yes_0a7c2a8d_nohash_1",
    ]
    assert train["yes_0a7c2a8d_nohash_1"].speaker == "0a7c2a8d"
    assert train["yes_0a7c2a8d_nohash_1"].labels == {"word": "yes"}
    assert train["yes_0a7c2a8d_nohash_1"].duration == pytest.approx(0.6)
    assert _speakers(paths["valid"]) == {"1b4c9b89"}
    assert _speakers(paths["test"]) == {"c1d39ce8"}
    every = [u for p in paths.values() for u in read_manifest(p)]
    assert not any("background" in u.audio for u in every)
    assert len(every) == 8


def test_speech_commands_errors(tmp_path):
    root = _fake_speech_commands(tmp_path / "sc")
    (root / "yes" / "c1d39ce8_nohash_0.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 file\(s\) named by .*yes/c1d39ce8_nohash_0"):
        prepare_speech_commands(root, tmp_path / "out")
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected .*testing_list\.txt \(Speech Commands"):
        prepare_speech_commands(root, tmp_path / "out")
    root2 = _fake_speech_commands(tmp_path / "sc2")
    (root2 / "validation_list.txt").write_text("yes/0a7c2a8d_nohash_1.wav\n")  # splits a speaker
    with pytest.raises(ValueError, match="'train' and 'valid' share 1 speaker"):
        prepare_speech_commands(root2, tmp_path / "out2")


# --------------------------------------------------------------------------- AudioMNIST


def _fake_audiomnist(root, n_speakers=6, digits=(0, 1), reps=(0, 1)):
    data = root / "data"
    meta = {}
    for s in range(1, n_speakers + 1):
        nn = f"{s:02d}"
        # one int age, the rest strings (one nonsense), as in the release
        age = 30 if s == 1 else ("thirty" if s == 2 else str(20 + s))
        meta[nn] = {
            "accent": "german",
            "age": age,
            "gender": "female" if s % 2 else "male",
            "native speaker": "no",
            "origin": "Europe, Germany, Berlin",
            "recordingdate": "17-06-22-11-04-28",
            "recordingroom": "Kino",
        }
        for d in digits:
            for r in reps:
                _audio(data / nn / f"{d}_{nn}_{r}.wav", seconds=0.05, sr=48000, seed=s + d + r)
    (data / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=4))
    return root


def test_audiomnist_split_is_by_speaker_and_seeded(tmp_path):
    root = _fake_audiomnist(tmp_path / "am")
    paths = prepare_audiomnist(root, tmp_path / "out", n_test_speakers=2, n_valid_speakers=1)
    sets = {name: _speakers(p) for name, p in paths.items()}
    assert len(sets["test"]) == 2 and len(sets["valid"]) == 1 and len(sets["train"]) == 3
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["valid"])
    assert sets["train"] | sets["valid"] | sets["test"] == {f"{s:02d}" for s in range(1, 7)}
    for name, p in paths.items():  # each speaker's 4 utterances stay together
        assert len(read_manifest(p)) == 4 * len(sets[name])
    u = next(u for p in paths.values() for u in read_manifest(p) if u.id == "1_03_0")
    assert u.speaker == "03" and u.labels == {"digit": "1", "gender": "female"}
    assert u.sample_rate == 48000 and u.duration == pytest.approx(0.05)
    again = prepare_audiomnist(root, tmp_path / "out2", n_test_speakers=2, n_valid_speakers=1)
    assert {n: _speakers(p) for n, p in again.items()} == sets
    tests = {
        frozenset(
            _speakers(
                prepare_audiomnist(
                    root, tmp_path / f"s{seed}", seed=seed, n_test_speakers=2, n_valid_speakers=1
                )["test"]
            )
        )
        for seed in range(6)
    }
    assert len(tests) > 1  # the seed changes the held-out speakers
    spk = json.loads((tmp_path / "out" / "speakers.json").read_text())
    assert spk["01"]["age"] == 30 and spk["01"]["age_raw"] == 30
    assert spk["02"]["age"] is None and spk["02"]["age_raw"] == "thirty"
    assert spk["04"]["age"] == 24 and spk["04"]["native speaker"] == "no"


def test_audiomnist_errors(tmp_path):
    root = _fake_audiomnist(tmp_path / "am", n_speakers=3)
    with pytest.raises(ValueError, match="corpus has 3 speakers"):
        prepare_audiomnist(root, tmp_path / "out", n_test_speakers=2, n_valid_speakers=1)
    _audio(root / "data" / "02" / "3_07_0.wav")  # wrong speaker in the file name
    with pytest.raises(ValueError, match=r"3_07_0\.wav does not follow <digit>_02_<rep>"):
        prepare_audiomnist(root, tmp_path / "out", n_test_speakers=1, n_valid_speakers=1)
    (root / "data" / "audioMNIST_meta.txt").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        prepare_audiomnist(root, tmp_path / "out", n_test_speakers=1, n_valid_speakers=1)
    (root / "data" / "audioMNIST_meta.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected .*audioMNIST_meta\.txt"):
        prepare_audiomnist(root, tmp_path / "out", n_test_speakers=1, n_valid_speakers=1)


# --------------------------------------------------------------------------- HF corpora


def _datasets():
    # The `hf` extra is part of the test environment: a missing package fails, not skips.
    import datasets

    datasets.disable_progress_bars()
    return datasets


def _wav_bytes(seconds, sr, seed=0):
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    sf.write(buf, 0.1 * rng.standard_normal(int(seconds * sr)), sr, format="WAV")
    return buf.getvalue()


def _hf_split(rows, *, sr=8000):
    """rows: list of dicts of plain columns; adds an Audio column from embedded bytes."""
    datasets = _datasets()
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    columns["audio"] = [
        {"bytes": _wav_bytes(0.1 + 0.01 * i, sr, seed=i), "path": f"clip{i}.wav"}
        for i in range(len(rows))
    ]
    return datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())


def _italic_rows(speakers, speaker_col="speaker"):
    return [
        {
            "id": i,
            "utt": f"sveglia alle {i}",
            "intent": "alarm_set" if i % 2 else "play_music",
            speaker_col: spk,
        }
        for i, spk in enumerate(speakers)
    ]


def test_italic_from_save_to_disk(tmp_path):
    datasets = _datasets()
    dd = datasets.DatasetDict(
        {
            "train": _hf_split(_italic_rows(["s1", "s1", "s2"])),
            "validation": _hf_split(_italic_rows(["s3"])),
            "test": _hf_split(_italic_rows(["s4", "s5"])),
        }
    )
    dd.save_to_disk(str(tmp_path / "ITALIC" / "hard_speaker"))
    paths = prepare_italic(tmp_path / "ITALIC", tmp_path / "out")  # config subfolder found
    train = _by_id(paths["train"])
    assert sorted(train) == ["train-0", "train-1", "train-2"]
    u = train["train-1"]
    assert u.speaker == "s1" and u.labels == {"intent": "alarm_set"}
    assert u.text == "sveglia alle 1"
    assert u.sample_rate == 16000 and u.duration == pytest.approx(0.11, abs=1e-3)
    wav, sr = sf.read(u.audio)
    assert sr == 16000 and len(wav) == pytest.approx(0.11 * 16000, abs=2)
    assert u.audio.startswith(str((tmp_path / "out" / "audio" / "hard_speaker").resolve()))
    assert _speakers(paths["test"]) == {"s4", "s5"}
    # re-run: existing wavs are not rewritten, manifests identical
    mtime = (tmp_path / "out" / "audio" / "hard_speaker" / "train-1.wav").stat().st_mtime_ns
    before = paths["train"].read_bytes()
    again = prepare_italic(tmp_path / "ITALIC", tmp_path / "out")
    assert again["train"].read_bytes() == before
    assert (tmp_path / "out" / "audio" / "hard_speaker" / "train-1.wav").stat().st_mtime_ns == mtime


def test_italic_from_parquet_with_speaker_id_column_and_local_paths(tmp_path):
    _datasets()
    base = tmp_path / "snap" / "hard_speaker"
    base.mkdir(parents=True)
    for split, spks in {"train": ["a", "b"], "validation": ["c"], "test": ["d"]}.items():
        _hf_split(_italic_rows(spks, "speaker_id")).to_parquet(
            str(base / f"{split}-00000-of-00001.parquet")
        )
    paths = prepare_italic(tmp_path / "snap", tmp_path / "out", cache_dir=tmp_path / "cache")
    assert _speakers(paths["train"]) == {"a", "b"}
    assert _speakers(paths["valid"]) == {"c"}
    # audio given as an existing local file (no embedded bytes) is used in place
    datasets = _datasets()
    clip = _audio(tmp_path / "clips" / "x.wav", seconds=0.3, sr=22050)
    rows = _italic_rows(["a"])
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    columns["audio"] = [{"bytes": None, "path": str(clip)}]
    local = tmp_path / "local"
    local.mkdir()
    for split in ("train", "validation", "test"):
        datasets.Dataset.from_dict(columns).to_parquet(str(local / f"{split}.parquet"))
    with pytest.raises(ValueError, match="share 1 speaker"):  # hard_speaker promise checked
        prepare_italic(local, tmp_path / "out2", cache_dir=tmp_path / "cache")
    paths = prepare_italic(local, tmp_path / "out2", config="massive", cache_dir=tmp_path / "c")
    u = read_manifest(paths["train"])[0]
    assert u.audio == str(clip.resolve()) and u.sample_rate == 22050
    assert u.duration == pytest.approx(0.3, abs=1e-4)
    assert not (tmp_path / "out2" / "audio").exists()


def test_italic_missing_column_and_split_errors(tmp_path):
    datasets = _datasets()
    rows = [{k: v for k, v in r.items() if k != "intent"} for r in _italic_rows(["a"])]
    split = _hf_split(rows)
    datasets.DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(
        str(tmp_path / "noint")
    )
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['intent'\]"):
        prepare_italic(tmp_path / "noint", tmp_path / "out")
    rows = [{k: v for k, v in r.items() if k != "speaker"} for r in _italic_rows(["a"])]
    split = _hf_split(rows)
    datasets.DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(
        str(tmp_path / "nospk")
    )
    with pytest.raises(ValueError, match=r"no speaker column \(expected one of \['speaker', "):
        prepare_italic(tmp_path / "nospk", tmp_path / "out")
    datasets.DatasetDict({"train": split}).save_to_disk(str(tmp_path / "onlytrain"))
    with pytest.raises(ValueError, match=r"lacks split\(s\) \['validation', 'test'\]"):
        prepare_italic(tmp_path / "onlytrain", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no data for split 'train'"):
        prepare_italic(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a Hugging Face"):
        prepare_italic(tmp_path / "does" / "not" / "exist", tmp_path / "out")


def test_hf_loaders_explain_missing_datasets_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ImportError, match=r"audio-unlearn\[hf\]"):
        prepare_italic(tmp_path, tmp_path / "out")
    with pytest.raises(ImportError, match=r"audio-unlearn\[hf\]"):
        prepare_speech_massive(tmp_path, tmp_path / "out")


def _sm_rows(speakers, start=0):
    return [
        {
            "id": str(start + i),
            "locale": "de-DE",
            "utt": f"weck mich {i}",
            "intent_str": "alarm_set" if i % 3 else "weather_query",
            "scenario_str": "alarm" if i % 3 else "weather",
            "intent_idx": i % 3,
            "speaker_id": spk,
        }
        for i, spk in enumerate(speakers)
    ]


def _fake_speech_massive(tmp_path):
    datasets = _datasets()
    train_spk = ["aa" * 12, "bb" * 12]
    valid_spk = ["aa" * 12, "cc" * 12, "dd" * 12, "aa" * 12, "ee" * 12] * 2 + ["ff" * 12]
    root = tmp_path / "Speech-MASSIVE"
    datasets.DatasetDict(
        {
            "train": _hf_split(_sm_rows(train_spk * 2)),
            "validation": _hf_split(_sm_rows(valid_spk, start=100), sr=16000),
        }
    ).save_to_disk(str(root / "de-DE"))
    test_root = tmp_path / "Speech-MASSIVE-test"
    datasets.DatasetDict({"test": _hf_split(_sm_rows(["gg" * 12]))}).save_to_disk(
        str(test_root / "de-DE")
    )
    return root, test_root, valid_spk


def test_speech_massive_unslu_validation_rule(tmp_path):
    root, _, valid_spk = _fake_speech_massive(tmp_path)
    paths = prepare_speech_massive(root, tmp_path / "out", locale="de-DE")
    # The benchmark's rule, written out independently: drop validation rows of train
    # speakers, np.random.seed(42) + np.random.shuffle, first half valid, rest test.
    kept = [i for i, s in enumerate(valid_spk) if s not in {"aa" * 12, "bb" * 12}]
    state = np.random.get_state()
    try:
        np.random.seed(42)
        np.random.shuffle(kept)
    finally:
        np.random.set_state(state)
    half = len(kept) // 2
    valid, test = _by_id(paths["valid"]), _by_id(paths["test"])
    assert set(valid) == {f"validation-{i}" for i in kept[:half]}
    assert set(test) == {f"validation-{i}" for i in kept[half:]}
    assert len(valid) == 3 and len(test) == 4
    train_spk = _speakers(paths["train"])
    assert train_spk == {"aa" * 12, "bb" * 12}
    assert not (train_spk & (_speakers(paths["valid"]) | _speakers(paths["test"])))
    u = valid[f"validation-{kept[0]}"]
    assert u.speaker == valid_spk[kept[0]]
    assert u.labels["intent"] in {"alarm_set", "weather_query"} and "scenario" in u.labels
    train = _by_id(paths["train"])
    assert train["train-0"].labels == {"intent": "weather_query", "scenario": "weather"}
    assert train["train-0"].sample_rate == 16000  # 8 kHz bytes resampled


def test_speech_massive_official_protocol_and_errors(tmp_path):
    root, test_root, valid_spk = _fake_speech_massive(tmp_path)
    with pytest.raises(ValueError, match="needs test_source"):
        prepare_speech_massive(root, tmp_path / "out", protocol="official")
    paths = prepare_speech_massive(
        root, tmp_path / "out", protocol="official", test_source=test_root
    )
    assert len(read_manifest(paths["valid"])) == len(valid_spk)
    assert _speakers(paths["test"]) == {"gg" * 12}
    with pytest.raises(ValueError, match="protocol must be"):
        prepare_speech_massive(root, tmp_path / "out", protocol="random")
    with pytest.raises(FileNotFoundError, match=r"no data for split 'train'"):
        prepare_speech_massive(root, tmp_path / "out", locale="it-IT")  # not de-DE's files


def test_speech_massive_from_explicit_parquet_data_files(tmp_path):
    root, _, _ = _fake_speech_massive(tmp_path)
    datasets = _datasets()
    saved = datasets.load_from_disk(str(root / "de-DE"))
    files = {}
    for split in ("train", "validation"):
        files[split] = str(tmp_path / "files" / f"sm_{split}.parquet")
        (tmp_path / "files").mkdir(exist_ok=True)
        saved[split].to_parquet(files[split])
    by_files = prepare_speech_massive(
        "unused", tmp_path / "a", data_files=files, cache_dir=tmp_path / "cache"
    )
    by_disk = prepare_speech_massive(root, tmp_path / "b")
    for split in ("train", "valid", "test"):
        ids = [u.id for u in read_manifest(by_files[split])]
        assert ids == [u.id for u in read_manifest(by_disk[split])]
    with pytest.raises(ValueError, match=r"data_files lacks split\(s\) \['validation'\]"):
        prepare_speech_massive("unused", tmp_path / "c", data_files={"train": files["train"]})


# --------------------------------------------------------------------------- registry


def test_registry_dispatch_and_read_prepared(tmp_path):
    assert set(CORPORA) == {
        "fsc",
        "slurp",
        "slurp_star",
        "speech_commands",
        "audiomnist",
        "italic",
        "speech_massive",
        "librispeech",
        "libritts",
        "libriheavy",
    }
    root = _fake_speech_commands(tmp_path / "sc")
    paths = prepare_corpus("speech_commands", root, tmp_path / "out", num_workers=2)
    utts, split = read_prepared(paths)
    assert len(utts) == 8 and len(split.train) == 4 and len(split.valid) == 2
    assert set(split.test) == {"no_c1d39ce8_nohash_2", "yes_c1d39ce8_nohash_0"}
    with pytest.raises(ValueError, match="unknown corpus 'timit'"):
        prepare_corpus("timit", root, tmp_path / "out")
    with pytest.raises(ValueError, match=r"takes no option\(s\) \['seed'\]"):
        prepare_corpus("speech_commands", root, tmp_path / "out", seed=1)


def test_italic_zenodo_release_layout(tmp_path):
    """ITALIC's Zenodo release: ``recordings/<id>.wav`` and ``<config>_<split>.json``
    lines with ``speaker_id``; ids are ``<split>-<row>`` as on the hub."""
    root = tmp_path / "ITALIC"
    (root / "recordings").mkdir(parents=True)
    speakers = {"train": ["s1", "s1", "s2"], "validation": ["s3"], "test": ["s4", "s5"]}
    for split, spks in speakers.items():
        lines = []
        for i, spk in enumerate(spks):
            uid = f"{split[:2]}{i:03d}"
            _audio(root / "recordings" / f"{uid}.wav", seed=i)
            row = {"id": uid, "utt": f"frase {i}", "intent": "alarm_set", "speaker_id": spk}
            lines.append(json.dumps(row | {"scenario": "alarm"}))
        (root / f"hard_speaker_{split}.json").write_text("\n".join(lines) + "\n")
    paths = prepare_italic(root, tmp_path / "out")
    train = _by_id(paths["train"])
    assert sorted(train) == ["train-0", "train-1", "train-2"]
    assert train["train-2"].speaker == "s2" and train["train-2"].text == "frase 2"
    assert train["train-0"].labels == {"intent": "alarm_set", "scenario": "alarm"}
    assert Path(train["train-1"].audio).name == "tr001.wav"
    assert _speakers(paths["test"]) == {"s4", "s5"}
    # a row whose recording is missing is named, and nothing is left behind
    (root / "recordings" / "te001.wav").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"hard_speaker_test\.json:2: audio file .*te001\.wav"
    ):
        prepare_italic(root, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
    with pytest.raises(FileNotFoundError, match=r"massive_train\.json"):
        prepare_italic(root, tmp_path / "out3", config="massive")


def test_hf_row_whose_audio_file_is_missing_names_the_file(tmp_path):
    datasets = _datasets()
    rows = _italic_rows(["a", "b"])
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    columns["audio"] = [{"bytes": None, "path": str(tmp_path / f"gone{i}.wav")} for i in range(2)]
    ds = datasets.Dataset.from_dict(columns)  # a plain {bytes, path} column, as exported
    datasets.DatasetDict({s: ds for s in ("train", "validation", "test")}).save_to_disk(
        str(tmp_path / "local")
    )
    with pytest.raises(FileNotFoundError, match=r"row 0: audio file .*gone0\.wav does not exist"):
        prepare_italic(tmp_path / "local", tmp_path / "out", config="massive")


def test_speech_massive_empty_halves_say_why_and_leave_no_audio(tmp_path):
    """Every validation speaker also in train: the speaker-disjoint halves would be empty;
    the message says so, and the audio written for train is removed."""
    datasets = _datasets()
    root = tmp_path / "sm"
    spk = ["aa" * 12, "bb" * 12]
    datasets.DatasetDict(
        {
            "train": _hf_split(_sm_rows(spk * 2)),
            "validation": _hf_split(_sm_rows(spk, start=100), sr=16000),
        }
    ).save_to_disk(str(root / "de-DE"))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"2 of 2 validation speakers also speak in 'train'"):
        prepare_speech_massive(root, out, locale="de-DE")
    assert not out.exists()  # the train audio it wrote (8 kHz -> 16 kHz) is gone
