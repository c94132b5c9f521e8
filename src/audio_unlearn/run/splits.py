"""The one split maker of every task's run: held-out speakers (or utterances, or the
corpus's official lists), then the forget set (speakers, classes or items).

Every runner's ``split:`` section is a :class:`SplitConfig` (a task changes defaults
only), and :func:`make_split` turns it into a :class:`~audio_unlearn.data.splits.ForgetSplit`
with the functions of :mod:`audio_unlearn.data.splits`. The official hold-out
(``holdout: official``, the lists a ``corpus.prepare`` step writes) serves every task.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from ..data import splits as S
from ..data.splits import CorpusSplit, ForgetSplit

__all__ = ["HOLDOUTS", "KINDS", "SplitConfig", "make_split"]

HOLDOUTS = ("speaker", "utterance", "official")
KINDS = ("speaker", "class", "item")


@dataclass
class SplitConfig:
    """Which data the models never train on, and which they must forget.

    Hold-out (``holdout``): "speaker" keeps ``n_test_speakers`` speakers (and
    ``n_valid_speakers`` validation speakers) unseen; "utterance" holds out
    ``test_fraction`` of every class's utterances for test and ``valid_fraction`` for
    validation (closed-set tasks such as speaker identification, where the class is the
    speaker; the test draw does not depend on ``valid_fraction``); "official" uses the
    corpus's own
    train/valid/test lists (``corpus.prepare``; LibriSpeech: train-clean-100 / dev-clean /
    test-clean).

    Forget set (``kind``):
      - "speaker": the UnSLU-BENCH speaker protocol: ``speakers`` when given, else
        ``fraction`` of the training set, else ``n_speakers`` speakers, drawn among
        speakers with at least ``min_utterances`` training utterances.
      - "class": every training utterance of ``classes`` (or ``n_classes`` drawn at
        random) under the task's label key (classification only).
      - "item": a random ``fraction`` of the training utterances.

    Unseen speakers (``n_unseen_speakers``, "utterance" hold-out only): that many speakers
    drawn with ``seed`` are left out of every set before the hold-out, so a closed-set
    model never sees them; their utterances are the split's ``params["unseen"]`` (the
    level a forgotten speaker's verification should reach). With the "speaker" hold-out
    the test speakers already are unseen.
    """

    kind: str = "speaker"
    holdout: str = "speaker"
    n_test_speakers: int = 12
    n_valid_speakers: int = 0
    test_fraction: float = 0.2
    valid_fraction: float = 0.0
    fraction: float | None = None
    n_speakers: int | None = 6
    speakers: list[str] | None = None
    min_utterances: int = 50
    classes: list[str] | None = None
    n_classes: int | None = None
    seed: int = 42
    n_unseen_speakers: int = 0


def make_split(
    s: SplitConfig,
    utterances,
    official: CorpusSplit | None,
    *,
    label_key: str | None = None,
    speakers: list[str] | None = None,
    n_speakers: int | None = None,
) -> ForgetSplit:
    """The forget split ``s`` describes over ``utterances``.

    Args:
        s: the split settings.
        utterances: the corpus.
        official: the corpus's own train/valid/test lists (``holdout: official``).
        label_key: the class label of a classification task ("class" forgetting and the
            "utterance" hold-out need it).
        speakers, n_speakers: forget speakers chosen by the runner instead of ``s``
            (sequential requests: every request's speakers at once).

    Raises:
        ValueError: an unknown hold-out or kind, a missing official list, or settings
            the kind needs and lacks.
    """
    if s.holdout not in HOLDOUTS:
        raise ValueError(f"split.holdout must be one of {HOLDOUTS}, not {s.holdout!r}")
    if s.kind not in KINDS:
        raise ValueError(f"split.kind must be one of {KINDS}, not {s.kind!r}")
    if label_key is None and (s.kind == "class" or s.holdout == "utterance"):
        raise ValueError(
            f"split.kind {s.kind!r} / holdout {s.holdout!r} needs class labels: "
            "a classification task"
        )
    unseen: list[str] = []
    if s.n_unseen_speakers:
        if s.holdout != "utterance":
            raise ValueError(
                "split.n_unseen_speakers is for holdout: utterance; with holdout: speaker "
                "the test speakers are the unseen ones"
            )
        names = sorted({u.speaker for u in utterances})
        if not 0 < s.n_unseen_speakers <= len(names) - 2:
            raise ValueError(
                f"split.n_unseen_speakers={s.n_unseen_speakers} of {len(names)} speakers "
                "leaves fewer than two to train on"
            )
        unseen = sorted(random.Random(f"{s.seed}|unseen").sample(names, s.n_unseen_speakers))
        params = {"unseen": tuple(u.id for u in utterances if u.speaker in unseen)}
        params["unseen_speakers"] = unseen
        utterances = [u for u in utterances if u.speaker not in set(unseen)]
    split = _forget_split(s, utterances, official, label_key, speakers, n_speakers)
    if unseen:
        split = dataclasses.replace(split, params={**split.params, **params})
    return split


def _forget_split(s, utterances, official, label_key, speakers, n_speakers) -> ForgetSplit:
    if s.holdout == "speaker":
        corpus = S.speaker_disjoint_split(
            utterances,
            n_test_speakers=s.n_test_speakers,
            n_valid_speakers=s.n_valid_speakers,
            seed=s.seed,
        )
    elif s.holdout == "utterance":
        corpus = S.utterance_holdout_split(
            utterances,
            label_key=label_key,
            test_fraction=s.test_fraction,
            valid_fraction=s.valid_fraction,
            seed=s.seed,
        )
    else:
        if official is None:
            raise ValueError("split.holdout: official needs a corpus.prepare step")
        corpus = official
    if s.kind == "speaker":
        if speakers is None and n_speakers is None:
            # explicit speakers win over the default count; a fraction over both
            speakers = s.speakers
            n_speakers = None if (s.speakers or s.fraction is not None) else s.n_speakers
        return S.speaker_forget_split(
            utterances,
            corpus,
            fraction=s.fraction if speakers is None and n_speakers is None else None,
            n_speakers=n_speakers,
            speakers=speakers,
            min_utterances=s.min_utterances,
            seed=s.seed,
        )
    if s.kind == "class":
        classes = s.classes
        if classes is None:
            by_id = {u.id: u for u in utterances}
            labels = sorted({by_id[i].label(label_key) for i in corpus.train})
            if not s.n_classes:
                raise ValueError("a class split needs split.classes or split.n_classes")
            classes = random.Random(s.seed).sample(labels, s.n_classes)
        return S.class_forget_split(utterances, corpus, classes=classes, label_key=label_key)
    if s.fraction is None:
        raise ValueError("an item split needs split.fraction")
    return S.item_forget_split(utterances, corpus, fraction=s.fraction, seed=s.seed)
