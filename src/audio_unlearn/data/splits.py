"""Forget/retain/test splits: speaker-, class- and item-level.

The speaker-level protocol follows UnSLU-BENCH (Koudounas et al., "Alexa, can you forget
me? Machine Unlearning Benchmark in Spoken Language Understanding", Interspeech 2025):
speakers with at least ``min_utterances`` training utterances are eligible; they are drawn
at random *without replacement* (the reference code draws with replacement, so its
forget fraction can fall short) and their utterances are added until the forget set
reaches ``fraction`` of the training set. Forget speakers are removed from validation
and test. The split is saved as a JSON file and every later run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .manifest import Utterance, atomic_write_text

__all__ = [
    "CorpusSplit",
    "ForgetSplit",
    "class_forget_split",
    "ids_digest",
    "item_forget_split",
    "speaker_disjoint_split",
    "speaker_forget_split",
    "utterance_holdout_split",
]


def ids_digest(ids: Iterable[str]) -> str:
    """A short, order-independent digest of a set of utterance ids."""
    h = hashlib.sha256()
    for i in sorted(ids):
        h.update(i.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class CorpusSplit:
    """Speaker-disjoint train/valid/test partition of a corpus (lists of utterance ids)."""

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]

    def keep(self, ids: Iterable[str]) -> CorpusSplit:
        """The same partition restricted to ``ids`` (utterances a run left out dropped)."""
        ids = set(ids)
        return CorpusSplit(
            *(
                tuple(i for i in getattr(self, name) if i in ids)
                for name in ("train", "valid", "test")
            )
        )


def speaker_disjoint_split(
    utterances: Sequence[Utterance], *, n_test_speakers: int, n_valid_speakers: int = 0, seed: int
) -> CorpusSplit:
    """Split a corpus by speaker so test (and valid) speakers never appear in train.

    Raises:
        ValueError: not enough speakers for the requested split.
    """
    speakers = sorted({u.speaker for u in utterances})
    if n_test_speakers + n_valid_speakers >= len(speakers):
        raise ValueError(
            f"corpus has {len(speakers)} speakers; cannot hold out {n_test_speakers} test and "
            f"{n_valid_speakers} validation speakers and keep any for training"
        )
    rng = random.Random(seed)
    order = speakers[:]
    rng.shuffle(order)
    test_spk = set(order[:n_test_speakers])
    valid_spk = set(order[n_test_speakers : n_test_speakers + n_valid_speakers])
    train, valid, test = [], [], []
    for u in utterances:
        (test if u.speaker in test_spk else valid if u.speaker in valid_spk else train).append(u.id)
    return CorpusSplit(tuple(train), tuple(valid), tuple(test))


def utterance_holdout_split(
    utterances: Sequence[Utterance],
    *,
    label_key: str,
    test_fraction: float,
    valid_fraction: float = 0.0,
    seed: int,
) -> CorpusSplit:
    """Closed-set split: hold out a fraction of each label's utterances for test/valid.

    For tasks whose classes must appear in every split (speaker identification, where the
    class *is* the speaker). Stratified: every label keeps at least one training utterance.
    """
    if not 0 < test_fraction < 1 or not 0 <= valid_fraction < 1 - test_fraction:
        raise ValueError(
            f"test_fraction={test_fraction}, valid_fraction={valid_fraction}: need "
            "0 < test_fraction and test_fraction + valid_fraction < 1"
        )
    groups: dict[str, list[str]] = defaultdict(list)
    for u in utterances:
        groups[u.label(label_key)].append(u.id)
    rng = random.Random(seed)
    test, valid = set(), set()
    for label in sorted(groups):
        ids = sorted(groups[label])
        rng.shuffle(ids)
        n_test = round(test_fraction * len(ids))
        n_valid = round(valid_fraction * len(ids))
        if n_test + n_valid >= len(ids):
            raise ValueError(
                f"label {label!r} has {len(ids)} utterance(s): too few to hold out "
                f"{test_fraction:.0%} for test and keep any for training"
            )
        test.update(ids[:n_test])
        valid.update(ids[n_test : n_test + n_valid])
    order = [u.id for u in utterances]
    return CorpusSplit(
        train=tuple(i for i in order if i not in test and i not in valid),
        valid=tuple(i for i in order if i in valid),
        test=tuple(i for i in order if i in test),
    )


@dataclass(frozen=True)
class ForgetSplit:
    """Which training utterances to forget, which to retain, and the evaluation sets.

    Attributes:
        kind: "speaker", "class" or "item".
        forget: utterance ids of the forget set (a subset of train).
        retain: the rest of train.
        valid: validation ids (forget speakers removed for speaker splits).
        test: test ids (forget speakers removed for speaker splits).
        forget_speakers: speakers forgotten (speaker splits), in draw order.
        forget_classes: labels forgotten (class splits).
        params: the protocol settings that produced the split (seed, fraction, ...).
    """

    kind: str
    forget: tuple[str, ...]
    retain: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    forget_speakers: tuple[str, ...] = ()
    forget_classes: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.forget:
            raise ValueError(
                f"empty forget set for a {self.kind} split ({self.params}); "
                "choose other speakers/classes or a larger fraction"
            )
        if not self.retain:
            raise ValueError(
                f"the {self.kind} split would leave no retain data ({self.params}); "
                "forget fewer speakers/classes"
            )
        overlap = set(self.forget) & set(self.retain)
        if overlap:
            raise ValueError(f"forget and retain share utterances: {sorted(overlap)[:5]}")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the split as JSON (atomically)."""
        record = asdict(self)
        record["digest"] = {k: ids_digest(getattr(self, k)) for k in ("forget", "retain", "test")}
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ForgetSplit:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"split file {path} not found; create it with `audio-unlearn split`"
            )
        record = json.loads(path.read_text())
        record.pop("digest", None)
        for key in ("forget", "retain", "valid", "test", "forget_speakers", "forget_classes"):
            record[key] = tuple(record.get(key, ()))
        return cls(**record)

    def check_against(self, utterances: Sequence[Utterance], source: str = "manifest") -> None:
        """Raise ValueError if the split names ids the manifest does not have."""
        known = {u.id for u in utterances}
        for name in ("forget", "retain", "valid", "test"):
            missing = [i for i in getattr(self, name) if i not in known]
            if missing:
                raise ValueError(
                    f"split's {name} set names {len(missing)} utterance(s) not in {source} "
                    f"(e.g. {missing[:3]}); the split was made for another manifest: "
                    "re-create it with `audio-unlearn split`"
                )

    def utterance_sets(
        self,
        utterances: Sequence[Utterance],
        extra_sets: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, list[Utterance]]:
        """The split's sets as utterances: ``forget``, ``retain``, ``valid``, ``test``
        and any ``extra_sets`` (name -> ids).

        Raises:
            ValueError: the split or an extra set names ids ``utterances`` lacks.
        """
        self.check_against(utterances)
        by_id = {u.id: u for u in utterances}
        sets = {
            name: [by_id[i] for i in getattr(self, name)]
            for name in ("forget", "retain", "valid", "test")
        }
        for name, ids in (extra_sets or {}).items():
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise ValueError(f"extra set {name!r} names unknown utterances {missing[:3]}")
            sets[name] = [by_id[i] for i in ids]
        return sets


