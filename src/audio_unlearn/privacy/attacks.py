"""Attacks on an unlearned model: informed membership inference, relearning, and
sequential requests.

Forgetting can be shallow. Fine-tuning an unlearned zero-shot TTS model on about 15 minutes
of the forgotten voice brought its speaker similarity back from 0.164 to 0.735, and later
forget requests brought earlier forgotten voices back (0.164 -> 0.612) (the follow-up
study to Kim et al., "Do Not Mimic My Voice: Teacher-Guided Unlearning for Zero-Shot
Text-to-Speech", ICML 2025). These attacks measure the same on any classifier checkpoint:

- :func:`informed_mia`: an attacker who *knows which speaker was forgotten* and holds some
  of that speaker's recordings that were never trained on compares the model's losses on
  the forgotten training utterances with those on the held-out ones. Within one speaker
  (one class, for speaker identification) the comparison is free of the class-level
  confound of the generic forget-vs-test attack, where a removed class looks "non-member"
  simply because the model now gets the whole class wrong (the Streisand effect). 0.5 =
  the forgotten recordings are no more familiar to the model than unseen ones of the same
  voice, which is what a model retrained without them gives.
- :func:`relearn_attack`: fine-tune on ``k`` utterances (or minutes) of the forgotten
  speakers and trace how fast forget accuracy, loss and the attacks return, on the forget
  utterances the attacker did *not* train on.
- :func:`sequential_attack`: apply a second request B to the unlearned model, then
  re-measure request A's forget metrics.
"""

from __future__ import annotations

import copy
import math
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluation import loss_mia, mia_auc
from .metrics import set_outputs

if TYPE_CHECKING:
    from .request import ForgetRequest
    from .workflow import ForgetConfig, ForgetPlan

__all__ = ["INFORMED_MIA_PROTOCOL", "informed_mia", "relearn_attack", "sequential_attack"]

INFORMED_MIA_PROTOCOL = (
    "informed same-speaker loss attack: members = the request's forgotten training "
    "utterances, non-members = held-out utterances of the same speakers; score = ROC AUC of "
    "-loss (0.5 = no trace; > 0.5 = forgotten recordings still fit better than unseen ones of "
    "the same voice), plus the UnSLU-BENCH logistic-regression accuracy when both sides are "
    "large enough"
)


