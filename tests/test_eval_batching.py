"""Length bucketing shared by the ASR transcribers and speaker encoders."""

import numpy as np
import pytest

from audio_unlearn.evaluation.asr import bucket_by_length
from audio_unlearn.evaluation.batching import length_batches
from audio_unlearn.evaluation.speaker import length_buckets


def _check_partition(batches, n):
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n)), "every index exactly once"


def test_budget_longest_first_and_oversized_item_alone():
    lengths = [5, 9, 3, 9, 7, 1, 20]
    batches = length_batches(lengths, max_batch_samples=20)
    assert batches == [[6], [1, 3], [4, 0], [2, 5]]
    _check_partition(batches, len(lengths))
    for b in batches:
        assert lengths[b[0]] == max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * lengths[b[0]] <= 20
    # an item over the budget is kept, alone
    assert length_batches([50, 2, 2], max_batch_samples=10) == [[0], [1, 2]]


def test_batch_size_cap_and_max_padding():
    lengths = [10, 30, 11, 12, 29, 100]
    assert length_batches(lengths, max_batch_size=2, max_padding=2) == [[5], [1, 4], [3, 2], [0]]
    assert length_batches(lengths, max_batch_size=2, max_padding=2, longest_first=False) == [
        [0, 2],
        [3],
        [4, 1],
        [5],
    ]
    # max_padding=0: only identical lengths share a batch
    same = length_batches([4, 4, 5, 4, 5], max_batch_size=10, max_padding=0)
    assert same == [[2, 4], [0, 1, 3]]
    # a cap alone cuts sorted runs
    assert length_batches([1, 2, 3, 4, 5], max_batch_size=2) == [[4, 3], [2, 1], [0]]


def test_limits_combine():
    lengths = [8, 8, 8, 8, 7, 7]
    # the budget allows 3 items of 8, the cap 2, the padding limit splits 8s from 7s
    assert length_batches(lengths, max_batch_samples=24) == [[0, 1, 2], [3, 4, 5]]
    assert length_batches(lengths, max_batch_samples=24, max_batch_size=2) == [
        [0, 1],
        [2, 3],
        [4, 5],
    ]
    assert length_batches(lengths, max_batch_samples=24, max_padding=0) == [
        [0, 1, 2],
        [3],
        [4, 5],
    ]


def test_padded_length_counts_against_budget():
    # Whisper-like: every batch is padded to at least 50 samples
    lengths = [5, 9, 3, 9, 7, 1, 20]
    batches = length_batches(lengths, max_batch_samples=100, padded_length=lambda n: max(n, 50))
    assert [len(b) for b in batches] == [2, 2, 2, 1]
    assert length_batches(lengths, max_batch_samples=100) == [[6, 1, 3, 4, 0], [2, 5]]


def test_random_lengths_respect_every_limit_and_restore_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 1000, size=300).tolist()
    for longest_first in (True, False):
        batches = length_batches(
            lengths,
            max_batch_samples=4000,
            max_batch_size=7,
            max_padding=150,
            longest_first=longest_first,
        )
        _check_partition(batches, len(lengths))
        for b in batches:
            sizes = [lengths[i] for i in b]
            assert len(b) <= 7
            assert max(sizes) - min(sizes) <= 150
            assert len(b) == 1 or len(b) * max(sizes) <= 4000
            assert sizes == sorted(sizes, reverse=longest_first)
        # scatter per-item results back: input order restored whatever the batching
        out = [None] * len(lengths)
        for b in batches:
            for i in b:
                out[i] = lengths[i] * 2
        assert out == [n * 2 for n in lengths]


def test_ties_keep_input_order_and_empty_input():
    assert length_batches([3, 3, 3, 3], max_batch_size=3) == [[0, 1, 2], [3]]
    assert length_batches([3, 3, 3, 3], max_batch_size=3, longest_first=False) == [[0, 1, 2], [3]]
    assert length_batches([], max_batch_size=4) == []
    assert length_batches(np.array([2, 1]), max_batch_size=4) == [[0, 1]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "max_batch_samples.*and/or max_batch_size"),
        ({"max_batch_samples": 0}, "max_batch_samples must be >= 1"),
        ({"max_batch_samples": 2.5}, "max_batch_samples must be an int"),
        ({"max_batch_size": True}, "max_batch_size must be an int"),
        ({"max_batch_size": 2, "max_padding": -1}, "max_padding"),
    ],
)
def test_bad_limits_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        length_batches([1, 2], **kwargs)


def test_bad_lengths_raise():
    with pytest.raises(ValueError, match=r"lengths\[1\] must be >= 0"):
        length_batches([1, -2], max_batch_size=2)
    with pytest.raises(ValueError, match=r"lengths\[0\] must be an int"):
        length_batches([1.5], max_batch_size=2)
    with pytest.raises(ValueError, match="sequence of ints"):
        length_batches(5, max_batch_size=2)


def test_module_aliases_delegate():
    lengths = [10, 30, 11, 12, 29, 100]
    assert bucket_by_length(lengths, 60) == length_batches(lengths, max_batch_samples=60)
    assert bucket_by_length(lengths, 1000, equal_length_only=True) == length_batches(
        lengths, max_batch_samples=1000, max_padding=0
    )
    assert length_buckets(lengths, batch_size=2, max_padding=2) == length_batches(
        lengths, max_batch_size=2, max_padding=2, longest_first=False
    )
