"""Datasets and the Lightning DataModule that serves forget, retain and evaluation sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .audio import TARGET_SAMPLE_RATE, load_audio
from .manifest import Utterance
from .splits import ForgetSplit
from .staged import StagedDataModule

__all__ = ["LabelEncoder", "LabelledAudioDataset", "UnlearningDataModule", "WaveformCache"]


class LabelEncoder:
    """Maps label strings to contiguous class ids (sorted, so it is stable across runs)."""

    def __init__(self, labels: Sequence[str]):
        self.classes: tuple[str, ...] = tuple(sorted(set(labels)))
        self.index = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, label: str) -> int:
        try:
            return self.index[label]
        except KeyError:
            raise ValueError(
                f"label {label!r} was not seen in training (known: {self.classes[:10]}...)"
            ) from None


class WaveformCache:
    """Loads and validates each utterance's audio once; serves it padded/truncated to a
    fixed length.

    Audio is held in memory as float32, truncated to ``max_seconds`` but not padded
    (padding happens on access); the synthetic corpus (2 688 x 3.6 s) takes about 620 MB.
    With ``stream=True`` nothing is kept: :meth:`preload` checks every file's header
    (named errors before any training) and each access decodes the file, in the
    DataLoader's worker processes when it has them, so memory does not grow with the
    corpus.
    """

    def __init__(
        self, max_seconds: float, sample_rate: int = TARGET_SAMPLE_RATE, *, stream: bool = False
    ):
        self.num_samples = round(max_seconds * sample_rate)
        self.sample_rate = sample_rate
        self.stream = stream
        self._store: dict[str, torch.Tensor] = {}

    def fix_length(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.numel() >= self.num_samples:
            return wav[: self.num_samples]
        return torch.nn.functional.pad(wav, (0, self.num_samples - wav.numel()))

    def preload(self, utterances: Sequence[Utterance], progress: bool = True) -> None:
        if self.stream:  # headers only: a missing or broken file is named now
            from .corpora._base import audio_info

            for u in utterances:
                audio_info(u.audio)
            return
        todo = [u for u in utterances if u.id not in self._store]
        for u in tqdm(todo, desc="loading audio", disable=not progress or not todo, unit="utt"):
            self._store[u.id] = self._load(u)

    def _load(self, utt: Utterance) -> torch.Tensor:
        # stored truncated but unpadded: padding to max_seconds happens on access, so a
        # corpus of short commands padded to 10 s does not take 10 s of memory each
        return load_audio(utt.audio, sample_rate=self.sample_rate)[: self.num_samples].clone()

    def __getitem__(self, utt: Utterance) -> torch.Tensor:
        if self.stream:
            return self.fix_length(self._load(utt))
        wav = self._store.get(utt.id)
        if wav is None:
            wav = self._store[utt.id] = self._load(utt)
        return self.fix_length(wav)


class LabelledAudioDataset(Dataset):
    """(waveform, class id) pairs for a list of utterances."""

    def __init__(
        self,
        utterances: Sequence[Utterance],
        label_key: str,
        encoder: LabelEncoder,
        cache: WaveformCache,
    ):
        self.utterances = list(utterances)
        self.targets = torch.tensor(
            [encoder.encode(u.label(label_key)) for u in self.utterances], dtype=torch.long
        )
        self.cache = cache

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cache[self.utterances[i]], self.targets[i]


class UnlearningDataModule(StagedDataModule):
    """Serves the sets of a :class:`ForgetSplit`.

    ``train_dataloader`` depends on ``stage``: "original" (forget + retain), "gold"
    (retain only), or "unlearn", which yields ``{"forget": batch, "retain": batch}`` via
    Lightning's ``CombinedLoader`` (``mode`` as the method asks: "max_size_cycle" goes over
    the longer set and cycles the shorter one).

    Args:
        utterances: the corpus manifest.
        split: the forget split.
        label_key: which utterance label is the class (e.g. "intent").
        batch_size: batch size for every loader.
        max_seconds: pad/truncate audio to this length.
        seed: shuffling seed.
        cache: a shared :class:`WaveformCache` (audio loaded once for several modules).
        extra_sets: further named evaluation sets (utterance ids), e.g. "forget_test".
        progress: show a progress bar while loading audio.
        num_workers: DataLoader worker processes (0 = the main process; with a streaming
            ``cache`` the workers decode the audio).
        encoder: the label space to use (default: the labels of forget + retain); a later
            forget request keeps the original model's classes, including those whose
            training data an earlier request removed.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        split: ForgetSplit,
        *,
        label_key: str = "intent",
        batch_size: int = 32,
        max_seconds: float = 3.6,
        seed: int = 0,
        cache: WaveformCache | None = None,
        extra_sets: Mapping[str, Sequence[str]] | None = None,
        progress: bool = True,
        encoder: LabelEncoder | None = None,
        num_workers: int = 0,
    ):
        super().__init__()
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.num_workers = num_workers
        self.split = split
        self.label_key = label_key
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress
        self.sets: dict[str, list[Utterance]] = split.utterance_sets(utterances, extra_sets)
        train_labels = [u.label(label_key) for u in self.sets["forget"] + self.sets["retain"]]
        self.encoder = encoder or LabelEncoder(train_labels)
        self.cache = cache or WaveformCache(max_seconds)

    @property
    def num_classes(self) -> int:
        return len(self.encoder)

    def setup(self, stage: str | None = None) -> None:
        self.cache.preload([u for s in self.sets.values() for u in s], progress=self.progress)

    def dataset(self, name: str) -> LabelledAudioDataset:
        utts = self.sets["forget"] + self.sets["retain"] if name == "train" else self.sets[name]
        return LabelledAudioDataset(utts, self.label_key, self.encoder, self.cache)

    def loader(self, name: str, *, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        dataset = self.dataset(name)
        return DataLoader(
            dataset,
            batch_size=self.batch_size if batch_size is None else batch_size,
            shuffle=shuffle,
            generator=generator if shuffle else None,
            num_workers=self.num_workers,
            # a training batch of one breaks BatchNorm layers: drop such a remainder
            drop_last=shuffle and len(dataset) % self.batch_size == 1,
        )
