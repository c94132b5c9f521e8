"""Speaker-identity forgetting for zero-shot TTS: corpus -> split -> original and
retrained flow-matching TTS -> TGU and baselines -> SIM / WER / spk-ZRF report.

Protocol of Kim et al., "Do Not Mimic My Voice: Speaker Identity Unlearning for Zero-Shot
Text-to-Speech", ICML 2025: speakers = forget F + remain R (the retain set); unseen
speakers (never trained on) check that zero-shot cloning still works. A prompt of a
forget speaker should yield a random voice (SIM-F down to the cross-speaker level) while
remain and unseen speakers are still cloned (SIM-R, SIM-U kept) and the text is still
spoken (WER).

Every step writes into the run directory and is resumable: a checkpoint whose recorded
settings key matches is reused.

Run directory::

    config.yaml              the settings used
    split.json               forget / retain / test (unseen) utterance ids
    checkpoints/original.pt  trained on every training speaker (F + R)
    checkpoints/retrain.pt   trained on R only (exact unlearning)
    checkpoints/<method>.pt  each unlearned model
    checkpoints/judge.pt     the offline WER judge (``eval.judge: train``)
    eval/<model>.json        per-trial SIM-o / SIM-r / WER rows
    report.json, report.md, sim_distributions.png, tradeoff.png

Sequential requests (``requests: [[spk1], [spk2]]`` or ``[1, 1]``,
:mod:`audio_unlearn.run.requests`): request ``k`` forgets its speakers from each method's
model after request ``k - 1``, with its own retrained reference
(``checkpoints/r<k>/gold.pt``); its cloning trials also prompt with every earlier
request's forget speakers (groups ``forget_r<j>``), so a voice that comes back after a
later request shows (``revival`` in the report).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

import lightning as L

from . import __version__
from .data.audio import load_audio
from .data.splits import ForgetSplit
from .data.tts_data import TTSDataModule, mel_moments
from .evaluation.intervals import merge_seed_rows
from .experiment import (
    _prepare_corpus,
)
from .methods.tts import FlowMatchingTraining
from .models.trust import check_spec_trust
from .models.tts import (
    DurationTable,
    FlowMatchingTTS,
    FlowMatchingTTSConfig,
    MelConfig,
    PhoneVocabulary,
    TTSCheckpointError,
    load_tts,
    save_tts,
)
from .reporting import markdown_table, plot_revival
from .run.attacks import relearn, relearn_wanted
from .run.config import typed_settings
from .run.requests import check_requests, prepare_requests, request_override, run_requests
from .run.runner import Runner
from .run.splits import make_split
from .run.store import settings_key
from .runners.tts_config import (
    TTSEvalConfig,
    TTSExperimentConfig,
    TTSSplitConfig,
    TTSTrainConfig,
    load_tts_config,
)
from .runners.tts_judge import train_judge
from .runners.tts_report import (
    REPORT_COLUMNS,
    REQUEST_COLUMNS,
    _row,
    _targets,
    plot_forgetting_curves,
    plot_tts_tradeoff,
    render_markdown,
)

__all__ = [
    "TTSEvalConfig",
    "TTSExperiment",
    "TTSExperimentConfig",
    "TTSSplitConfig",
    "TTSTrainConfig",
    "load_tts_config",
    "run_tts_experiment",
]

logger = logging.getLogger(__name__)


def _gap(entry: dict[str, Any]) -> float | None:
    """A probe's SIM-F gap: against the fixed reference level when it has one."""
    return entry.get("gap_reference", entry["gap"])


def _check_held_out(group: str, kept: list, every: list, side: str) -> None:
    """Every speaker of ``group`` keeps two utterances among the ``side`` texts (a
    cross-sentence trial needs a prompt and a target)."""
    from collections import Counter

    counts = Counter(u.speaker for u in kept)
    short = sorted(s for s in {u.speaker for u in every} if counts[s] < 2)
    if short:
        raise ValueError(
            f"eval.validation_texts: {group} speaker(s) {short[:5]} keep fewer than 2 "
            f"utterances among the {side} texts; cross-sentence trials need 2 (choose another "
            "eval.validation_texts, or a corpus with more texts per speaker)"
        )


def _text_key(text: str) -> str:
    """A text as the held-out draw compares it (case and spacing ignored)."""
    return " ".join(text.lower().split())


