import pytest

from audio_unlearn.data.manifest import Utterance, read_manifest
from audio_unlearn.data.splits import (
    ForgetSplit,
    class_forget_split,
    item_forget_split,
    speaker_disjoint_split,
    speaker_forget_split,
)


def _corpus(n_speakers=20, per_speaker=None):
    utts = []
    for s in range(n_speakers):
        n = per_speaker[s] if per_speaker else 10 + s
        for k in range(n):
            utts.append(
                Utterance(
                    f"s{s}_{k}",
                    f"/a/{s}_{k}.wav",
                    f"s{s}",
                    1.0,
                    16000,
                    labels={"intent": f"i{k % 3}"},
                )
            )
    return utts


def test_forget_speakers_never_leak_into_retain_valid_or_test():
    utts = _corpus()
    by_id = {u.id: u for u in utts}
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, n_valid_speakers=2, seed=1)
    split = speaker_forget_split(utts, corpus, fraction=0.2, min_utterances=12, seed=3)
    forgotten = set(split.forget_speakers)
    assert forgotten
    for name in ("retain", "valid", "test"):
        assert not {by_id[i].speaker for i in getattr(split, name)} & forgotten, name
    assert {by_id[i].speaker for i in split.forget} == forgotten
    assert set(split.forget) | set(split.retain) == set(corpus.train)


def test_fraction_is_reached_drawing_without_replacement():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    split = speaker_forget_split(utts, corpus, fraction=0.3, min_utterances=1, seed=0)
    assert len(set(split.forget_speakers)) == len(split.forget_speakers)
    assert len(split.forget) >= 0.3 * len(corpus.train)
    # minimal: without the last drawn speaker the fraction would not be reached
    last = split.forget_speakers[-1]
    n_last = sum(1 for u in utts if u.speaker == last and u.id in set(corpus.train))
    assert len(split.forget) - n_last < 0.3 * len(corpus.train)


def test_only_eligible_speakers_are_drawn():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    split = speaker_forget_split(utts, corpus, n_speakers=3, min_utterances=25, seed=0)
    counts = {s: sum(u.speaker == s for u in utts) for s in split.forget_speakers}
    assert all(c >= 25 for c in counts.values())


def test_same_seed_same_split_and_saved_file_roundtrips(tmp_path):
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    a = speaker_forget_split(utts, corpus, fraction=0.2, min_utterances=1, seed=7)
    b = speaker_forget_split(
        utts,
        speaker_disjoint_split(utts, n_test_speakers=4, seed=1),
        fraction=0.2,
        min_utterances=1,
        seed=7,
    )
    assert a == b
    a.save(tmp_path / "split.json")
    assert ForgetSplit.load(tmp_path / "split.json") == a
    c = speaker_forget_split(utts, corpus, fraction=0.2, min_utterances=1, seed=8)
    assert c.forget_speakers != a.forget_speakers


def test_split_on_the_dummy_corpus_is_stable_across_reads(dummy_manifest):
    runs = []
    for _ in range(2):
        utts = read_manifest(dummy_manifest)
        corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=42)
        runs.append(speaker_forget_split(utts, corpus, n_speakers=2, min_utterances=1, seed=42))
    assert runs[0] == runs[1]


def test_explicit_unknown_speaker_is_an_error():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    with pytest.raises(ValueError, match=r"speaker\(s\) \['nobody'\] have no training"):
        speaker_forget_split(utts, corpus, speakers=["nobody"], fraction=None)


def test_forgetting_every_training_speaker_is_an_error():
    utts = _corpus(4)
    corpus = speaker_disjoint_split(utts, n_test_speakers=1, seed=1)
    train_speakers = sorted({u.speaker for u in utts if u.id in set(corpus.train)})
    with pytest.raises(ValueError, match="no retain data"):
        speaker_forget_split(utts, corpus, speakers=train_speakers, fraction=None)


def test_no_eligible_speaker_is_an_error():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    with pytest.raises(ValueError, match="no speaker has >= 1000"):
        speaker_forget_split(utts, corpus, fraction=0.1, min_utterances=1000)


def test_split_for_another_manifest_is_detected():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    split = speaker_forget_split(utts, corpus, n_speakers=2, min_utterances=1)
    with pytest.raises(ValueError, match="made for another manifest"):
        split.check_against(utts[:50])


def test_utterance_sets_resolve_the_split_and_extra_sets():
    utts = _corpus()
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    split = speaker_forget_split(utts, corpus, n_speakers=2, min_utterances=1)
    sets = split.utterance_sets(utts, {"probe": [split.forget[0], split.test[0]]})
    for name in ("forget", "retain", "valid", "test"):
        assert [u.id for u in sets[name]] == list(getattr(split, name))
    assert [u.id for u in sets["probe"]] == [split.forget[0], split.test[0]]
    with pytest.raises(ValueError, match="extra set 'probe' names unknown"):
        split.utterance_sets(utts, {"probe": ["nobody_0"]})
    with pytest.raises(ValueError, match="made for another manifest"):
        split.utterance_sets(utts[:50])


def test_class_and_item_splits():
    utts = _corpus()
    by_id = {u.id: u for u in utts}
    corpus = speaker_disjoint_split(utts, n_test_speakers=4, seed=1)
    cls = class_forget_split(utts, corpus, classes=["i1"], label_key="intent")
    assert {by_id[i].labels["intent"] for i in cls.forget} == {"i1"}
    assert "i1" not in {by_id[i].labels["intent"] for i in cls.retain + cls.test}
    item = item_forget_split(utts, corpus, fraction=0.1, seed=0)
    assert abs(len(item.forget) - 0.1 * len(corpus.train)) <= 1
    assert not set(item.forget) & set(item.retain)
    with pytest.raises(ValueError, match="not in the training labels"):
        class_forget_split(utts, corpus, classes=["zz"], label_key="intent")


def test_utterance_holdout_validation_share_leaves_the_test_draw_alone(dummy_manifest):
    """``split.valid_fraction`` takes validation utterances from training only: the test
    set is the same draw as without it, and every class keeps training data."""
    from audio_unlearn.run.splits import SplitConfig, make_split

    utts = read_manifest(dummy_manifest)
    base = dict(kind="class", holdout="utterance", test_fraction=0.25, classes=["s03"])
    plain = make_split(SplitConfig(**base), utts, None, label_key="speaker")
    with_valid = make_split(
        SplitConfig(**base, valid_fraction=0.2), utts, None, label_key="speaker"
    )
    assert with_valid.test == plain.test and not plain.valid
    assert with_valid.valid and not set(with_valid.valid) & set(with_valid.retain)
    assert set(with_valid.valid) < set(plain.retain) | set(plain.forget)
    assert not any(i.startswith("s03_") for i in with_valid.valid)  # forget class removed
    speakers = {i.split("_")[0] for i in with_valid.retain}
    assert {i.split("_")[0] for i in with_valid.valid} <= speakers
