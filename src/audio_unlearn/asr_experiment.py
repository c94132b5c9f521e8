"""Speaker forgetting for speech recognition: corpus -> split -> original and retrained
CTC recognisers -> ASR unlearning methods -> WER / loss / membership report.

Wires :mod:`audio_unlearn.data.asr_data`, :mod:`audio_unlearn.models.asr`,
:mod:`audio_unlearn.methods.asr` and the evaluation functions together (as
:mod:`audio_unlearn.experiment` does for classifiers). Every step writes into the run
directory and is resumable: a checkpoint whose recorded settings key matches is reused.

Run directory::

    config.yaml            the settings used
    split.json             forget / retain / test utterance ids
    checkpoints/original.pt  the recogniser trained on train (forget + retain): the
                           offline WER judge, ``get_transcriber("library:<this path>")``
    checkpoints/gold.pt    retrained on retain only (the reference of forgetting)
    checkpoints/<method>.pt
    judge.json             WER/CER of the original on the unseen test speakers
    report.json, report.md, tradeoff.png
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Timer

from . import __version__
from .data.asr_data import ASRDataModule, WaveformStore, speech_duration
from .data.manifest import atomic_write_text
from .data.splits import ForgetSplit, speaker_disjoint_split, speaker_forget_split
from .evaluation.sequence_mia import duration_matched_mia, informed_loo_mia
from .evaluation.wer import wer_scores
from .experiment import CorpusConfig, _digest, _merge, _parse_override, _prepare_corpus
from .methods import build_method
from .methods.asr import CTCTraining
from .methods.fit import fit_unlearning, make_trainer
from .models.asr import (
    ASRCheckpointError,
    CTCRecognizer,
    CTCRecognizerConfig,
    greedy_ctc_decode,
    load_asr,
    per_sample_ctc_loss,
    save_asr,
)
from .reporting import markdown_table, save_figure

__all__ = [
    "ASREvalConfig",
    "ASRExperimentConfig",
    "ASRSplitConfig",
    "ASRTrainConfig",
    "evaluate_recognizer",
    "load_asr_config",
    "run_asr_experiment",
]

logger = logging.getLogger(__name__)


@dataclass
class ASRSplitConfig:
    """Held-out speakers and forget speakers.

    ``holdout``: "speaker" keeps ``n_test_speakers`` speakers unseen (the synthetic
    corpus); "official" uses the prepare step's own train/valid/test manifests
    (LibriSpeech: train-clean-100 / dev-clean / test-clean). Forget set: exactly one of
    ``n_speakers`` (drawn among speakers with at least ``min_utterances`` training
    utterances) or ``speakers``.
    """

    holdout: str = "speaker"
    n_test_speakers: int = 6
    n_speakers: int | None = 1
    speakers: list[str] | None = None
    min_utterances: int = 20
    seed: int = 42


@dataclass
class ASRTrainConfig:
    """Training of the original and retrained recognisers (:class:`CTCTraining`)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0


@dataclass
class ASREvalConfig:
    """Evaluation settings.

    Attributes:
        mia_bin_s: duration bin width of the duration-matched attack (seconds).
        informed_groups: content groups of the informed attack: "text" (normalised
            transcript; corpora that repeat sentences) or "duration" (bins of
            ``mia_bin_s``; corpora with unique sentences, e.g. LibriSpeech).
        max_retain_eval: score at most this many retain utterances (seeded sample;
            None = all).
        retain_wer_bound: a method "keeps utility" when its retain WER exceeds the
            original's by at most this much (absolute).
        loss_tolerance: a method "reaches the retrained level" when its forget loss is at
            least ``(1 - loss_tolerance)`` times the retrained model's and its
            duration-matched MIA AUC is within ``auc_tolerance`` of the retrained one's
            (far below it = over-forgetting, which an attacker can also see).
        auc_tolerance: see ``loss_tolerance``.
        judge_full_audio: also score the original on the uncropped test files through
            the ``library:`` transcriber (the judge's real use).
        device: torch device of the evaluation passes ("cuda" on a GPU machine).
    """

    mia_bin_s: float = 0.25
    informed_groups: str = "text"
    max_retain_eval: int | None = 400
    retain_wer_bound: float = 0.05
    loss_tolerance: float = 0.1
    auc_tolerance: float = 0.05
    judge_full_audio: bool = True
    device: str = "cpu"


