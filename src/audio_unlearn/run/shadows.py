"""The runner's shadow-model membership attacks (LiRA, RMIA, speaker-level), for classifiers.

With ``eval.shadows: N`` the runner trains ``N`` shadow models by the original's own recipe
on the *pool*: the forget, retain and test utterances, each in exactly half of the shadows'
training data (a random half per utterance). So each audited utterance (forget and test)
has IN and OUT shadows. Every evaluated model (original, gold, each method) is then attacked on its
per-sample losses (:mod:`audio_unlearn.evaluation.lira`):

- LiRA, online when every audited utterance has IN and OUT shadows (else offline), with
  one variance per side (the paper's choice for few shadows);
- RMIA, online: reference models are the shadows; the population is the validation set
  when the split has one (never trained on, never audited), else the test set with each
  utterance left out of its own comparison (then no member can outscore the top
  non-member, and the TPR at low FPR is 0 by construction: give the split validation
  speakers);
- LiRA aggregated per speaker (mean score): was this *speaker* in training? A forget request
  names a speaker, so this is the question a voice-privacy team asks.

Members are the forget utterances (in the original's training data), non-members the test
utterances. Each row gets the AUC and the TPR at 1% and 0.1% FPR. Gold sits near chance.
A method that forgot leaves its forget set looking like test data.

Shadows are checkpoints ``checkpoints/shadows/shadow<i>.pt``, keyed like every reference
model (settings, data, and the half they saw), so a rerun reuses them. The cost is ``N``
reference trainings (stated in the report as ``shadow_seconds``).

Reference: Carlini et al., "Membership Inference Attacks From First Principles", IEEE S&P
2022; Zarifzadeh et al., "Low-Cost High-Power Membership Inference Attacks", ICML 2024.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluation.classification import per_sample_cross_entropy
from ..evaluation.lira import lira, rmia, roc_summary, speaker_scores
from ..evaluation.model_eval import predict_logits
from .store import settings_key

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["ShadowAttack", "ShadowOptions"]


@dataclass
class ShadowOptions:
    """The shadow-model attacks' settings (part of a classification run's ``eval``).

    Attributes:
        shadows: shadow models (0 = off; an even number >= 2; LiRA wants 8 or more, the
            paper 64).
        shadow_seed: seeds which shadows each utterance trains.
    """

    shadows: int = 0
    shadow_seed: int = 0


class ShadowAttack:
    """Trains (or reuses) the shadows of a classification run and scores models with them.

    Args:
        runner: the classification runner, prepared (its split, data module, utterances).
    """

    SETS = ("forget", "test")

    def __init__(self, runner: Runner):
        e = runner.cfg.eval
        if e.shadows < 2:
            raise ValueError(f"eval.shadows must be 0 (off) or >= 2, got {e.shadows}")
        self.runner = runner
        split = runner.split
        self.audited = [i for name in self.SETS for i in getattr(split, name)]
        self.n_forget = len(split.forget)
        by_id = {u.id: u for u in runner.utterances}
        self.speakers = [by_id[i].speaker for i in self.audited]
        self.pool = sorted({*split.forget, *split.retain, *split.test})
        self.shadow_in = np.zeros((e.shadows, len(self.audited)), dtype=bool)
        self.shadow_losses = np.zeros((e.shadows, len(self.audited)))
        #: RMIA's population: validation utterances when there are any
        self.population = "valid" if split.valid else None
        self.population_shadow: np.ndarray | None = None
        self.seconds = 0.0

    def halves(self) -> list[list[str]]:
        """The training set of each shadow: every pool utterance is IN exactly half of the
        shadows (the LiRA paper's balanced design: per utterance, a random half of the
        shadows), so every audited utterance has IN and OUT shadows."""
        e = self.runner.cfg.eval
        rng = np.random.default_rng(e.shadow_seed)
        ranks = np.argsort(rng.random((e.shadows, len(self.pool))), axis=0)
        keep = ranks < e.shadows // 2
        return [[u for u, k in zip(self.pool, row, strict=True) if k] for row in keep]

    def losses(self, model, sets: tuple[str, ...] = SETS) -> np.ndarray:
        """Per-sample cross-entropy of ``model`` on ``sets`` (default: the audited
        utterances, forget then test)."""
        dm = self.runner.dm
        parts = []
        for name in sets:
            logits, targets = predict_logits(model, dm.eval_dataloader(name))
            parts.append(per_sample_cross_entropy(logits, targets).numpy())
        return np.concatenate(parts)

    def prepare(self) -> None:
        """Train or reuse every shadow and record its losses on the audited utterances."""
        from ..data.datamodule import UnlearningDataModule

        r = self.runner
        split = r.split
        for i, half in enumerate(self.halves()):
            # a split needs a forget set: the half's first utterance; the shadow trains on
            # the rest (its "retain", as a gold model does), which decides membership
            shadow_split = dataclasses.replace(
                split, forget=tuple(half[:1]), retain=tuple(half[1:]), valid=(), test=split.test
            )
            dm = UnlearningDataModule(
                r.utterances,
                shadow_split,
                label_key=r.cfg.label_key,
                batch_size=r.cfg.train.batch_size,
                seed=r.cfg.seed + 1000 + i,
                cache=r.dm.cache,
                progress=False,
            )
            dm.encoder = r.dm.encoder  # the run's classes, whatever the half holds
            data = {**r.data_key, "shadow": {"index": i, "ids": settings_key(half)}}
            key = r.reference_key("shadow", data=data)
            model, meta = r.train_reference(
                "shadow", dm=dm, path=r.ckpt_path(f"shadow{i}", "shadows"), key=key
            )
            self.seconds += float(meta.get("seconds", 0.0))
            members = set(half[1:])
            self.shadow_in[i] = [u in members for u in self.audited]
            self.shadow_losses[i] = self.losses(model)
            if self.population is not None:
                pop = self.losses(model, (self.population,))
                if self.population_shadow is None:
                    self.population_shadow = np.zeros((len(self.shadow_in), len(pop)))
                self.population_shadow[i] = pop

    def score(self, model, losses: np.ndarray) -> dict[str, Any]:
        """Attack metrics of ``model``, whose per-sample losses on the audited utterances
        (forget then test, as :meth:`losses` orders them) are ``losses``."""
        counts_in = self.shadow_in.sum(axis=0)
        online = bool(counts_in.min() >= 1 and (len(self.shadow_in) - counts_in).min() >= 1)
        nf = self.n_forget
        lr_scores = lira(
            losses, self.shadow_losses, self.shadow_in, online=online, global_variance=True
        )
        if self.population is not None:
            population = {
                "population_target": self.losses(model, (self.population,)),
                "population_shadow": self.population_shadow,
            }
        else:  # the test utterances are the population: none is compared with itself
            population = {
                "population_target": losses[nf:],
                "population_shadow": self.shadow_losses[:, nf:],
                "population_index": np.r_[np.full(nf, -1), np.arange(len(losses) - nf)],
            }
        rm_scores = rmia(losses, self.shadow_losses, self.shadow_in, **population)
        row: dict[str, Any] = {
            "lira_variant": "online" if online else "offline",
            "rmia_population": self.population or "test (leave-one-out)",
        }
        for name, scores in (("lira", lr_scores), ("rmia", rm_scores)):
            roc = roc_summary(scores[:nf], scores[nf:])
            row[f"{name}_auc"] = roc.auc
            row[f"{name}_tpr_at_1pct_fpr"] = roc.tpr_at_fpr[0.01]
            row[f"{name}_tpr_at_0.1pct_fpr"] = roc.tpr_at_fpr[0.001]
        speakers, per_speaker = speaker_scores(lr_scores, self.speakers)
        forget_speakers = set(self.speakers[:nf])
        is_member = np.array([s in forget_speakers for s in speakers])
        if is_member.any() and (~is_member).any():
            roc = roc_summary(per_speaker[is_member], per_speaker[~is_member])
            row["speaker_lira_auc"] = roc.auc
            row["speaker_lira_n"] = [int(is_member.sum()), int((~is_member).sum())]
        return row
