"""The speaker-forgetting experiment: corpus -> split -> original and gold -> methods -> report.

This module (with :mod:`audio_unlearn.cli`) is where data, models, methods and evaluation
are wired together; the layers below never import each other upwards.

Every step writes into the run directory and is resumable: a checkpoint whose recorded
settings match the current ones is reused instead of retrained, and every file is written
atomically (a killed run leaves complete files or none).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from . import __version__
from .data.datamodule import UnlearningDataModule, WaveformCache
from .data.manifest import read_manifest
from .data.splits import (
    ForgetSplit,
)
from .evaluation import (
    activation_distance,
    classification_scores,
    js_to_retrained,
    loss_mia,
    mia_auc,
    scores_from_rows,
)
from .evaluation.classification import expected_calibration_error, per_sample_cross_entropy
from .evaluation.intervals import merge_seed_rows
from .evaluation.model_eval import predict_logits
from .methods import SupervisedTraining
from .models import build_classifier
from .models.checkpoint import load_classifier, save_classifier
from .reporting import markdown_table, plot_revival, plot_tradeoff
from .run.attacks import RelearnOptions, attack_row, relearn, relearn_wanted
from .run.config import load_task_config, typed_settings
from .run.requests import check_requests, prepare_requests, request_override, run_requests
from .run.runner import METHOD_FACTS, Runner
from .run.shadows import ShadowAttack, ShadowOptions
from .run.splits import SplitConfig, make_split
from .run.sweep import SweepConfig

__all__ = [
    "CorpusConfig",
    "ExperimentConfig",
    "SplitConfig",
    "TrainConfig",
    "load_config",
    "run_experiment",
]

logger = logging.getLogger(__name__)


@dataclass
class CorpusConfig:
    """Where the corpus comes from (one of three).

    Attributes:
        dir: corpus directory: the synthetic corpus is synthesised there (``synth``
            settings), or a ``prepare`` step writes its manifests there.
        manifest: an existing JSONL manifest to use as is.
        prepare: a corpus loader name from ``audio_unlearn.data.corpora.CORPORA``
            (``speech_commands``, ``audiomnist``, ``fsc``, ``slurp_star``, ...) that reads
            the downloaded corpus at ``source``; its official splits are used with
            ``split.holdout: official``.
        source: the downloaded corpus directory (or Hugging Face dataset name) for
            ``prepare``.
        options: keyword options of the prepare step.
        synth: overrides of :class:`audio_unlearn.data.synth.SynthConfig`.
    """

    dir: str = "data/synth-fsc"
    manifest: str | None = None
    prepare: str | None = None
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    synth: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Training of the original and gold models (:class:`SupervisedTraining`)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class DataConfig:
    """How audio reaches the model.

    Attributes:
        stream: decode each utterance when a batch needs it (in DataLoader workers)
            instead of holding the whole corpus in memory; file headers are still checked
            before any training. For corpora that do not fit in RAM (or under DDP, where
            every rank would hold its own copy).
        num_workers: DataLoader worker processes; None = 0 when cached (the main process
            is fastest for audio already in memory), else min(4, CPU cores - 1), at least 1.

    Streamed batches equal the cached ones, and so do models trained by epochs. A run
    that stops mid-epoch (a step budget) can see a different order from its second
    epoch on: torch's ``RandomSampler`` draws once more from the shuffling generator when
    it is run to its end, which prefetching workers do and the main process may not.
    """

    stream: bool = False
    num_workers: int | None = None

    def __post_init__(self):
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")

    def workers(self) -> int:
        if self.num_workers is not None:
            return self.num_workers
        if not self.stream:
            return 0
        import os

        return max(1, min(4, (os.cpu_count() or 2) - 1))


@dataclass
class VerificationOptions:
    """Speaker verification from the model's own embeddings (``model.embed``), per
    speaker group: the forget speakers (each request's), the retain speakers (held-out
    utterances) and the unseen speakers (``split.n_unseen_speakers``, or the test speakers
    of a speaker hold-out).

    Attributes:
        verification: on / off.
        trials_per_speaker: target trials per speaker (as many non-target ones, drawn from
            speakers of the same gender when the corpus says it).
        verification_tolerance: how far (EER, absolute) the forget speakers' EER may sit
            from the unseen speakers' to count as "at the unseen level".
    """

    verification: bool = False
    trials_per_speaker: int = 30
    verification_tolerance: float = 0.05


@dataclass
class EvalConfig(RelearnOptions, ShadowOptions, VerificationOptions):
    """Evaluation options of a classification run: the relearning attack
    (:class:`~audio_unlearn.run.attacks.RelearnOptions`), the shadow-model attacks
    (:class:`~audio_unlearn.run.shadows.ShadowOptions`: LiRA, RMIA, speaker-level) and
    speaker verification per group (:class:`VerificationOptions`), all off by default."""


@dataclass
class ExperimentConfig:
    """The whole experiment. YAML files hold overrides of these defaults only.

    ``task`` / ``protocol`` say which runner ``audio-unlearn run`` hands a config to
    (:mod:`audio_unlearn.run`): this one is ``classification`` / ``forget``.
    """

    task: str = "classification"
    protocol: str = "forget"
    seed: int = 0
    #: unlearning seeds (None: one run with ``seed``): each method runs once per seed
    #: (``checkpoints/<method>@s<seed>.pt``) and its report row gives every metric's mean
    #: with a 95% interval over seeds (``over_seeds``) and the per-seed rows (``per_seed``)
    seeds: list[int] | None = None
    label_key: str = "intent"
    max_seconds: float = 3.6
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: dict[str, dict[str, Any]] = field(default_factory=lambda: {"ft": {}, "ng": {}})
    eval: EvalConfig = field(default_factory=EvalConfig)
    requests: list[Any] | None = None
    sweep: SweepConfig = field(default_factory=SweepConfig)
    trainer: dict[str, Any] = field(default_factory=dict)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] = (),
    *,
    trainer_preset: str | Path | None = None,
) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from defaults, a YAML file and ``key=value`` overrides.

    ``trainer_preset`` (a YAML of Lightning ``Trainer`` arguments, e.g.
    ``configs/trainer/gpu.yaml``) fills ``trainer``; the config's own keys win.
    """
    return load_task_config(
        ExperimentConfig,
        path,
        overrides,
        task="classification",
        protocol="forget",
        trainer_preset=trainer_preset,
    )


