"""Duration-bucketed dynamic batching (data/sampling.py): every item once per epoch, the
padded-seconds budget, a deterministic order per seed and epoch, DDP shards."""

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from audio_unlearn.data.sampling import DurationBucketBatchSampler, fixed_batches, padding_waste


def _slurp_like(n=500, seed=0):
    """Log-normal durations like SLURP's close-talk utterances (median ~2.7 s, 1-10 s)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(2.7), 0.45, n), 0.8, 10.0).tolist()


def test_padding_waste_by_hand():
    assert padding_waste([1.0, 3.0, 2.0, 2.0], [[0, 1], [2, 3]]) == pytest.approx(10 / 8 - 1)
    assert padding_waste([1.0, 1.0], [[0, 1]]) == 0.0


def test_every_item_once_within_budget_and_less_padding():
    durations = _slurp_like()
    sampler = DurationBucketBatchSampler(durations, max_seconds=40.0, seed=3, world_size=1, rank=0)
    batches = list(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(durations)))
    for b in batches:
        assert len(b) == 1 or max(durations[i] for i in b) * len(b) <= 40.0
    mean_size = len(durations) / len(batches)
    baseline = fixed_batches(len(durations), round(mean_size), seed=3)
    assert padding_waste(durations, batches) < 0.5 * padding_waste(durations, baseline)


def test_order_is_fixed_by_seed_and_epoch():
    durations = _slurp_like(200)
    a = DurationBucketBatchSampler(durations, 30.0, seed=1, rank=0, world_size=1)
    b = DurationBucketBatchSampler(durations, 30.0, seed=1, rank=0, world_size=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)  # another epoch, another order
    c = DurationBucketBatchSampler(durations, 30.0, seed=2, rank=0, world_size=1)
    assert list(a) != list(c)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_share_an_epoch_exactly_once_with_equal_steps(world_size):
    durations = _slurp_like(101)
    shares = [
        list(DurationBucketBatchSampler(durations, 25.0, seed=0, rank=r, world_size=world_size))
        for r in range(world_size)
    ]
    assert len({len(s) for s in shares}) == 1  # the same number of steps on every rank
    flat = sorted(i for s in shares for b in s for i in b)
    assert flat == list(range(len(durations)))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="positive, finite"):
        DurationBucketBatchSampler([1.0, 0.0], 10.0, rank=0, world_size=1)
    with pytest.raises(ValueError, match="cannot feed"):
        DurationBucketBatchSampler([1.0], 10.0, rank=0, world_size=2)
    with pytest.raises(ValueError, match="max_seconds"):
        DurationBucketBatchSampler([1.0], 0.0, rank=0, world_size=1)


def _ddp_worker(rank, world_size, port, durations, out):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        sampler = DurationBucketBatchSampler(durations, 25.0, seed=7)  # rank from the group
        mine = [i for b in sampler for i in b]
        gathered = [None] * world_size
        dist.all_gather_object(gathered, (sampler.rank, len(sampler), mine))
        if rank == 0:
            out.put(gathered)
    finally:
        dist.destroy_process_group()


def test_a_ddp_epoch_on_two_processes_visits_every_utterance_exactly_once():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    durations = _slurp_like(157, seed=4)
    ctx = mp.get_context("spawn")
    out = ctx.SimpleQueue()
    mp.start_processes(
        _ddp_worker, args=(2, port, durations, out), nprocs=2, join=True, start_method="spawn"
    )
    gathered = out.get()
    assert [g[0] for g in gathered] == [0, 1] and gathered[0][1] == gathered[1][1]
    visited = sorted(i for _, _, mine in gathered for i in mine)
    assert visited == list(range(len(durations)))
