"""TTS data: log-mels with frame-aligned phone ids, padding collate, a DataModule.

A batch is the tuple ``(mels, phones, lengths, index)``:

- ``mels``: ``(batch, max_frames, n_mels)`` natural-log mel, zero-padded;
- ``phones``: ``(batch, max_frames)`` frame-aligned phone ids (0 = padding);
- ``lengths``: ``(batch,)`` valid frames;
- ``index``: ``(batch,)`` position of each item in its set (TGU keys its cache of
  teacher targets by it).

Every utterance is cropped ``margin_s`` after its last phone (the synthetic corpus writes
3.6 s windows, most of it silence after the speech). Mels are computed once per set and
held in memory, or (``stream=True``) computed when a batch needs them, in DataLoader
workers, so memory does not grow with the corpus. A :class:`FeatureCache` keeps them on
disk between runs, keyed by everything they depend on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..models.tts.mel import MelConfig, MelFrontEnd
from ..models.tts.phones import PhoneVocabulary, frame_phone_ids
from .audio import load_audio
from .manifest import Utterance
from .splits import ForgetSplit
from .staged import StagedDataModule

__all__ = [
    "FeatureCache",
    "TTSDataModule",
    "TTSDataset",
    "collate_tts",
    "mel_moments",
    "utterance_features",
]


def utterance_features(
    utt: Utterance,
    vocab: PhoneVocabulary,
    front_end: MelFrontEnd,
    *,
    margin_s: float = 0.15,
    wav: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mel (frames, n_mels), phone ids (frames,))`` of one utterance, cropped after
    its last phone plus ``margin_s``.

    Raises:
        ValueError: the utterance has no alignment (named), or its audio is invalid.
    """
    if not utt.alignment:
        frame_phone_ids(None, 0, 1.0, vocab, utterance_id=utt.id)  # raises, naming it
    c = front_end.config
    if wav is None:
        wav = load_audio(utt.audio, sample_rate=c.sample_rate)
    end = min(wav.numel(), round((utt.alignment[-1].end + margin_s) * c.sample_rate))
    wav = wav[:end]
    mel = front_end(wav.unsqueeze(0))[0]
    ids = frame_phone_ids(utt.alignment, mel.shape[0], c.frame_rate, vocab, utterance_id=utt.id)
    return mel, ids


#: Bumped when :func:`utterance_features` changes what it computes (old cache files then
#: stop matching instead of being served).
FEATURE_VERSION = 1