def _without_speakers(ids: Sequence[str], by_id: dict[str, Utterance], speakers: set[str]):
    return tuple(i for i in ids if by_id[i].speaker not in speakers)


def speaker_forget_split(
    utterances: Sequence[Utterance],
    corpus: CorpusSplit,
    *,
    fraction: float | None = 0.025,
    n_speakers: int | None = None,
    speakers: Sequence[str] | None = None,
    min_utterances: int = 101,
    seed: int = 42,
) -> ForgetSplit:
    """UnSLU-BENCH speaker-level forget split.

    Exactly one of ``fraction`` (UnSLU-BENCH: 0.025), ``n_speakers`` or an explicit
    ``speakers`` list selects the forget speakers.

    Args:
        utterances: the whole corpus.
        corpus: its train/valid/test partition.
        fraction: add randomly drawn eligible speakers until the forget set holds at least
            this fraction of the training utterances.
        n_speakers: draw exactly this many eligible speakers instead.
        speakers: forget exactly these speakers (a privacy request).
        min_utterances: a speaker is eligible with at least this many training utterances
            (UnSLU-BENCH: more than 100).
        seed: draw seed (UnSLU-BENCH: 42; 0 for SLURP*).

    Raises:
        ValueError: unknown speaker, no eligible speakers, or an empty retain set.
    """
    by_id = {u.id: u for u in utterances}
    counts = Counter(by_id[i].speaker for i in corpus.train)
    n_train = len(corpus.train)
    chosen = [
        fraction is not None and speakers is None and n_speakers is None,
        n_speakers is not None,
        speakers is not None,
    ]
    if sum(chosen) != 1:
        raise ValueError("give exactly one of fraction, n_speakers or speakers")
    if speakers is not None:
        unknown = [s for s in speakers if s not in counts]
        if unknown:
            raise ValueError(
                f"speaker(s) {unknown} have no training utterances; known training speakers: "
                f"{sorted(counts)[:20]}{' ...' if len(counts) > 20 else ''}"
            )
        drawn = list(dict.fromkeys(speakers))
    else:
        eligible = sorted(s for s, c in counts.items() if c >= min_utterances)
        if not eligible:
            raise ValueError(
                f"no speaker has >= {min_utterances} training utterances (max "
                f"{max(counts.values(), default=0)}); lower min_utterances"
            )
        rng = random.Random(seed)
        order = eligible[:]
        rng.shuffle(order)  # a permutation: drawing without replacement
        drawn = []
        if n_speakers is not None:
            if not 0 < n_speakers <= len(order):
                raise ValueError(f"n_speakers={n_speakers} but {len(order)} speakers are eligible")
            drawn = order[:n_speakers]
        else:
            if not 0 < fraction < 1:
                raise ValueError(f"fraction must be in (0, 1), got {fraction}")
            total = 0
            for spk in order:
                if total >= fraction * n_train:
                    break
                drawn.append(spk)
                total += counts[spk]
            if total < fraction * n_train:
                raise ValueError(
                    f"all {len(order)} eligible speakers hold {total} utterances, "
                    f"short of {fraction:.1%} of {n_train}"
                )
    forget_spk = set(drawn)
    forget = tuple(i for i in corpus.train if by_id[i].speaker in forget_spk)
    retain = tuple(i for i in corpus.train if by_id[i].speaker not in forget_spk)
    return ForgetSplit(
        kind="speaker",
        forget=forget,
        retain=retain,
        valid=_without_speakers(corpus.valid, by_id, forget_spk),
        test=_without_speakers(corpus.test, by_id, forget_spk),
        forget_speakers=tuple(drawn),
        params={
            "fraction": fraction if speakers is None and n_speakers is None else None,
            "n_speakers": n_speakers,
            "explicit_speakers": speakers is not None,
            "min_utterances": min_utterances,
            "seed": seed,
            "achieved_fraction": round(len(forget) / n_train, 6),
        },
    )


