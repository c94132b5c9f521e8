"""The library's own CTC recogniser as a :class:`Transcriber` (the offline WER judge).

``get_transcriber("library:<checkpoint>")`` returns a :class:`LibraryCTCTranscriber` for a
checkpoint written by :func:`audio_unlearn.models.asr.save_asr` (the ``asr-speaker``
recipe writes one as ``checkpoints/original.pt``). Greedy CTC decoding, batches of similar
length (exact: the model masks padding, see :mod:`audio_unlearn.models.asr`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from audio_unlearn.evaluation.asr import Transcriber, _as_waveforms
from audio_unlearn.evaluation.batching import length_batches
from audio_unlearn.models.asr import CTCRecognizer, load_asr

__all__ = ["LibraryCTCTranscriber"]


class LibraryCTCTranscriber(Transcriber):
    """The :class:`~audio_unlearn.evaluation.asr.Transcriber` of a :func:`save_asr` checkpoint.

    Loads lazily (first :meth:`transcribe` or :meth:`load`); batches utterances sorted by
    length under a padded-samples budget; greedy CTC decoding.

    Args:
        checkpoint: path of the checkpoint file.
        device: torch device.
        max_batch_samples: padded samples per batch.
        progress: unused (kept for interface symmetry with the transformers backends).

    Raises:
        FileNotFoundError: the checkpoint does not exist (checked at construction).
    """

    backend = "library"

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        max_batch_samples: int = 16000 * 60,
        progress: bool = False,
    ) -> None:
        if not checkpoint or not str(checkpoint).strip():
            raise ValueError("library ASR spec needs a checkpoint path: 'library:<path/to/asr.pt>'")
        self.path = Path(checkpoint).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(
                f"library ASR checkpoint {self.path} not found; train it with `audio-unlearn "
                "asr-speaker recipes/asr_speaker/synthetic.yaml --out runs/asr` "
                "(it writes checkpoints/original.pt)"
            )
        if isinstance(max_batch_samples, bool) or int(max_batch_samples) < 1:
            raise ValueError(f"max_batch_samples must be >= 1, got {max_batch_samples!r}")
        self.device = torch.device(device)
        self.max_batch_samples = int(max_batch_samples)
        self.progress = progress
        self.model: CTCRecognizer | None = None
        self.meta: dict = {}

    def load(self) -> LibraryCTCTranscriber:
        if self.model is None:
            ckpt = load_asr(self.path)
            self.model = ckpt.model.to(self.device).eval()
            self.meta = ckpt.meta
        return self

    @property
    def sample_rate(self) -> int:
        self.load()
        return self.model.config.sample_rate

    def transcribe(self, wavs: Sequence[torch.Tensor], sample_rate: int = 16000) -> list[str]:
        """Greedy transcripts (lower-case characters of the model's vocabulary)."""
        self.load()
        waves = _as_waveforms(wavs, sample_rate, self.sample_rate)
        n_fft = self.model.config.n_fft
        waves = [F.pad(w, (0, n_fft - w.numel())) if w.numel() < n_fft else w for w in waves]
        lengths = [w.numel() for w in waves]
        out: list[str] = [""] * len(waves)
        with torch.inference_mode():
            for batch in length_batches(lengths, max_batch_samples=self.max_batch_samples):
                longest = max(lengths[i] for i in batch)
                x = torch.zeros(len(batch), longest)
                for row, i in enumerate(batch):
                    x[row, : lengths[i]] = waves[i]
                lens = torch.tensor([lengths[i] for i in batch])
                texts = self.model.transcribe_batch(x.to(self.device), lens.to(self.device))
                for i, text in zip(batch, texts, strict=True):
                    out[i] = text
        return out

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "model": str(self.path),
            "source": "local",
            "decoding": "greedy",
            "max_batch_samples": self.max_batch_samples,
            "device": str(self.device),
        }
        if self.model is not None:
            info["model_class"] = type(self.model).__name__
            info["sample_rate"] = self.sample_rate
            info["vocabulary"] = "".join(self.model.config.characters)
        return info