def _steps_trainer_kwargs(steps: int, precision: str, trainer: dict[str, Any]) -> dict[str, Any]:
    """Trainer arguments of a run measured in optimiser steps (epochs do not cap it)."""
    return {
        "max_steps": steps,
        "max_epochs": -1,
        "precision": precision,
        "deterministic": False,
        **trainer,
    }


class TTSExperiment(Runner):
    """One TTS speaker-forgetting run in ``run_dir`` (see :func:`run_tts_experiment`)."""

    task = "tts"
    gold_name = "retrain"
    runner_keys = ("steps",)  # per-method unlearning steps
    split_kinds = ("speaker",)
    load_errors = (TTSCheckpointError,)
    model_noun = "TTS model"

    def __init__(self, cfg: TTSExperimentConfig, run_dir: str | Path, *, progress: bool = True):
        self.requests = check_requests(cfg.requests)  # before any work
        if self.requests is not None and cfg.eval.probe_every > 0:
            raise ValueError(
                "eval.probe_every (the forgetting curve) runs on single-request runs; "
                "set it to 0 with requests"
            )
        for spec in (cfg.eval.encoder, cfg.eval.vocoder):
            check_spec_trust(spec, trust_code=cfg.eval.trust_code, setting="eval.trust_code=true")
        super().__init__(cfg, run_dir, progress=progress)
        # the model's settings, checked now (n_phones comes from the corpus later)
        cfg.model.update(typed_settings(FlowMatchingTTSConfig, cfg.model, "model", n_phones=64))
        self.mel = MelConfig()
        self._references: dict[tuple, Any] = {}

    # -- data ----------------------------------------------------------------------------
    def prepare(self) -> None:
        cfg = self.cfg
        self.manifest_path, utterances, official = _prepare_corpus(cfg, self.progress)
        aligned = [u for u in utterances if u.alignment]
        if len(aligned) < len(utterances):
            dropped = [u.id for u in utterances if not u.alignment]
            logger.warning(
                "%d utterances have no phone alignment and are left out (first: %s)",
                len(dropped),
                dropped[:3],
            )
        if not aligned:
            raise ValueError(
                f"no utterance of {self.manifest_path} has a phone alignment; the TTS model "
                "needs them (synthetic corpus, or forced-aligner TextGrids for real corpora)"
            )
        self.write_config()  # inputs checked: the run directory starts here
        self.utterances = aligned
        self.official = None if official is None else official.keep(u.id for u in aligned)
        split_params = dataclasses.asdict(cfg.split)
        if self.requests is not None:
            split_params = {**split_params, "requests": self.requests}
        self.split = split = self.load_or_make_split(
            split_params,
            self._make_split,
            utterances=self.utterances,
            manifest=self.manifest_path,
        )
        self.vocab = PhoneVocabulary.from_utterances(self.utterances)
        by_id = {u.id: u for u in self.utterances}
        train = [by_id[i] for i in (*split.forget, *split.retain)]
        self.durations = DurationTable.from_utterances(train)
        self.model_config = FlowMatchingTTSConfig(n_phones=len(self.vocab), **cfg.model)
        self.dm = self.request_datamodule(split, {})
        self.data_key = self.data_key_of(split)
        if self.requests is not None:
            prepare_requests(self)
            self.request_trials = []
            for split_k in self.request_splits:  # earlier forget trials: the same draws
                earlier = [
                    dataclasses.replace(t, group=f"forget_r{j}", origin=t.group)
                    for j, trials in enumerate(self.request_trials, start=1)
                    for t in trials
                    if t.group == "forget"
                ]
                self.request_trials.append(self._trials(split_k) + earlier)

    def _make_split(self) -> ForgetSplit:
        override = request_override(self.requests)  # every request's speakers at once
        return make_split(self.cfg.split, self.utterances, self.official, **override)

    def data_key_of(self, split: ForgetSplit) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest_path),
            "split": self.split_digest(split),
            "margin_s": self.cfg.margin_s,
        }

    def request_datamodule(self, split: ForgetSplit, extra_sets: dict[str, Any]):
        """A data module of ``split`` (earlier requests' forget sets are measured by cloning
        trials, not loaded: ``extra_sets`` is unused)."""
        cfg = self.cfg
        return TTSDataModule(
            self.utterances,
            split,
            self.vocab,
            self.mel,
            batch_size=cfg.train.batch_size,
            seed=cfg.seed,
            margin_s=cfg.margin_s,
            progress=self.progress,
            stream=cfg.data.stream,
            num_workers=cfg.data.workers(),
            feature_cache=cfg.data.feature_cache,
            bucket_seconds=cfg.train.bucket_seconds,
        )

    # -- models --------------------------------------------------------------------------
    def new_model(self) -> FlowMatchingTTS:
        return FlowMatchingTTS(self.model_config)

    def load_model(self, path: Path):
        return load_tts(path, expect_vocab=self.vocab)

    def save_model(self, path: Path, model: FlowMatchingTTS, meta: dict[str, Any]) -> None:
        save_tts(path, model, self.vocab, self.durations, self.mel, meta=meta)

    def model_key(self) -> Any:
        return self.model_config.to_json()

    def reference_module(self, model: FlowMatchingTTS, role: str, dm) -> L.LightningModule:
        """Flow-matching training of the original (F + R) or retrained (R only) model,
        with mel statistics of its own training set."""
        train_set = dm.dataset("train" if role == "original" else "retain")
        model.set_mel_moments(*mel_moments(train_set.mels()))
        dm.batch_size = self.cfg.train.batch_size
        t = self.cfg.train
        return FlowMatchingTraining(
            model, lr=t.lr, warmup_steps=t.warmup_steps, weight_decay=t.weight_decay
        )

    def reference_trainer(self) -> dict[str, Any]:
        t = self.cfg.train
        kwargs = {
            "epochs": 100_000,
            **_steps_trainer_kwargs(t.steps, t.precision, self.cfg.trainer),
        }
        if t.bucket_seconds:  # the batches shard themselves: no distributed sampler on top
            kwargs["use_distributed_sampler"] = False
        return kwargs

    def method_settings(self, hparams: dict[str, Any]) -> dict[str, Any]:
        steps = int(hparams.pop("steps", self.cfg.unlearn.steps))
        return {"steps": steps, "unlearn": dataclasses.asdict(self.cfg.unlearn)}

    def unlearning_trainer(self, settings: dict[str, Any]) -> dict[str, Any]:
        precision = self.cfg.unlearn.precision
        return _steps_trainer_kwargs(settings["steps"], precision, self.cfg.trainer)

    def reusable(self, name: str, meta: dict[str, Any]) -> bool:
        """A checkpoint stands unless a forgetting curve is asked for that it lacks."""
        probe = self._probe(name)
        curve = meta.get("curve")
        if probe is None or (curve and curve[1:2] and curve[1]["step"] == probe.every_n_steps):
            return True
        self._say(f"{name} has no forgetting curve every {probe.every_n_steps} steps; rerunning")
        return False

    def before_unlearning(self, name: str, module, dm) -> list:
        self.size_batches(module, dm)
        probe = self._probe(name)
        return [probe] if probe is not None else []

    def method_facts(self, module, callbacks: list) -> dict[str, Any]:
        facts = super().method_facts(module, callbacks)
        if callbacks:
            facts["curve"] = callbacks[0].history
        return facts

    def size_batches(self, module, dm=None) -> None:
        """Set the data module's batch sizes for ``module``: ``unlearn.batch_size`` rows a
        step, split by the method's ``forget_ratio`` when it reads forget and remain."""
        dm = self.dm if dm is None else dm
        batch = self.cfg.unlearn.batch_size
        if set(module.uses) == {"forget", "retain"}:
            ratio = float(getattr(module, "forget_ratio", 0.5))
            n_forget = min(batch - 1, max(1, round(batch * ratio)))
            dm.forget_batch_size, dm.batch_size = n_forget, batch - n_forget
        else:
            dm.forget_batch_size = dm.batch_size = batch

    def probe(self, every_n_steps: int, *, stop_at_gap: float | None = None):
        """A :class:`~audio_unlearn.evaluation.tts.CloningProbe` over this run's
        validation trials (its test trials without ``eval.validation_texts``) with the
        evaluation's encoder, vocoder, sampler and judge, read against the original's
        levels on the same trials."""
        from .evaluation.tts import CloningProbe

        e = self.cfg.eval
        return CloningProbe(
            getattr(self, "validation_trials", None) or self.trials,
            vocab=self.vocab,
            front_end=self.dm.front_end,
            vocoder=self.vocoder,
            encoder=self.encoder,
            every_n_steps=every_n_steps,
            generation=self.generation_settings(),
            stop_at_gap=stop_at_gap,
            transcriber=getattr(self, "transcriber", None),
            normaliser=e.normaliser,
            reference=getattr(self, "probe_reference", None),
        )

    def _probe(self, name: str):
        """The forgetting-curve probe of method ``name`` (None when not asked for)."""
        e = self.cfg.eval
        if e.probe_every <= 0 or name not in e.probe_methods or not getattr(self, "trials", None):
            return None
        if not self.is_global_zero:  # rank zero alone evaluates
            return None
        return self.probe(e.probe_every)

    # -- judge ---------------------------------------------------------------------------
    def train_judge(self, vocoder) -> tuple[str, dict[str, Any]]:
        """Train (or reuse) the offline WER judge (:func:`~audio_unlearn.runners.tts_judge.
        train_judge`); returns its transcriber spec and ``judge.json``'s record."""
        return train_judge(self, vocoder)

    # -- evaluation ----------------------------------------------------------------------
    def _trials(self, split: ForgetSplit | None = None, *, validation: bool = False) -> list:
        """Cloning trials of ``split`` (default: the run's): forget, remain and unseen
        speakers; with ``eval.validation_texts`` the test trials (default) or the
        ``validation`` trials, which share no text and no prompt."""
        from .evaluation.tts import build_cloning_trials

        cfg = self.cfg.eval
        split = self.split if split is None else split
        by_id = {u.id: u for u in self.utterances}
        held = self.validation_texts()

        def keep_text(text: str) -> bool:
            return (_text_key(text) in held) == validation

        groups = {
            "forget": [by_id[i] for i in split.forget],
            "remain": [by_id[i] for i in split.retain],
            "unseen": [by_id[i] for i in split.test],
        }
        for name, utts in groups.items():
            if held:
                utts = [u for u in utts if keep_text(u.text)]
                _check_held_out(name, utts, groups[name], "validation" if validation else "test")
            if cfg.max_speakers is not None:
                keep = set(sorted({u.speaker for u in utts})[: cfg.max_speakers])
                utts = [u for u in utts if u.speaker in keep]
            groups[name] = utts
        return build_cloning_trials(groups, per_speaker=cfg.per_speaker, seed=cfg.seed)

    def validation_texts(self) -> frozenset[str]:
        """The texts held out for validation trials (empty when ``eval.validation_texts``
        is 0): drawn once from the corpus's distinct texts and kept in ``trials.json``."""
        fraction = float(self.cfg.eval.validation_texts)
        if fraction <= 0:
            return frozenset()
        if getattr(self, "_validation_texts", None) is not None:
            return self._validation_texts
        import json

        from .data.manifest import atomic_write_text

        path = self.run_dir / "trials.json"
        draw = {"fraction": fraction, "seed": self.cfg.eval.seed}
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("draw") == draw:
                self._validation_texts = frozenset(saved["validation_texts"])
                return self._validation_texts
            self._say(f"trials.json was drawn with {saved.get('draw')}; drawing {draw}")
        texts = sorted({_text_key(u.text) for u in self.utterances})
        random.Random(f"{draw['seed']}|validation-texts").shuffle(texts)
        n = round(fraction * len(texts))
        if not 0 < n < len(texts):
            raise ValueError(
                f"eval.validation_texts={fraction} of {len(texts)} distinct texts leaves "
                "no validation or no test text"
            )
        self._validation_texts = frozenset(texts[:n])
        record = {"draw": draw, "validation_texts": sorted(self._validation_texts)}
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        return self._validation_texts

    def record_trials(self) -> None:
        """Add both sets' trials to ``trials.json`` (what each set read, fixed before any
        unlearning)."""
        import json

        from .data.manifest import atomic_write_text

        path = self.run_dir / "trials.json"
        if not self.validation_trials or not path.exists():
            return
        record = json.loads(path.read_text())
        record["validation"] = [t.key for t in self.validation_trials]
        record["test"] = [t.key for t in self.trials]
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")

    def identity_gallery(self):
        """The re-identification gallery of ``eval.gallery`` (None when off): every trial
        speaker (test, validation and every request's trials) plus other corpus speakers in
        a seeded order, each enrolled from ``eval.gallery_utterances`` real utterances that
        no trial uses; impostor scores from the same utterances through the evaluation's
        vocoder. Checked and built before any training."""
        from .evaluation.identity import Gallery
        from .evaluation.tts import vocode_batch

        e = self.cfg.eval
        if e.gallery == 0:
            return None
        trials = [*self._trials(), *(self._trials(validation=True) if self._held_out else [])]
        for request in getattr(self, "request_trials", None) or ():
            trials.extend(request)
        used = {i for t in trials for i in (t.prompt.id, t.target.id)}
        pool: dict[str, list] = {}
        for u in sorted(self.utterances, key=lambda u: u.id):
            if u.id not in used:
                pool.setdefault(u.speaker, []).append(u)
        needed = sorted({t.speaker for t in trials})
        short = [spk for spk in needed if spk not in pool]
        if short:
            raise ValueError(
                f"eval.gallery: trial speaker(s) {short[:5]} have no utterance left for "
                "enrolment (every one is a trial's prompt or target); lower eval.per_speaker"
            )
        others = sorted(set(pool) - set(needed))
        random.Random(f"{e.seed}|gallery").shuffle(others)
        size = len(needed) + len(others) if e.gallery is None else e.gallery
        if not len(needed) <= size <= len(needed) + len(others):
            raise ValueError(
                f"eval.gallery={e.gallery}: the gallery holds the {len(needed)} trial "
                f"speakers and up to {len(others)} others here ({len(needed) + len(others)} "
                "at most; null = all)"
            )
        chosen = []
        for spk in needed + others[: size - len(needed)]:
            utts = list(pool[spk])
            random.Random(f"{e.seed}|gallery|{spk}").shuffle(utts)
            chosen.extend(utts[: e.gallery_utterances])
        rate = self.mel.sample_rate
        wavs = [load_audio(u.audio, sample_rate=rate) for u in chosen]
        front = self.dm.front_end
        mels = [front(w)[0] for w in wavs]
        vocoded = vocode_batch(self.vocoder, mels, floor=front.log_floor, batch_size=e.batch_size)
        self._say(f"identity gallery: {size} speakers, {len(chosen)} enrolment utterances")
        return Gallery.build(
            self.encoder.embed(wavs, sample_rate=rate).numpy(),
            [u.speaker for u in chosen],
            impostor_embeddings=self.encoder.embed(vocoded, sample_rate=rate).numpy(),
            settings={
                "utterances_per_speaker": e.gallery_utterances,
                "enrolment_ids": [u.id for u in chosen],
                "enrolment": "real audio, utterances no trial uses",
                "impostors": "enrolment utterances through the evaluation vocoder vs other "
                "speakers' enrolments",
            },
        )

    def _generate(self, model: FlowMatchingTTS, *, prompted: bool):
        from .evaluation.tts import generate_for_trials

        # an inference-time method (tts_steer) steers the prompted generations
        around = getattr(self, "_batch_context", None) if prompted else None
        return generate_for_trials(
            model,
            self.vocab,
            self.dm.front_end,
            self.trials,
            prompted=prompted,
            progress=self.progress,
            batch_context=around,
            **self.generation_settings(),
        )

    def generation_settings(self) -> dict[str, Any]:
        """The evaluation's sampler settings (keyword arguments of ``generate_for_trials``)."""
        e = self.cfg.eval
        return {
            "nfe": e.nfe,
            "solver": e.solver,
            "guidance": e.guidance,
            "seed": e.seed,
            "batch_size": e.batch_size,
            "margin_s": self.cfg.margin_s,
        }

    def _eval_key(self, model_key: str | None) -> str:
        return settings_key(
            {
                "model": model_key,
                "eval": {
                    k: v
                    for k, v in dataclasses.asdict(self.cfg.eval).items()
                    if not k.startswith(("relearn", "probe"))
                    and k not in ("sim_margin", "wer_bound")
                },
                "trials": [t.key for t in self.trials],
                # specs, not describe(): a backend's description grows once it is loaded
                "judge": self.judge_info,
                "encoder": self.cfg.eval.encoder,
                "vocoder": self.vocoder.describe(),
                "reference": self.original_key,
            }
        )

    def evaluate(
        self,
        name: str,
        model: FlowMatchingTTS,
        model_key: str | None = None,
        *,
        text_only: bool = False,
    ) -> dict[str, Any]:
        """SIM-o / SIM-r / WER per group, the cross-speaker level and spk-ZRF of one model
        (empty on DDP ranks other than zero).

        With ``text_only`` the original's *text-only* generations of the trials are scored
        like a model's (no spk-ZRF: they are its reference): TGU's teacher voices, the
        lowest SIM-F a student that matched its teacher exactly could reach (the phones
        and aligner durations can still carry some of a speaker's accent and rhythm); the
        row is marked ``reference`` and is not checked as a method.

        The per-trial record ``eval/<name>.json`` is reused when the model's checkpoint key
        and every evaluation setting match.
        """
        if not self.is_global_zero:
            return {}
        from .evaluation.tts import score_cloning, speaker_zrf_for_trials

        e = self.cfg.eval
        key = self._eval_key(model_key)
        if text_only:
            key = settings_key({"text_only": key})
        extra = {"reference": True} if text_only else {}
        record = self.load_evaluation(name, key) if model_key is not None else None
        if record is not None:
            self.trial_scores[name] = record["rows"]
            level, zrf = record["cross_speaker_level"], record.get("spk_zrf", {})
            return {**_row(name, record["summary"], level, zrf), **extra}
        self._say(f"evaluating {name}: {len(self.trials)} cloning trials")
        gens = self.reference_text_only() if text_only else self._generate(model, prompted=True)
        scores = score_cloning(
            gens,
            vocab=self.vocab,
            front_end=self.dm.front_end,
            vocoder=self.vocoder,
            encoder=self.encoder,
            transcriber=getattr(self, "transcriber", None),
            normaliser=e.normaliser,
            gallery=getattr(self, "gallery", None),
        )
        record = {"model": name, "key": key, **scores.to_dict()}
        zrf: dict[str, Any] = {}
        if not text_only:
            zrf = speaker_zrf_for_trials(
                gens, self.reference_text_only(), vocoder=self.vocoder, encoder=self.encoder
            )
            record["spk_zrf"] = zrf
        self.save_evaluation(name, record)
        self.trial_scores[name] = scores
        return {**_row(name, scores.summary, scores.cross_speaker_level, zrf), **extra}

    def reference_text_only(self):
        """The original's text-only generations of the trials (spk-ZRF's reference), made
        once per set of trials on first use."""
        trials = tuple(t.key for t in self.trials)
        if trials not in self._references:
            self._say("text-only reference generations of the original (spk-ZRF)")
            self._references[trials] = self._generate(self.original, prompted=False)
        return self._references[trials]

    def scores(self, name, model, key, dm=None, request=None) -> dict[str, Any]:
        """The evaluation row of ``name`` on request ``request``'s trials (its forget,
        remain and unseen speakers and every earlier request's forget speakers)."""
        if request is None:
            return self.evaluate(name, model, key)
        self.trials = self.request_trials[request - 1]
        row = self.evaluate(f"{name}@r{request}", model, key)
        return {**row, "model": name} if row else row

    def before_relearning(self, dm, n_utterances: int) -> None:
        dm.batch_size = dm.forget_batch_size = min(n_utterances, self.cfg.unlearn.batch_size)

    def run(self) -> dict[str, Any]:
        judge, orig_meta = self.setup_evaluation()
        if self.requests is not None:
            return self.report_requests(run_requests(self, orig_meta), judge)
        retrained = None
        if self.cfg.retrain:
            retrained, retrain_meta = self.train_reference("retrain")
        self.trials = self._trials()
        self.validation_trials = self._trials(validation=True) if self._held_out else []
        self.record_trials()
        rows = [self.evaluate("original", self.original, orig_meta.get("key"))]
        rows[0].update(seconds=orig_meta["seconds"], steps=orig_meta.get("steps"))
        probe_row = rows[0]
        if self.validation_trials:  # the probes' fixed reference: the original on validation
            probe_row = self.evaluate_validation("original", self.original, self.original_key)
        self.probe_reference = {  # (empty rows on DDP ranks other than zero: no probe there)
            "level": probe_row.get("cross_sim"),
            "sim_remain": probe_row.get("sim_r"),
            "wer_remain": probe_row.get("wer_r"),
        }
        rows.append(
            self.evaluate("original, text only", self.original, self.original_key, text_only=True)
        )
        if retrained is not None:
            rows.append(self.evaluate("retrain", retrained, retrain_meta.get("key")))
            rows[-1].update(seconds=retrain_meta["seconds"], steps=retrain_meta.get("steps"))
        for name, hparams in self.tuned_methods(retrained).items():
            for seed in self.unlearning_seeds():
                rows.extend(self._method_rows(name, hparams or {}, seed))
        rows = merge_seed_rows(rows)  # one row per method over seeds (rows with a seed)
        return self.report(rows, judge, orig_meta)

    def setup_evaluation(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Corpus, split, vocoder, speaker encoder, identity gallery, WER judge and the
        original model (trained or reused): ``(judge record, original's meta)``."""
        from .evaluation.speaker import get_speaker_encoder
        from .models.tts.vocoder import get_vocoder

        cfg = self.cfg
        self.prepare()
        trust = cfg.eval.trust_code
        self.vocoder = get_vocoder(cfg.eval.vocoder, self.mel, trust_code=trust)
        self.encoder = get_speaker_encoder(cfg.eval.encoder, trust_code=trust)
        # the identity gallery: checked (and built) before the judge or any model trains
        self.gallery = self.identity_gallery() if self.is_global_zero else None
        self.transcriber = None
        judge: dict[str, Any] = {}
        if cfg.eval.judge and self.is_global_zero:
            from .evaluation.asr import get_transcriber

            spec = cfg.eval.judge
            if spec == "train":
                spec, judge = self.train_judge(self.vocoder)
            self.transcriber = get_transcriber(spec)
            judge.setdefault("spec", spec)
        self.judge_info = judge
        self.original, orig_meta = self.train_reference("original")
        self.trial_scores: dict[str, Any] = {}
        self.original_key = orig_meta.get("key")
        return judge, orig_meta

    @property
    def _held_out(self) -> bool:
        return float(self.cfg.eval.validation_texts) > 0

    def _method_rows(
        self, name: str, hparams: dict[str, Any], seed: int | None
    ) -> list[dict[str, Any]]:
        """Method ``name`` run (or reused) with ``seed`` (None: the run's, one run) and
        evaluated on the test trials: its row and, when asked for, its relearning row. An
        inference-time method (``tts_steer``) enrols and steers instead of training."""
        from .methods.registry import get_method

        if getattr(get_method(name), "inference_time", False):
            from .runners.tts_steer import steering_rows

            return steering_rows(self, name, hparams, seed)
        label, model, meta = self.unlearn_seeded(name, hparams, seed)
        row = self.evaluate(label, model, meta.get("key"))
        row.update(
            model=name,
            seconds=meta["seconds"],
            steps=meta.get("steps"),
            teacher_generations=meta.get("teacher_generations"),
        )
        if seed is not None:
            row["seed"] = seed
        if meta.get("curve"):
            row["curve"] = meta["curve"]
            row["curve_trials"] = "validation" if self.validation_trials else "test"
        out = [row]
        if relearn_wanted(self, name):
            attacked, info = relearn(self, label, model, meta)
            row = self.evaluate(f"{label}+relearn", attacked, info["key"])
            row.update(model=f"{name}+relearn", seconds=info["seconds"], steps=info["steps"])
            row.update({k: info[k] for k in ("attacker_loss_before", "attacker_loss_after")})
            if seed is not None:
                row["seed"] = seed
            out.append(row)
        return out

    def evaluate_validation(self, name: str, model, key: str | None) -> dict[str, Any]:
        """``name``'s row on the validation trials (``eval/<name>@validation.json``; kept
        out of the report's plots)."""
        test = self.trials
        self.trials = self.validation_trials
        try:
            row = self.evaluate(f"{name}@validation", model, key)
        finally:
            self.trials = test
        self.trial_scores.pop(f"{name}@validation", None)
        return row

    def report(
        self, rows: list[dict[str, Any]], judge: dict[str, Any], orig_meta: dict[str, Any]
    ) -> dict[str, Any]:
        if not self.is_global_zero:
            return {}
        from .evaluation.tts import plot_sim_distributions

        cfg = self.cfg
        original = rows[0]
        for row in rows:
            row["pretrain_fraction_time"] = (
                row["seconds"] / orig_meta["seconds"]
                if row.get("seconds") is not None and orig_meta.get("seconds")
                else None
            )
            row["pretrain_fraction_steps"] = (
                row["steps"] / orig_meta["steps"]
                if row.get("steps") and orig_meta.get("steps")
                else None
            )
        checks = _targets(rows, original, cfg.eval.sim_margin, cfg.eval.wer_bound)
        for row in rows:
            curve = row.get("curve")
            if not curve:
                continue
            reached = next(  # the gap against the fixed reference when the probe has it
                (c for c in curve if _gap(c) is not None and _gap(c) <= cfg.eval.sim_margin),
                None,
            )
            entry = checks.setdefault(row["model"], {})
            entry["probe_steps_to_target"] = None if reached is None else reached["step"]
            entry["probe_pretrain_fraction_steps"] = (
                reached["step"] / orig_meta["steps"]
                if reached is not None and orig_meta.get("steps")
                else None
            )
        report = {
            "version": __version__,
            "task": "tts speaker-identity forgetting",
            "manifest": str(self.manifest_path),
            "split": {
                "forget_speakers": list(self.split.forget_speakers),
                "n_forget": len(self.split.forget),
                "n_retain": len(self.split.retain),
                "n_unseen": len(self.split.test),
            },
            "model": {
                "config": self.model_config.to_json(),
                "parameters": self.original.n_parameters(),
            },
            "evaluation": {
                **dataclasses.asdict(cfg.eval),
                "encoder": self.encoder.describe(),
                "vocoder": self.vocoder.describe(),
                "n_trials": len(self.trials),
                "n_validation_trials": len(getattr(self, "validation_trials", ())),
                "seeds": cfg.seeds,
            },
            "judge": judge,
            "rows": rows,
            "targets": checks,
        }
        table = markdown_table(rows, REPORT_COLUMNS)
        self.write_report(report, render_markdown(report), indent=2, default=str)
        plot_sim_distributions(self.trial_scores, self.run_dir / "sim_distributions.png")
        plot_tts_tradeoff(rows, self.run_dir / "tradeoff.png")
        seed_curves = (r.get("curve") for row in rows for r in row.get("per_seed") or ())
        if any(row.get("curve") for row in rows) or any(seed_curves):
            plot_forgetting_curves(rows, self.run_dir / "forgetting_curve.png", cfg.eval.sim_margin)
        self._say(table)
        return report

    def report_requests(self, rows: list[dict[str, Any]], judge: dict[str, Any]) -> dict:
        """``report.json`` / ``report.md`` of sequential requests: per request, the original,
        that request's retrained model and each method, with the earlier requests' forget
        speakers cloned again and their ``revival`` (SIM now minus SIM at their own
        request, same model: above 0, the voice is coming back)."""
        if not self.is_global_zero:
            return {}
        at = {(r["request"], r["model"]): r for r in rows}
        for r in rows:
            for j in range(1, r["request"]):
                now = r.get(f"sim_forget_r{j}")
                then = at.get((j, r["model"]), {}).get("sim_f")
                r[f"revival_r{j}"] = None if now is None or then is None else now - then
            earlier = [r[f"revival_r{j}"] for j in range(1, r["request"])]
            earlier = [v for v in earlier if v is not None]
            r["revival_max"] = max(earlier) if earlier else None
        report = {
            "version": __version__,
            "task": "tts speaker-identity forgetting, sequential requests",
            "manifest": str(self.manifest_path),
            "requests": [
                {
                    "request": k,
                    "speakers": list(s.forget_speakers),
                    "sizes": {"forget": len(s.forget), "retain": len(s.retain)},
                    "n_trials": len(self.request_trials[k - 1]),
                }
                for k, s in enumerate(self.request_splits, start=1)
            ],
            "revival": "revival_r<j> of a request-k row: SIM of request j's forget prompts "
            "at request k minus at request j, same model (> 0: the voice comes back)",
            "judge": judge,
            "rows": rows,
        }
        table = markdown_table(rows, REQUEST_COLUMNS)
        self.write_report(report, render_markdown(report), indent=2, default=str)
        panels = [("SIM-o of the forget speakers' prompts", "sim_f", "sim_forget_r{j}")]
        if any(r.get("reid1_f") is not None for r in rows):
            panels.append(("re-ID top-1 of their generations", "reid1_f", "reid1_forget_r{j}"))
        plot_revival(rows, panels, self.run_dir / "revival.png")
        self._say(table)
        return report


def run_tts_experiment(
    cfg: TTSExperimentConfig, run_dir: str | Path, *, progress: bool = True
) -> dict[str, Any]:
    """Run (or resume) a TTS speaker-forgetting experiment; returns the report."""
    return TTSExperiment(cfg, run_dir, progress=progress).run()
