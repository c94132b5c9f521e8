"""Speaker forgetting for speech recognition: corpus -> split -> original and retrained
recognisers -> ASR unlearning methods -> WER / loss / membership report.

Wires :mod:`audio_unlearn.data.asr_data`, :mod:`audio_unlearn.models.asr`,
:mod:`audio_unlearn.models.asr_hf`, :mod:`audio_unlearn.methods.asr` and the evaluation
functions together (as :mod:`audio_unlearn.experiment` does for classifiers). Every step
writes into the run directory and is resumable: a checkpoint whose recorded settings key
matches is reused.

Models (``model.kind``): ``library`` (default; the other ``model`` keys override
:class:`~audio_unlearn.models.asr.CTCRecognizerConfig`, trained from scratch), ``hf_ctc``
(a transformers ``*ForCTC`` checkpoint, ``model.source``) or ``hf_whisper``
(``WhisperForConditionalGeneration``). For the transformers kinds the original and the
retrained model are fine-tunings of ``source`` (on train, on retain), so forgetting is
measured against what fine-tuning added; whatever the pretrained checkpoint saw before
is in both.

Forget requests. By default one request forgets the split's speakers. ``requests``
(e.g. ``[[spk_a], [spk_b, spk_c]]`` or counts ``[1, 2]``, drawn like ``split.n_speakers``)
runs them in sequence: request ``k`` forgets its speakers from every method's model after
request ``k - 1`` (the original for ``k = 1``), its retain set is train minus the speakers
of requests ``1..k``, and its retrained reference is trained on that retain set. Every
row also re-measures the earlier requests' forget sets (loss, WER, membership attack), so
speakers that come back after a later request show.

Run directory::

    config.yaml            the settings used
    split.json             forget / retain / test utterance ids (forget: all requests)
    requests.json          per-request speakers and sizes (``requests`` only)
    checkpoints/original.pt  the recogniser trained on train (forget + retain): the
                           offline WER judge, ``get_transcriber("library:<this path>")``
                           (transformers kinds: a directory ``checkpoints/original/``,
                           ``ctc:<dir>`` / ``whisper:<dir>``)
    checkpoints/gold.pt    retrained on retain only (the reference of forgetting)
    checkpoints/<method>.pt
    checkpoints/r<k>/gold.pt, checkpoints/r<k>/<method>.pt   (``requests`` only)
    judge.json             WER/CER of the original on the unseen test speakers
    report.json, report.md, tradeoff.png
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from . import __version__
from .data.asr_data import ASRDataModule, WaveformStore, speech_duration
from .data.manifest import atomic_write_text
from .data.splits import ForgetSplit
from .evaluation.intervals import merge_seed_rows
from .evaluation.sequence_mia import duration_matched_mia, informed_loo_mia
from .evaluation.wer import wer_scores
from .experiment import _prepare_corpus
from .methods.asr import CTCTraining
from .models.asr import (
    ASRCheckpointError,
    CTCRecognizer,
    CTCRecognizerConfig,
    greedy_ctc_decode,
    load_asr,
    per_sample_ctc_loss,
)
from .models.asr_hf import RECOGNIZER_KINDS, build_recognizer, load_hf_asr, save_recognizer
from .reporting import markdown_table
from .run.attacks import attack_row, relearn, relearn_wanted
from .run.config import typed_settings
from .run.requests import check_requests, prepare_requests, request_override, run_requests
from .run.runner import Runner
from .run.splits import make_split
from .runners.asr_config import (
    ASREvalConfig,
    ASRExperimentConfig,
    ASRSplitConfig,
    ASRTrainConfig,
    load_asr_config,
)
from .runners.asr_report import (
    ASR_COLUMNS,
    LOSS_UNITS,
    REQUEST_COLUMNS,
    _report_markdown,
    plot_asr_tradeoff,
)
from .tasks.asr import NONFINITE, reset_nonfinite

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


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_recognizer(
    model: torch.nn.Module, loader, *, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, list[str]]:
    """Per-utterance loss and greedy transcript over a loader.

    Uses ``model.score_batch`` (the library's recogniser: CTC nats per character; the
    transformers wrappers: nats per token); a plain CTC model without it is scored with
    its forward pass, :func:`per_sample_ctc_loss` and :func:`greedy_ctc_decode`.

    Returns:
        ``(losses (N,), hypotheses)`` in loader order.
    """
    was_training = model.training
    model.to(device).eval()
    losses, hyps = [], []
    try:
        for wavs, wav_lengths, targets, target_lengths in loader:
            batch = (
                wavs.to(device),
                wav_lengths.to(device),
                targets.to(device),
                target_lengths.to(device),
            )
            if hasattr(model, "score_batch"):
                loss, texts = model.score_batch(*batch)
            else:
                log_probs, frames = model(batch[0], batch[1])
                loss = per_sample_ctc_loss(log_probs, frames, batch[2], batch[3])
                texts = greedy_ctc_decode(log_probs, frames, model.vocab)
            losses.append(loss.float().cpu())
            hyps.extend(texts)
    finally:
        model.cpu().train(was_training)
    return torch.cat(losses).numpy(), hyps


@dataclass
class _SetScores:
    """Per-utterance losses, normalised references and hypotheses of one evaluation set."""

    utterances: list
    losses: np.ndarray
    refs: list[str]
    hyps: list[str]

    def metrics(self, prefix: str) -> dict[str, float]:
        finite = np.isfinite(self.losses)
        return {
            f"{prefix}_wer": wer_scores(self.refs, self.hyps).corpus_wer,
            f"{prefix}_cer": wer_scores(self.refs, self.hyps, unit="char").corpus_wer,
            f"{prefix}_loss": float(self.losses[finite].mean()) if finite.any() else float("inf"),
        }

    def attack_losses(self) -> np.ndarray:
        """Losses with infinite ones replaced by the largest finite loss (for the attacks)."""
        finite = np.isfinite(self.losses)
        return np.where(finite, self.losses, np.nanmax(self.losses[finite]) if finite.any() else 0)

    @staticmethod
    def concat(parts: list[_SetScores]) -> _SetScores:
        return _SetScores(
            [u for p in parts for u in p.utterances],
            np.concatenate([p.losses for p in parts]),
            [r for p in parts for r in p.refs],
            [h for p in parts for h in p.hyps],
        )


class ASRExperiment(Runner):
    """One ASR speaker-forgetting run in ``run_dir`` (see :func:`run_asr_experiment`)."""

    task = "asr"
    gold_name = "retrained"

    def __init__(self, cfg: ASRExperimentConfig, run_dir: str | Path, *, progress: bool = True):
        if cfg.crop not in ("none", "speech"):
            raise ValueError(f"crop must be 'none' or 'speech', got {cfg.crop!r}")
        if cfg.eval.informed_groups not in ("text", "duration"):
            raise ValueError(
                f"eval.informed_groups must be 'text' or 'duration', got "
                f"{cfg.eval.informed_groups!r}"
            )
        super().__init__(cfg, run_dir, progress=progress)
        reset_nonfinite(cfg.train.nonfinite)  # the report counts this run's non-finite losses
        settings = dict(cfg.model or {})
        self.kind = settings.pop("kind", "library")
        if self.kind not in RECOGNIZER_KINDS:
            raise ValueError(f"model.kind {self.kind!r} is unknown; use one of {RECOGNIZER_KINDS}")
        if self.kind == "library":
            typed = typed_settings(CTCRecognizerConfig, settings, "model")
            self.model_config: CTCRecognizerConfig | None = CTCRecognizerConfig(**typed)
            self._model_key: dict[str, Any] = self.model_config.to_json()
        else:
            if not settings.get("source"):
                raise ValueError(
                    f"model.kind {self.kind} needs model.source: a hub name (e.g. "
                    "facebook/wav2vec2-base-960h, openai/whisper-base.en) or a "
                    "save_pretrained directory"
                )
            self.model_config = None
            self._model_key = {"kind": self.kind, **settings}
        self.model_settings = settings
        self.requests = check_requests(cfg.requests)
        self.device = torch.device(cfg.eval.device)

    def new_model(self) -> torch.nn.Module:
        """A fresh recogniser: random for ``library``, ``source``'s weights otherwise."""
        if self.kind == "library":
            return CTCRecognizer(self.model_config)
        return build_recognizer(self.kind, self.model_settings)

    def ckpt_path(self, name: str, folder: str | None = None) -> Path:
        """Checkpoint path: ``<name>.pt`` (library) or a directory ``<name>`` (HF)."""
        path = super().ckpt_path(name, folder)
        return path if self.kind == "library" else path.with_suffix("")

    # -- data ----------------------------------------------------------------------------
    def _make_split(self) -> ForgetSplit:
        override = request_override(self.requests)  # every request's speakers at once
        return make_split(self.cfg.split, self.utterances, self.official, **override)

    def _retain_eval(self, retain: tuple[str, ...]) -> list[str]:
        """At most ``eval.max_retain_eval`` retain ids (a seeded sample, in split order)."""
        retain_eval = list(retain)
        m = self.cfg.eval.max_retain_eval
        if m is not None and len(retain_eval) > m:
            rng = np.random.default_rng(self.cfg.seed)
            retain_eval = [retain_eval[i] for i in sorted(rng.choice(len(retain_eval), m, False))]
        return retain_eval

    def data_key_of(self, split: ForgetSplit) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest_path),
            "split": self.split_digest(split),
            "crop": self.cfg.crop,
            "margin_s": self.cfg.margin_s,
            "random_tail": self.cfg.random_tail,
        }

    def prepare(self) -> None:
        cfg = self.cfg
        self.manifest_path, self.utterances, self.official = _prepare_corpus(cfg, self.progress)
        self.write_config()  # inputs read: the run directory starts here
        split_params = dataclasses.asdict(cfg.split)
        if cfg.max_duration_s is not None:
            self._drop_long(float(cfg.max_duration_s))
            split_params = {**split_params, "max_duration_s": float(cfg.max_duration_s)}
        if self.requests is not None:
            split_params = {**split_params, "requests": self.requests}
        split = self.load_or_make_split(
            split_params, self._make_split, utterances=self.utterances, manifest=self.manifest_path
        )
        self.split = split
        if self.kind == "library":
            self.vocab = CTCRecognizer(self.model_config).vocab
        else:
            self.vocab = self.new_model().vocab
        self.store = WaveformStore(crop=cfg.crop, margin_s=cfg.margin_s, stream=cfg.data.stream)
        self.dm = self._datamodule(split, self._retain_eval(split.retain))
        self.dm.setup()
        self.data_key = self.data_key_of(split)
        if self.requests is not None:
            prepare_requests(self)

    def _drop_long(self, max_s: float) -> None:
        """Leave out utterances longer than ``max_s`` seconds (and from the official split)."""
        if max_s <= 0:
            raise ValueError(f"max_duration_s must be > 0 seconds, got {max_s}")
        keep = [u for u in self.utterances if u.duration <= max_s]
        dropped = len(self.utterances) - len(keep)
        if not keep:
            raise ValueError(f"max_duration_s={max_s} leaves no utterance; raise it")
        if dropped:
            self._say(f"left out {dropped} utterance(s) longer than {max_s:g} s")
        self.utterances = keep
        if self.official is not None:
            self.official = self.official.keep(u.id for u in keep)

    def _datamodule(
        self, split: ForgetSplit, retain_eval: list[str], extra: dict[str, Any] | None = None
    ) -> ASRDataModule:
        cfg = self.cfg
        return ASRDataModule(
            self.utterances,
            split,
            self.vocab.encode,
            batch_size=cfg.train.batch_size,
            seed=cfg.seed,
            store=self.store,
            extra_sets={"retain_eval": retain_eval, **(extra or {})},
            progress=self.progress,
            random_tail=cfg.random_tail,
            bucket_seconds=cfg.train.bucket_seconds,
            num_workers=cfg.data.workers(),
        )

    def reference_trainer(self) -> dict[str, Any]:
        return {**super().reference_trainer(), **self._sampler_trainer()}

    def unlearning_trainer(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**super().unlearning_trainer(settings), **self._sampler_trainer()}

    def _sampler_trainer(self) -> dict[str, Any]:
        """Duration-bucketed batches shard themselves under DDP: Lightning must not add
        its distributed sampler."""
        return {"use_distributed_sampler": False} if self.cfg.train.bucket_seconds else {}

    def request_datamodule(self, split: ForgetSplit, extra_sets: dict[str, Any]):
        return self._datamodule(split, self._retain_eval(split.retain), extra_sets)

    # -- models --------------------------------------------------------------------------
    model_noun = "recogniser"
    split_kinds = ("speaker",)
    load_errors = (ASRCheckpointError,)

    def load_model(self, path: Path):
        if self.kind == "library":
            return load_asr(path, expect_config=self.model_config)
        return load_hf_asr(path)

    def save_model(self, path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        save_recognizer(path, model, meta=meta)

    def model_key(self) -> Any:
        return self._model_key

    def reference_module(self, model: torch.nn.Module, role: str, dm) -> L.LightningModule:
        return CTCTraining(model, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay)

    # -- evaluation ----------------------------------------------------------------------
    def _groups(self, utts) -> list:
        if self.cfg.eval.informed_groups == "text":
            return [self.vocab.normalise(u.text) for u in utts]
        return [math.floor(speech_duration(u) / self.cfg.eval.mia_bin_s) for u in utts]

    def _score(self, model: torch.nn.Module, dm: ASRDataModule, set_name: str) -> _SetScores:
        utts = dm.sets[set_name]
        loss, hyps = evaluate_recognizer(model, dm.eval_dataloader(set_name), device=self.device)
        refs = [self.vocab.normalise(u.text) for u in utts]
        return _SetScores(list(utts), loss, refs, [self.vocab.normalise(h) for h in hyps])

    def _attacks(self, forget: _SetScores, test: _SetScores) -> dict[str, Any]:
        """Duration-matched and informed leave-one-out attacks, forget vs test."""
        matched = duration_matched_mia(
            forget.attack_losses(),
            [speech_duration(u) for u in forget.utterances],
            test.attack_losses(),
            [speech_duration(u) for u in test.utterances],
            bin_s=self.cfg.eval.mia_bin_s,
            seed=self.cfg.seed,
        )
        informed = informed_loo_mia(
            forget.attack_losses(),
            self._groups(forget.utterances),
            test.attack_losses(),
            self._groups(test.utterances),
        )
        return {
            "mia_acc": matched.accuracy,
            "mia_std": matched.std,
            "mia_auc": matched.auc,
            "mia_n_per_class": matched.n_per_class,
            "informed_auc": informed.auc,
            "informed_advantage": informed.member_advantage,
        }

    def evaluate(
        self, model: torch.nn.Module, dm: ASRDataModule | None = None, *, earlier: int = 0
    ) -> dict[str, Any]:
        """WER/CER/loss on forget, retain (sample) and test, and the two attacks.

        With ``earlier = k - 1`` (request ``k``), also the forget sets of requests
        ``1..k-1`` (each, and pooled in the ``earlier_*`` columns). Empty on DDP ranks
        other than zero.
        """
        if not self.is_global_zero:
            return {}
        dm = dm or self.dm
        row: dict[str, Any] = {}
        scores: dict[str, _SetScores] = {}
        for name, set_name in (("forget", "forget"), ("retain", "retain_eval"), ("test", "test")):
            scores[name] = self._score(model, dm, set_name)
            row.update(scores[name].metrics(name))
        row.update(self._attacks(scores["forget"], scores["test"]))
        if earlier:
            parts, details = [], []
            for j in range(1, earlier + 1):
                sc = self._score(model, dm, f"forget_r{j}")
                parts.append(sc)
                attack = self._attacks(sc, scores["test"])
                details.append(
                    {
                        "request": j,
                        **sc.metrics("forget"),
                        "mia_auc": attack["mia_auc"],
                        "informed_auc": attack["informed_auc"],
                    }
                )
            pooled = _SetScores.concat(parts)
            metrics = pooled.metrics("earlier_forget")
            attack = self._attacks(pooled, scores["test"])
            row.update(metrics)
            row["earlier_mia_auc"] = attack["mia_auc"]
            row["earlier_informed_auc"] = attack["informed_auc"]
            row["earlier"] = details
        return row

    def judge(self, model_path: Path) -> dict[str, Any]:
        """WER/CER of the original recogniser on the unseen test speakers, by spec (empty on
        DDP ranks other than zero)."""
        if not self.is_global_zero:
            return {}
        from .data.audio import load_audio
        from .evaluation.asr import get_transcriber

        test = self.dm.sets["test"]
        refs = [self.vocab.normalise(u.text) for u in test]
        backend = {"library": "library", "hf_ctc": "ctc", "hf_whisper": "whisper"}[self.kind]
        spec = f"{backend}:{model_path}"
        info: dict[str, Any] = {"spec": spec, "n": len(test)}
        _, hyps = evaluate_recognizer(
            self.original, self.dm.eval_dataloader("test"), device=self.device
        )
        hyps = [self.vocab.normalise(h) for h in hyps]
        info["cropped"] = {
            "wer": wer_scores(refs, hyps).corpus_wer,
            "cer": wer_scores(refs, hyps, unit="char").corpus_wer,
            "crop": self.cfg.crop,
        }
        if self.cfg.eval.judge_full_audio:
            options: dict[str, Any] = {"device": self.device}
            if self.kind == "hf_whisper":
                for name in ("language", "task", "max_new_tokens"):
                    if name in self.model_settings:
                        options[name] = self.model_settings[name]
            transcriber = get_transcriber(spec, **options)
            wavs = [load_audio(u.audio) for u in test]
            full = [self.vocab.normalise(t) for t in transcriber.transcribe(wavs, 16000)]
            info["full_audio"] = {
                "wer": wer_scores(refs, full).corpus_wer,
                "cer": wer_scores(refs, full, unit="char").corpus_wer,
                "transcriber": transcriber.describe(),
            }
        info["normaliser"] = (
            "model vocabulary (lower-case, a-z, apostrophe, space)"
            if self.kind == "library"
            else f"model vocabulary ({self.vocab!r}: lower-case, other characters as spaces)"
        )
        info["test_speakers"] = sorted({u.speaker for u in test})
        atomic_write_text(self.run_dir / "judge.json", json.dumps(info, indent=1) + "\n")
        return info

    def run(self) -> dict[str, Any]:
        self.prepare()
        self.original, meta_o = self.train_reference("original")
        t_o = meta_o["seconds"]
        judge = self.judge(self.ckpt_path("original"))
        if judge:
            full = judge.get("full_audio")
            self._say(
                f"judge: test WER {judge['cropped']['wer']:.3%} (cropped)"
                + (f", {full['wer']:.3%} (full files)" if full else "")
            )
        if self.requests is not None:
            return self.report(run_requests(self, meta_o), judge)
        gold, meta_g = self.train_reference("gold")
        rows = [
            {"model": "original", "role": "original", "time_s": t_o},
            {"model": "retrained", "role": "gold", "time_s": meta_g["seconds"]},
        ]
        rows[0].update(self.scores("original", self.original, meta_o["key"]))
        rows[1].update(self.scores("retrained", gold, meta_g["key"]))
        seeds = self.unlearning_seeds()
        for name, hparams in self.tuned_methods(gold).items():
            for seed in seeds:
                label, model, meta = self.unlearn_seeded(name, hparams, seed)
                extra = {} if seed is None else {"seed": seed}
                row = {"model": name, "role": "method", "time_s": meta["seconds"]}
                row.update(hparams=meta["hparams"], **extra)
                rows.append({**row, **self.scores(label, model, meta["key"])})
                if relearn_wanted(self, name):
                    attacked, info = relearn(self, label, model, meta)
                    scores = self.scores(f"{label}+relearn", attacked, info["key"])
                    rows.append({**attack_row(name, info), **scores, **extra})
        return self.report(rows, judge)

    def _verdicts(self, rows: list[dict[str, Any]]) -> None:
        """Verdict fields of one request's rows, against its original and retrained rows."""
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
        for r in rows:
            for e in r.get("earlier", ()):
                g = next(x for x in gold["earlier"] if x["request"] == e["request"])
                e["reaches_retrained"] = (
                    e["forget_loss"] >= (1 - ev.loss_tolerance) * g["forget_loss"]
                    and abs(e["mia_auc"] - g["mia_auc"]) <= ev.auc_tolerance
                )
            if "earlier" in r:
                r["earlier_still_forgotten"] = all(e["reaches_retrained"] for e in r["earlier"])

    def _relapse(self, rows: list[dict[str, Any]]) -> None:
        """For every method row of request ``k``: each earlier request's forget loss right
        after that request, and its change since (negative: the speakers come back)."""
        at = {(r["model"], r["request"]): r for r in rows if r["role"] == "method"}
        for r in rows:
            if r["role"] != "method":
                continue
            for e in r.get("earlier", ()):
                then = at[(r["model"], e["request"])]
                e["loss_at_request"] = then["forget_loss"]
                e["loss_change"] = e["forget_loss"] - then["forget_loss"]
                e["mia_auc_at_request"] = then["mia_auc"]

    def report(self, rows: list[dict[str, Any]], judge: dict[str, Any]) -> dict[str, Any]:
        if not self.is_global_zero:
            return {}
        ev = self.cfg.eval
        blocks: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            blocks.setdefault(int(r.get("request", 1)), []).append(r)
        for block in blocks.values():
            self._verdicts(block)
        if self.requests is not None:
            self._relapse(rows)
        if any(r.get("seed") is not None for r in rows):  # one row per method over seeds
            rows = merge_seed_rows(rows)
            blocks = {1: rows}
        first = blocks[min(blocks)]
        orig = next(r for r in first if r["role"] == "original")
        gold = next(r for r in first if r["role"] == "gold")
        unit, short_unit = LOSS_UNITS[self.kind]
        task = {
            "library": "character CTC speech recognition",
            "hf_ctc": "transformers CTC speech recognition",
            "hf_whisper": "Whisper speech recognition",
        }[self.kind]
        report = {
            "tool": f"audio-unlearn {__version__}",
            "task": f"speaker forgetting, {task}",
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
            "nonfinite_losses": {
                k: NONFINITE[k] for k in ("items", "batches_without_finite", "policy")
            },
            "models": rows,
        }
        if self.kind != "library":
            report["model"] = {"kind": self.kind, **self.model_settings}
            report["mia_protocol"] = report["mia_protocol"].replace("per-character CTC loss", unit)
        columns = ASR_COLUMNS
        if self.requests is not None:
            report["requests"] = [
                {
                    "request": k,
                    "speakers": list(s.forget_speakers),
                    "sizes": {"forget": len(s.forget), "retain": len(s.retain)},
                }
                for k, s in enumerate(self.request_splits, start=1)
            ]
            report["gap"] = {
                f"request_{k}": {
                    "forget_loss_original_minus_retrained": next(
                        r for r in b if r["role"] == "original"
                    )["forget_loss"]
                    - next(r for r in b if r["role"] == "gold")["forget_loss"]
                }
                for k, b in blocks.items()
            }
            report["criteria"]["earlier_still_forgotten"] = (
                "every earlier request's forget set, re-measured after this request, meets "
                "reaches_retrained against this request's retrained model"
            )
            columns = REQUEST_COLUMNS
        table = markdown_table(rows, columns)
        self.write_report(report, _report_markdown(report, table, unit))
        plot_asr_tradeoff(
            blocks[max(blocks)],
            self.run_dir / "tradeoff.png",
            loss_label=f"forget loss ({short_unit})",
        )
        self._say(table)
        self._say(f"\nwrote {self.run_dir / 'report.json'}, report.md, tradeoff.png")
        return report


def run_asr_experiment(
    cfg: ASRExperimentConfig, run_dir: str | Path, *, progress: bool = True
) -> dict[str, Any]:
    """Run the whole ASR speaker-forgetting experiment into ``run_dir``; return the report."""
    start = time.perf_counter()
    experiment = ASRExperiment(cfg, run_dir, progress=progress)
    report = experiment.run()
    experiment._say(f"total wall time {time.perf_counter() - start:.0f} s")
    return report
