"""LibriTTS / LibriHeavy loaders with MFA TextGrids, on tiny fake corpora written here."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from audio_unlearn.data.corpora import read_prepared
from audio_unlearn.data.corpora.libriheavy import file_name, prepare_libriheavy, read_cuts
from audio_unlearn.data.corpora.libritts import (
    TextGridError,
    phone_alignment,
    prepare_libritts,
    read_textgrid,
)
from audio_unlearn.data.manifest import PhoneSpan, read_manifest

# ------------------------------------------------------------------ TextGrid writers (test)


def _q(label: str) -> str:
    return '"' + label.replace('"', '""') + '"'


def textgrid_long(xmax: float, tiers: dict[str, list[tuple[float, float, str]]]) -> str:
    """Praat's long text format, as Montreal Forced Aligner writes it."""
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        f"xmax = {xmax} ",
        "tiers? <exists> ",
        f"size = {len(tiers)} ",
        "item []: ",
    ]
    for i, (name, intervals) in enumerate(tiers.items(), 1):
        out += [
            f"    item [{i}]:",
            '        class = "IntervalTier" ',
            f"        name = {_q(name)} ",
            "        xmin = 0 ",
            f"        xmax = {xmax} ",
            f"        intervals: size = {len(intervals)} ",
        ]
        for j, (a, b, label) in enumerate(intervals, 1):
            out += [
                f"        intervals [{j}]:",
                f"            xmin = {a} ",
                f"            xmax = {b} ",
                f"            text = {_q(label)} ",
            ]
    return "\n".join(out) + "\n"


def textgrid_short(xmax: float, tiers: dict[str, list[tuple[float, float, str]]]) -> str:
    """Praat's short text format."""
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", str(xmax)]
    out += ["<exists>", str(len(tiers))]
    for name, intervals in tiers.items():
        out += ['"IntervalTier"', _q(name), "0", str(xmax), str(len(intervals))]
        for a, b, label in intervals:
            out += [str(a), str(b), _q(label)]
    return "\n".join(out) + "\n"


PHONES = [
    (0.0, 0.05, ""),
    (0.05, 0.12, "HH"),
    (0.12, 0.2, "AH0"),
    (0.2, 0.25, "sp"),
    (0.25, 0.33, "L"),
    (0.33, 0.4, "OW1"),
    (0.4, 0.45, "spn"),
    (0.45, 0.5, "sil"),
]
EXPECTED = (
    PhoneSpan("HH", 0.05, 0.12),
    PhoneSpan("AH0", 0.12, 0.2),
    PhoneSpan("L", 0.25, 0.33),
    PhoneSpan("OW1", 0.33, 0.4),
)
WORDS = [(0.0, 0.05, ""), (0.05, 0.4, "hello"), (0.4, 0.5, "")]


# ----------------------------------------------------------------------------- TextGrid


def test_long_and_short_textgrids_parse_to_the_same_alignment(tmp_path):
    tiers = {"words": WORDS, "phones": PHONES}
    (tmp_path / "long.TextGrid").write_text(textgrid_long(0.5, tiers))
    (tmp_path / "short.TextGrid").write_text(textgrid_short(0.5, tiers))
    long, short = (read_textgrid(tmp_path / f"{n}.TextGrid") for n in ("long", "short"))
    assert long == short
    assert long.tier_names() == ["words", "phones"] and long.xmax == 0.5
    assert long.tiers[1].items[1] == (0.05, 0.12, "HH")
    assert phone_alignment(long) == EXPECTED  # "", sil, sp, spn are silence


