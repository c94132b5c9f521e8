"""The speaker-forgetting experiment: corpus -> split -> original and gold -> methods -> report.

This module (with :mod:`audio_unlearn.cli`) is where data, models, methods and evaluation
are wired together; the layers below never import each other upwards.

Every step writes into the run directory and is resumable: a checkpoint whose recorded
settings match the current ones is reused instead of retrained, and every file is written
atomically (a killed run leaves complete files or none).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.utilities import rank_zero_only

from . import __version__
from .data.datamodule import UnlearningDataModule
from .data.manifest import atomic_write_text, read_manifest
from .data.splits import (
    ForgetSplit,
    class_forget_split,
    item_forget_split,
    speaker_disjoint_split,
    speaker_forget_split,
    utterance_holdout_split,
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
from .evaluation.model_eval import predict_logits
from .methods import SupervisedTraining, build_method
from .methods.fit import fit_unlearning, make_trainer
from .methods.registry import check_methods
from .models import build_classifier
from .models.checkpoint import load_classifier, save_classifier
from .reporting import markdown_table, plot_tradeoff
from .run.config import load_task_config
from .run.ddp import record_rank
from .run.store import reuse_checkpoint, settings_key

__all__ = [
    "CorpusConfig",
    "ExperimentConfig",
    "SplitConfig",
    "TrainConfig",
    "load_config",
    "run_experiment",
]

logger = logging.getLogger(__name__)

# facts a method object may expose after unlearning, copied into its report row
METHOD_FACTS = ("impair_seconds", "chosen_sparsity", "n_pruned")


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
class SplitConfig:
    """How the corpus is split into train/test and what is forgotten.

    Hold-out (``holdout``): "speaker" keeps ``n_test_speakers`` speakers unseen (SLU,
    intent tasks); "utterance" holds out ``test_fraction`` of every class's utterances
    (closed-set tasks such as speaker identification, where the class is the speaker);
    "official" uses the corpus's own train/valid/test lists (``corpus.prepare``).

    Forget set (``kind``):
      - "speaker": UnSLU-BENCH speaker protocol; exactly one of ``fraction``,
        ``n_speakers`` or ``speakers``; eligibility ``min_utterances``.
      - "class": forget every training utterance of ``classes`` (or ``n_classes`` drawn
        at random) under the task's label key.
      - "item": forget a random ``fraction`` of training utterances.
    """

    kind: str = "speaker"
    holdout: str = "speaker"
    n_test_speakers: int = 12
    n_valid_speakers: int = 0
    test_fraction: float = 0.2
    fraction: float | None = None
    n_speakers: int | None = 6
    speakers: list[str] | None = None
    min_utterances: int = 50
    classes: list[str] | None = None
    n_classes: int | None = None
    seed: int = 42


@dataclass
class TrainConfig:
    """Training of the original and gold models (:class:`SupervisedTraining`)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class ExperimentConfig:
    """The whole experiment. YAML files hold overrides of these defaults only.

    ``task`` / ``protocol`` say which runner ``audio-unlearn run`` hands a config to
    (:mod:`audio_unlearn.run`): this one is ``classification`` / ``forget``.
    """

    task: str = "classification"
    protocol: str = "forget"
    seed: int = 0
    label_key: str = "intent"
    max_seconds: float = 3.6
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: dict[str, dict[str, Any]] = field(default_factory=lambda: {"ft": {}, "ng": {}})
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


