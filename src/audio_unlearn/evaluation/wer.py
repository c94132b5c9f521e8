"""Word and character error rates (WER / CER) with a named text normaliser.

Two averages are reported because the literature uses both and they differ:

- ``corpus_wer``: total edits / total reference words over the whole set (the ASR
  convention; jiwer's ``wer(list, list)``; long utterances weigh more).
- ``mean_utterance_wer``: the mean of per-utterance error rates (the zero-shot TTS
  convention: seed-tts-eval and F5-TTS score each utterance with jiwer and average; the
  speaker-forgetting paper, Kim et al., ICML 2025, arXiv 2507.20140, reports WER this way).

The edit counts come from jiwer (Levenshtein alignment of words, or of characters for
CER, spaces included), after both references and hypotheses are normalised by the same
named normaliser (:mod:`audio_unlearn.evaluation.text`); the normaliser's name and the
unit are recorded in every result.

Empty references (after normalisation) have no defined error rate. By default they are an
error naming the utterance; with ``empty_references="skip"`` they are left out of both
averages, their count is reported as ``n_skipped`` and their per-utterance entry is
``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jiwer

from audio_unlearn.evaluation.text import get_normaliser

__all__ = ["WERResult", "wer_scores"]

_UNITS = ("word", "char")
_EMPTY_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class WERResult:
    """Error rates of a set of hypotheses against their references.

    Attributes:
        corpus_wer: Total edits / total reference units (words, or characters when
            ``unit == "char"``, in which case this is the corpus CER).
        mean_utterance_wer: Mean over utterances of each utterance's edits / reference units.
        n: Utterances scored (skipped ones excluded).
        normaliser: Name of the text normaliser applied to references and hypotheses.
        unit: ``"word"`` (WER) or ``"char"`` (CER).
        per_utterance: Error rate of every input utterance in input order (``None`` for
            a skipped empty reference).
        substitutions: Total substituted units.
        deletions: Total deleted units.
        insertions: Total inserted units.
        reference_units: Total reference units (the corpus denominator).
        n_skipped: Utterances left out because their normalised reference was empty.
    """

    corpus_wer: float
    mean_utterance_wer: float
    n: int
    normaliser: str
    unit: str
    per_utterance: tuple[float | None, ...]
    substitutions: int
    deletions: int
    insertions: int
    reference_units: int
    n_skipped: int

    def to_dict(self, *, include_per_utterance: bool = True) -> dict[str, Any]:
        """JSON-ready dictionary (the normaliser and unit always included)."""
        out: dict[str, Any] = {
            "corpus_wer": self.corpus_wer,
            "mean_utterance_wer": self.mean_utterance_wer,
            "n": self.n,
            "normaliser": self.normaliser,
            "unit": self.unit,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "reference_units": self.reference_units,
            "n_skipped": self.n_skipped,
        }
        if include_per_utterance:
            out["per_utterance"] = list(self.per_utterance)
        return out


def _check_texts(values: Sequence[str], name: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {type(values).__name__}")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ValueError(f"{name}[{i}] must be a str, got {type(v).__name__}: {v!r}")
    return list(values)


def wer_scores(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    normaliser: str = "none",
    unit: str = "word",
    empty_references: str = "error",
) -> WERResult:
    """Score hypotheses against references after a named normalisation.

    Args:
        references: Ground-truth texts, one per utterance.
        hypotheses: Recognised texts, aligned with ``references`` (an empty hypothesis
            is allowed: all reference units are deletions).
        normaliser: Name of a normaliser in :data:`audio_unlearn.evaluation.text.NORMALISERS`,
            applied to both sides.
        unit: ``"word"`` for WER or ``"char"`` for CER (characters after normalisation,
            spaces between words counted as characters, as jiwer's ``cer``).
        empty_references: What to do with a reference that is empty after normalisation:
            ``"error"`` raises, ``"skip"`` leaves it out and counts it in ``n_skipped``.

    Returns:
        A :class:`WERResult` with corpus-level and mean per-utterance rates.

    Raises:
        ValueError: Lengths differ, the input is empty, an entry is not a string, an
            option is unknown, or a normalised reference is empty with
            ``empty_references="error"``.
    """
    refs = _check_texts(references, "references")
    hyps = _check_texts(hypotheses, "hypotheses")
    if len(refs) != len(hyps):
        raise ValueError(
            f"references and hypotheses must have the same length, got {len(refs)} and {len(hyps)}"
        )
    if not refs:
        raise ValueError("references is empty; need at least one utterance to score")
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}")
    if empty_references not in _EMPTY_POLICIES:
        raise ValueError(
            f"empty_references must be one of {_EMPTY_POLICIES}, got {empty_references!r}"
        )
    norm = get_normaliser(normaliser)
    refs = [norm(r) for r in refs]
    hyps = [norm(h) for h in hyps]

    empty = [i for i, r in enumerate(refs) if not r]
    if empty and empty_references == "error":
        i = empty[0]
        raise ValueError(
            f"{len(empty)} reference(s) are empty after the {normaliser!r} normaliser, first "
            f"at index {i} (raw text {references[i]!r}); WER is undefined for them: remove "
            "them or pass empty_references='skip'"
        )
    kept = [i for i, r in enumerate(refs) if r]
    if not kept:
        raise ValueError(f"every reference is empty after the {normaliser!r} normaliser")

    kept_refs = [refs[i] for i in kept]
    kept_hyps = [hyps[i] for i in kept]
    if unit == "word":
        out = jiwer.process_words(kept_refs, kept_hyps)
    else:
        out = jiwer.process_characters(kept_refs, kept_hyps)

    per_utterance: list[float | None] = [None] * len(refs)
    rates = []
    for index, ref_tokens, chunks in zip(kept, out.references, out.alignments, strict=True):
        edits = 0
        for chunk in chunks:
            if chunk.type in ("substitute", "delete"):
                edits += chunk.ref_end_idx - chunk.ref_start_idx
            elif chunk.type == "insert":
                edits += chunk.hyp_end_idx - chunk.hyp_start_idx
        rate = edits / len(ref_tokens)
        per_utterance[index] = rate
        rates.append(rate)

    reference_units = sum(len(r) for r in out.references)
    total_edits = out.substitutions + out.deletions + out.insertions
    return WERResult(
        corpus_wer=total_edits / reference_units,
        mean_utterance_wer=sum(rates) / len(rates),
        n=len(kept),
        normaliser=normaliser,
        unit=unit,
        per_utterance=tuple(per_utterance),
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        reference_units=reference_units,
        n_skipped=len(empty),
    )