def _prepare_corpus(cfg: ExperimentConfig, progress: bool):
    """Return (manifest description, utterances, official CorpusSplit or None)."""
    c = cfg.corpus
    if c.manifest:
        return str(c.manifest), read_manifest(c.manifest), None
    if c.prepare:
        from .data.corpora import prepare_corpus, read_prepared

        if not c.source:
            raise ValueError(f"corpus.prepare={c.prepare!r} needs corpus.source (the download)")
        manifests = prepare_corpus(c.prepare, c.source, c.dir, **c.options)
        utterances, official = read_prepared(manifests)
        return str(Path(c.dir)), utterances, official
    from .data.synth import SynthConfig, synthesize_corpus

    corpus = synthesize_corpus(c.dir, SynthConfig(**c.synth), progress=progress)
    return str(corpus.manifest), read_manifest(corpus.manifest), None


def check_label_key(utterances, key: str, where) -> None:
    """Refuse a corpus whose utterances lack the label a classification run uses, before
    any audio is loaded.

    Raises:
        ValueError: naming how many lack it, the first one and the labels it has.
    """
    missing = [u for u in utterances if key != "speaker" and key not in u.labels]
    if missing:
        first = missing[0]
        raise ValueError(
            f"{len(missing)} of {len(utterances)} utterances of {where} have no label {key!r} "
            f"(first: {first.id!r}, which has {[*sorted(first.labels), 'speaker']}); set "
            "label_key to one of its labels"
        )