@dataclass
class ASRExperimentConfig:
    """The whole ASR speaker-forgetting experiment; YAML files hold overrides only.

    Attributes:
        crop: "speech" cuts each waveform ``margin_s`` after its phone alignment (the
            synthetic corpus's fixed 3.6 s windows are mostly silence) or "none".
        random_tail: training batches put back a random part of the cut-off tail, so the
            recogniser also handles the full files (the judge's use).
        model: overrides of :class:`~audio_unlearn.models.asr.CTCRecognizerConfig`.
        methods: method name -> hyper-parameter overrides (``asr_*`` methods).
        trainer: Lightning Trainer keyword arguments (e.g. ``accelerator: gpu``).
    """

    seed: int = 0
    crop: str = "speech"
    margin_s: float = 0.3
    random_tail: bool = True
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    split: ASRSplitConfig = field(default_factory=ASRSplitConfig)
    model: dict[str, Any] = field(default_factory=dict)
    train: ASRTrainConfig = field(default_factory=ASRTrainConfig)
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"asr_ft": {}, "asr_ngplus": {}}
    )
    eval: ASREvalConfig = field(default_factory=ASREvalConfig)
    trainer: dict[str, Any] = field(default_factory=dict)


def load_asr_config(path: str | Path | None = None, overrides=()) -> ASRExperimentConfig:
    """Defaults, then a YAML file of overrides, then ``key.sub=value`` overrides.

    Raises:
        FileNotFoundError: the YAML file does not exist.
        ValueError: an unknown key.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} not found (see recipes/asr_speaker/)")
        values = yaml.safe_load(path.read_text()) or {}
    for item in overrides:
        keys, value = _parse_override(item)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return _merge(ASRExperimentConfig, values, str(path or "config"))


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_recognizer(
    model: CTCRecognizer, loader, *, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, list[str]]:
    """Per-utterance loss (nats per character) and greedy transcript over a loader.

    Returns:
        ``(losses (N,), hypotheses)`` in loader order.
    """
    was_training = model.training
    model.to(device).eval()
    losses, hyps = [], []
    try:
        for wavs, wav_lengths, targets, target_lengths in loader:
            log_probs, frames = model(wavs.to(device), wav_lengths.to(device))
            losses.append(
                per_sample_ctc_loss(
                    log_probs, frames, targets.to(device), target_lengths.to(device)
                )
                .float()
                .cpu()
            )
            hyps.extend(greedy_ctc_decode(log_probs, frames, model.vocab))
    finally:
        model.cpu().train(was_training)
    return torch.cat(losses).numpy(), hyps


class ASRExperiment:
    """One ASR speaker-forgetting run in ``run_dir`` (see :func:`run_asr_experiment`)."""

    def __init__(self, cfg: ASRExperimentConfig, run_dir: str | Path, *, progress: bool = True):
        if cfg.crop not in ("none", "speech"):
            raise ValueError(f"crop must be 'none' or 'speech', got {cfg.crop!r}")
        if cfg.eval.informed_groups not in ("text", "duration"):
            raise ValueError(
                f"eval.informed_groups must be 'text' or 'duration', got "
                f"{cfg.eval.informed_groups!r}"
            )
        unknown = [m for m in cfg.methods if not m.startswith("asr_")]
        if unknown:
            raise ValueError(
                f"methods {unknown} are not ASR methods; use asr_ft, asr_ng, asr_ngplus, "
                "asr_cfk or asr_scrub"
            )
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress
        self.model_config = CTCRecognizerConfig(**cfg.model)
        self.device = torch.device(cfg.eval.device)

    def _say(self, *args) -> None:
        print(*args, flush=True)

    # -- data ----------------------------------------------------------------------------
    def _make_split(self) -> ForgetSplit:
        s = self.cfg.split
        if s.holdout == "speaker":
            corpus = speaker_disjoint_split(
                self.utterances, n_test_speakers=s.n_test_speakers, seed=s.seed
            )
        elif s.holdout == "official":
            if self.official is None:
                raise ValueError("split.holdout: official needs a corpus.prepare step")
            corpus = self.official
        else:
            raise ValueError(f"split.holdout must be 'speaker' or 'official', not {s.holdout!r}")
        return speaker_forget_split(
            self.utterances,
            corpus,
            fraction=None,
            n_speakers=None if s.speakers else s.n_speakers,
            speakers=s.speakers,
            min_utterances=s.min_utterances,
            seed=s.seed,
        )

    def prepare(self) -> None:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(cfg)))
        self.manifest_path, self.utterances, self.official = _prepare_corpus(cfg, self.progress)
        split_path = self.run_dir / "split.json"
        split_params = dataclasses.asdict(cfg.split)
        if split_path.is_file():
            split = ForgetSplit.load(split_path)
            split.check_against(self.utterances, str(self.manifest_path))
            if split.params.get("config") != split_params:
                raise ValueError(
                    f"{split_path} was made with other split settings; use a new run "
                    "directory or delete it"
                )
        else:
            split = self._make_split()
            split = dataclasses.replace(split, params={**split.params, "config": split_params})
            split.save(split_path)
        self.split = split
        retain_eval = list(split.retain)
        m = cfg.eval.max_retain_eval
        if m is not None and len(retain_eval) > m:
            rng = np.random.default_rng(cfg.seed)
            retain_eval = [retain_eval[i] for i in sorted(rng.choice(len(retain_eval), m, False))]
        vocab = CTCRecognizer(self.model_config).vocab
        self.vocab = vocab
        self.dm = ASRDataModule(
            self.utterances,
            split,
            vocab.encode,
            batch_size=cfg.train.batch_size,
            seed=cfg.seed,
            store=WaveformStore(crop=cfg.crop, margin_s=cfg.margin_s),
            extra_sets={"retain_eval": retain_eval},
            progress=self.progress,
            random_tail=cfg.random_tail,
        )
        self.dm.setup()
        self.data_key = {
            "manifest": str(self.manifest_path),
            "split": {k: _digest(getattr(split, k)) for k in ("forget", "retain", "test")},
            "crop": cfg.crop,
            "margin_s": cfg.margin_s,
            "random_tail": cfg.random_tail,
        }

    # -- models --------------------------------------------------------------------------
    def _reuse(self, path: Path, key: str) -> tuple[CTCRecognizer, dict] | None:
        if not path.is_file():
            return None
        try:
            ckpt = load_asr(path, expect_config=self.model_config)
        except ASRCheckpointError as err:
            logger.warning("%s cannot be reused (%s); recomputing it", path, err)
            return None
        if ckpt.meta.get("key") != key:
            logger.warning("%s was made with other settings; recomputing it", path)
            return None
        self._say(f"reusing {path} (same settings)")
        return ckpt.model, ckpt.meta

    def _key(self, role: str) -> str:
        cfg = self.cfg
        return _digest(
            {
                "role": role,
                "data": self.data_key,
                "train": dataclasses.asdict(cfg.train),
                "model": self.model_config.to_json(),
                "seed": cfg.seed,
            }
        )

    def train_reference(self, role: str) -> tuple[CTCRecognizer, float]:
        """Train (or reuse) the original (train set) or gold (retain set) recogniser."""
        cfg = self.cfg
        key = self._key(role)
        path = self.ckpt_dir / f"{role}.pt"
        reused = self._reuse(path, key)
        if reused is not None:
            return reused[0], float(reused[1]["seconds"])
        L.seed_everything(cfg.seed, verbose=False)
        model = CTCRecognizer(self.model_config)
        module = CTCTraining(model, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.dm.stage = role
        timer = Timer()
        self._say(
            f"training the {role} recogniser on {'train' if role == 'original' else 'retain'} "
            f"({cfg.train.epochs} epochs)"
        )
        trainer = make_trainer(
            cfg.train.epochs, progress=self.progress, callbacks=[timer], **cfg.trainer
        )
        trainer.fit(module, datamodule=self.dm)
        seconds = timer.time_elapsed("train")
        model = model.cpu().eval()
        save_asr(path, model, meta={"key": key, "seconds": seconds, "role": role})
        return model, seconds

    def unlearn(self, name: str, hparams: dict[str, Any]) -> tuple[CTCRecognizer, float]:
        cfg = self.cfg
        key = _digest(
            {
                "method": name,
                "hparams": hparams,
                "original": self._key("original"),
                "batch_size": cfg.train.batch_size,
                "seed": cfg.seed,
            }
        )
        path = self.ckpt_dir / f"{name}.pt"
        reused = self._reuse(path, key)
        if reused is not None:
            return reused[0], float(reused[1]["seconds"])
        L.seed_everything(cfg.seed, verbose=False)
        model = copy.deepcopy(self.original).train()
        module = build_method(name, model, **hparams)
        if getattr(module, "task", None) != "asr":
            raise ValueError(f"method {name!r} is not an ASR method (task != 'asr')")
        self._say(f"unlearning with {name} {hparams or '(defaults)'}")
        seconds = fit_unlearning(module, self.dm, progress=self.progress, **cfg.trainer)
        model = model.cpu().eval()
        save_asr(
            path,
            model,
            meta={
                "key": key,
                "seconds": seconds,
                "role": "method",
                "method": name,
                "hparams": hparams,
            },
        )
        return model, seconds

    # -- evaluation ----------------------------------------------------------------------
    def _groups(self, utts) -> list:
        if self.cfg.eval.informed_groups == "text":
            return [self.vocab.normalise(u.text) for u in utts]
        return [math.floor(speech_duration(u) / self.cfg.eval.mia_bin_s) for u in utts]

    def evaluate(self, model: CTCRecognizer) -> dict[str, Any]:
        row: dict[str, Any] = {}
        losses: dict[str, np.ndarray] = {}
        for name, set_name in (("forget", "forget"), ("retain", "retain_eval"), ("test", "test")):
            utts = self.dm.sets[set_name]
            loss, hyps = evaluate_recognizer(
                model, self.dm.eval_dataloader(set_name), device=self.device
            )
            refs = [self.vocab.normalise(u.text) for u in utts]
            row[f"{name}_wer"] = wer_scores(refs, hyps).corpus_wer
            row[f"{name}_cer"] = wer_scores(refs, hyps, unit="char").corpus_wer
            finite = np.isfinite(loss)
            row[f"{name}_loss"] = float(loss[finite].mean()) if finite.any() else float("inf")
            losses[name] = np.where(finite, loss, np.nanmax(loss[finite]) if finite.any() else 0)
        forget, test = self.dm.sets["forget"], self.dm.sets["test"]
        matched = duration_matched_mia(
            losses["forget"],
            [speech_duration(u) for u in forget],
            losses["test"],
            [speech_duration(u) for u in test],
            bin_s=self.cfg.eval.mia_bin_s,
            seed=self.cfg.seed,
        )
        row["mia_acc"] = matched.accuracy
        row["mia_std"] = matched.std
        row["mia_auc"] = matched.auc
        row["mia_n_per_class"] = matched.n_per_class
        informed = informed_loo_mia(
            losses["forget"], self._groups(forget), losses["test"], self._groups(test)
        )
        row["informed_auc"] = informed.auc
        row["informed_advantage"] = informed.member_advantage
        return row

    def judge(self, model_path: Path) -> dict[str, Any]:
        """WER/CER of the original recogniser on the unseen test speakers, by spec."""
        from .data.audio import load_audio
        from .evaluation.asr import get_transcriber

        test = self.dm.sets["test"]
        refs = [self.vocab.normalise(u.text) for u in test]
        info: dict[str, Any] = {"spec": f"library:{model_path}", "n": len(test)}
        _, hyps = evaluate_recognizer(
            self.original, self.dm.eval_dataloader("test"), device=self.device
        )
        info["cropped"] = {
            "wer": wer_scores(refs, hyps).corpus_wer,
            "cer": wer_scores(refs, hyps, unit="char").corpus_wer,
            "crop": self.cfg.crop,
        }
        if self.cfg.eval.judge_full_audio:
            transcriber = get_transcriber(f"library:{model_path}", device=self.device)
            wavs = [load_audio(u.audio) for u in test]
            full = transcriber.transcribe(wavs, 16000)
            info["full_audio"] = {
                "wer": wer_scores(refs, full).corpus_wer,
                "cer": wer_scores(refs, full, unit="char").corpus_wer,
                "transcriber": transcriber.describe(),
            }
        info["normaliser"] = "model vocabulary (lower-case, a-z, apostrophe, space)"
        info["test_speakers"] = sorted({u.speaker for u in test})
        atomic_write_text(self.run_dir / "judge.json", json.dumps(info, indent=1) + "\n")
        return info

    def run(self) -> dict[str, Any]:
        self.prepare()
        original, t_o = self.train_reference("original")
        self.original = original
        judge = self.judge(self.ckpt_dir / "original.pt")
        self._say(
            f"judge: test WER {judge['cropped']['wer']:.3%} (cropped)"
            + (f", {judge['full_audio']['wer']:.3%} (full files)" if "full_audio" in judge else "")
        )
        gold, t_g = self.train_reference("gold")
        rows = [
            {"model": "original", "role": "original", "time_s": t_o, **self.evaluate(original)},
            {"model": "retrained", "role": "gold", "time_s": t_g, **self.evaluate(gold)},
        ]
        for name, hparams in self.cfg.methods.items():
            model, t_u = self.unlearn(name, dict(hparams or {}))
            rows.append(
                {
                    "model": name,
                    "role": "method",
                    "time_s": t_u,
                    "hparams": hparams,
                    **self.evaluate(model),
                }
            )
        return self.report(rows, judge)

    def report(self, rows: list[dict[str, Any]], judge: dict[str, Any]) -> dict[str, Any]:
        ev = self.cfg.eval
        orig = next(r for r in rows if r["role"] == "original")
        gold = next(r for r in rows if r["role"] == "gold")
        for r in rows:
            r["reaches_retrained"] = (
                r["forget_loss"] >= (1 - ev.loss_tolerance) * gold["forget_loss"]
                and abs(r["mia_auc"] - gold["mia_auc"]) <= ev.auc_tolerance
            )
            r["keeps_utility"] = r["retain_wer"] <= orig["retain_wer"] + ev.retain_wer_bound
            r["verdict"] = (
                "reference"
                if r["role"] != "method"
                else "forgets+keeps"
                if r["reaches_retrained"] and r["keeps_utility"]
                else "forgets, loses utility"
                if r["reaches_retrained"]
                else "keeps, does not forget"
                if r["keeps_utility"]
                else "neither"
            )
        report = {
            "tool": f"audio-unlearn {__version__}",
            "task": "speaker forgetting, character CTC speech recognition",
            "manifest": str(self.manifest_path),
            "forget_speakers": list(self.split.forget_speakers),
            "sizes": {
                "forget": len(self.split.forget),
                "retain": len(self.split.retain),
                "retain_eval": len(self.dm.sets["retain_eval"]),
                "test": len(self.split.test),
            },
            "judge": judge,
            "gap": {
                "forget_wer_original_minus_retrained": orig["forget_wer"] - gold["forget_wer"],
                "forget_loss_original_minus_retrained": orig["forget_loss"] - gold["forget_loss"],
            },
            "criteria": {
                "reaches_retrained": f"forget loss >= (1 - {ev.loss_tolerance}) x retrained and "
                f"duration-matched MIA AUC within +-{ev.auc_tolerance} of the retrained one's "
                "(an AUC far below it means over-forgetting, itself a membership signal)",
                "keeps_utility": f"retain WER <= original retain WER + {ev.retain_wer_bound}",
            },
            "mia_protocol": "duration-matched loss attack (per-character CTC loss; bins of "
            f"{ev.mia_bin_s} s of speech): forget (member) vs unseen-speaker test "
            "(non-member); accuracy = UnSLU-BENCH logistic regression, AUC of -loss. Informed "
            f"LOO: loss calibrated by the mean test loss of its {ev.informed_groups} group "
            "(leave-one-out for test utterances), ROC AUC",
            "models": rows,
        }
        atomic_write_text(self.run_dir / "report.json", json.dumps(report, indent=1) + "\n")
        table = markdown_table(rows, ASR_COLUMNS)
        atomic_write_text(self.run_dir / "report.md", _report_markdown(report, table))
        plot_asr_tradeoff(rows, self.run_dir / "tradeoff.png")
        self._say(table)
        self._say(f"\nwrote {self.run_dir / 'report.json'}, report.md, tradeoff.png")
        return report


#: Columns of the ASR report table: (key, title, format).
ASR_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "{}"),
    ("forget_wer", "forget WER", "{:.3f}"),
    ("forget_loss", "forget loss", "{:.3f}"),
    ("retain_wer", "retain WER", "{:.3f}"),
    ("retain_loss", "retain loss", "{:.3f}"),
    ("test_wer", "test WER", "{:.3f}"),
    ("test_cer", "test CER", "{:.3f}"),
    ("test_loss", "test loss", "{:.3f}"),
    ("mia_acc", "MIA acc", "{:.3f}"),
    ("mia_auc", "MIA AUC", "{:.3f}"),
    ("informed_auc", "informed AUC", "{:.3f}"),
    ("time_s", "time s", "{:.1f}"),
    ("verdict", "verdict", "{}"),
)


def _report_markdown(report: dict[str, Any], table: str) -> str:
    judge = report["judge"]
    full = judge.get("full_audio")
    judge_line = (
        f"Judge (`{judge['spec']}`): unseen-speaker test WER {judge['cropped']['wer']:.2%} / "
        f"CER {judge['cropped']['cer']:.2%} on speech-cropped audio"
        + (f", WER {full['wer']:.2%} / CER {full['cer']:.2%} on the full files" if full else "")
        + f" ({judge['n']} utterances)."
    )
    crit = report["criteria"]
    return (
        f"# ASR speaker forgetting report\n\n{report['task']}; {report['tool']}\n\n"
        f"Forget speakers: {', '.join(report['forget_speakers'])}; sizes {report['sizes']}.\n\n"
        f"{judge_line}\n\nMIA: {report['mia_protocol']}.\n\n"
        f"Verdict: reaches the retrained level = {crit['reaches_retrained']}; keeps utility = "
        f"{crit['keeps_utility']}.\n\nLosses are CTC nats per character.\n\n{table}\n\n"
        "![forget/retain trade-off](tradeoff.png)\n"
    )


def plot_asr_tradeoff(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Two panels: forget loss vs retain WER, and MIA AUC (plain, informed) per model."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    gold = next((r for r in rows if r.get("role") == "gold"), None)
    for r in rows:
        marker = {"original": "s", "gold": "*"}.get(r.get("role"), "o")
        ax1.scatter(
            r["retain_wer"], r["forget_loss"], marker=marker, s=140 if marker == "*" else 60
        )
        ax1.annotate(
            r["model"],
            (r["retain_wer"], r["forget_loss"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    if gold is not None:
        ax1.axhline(gold["forget_loss"], color="grey", ls="--", lw=1, label="retrained forget loss")
        ax1.legend(fontsize=7)
    ax1.set_xlabel("retain WER")
    ax1.set_ylabel("forget loss (CTC nats/char)")
    ax1.set_title("forgetting vs utility")
    x = np.arange(len(rows))
    ax2.bar(x - 0.2, [r["mia_auc"] for r in rows], width=0.4, label="duration-matched AUC")
    ax2.bar(x + 0.2, [r["informed_auc"] for r in rows], width=0.4, label="informed LOO AUC")
    ax2.axhline(0.5, color="lightgrey", ls=":", lw=1)
    ax2.set_xticks(x, [r["model"] for r in rows], rotation=30, fontsize=8)
    ax2.set_ylabel("membership AUC (forget vs test)")
    ax2.set_title("membership inference")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def run_asr_experiment(
    cfg: ASRExperimentConfig, run_dir: str | Path, *, progress: bool = True
) -> dict[str, Any]:
    """Run the whole ASR speaker-forgetting experiment into ``run_dir``; return the report."""
    start = time.perf_counter()
    experiment = ASRExperiment(cfg, run_dir, progress=progress)
    report = experiment.run()
    experiment._say(f"total wall time {time.perf_counter() - start:.0f} s")
    return report