def test_textgrid_utf16_quotes_point_tiers_and_speaker_tiers(tmp_path):
    text = textgrid_short(0.5, {"19 - words": WORDS, "19 - phones": PHONES})
    text = text.replace('"hello"', '"say ""hi"" é"')
    text = text.replace("2\n", "3\n", 1) + '"TextTier"\n"events"\n0\n0.5\n1\n0.25\n"click"\n'
    (tmp_path / "u16.TextGrid").write_bytes(text.encode("utf-16"))
    grid = read_textgrid(tmp_path / "u16.TextGrid")
    assert grid.tiers[0].items[1][2] == 'say "hi" é'
    assert grid.tiers[2].kind == "TextTier" and grid.tiers[2].items == ((0.25, 0.25, "click"),)
    assert phone_alignment(grid, speaker="19") == EXPECTED
    words_only = read_textgrid(_write(tmp_path / "w.TextGrid", textgrid_long(0.5, {"w": WORDS})))
    with pytest.raises(ValueError, match=r"no interval tier 'phones' \(tiers: \['w'\]\)"):
        phone_alignment(words_only)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("mangle", "line_hint"),
    [
        (lambda t: t[: t.index("intervals [3]")], "ends where"),  # truncated
        (lambda t: t.replace("xmin = 0.12", "xmin = 0.01"), "out of order"),
        (lambda t: t.replace('text = "AH0"', "text = AH0"), "expected an interval label"),
        (lambda t: t.replace('"ooTextFile"', '"ooBinaryFile"'), "ooTextFile"),
    ],
    ids=["truncated", "order", "unquoted", "header"],
)
def test_corrupt_textgrids_name_the_file_line_and_fix(tmp_path, mangle, line_hint):
    path = _write(tmp_path / "bad.TextGrid", mangle(textgrid_long(0.5, {"phones": PHONES})))
    with pytest.raises(TextGridError) as err:
        read_textgrid(path)
    message = str(err.value)
    assert f"{path}:" in message and line_hint in message and "re-run the aligner" in message


# ------------------------------------------------------------------------ fake LibriTTS

SR24 = 24_000


def _wav(path, seconds=0.5, freq=220.0, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR24)) / SR24
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * freq * t) + noise, SR24, subtype="PCM_16")


# utt id -> (subset, text); speakers 19 and 26 train, 1089 test
UTTS = {
    "19_198_000000_000000": ("train-clean-100", "Hello there."),
    "19_198_000001_000000": ("train-clean-100", "A second one."),
    "26_495_000004_000000": ("train-clean-100", "Twenty six speaks."),
    "26_495_000009_000002": ("train-clean-100", "Only in the tsv."),
    "1089_134686_000001_000001": ("test-clean", "He hoped there would be stew."),
    "1089_134686_000002_000000": ("test-clean", "Stuff it into you."),
}


def fake_libritts(root, *, aligned=None, long_format=("19",), with_speakers_file=True):
    """Write a tiny LibriTTS tree and MFA TextGrids (``root/aligned``); returns that folder.

    TextGrids of speakers in ``long_format`` are written long and flat
    (``<speaker>/<utt>.TextGrid``), the others short in the corpus tree's mirror.
    """
    aligned = root / "aligned" if aligned is None else aligned
    for i, (utt, (subset, text)) in enumerate(UTTS.items()):
        speaker, chapter = utt.split("_")[:2]
        folder = root / "LibriTTS" / subset / speaker / chapter
        _wav(folder / f"{utt}.wav", seconds=0.5 + 0.1 * (i % 2), freq=150 + 40 * i, seed=i)
        if text != "Only in the tsv.":
            (folder / f"{utt}.normalized.txt").write_text(text)
            (folder / f"{utt}.original.txt").write_text(text.upper())
        with (folder / f"{speaker}_{chapter}.trans.tsv").open("a") as f:
            f.write(f"{utt}\t{text.upper()}\t{text}\n")
        tiers = {"words": WORDS, "phones": PHONES}
        if speaker in long_format:
            _write(aligned / speaker / f"{utt}.TextGrid", textgrid_long(0.5, tiers))
        else:
            mirror = aligned / subset / speaker / chapter / f"{utt}.TextGrid"
            _write(mirror, textgrid_short(0.5, tiers))
    if with_speakers_file:
        (root / "LibriTTS" / "SPEAKERS.txt").write_text(
            ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
            "19   | F | train-clean-100  | 25.19 | Kara Shallenberg\n"
            "26   | M | train-clean-100  | 25.08 | Denny Sayers\n"
            "1089 | M | test-clean       | 8.01  | Bill Kneeland\n"
        )
    return aligned


