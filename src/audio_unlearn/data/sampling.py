"""Duration-bucketed dynamic batching for training on variable-length audio, DDP-aware.

A batch is a budget of *padded seconds*, not a count: utterances are grouped into
``num_buckets`` buckets of similar duration (quantiles of the corpus's durations), shuffled
within each bucket, and cut greedily into batches whose padded length (longest item x
items) stays within ``max_seconds``; the batches are then shuffled. The order depends only
on ``seed`` and the epoch (:meth:`DurationBucketBatchSampler.set_epoch`), never on the
process.

Under DDP every rank builds the same batch list and takes every ``world_size``-th batch,
so each rank reads only its part and an epoch visits every utterance exactly once across
ranks. Ranks must run the same number of steps, so when the batch count does not divide
by ``world_size`` the largest batches are split in two until it does (no utterance is
repeated or dropped).

This is the bucketing of lhotse's ``DynamicBucketingSampler`` and SpeechBrain's
``DynamicBatchSampler``, written over plain duration lists so it serves every data module
of the library (the in-memory and the streaming ones) without a manifest conversion;
:func:`padding_waste` measures what it saves (``benchmarks/bench_bucketing.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

__all__ = ["DurationBucketBatchSampler", "fixed_batches", "padding_waste"]


def padding_waste(durations: Sequence[float], batches: Sequence[Sequence[int]]) -> float:
    """Padded seconds over real seconds, minus one: 0 = no padding; 0.5 = half as much
    silence as speech is computed on (each batch padded to its longest item)."""
    real = sum(durations[i] for b in batches for i in b)
    padded = sum(max(durations[i] for i in b) * len(b) for b in batches if b)
    if real <= 0:
        raise ValueError("padding_waste needs positive durations")
    return max(0.0, padded / real - 1.0)  # float round-off must not read as negative


def fixed_batches(n: int, batch_size: int, *, seed: int = 0) -> list[list[int]]:
    """Today's batching: a seeded shuffle cut into batches of ``batch_size`` (the baseline
    of :func:`padding_waste`)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class DurationBucketBatchSampler:
    """Batches of similar-duration utterances within a padded-seconds budget (see the
    module docstring). Use as a DataLoader's ``batch_sampler``.

    Args:
        durations: seconds of each dataset item.
        max_seconds: padded seconds per batch (longest item x items); an item longer
            than this makes a batch of its own.
        num_buckets: duration buckets (quantiles).
        shuffle: shuffle within buckets and the batch order (else sorted, for evaluation).
        seed: the order's seed; with :meth:`set_epoch` each epoch has its own order.
        rank, world_size: this process's share (default: from ``torch.distributed`` when
            it is initialised, else 0 of 1).
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        *,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if not durations:
            raise ValueError("DurationBucketBatchSampler needs at least one item")
        if any(not (d > 0 and math.isfinite(d)) for d in durations):
            raise ValueError("every duration must be a positive, finite number of seconds")
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        if num_buckets < 1:
            raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
        if rank is None or world_size is None:
            import torch.distributed as dist

            ready = dist.is_available() and dist.is_initialized()
            rank = dist.get_rank() if ready else 0
            world_size = dist.get_world_size() if ready else 1
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        if world_size > len(durations):
            raise ValueError(f"{len(durations)} items cannot feed {world_size} ranks")
        self.durations = [float(d) for d in durations]
        self.max_seconds = float(max_seconds)
        self.num_buckets = num_buckets
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order to give (Lightning calls it on a sampler that has it)."""
        self.epoch = int(epoch)

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches of every rank, in order (rank r takes r, r + W, ...)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return [list(b) for b in self._cache[1]]
        rng = random.Random(f"{self.seed}|{self.epoch}")
        order = sorted(range(len(self.durations)), key=lambda i: (self.durations[i], i))
        size = math.ceil(len(order) / self.num_buckets)
        buckets = [order[i : i + size] for i in range(0, len(order), size)]
        batches: list[list[int]] = []
        for bucket in buckets:
            if self.shuffle:
                rng.shuffle(bucket)
            batch: list[int] = []
            longest = 0.0
            for i in bucket:
                top = max(longest, self.durations[i])
                if batch and top * (len(batch) + 1) > self.max_seconds:
                    batches.append(batch)
                    batch, top = [], self.durations[i]
                batch.append(i)
                longest = top
            if batch:
                batches.append(batch)
        while len(batches) % self.world_size:  # equal steps per rank: split the largest
            k = max(range(len(batches)), key=lambda j: (len(batches[j]), -j))
            if len(batches[k]) < 2:
                raise ValueError(
                    f"{len(batches)} batches of one item cannot be shared by "
                    f"{self.world_size} ranks evenly"
                )
            half = len(batches[k]) // 2
            batches[k : k + 1] = [batches[k][:half], batches[k][half:]]
        if self.shuffle:
            rng.shuffle(batches)
        self._cache = (self.epoch, batches)
        return [list(b) for b in batches]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.all_batches()[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.all_batches()) // self.world_size