class Experiment:
    """One speaker-forgetting run in ``run_dir`` (see :func:`run_experiment`)."""

    def __init__(self, cfg: ExperimentConfig, run_dir: str | Path, *, progress: bool = True):
        check_methods(cfg.methods, "classification")  # before any work
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress
        # Under DDP every rank runs this script; only rank 0 writes files and evaluates
        # (on the full sets, so each metric is computed once). Lightning reads the rank
        # from the launcher's environment (RANK / LOCAL_RANK / SLURM_PROCID).
        self.is_global_zero = rank_zero_only.rank == 0

    def _say(self, *args, **kwargs) -> None:
        if self.is_global_zero:
            print(*args, **kwargs)

    # -- data -------------------------------------------------------------------------------
    def _make_split(self) -> ForgetSplit:
        s, utts, key = self.cfg.split, self.utterances, self.cfg.label_key
        if s.holdout == "speaker":
            corpus = speaker_disjoint_split(
                utts,
                n_test_speakers=s.n_test_speakers,
                n_valid_speakers=s.n_valid_speakers,
                seed=s.seed,
            )
        elif s.holdout == "utterance":
            corpus = utterance_holdout_split(
                utts, label_key=key, test_fraction=s.test_fraction, seed=s.seed
            )
        elif s.holdout == "official":
            if self.official is None:
                raise ValueError("split.holdout: official needs a corpus.prepare step")
            corpus = self.official
        else:
            raise ValueError(
                f"split.holdout must be 'speaker', 'utterance' or 'official', not {s.holdout!r}"
            )
        if s.kind == "speaker":
            return speaker_forget_split(
                utts,
                corpus,
                fraction=s.fraction,
                n_speakers=s.n_speakers,
                speakers=s.speakers,
                min_utterances=s.min_utterances,
                seed=s.seed,
            )
        if s.kind == "class":
            classes = s.classes
            if classes is None:
                by_id = {u.id: u for u in utts}
                labels = sorted({by_id[i].label(key) for i in corpus.train})
                if not s.n_classes:
                    raise ValueError("a class split needs split.classes or split.n_classes")
                classes = random.Random(s.seed).sample(labels, s.n_classes)
            return class_forget_split(utts, corpus, classes=classes, label_key=key)
        if s.kind == "item":
            if s.fraction is None:
                raise ValueError("an item split needs split.fraction")
            return item_forget_split(utts, corpus, fraction=s.fraction, seed=s.seed)
        raise ValueError(f"split.kind must be 'speaker', 'class' or 'item', not {s.kind!r}")

    def prepare(self) -> None:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_global_zero:
            atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(cfg)))
        self.manifest_path, self.utterances, self.official = _prepare_corpus(cfg, self.progress)
        split_path = self.run_dir / "split.json"
        split_params = {**dataclasses.asdict(cfg.split), "label_key": cfg.label_key}
        if split_path.is_file():
            split = ForgetSplit.load(split_path)
            split.check_against(self.utterances, str(self.manifest_path))
            if split.params.get("config") != split_params:
                raise ValueError(
                    f"{split_path} was made with other split settings "
                    f"({split.params.get('config')}); use a new run directory or delete it"
                )
        else:
            split = self._make_split()
            split = dataclasses.replace(split, params={**split.params, "config": split_params})
            if self.is_global_zero:
                split.save(split_path)
        self.split = split
        extra = {"forget_test": split.params["forget_test"]} if split.kind == "class" else {}
        self.dm = UnlearningDataModule(
            self.utterances,
            split,
            extra_sets=extra,
            progress=self.progress,
            label_key=cfg.label_key,
            batch_size=cfg.train.batch_size,
            max_seconds=cfg.max_seconds,
            seed=cfg.seed,
        )
        self.dm.setup()
        self.data_key = {
            "manifest": str(self.manifest_path),
            "split": {k: settings_key(getattr(split, k)) for k in ("forget", "retain", "test")},
            "label_key": cfg.label_key,
            "max_seconds": cfg.max_seconds,
        }

    # -- models -----------------------------------------------------------------------------
    def new_model(self) -> torch.nn.Module:
        return build_classifier(num_classes=self.dm.num_classes, **self.cfg.model)

    def _reuse(self, path: Path, key: str):
        classes = self.dm.encoder.classes
        load = lambda p: load_classifier(p, expect_classes=classes)  # noqa: E731
        return reuse_checkpoint(path, key, load, say=self._say)

    def _key(self, role: str) -> str:
        """Settings digest of a reference model; a checkpoint with another key is stale."""
        cfg = self.cfg
        return settings_key(
            {
                "role": role,
                "data": self.data_key,
                "train": dataclasses.asdict(cfg.train),
                "model": cfg.model,
                "seed": cfg.seed,
            }
        )

    def train_reference(self, role: str) -> tuple[torch.nn.Module, float]:
        """Train (or reuse) the original (``role="original"``) or gold model."""
        cfg = self.cfg
        key = self._key(role)
        path = self.ckpt_dir / f"{role}.pt"
        ckpt = self._reuse(path, key)
        if ckpt is not None:
            return ckpt.model, float(ckpt.meta["seconds"])
        L.seed_everything(cfg.seed, verbose=False)
        model = self.new_model()
        module = SupervisedTraining(model, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.dm.stage = role
        timer = Timer()
        self._say(
            f"training the {role} model on {'train' if role == 'original' else 'retain'} "
            f"({cfg.train.epochs} epochs)"
        )
        trainer = make_trainer(
            cfg.train.epochs, progress=self.progress, callbacks=[timer], **cfg.trainer
        )
        trainer.fit(module, datamodule=self.dm)
        record_rank(self.run_dir, trainer, role)
        self.is_global_zero = trainer.is_global_zero
        seconds = timer.time_elapsed("train")
        if not self.is_global_zero:  # other DDP ranks train, rank 0 writes and evaluates
            return model, seconds
        save_classifier(
            path,
            model,
            classes=self.dm.encoder.classes,
            label_key=cfg.label_key,
            meta={"key": key, "seconds": seconds, "role": role},
        )
        return model, seconds

    def unlearn(
        self, name: str, hparams: dict[str, Any]
    ) -> tuple[torch.nn.Module, float, dict[str, Any]]:
        """Run unlearning method ``name`` from a copy of the original model (or reuse).

        Returns the model, the unlearning wall time, and method facts worth reporting
        (prune-and-regrow's impair time, chosen sparsity and pruned count).
        """
        cfg = self.cfg
        key = settings_key(
            {
                "method": name,
                "hparams": hparams,
                "original": self.original_key,
                "batch_size": cfg.train.batch_size,
                "seed": cfg.seed,
            }
        )
        path = self.ckpt_dir / f"{name}.pt"
        ckpt = self._reuse(path, key)
        if ckpt is not None:
            extra = {k: ckpt.meta[k] for k in METHOD_FACTS if k in ckpt.meta}
            return ckpt.model, float(ckpt.meta["seconds"]), extra
        L.seed_everything(cfg.seed, verbose=False)
        model = copy.deepcopy(self.original)
        module = build_method(name, model, task="classification", **hparams)
        self._say(f"unlearning with {name} {hparams or '(defaults)'}")
        seconds = fit_unlearning(module, self.dm, progress=self.progress, **cfg.trainer)
        extra = {
            k: getattr(module, k)
            for k in METHOD_FACTS
            if isinstance(getattr(module, k, None), (int, float))
        }
        if not self.is_global_zero:
            return model, seconds, extra
        save_classifier(
            path,
            model,
            classes=self.dm.encoder.classes,
            label_key=cfg.label_key,
            meta={
                "key": key,
                "seconds": seconds,
                "role": "method",
                "method": name,
                "hparams": hparams,
                **extra,
            },
        )
        return model, seconds, extra

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: torch.nn.Module) -> dict[str, Any]:
        row: dict[str, Any] = {}
        losses = {}
        names = ["forget", "retain", "test"] + (
            ["forget_test"] if self.dm.sets.get("forget_test") else []
        )
        for name in names:
            logits, targets = predict_logits(model, self.dm.eval_dataloader(name))
            scores = classification_scores(logits, targets)
            row[f"{name}_acc"] = scores.accuracy
            row[f"{name}_f1"] = scores.macro_f1
            row[f"{name}_loss"] = scores.loss
            losses[name] = per_sample_cross_entropy(logits, targets).numpy()
            if name == "forget":
                row["_forget_probs"] = logits.softmax(-1)
            if name == "test":
                row["test_ece"] = expected_calibration_error(logits.softmax(-1), targets)
        mia = loss_mia(losses["forget"], losses["test"], seed=self.cfg.seed)
        row["mia"] = mia.accuracy
        row["mia_std"] = mia.std
        row["mia_n_per_class"] = mia.n_per_class
        row["mia_auc"] = mia_auc(losses["forget"], losses["test"])
        return row

    def run(self) -> dict[str, Any]:
        self.prepare()
        original, t_o = self.train_reference("original")
        self.original = copy.deepcopy(original)
        self.original_key = self._key("original")
        gold, t_g = self.train_reference("gold")
        if not self.is_global_zero:
            for name, hparams in self.cfg.methods.items():
                self.unlearn(name, dict(hparams or {}))
            return {}
        rows = [
            {"model": "original", "role": "original", "time_s": t_o, **self.evaluate(original)},
            {"model": "gold", "role": "gold", "time_s": t_g, **self.evaluate(gold)},
        ]
        for name, hparams in self.cfg.methods.items():
            model, t_u, facts = self.unlearn(name, dict(hparams or {}))
            rows.append(
                {
                    "model": name,
                    "role": "method",
                    "time_s": t_u,
                    "hparams": hparams,
                    **facts,
                    **self.evaluate(model),
                }
            )
        return self.report(rows)

    def report(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        orig = next(r for r in rows if r["role"] == "original")
        gold = next(r for r in rows if r["role"] == "gold")
        gold_probs = gold["_forget_probs"]
        for r in rows:
            # distance to the retrained model's outputs on the forget set (Chundawat et al.)
            probs = r.pop("_forget_probs")
            r["activation_distance"] = activation_distance(probs, gold_probs)
            r["js_to_gold"] = js_to_retrained(probs, gold_probs)["js"]
        for r in rows:
            r["speedup"] = gold["time_s"] / r["time_s"] if r["time_s"] > 0 else float("inf")
            if r["role"] != "method":
                r["gum"] = r["cgum"] = None
                continue
            g, c = scores_from_rows(r, orig, gold, n_classes=self.dm.num_classes)
            r["gum"], r["cgum"] = g.score, c.score
            r["gum_terms"] = dataclasses.asdict(g)
            r["cgum_terms"] = dataclasses.asdict(c)
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
        atomic_write_text(self.run_dir / "report.json", json.dumps(report, indent=1) + "\n")
        table = markdown_table(rows)
        atomic_write_text(self.run_dir / "report.md", _report_markdown(report, table))
        plot_tradeoff(rows, self.run_dir / "tradeoff.png")
        self._say(table)
        self._say(f"\nwrote {self.run_dir / 'report.json'}, report.md, tradeoff.png")
        return report


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