def informed_mia(
    member_losses: Any, nonmember_losses: Any, *, n_splits: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Informed (same-speaker) membership attack on per-utterance losses.

    Args:
        member_losses: losses of the forgotten training utterances, ``(N_m,)``.
        nonmember_losses: losses of held-out utterances of the same speakers, ``(N_n,)``.
        n_splits: shuffle-splits of the logistic-regression accuracy.
        seed: seed of the balancing and the splits.

    Returns:
        ``{"auc", "member_loss", "nonmember_loss", "loss_gap", "n_members",
        "n_nonmembers", "protocol"}`` (+ ``"accuracy"``, ``"std"`` when each side holds
        enough samples), or ``{"skipped": reason}`` when a side is empty.
    """
    members = np.asarray(member_losses, dtype=np.float64).reshape(-1)
    nonmembers = np.asarray(nonmember_losses, dtype=np.float64).reshape(-1)
    if not members.size or not nonmembers.size:
        return {
            "skipped": "needs held-out utterances of the forgotten speakers (a --heldout "
            "manifest holding other recordings of them)",
            "protocol": INFORMED_MIA_PROTOCOL,
        }
    out: dict[str, Any] = {
        "auc": mia_auc(members, nonmembers),
        "member_loss": float(members.mean()),
        "nonmember_loss": float(nonmembers.mean()),
        "loss_gap": float(nonmembers.mean() - members.mean()),
        "n_members": int(members.size),
        "n_nonmembers": int(nonmembers.size),
        "protocol": INFORMED_MIA_PROTOCOL,
    }
    try:
        result = loss_mia(members, nonmembers, n_splits=n_splits, seed=seed)
        out.update(accuracy=result.accuracy, std=result.std)
    except ValueError:
        pass  # too few samples for held-out splits: the AUC alone
    return out


def _pick_attacker_set(forget, *, utterances: int | None, minutes: float | None, seed: int):
    if (utterances is None) == (minutes is None):
        raise ValueError("relearning needs exactly one of utterances (k) or minutes")
    order = list(forget)
    random.Random(seed).shuffle(order)
    if utterances is not None:
        if int(utterances) < 2:
            raise ValueError(f"relearning needs k >= 2 utterances (BatchNorm), got {utterances}")
        chosen = order[: int(utterances)]
    else:
        if not minutes > 0:
            raise ValueError(f"relearning minutes must be > 0, got {minutes}")
        chosen, total = [], 0.0
        for u in order:
            if total >= minutes * 60:
                break
            chosen.append(u)
            total += u.duration
        if len(chosen) < 2:
            chosen = order[:2]
    if len(chosen) >= len(forget):
        raise ValueError(
            f"the relearning set takes {len(chosen)} of the {len(forget)} forget utterances; "
            "leave at least one to measure on (lower utterances/minutes)"
        )
    return chosen


def relearn_attack(
    model: torch.nn.Module,
    dm,
    *,
    utterances: int | None = 4,
    minutes: float | None = None,
    steps: int = 20,
    lr: float = 1e-3,
    batch_size: int = 8,
    retain_per_step: int = 8,
    eval_every: int = 2,
    target_acc: float | None = None,
    recovery: float = 0.9,
    retain_eval: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Relearning attack: fine-tune a copy of ``model`` on some forgotten utterances.

    The attacker holds ``utterances`` (or ``minutes`` of) recordings of the forget set,
    drawn with ``seed``, and fine-tunes every parameter with Adam and cross-entropy on their
    true labels, each step mixing in ``retain_per_step`` utterances of other speakers (a
    classifier fine-tuned on one class alone collapses onto it, which would make forget
    accuracy "recover" trivially while everything else is lost; with the mix, recovery
    means the forgotten speaker is recognised again among the others). At step 0, every
    ``eval_every`` steps and at the end, the copy is scored on
    the *other* forget utterances (never given to the attacker): accuracy, loss, the
    generic loss-attack AUC (vs held-out test) and the informed AUC (vs held-out utterances
    of the same speakers), plus forget-class test and retain accuracy.

    Args:
        model: the unlearned model (not modified).
        dm: the request's data module (sets ``forget``, ``retain``, ``test``,
            ``forget_test``, ``forget_heldout``).
        utterances: ``k``, the attacker's number of forget utterances (>= 2).
        minutes: instead of ``k``: take utterances until their duration reaches this.
        steps: optimiser steps.
        lr: Adam learning rate.
        batch_size: attacker utterances per step (all of them when fewer).
        retain_per_step: retain utterances added to every step (0 = forget data only).
        eval_every: evaluation interval in steps.
        target_acc: forget accuracy of the original model; with it, ``steps_to_recover``
            is the first evaluated step where forget accuracy reaches
            ``recovery * target_acc`` while retain accuracy stays at least ``recovery``
            times its step-0 value (recovered, not collapsed onto the forgotten class).
        recovery: fraction of ``target_acc`` that counts as recovered.
        retain_eval: retain utterances scored per evaluation (a seeded subset).
        seed: seed of the draws and the batches.

    Returns:
        ``{"attacker_utterances", "attacker_seconds", "curve": [{"step", "forget_acc",
        "forget_loss", "mia_auc", "informed_auc", "forget_test_acc", "retain_acc"}...],
        "steps_to_recover", ...settings}``.

    Raises:
        ValueError: bad ``utterances``/``minutes``/``steps``, or no forget utterance left.
    """
    if not isinstance(steps, int) or steps < 1 or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"steps and eval_every must be positive ints, got {steps}, {eval_every}")
    if not lr > 0:
        raise ValueError(f"relearning lr must be > 0, got {lr}")
    forget = dm.sets["forget"]
    attacker = _pick_attacker_set(forget, utterances=utterances, minutes=minutes, seed=seed)
    taken = {u.id for u in attacker}
    retain = list(dm.sets["retain"])
    random.Random(seed).shuffle(retain)
    dm.sets["_relearn_rest"] = [u for u in forget if u.id not in taken]
    dm.sets["_relearn_retain"] = retain[:retain_eval]
    wav = torch.stack([dm.cache[u] for u in attacker])
    y = torch.tensor([dm.encoder.encode(u.label(dm.label_key)) for u in attacker])
    pool = retain[retain_eval:] or retain  # retain utterances not scored, when there are any
    r_wav = torch.stack([dm.cache[u] for u in pool]) if retain_per_step > 0 else None
    r_y = torch.tensor([dm.encoder.encode(u.label(dm.label_key)) for u in pool])

    def measure(net, step: int) -> dict[str, Any]:
        rest = set_outputs(net, dm, "_relearn_rest")
        held = set_outputs(net, dm, "forget_heldout")
        tst = set_outputs(net, dm, "test")
        row = {
            "step": step,
            "forget_acc": rest.accuracy,
            "forget_loss": rest.loss,
            "mia_auc": mia_auc(rest.losses, tst.losses) if tst.losses.size else None,
            "informed_auc": mia_auc(rest.losses, held.losses) if held.losses.size else None,
            "retain_acc": set_outputs(net, dm, "_relearn_retain").accuracy,
        }
        if dm.sets.get("forget_test"):
            row["forget_test_acc"] = set_outputs(net, dm, "forget_test").accuracy
        return row

    net = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    curve = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            curve.append(measure(net, 0))
            for step in range(1, steps + 1):
                idx = torch.randperm(len(attacker), generator=generator)[:batch_size]
                x_step, y_step = wav[idx], y[idx]
                if r_wav is not None:
                    r_idx = torch.randperm(len(pool), generator=generator)[:retain_per_step]
                    x_step = torch.cat([x_step, r_wav[r_idx]])
                    y_step = torch.cat([y_step, r_y[r_idx]])
                net.train()
                optimiser.zero_grad()
                loss = F.cross_entropy(net(x_step), y_step)
                loss.backward()
                optimiser.step()
                if step % eval_every == 0 or step == steps:
                    curve.append(measure(net, step))
    finally:
        del dm.sets["_relearn_rest"], dm.sets["_relearn_retain"]
    steps_to_recover = None
    if target_acc is not None and not math.isnan(target_acc):
        retain0 = curve[0]["retain_acc"]
        steps_to_recover = next(
            (
                r["step"]
                for r in curve
                if r["forget_acc"] >= recovery * target_acc
                and r["retain_acc"] >= recovery * retain0
            ),
            None,
        )
    return {
        "attacker_utterances": [u.id for u in attacker],
        "attacker_seconds": float(sum(u.duration for u in attacker)),
        "measured_on": len(forget) - len(attacker),
        "settings": {
            "utterances": utterances if minutes is None else None,
            "minutes": minutes,
            "steps": steps,
            "lr": lr,
            "batch_size": batch_size,
            "retain_per_step": retain_per_step,
            "eval_every": eval_every,
            "optimiser": "Adam, all parameters, cross-entropy on true labels",
            "seed": seed,
        },
        "target_acc": target_acc,
        "recovery": recovery,
        "steps_to_recover": steps_to_recover,
        "curve": curve,
    }


