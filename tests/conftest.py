import copy

import pytest

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.testing import set_accuracy, train_classifier


@pytest.fixture(scope="session")
def dummy_manifest(tiny_corpus):
    """The public ``tiny_corpus`` fixture (audio_unlearn's pytest plugin): 10 speakers x
    4 classes x 6 repeats of 1 s tone-sequence 'speech'."""
    return tiny_corpus


@pytest.fixture(scope="session")
def small_synth_corpus(tmp_path_factory):
    """A small espeak-ng corpus: 12 speakers x 6 intents x 2 repeats (144 utterances)."""
    from audio_unlearn.data.synth import SynthConfig, synthesize_corpus

    root = tmp_path_factory.mktemp("synth") / "corpus"
    cfg = SynthConfig(n_speakers=12, n_intents=6, repeats_per_intent=2, seed=0)
    return synthesize_corpus(root, cfg, progress=False)


class ClassRemoval:
    """Class removal on the small synthetic corpus: forget one intent.

    ``original()`` returns a fresh copy of the trained original model; ``accuracy(model)``
    scores it on forget (the forgotten intent's training utterances) and retain.
    """

    def __init__(self, manifest):
        utts = read_manifest(manifest)
        corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=0)
        label = sorted({u.labels["intent"] for u in utts})[0]
        split = class_forget_split(utts, corpus, classes=[label], label_key="intent")
        self.dm = UnlearningDataModule(utts, split, batch_size=16, max_seconds=3.6, seed=0)
        self.dm.setup()
        self._original = train_classifier(self.dm, epochs=15, lr=3e-3, seed=0)
        self.original_acc = set_accuracy(self._original, self.dm)

    def original(self):
        return copy.deepcopy(self._original).train()

    def accuracy(self, model):
        return set_accuracy(model, self.dm)


@pytest.fixture(scope="session")
def class_removal(small_synth_corpus):
    setup = ClassRemoval(small_synth_corpus.manifest)
    assert setup.original_acc["forget"] > 0.9 and setup.original_acc["retain"] > 0.9, (
        f"the original model did not learn the small corpus: {setup.original_acc}"
    )
    return setup
