"""The TTS run's config: corpus, split, model, training, unlearning and evaluation settings
(``task: tts`` configs, ``recipes/tts_speaker/``) and their loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiment import CorpusConfig, DataConfig
from ..run.attacks import RelearnOptions
from ..run.config import load_task_config
from ..run.splits import SplitConfig
from ..run.sweep import SweepConfig

#: the built-in CPU model: ~3M parameters, two mel frames per Transformer token.
DEFAULT_MODEL: dict[str, Any] = {"d_model": 192, "n_layers": 6, "frames_per_token": 2}


@dataclass
class TTSCorpusConfig(CorpusConfig):
    """:class:`~audio_unlearn.experiment.CorpusConfig` with the TTS default: the clean
    synthetic corpus, one utterance per command and speaker."""

    dir: str = "data/synth-tts"
    synth: dict[str, Any] = field(
        default_factory=lambda: {"noise": "clean", "repeats_per_intent": 1}
    )


@dataclass
class TTSDataConfig(DataConfig):
    """How features reach the model (:class:`~audio_unlearn.experiment.DataConfig`:
    ``stream`` computes each utterance's mel when a batch needs it, in DataLoader workers,
    instead of holding every set's mels in memory; ``num_workers``).

    Attributes:
        feature_cache: a directory for the mels on disk (one file per utterance, keyed by
            the mel settings, ``margin_s``, the phone vocabulary, the alignment and the
            audio file's path, size and modification time), shared across runs and
            workers; ``None``: computed in every run.
    """

    feature_cache: str | None = None


@dataclass
class TTSSplitConfig(SplitConfig):
    """Unseen (test) speakers and forget speakers
    (:class:`~audio_unlearn.run.splits.SplitConfig`) with the TTS recipes' defaults; the
    forget unit is a speaker (``kind: speaker``)."""

    n_test_speakers: int = 8
    n_speakers: int | None = 4
    min_utterances: int = 1
    seed: int = 0


@dataclass
class TTSTrainConfig:
    """Pre-training of the original (F + R) and retrained (R only) models.

    Attributes:
        steps: optimiser steps.
        batch_size: utterances per step.
        lr: peak learning rate (warm-up then cosine).
        warmup_steps: linear warm-up.
        weight_decay: AdamW weight decay.
        precision: Lightning precision ("bf16-mixed" uses AMX/AVX512-bf16 CPUs and GPUs).
        bucket_seconds: batch by duration, each batch a budget of this many padded
            seconds of similar-length utterances instead of ``batch_size`` utterances
            (:class:`~audio_unlearn.data.sampling.DurationBucketBatchSampler`; it shards
            itself under DDP). Reference training only: the unlearning methods compose
            their own forget / retain batches. None: off.
    """

    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    precision: str = "bf16-mixed"
    bucket_seconds: float | None = None

    def __post_init__(self):
        if self.bucket_seconds is not None and not float(self.bucket_seconds) > 0:
            raise ValueError(
                f"train.bucket_seconds must be > 0 padded seconds per batch or null, got "
                f"{self.bucket_seconds}"
            )


@dataclass
class TTSUnlearnConfig:
    """Settings shared by the unlearning methods (a method's own YAML keys win).

    Attributes:
        steps: optimiser steps of each method (a method entry may set its own ``steps``).
        batch_size: utterances per step (forget + retain together for two-set methods;
            the forget share is the method's ``forget_ratio`` when it has one, else half).
        precision: Lightning precision of the unlearning runs.
    """

    steps: int = 300
    batch_size: int = 16
    precision: str = "bf16-mixed"


@dataclass
class TTSEvalConfig(RelearnOptions):
    """Evaluation of cloning (SIM-o, SIM-r), intelligibility (WER) and spk-ZRF.

    Attributes:
        per_speaker: cloning trials (prompt, target) per speaker.
        max_speakers: speakers evaluated per group (forget, remain, unseen); None = all.
        nfe, solver, guidance: the sampler (paper: 32, midpoint, 0.7).
        seed: seeds trial choice and sampling noise (the same for every model).
        encoder: speaker encoder spec ("resemblyzer", "ecapa:<path>", "wavlm_sv:<path>").
        vocoder: vocoder spec ("griffin_lim", "vocos:<path>", "hifigan:<path>").
        trust_code: let the encoder or vocoder load a folder (or a hub repository of an
            unknown publisher) whose YAML names code to run (SpeechBrain's
            ``hyperparams.yaml``, Vocos' ``config.yaml``; :mod:`audio_unlearn.models.trust`).
            Without it such a spec is refused before any work.
        judge: the ASR judge: "train" (train the library CTC recogniser on this corpus's
            training speakers, real + vocoder-resynthesised audio), a transcriber spec
            ("library:<ckpt>", "ctc:<name or path>", "whisper:<name or path>"), or
            None for no WER.
        judge_epochs: epochs of the ``train`` judge.
        normaliser: text normaliser of WER.
        sim_margin: the TGU target: SIM-F within this of the cross-speaker level.
        wer_bound: the stated bound on WER-R's rise over the original's (absolute).
        batch_size: generations per batch.
        relearn_steps: the relearning attack (0 = off): fine-tune each model of
            ``relearn_methods`` on ``relearn_utterances`` forget utterances for this many
            steps at ``relearn_lr`` and re-measure (the paper: 15 minutes of a forget
            speaker's audio restores SIM-F); rows ``<method>+relearn``.
        probe_every: the forgetting curve (0 = off): every this many unlearning steps of
            the ``probe_methods``, generate every trial and record SIM per group, the
            cross-speaker level and SIM-F's gap above it (the row's ``curve`` in
            ``report.json``, ``forgetting_curve.png``, and in the targets the first
            probed step at which the gap is within ``sim_margin``). With
            ``validation_texts`` the probes generate the validation trials only.
        validation_texts: fraction of the corpus's distinct texts held out for
            **validation** cloning trials (0 = off). Each speaker's utterances of those
            texts make the validation trials, the rest the test trials, so validation and
            test share no prompt and no text. The draw is written once to ``trials.json``
            in the run directory (with every trial of both sets) and kept; the forgetting
            curve and every setting chosen for the recipe read the validation trials, the
            report the test trials.
        gallery: identity leakage (0 = off): enrol this many speakers of the corpus
            (None = every speaker; always every trial speaker, then others in a seeded
            order) from ``gallery_utterances`` real utterances each that no trial uses, and
            score every generation against them: top-1 / top-5 re-identification with
            chance, Avg-/Max-FSSIM and the impostor AUROC (impostor pairs: the enrolment
            utterances, passed through the evaluation's vocoder, against *other*
            speakers' enrolments; fixed before unlearning). Columns ``reid1_*``,
            ``fssim_max_f``, ``imp_auroc_*``.
        gallery_utterances: real utterances enrolled per gallery speaker.
    """

    per_speaker: int = 3
    max_speakers: int | None = 8
    nfe: int = 16
    solver: str = "midpoint"
    guidance: float = 0.7
    seed: int = 0
    encoder: str = "resemblyzer"
    vocoder: str = "griffin_lim"
    trust_code: bool = False
    judge: str | None = "train"
    judge_epochs: int = 15
    normaliser: str = "strip_punct"
    sim_margin: float = 0.05
    wer_bound: float = 0.05
    batch_size: int = 8
    relearn_methods: list[str] = field(default_factory=lambda: ["tts_tgu"])
    relearn_with_retain: bool = False  # the TGU paper's attack: forget audio alone
    probe_every: int = 0
    probe_methods: list[str] = field(default_factory=lambda: ["tts_tgu"])
    validation_texts: float = 0.0
    gallery: int | None = 0
    gallery_utterances: int = 3

    def __post_init__(self):
        if not 0.0 <= float(self.validation_texts) < 1.0:
            raise ValueError(
                f"eval.validation_texts must lie in [0, 1), got {self.validation_texts}"
            )
        if self.gallery is not None and (self.gallery < 0 or self.gallery == 1):
            raise ValueError(
                f"eval.gallery={self.gallery}: give 0 (off), a number of speakers >= 2, or "
                "null (every speaker of the corpus)"
            )
        if self.gallery_utterances < 1:
            raise ValueError(f"eval.gallery_utterances must be >= 1, got {self.gallery_utterances}")


@dataclass
class TTSExperimentConfig:
    """A whole TTS speaker-forgetting run (see ``recipes/tts_speaker/``).

    Attributes:
        corpus: where the corpus comes from (default: the clean synthetic espeak-ng corpus).
        split: unseen and forget speakers.
        model: overrides of :class:`~audio_unlearn.models.tts.FlowMatchingTTSConfig`.
        train: pre-training settings.
        unlearn: settings shared by the methods.
        methods: method name -> hyper-parameter overrides (plus an optional ``steps``).
        eval: evaluation settings.
        data: streaming, DataLoader workers and the on-disk mel cache (:class:`TTSDataConfig`).
        trainer: extra Lightning ``Trainer`` arguments (e.g. a GPU preset).
        sweep: the learning-rate x seed sweep, chosen on validation (off by default).
        retrain: train the exact-unlearning reference (``checkpoints/retrain.pt``, R
            only; its row in the report); false skips it (not with ``sweep``, which needs
            it; with ``requests`` the per-request retrained rows are left out).
        seeds: unlearning seeds (None: one run with ``seed``). With seeds every method runs
            once per seed (``checkpoints/<method>@s<seed>.pt``; the seed also seeds the
            method's own noise, e.g. TGU's teacher, unless its entry sets ``seed``); the
            report gives each metric's mean with a 95% interval over seeds, per-seed rows
            in ``report.json`` and met / not met / inconclusive per target.
        requests: ``None`` (one request: the split's forget speakers) or forget requests
            handled one after the other: lists of speaker ids, or numbers of speakers to
            draw (see the module docstring).
        seed: global seed.
        margin_s: seconds kept after the last phone of each utterance.
        task: ``tts`` (``audio-unlearn run`` hands the config to this runner).
    """

    task: str = "tts"
    corpus: TTSCorpusConfig = field(default_factory=TTSCorpusConfig)
    split: TTSSplitConfig = field(default_factory=TTSSplitConfig)
    model: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_MODEL))
    train: TTSTrainConfig = field(default_factory=TTSTrainConfig)
    unlearn: TTSUnlearnConfig = field(default_factory=TTSUnlearnConfig)
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "tts_ft": {},
            "tts_ng": {"lr": 1e-5},
            "tts_kl": {"lr": 1e-5},
            "tts_sgu": {},
            "tts_tgu": {},
        }
    )
    eval: TTSEvalConfig = field(default_factory=TTSEvalConfig)
    data: TTSDataConfig = field(default_factory=TTSDataConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    requests: list[Any] | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    seeds: list[int] | None = None
    retrain: bool = True
    margin_s: float = 0.15

    def __post_init__(self):
        if not self.retrain and self.sweep.on:
            raise ValueError("retrain: false leaves no gold model for the sweep")


def load_tts_config(
    path: str | Path | None = None, overrides=(), *, trainer_preset: str | Path | None = None
) -> TTSExperimentConfig:
    """A :class:`TTSExperimentConfig` (:func:`~audio_unlearn.run.config.load_task_config`);
    ``model`` keys override the built-in model rather than replace it."""
    return load_task_config(
        TTSExperimentConfig,
        path,
        overrides,
        task="tts",
        recipes="recipes/tts_speaker/",
        trainer_preset=trainer_preset,
        # model keys override the built-in default, not replace it
        merge_defaults={"model": DEFAULT_MODEL},
    )
