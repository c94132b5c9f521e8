"""Speech-recognition data: (waveform, transcript) datasets, padding collate, a DataModule.

A batch is the tuple ``(wavs, wav_lengths, targets, target_lengths)``:

- ``wavs``: ``(batch, max_samples)`` float32, zero-padded on the right;
- ``wav_lengths``: ``(batch,)`` valid samples per row;
- ``targets``: ``(batch, max_tokens)`` long token ids (padded with 0; positions past a
  row's length are ignored);
- ``target_lengths``: ``(batch,)`` transcript lengths.

Tokenisation is injected (``encode: str -> list[int]``), so this module does not import the
model: the recogniser's ``vocab.encode`` (:class:`audio_unlearn.models.asr.CharVocabulary`
for the library's model; the checkpoint's own tokenizer for the transformers wrappers of
:mod:`audio_unlearn.models.asr_hf`).

Speech cropping: the synthetic corpus writes every utterance as a fixed 3.6 s window; with
``crop="speech"`` a waveform is cut ``margin_s`` after the end of its phone alignment
(utterances without an alignment are kept whole), which about halves the training cost.
With ``random_tail`` the *training* loaders put back a random part of the cut-off tail
(uniform between none and all of it, drawn per item from torch's seeded generator), so a
model trained on cropped audio still transcribes the full files (trailing noise included).
:func:`speech_duration` gives the spoken duration used for duration-matched attacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .audio import TARGET_SAMPLE_RATE, load_audio
from .manifest import Utterance
from .splits import ForgetSplit
from .staged import StagedDataModule

__all__ = [
    "ASRDataModule",
    "ASRDataset",
    "WaveformStore",
    "collate_asr",
    "speech_duration",
]

_CROPS = ("none", "speech")


def speech_duration(utt: Utterance) -> float:
    """Seconds of speech: the phone alignment's span when there is one, else ``duration``."""
    if utt.alignment:
        return max(0.0, utt.alignment[-1].end - utt.alignment[0].start)
    return float(utt.duration)


class WaveformStore:
    """Loads each utterance's audio once (validated, mono, ``sample_rate``), optionally cropped.

    Args:
        sample_rate: output rate, Hz.
        crop: ``"none"`` or ``"speech"`` (cut ``margin_s`` after the alignment's end).
        margin_s: seconds kept after the last phone with ``crop="speech"``.
        stream: keep nothing in memory: :meth:`preload` only checks every file's header
            (a missing or broken file is named before any training) and each access
            decodes the file (in the DataLoader's worker processes when it has them), so
            memory does not grow with the corpus.
    """

    def __init__(
        self,
        *,
        sample_rate: int = TARGET_SAMPLE_RATE,
        crop: str = "none",
        margin_s: float = 0.3,
        stream: bool = False,
    ):
        if crop not in _CROPS:
            raise ValueError(f"crop must be one of {_CROPS}, got {crop!r}")
        if margin_s < 0:
            raise ValueError(f"margin_s must be >= 0, got {margin_s}")
        self.sample_rate = sample_rate
        self.crop = crop
        self.margin_s = float(margin_s)
        self.stream = stream
        self._store: dict[str, torch.Tensor] = {}

    def seconds(self, utt: Utterance) -> float:
        """Seconds an utterance is served with (after the speech crop, before any random
        tail): what a duration-bucketed batch sampler plans with."""
        if self.crop == "speech" and utt.alignment:
            return min(float(utt.duration), utt.alignment[-1].end + self.margin_s)
        return float(utt.duration)

    def _crop_end(self, utt: Utterance, n: int) -> int:
        if self.crop == "speech" and utt.alignment:
            end = round((utt.alignment[-1].end + self.margin_s) * self.sample_rate)
            return min(max(end, 1), n)
        return n

    def preload(self, utterances: Sequence[Utterance], progress: bool = True) -> None:
        if self.stream:  # headers only: a missing or broken file is named now
            from .corpora._base import audio_info

            for u in utterances:
                audio_info(u.audio)
            return
        todo = [u for u in utterances if u.id not in self._store]
        for u in tqdm(todo, desc="loading audio", disable=not progress or not todo, unit="utt"):
            self._store[u.id] = load_audio(u.audio, sample_rate=self.sample_rate)

    def full(self, utt: Utterance) -> torch.Tensor:
        """The whole waveform, uncropped."""
        if self.stream:
            return load_audio(utt.audio, sample_rate=self.sample_rate)
        wav = self._store.get(utt.id)
        if wav is None:
            wav = self._store[utt.id] = load_audio(utt.audio, sample_rate=self.sample_rate)
        return wav

    def __getitem__(self, utt: Utterance) -> torch.Tensor:
        wav = self.full(utt)
        return wav[: self._crop_end(utt, wav.numel())]

    def with_random_tail(self, utt: Utterance) -> torch.Tensor:
        """The cropped waveform plus a uniformly random part of the cut-off tail."""
        wav = self.full(utt)
        end = self._crop_end(utt, wav.numel())
        extra = int(torch.randint(0, wav.numel() - end + 1, ()))
        return wav[: end + extra]