SUBSETS = {"train": "train-clean-100", "test": "test-clean"}


def test_libritts_records_have_speakers_texts_durations_and_phones(tmp_path):
    aligned = fake_libritts(tmp_path)
    paths = prepare_libritts(
        tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
    )
    utts, split = read_prepared(paths)
    by_id = {u.id: u for u in utts}
    assert set(by_id) == set(UTTS)
    assert set(split.train) == {u for u, (s, _) in UTTS.items() if s == "train-clean-100"}
    assert {by_id[u].speaker for u in split.test} == {"1089"}
    for i, (utt, (subset, text)) in enumerate(UTTS.items()):
        u = by_id[utt]
        assert u.speaker == utt.split("_")[0] and u.text == text
        assert u.labels["subset"] == subset and u.labels["text_original"] == text.upper()
        assert u.labels["chapter"] == utt.split("_")[1]
        assert u.sample_rate == SR24 and u.duration == pytest.approx(0.5 + 0.1 * (i % 2))
        assert u.alignment == EXPECTED
        assert sf.info(u.audio).frames == round(u.duration * SR24)
    speakers = json.loads((tmp_path / "out" / "speakers.json").read_text())
    assert speakers["19"]["sex"] == "F" and set(speakers) == {"19", "26", "1089"}
    summary = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert summary["splits"]["train"]["speakers"] == 2
    assert not list((tmp_path / "out").glob("unaligned_*"))


def test_libritts_textgrids_beside_the_wavs_and_rerun_is_identical(tmp_path):
    fake_libritts(tmp_path, aligned=tmp_path / "LibriTTS", long_format=())
    first = prepare_libritts(tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS)
    text = first["train"].read_text()
    second = prepare_libritts(tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS)
    assert second["train"].read_text() == text
    assert all(u.alignment == EXPECTED for u in read_manifest(first["test"]))


def test_libritts_unaligned_utterances_are_excluded_with_a_warning(tmp_path, caplog):
    aligned = fake_libritts(tmp_path)
    (aligned / "19" / "19_198_000001_000000.TextGrid").unlink()
    _write(
        aligned / "19" / "19_198_000000_000000.TextGrid",
        textgrid_long(0.5, {"words": WORDS, "phones": [(0.0, 0.5, "")]}),
    )
    with caplog.at_level(logging.WARNING, logger="audio_unlearn.data.corpora.libritts"):
        paths = prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
        )
    train = [u.id for u in read_manifest(paths["train"])]
    assert train == ["26_495_000004_000000", "26_495_000009_000002"]
    assert "2 of 4 utterances of split 'train' have no phone alignment" in caplog.text
    assert "19_198_000001_000000 (no 19_198_000001_000000.TextGrid)" in caplog.text
    report = (tmp_path / "out" / "unaligned_train.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in report] == ["19_198_000000_000000", "19_198_000001_000000"]
    kept = prepare_libritts(
        tmp_path / "LibriTTS",
        tmp_path / "kept",
        subsets=SUBSETS,
        alignments_dir=aligned,
        require_alignment=False,
    )
    without = [u for u in read_manifest(kept["train"]) if u.alignment is None]
    assert len(without) == 2


def test_libritts_without_any_textgrid_says_how_to_align(tmp_path):
    fake_libritts(tmp_path, aligned=tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError) as err:
        prepare_libritts(tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS)
    message = str(err.value)
    assert "none of the 4 utterances of split 'train'" in message
    assert "mfa align" in message and "alignments_dir" in message
    with pytest.raises(FileNotFoundError, match=r"alignments directory .*nowhere"):
        prepare_libritts(
            tmp_path / "LibriTTS",
            tmp_path / "o",
            subsets=SUBSETS,
            alignments_dir=tmp_path / "nowhere",
        )


def test_libritts_corrupt_textgrid_names_the_file(tmp_path):
    aligned = fake_libritts(tmp_path)
    bad = aligned / "19" / "19_198_000000_000000.TextGrid"
    bad.write_text(bad.read_text()[:300])
    with pytest.raises(TextGridError, match=r"19_198_000000_000000\.TextGrid:\d+:"):
        prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
        )
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_libritts_empty_or_missing_corpus_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="LibriTTS layout"):
        prepare_libritts(tmp_path / "nothing", tmp_path / "out", subsets=SUBSETS)
    (tmp_path / "LibriTTS" / "train-clean-100").mkdir(parents=True)
    (tmp_path / "LibriTTS" / "test-clean").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no wav files found under .*train-clean-100"):
        prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=tmp_path
        )
    with pytest.raises(ValueError, match=r"missing \['test'\]"):
        prepare_libritts(tmp_path / "LibriTTS", tmp_path / "out", subsets={"train": "x"})


