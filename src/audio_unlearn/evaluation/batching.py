"""Length bucketing: group variable-length items into batches that waste little padding.

Model-backed evaluators (ASR transcribers, speaker encoders) run many utterances of
different lengths through a network. Padding a batch to its longest item costs compute
(and, for models without an attention mask, changes results), so items are sorted by
length and cut into batches of similar length. :func:`length_batches` is the one
implementation used by :mod:`audio_unlearn.evaluation.asr` and
:mod:`audio_unlearn.evaluation.speaker`; it returns *indices into the input*, so a caller
writes each item's result back to its input position and the output order never depends
on the batching::

    batches = length_batches([w.numel() for w in wavs], max_batch_samples=16000 * 16)
    out = [None] * len(wavs)
    for batch in batches:
        results = model(pad([wavs[i] for i in batch]))
        for row, i in enumerate(batch):
            out[i] = results[row]

This is the sorted-length ("bucket by sequence length") batching used throughout speech
toolkits, e.g. the length-sorted batches of Baidu's Deep Speech 2 (Amodei et al., ICML 2016)
and the dynamic batching of SpeechBrain and lhotse; here it is greedy and deterministic.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

__all__ = ["length_batches"]


def _positive_int_or_none(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _check_lengths(lengths: Sequence[int]) -> list[int]:
    try:
        if isinstance(lengths, (str, bytes)):
            raise TypeError
        items = list(lengths)
    except TypeError:
        raise ValueError(
            f"lengths must be a sequence of ints, got {type(lengths).__name__}"
        ) from None
    out = []
    for i, n in enumerate(items):
        if isinstance(n, bool):
            raise ValueError(f"lengths[{i}] must be an int, got {n!r}")
        try:
            value = operator.index(n)
        except TypeError:
            raise ValueError(f"lengths[{i}] must be an int, got {n!r}") from None
        if value < 0:
            raise ValueError(f"lengths[{i}] must be >= 0, got {value}")
        out.append(value)
    return out


def length_batches(
    lengths: Sequence[int],
    *,
    max_batch_samples: int | None = None,
    max_batch_size: int | None = None,
    max_padding: int | None = None,
    padded_length: Callable[[int], int] | None = None,
    longest_first: bool = True,
) -> list[list[int]]:
    """Group item indices into batches of similar length under a padding budget.

    Items are sorted by length (longest first by default; ties keep input order) and
    added greedily to the current batch while every given limit holds for the batch with
    the new item:

    - ``max_batch_samples``: ``len(batch) * padded_length(longest in batch)``, the padded
      size in samples, stays within the budget;
    - ``max_batch_size``: the batch holds at most this many items;
    - ``max_padding``: longest minus shortest item is at most this many samples (``0``
      batches only items of identical length, for models whose output padding changes).

    Otherwise the current batch is closed and the item starts a new one; an item that
    alone exceeds ``max_batch_samples`` gets a batch of its own (it is never dropped).

    Args:
        lengths: Length of each item (samples, frames...), non-negative ints.
        max_batch_samples: Budget of padded samples per batch (``None``: no budget).
        max_batch_size: Maximum items per batch (``None``: no cap).
        max_padding: Maximum length difference within a batch (``None``: any).
        padded_length: Maps the longest length of a batch to the length every item of it
            is padded to (identity by default; Whisper pads every clip to 30 s).
        longest_first: Sort longest first (the largest batch runs first, so a batch that
            does not fit in memory fails at once); ``False`` sorts shortest first.

    Returns:
        Batches of indices into ``lengths``, each sorted by length in the chosen direction
        (``batch[0]`` is the longest item when ``longest_first``); together they hold every
        index exactly once, so per-item results can be written back in input order.

    Raises:
        ValueError: Neither ``max_batch_samples`` nor ``max_batch_size`` is given, a
            limit is not a positive int (``max_padding``: a non-negative int), or a length
            is not a non-negative int.

    Example:
        >>> length_batches([5, 9, 3, 9], max_batch_samples=20)
        [[1, 3], [0, 2]]
        >>> length_batches([10, 30, 11, 12], max_batch_size=8, max_padding=2)
        [[1], [3, 2, 0]]
    """
    max_batch_samples = _positive_int_or_none(max_batch_samples, "max_batch_samples")
    max_batch_size = _positive_int_or_none(max_batch_size, "max_batch_size")
    if max_batch_samples is None and max_batch_size is None:
        raise ValueError(
            "give max_batch_samples (padded samples per batch) and/or max_batch_size (items "
            "per batch); an unbounded batch would hold the whole input"
        )
    if max_padding is not None and (
        isinstance(max_padding, bool) or not isinstance(max_padding, int) or max_padding < 0
    ):
        raise ValueError(f"max_padding must be None or an int >= 0, got {max_padding!r}")
    sizes = _check_lengths(lengths)
    pad = padded_length or (lambda n: n)
    sign = -1 if longest_first else 1
    order = sorted(range(len(sizes)), key=lambda i: (sign * sizes[i], i))

    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current:
            first = sizes[current[0]]  # sorted: the batch spans [first, sizes[i]]
            longest = max(first, sizes[i])
            fits = max_batch_size is None or len(current) < max_batch_size
            if fits and max_batch_samples is not None:
                fits = (len(current) + 1) * pad(longest) <= max_batch_samples
            if fits and max_padding is not None:
                fits = abs(sizes[i] - first) <= max_padding
            if fits:
                current.append(i)
                continue
            batches.append(current)
        current = [i]
    if current:
        batches.append(current)
    return batches