def sequential_attack(
    first: ForgetPlan,
    model_after_first: torch.nn.Module,
    second: ForgetRequest,
    config: ForgetConfig,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Sequential requests: forget B on top of A, then re-measure A.

    Request B is planned on the model after A with A's forgotten utterances removed from
    the training data (they were erased), validated like any request, and run with
    ``config``'s method. A's metrics are then measured again on A's sets.

    Args:
        first: the plan of request A (its data module gives A's sets).
        model_after_first: the model after A (not modified).
        second: request B.
        config: method and settings for B.
        progress: show progress bars.

    Returns:
        ``{"second_request", "second": {forget/retain acc after B on B's sets},
        "first_after_first": A's metrics before B, "first_after_second": after B,
        "forget_acc_change", "informed_auc_change"}``.

    Raises:
        ValueError: B is invalid (unknown speakers, overlaps A entirely, ...).
    """
    from .workflow import plan_from_objects, unlearn

    erased = set(first.split.forget)
    remaining = [u for u in first.train if u.id not in erased]
    checkpoint = first.derived_checkpoint(model_after_first)
    plan_b = plan_from_objects(
        checkpoint=checkpoint,
        checkpoint_path=None,
        train=remaining,
        heldout=first.heldout,
        request=second,
        config=config,
        progress=progress,
    )
    model_b, seconds = unlearn(plan_b, progress=progress)
    before = _forget_summary(first, model_after_first, config.seed)
    after = _forget_summary(first, model_b, config.seed)
    b_sets = {n: set_outputs(model_b, plan_b.dm, n).summary() for n in ("forget", "retain")}

    def change(key: str):
        a, b = before.get(key), after.get(key)
        return None if a is None or b is None else b - a

    return {
        "second_request": second.to_json(),
        "second_method": {"name": config.method, "hparams": dict(config.hparams)},
        "second_seconds": seconds,
        "second": b_sets,
        "first_after_first": before,
        "first_after_second": after,
        "forget_acc_change": change("forget_acc"),
        "informed_auc_change": change("informed_auc"),
    }


def _forget_summary(plan: ForgetPlan, model: torch.nn.Module, seed: int) -> dict[str, Any]:
    forget = set_outputs(model, plan.dm, "forget")
    test = set_outputs(model, plan.dm, "test")
    held = set_outputs(model, plan.dm, "forget_heldout")
    out: dict[str, Any] = {
        "forget_acc": forget.accuracy,
        "forget_loss": forget.loss,
        "mia_auc": mia_auc(forget.losses, test.losses) if test.losses.size else None,
        "informed_auc": mia_auc(forget.losses, held.losses) if held.losses.size else None,
    }
    if plan.dm.sets.get("forget_test"):
        out["forget_test_acc"] = set_outputs(model, plan.dm, "forget_test").accuracy
    return out