class ASRDataset(Dataset):
    """``(waveform, token ids)`` items for utterances with transcripts.

    Args:
        utterances: records with a non-empty ``text``.
        encode: transcript -> token ids (e.g. ``CharVocabulary.encode``).
        store: where waveforms come from (shared between datasets).
        random_tail: return :meth:`WaveformStore.with_random_tail` (training only).

    Raises:
        ValueError: an utterance has no transcript, or one that encodes to nothing.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        encode: Callable[[str], list[int]],
        store: WaveformStore,
        *,
        random_tail: bool = False,
    ):
        self.utterances = list(utterances)
        self.store = store
        self.random_tail = random_tail
        self.targets = []
        for u in self.utterances:
            ids = encode(u.text) if u.text else []
            if not ids:
                raise ValueError(
                    f"utterance {u.id!r} has no usable transcript (text {u.text!r}); ASR "
                    "training and scoring need the manifest's 'text' field: fill it in or "
                    "drop the utterance"
                )
            self.targets.append(torch.tensor(ids, dtype=torch.long))

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        utt = self.utterances[i]
        wav = self.store.with_random_tail(utt) if self.random_tail else self.store[utt]
        return wav, self.targets[i]


def collate_asr(
    items: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ``(waveform, token ids)`` items into ``(wavs, wav_lengths, targets, target_lengths)``."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    wav_lengths = torch.tensor([w.numel() for w, _ in items], dtype=torch.long)
    target_lengths = torch.tensor([t.numel() for _, t in items], dtype=torch.long)
    wavs = torch.zeros(len(items), int(wav_lengths.max()))
    targets = torch.zeros(len(items), int(target_lengths.max()), dtype=torch.long)
    for row, (w, t) in enumerate(items):
        wavs[row, : w.numel()] = w
        targets[row, : t.numel()] = t
    return wavs, wav_lengths, targets, target_lengths


class ASRDataModule(StagedDataModule):
    """Serves the sets of a :class:`ForgetSplit` as ASR batches.

    The same stages as :class:`audio_unlearn.data.datamodule.UnlearningDataModule`:
    ``"original"`` (forget + retain), ``"gold"`` (retain only) and ``"unlearn"`` (a
    ``CombinedLoader`` of the sets the method names in ``unlearn_sets``); unlearning
    methods read ``loader(name, shuffle=...)`` / ``eval_dataloader(name)`` as there.

    Args:
        utterances: the corpus manifest (with transcripts).
        split: the forget split.
        encode: transcript -> token ids.
        batch_size: batch size of every loader.
        seed: shuffling seed.
        store: a shared :class:`WaveformStore` (default: a new one, no cropping).
        extra_sets: further named sets of utterance ids.
        progress: progress bar while loading audio.
        random_tail: training loaders (``shuffle=True``) add a random part of the
            cropped-off tail to each item (see the module docstring).
        bucket_seconds: training loaders batch by duration: batches of similar-length
            utterances within this many padded seconds
            (:class:`~audio_unlearn.data.sampling.DurationBucketBatchSampler`, which also
            shards them under DDP); None = ``batch_size`` utterances in a shuffled order.
        num_workers: DataLoader worker processes (0 = the main process; with a streaming
            ``store`` the workers decode the audio).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        split: ForgetSplit,
        encode: Callable[[str], list[int]],
        *,
        batch_size: int = 32,
        seed: int = 0,
        store: WaveformStore | None = None,
        extra_sets: Mapping[str, Sequence[str]] | None = None,
        progress: bool = True,
        random_tail: bool = False,
        bucket_seconds: float | None = None,
        num_workers: int = 0,
    ):
        super().__init__()
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.num_workers = num_workers
        if bucket_seconds is not None and not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be > 0 seconds or None, got {bucket_seconds}")
        self.bucket_seconds = bucket_seconds
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split = split
        self.encode = encode
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress
        self.random_tail = random_tail
        self.store = store or WaveformStore()
        self.sets: dict[str, list[Utterance]] = split.utterance_sets(utterances, extra_sets)
        self._datasets: dict[tuple[str, bool], ASRDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        self.store.preload([u for s in self.sets.values() for u in s], progress=self.progress)

    def dataset(self, name: str, *, training: bool = False) -> ASRDataset:
        key = (name, training and self.random_tail)
        if key not in self._datasets:
            if name == "train":
                utts = self.sets["forget"] + self.sets["retain"]
            elif name in self.sets:
                utts = self.sets[name]
            else:
                raise ValueError(f"unknown set {name!r}; known: {['train', *self.sets]}")
            self._datasets[key] = ASRDataset(utts, self.encode, self.store, random_tail=key[1])
        return self._datasets[key]

    def loader(self, name: str, *, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        dataset = self.dataset(name, training=shuffle)
        if shuffle and self.bucket_seconds is not None:
            from .sampling import DurationBucketBatchSampler

            seconds = [self.store.seconds(u) for u in dataset.utterances]
            sampler = DurationBucketBatchSampler(seconds, self.bucket_seconds, seed=self.seed)
            return DataLoader(
                dataset, batch_sampler=sampler, collate_fn=collate_asr, num_workers=self.num_workers
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size if batch_size is None else batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            collate_fn=collate_asr,
            num_workers=self.num_workers,
        )