def test_libritts_layout_and_alignment_mismatches_are_errors(tmp_path):
    aligned = fake_libritts(tmp_path)
    chapter = tmp_path / "LibriTTS" / "train-clean-100" / "26" / "495"
    (chapter / "26_495_000009_000002.wav").rename(chapter / "26_495_000009_000003.wav")
    with pytest.raises(ValueError, match=r"26_495_000009_000003\.wav has no transcript"):
        prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
        )
    (chapter / "26_495_000009_000003.wav").rename(chapter / "26_495_000009_000002.wav")
    long_grid = textgrid_long(2.0, {"phones": [(0.0, 1.5, "AA1"), (1.5, 2.0, "")]})
    _write(aligned / "19" / "19_198_000000_000000.TextGrid", long_grid)
    with pytest.raises(ValueError, match=r"phones run to 1\.500 s but .* lasts 0\.500 s"):
        prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
        )
    _write(aligned / "copy" / "19_198_000000_000000.TextGrid", long_grid)
    with pytest.raises(ValueError, match="two TextGrids for utterance '19_198_000000_000000'"):
        prepare_libritts(
            tmp_path / "LibriTTS", tmp_path / "out", subsets=SUBSETS, alignments_dir=aligned
        )


# ---------------------------------------------------------------------- fake LibriHeavy

SR16 = 16_000


RECORDINGS = [("small", "100", "sea_fairies"), ("small", "200", "oz"), ("test", "300", "emma")]
CUTS = {  # subset -> (speaker, start s, duration s, index in its recording)
    "small": [("100", 0.5, 1.0, 0), ("100", 2.0, 1.5, 1), ("200", 1.0, 2.0, 0)],
    "test_clean": [("300", 0.25, 1.0, 0)],
}


def heavy_cut(rel: str, speaker: str, start: float, duration: float, k: int, text_field: str):
    """One LibriHeavy manifest line (a lhotse MonoCut) as the published files hold it."""
    rec_id = rel[len("download/librilight/") : -len(".flac")]
    sup = {
        "id": f"{rec_id}_{k}",
        "recording_id": rec_id,
        "start": 0,
        "duration": duration,
        "channel": 0,
        "language": "English",
        "speaker": speaker,
    }
    if text_field == "custom":
        texts = [f"Cut {k}, said {speaker}.", f"CUT {k} SAID"]
        sup["custom"] = {"texts": texts, "pre_texts": ["", ""], "begin_byte": 0, "end_byte": 9}
    else:
        sup["text"] = f"CUT {k} SAID"
    recording = {
        "id": rec_id,
        "sources": [{"type": "file", "channels": [0], "source": rel}],
        "sampling_rate": SR16,
        "num_samples": 4 * SR16,
        "duration": 4.0,
        "channel_ids": [0],
    }
    cut = {"id": f"{rec_id}_{k}", "start": start, "duration": duration, "channel": 0}
    return {**cut, "supervisions": [sup], "recording": recording, "type": "MonoCut"}


