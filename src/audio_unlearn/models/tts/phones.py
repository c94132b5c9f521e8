"""Phone vocabularies, frame-aligned phone ids and a duration source for new text.

VoiceBox conditions its flow on a *frame-aligned* phone sequence: every mel frame
carries the id of the phone spoken during it (from a forced aligner; here the exact
espeak-ng alignment of the synthetic corpus or an MFA TextGrid for real corpora).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import torch

from ...data.manifest import PhoneSpan, Utterance

__all__ = ["DurationTable", "PhoneVocabulary", "frame_phone_ids", "phones_from_durations"]

PAD = "<pad>"
SILENCE = "<sil>"
UNKNOWN = "<unk>"


class PhoneVocabulary:
    """Phone symbol <-> id. Id 0 is padding (also the "no text" id of guidance), 1 is
    silence (frames outside every phone), 2 is an unknown phone.

    Args:
        phones: the phone symbols, in id order after the three reserved ones.
    """

    def __init__(self, phones: Sequence[str]):
        reserved = (PAD, SILENCE, UNKNOWN)
        seen = [p for p in dict.fromkeys(phones) if p not in reserved]
        self.symbols: tuple[str, ...] = (*reserved, *seen)
        self._ids = {p: i for i, p in enumerate(self.symbols)}

    @classmethod
    def from_utterances(cls, utterances: Iterable[Utterance]) -> PhoneVocabulary:
        """All phones of the utterances' alignments, sorted (so the ids are reproducible)."""
        found = {s.phone for u in utterances for s in (u.alignment or ())}
        if not found:
            raise ValueError(
                "no phone alignments in these utterances: the TTS model needs frame-aligned "
                "phones (the synthetic corpus writes them; for real corpora load forced-"
                "aligner TextGrids, see audio_unlearn.data.corpora.libritts)"
            )
        return cls(sorted(found))

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhoneVocabulary) and self.symbols == other.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def id(self, phone: str) -> int:
        return self._ids.get(phone, 2)

    @property
    def silence_id(self) -> int:
        return 1


def frame_phone_ids(
    alignment: Sequence[PhoneSpan] | None,
    n_frames: int,
    frame_rate: float,
    vocab: PhoneVocabulary,
    *,
    utterance_id: str = "?",
) -> torch.Tensor:
    """Phone id per frame ``(n_frames,)``: frame ``f`` (centre ``f / frame_rate`` s) gets
    the phone whose span holds that time, silence elsewhere.

    Raises:
        ValueError: no alignment (names the utterance and the fix).
    """
    if not alignment:
        raise ValueError(
            f"utterance {utterance_id!r} has no phone alignment; the TTS model needs one "
            "(run a forced aligner and load its TextGrid, or drop the utterance)"
        )
    ids = torch.full((n_frames,), vocab.silence_id, dtype=torch.long)
    for span in alignment:
        a = max(0, round(span.start * frame_rate))
        b = min(n_frames, round(span.end * frame_rate))
        if b > a:
            ids[a:b] = vocab.id(span.phone)
    return ids


def phones_from_durations(ids: Sequence[int], frames: Sequence[int]) -> torch.Tensor:
    """Expand phone ids by their frame durations into a frame-aligned sequence."""
    if len(ids) != len(frames):
        raise ValueError(f"{len(ids)} phones but {len(frames)} durations")
    out = [
        torch.full((max(int(n), 0),), int(i), dtype=torch.long)
        for i, n in zip(ids, frames, strict=True)
    ]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


class DurationTable:
    """A simple duration source for new text: each phone's median duration in training.

    The stated limitation: durations do not depend on context, speaker or speaking rate
    (a duration *predictor* network as in VoiceBox would model those). Evaluation in the
    recipes uses the target utterance's aligner durations instead, as VoiceBox's
    "ground-truth duration" setting does, so cloning scores do not depend on this table.

    Args:
        medians: phone symbol -> median duration in seconds.
        default_s: duration of a phone never seen in training.
    """

    def __init__(self, medians: dict[str, float], default_s: float = 0.08):
        self.medians = dict(medians)
        self.default_s = float(default_s)

    @classmethod
    def from_utterances(cls, utterances: Iterable[Utterance]) -> DurationTable:
        durations: dict[str, list[float]] = defaultdict(list)
        for u in utterances:
            for s in u.alignment or ():
                durations[s.phone].append(s.end - s.start)
        if not durations:
            raise ValueError("no phone alignments to estimate durations from")
        medians = {p: float(torch.tensor(d).median()) for p, d in durations.items()}
        return cls(medians, default_s=float(torch.tensor(list(medians.values())).median()))

    def frames(self, phones: Sequence[str], frame_rate: float) -> list[int]:
        """Frames per phone (at least one each)."""
        return [max(1, round(self.medians.get(p, self.default_s) * frame_rate)) for p in phones]

    def to_json(self) -> dict:
        return {"medians": self.medians, "default_s": self.default_s}

    @classmethod
    def from_json(cls, record: dict) -> DurationTable:
        return cls(record["medians"], record.get("default_s", 0.08))