class FeatureCache:
    """``(mel, phone ids)`` of utterances on disk, one file per utterance and settings.

    The key hashes everything the features depend on: the mel settings, ``margin_s``, the
    phone vocabulary, the utterance's alignment, and the audio file's path, size and
    modification time; changing any of them makes a new entry (never a stale hit).
    Entries are written atomically (temporary file + rename), so DataLoader workers and
    concurrent runs can share a directory.

    Args:
        root: the cache directory (created on first write).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def key(
        self, utt: Utterance, vocab: PhoneVocabulary, front_end: MelFrontEnd, margin_s: float
    ) -> str:
        audio = Path(utt.audio)
        try:
            stat = audio.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"audio file {audio} of utterance {utt.id!r} not found; check the manifest"
            ) from None
        record = {
            "version": FEATURE_VERSION,
            "mel": dataclasses.asdict(front_end.config),
            "margin_s": float(margin_s),
            "vocab": list(vocab.symbols),
            "alignment": [[p.phone, p.start, p.end] for p in utt.alignment or ()],
            "audio": [str(audio.resolve()), stat.st_size, stat.st_mtime_ns],
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pt"

    def features(
        self,
        utt: Utterance,
        vocab: PhoneVocabulary,
        front_end: MelFrontEnd,
        *,
        margin_s: float = 0.15,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached features of ``utt``, computed and stored on a miss."""
        path = self.path(self.key(utt, vocab, front_end, margin_s))
        if path.is_file():
            try:
                mel, ids = torch.load(path, weights_only=True)
                self.hits += 1
                return mel, ids
            except Exception:  # a truncated file from a killed writer: recompute it
                pass
        self.misses += 1
        mel, ids = utterance_features(utt, vocab, front_end, margin_s=margin_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save((mel.clone(), ids.clone()), tmp)
        os.replace(tmp, path)
        return mel, ids


class TTSDataset(Dataset):
    """Items ``(mel, phones, index)`` for a list of utterances.

    Args:
        utterances: records with phone alignments.
        vocab: the phone vocabulary.
        front_end: the mel front end.
        margin_s: seconds kept after the last phone.
        progress: a progress bar while computing the features (in memory only).
        desc: its label.
        stream: compute each item's features when it is read (in DataLoader workers when
            the loader has them) instead of all of them up front; nothing is held.
        cache: read and write the features through this on-disk cache.

    Raises:
        ValueError: an utterance has no alignment (named; checked up front, streaming too).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        vocab: PhoneVocabulary,
        front_end: MelFrontEnd,
        *,
        margin_s: float = 0.15,
        progress: bool = False,
        desc: str = "mel features",
        stream: bool = False,
        cache: FeatureCache | None = None,
    ):
        self.utterances = list(utterances)
        self.vocab = vocab
        self.front_end = front_end
        self.margin_s = margin_s
        self.stream = stream
        self.cache = cache
        self.items: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        if stream:
            from .corpora._base import audio_info

            for u in self.utterances:  # named errors now, not in a worker mid-epoch
                if not u.alignment:
                    frame_phone_ids(None, 0, 1.0, vocab, utterance_id=u.id)
                audio_info(u.audio)
        else:
            self.items = [
                self.features(u)
                for u in tqdm(self.utterances, desc=desc, disable=not progress, unit="utt")
            ]

    def features(self, utt: Utterance) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is not None:
            return self.cache.features(utt, self.vocab, self.front_end, margin_s=self.margin_s)
        return utterance_features(utt, self.vocab, self.front_end, margin_s=self.margin_s)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self.items is None:
            mel, ids = self.features(self.utterances[i])
        else:
            mel, ids = self.items[i]
        return mel, ids, i

    def mels(self):
        """Each item's mel in order (computed one at a time when streaming)."""
        for i in range(len(self)):
            yield self[i][0]


def mel_moments(mels) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and standard deviation (unbiased) over every frame of ``mels`` (an
    iterable of ``(frames, n_mels)`` tensors), accumulated in float64 one item at a time:
    the same numbers whether the features are held in memory or streamed."""
    count = 0
    total = sq = None
    for mel in mels:
        m = mel.to(torch.float64)
        total = m.sum(0) if total is None else total + m.sum(0)
        sq = (m * m).sum(0) if sq is None else sq + (m * m).sum(0)
        count += m.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 mel frames for their statistics, got {count}")
    mean = total / count
    var = (sq - count * mean * mean) / (count - 1)
    return mean.float(), var.clamp_min(0).sqrt().float()


def collate_tts(
    items: Sequence[tuple[torch.Tensor, torch.Tensor, int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad items into ``(mels, phones, lengths, index)``."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    lengths = torch.tensor([m.shape[0] for m, _, _ in items], dtype=torch.long)
    n_mels = items[0][0].shape[1]
    mels = torch.zeros(len(items), int(lengths.max()), n_mels)
    phones = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
    for row, (m, p, _) in enumerate(items):
        mels[row, : m.shape[0]] = m
        phones[row, : p.numel()] = p
    index = torch.tensor([i for _, _, i in items], dtype=torch.long)
    return mels, phones, lengths, index


class TTSDataModule(StagedDataModule):
    """Serves the sets of a :class:`ForgetSplit` as TTS batches.

    Stages as the other data modules: ``"original"`` (forget + retain = every training
    speaker), ``"gold"`` (retain only: exact unlearning retrains on it) and ``"unlearn"``
    (a ``CombinedLoader`` of the sets named in ``unlearn_sets``; ``batch["forget"]``,
    ``batch["retain"]``).

    Args:
        utterances: the corpus manifest (with phone alignments).
        split: the forget split (forget / retain / valid / test utterance ids).
        vocab: the phone vocabulary.
        mel: the mel settings.
        batch_size: batch size of every loader (``forget_batch_size`` overrides it for
            the forget loader of the unlearn stage).
        seed: shuffling seed.
        margin_s: seconds kept after the last phone.
        extra_sets: further named sets of utterance ids.
        progress: progress bars while computing features.
        stream: compute features when a batch needs them (see :class:`TTSDataset`).
        num_workers: DataLoader worker processes (0 = the main process).
        feature_cache: a directory for an on-disk :class:`FeatureCache` (None: none).
        bucket_seconds: the reference trainings (stages ``original`` and ``gold``) batch
            by duration, batches of similar-length utterances within this many padded
            seconds (:class:`~audio_unlearn.data.sampling.DurationBucketBatchSampler`,
            which also shards them under DDP); the unlearning stage keeps the batches the
            method composes (e.g. TGU's forget share). None: ``batch_size`` utterances.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        split: ForgetSplit,
        vocab: PhoneVocabulary,
        mel: MelConfig | None = None,
        *,
        batch_size: int = 16,
        forget_batch_size: int | None = None,
        seed: int = 0,
        margin_s: float = 0.15,
        extra_sets: Mapping[str, Sequence[str]] | None = None,
        progress: bool = True,
        stream: bool = False,
        num_workers: int = 0,
        feature_cache: str | os.PathLike | None = None,
        bucket_seconds: float | None = None,
    ):
        super().__init__()
        if bucket_seconds is not None and not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be > 0 seconds or None, got {bucket_seconds}")
        self.bucket_seconds = bucket_seconds
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.stream = stream
        self.num_workers = num_workers
        self.feature_cache = FeatureCache(feature_cache) if feature_cache is not None else None
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split = split
        self.vocab = vocab
        self.front_end = MelFrontEnd(mel)
        self.batch_size = batch_size
        self.forget_batch_size = forget_batch_size or batch_size
        self.seed = seed
        self.margin_s = margin_s
        self.progress = progress
        self.sets: dict[str, list[Utterance]] = split.utterance_sets(utterances, extra_sets)
        self._datasets: dict[str, TTSDataset] = {}

    def dataset(self, name: str) -> TTSDataset:
        if name not in self._datasets:
            if name == "train":
                utts = self.sets["forget"] + self.sets["retain"]
            elif name in self.sets:
                utts = self.sets[name]
            else:
                raise ValueError(f"unknown set {name!r}; known: {['train', *self.sets]}")
            self._datasets[name] = TTSDataset(
                utts,
                self.vocab,
                self.front_end,
                margin_s=self.margin_s,
                progress=self.progress,
                desc=f"mel features ({name})",
                stream=self.stream,
                cache=self.feature_cache,
            )
        return self._datasets[name]

    def seconds(self, utt: Utterance) -> float:
        """Seconds an utterance is served with (cropped ``margin_s`` after its last phone):
        what a duration-bucketed batch plans with, known without computing the mel."""
        if utt.alignment:
            return min(float(utt.duration), utt.alignment[-1].end + self.margin_s)
        return float(utt.duration)

    def train_dataloader(self):
        if self.bucket_seconds is None or self.stage not in ("original", "gold"):
            return super().train_dataloader()
        from .sampling import DurationBucketBatchSampler

        dataset = self.dataset("train" if self.stage == "original" else "retain")
        seconds = [self.seconds(u) for u in dataset.utterances]
        sampler = DurationBucketBatchSampler(seconds, self.bucket_seconds, seed=self.seed)
        return DataLoader(
            dataset, batch_sampler=sampler, collate_fn=collate_tts, num_workers=self.num_workers
        )

    def loader(self, name: str, *, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        return DataLoader(
            self.dataset(name),
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            collate_fn=collate_tts,
            num_workers=self.num_workers,
        )

    def unlearn_batch_size(self, name: str) -> int | None:
        return self.forget_batch_size if name == "forget" else None