def fake_libriheavy(root, *, text_field="custom"):
    """Libri-Light recordings (4 s of noise each) + LibriHeavy cut manifests."""
    rng = np.random.default_rng(0)
    recordings = {}
    for subset, speaker, book in RECORDINGS:
        rel = f"download/librilight/{subset}/{speaker}/{book}/01_{book}_64kb.flac"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), rng.uniform(-0.5, 0.5, 4 * SR16), SR16, subtype="PCM_16")
        recordings[speaker] = (rel, sf.read(str(path), dtype="float32")[0])
    manifests = root / "manifests"
    manifests.mkdir()
    for subset, items in CUTS.items():
        lines = [
            json.dumps(heavy_cut(recordings[spk][0], spk, start, dur, k, text_field))
            for spk, start, dur, k in items
        ]
        with gzip.open(manifests / f"libriheavy_cuts_{subset}.jsonl.gz", "wt") as f:
            f.write("\n".join(lines) + "\n")
    return manifests, {s: a for s, (_, a) in recordings.items()}


HEAVY = {"train": "small", "test": "test_clean"}


def test_libriheavy_cuts_audio_then_reads_alignments(tmp_path, caplog):
    manifests, audio = fake_libriheavy(tmp_path / "heavy")
    out = tmp_path / "out"
    # 1) no alignments yet: a clear error after the audio and .lab files are written
    with pytest.raises(FileNotFoundError, match="mfa align"):
        prepare_libriheavy(tmp_path / "heavy", out, manifests_dir=manifests, subsets=HEAVY)
    paths = prepare_libriheavy(
        tmp_path / "heavy", out, manifests_dir=manifests, subsets=HEAVY, require_alignment=False
    )
    utts = {u.id: u for u in read_manifest(paths["train"])}
    assert len(utts) == 3 and {u.speaker for u in utts.values()} == {"100", "200"}
    cut = utts["small/100/sea_fairies/01_sea_fairies_64kb_1"]
    assert cut.text == "Cut 1, said 100." and cut.duration == pytest.approx(1.5)
    assert cut.labels == {
        "subset": "small",
        "recording": "small/100/sea_fairies/01_sea_fairies_64kb",
        "start": "2.000",
    }
    samples, rate = sf.read(cut.audio, dtype="float32")
    assert rate == SR16
    np.testing.assert_allclose(samples, audio["100"][2 * SR16 : int(3.5 * SR16)], atol=1e-4)
    assert (out / "audio" / "small" / "100" / f"{file_name(cut.id)}.lab").read_text() == (
        "Cut 1, said 100.\n"
    )
    # 2) MFA's output (one cut left unaligned), found by file name at any depth
    aligned = tmp_path / "mfa"
    for u in [*utts.values(), *read_manifest(paths["test"])]:
        if u.id.endswith("oz/01_oz_64kb_0"):
            continue
        grid = textgrid_long(u.duration, {"phones": PHONES})
        _write(aligned / u.speaker / f"{file_name(u.id)}.TextGrid", grid)
    with caplog.at_level(logging.WARNING):
        paths = prepare_libriheavy(
            tmp_path / "heavy", out, manifests_dir=manifests, subsets=HEAVY, alignments_dir=aligned
        )
    train = read_manifest(paths["train"])
    assert [u.speaker for u in train] == ["100", "100"]
    assert all(u.alignment == EXPECTED for u in train)
    assert "1 of 3 utterances of split 'train'" in caplog.text
    assert read_manifest(paths["test"])[0].alignment == EXPECTED


