"""Named text normalisers applied before WER/CER scoring.

Word error rates from different evaluation suites are not comparable unless the text is
normalised the same way: "Don't!" against "dont" is one error, zero, or zero with a
different word count depending on the suite. Every WER this library reports therefore
names the normaliser that produced it (see :func:`audio_unlearn.evaluation.wer.wer_scores`).

Registered normalisers (look them up with :func:`normalise` or :func:`get_normaliser`):

``none``
    The text unchanged (only leading/trailing whitespace is stripped, which jiwer does
    anyway).
``punct_keep_apostrophe``
    The English rule of seed-tts-eval (``BytedanceSpeech/seed-tts-eval``, ``run_wer.py``,
    ``process_one``), used for the Seed-TTS test sets: every character of
    ``zhon.hanzi.punctuation + string.punctuation`` is deleted except the ASCII apostrophe
    ``'``, then the text is lower-cased. Deleted characters leave nothing behind, so
    ``well-known`` becomes ``wellknown``. Note that the typographic apostrophe ``’``
    (U+2019) *is* in zhon's set and is deleted (``don’t`` -> ``dont``), exactly as in the
    reference script; only ``'`` survives.
``strip_punct``
    The English rule of F5-TTS (``SWivid/F5-TTS``, ``src/f5_tts/eval/utils_eval.py``,
    ``run_asr_wer``): the same character set deleted *including* the apostrophe
    (``don't`` -> ``dont``), then lower-cased.
``whisper_english``
    ``EnglishTextNormalizer`` of the ``whisper-normalizer`` package (a copy of OpenAI
    Whisper's, Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
    Supervision", appendix C): lower-case, drop bracketed text and fillers, expand
    contractions, spell numbers as digits, British to American spelling, symbols to
    spaces.
``whisper_basic``
    ``BasicTextNormalizer`` of the same package: lower-case, drop bracketed text, replace
    symbols and punctuation (Unicode categories M, S, P) by spaces.

Whitespace: every normaliser collapses runs of whitespace into one space and strips both
ends. The reference scripts replace a double space once and leave the rest to jiwer's
default transform (``RemoveMultipleSpaces``, ``Strip``), so word-level scores are the
same; collapsing here makes the normalised strings themselves comparable and keeps CER
(where a space is a character) well defined.

The character set ``zhon.hanzi.punctuation`` (zhon 2.x, ``src/zhon/hanzi.py``: CJK and
fullwidth punctuation, typographic quotes, dashes, ellipsis, middle dot) is listed below
as data so that the ``zhon`` package is not a dependency.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import cache

__all__ = [
    "NORMALISERS",
    "PUNCTUATION_SEED_TTS",
    "get_normaliser",
    "normalise",
]

# zhon.hanzi.non_stops + zhon.hanzi.stops (zhon 2.x), written as code points.
_ZHON_HANZI_PUNCTUATION = (
    # fullwidth ASCII variants
    "\uff02\uff03\uff04\uff05\uff06\uff07\uff08\uff09\uff0a\uff0b\uff0c\uff0d"
    "\uff0f\uff1a\uff1b\uff1c\uff1d\uff1e\uff20\uff3b\uff3c\uff3d\uff3e\uff3f"
    "\uff40\uff5b\uff5c\uff5d\uff5e\uff5f\uff60"
    # halfwidth CJK punctuation
    "\uff62\uff63\uff64"
    # CJK symbols and punctuation (U+3000 is the ideographic space)
    "\u3000\u3001\u3003"
    # CJK angle and corner brackets
    "\u3008\u3009\u300a\u300b\u300c\u300d\u300e\u300f\u3010\u3011"
    # CJK brackets and symbols
    "\u3014\u3015\u3016\u3017\u3018\u3019\u301a\u301b\u301c\u301d\u301e\u301f"
    # other CJK symbols, special CJK indicators
    "\u3030\u303e\u303f"
    # en and em dash
    "\u2013\u2014"
    # typographic quotation marks and apostrophe
    "\u2018\u2019\u201b\u201c\u201d\u201e\u201f"
    # ellipsis, hyphenation point
    "\u2026\u2027"
    # wavy low line, small form variants
    "\ufe4f\ufe51\ufe54"
    # middle dot
    "\u00b7"
    # stops: fullwidth full stop / exclamation / question, halfwidth and ideographic stop
    "\uff0e\uff01\uff1f\uff61\u3002"
)

#: The characters both TTS suites delete: ``zhon.hanzi.punctuation + string.punctuation``.
PUNCTUATION_SEED_TTS: str = _ZHON_HANZI_PUNCTUATION + string.punctuation

_WHITESPACE = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _deletion_table(keep: str) -> dict[int, None]:
    return {ord(c): None for c in PUNCTUATION_SEED_TTS if c not in keep}


_DELETE_ALL = _deletion_table(keep="")
_DELETE_KEEP_APOSTROPHE = _deletion_table(keep="'")


def _none(text: str) -> str:
    return _collapse(text)


def _punct_keep_apostrophe(text: str) -> str:
    return _collapse(text.translate(_DELETE_KEEP_APOSTROPHE).lower())


def _strip_punct(text: str) -> str:
    return _collapse(text.translate(_DELETE_ALL).lower())


@cache
def _whisper(kind: str) -> Callable[[str], str]:
    # Imported lazily: the normaliser builds a few hundred regexes on construction.
    if kind == "english":
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def _whisper_english(text: str) -> str:
    return _collapse(_whisper("english")(text))


def _whisper_basic(text: str) -> str:
    return _collapse(_whisper("basic")(text))


#: Normaliser name -> function from raw text to normalised text.
NORMALISERS: dict[str, Callable[[str], str]] = {
    "none": _none,
    "punct_keep_apostrophe": _punct_keep_apostrophe,
    "strip_punct": _strip_punct,
    "whisper_english": _whisper_english,
    "whisper_basic": _whisper_basic,
}


def get_normaliser(name: str) -> Callable[[str], str]:
    """Return the normaliser registered as ``name``.

    Args:
        name: One of :data:`NORMALISERS` (``none``, ``punct_keep_apostrophe``,
            ``strip_punct``, ``whisper_english``, ``whisper_basic``).

    Raises:
        ValueError: ``name`` is not registered.
    """
    try:
        return NORMALISERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown text normaliser {name!r}; choose one of {sorted(NORMALISERS)}"
        ) from None


def normalise(text: str, name: str) -> str:
    """Normalise ``text`` with the normaliser registered as ``name``.

    Args:
        text: Raw reference or hypothesis text.
        name: Normaliser name (see the module docstring for each rule and its source).

    Returns:
        The normalised text: single spaces, no leading or trailing whitespace.

    Raises:
        ValueError: ``name`` is unknown or ``text`` is not a string.

    Example:
        >>> normalise("Don't stop, well-known!", "punct_keep_apostrophe")
        "don't stop wellknown"
    """
    fn = get_normaliser(name)
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}: {text!r}")
    return fn(text)
