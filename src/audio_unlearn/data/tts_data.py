"""TTS data: log-mels with frame-aligned phone ids, padding collate, a DataModule.

A batch is the tuple ``(mels, phones, lengths, index)``:

- ``mels``: ``(batch, max_frames, n_mels)`` natural-log mel, zero-padded;
- ``phones``: ``(batch, max_frames)`` frame-aligned phone ids (0 = padding);
- ``lengths``: ``(batch,)`` valid frames;
- ``index``: ``(batch,)`` position of each item in its set (TGU keys its cache of
  teacher targets by it).

Every utterance is cropped ``margin_s`` after its last phone (the synthetic corpus writes
3.6 s windows, most of it silence after the speech). Mels are computed once per set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..models.tts.mel import MelConfig, MelFrontEnd
from ..models.tts.phones import PhoneVocabulary, frame_phone_ids
from .audio import load_audio
from .manifest import Utterance
from .splits import ForgetSplit
from .staged import StagedDataModule

__all__ = ["TTSDataModule", "TTSDataset", "collate_tts", "utterance_features"]


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


class TTSDataset(Dataset):
    """Items ``(mel, phones, index)`` for a list of utterances (features computed once)."""

    def __init__(
        self,
        utterances: Sequence[Utterance],
        vocab: PhoneVocabulary,
        front_end: MelFrontEnd,
        *,
        margin_s: float = 0.15,
        progress: bool = False,
        desc: str = "mel features",
    ):
        self.utterances = list(utterances)
        self.items = [
            utterance_features(u, vocab, front_end, margin_s=margin_s)
            for u in tqdm(self.utterances, desc=desc, disable=not progress, unit="utt")
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        mel, ids = self.items[i]
        return mel, ids, i


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
    ):
        super().__init__()
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
            )
        return self._datasets[name]

    def loader(self, name: str, *, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        return DataLoader(
            self.dataset(name),
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            collate_fn=collate_tts,
            num_workers=0,
        )

    def unlearn_batch_size(self, name: str) -> int | None:
        return self.forget_batch_size if name == "forget" else None
