import copy
import json
import operator
import os

import lightning as L
import pytest
import torch

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.testing import set_accuracy, suite_seed, train_classifier

# -- bounds on trained results ---------------------------------------------------------------
# A test that asserts a bound on the result of training or unlearning checks it through
# ``bound`` (or :func:`check_bound`), which records the value before asserting: with
# AUDIO_UNLEARN_BOUNDS_LOG=<file> every check appends one JSON line (value, bound, CPU kernel
# set, threads, seed) so ``benchmarks/bound_spread.py`` can measure each bound's spread over
# kernel sets, thread counts and seeds (tests/README.md). Tests using ``bound`` carry the
# ``bounds`` marker: ``pytest -m bounds`` runs exactly them.
# AUDIO_UNLEARN_TEST_SEED (default 0) moves every seed those tests' set-ups and training use.
SEED = suite_seed()
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def check_bound(
    test: str, quantity: str, value: float, op: str, limit: float, *, seeded: bool = True
) -> None:
    """Record ``value`` (when AUDIO_UNLEARN_BOUNDS_LOG is set), then assert ``value op limit``.

    ``seeded``: whether the result depends on the suite seed (else only kernels and threads
    can move it)."""
    value = float(value)
    log = os.environ.get("AUDIO_UNLEARN_BOUNDS_LOG")
    if log:
        row = {
            "test": test,
            "quantity": quantity,
            "value": value,
            "op": op,
            "bound": float(limit),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "seed": SEED,
            "seeded": seeded,
        }
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
    assert _OPS[op](value, limit), f"{test}: {quantity} = {value:.6g}, bound {op} {limit}"


class Bound:
    """``bound(quantity, value, op, limit)`` inside a test: :func:`check_bound` under the
    test's id."""

    def __init__(self, test: str, seeded: bool):
        self.test = test
        self.seeded = seeded

    def __call__(self, quantity: str, value: float, op: str, limit: float) -> None:
        check_bound(self.test, quantity, value, op, limit, seeded=self.seeded)

    def close(self, quantity: str, actual, expected, *, atol: float, rtol: float = 0.0) -> None:
        """``|actual - expected| <= atol + rtol * |expected|`` everywhere (as
        ``torch.testing.assert_close``), recorded as the worst ``|a - e| - rtol |e|``
        against ``atol``: two code paths (batched / one by one, cached / regenerated)
        that must agree up to floating-point summation order."""
        actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
        assert actual.shape == expected.shape, (quantity, actual.shape, expected.shape)
        excess = (actual - expected).abs() - rtol * expected.abs()
        worst = float(excess.max()) if excess.numel() else 0.0
        self(quantity + " (max |diff| - rtol |ref|)", worst, "<=", atol)


@pytest.fixture
def bound(request):
    # a test's result follows the suite seed when it (or a fixture it uses) asks for ``seed``
    return Bound(request.node.nodeid, seeded="seed" in request.fixturenames)


@pytest.fixture(scope="session")
def seed():
    """The seed of bound tests' set-ups and training (AUDIO_UNLEARN_TEST_SEED, default 0)."""
    return SEED


def pytest_collection_modifyitems(items):
    for item in items:
        if "bound" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.bounds)


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

    def __init__(self, manifest, seed=0):
        utts = read_manifest(manifest)
        corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=seed)
        label = sorted({u.labels["intent"] for u in utts})[0]
        split = class_forget_split(utts, corpus, classes=[label], label_key="intent")
        # the held-out speakers' utterances of the forgotten class ("forget_heldout") and of
        # the other classes ("test") are never scored by the class-removal bounds: settings
        # chosen on them are chosen on held-out data
        self.dm = UnlearningDataModule(
            utts,
            split,
            batch_size=16,
            max_seconds=3.6,
            seed=seed,
            extra_sets={"forget_heldout": split.params["forget_test"]},
        )
        self.dm.setup()
        self.seed = seed
        self._original = train_classifier(self.dm, epochs=15, lr=3e-3, seed=seed)
        self.original_acc = set_accuracy(self._original, self.dm)

    def original(self):
        """A fresh copy of the original; the global RNGs are re-seeded, so what a method
        draws does not depend on which tests ran before."""
        L.seed_everything(self.seed, verbose=False)
        return copy.deepcopy(self._original).train()

    def accuracy(self, model):
        return set_accuracy(model, self.dm)


@pytest.fixture(scope="session")
def class_removal(small_synth_corpus, seed):
    setup = ClassRemoval(small_synth_corpus.manifest, seed=seed)
    for name in ("forget", "retain"):
        check_bound(
            "tests/conftest.py::class_removal",
            f"original {name} acc",
            setup.original_acc[name],
            ">",
            0.9,
        )
    return setup


@pytest.fixture(scope="module")
def without_broken_lazy_modules():
    """Hide, for one test module, the ``sys.modules`` entries whose ``__file__`` cannot be
    read: SpeechBrain 1.x leaves lazy proxies there (e.g. ``speechbrain.integrations.
    k2_fsa``) that raise ImportError instead of AttributeError when their optional
    dependency is missing (speechbrain/speechbrain#2995). Hypothesis reads ``__file__`` of
    every loaded module to collect constants, so a property test run after a SpeechBrain
    test would fail on the proxy, not on the code under test."""
    import sys

    hidden = {}
    for name, module in list(sys.modules.items()):
        try:
            getattr(module, "__file__", None)
        except Exception:
            hidden[name] = sys.modules.pop(name)
    yield
    sys.modules.update(hidden)
