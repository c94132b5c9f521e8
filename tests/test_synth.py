"""Tests of the espeak-ng synthetic spoken-command corpus (audio_unlearn.data.synth)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_unlearn.data import synth
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.synth import (
    ACCENTS,
    INTENTS,
    VARIANTS,
    SynthConfig,
    SynthCorpus,
    synthesize_corpus,
    synthesize_phrase,
)

pytestmark = pytest.mark.synth

TINY = SynthConfig(n_speakers=4, repeats_per_intent=1, n_intents=3, seed=0, noise="mid")
PHONE_RE = re.compile(r"^[!-~]{1,8}$")  # espeak-ng mnemonics: 1-8 printable ASCII characters


def _needs_espeak() -> None:
    # `make test` installs the synth extra: without it these tests fail rather than skip
    import espeakng_loader  # noqa: F401


def _make(tmp_path_factory: pytest.TempPathFactory, name: str, config: SynthConfig):
    _needs_espeak()
    parent = tmp_path_factory.mktemp(name)
    return synthesize_corpus(parent / "corpus", config, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> SynthCorpus:
    return _make(tmp_path_factory, "mid", TINY)


@pytest.fixture(scope="module")
def corpus_again(tmp_path_factory) -> SynthCorpus:
    return _make(tmp_path_factory, "mid_again", TINY)


@pytest.fixture(scope="module")
def corpus_seed1(tmp_path_factory) -> SynthCorpus:
    return _make(tmp_path_factory, "mid_seed1", dataclasses.replace(TINY, seed=1))


@pytest.fixture(scope="module")
def clean_corpus(tmp_path_factory) -> SynthCorpus:
    return _make(tmp_path_factory, "clean", dataclasses.replace(TINY, noise="clean"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wavs(corpus: SynthCorpus) -> dict[str, Path]:
    return {p.relative_to(corpus.root).as_posix(): p for p in corpus.root.rglob("*.wav")}


def _f0(x: np.ndarray, sr: int) -> float:
    """Median F0 (Hz) of the voiced frames, by normalised autocorrelation."""
    frame, hop = int(0.04 * sr), int(0.01 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    frames = [x[i : i + frame] for i in range(0, len(x) - frame, hop)]
    energy = np.array([np.sum(f**2) for f in frames])
    f0s = []
    for f, e in zip(frames, energy, strict=True):
        if e < 0.3 * energy.max():
            continue
        f = f - f.mean()
        ac = np.correlate(f, f, mode="full")[frame - 1 :]
        ac = ac / max(ac[0], 1e-12)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(sr / lag)
    assert f0s, "no voiced frame found"
    return float(np.median(f0s))


# ---------------------------------------------------------------------------- content


def test_intents_are_well_formed():
    assert len(INTENTS) == 28
    names = [i.name for i in INTENTS]
    assert len(set(names)) == 28
    texts = [t for i in INTENTS for t in i.phrasings]
    assert all(len(i.phrasings) == 3 for i in INTENTS)
    assert len(set(texts)) == len(texts), "a phrasing is shared by two intents"
    for intent in INTENTS:
        labels = intent.labels()
        assert labels["intent"] == f"{labels['action']}_{labels['object']}_{labels['location']}"
    assert {i.location for i in INTENTS} == {"none", "kitchen", "bedroom", "washroom"}
    assert len(ACCENTS) == 8 and len(set(VARIANTS)) == 24


def test_config_validation():
    with pytest.raises(ValueError, match="noise"):
        SynthConfig(noise="loud")
    with pytest.raises(ValueError, match="n_speakers"):
        SynthConfig(n_speakers=0)
    with pytest.raises(ValueError, match="n_intents"):
        SynthConfig(n_intents=29)
    with pytest.raises(ValueError, match="repeats_per_intent"):
        SynthConfig(repeats_per_intent=0)
    assert SynthConfig().n_utterances == 48 * 28 * 2


def test_missing_extra_raises_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes the import fail
    with pytest.raises(ImportError, match=re.escape("audio-unlearn[synth]")):
        synthesize_corpus(tmp_path / "c", TINY, progress=False)
    assert not (tmp_path / "c").exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- corpus


def test_layout_and_manifest(corpus):
    assert corpus.manifest == corpus.root / "manifest.jsonl"
    assert corpus.speakers == corpus.root / "speakers.tsv"
    info = json.loads((corpus.root / "corpus.json").read_text())
    assert info["config"] == dataclasses.asdict(TINY)
    assert info["counts"] == {"speakers": 4, "intents": 3, "utterances": 12}
    assert re.match(r"^\d+\.\d+", info["espeak_ng_version"])

    utts = read_manifest(corpus.manifest)
    assert len(utts) == 12 and utts == corpus.utterances()
    assert {u.speaker for u in utts} == {"spk00", "spk01", "spk02", "spk03"}
    by_text = {t: i for i in INTENTS for t in i.phrasings}
    for u in utts:
        assert re.fullmatch(r"spk\d\d_u\d{4}", u.id) and u.id.startswith(u.speaker + "_")
        assert Path(u.audio).is_file()
        assert Path(u.audio).parent.name == u.speaker
        assert u.labels == by_text[u.text].labels()  # the label matches the spoken text
    # Audio paths are stored relative to the corpus root, so it can be moved.
    for line in corpus.manifest.read_text().splitlines():
        audio = json.loads(line)["audio"]
        assert not Path(audio).is_absolute() and audio.startswith("wavs/")
    assert {u.labels["intent"] for u in utts} == {i.name for i in INTENTS[:3]}


def test_speakers_table(corpus):
    rows = [line.split("\t") for line in corpus.speakers.read_text().splitlines()]
    assert rows[0] == ["speaker", "accent", "variant", "pitch", "rate"]
    assert [r[0] for r in rows[1:]] == ["spk00", "spk01", "spk02", "spk03"]
    for _, accent, variant, pitch, rate in rows[1:]:
        assert accent in ACCENTS and variant in VARIANTS
        assert 25 <= int(pitch) <= 75 and 130 <= int(rate) <= 190
    assert len({(r[1], r[2]) for r in rows[1:]}) == 4  # distinct voices


def test_wavs_are_16k_mono_window_length(corpus):
    n = round(TINY.window_s * TINY.sample_rate)
    for u in read_manifest(corpus.manifest):
        info = sf.info(u.audio)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, n)
        assert info.subtype == "PCM_16"
        assert u.duration == pytest.approx(TINY.window_s) and u.sample_rate == 16000
        x, _ = sf.read(u.audio, dtype="float32")
        assert np.all(np.isfinite(x))
        assert np.sqrt(np.mean(x**2)) > 1e-3, f"{u.id} is silent"
        assert np.max(np.abs(x)) < 0.999, f"{u.id} clips"


def test_alignments_monotonic_and_plausible(corpus):
    for u in read_manifest(corpus.manifest):
        spans = u.alignment
        assert spans, f"{u.id} has no alignment"
        assert len(spans) >= len(u.text.split())
        prev_end = 0.0
        for p in spans:
            assert PHONE_RE.match(p.phone) and not p.phone.startswith("_"), p.phone
            assert prev_end - 1e-9 <= p.start < p.end <= u.duration + 1e-9
            prev_end = p.end
        assert spans[0].start <= 0.3 + 0.15  # time shift <= 0.3 s, little leading silence


def test_alignment_matches_audio(clean_corpus):
    # In the clean corpus the window is digital silence outside the speech, so the
    # alignment must line up with where the samples are non-zero (time shift included).
    shifts = []
    for u in read_manifest(clean_corpus.manifest):
        x, sr = sf.read(u.audio, dtype="float32")
        loud = np.nonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))[0]
        first, last = loud[0] / sr, loud[-1] / sr
        assert abs(first - u.alignment[0].start) < 0.08, (u.id, first, u.alignment[0])
        assert abs(last - u.alignment[-1].end) < 0.12, (u.id, last, u.alignment[-1])
        shifts.append(np.nonzero(x)[0][0] / sr)
    assert max(shifts) - min(shifts) > 0.05  # the time shift varies


def test_phrase_phones_and_pitch():
    _needs_espeak()
    audio, spans = synthesize_phrase("Turn on the lights", accent="en-us", variant="m3")
    phones = [p.phone.lstrip("',") for p in spans]
    assert phones[-4:] == ["l", "aI", "t", "s"], phones
    assert spans[-1].end <= len(audio) / 16000 + 1e-6
    low, _ = synthesize_phrase("Turn on the lights", accent="en-us", variant="m3", pitch=25)
    high, _ = synthesize_phrase("Turn on the lights", accent="en-us", variant="m3", pitch=75)
    f_low, f_high = _f0(low, 16000), _f0(high, 16000)
    assert f_high > 1.3 * f_low, (f_low, f_high)


def test_speakers_differ_in_pitch(clean_corpus):
    rows = [line.split("\t") for line in clean_corpus.speakers.read_text().splitlines()[1:]]
    f0 = {}
    for u in read_manifest(clean_corpus.manifest):
        x, sr = sf.read(u.audio, dtype="float32")
        f0.setdefault(u.speaker, []).append(_f0(x, sr))
    medians = {s: float(np.median(v)) for s, v in f0.items()}
    assert set(medians) == {r[0] for r in rows}
    assert max(medians.values()) > 1.2 * min(medians.values()), medians


# ---------------------------------------------------------------------------- determinism


def test_same_seed_is_byte_identical(corpus, corpus_again):
    a, b = _wavs(corpus), _wavs(corpus_again)
    assert sorted(a) == sorted(b) and len(a) == 12
    for rel in a:
        assert _digest(a[rel]) == _digest(b[rel]), rel
    for name in ("manifest.jsonl", "speakers.tsv", "corpus.json"):
        assert _digest(corpus.root / name) == _digest(corpus_again.root / name), name


def test_different_seed_differs(corpus, corpus_seed1):
    a, b = _wavs(corpus), _wavs(corpus_seed1)
    assert sorted(a) == sorted(b)
    for rel in a:
        xa, _ = sf.read(a[rel], dtype="int16")
        xb, _ = sf.read(b[rel], dtype="int16")
        assert not np.array_equal(xa, xb), rel
    assert corpus.speakers.read_text() != corpus_seed1.speakers.read_text()


def test_speech_does_not_depend_on_history():
    # espeak-ng keeps state between sentences; each sentence must come out the same
    # whatever was spoken before it (this is what makes corpora reproducible).
    _needs_espeak()
    kw = {"accent": "en-gb-x-rp", "variant": "f1", "pitch": 40, "rate": 150}
    with synth._Espeak() as engine:
        alone = engine.speak("Make it louder", **kw)
    with synth._Espeak() as engine:
        engine.speak("Bring me the newspaper", accent="en-us", variant="m3", pitch=70, rate=180)
        engine.speak("Lights off", accent="en-029", variant="Andrea", pitch=30, rate=130)
        after = engine.speak("Make it louder", **kw)
    assert np.array_equal(alone.samples, after.samples)
    assert alone.phones == after.phones


# ---------------------------------------------------------------------------- reuse, errors


def test_reuse_and_config_mismatch(corpus, capsys):
    stamp = {p: p.stat().st_mtime_ns for p in corpus.root.rglob("*") if p.is_file()}
    again = synthesize_corpus(corpus.root, TINY, progress=False)
    assert again == corpus
    assert "reusing" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in corpus.root.rglob("*") if p.is_file()} == stamp
    with pytest.raises(ValueError, match="overwrite=True"):
        synthesize_corpus(corpus.root, dataclasses.replace(TINY, seed=5), progress=False)
    assert {p: p.stat().st_mtime_ns for p in corpus.root.rglob("*") if p.is_file()} == stamp


def test_overwrite_replaces_corpus(tmp_path):
    _needs_espeak()
    one = SynthConfig(n_speakers=1, repeats_per_intent=1, n_intents=1, noise="clean")
    two = dataclasses.replace(one, n_intents=2)
    synthesize_corpus(tmp_path / "c", one, progress=False)
    out = synthesize_corpus(tmp_path / "c", two, progress=False, overwrite=True)
    assert len(read_manifest(out.manifest)) == 2
    assert json.loads((out.root / "corpus.json").read_text())["config"]["n_intents"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_no_temp_directory_left(corpus, corpus_again):
    for c in (corpus, corpus_again):
        assert [p.name for p in c.root.parent.iterdir()] == ["corpus"]
        assert sorted(p.name for p in c.root.iterdir()) == [
            "corpus.json",
            "manifest.jsonl",
            "speakers.tsv",
            "wavs",
        ]


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    _needs_espeak()
    calls = []
    render = synth._render

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return render(*args, **kwargs)

    monkeypatch.setattr(synth, "_render", failing)
    with pytest.raises(RuntimeError, match="boom"):
        synthesize_corpus(tmp_path / "c", TINY, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refuses_foreign_directory(tmp_path):
    _needs_espeak()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"no corpus\.json"):
            synthesize_corpus(tmp_path / "c", TINY, progress=False, overwrite=overwrite)
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["notes.txt"]
