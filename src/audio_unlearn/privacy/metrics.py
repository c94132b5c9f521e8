"""Before/after metrics of a forget request: accuracy and loss per set, membership attacks,
and speaker-verification EER from the model's own embeddings.

The sets come from the request's data module (see :func:`~.workflow.plan_forget`):

- ``forget``: the training utterances the request removes (members of the original model);
- ``retain``: the remaining training utterances (utility on seen data);
- ``test``: held-out utterances of the remaining speakers/classes (utility on unseen data,
  and the non-members of the generic attack);
- ``forget_test``: held-out utterances of what was forgotten (class removal: the forgotten
  speaker's other recordings), scored as "forget-class" accuracy;
- ``forget_heldout``: held-out utterances of the forget set's speakers, the non-members of
  the informed attack (:func:`~.attacks.informed_mia`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.datamodule import UnlearningDataModule
from ..evaluation import build_trials, loss_mia, mia_auc, svc_mia
from ..evaluation.classification import per_sample_cross_entropy
from ..evaluation.model_eval import predict_logits

__all__ = ["SetOutputs", "embed_utterances", "evaluate_request", "set_outputs"]

SETS = ("forget", "retain", "test", "forget_test", "forget_heldout")


class SetOutputs:
    """Logits, targets and per-sample losses of one model on one set (``N`` utterances)."""

    def __init__(self, logits: torch.Tensor, targets: torch.Tensor):
        self.logits = logits
        self.targets = targets
        self.losses = (
            per_sample_cross_entropy(logits, targets).numpy() if len(targets) else np.zeros(0)
        )

    @property
    def accuracy(self) -> float:
        if not len(self.targets):
            return math.nan
        return float((self.logits.argmax(-1) == self.targets).float().mean())

    @property
    def loss(self) -> float:
        return float(self.losses.mean()) if self.losses.size else math.nan

    def summary(self) -> dict[str, float | int]:
        return {"acc": self.accuracy, "loss": self.loss, "n": len(self.targets)}


def set_outputs(model: torch.nn.Module, dm: UnlearningDataModule, name: str) -> SetOutputs:
    """Run ``model`` (eval mode) over set ``name`` of ``dm``."""
    if not dm.sets.get(name):
        return SetOutputs(torch.empty(0, dm.num_classes), torch.empty(0, dtype=torch.long))
    return SetOutputs(*predict_logits(model, dm.eval_dataloader(name)))


@torch.no_grad()
def embed_utterances(
    model: torch.nn.Module, dm: UnlearningDataModule, utterance_ids: Sequence[str]
) -> torch.Tensor:
    """Embeddings ``(N, D)`` of ``model.embed`` for the given utterances of ``dm``."""
    by_id = {u.id: u for s in dm.sets.values() for u in s}
    dm.sets["_embed"] = [by_id[i] for i in utterance_ids]
    was_training = model.training
    model.eval()
    try:
        rows = [model.embed(wav).float() for wav, _ in dm.eval_dataloader("_embed")]
    finally:
        model.train(was_training)
        del dm.sets["_embed"]
    return torch.cat(rows) if rows else torch.empty(0, 0)


def _mia(forget: SetOutputs, test: SetOutputs, *, n_splits: int, seed: int) -> dict[str, Any]:
    if not forget.losses.size or not test.losses.size:
        return {"skipped": "needs forget and held-out test utterances (pass --heldout)"}
    out: dict[str, Any] = {"auc": mia_auc(forget.losses, test.losses)}
    try:
        result = loss_mia(forget.losses, test.losses, n_splits=n_splits, seed=seed)
        out.update(accuracy=result.accuracy, std=result.std, n_per_class=result.n_per_class)
    except ValueError as err:
        out["accuracy_skipped"] = str(err)
    return out


def _svc(retain: SetOutputs, test: SetOutputs, forget: SetOutputs, seed: int) -> dict[str, Any]:
    if not (retain.losses.size and test.losses.size and forget.losses.size):
        return {"skipped": "needs retain, held-out test and forget utterances"}
    result = svc_mia(
        retain.logits.softmax(-1),
        retain.targets,
        test.logits.softmax(-1),
        test.targets,
        forget.logits.softmax(-1),
        forget.targets,
        features=("confidence",),
        seed=seed,
    )
    return {"efficacy": result.efficacy["confidence"], "n_target": result.n_target}


def _verification(
    model: torch.nn.Module,
    dm: UnlearningDataModule,
    forgotten: Sequence[str],
    *,
    trials_per_speaker: int,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Verification metrics (:func:`~audio_unlearn.evaluation.identity.group_verification`:
    EER with its threshold, minDCF, Cllr, min-Cllr, TPR at 1% / 0.1% FPR, per gender when
    the utterances carry a ``gender`` label) on the forgotten speakers' trials and on the
    other speakers' trials, with the protocol that produced them."""
    from ..evaluation.identity import group_verification

    forgotten_set = set(forgotten)
    mine = [u for name in ("forget", "forget_test") for u in dm.sets.get(name, [])]
    mine = [u for u in mine if u.speaker in forgotten_set]
    others = list(dm.sets.get("test") or dm.sets["retain"])
    utts = list({u.id: u for u in mine + others}.values())
    genders = {u.speaker: u.labels.get("gender", "") for u in utts}
    genders = genders if all(genders.values()) else {}
    try:
        trials = build_trials(
            utts, n_per_speaker=trials_per_speaker, seed=seed, gender_of=genders or None
        )
    except ValueError as err:
        return {"skipped": str(err)}, None
    ids = [u.id for u in utts]
    emb = embed_utterances(model, dm, ids)
    group_of = {u.id: "forgotten" if u.speaker in forgotten_set else "others" for u in utts}
    gender_of = {u.id: genders.get(u.speaker, "") for u in utts}
    out: dict[str, Any] = {
        "protocol": {
            "encoder": f"{type(model).__name__}.embed() (the model's own embeddings)",
            "scoring": "cosine",
            "trials": f"build_trials(n_per_speaker={trials_per_speaker}, seed={seed})"
            + (", same-gender non-targets" if genders else ""),
            "groups": "a trial belongs to its enrolment utterance's speaker",
            "thresholds": "eer_threshold per group (score at the EER)",
            "calibration": "Cllr after an affine map fitted on the other speakers' trials "
            "(optimistic for that group); min-Cllr after the best monotone map",
        },
        "forgotten": {"skipped": "no trials"},
        "others": {"skipped": "no trials"},
    }
    out.update(
        group_verification(trials, ids, emb, group_of, gender_of=gender_of, calibrate_on="others")
    )
    cache_ids = [u.id for u in mine]
    cache = {"ids": cache_ids, "embeddings": emb[: len(cache_ids)].clone()}
    return out, cache


