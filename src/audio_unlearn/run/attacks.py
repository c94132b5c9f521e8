"""The runner's relearning attack, for every task.

An unlearned model that only *hides* what it knew relearns it from a handful of examples:
the attack fine-tunes a copy of each chosen method's model on ``relearn_utterances`` of
the forget set with the task's own training loss for ``relearn_steps`` optimiser steps at
``relearn_lr`` (AdamW), and the runner scores the copy like any model (row
``<method>+relearn``). Read it beside the same attack on the retrained (gold) model where
one is run: recovery beyond what gold reaches from the same few utterances is revival of
what the method only suppressed.

The deployed-model workflow (``audio-unlearn attack relearn``) keeps its own curve-based
attack on classifiers (:func:`audio_unlearn.privacy.attacks.relearn_attack`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import lightning as L
import torch

from ..methods.base import UnlearningModule
from ..methods.fit import fit_unlearning
from ..tasks import get_task
from .store import settings_key

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["RelearnOptions", "Relearning", "attack_row", "relearn", "relearn_wanted"]


@dataclass
class RelearnOptions:
    """The relearning attack's settings (part of every task's ``eval`` section).

    Attributes:
        relearn_steps: optimiser steps of the attack (0 = off).
        relearn_utterances: forget utterances the attacker holds (the first of the split).
        relearn_lr: AdamW learning rate of the attack.
        relearn_methods: the methods (config names) whose models are attacked.
        relearn_with_retain: every step also trains on a batch of the retain set, so the
            model relearns the forget data among the rest instead of collapsing onto it
            (a classifier fine-tuned on one speaker's few utterances alone predicts their
            classes for everything, and its forget accuracy "recovers" trivially).
    """

    relearn_steps: int = 0
    relearn_utterances: int = 8
    relearn_lr: float = 1e-4
    relearn_methods: list[str] = field(default_factory=list)
    relearn_with_retain: bool = True


class Relearning(UnlearningModule):
    """Fine-tuning on the attacker's set ``relearn`` (and, with ``with_retain``, a retain
    batch each step) with the task's training loss."""

    method_name: ClassVar[str] = "relearn"
    tasks: ClassVar[tuple[str, ...]] = ("classification", "asr", "tts")

    def __init__(self, model, *, lr: float, with_retain: bool):
        super().__init__(model, lr=lr)
        self.uses = ("relearn", "retain") if with_retain else ("relearn",)

    def unlearning_loss(self, batch) -> torch.Tensor:
        return sum(self.task_loss(batch[name]) for name in self.uses)


def relearn(
    runner: Runner, name: str, model: torch.nn.Module, meta: dict[str, Any], *, dm=None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Attack ``model`` (method ``name``'s, with checkpoint ``meta``) as the runner's
    ``eval.relearn_*`` settings say; returns the attacked copy and the attack's facts
    (seconds, steps, the attacker's utterance ids, and ``key``: a settings digest of the
    attacked model for evaluation caching). ``dm``: a forget request's data module (the
    attacker holds utterances of that request's forget set); default the run's."""
    e = runner.cfg.eval
    if e.relearn_utterances < 1:
        raise ValueError(f"eval.relearn_utterances must be >= 1, got {e.relearn_utterances}")
    dm = runner.dm if dm is None else dm
    attacker = dm.sets["forget"][: e.relearn_utterances]
    ids = [u.id for u in attacker]
    dm.add_set("relearn", attacker)
    task = get_task(runner.task)
    runner.before_relearning(dm, len(ids))  # batch sizes first: the loss draws per batch
    before = attacker_loss(task, model, dm, runner.cfg.seed)
    L.seed_everything(runner.cfg.seed, verbose=False)
    attacked = copy.deepcopy(model).train()
    module = Relearning(attacked, lr=e.relearn_lr, with_retain=e.relearn_with_retain)
    module.use_task(runner.task)
    runner._say(
        f"relearning attack on {name}: {len(ids)} forget utterances, {e.relearn_steps} steps"
    )
    trainer = runner.unlearning_trainer({"steps": e.relearn_steps})
    trainer.update(max_steps=e.relearn_steps, max_epochs=-1)  # steps, however many epochs
    seconds = fit_unlearning(module, dm, progress=runner.progress, **trainer)
    key = settings_key(
        {
            "attacked": meta.get("key"),
            "relearn": [e.relearn_steps, e.relearn_utterances, e.relearn_lr]
            + ([] if not e.relearn_with_retain else ["with retain"]),
        }
    )
    attacked = runner.trained(attacked)
    info = {
        "seconds": seconds,
        "steps": e.relearn_steps,
        "utterances": ids,
        "key": key,
        "attacker_loss_before": before,
        "attacker_loss_after": attacker_loss(task, attacked, dm, runner.cfg.seed),
    }
    return attacked, info


@torch.no_grad()
def attacker_loss(task, model: torch.nn.Module, dm, seed: int) -> float:
    """Mean per-utterance task loss of ``model`` (eval mode, CPU) on the attacker's set:
    shows that the attack fitted what it was given (seeded: the TTS loss draws noise)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in dm.eval_dataloader("relearn"):
            losses = task.per_sample_loss(model, batch)
            total, count = total + float(losses.sum()), count + int(losses.numel())
    model.train(was_training)
    return total / max(count, 1)


def attack_row(name: str, info: dict[str, Any]) -> dict[str, Any]:
    """The report row fields of the relearning attack on method ``name`` (scores apart)."""
    return {
        "model": f"{name}+relearn",
        "role": "attack",
        "time_s": info["seconds"],
        **{k: info[k] for k in ("steps", "attacker_loss_before", "attacker_loss_after")},
    }


def relearn_wanted(runner: Runner, name: str) -> bool:
    """Whether the runner's settings ask for the relearning attack on method ``name``."""
    e = getattr(runner.cfg, "eval", None)
    return bool(e is not None and e.relearn_steps > 0 and name in e.relearn_methods)