def class_forget_split(
    utterances: Sequence[Utterance], corpus: CorpusSplit, *, classes: Sequence[str], label_key: str
) -> ForgetSplit:
    """Class removal: forget every training utterance whose ``label_key`` is in ``classes``.

    Validation and test keep only the remaining classes; the forgotten classes' test
    utterances are what a class-removal evaluation scores as "forget" accuracy, so they
    are returned in ``params["forget_test"]``.
    """
    by_id = {u.id: u for u in utterances}
    present = {by_id[i].label(label_key) for i in corpus.train}
    unknown = [c for c in classes if c not in present]
    if unknown:
        raise ValueError(f"class(es) {unknown} not in the training labels {sorted(present)[:20]}")
    drop = set(classes)
    keep = lambda ids: tuple(i for i in ids if by_id[i].label(label_key) not in drop)  # noqa: E731
    forget = tuple(i for i in corpus.train if by_id[i].label(label_key) in drop)
    return ForgetSplit(
        kind="class",
        forget=forget,
        retain=keep(corpus.train),
        valid=keep(corpus.valid),
        test=keep(corpus.test),
        forget_classes=tuple(classes),
        params={
            "label_key": label_key,
            "forget_test": [i for i in corpus.test if by_id[i].label(label_key) in drop],
        },
    )


def item_forget_split(
    utterances: Sequence[Utterance], corpus: CorpusSplit, *, fraction: float, seed: int
) -> ForgetSplit:
    """Item removal: forget a random ``fraction`` of the training utterances."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = random.Random(seed)
    n = max(1, round(fraction * len(corpus.train)))
    chosen = set(rng.sample(list(corpus.train), n))
    return ForgetSplit(
        kind="item",
        forget=tuple(i for i in corpus.train if i in chosen),
        retain=tuple(i for i in corpus.train if i not in chosen),
        valid=tuple(corpus.valid),
        test=tuple(corpus.test),
        params={"fraction": fraction, "seed": seed},
    )


def utterances_by_speaker(utterances: Iterable[Utterance]) -> dict[str, list[Utterance]]:
    groups: dict[str, list[Utterance]] = defaultdict(list)
    for u in utterances:
        groups[u.speaker].append(u)
    return dict(groups)