def evaluate_request(
    model: torch.nn.Module,
    dm: UnlearningDataModule,
    *,
    forgotten_speakers: Sequence[str],
    speaker_task: bool,
    mia_splits: int = 10,
    trials_per_speaker: int = 10,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """All metrics of one model for one request.

    Args:
        model: the classifier (original or unlearned).
        dm: the request's data module (sets as in the module docstring).
        forgotten_speakers: the request's speakers (verification groups).
        speaker_task: the model identifies speakers (``label_key == "speaker"``); with an
            ``embed()`` method, verification EER is computed.
        mia_splits: shuffle-splits of the UnSLU-BENCH loss attack.
        trials_per_speaker: target trials per speaker (and as many non-target ones).
        seed: seed of the attacks and the trial draw.

    Returns:
        ``(metrics, embedding_cache)``: ``metrics`` holds ``sets`` (acc/loss/n per set),
        ``mia`` (forget vs test, UnSLU-BENCH accuracy and AUC), ``svc_mia`` (SalUn
        MIA-efficacy, confidence feature), ``informed_mia`` and, for speaker models,
        ``verification``; ``embedding_cache`` (``ids``, ``embeddings``) holds the forgotten
        speakers' embeddings used for verification, or None.
    """
    from .attacks import informed_mia  # attacks build on this module

    outs = {name: set_outputs(model, dm, name) for name in SETS}
    metrics: dict[str, Any] = {
        "sets": {name: o.summary() for name, o in outs.items() if len(o.targets)},
        "mia": _mia(outs["forget"], outs["test"], n_splits=mia_splits, seed=seed),
        "svc_mia": _svc(outs["retain"], outs["test"], outs["forget"], seed),
        "informed_mia": informed_mia(outs["forget"].losses, outs["forget_heldout"].losses),
    }
    cache = None
    if speaker_task and hasattr(model, "embed") and forgotten_speakers:
        metrics["verification"], cache = _verification(
            model, dm, forgotten_speakers, trials_per_speaker=trials_per_speaker, seed=seed
        )
    return metrics, cache