def test_libriheavy_plain_text_manifests_and_librilight_root(tmp_path):
    manifests, _ = fake_libriheavy(tmp_path / "heavy", text_field="text")
    cuts = list(read_cuts(manifests / "libriheavy_cuts_small.jsonl.gz", max_cuts=2))
    assert [c.text for c in cuts] == ["CUT 0 SAID", "CUT 1 SAID"]
    paths = prepare_libriheavy(
        tmp_path / "heavy" / "download" / "librilight",  # the Libri-Light folder itself
        tmp_path / "out",
        manifests_dir=manifests,
        subsets=HEAVY,
        require_alignment=False,
        max_cuts=1,
    )
    assert len(read_manifest(paths["train"])) == 1


def test_libriheavy_missing_manifest_audio_and_bad_lines_are_named(tmp_path):
    manifests, _ = fake_libriheavy(tmp_path / "heavy")
    with pytest.raises(FileNotFoundError, match=r"libriheavy_cuts_medium\.jsonl\.gz.*pkufool"):
        prepare_libriheavy(
            tmp_path / "heavy",
            tmp_path / "o",
            manifests_dir=manifests,
            subsets={"train": "medium", "test": "test_clean"},
        )
    with pytest.raises(FileNotFoundError, match="download/librilight"):
        prepare_libriheavy(tmp_path, tmp_path / "o", manifests_dir=manifests, subsets=HEAVY)
    bad = manifests / "libriheavy_cuts_dev.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"id": "x", "start": 0, "duration": 1}\n')
    with pytest.raises(ValueError, match=r"libriheavy_cuts_dev\.jsonl\.gz:1: not a LibriHeavy cut"):
        list(read_cuts(bad))


def test_libritts_transcript_line_without_wav_is_named_not_dropped(tmp_path, caplog):
    """A ``.trans.tsv`` line whose wav is missing (an incomplete download) is an error
    naming the file; ``allow_missing_audio`` skips it with a warning that names it."""
    aligned = fake_libritts(tmp_path)
    gone = tmp_path / "LibriTTS" / "train-clean-100" / "26" / "495" / "26_495_000004_000000.wav"
    gone.unlink()
    args = (tmp_path / "LibriTTS", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"1 transcript line.*26_495_000004_000000\.wav"):
        prepare_libritts(*args, subsets=SUBSETS, alignments_dir=aligned)
    assert not (tmp_path / "out").exists()  # a failed prepare leaves nothing behind
    with caplog.at_level(logging.WARNING, logger="audio_unlearn.data.corpora.libritts"):
        paths = prepare_libritts(
            *args, subsets=SUBSETS, alignments_dir=aligned, allow_missing_audio=True
        )
    assert "26_495_000004_000000.wav" in caplog.text and "skipped" in caplog.text
    assert "26_495_000004_000000" not in {u.id for u in read_manifest(paths["train"])}


def test_libritts_missing_subset_is_refused_before_anything_is_written(tmp_path):
    """A missing subset is found before any split is read, so no ``unaligned_train.tsv``
    (or other file) is left behind; a failure after writing removes what it wrote."""
    aligned = fake_libritts(tmp_path)
    (aligned / "19" / "19_198_000001_000000.TextGrid").unlink()  # train writes a report
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a file that was there before")
    subsets = {"train": "train-clean-100", "test": "test-other"}
    with pytest.raises(FileNotFoundError, match="test-other"):
        prepare_libritts(tmp_path / "LibriTTS", out, subsets=subsets, alignments_dir=aligned)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    # a later failure (test speakers shared with train) removes the written report too
    subsets = {"train": "train-clean-100", "test": "train-clean-100", "valid": "test-clean"}
    with pytest.raises(ValueError):
        prepare_libritts(tmp_path / "LibriTTS", out, subsets=subsets, alignments_dir=aligned)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
