"""The ASR run's config: split, recogniser, training and evaluation settings (``task: asr``
configs, ``recipes/asr_speaker/``) and their loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiment import CorpusConfig, DataConfig, TrainConfig
from ..run.attacks import RelearnOptions
from ..run.config import load_task_config
from ..run.splits import SplitConfig
from ..run.sweep import SweepConfig


@dataclass
class ASRSplitConfig(SplitConfig):
    """Held-out and forget speakers (:class:`~audio_unlearn.run.splits.SplitConfig`) with
    the ASR recipes' defaults; ``kind`` "speaker" or "item" (no class labels)."""

    n_test_speakers: int = 6
    n_speakers: int | None = 1
    min_utterances: int = 20


@dataclass
class ASRTrainConfig(TrainConfig):
    """Training of the original and retrained recognisers (:class:`CTCTraining`).

    ``nonfinite``: what an infinite or NaN per-utterance loss does, in training and
    unlearning alike: "skip" (left out of the batch mean, counted in the report's
    ``nonfinite_losses``) or "error" (the run stops, naming the cause).

    ``bucket_seconds``: batch training and unlearning by duration, each batch a budget of
    this many padded seconds (:class:`~audio_unlearn.data.sampling.DurationBucketBatchSampler`;
    it shards the batches itself under DDP, so Lightning's distributed sampler is turned
    off); None = ``batch_size`` utterances per batch.
    """

    lr: float = 3e-3
    nonfinite: str = "skip"
    bucket_seconds: float | None = None

    def __post_init__(self):
        if self.nonfinite not in ("skip", "error"):
            raise ValueError(f"train.nonfinite must be 'skip' or 'error', got {self.nonfinite!r}")
        if self.bucket_seconds is not None and not float(self.bucket_seconds) > 0:
            raise ValueError(
                f"train.bucket_seconds must be > 0 padded seconds per batch or null, got "
                f"{self.bucket_seconds}"
            )


@dataclass
class ASREvalConfig(RelearnOptions):
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
        max_duration_s: drop utterances longer than this many seconds before the split
            (``None``: keep all); Whisper's encoder takes at most 30 s.
        model: the recogniser. ``kind``: ``library`` (default; every other key overrides
            :class:`~audio_unlearn.models.asr.CTCRecognizerConfig`), ``hf_ctc`` or
            ``hf_whisper`` (``source``: hub name or ``save_pretrained`` directory, plus the
            keyword options of :meth:`~audio_unlearn.models.asr_hf.HFCTCRecognizer.
            from_pretrained` / :meth:`~audio_unlearn.models.asr_hf.HFWhisperRecognizer.
            from_pretrained`).
        methods: method name -> hyper-parameter overrides (``asr_*`` methods).
        requests: ``None`` (one request: the split's forget speakers) or a sequence of
            forget requests applied one after the other: lists of speaker ids, or
            numbers of speakers to draw (``split.min_utterances``, ``split.seed``); the
            split's ``n_speakers``/``speakers`` are then unused. See the module docstring.
        data: how audio reaches the model (:class:`~audio_unlearn.experiment.DataConfig`:
            ``stream`` decodes in DataLoader workers instead of holding the corpus in
            memory, ``num_workers``). With ``random_tail`` the tails are drawn in the workers
            (seeded, but not the main process's draws).
        trainer: Lightning Trainer keyword arguments (e.g. ``accelerator: gpu``).
        task: ``asr`` (``audio-unlearn run`` hands the config to this runner).
    """

    task: str = "asr"
    seed: int = 0
    crop: str = "speech"
    margin_s: float = 0.3
    random_tail: bool = True
    max_duration_s: float | None = None
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    split: ASRSplitConfig = field(default_factory=ASRSplitConfig)
    model: dict[str, Any] = field(default_factory=dict)
    train: ASRTrainConfig = field(default_factory=ASRTrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"asr_ft": {}, "asr_ngplus": {}}
    )
    eval: ASREvalConfig = field(default_factory=ASREvalConfig)
    requests: list[Any] | None = None
    #: unlearning seeds (None: one run with ``seed``), as the classification runner's
    seeds: list[int] | None = None
    sweep: SweepConfig = field(default_factory=SweepConfig)
    trainer: dict[str, Any] = field(default_factory=dict)


def load_asr_config(
    path: str | Path | None = None, overrides=(), *, trainer_preset: str | Path | None = None
) -> ASRExperimentConfig:
    """An :class:`ASRExperimentConfig` (:func:`~audio_unlearn.run.config.load_task_config`)."""
    return load_task_config(
        ASRExperimentConfig,
        path,
        overrides,
        task="asr",
        recipes="recipes/asr_speaker/",
        trainer_preset=trainer_preset,
    )
