"""Named text normalisers and WER/CER against jiwer."""

import json

import jiwer
import pytest

from audio_unlearn.evaluation.text import NORMALISERS, PUNCTUATION_SEED_TTS, normalise
from audio_unlearn.evaluation.wer import wer_scores

SENTENCE = (
    "Mr. Smith said: \"I'm 25 years old, don't you know?\"  It's twenty-five dollars; well-known!"
)

# Hand-derived from each suite's rules (see the module docstring of evaluation.text).
EXPECTED = {
    "none": (
        "Mr. Smith said: \"I'm 25 years old, don't you know?\" "
        "It's twenty-five dollars; well-known!"
    ),
    # seed-tts-eval: delete punctuation except ', lower-case ("-" leaves no space)
    "punct_keep_apostrophe": (
        "mr smith said i'm 25 years old don't you know it's twentyfive dollars wellknown"
    ),
    # F5-TTS: delete all punctuation including the apostrophe, lower-case
    "strip_punct": "mr smith said im 25 years old dont you know its twentyfive dollars wellknown",
    # Whisper English: titles spelled out, contractions expanded, numbers as digits
    "whisper_english": "mister smith said i am 25 years old do not you know it is $25 well known",
    # Whisper basic: every symbol/punctuation mark becomes a space
    "whisper_basic": (
        "mr smith said i m 25 years old don t you know it s twenty five dollars well known"
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_normaliser_on_punctuation_apostrophes_and_numbers(name):
    assert normalise(SENTENCE, name) == EXPECTED[name]


def test_every_registered_normaliser_is_tested():
    assert set(NORMALISERS) == set(EXPECTED)


def test_seed_tts_character_set_follows_the_reference_scripts():
    # zhon.hanzi.punctuation holds the typographic apostrophe: only ASCII ' survives
    text = "Don\u2019t say \u201cyes\u201d\u2014ok\u2026 \u4f60\u597d\uff0c\u4e16\u754c\u3002"
    assert normalise(text, "punct_keep_apostrophe") == "dont say yesok 你好世界"
    assert normalise(text, "strip_punct") == "dont say yesok 你好世界"
    assert "'" in PUNCTUATION_SEED_TTS and "\u2019" in PUNCTUATION_SEED_TTS
    assert normalise("rock 'n' roll", "punct_keep_apostrophe") == "rock 'n' roll"
    assert normalise("rock 'n' roll", "strip_punct") == "rock n roll"


def test_unknown_normaliser_and_bad_text():
    with pytest.raises(ValueError, match="unknown text normaliser 'seed'"):
        normalise("x", "seed")
    with pytest.raises(ValueError, match="must be a str"):
        normalise(3, "none")


REFS = [
    "The quick brown fox, jumps over the lazy dog.",
    "I'm 25 years old!",
    "Don't stop believing",
    "Hello world",
]
HYPS = [
    "the quick brown fox jumped over a lazy dog",
    "I am twenty five years old",
    "dont stop believing now",
    "",
]


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_wer_equals_jiwer_on_the_normalised_strings(name):
    refs = [normalise(r, name) for r in REFS]
    hyps = [normalise(h, name) for h in HYPS]
    result = wer_scores(REFS, HYPS, normaliser=name)
    assert result.corpus_wer == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
    per = [jiwer.wer(r, h) for r, h in zip(refs, hyps, strict=True)]
    assert result.per_utterance == pytest.approx(per, abs=1e-12)
    assert result.mean_utterance_wer == pytest.approx(sum(per) / len(per), abs=1e-12)
    assert result.normaliser == name and result.unit == "word" and result.n == 4
    measures = jiwer.process_words(refs, hyps)
    assert (result.substitutions, result.deletions, result.insertions) == (
        measures.substitutions,
        measures.deletions,
        measures.insertions,
    )


def test_normaliser_changes_the_score_and_is_recorded():
    raw = wer_scores(REFS, HYPS, normaliser="none")
    seed = wer_scores(REFS, HYPS, normaliser="punct_keep_apostrophe")
    f5 = wer_scores(REFS, HYPS, normaliser="strip_punct")
    # "don't" vs "dont": an error with the apostrophe kept, a match without it
    assert seed.per_utterance[2] == pytest.approx(2 / 3)
    assert f5.per_utterance[2] == pytest.approx(1 / 3)
    assert raw.corpus_wer > seed.corpus_wer > f5.corpus_wer
    d = f5.to_dict()
    assert d["normaliser"] == "strip_punct" and d["unit"] == "word"
    assert json.loads(json.dumps(d)) == d


def test_corpus_and_mean_utterance_wer_differ():
    refs = ["a b c d e f g h i j", "k"]
    hyps = ["a b c d e f g h i j", "x"]
    result = wer_scores(refs, hyps)
    assert result.corpus_wer == pytest.approx(1 / 11)  # 1 edit over 11 reference words
    assert result.mean_utterance_wer == pytest.approx(0.5)  # mean of 0 and 1
    assert result.reference_units == 11


def test_cer_equals_jiwer_cer():
    name = "strip_punct"
    refs = [normalise(r, name) for r in REFS]
    hyps = [normalise(h, name) for h in HYPS]
    result = wer_scores(REFS, HYPS, normaliser=name, unit="char")
    assert result.corpus_wer == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)
    assert result.per_utterance == pytest.approx(
        [jiwer.cer(r, h) for r, h in zip(refs, hyps, strict=True)], abs=1e-12
    )
    assert result.unit == "char"
    assert result.reference_units == sum(len(r) for r in refs)  # spaces count
    assert wer_scores(["abcd"], ["abxd"], unit="char").corpus_wer == pytest.approx(0.25)


def test_empty_references_error_or_skip():
    refs = ["hello world", "...", "good morning"]
    hyps = ["hello word", "uh", "good morning"]
    with pytest.raises(ValueError, match=r"1 reference\(s\) are empty.*index 1"):
        wer_scores(refs, hyps, normaliser="strip_punct")
    result = wer_scores(refs, hyps, normaliser="strip_punct", empty_references="skip")
    assert result.n == 2 and result.n_skipped == 1
    assert result.per_utterance == (0.5, None, 0.0)
    assert result.corpus_wer == pytest.approx(1 / 4)
    assert result.mean_utterance_wer == pytest.approx(0.25)
    assert result.to_dict()["per_utterance"][1] is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        wer_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        wer_scores([], [])
    with pytest.raises(ValueError, match="unit"):
        wer_scores(["a"], ["a"], unit="phone")
    with pytest.raises(ValueError, match=r"hypotheses\[0\] must be a str"):
        wer_scores(["a"], [None])
    with pytest.raises(ValueError, match="list of strings"):
        wer_scores("a b", "a b")
    with pytest.raises(ValueError, match="empty_references"):
        wer_scores(["a"], ["a"], empty_references="zero")
