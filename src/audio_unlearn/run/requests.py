"""Sequential forget requests, for every task's runner.

By default one request forgets the split's speakers. ``requests`` (a config setting)
splits them into requests handled one after the other: request ``k`` forgets its own
speakers, starting from each method's model after request ``k - 1``; the retain set of
request ``k`` keeps the speakers of later requests (not yet asked for), and its retrained
reference is trained without requests ``1..k``. Every row of request ``k`` also
re-measures the forget sets of requests ``1..k-1`` (the ``forget_r<j>`` sets), so a
method that brings earlier speakers back shows it.

The machinery here is the task's runner's: :meth:`Runner.request_datamodule` builds a
request's data module, :meth:`Runner.scores` evaluates a model on it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ..data.manifest import atomic_write_text
from ..data.splits import ForgetSplit
from .attacks import attack_row, relearn, relearn_wanted
from .store import settings_key

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["check_requests", "prepare_requests", "request_override", "run_requests"]

_FIX = (
    "give requests as a list of speaker lists, e.g. [[spk1], [spk2, spk3]], or of "
    "speaker counts, e.g. [1, 2]"
)


def check_requests(requests: Any) -> list[list[str]] | list[int] | None:
    """Validate ``requests``: ``None``, lists of speaker ids, or numbers of speakers.

    Raises:
        ValueError: anything else, an empty request or a speaker in two requests.
    """
    if requests is None:
        return None
    if not isinstance(requests, (list, tuple)) or not requests:
        raise ValueError(f"requests must be a non-empty list; {_FIX}")
    if all(isinstance(r, int) and not isinstance(r, bool) for r in requests):
        if any(r < 1 for r in requests):
            raise ValueError(f"requests: every speaker count must be >= 1, got {requests}")
        return [int(r) for r in requests]
    if all(isinstance(r, (list, tuple)) for r in requests):
        out = [[str(s) for s in r] for r in requests]
        if any(not r for r in out):
            raise ValueError(f"requests: a request names no speaker ({requests}); {_FIX}")
        flat = [s for r in out for s in r]
        twice = sorted({s for s in flat if flat.count(s) > 1})
        if twice:
            raise ValueError(
                f"requests: speaker(s) {twice} appear in more than one request (or twice in "
                "one); each speaker is forgotten once"
            )
        return out
    raise ValueError(f"requests mixes speaker lists and counts ({requests}); {_FIX}")


def request_override(requests: list[list[str]] | list[int] | None) -> dict[str, Any]:
    """The forget speakers of all requests at once, as :func:`~.splits.make_split`
    arguments (``{}`` without requests)."""
    if requests is None:
        return {}
    if isinstance(requests[0], int):
        return {"n_speakers": sum(requests)}
    return {"speakers": [spk for r in requests for spk in r]}


def prepare_requests(runner: Runner) -> None:
    """Per-request splits, data modules and retrained-reference data keys on ``runner``
    (``request_speakers``, ``request_splits``, ``request_dms``, ``request_gold_data``),
    and ``requests.json``."""
    split, requests = runner.split, runner.requests
    by_id = {u.id: u for u in runner.utterances}
    if isinstance(requests[0], int):
        drawn, groups, i = list(split.forget_speakers), [], 0
        for n in requests:
            groups.append(drawn[i : i + n])
            i += n
    else:
        groups = [list(r) for r in requests]
    runner.request_speakers = groups
    runner.request_splits, runner.request_dms = [], []
    #: data keys of the retrained references: train minus requests 1..k (the last one is
    #: the whole split's, so a single-request run's gold checkpoint is reusable)
    runner.request_gold_data = []
    order = {u.id: n for n, u in enumerate(runner.utterances)}
    forgotten: set[str] = set()
    record = []
    for k, speakers in enumerate(groups, start=1):
        forgotten |= set(speakers)
        forget = tuple(i for i in split.forget if by_id[i].speaker in speakers)
        back = [i for i in split.forget if by_id[i].speaker not in forgotten]
        retain = (
            tuple(sorted([*split.retain, *back], key=order.__getitem__)) if back else split.retain
        )
        cumulative = tuple(i for i in split.forget if by_id[i].speaker in forgotten)
        gold_split = dataclasses.replace(split, forget=cumulative, retain=retain)
        runner.request_gold_data.append(runner.data_key_of(gold_split))
        split_k = ForgetSplit(
            kind="speaker",
            forget=forget,
            retain=retain,
            valid=split.valid,
            test=split.test,
            forget_speakers=tuple(speakers),
            params={"request": k, "of": len(groups), "forgotten_so_far": sorted(forgotten)},
        )
        earlier = {f"forget_r{j}": runner.request_splits[j - 1].forget for j in range(1, k)}
        dm = runner.request_datamodule(split_k, earlier)
        dm.setup("fit")
        runner.request_splits.append(split_k)
        runner.request_dms.append(dm)
        record.append(
            {
                "request": k,
                "speakers": list(speakers),
                "sizes": {"forget": len(forget), "retain": len(retain)},
                "digest": {"forget": settings_key(forget), "retain": settings_key(retain)},
            }
        )
    if runner.is_global_zero:
        atomic_write_text(
            runner.run_dir / "requests.json", json.dumps({"requests": record}, indent=1) + "\n"
        )


def run_requests(runner: Runner, meta_o: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests in sequence from the original (``meta_o``: its checkpoint meta): per
    request, the retrained reference and every method from its model after the previous
    request. Returns the rows, each with ``request`` and ``request_speakers``."""
    rows: list[dict[str, Any]] = []
    original_key = meta_o["key"]
    current = {name: (runner.original, original_key) for name in runner.cfg.methods}
    pairs = zip(runner.request_splits, runner.request_dms, strict=True)
    for k, (split_k, dm) in enumerate(pairs, start=1):
        speakers = list(split_k.forget_speakers)
        runner._say(f"request {k}/{len(runner.request_splits)}: forget {speakers}")
        base = {"request": k, "request_speakers": speakers}
        block = [
            {**base, "model": "original", "role": "original", "time_s": meta_o["seconds"]},
        ]
        block[0].update(runner.scores("original", runner.original, original_key, dm, k))
        if getattr(runner.cfg, "retrain", True):  # TTS runs may leave the retraining out
            gold_key = runner.reference_key("gold", runner.request_gold_data[k - 1])
            gold, meta_g = runner.train_reference(
                "gold", dm=dm, path=runner.ckpt_path("gold", f"r{k}"), key=gold_key
            )
            row = {**base, "model": runner.gold_name, "role": "gold", "time_s": meta_g["seconds"]}
            block.append({**row, **runner.scores(runner.gold_name, gold, gold_key, dm, k)})
            del gold
        request_key = {"k": k, "data": runner.data_key_of(split_k)}
        for name, hparams in runner.cfg.methods.items():
            hparams = dict(hparams or {})
            start, start_key = current[name]
            hp = dict(hparams)
            settings = runner.method_settings(hp)  # the runner's own keys leave hp
            key = runner.method_key(name, hp, settings, start_key, request_key)
            path = runner.ckpt_path(name, f"r{k}")
            model, meta = runner.unlearn(name, hparams, start=start, dm=dm, path=path, key=key)
            current[name] = (model, key)
            row = {**base, "model": name, "role": "method", "time_s": meta["seconds"]}
            row["hparams"] = hparams
            block.append({**row, **runner.scores(name, model, key, dm, k)})
            if relearn_wanted(runner, name):  # the attacker holds this request's speakers
                attacked, info = relearn(runner, name, model, {"key": key}, dm=dm)
                scores = runner.scores(f"{name}+relearn", attacked, info["key"], dm, k)
                block.append({**base, **attack_row(name, info), **scores})
        rows.extend(block)
    return rows