class Experiment(Runner):
    """One speaker-forgetting run in ``run_dir`` (see :func:`run_experiment`)."""

    task = "classification"
    #: the shadow-model attacks, when ``eval.shadows`` asks for them (set by :meth:`run`)
    shadow_attack: ShadowAttack | None = None

    # -- data -------------------------------------------------------------------------------
    def _make_split(self) -> ForgetSplit:
        cfg, override = self.cfg, request_override(self.requests)
        return make_split(
            cfg.split, self.utterances, self.official, label_key=cfg.label_key, **override
        )

    def prepare(self) -> None:
        cfg = self.cfg
        self.manifest_path, self.utterances, self.official = _prepare_corpus(cfg, self.progress)
        check_label_key(self.utterances, cfg.label_key, self.manifest_path)
        self.write_config()  # inputs checked: the run directory starts here
        self.requests = check_requests(getattr(cfg, "requests", None))
        if self.requests is not None and cfg.split.kind != "speaker":
            raise ValueError("requests forget speakers: they need split.kind speaker")
        params = {**dataclasses.asdict(cfg.split), "label_key": cfg.label_key}
        if self.requests is not None:
            params["requests"] = self.requests
        split = self.load_or_make_split(
            params, self._make_split, utterances=self.utterances, manifest=self.manifest_path
        )
        self.split = split
        extra = {"forget_test": split.params["forget_test"]} if split.kind == "class" else {}
        self.dm = self.request_datamodule(split, extra)
        self.dm.setup()
        self.data_key = self.data_key_of(split)
        if self.requests is not None:
            prepare_requests(self)
        if cfg.eval.verification:  # every group has utterances: checked before training
            for k, dm in enumerate(getattr(self, "request_dms", None) or [self.dm]):
                self.verification_groups(dm, k)

    def request_datamodule(self, split: ForgetSplit, extra_sets: dict[str, Any]):
        cfg = self.cfg
        unseen = self.split.params.get("unseen")  # speakers outside every set
        return UnlearningDataModule(
            self.utterances,
            split,
            extra_sets={**extra_sets, **({"unseen": unseen} if unseen else {})},
            progress=self.progress,
            label_key=cfg.label_key,
            batch_size=cfg.train.batch_size,
            max_seconds=cfg.max_seconds,
            seed=cfg.seed,
            # audio loaded once (or streamed) for every request's module
            cache=getattr(getattr(self, "dm", None), "cache", None)
            or WaveformCache(cfg.max_seconds, stream=cfg.data.stream),
            num_workers=cfg.data.workers(),
            # every request keeps the original model's classes (its head)
            encoder=getattr(getattr(self, "dm", None), "encoder", None),
        )

    def data_key_of(self, split: ForgetSplit) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "manifest": str(self.manifest_path),
            "split": self.split_digest(split),
            "label_key": cfg.label_key,
            "max_seconds": cfg.max_seconds,
        }

    # -- models -----------------------------------------------------------------------------
    def check_model(self) -> None:
        from .models.checkpoint import CLASSIFIERS

        model = self.cfg.model
        if not isinstance(model, dict):
            raise ValueError(f"model must be a mapping (key: value), got {model!r}")
        settings = dict(model)
        name = settings.pop("name", "logmel_cnn")
        if not isinstance(name, str) or name not in CLASSIFIERS:
            raise ValueError(f"model.name {name!r} is unknown; known models: {sorted(CLASSIFIERS)}")
        model.update(typed_settings(CLASSIFIERS[name][1], settings, "model", num_classes=2))

    def check_options(self) -> None:
        from .models.checkpoint import CLASSIFIERS

        name = self.cfg.model.get("name", "logmel_cnn")
        if self.cfg.eval.verification and not hasattr(CLASSIFIERS[name][0], "embed"):
            usable = sorted(n for n, (c, _) in CLASSIFIERS.items() if hasattr(c, "embed"))
            raise ValueError(
                f"eval.verification needs speaker embeddings: model {name!r} has no embed(); "
                f"use one of {usable}"
            )
        shadows = self.cfg.eval.shadows
        if shadows and (shadows < 2 or shadows % 2 or self.cfg.requests):
            raise ValueError(
                f"eval.shadows={shadows}: the shadow attacks need an even number >= 2 of "
                "shadows (8 or more for a useful LiRA) and run on single-request runs (no "
                "`requests:`)"
            )

    def new_model(self) -> torch.nn.Module:
        return build_classifier(num_classes=self.dm.num_classes, **self.cfg.model)

    def load_model(self, path: Path):
        return load_classifier(path, expect_classes=self.dm.encoder.classes)

    def save_model(self, path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        classes, key = self.dm.encoder.classes, self.cfg.label_key
        save_classifier(path, model, classes=classes, label_key=key, meta=meta)

    def model_key(self) -> Any:
        return self.cfg.model

    def reference_module(self, model: torch.nn.Module, role: str, dm) -> L.LightningModule:
        return SupervisedTraining(
            model, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay
        )

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self, model: torch.nn.Module, dm: UnlearningDataModule | None = None, *, earlier: int = 0
    ) -> dict[str, Any]:
        """Accuracy, macro-F1 and loss per set, calibration and the loss attack; with
        ``earlier = k - 1`` (request ``k``) also each earlier request's forget set."""
        dm = self.dm if dm is None else dm
        row: dict[str, Any] = {}
        losses = {}
        names = ["forget", "retain", "test"] + (
            ["forget_test"] if dm.sets.get("forget_test") else []
        )
        for name in names:
            logits, targets = predict_logits(model, dm.eval_dataloader(name))
            scores = classification_scores(logits, targets)
            row[f"{name}_acc"] = scores.accuracy
            row[f"{name}_f1"] = scores.macro_f1
            row[f"{name}_loss"] = scores.loss
            losses[name] = per_sample_cross_entropy(logits, targets).numpy()
            if name == "forget":
                row["_forget_probs"] = logits.softmax(-1)
            if name == "test":
                row["test_ece"] = expected_calibration_error(logits.softmax(-1), targets)
        if earlier:
            row["earlier"] = []
            for j in range(1, earlier + 1):
                logits, targets = predict_logits(model, dm.eval_dataloader(f"forget_r{j}"))
                scores = classification_scores(logits, targets)
                per = per_sample_cross_entropy(logits, targets).numpy()
                row[f"forget_acc_r{j}"] = scores.accuracy
                row["earlier"].append(
                    {
                        "request": j,
                        "forget_acc": scores.accuracy,
                        "forget_loss": scores.loss,
                        "mia_auc": mia_auc(per, losses["test"]),
                    }
                )
        mia = loss_mia(losses["forget"], losses["test"], seed=self.cfg.seed)
        row["mia"] = mia.accuracy
        row["mia_std"] = mia.std
        row["mia_n_per_class"] = mia.n_per_class
        row["mia_auc"] = mia_auc(losses["forget"], losses["test"])
        if self.shadow_attack is not None and dm is self.dm:
            audited = np.concatenate([losses["forget"], losses["test"]])
            row.update(self.shadow_attack.score(model, audited))
        if self.cfg.eval.verification:
            row.update(self.verification(model, dm, earlier))
        return row

    def evaluation_settings(self) -> dict[str, Any]:
        out = super().evaluation_settings()
        if self.cfg.eval.verification:  # stored verification rows of another protocol: redo
            out["verification_protocol"] = VERIFICATION_PROTOCOL
        return out

    def verification(self, model: torch.nn.Module, dm, earlier: int = 0) -> dict[str, Any]:
        """EER, minDCF, Cllr and TPR at low FPR per speaker group from ``model.embed``
        (:func:`~audio_unlearn.evaluation.identity.group_verification`): ``eer_forget``,
        ``eer_retain``, ``eer_unseen``, ``eer_gap_f`` (forget minus unseen, same model:
        0 = the forgotten speakers verify like strangers), ``eer_forget_r<j>`` for earlier
        requests, and the whole record under ``verification``."""
        from .evaluation.identity import group_verification
        from .evaluation.verification import build_trials

        group_of, utts = self.verification_groups(dm, earlier)
        genders = self.speaker_genders()
        gender_of = {u.id: genders.get(u.speaker, "") for u in utts}
        trials = build_trials(
            utts,
            n_per_speaker=self.cfg.eval.trials_per_speaker,
            seed=self.cfg.seed,
            gender_of=genders or None,
        )
        ids = [u.id for u in utts]
        emb = _embed(model, [dm.cache[u] for u in utts], self.cfg.train.batch_size)
        groups = group_verification(trials, ids, emb, group_of, gender_of=gender_of)
        row: dict[str, Any] = {"verification": groups}
        for g, entry in groups.items():
            if "eer" in entry and g != "pending":
                row[f"eer_{g}"] = entry["eer"]
                row[f"min_cllr_{g}"] = entry["min_cllr"]
                if "cllr" in entry:
                    row[f"cllr_{g}"] = entry["cllr"]
                for sex, sub in entry.get("by_gender", {}).items():
                    if "eer" in sub:
                        row[f"eer_{g}_{sex}"] = sub["eer"]
        if row.get("eer_forget") is not None and row.get("eer_unseen") is not None:
            row["eer_gap_f"] = row["eer_forget"] - row["eer_unseen"]
        return row

    def verification_groups(self, dm, earlier: int = 0) -> tuple[dict[str, str], list]:
        """utterance id -> group and the utterances, for verification. The pool is the
        same at every request (so are the trials drawn from it): every utterance of the
        split's forget speakers (all requests), the kept speakers' held-out utterances and
        the unseen speakers' utterances. Groups: ``forget`` (this request's speakers),
        ``forget_r<j>`` (an earlier request's), ``pending`` (a later request's),
        ``retain``, ``unseen``."""
        whole = self.dm  # the whole split's module (every request's forget speakers)
        group_of_speaker = {u.speaker: "pending" for u in whole.sets["forget"]}
        group_of_speaker.update({u.speaker: "forget" for u in dm.sets["forget"]})
        for j in range(1, earlier + 1):
            group_of_speaker.update({u.speaker: f"forget_r{j}" for u in dm.sets[f"forget_r{j}"]})
        forget = whole.sets["forget"] + whole.sets.get("forget_test", [])
        trained = {u.speaker for u in whole.sets["retain"]}
        held = whole.sets["test"] + whole.sets.get("valid", [])
        unseen = whole.sets.get("unseen") or [u for u in held if u.speaker not in trained]
        named: list[tuple[str, list]] = [
            *((g, [u for u in forget if group_of_speaker[u.speaker] == g]) for g in ("forget",)),
            *(
                (
                    f"forget_r{j}",
                    [u for u in forget if group_of_speaker[u.speaker] == f"forget_r{j}"],
                )
                for j in range(1, earlier + 1)
            ),
            ("pending", [u for u in forget if group_of_speaker[u.speaker] == "pending"]),
            ("retain", [u for u in held if u.speaker in trained]),
            ("unseen", unseen),
        ]
        missing = [g for g, members in named if not members and g != "pending"]
        if missing:
            raise ValueError(
                f"eval.verification: no utterances for group(s) {missing}; the unseen group "
                "needs split.n_unseen_speakers (utterance hold-out) or held-out speakers"
            )
        group_of = {u.id: g for g, members in named for u in members}
        utts = sorted(
            {u.id: u for _, members in named for u in members}.values(), key=lambda u: u.id
        )
        return group_of, utts

    def speaker_genders(self) -> dict[str, str]:
        """Speaker -> gender: the utterances' ``gender`` labels, else a synthetic corpus's
        ``speakers.tsv``; {} when the corpus does not say."""
        from .data.synth import speaker_genders

        if getattr(self, "_genders", None) is None:
            labelled = {u.speaker: u.labels.get("gender", "") for u in self.utterances}
            if labelled and all(labelled.values()):
                self._genders = labelled
            else:
                self._genders = speaker_genders(Path(self.manifest_path).parent)
        return self._genders

    def run(self) -> dict[str, Any]:
        self.prepare()
        self.original, meta_o = self.train_reference("original")
        if self.requests is not None:
            rows = run_requests(self, meta_o)
            return self.report(rows) if self.is_global_zero else {}
        gold, meta_g = self.train_reference("gold")
        if self.cfg.eval.shadows:  # every rank trains the shadows (collective fits)
            self.shadow_attack = ShadowAttack(self)
            self.shadow_attack.prepare()
        methods = self.tuned_methods(gold)
        seeds = self.unlearning_seeds()
        if not self.is_global_zero:
            for name, hparams in methods.items():
                for seed in seeds:
                    label, model, meta = self.unlearn_seeded(name, hparams, seed)
                    if relearn_wanted(self, name):
                        relearn(self, label, model, meta)
            return {}
        rows = [
            {"model": "original", "role": "original", "time_s": meta_o["seconds"]},
            {"model": "gold", "role": "gold", "time_s": meta_g["seconds"]},
        ]
        rows[0].update(self.scores("original", self.original, meta_o["key"]))
        rows[1].update(self.scores("gold", gold, meta_g["key"]))
        for name, hparams in methods.items():
            for seed in seeds:
                label, model, meta = self.unlearn_seeded(name, hparams, seed)
                facts = {k: meta[k] for k in METHOD_FACTS if k in meta}
                row = {"model": name, "role": "method", "time_s": meta["seconds"]}
                row.update(hparams=meta["hparams"], **({} if seed is None else {"seed": seed}))
                rows.append({**row, **facts, **self.scores(label, model, meta["key"])})
                if relearn_wanted(self, name):
                    attacked, info = relearn(self, label, model, meta)
                    scores = self.scores(f"{label}+relearn", attacked, info["key"])
                    extra = {} if seed is None else {"seed": seed}
                    rows.append({**attack_row(name, info), **scores, **extra})
        return self.report(rows)

    def _score_block(self, rows: list[dict[str, Any]]) -> None:
        """Distances to gold, speed-up, GUM and CGUM of one request's rows (in place)."""
        orig = next(r for r in rows if r["role"] == "original")
        gold = next(r for r in rows if r["role"] == "gold")
        gold_probs = torch.as_tensor(gold["_forget_probs"], dtype=torch.float32)
        for r in rows:
            # distance to the retrained model's outputs on the forget set (Chundawat et al.)
            probs = torch.as_tensor(r.pop("_forget_probs"), dtype=torch.float32)
            r["activation_distance"] = activation_distance(probs, gold_probs)
            r["js_to_gold"] = js_to_retrained(probs, gold_probs)["js"]
        for r in rows:  # the forgotten speakers' EER against gold's on the same trials
            if r.get("eer_forget") is not None and gold.get("eer_forget") is not None:
                r["eer_gap_gold"] = r["eer_forget"] - gold["eer_forget"]
        for r in rows:
            r["speedup"] = gold["time_s"] / r["time_s"] if r["time_s"] > 0 else float("inf")
            if r["role"] != "method":
                r["gum"] = r["cgum"] = None
                continue
            g, c = scores_from_rows(r, orig, gold, n_classes=self.dm.num_classes)
            r["gum"], r["cgum"] = g.score, c.score
            r["gum_terms"] = dataclasses.asdict(g)
            r["cgum_terms"] = dataclasses.asdict(c)

    def report(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        blocks: dict[Any, list[dict[str, Any]]] = {}
        for r in rows:
            blocks.setdefault(r.get("request"), []).append(r)
        for block in blocks.values():
            self._score_block(block)
        at = {(r["model"], r.get("request")): r for r in rows if r["role"] == "method"}
        for r in rows:
            for e in r.get("earlier", ()) if r["role"] == "method" else ():
                then = at[(r["model"], e["request"])]
                e["forget_acc_at_request"] = then["forget_acc"]
                e["forget_acc_change"] = e["forget_acc"] - then["forget_acc"]
        if any(r.get("seed") is not None for r in rows):  # one row per method over seeds
            rows = merge_seed_rows(rows)
            blocks = {None: rows}
        if self.cfg.eval.verification:
            _verification_verdicts(rows, self.cfg.eval.verification_tolerance)
        report = {
            "tool": f"audio-unlearn {__version__}",
            "task": f"speaker forgetting, {self.cfg.label_key} classification",
            "manifest": str(self.manifest_path),
            "forget_speakers": list(self.split.forget_speakers),
            "sizes": {k: len(getattr(self.split, k)) for k in ("forget", "retain", "test")},
            "num_classes": self.dm.num_classes,
            "mia_protocol": "UnSLU-BENCH loss attack: forget (member) vs test, balanced, "
            "logistic regression, 10 stratified shuffle-splits (10% test); 0.5 = no signal",
            "models": rows,
        }
        if self.shadow_attack is not None:
            report["shadow_attack"] = {
                "shadows": self.cfg.eval.shadows,
                "shadow_seconds": self.shadow_attack.seconds,
                "pool": "forget + retain + test, a random half per shadow",
                "members": "forget utterances",
                "nonmembers": "test utterances",
                "protocol": "LiRA (Carlini et al. 2022; global variance, online when every "
                "audited utterance has IN and OUT shadows) and RMIA (Zarifzadeh et al. 2024; "
                "online, population = test) on per-sample cross-entropy; speaker level = mean "
                "LiRA score per speaker",
            }
        if self.requests is not None:
            report["requests"] = [
                {"request": k, "speakers": list(spk)}
                for k, spk in enumerate(self.request_speakers, start=1)
            ]
        table = "\n\n".join(
            (f"Request {k}: forget {', '.join(b[0]['request_speakers'])}\n\n" if k else "")
            + markdown_table(b)
            + (_verification_markdown(b, self.cfg.eval) if self.cfg.eval.verification else "")
            for k, b in blocks.items()
        )
        self.write_report(report, _report_markdown(report, table))
        plot_tradeoff(list(blocks.values())[-1], self.run_dir / "tradeoff.png")  # the last state
        if self.requests is not None:
            panels = [("forget accuracy", "forget_acc", "forget_acc_r{j}")]
            if self.cfg.eval.verification:
                panels.append(("verification EER", "eer_forget", "eer_forget_r{j}"))
            plot_revival(rows, panels, self.run_dir / "revival.png")
        self._say(table)
        self._say(f"\nwrote {self.run_dir / 'report.json'}, report.md, tradeoff.png")
        return report


#: the version of the verification measurement (pool, trials, groups); part of the key
#: of stored evaluations, so a change of protocol recomputes them
VERIFICATION_PROTOCOL = 2

#: the verification table of a run with ``eval.verification``
VERIFICATION_COLUMNS = [
    ("model", "model", "{}"),
    ("eer_forget", "EER forget", "{:.3f}"),
    ("eer_unseen", "EER unseen", "{:.3f}"),
    ("eer_gap_f", "forget - unseen", "{:+.3f}"),
    ("eer_gap_gold", "forget - gold", "{:+.3f}"),
    ("eer_retain", "EER retain", "{:.3f}"),
    ("eer_forget_f", "EER forget (f)", "{:.3f}"),
    ("eer_forget_m", "EER forget (m)", "{:.3f}"),
    ("min_cllr_forget", "min-Cllr forget", "{:.3f}"),
    ("cllr_forget", "Cllr forget", "{:.3f}"),
    ("min_cllr_unseen", "min-Cllr unseen", "{:.3f}"),
    ("eer_level", "vs unseen", "{}"),
    ("eer_level_gold", "vs gold", "{}"),
]


def _verification_verdicts(rows: list[dict[str, Any]], tolerance: float) -> None:
    """``eer_level`` of each row: where its forget speakers' EER sits against its unseen
    speakers' (:func:`~audio_unlearn.evaluation.identity.level_verdict`); over seeds read
    from the interval of the difference, for a single model from the value."""
    from .evaluation.identity import level_verdict
    from .evaluation.intervals import Interval

    for r in rows:
        for key, out in (("eer_gap_f", "eer_level"), ("eer_gap_gold", "eer_level_gold")):
            gap = r.get(key)
            if gap is None or (key == "eer_gap_gold" and r.get("role") == "gold"):
                continue
            s = (r.get("over_seeds") or {}).get(key)
            if s:
                iv = Interval(s["mean"], s.get("sd"), s.get("lo"), s.get("hi"), s["n"])
            else:  # one model: its value is its own interval
                iv = Interval(gap, None, gap, gap, 1)
            r[out] = level_verdict(iv, tolerance)
            if not s:
                r[out] += " (one model)"


def _verification_markdown(rows: list[dict[str, Any]], ev: Any) -> str:
    earlier = sorted({k for r in rows for k in r if re.fullmatch(r"eer_forget_r\d+", k)})
    columns = VERIFICATION_COLUMNS + [(k, f"EER request {k[12:]}", "{:.3f}") for k in earlier]
    return (
        "\n\nSpeaker verification from the model's embeddings (cosine; same-gender trials "
        f"when the corpus says the gender; {ev.trials_per_speaker} target trials a speaker). "
        "forget - unseen: the forgotten speakers' EER minus that of speakers the model never "
        f'saw; "at the unseen level" when its interval lies within +-{ev.verification_tolerance}, '
        "under-forgotten below (still verifiable), over-forgotten above (it stands out). Cllr "
        "after an affine calibration fitted on the retain speakers' trials; min-Cllr after the "
        "best monotone one. forget - gold: against the retrained model's EER on the same "
        "speakers' trials (the level for these very speakers, free of how easy they are to "
        "verify); the verdict reads it the same way. EER request j: an earlier request's "
        "speakers measured again.\n\n" + markdown_table(rows, columns)
    )


@torch.no_grad()
def _embed(model: torch.nn.Module, wavs: list[torch.Tensor], batch_size: int) -> torch.Tensor:
    """``model.embed`` of fixed-length waveforms, in batches, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        rows = [
            model.embed(torch.stack(wavs[i : i + batch_size])).float()
            for i in range(0, len(wavs), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(rows)


def _report_markdown(report: dict[str, Any], table: str) -> str:
    return (
        f"# Speaker forgetting report\n\n{report['task']}; {report['tool']}\n\n"
        f"Forget speakers: {', '.join(report['forget_speakers'])}; sizes {report['sizes']}; "
        f"{report['num_classes']} classes.\n\nMIA: {report['mia_protocol']}.\n\n{table}\n\n"
        "![forget/retain trade-off](tradeoff.png)\n"
    )


def run_experiment(cfg: ExperimentConfig, run_dir: str | Path, *, progress: bool = True) -> dict:
    """Run the whole experiment into ``run_dir`` and return the report dictionary."""
    start = time.perf_counter()
    experiment = Experiment(cfg, run_dir, progress=progress)
    report = experiment.run()
    experiment._say(f"total wall time {time.perf_counter() - start:.0f} s")
    return report
