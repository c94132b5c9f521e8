"""The DDP policy every runner follows: every rank trains; rank zero alone writes files
and evaluates (on the full sets, so each metric is computed once).

Lightning's launchers (the subprocess launcher of ``strategy: ddp``, torchrun, SLURM) start
one process per device, each running the whole command; Lightning reads the rank from the
launcher's environment (``RANK`` / ``LOCAL_RANK`` / ``SLURM_PROCID``) into
``rank_zero_only.rank``. Every ``Trainer.fit`` must run on every rank (the processes meet
in its collectives), so a runner never skips a fit on a rank; it skips saving, evaluating
and reporting on ranks other than zero. Each rank that trains records itself in
``RUN/ddp/rank-<r>.json`` (rank, world size, the stages it trained), which shows how many
processes took part.
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

__all__ = ["is_global_zero", "rank_records", "record_rank"]


def is_global_zero() -> bool:
    """Whether this process is rank zero (a single process is)."""
    return rank_zero_only.rank == 0


def record_rank(run_dir: str | Path, trainer, stage: str) -> None:
    """Add ``stage`` to this rank's record ``run_dir/ddp/rank-<r>.json`` (only under more
    than one process)."""
    if trainer.world_size <= 1:
        return
    path = Path(run_dir) / "ddp" / f"rank-{trainer.global_rank}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.is_file() else {"stages": []}
    record.update(rank=trainer.global_rank, world_size=trainer.world_size)
    record["stages"].append(stage)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(path)


def rank_records(run_dir: str | Path) -> list[dict]:
    """The ranks' records of a run directory, by rank."""
    paths = sorted((Path(run_dir) / "ddp").glob("rank-*.json"))
    return sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["rank"])
