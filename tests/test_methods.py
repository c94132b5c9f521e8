import lightning as L
import pytest
import torch
import torch.nn.functional as F

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import speaker_disjoint_split, speaker_forget_split
from audio_unlearn.methods import (
    METHODS,
    build_method,
    fit_unlearning,
    get_method,
    method_hparams,
)
from audio_unlearn.models import LogMelCNN, LogMelCNNConfig


@pytest.fixture(scope="module")
def dm(dummy_manifest, seed):
    utts = read_manifest(dummy_manifest)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=seed)
    split = speaker_forget_split(utts, corpus, n_speakers=2, min_utterances=1, seed=seed)
    dm = UnlearningDataModule(utts, split, batch_size=8, max_seconds=1.0, seed=seed)
    dm.setup()
    return dm


def _mean_loss(model, dm, name):
    model.eval()
    with torch.no_grad():
        losses = [
            F.cross_entropy(model(x), y, reduction="sum") for x, y in dm.eval_dataloader(name)
        ]
    return float(sum(losses)) / len(dm.dataset(name))


def _unlearn(name, dm, **hp):
    L.seed_everything(dm.seed, verbose=False)
    model = LogMelCNN(LogMelCNNConfig(num_classes=dm.num_classes))
    before = {s: _mean_loss(model, dm, s) for s in ("forget", "retain")}
    fit_unlearning(build_method(name, model, **hp), dm)
    after = {s: _mean_loss(model, dm, s) for s in ("forget", "retain")}
    return before, after


def test_negative_gradient_raises_forget_loss(dm, bound):
    before, after = _unlearn("ng", dm, lr=1e-2, epochs=2)
    bound("forget loss rise", after["forget"] - before["forget"], ">", 0.1)


def test_finetune_lowers_retain_loss(dm, bound):
    before, after = _unlearn("ft", dm, lr=3e-3, epochs=4)
    bound("retain loss fall", before["retain"] - after["retain"], ">", 0.1)


def test_registry_lists_methods_and_validates_hparams():
    assert {"ft", "ng"} <= set(METHODS)
    assert method_hparams("ng")["lr"] == 1e-4
    model = LogMelCNN(LogMelCNNConfig(num_classes=3))
    assert build_method("ng", model, lr="1e-5").lr == 1e-5  # YAML 1.1 reads 1e-5 as text
    assert build_method("ft", model, epochs=2.0).epochs == 2
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(ValueError, match=r"has no hyper-parameter\(s\) \['beta'\]"):
        build_method("ng", model, beta=1)
    with pytest.raises(ValueError, match="is not a number"):
        build_method("ng", model, lr="fast")


def test_methods_declare_the_data_they_use():
    assert get_method("ng").uses == ("forget",)
    assert get_method("ng").gradient_clip_val == 1.0
    assert get_method("ft").uses == ("retain",)


def test_unlearn_stage_yields_forget_and_retain_batches_together(dm):
    dm.stage, dm.unlearn_sets, dm.unlearn_mode = "unlearn", ("forget", "retain"), "max_size_cycle"
    loader = dm.train_dataloader()
    batches = list(iter(loader))
    n_retain_batches = -(-len(dm.dataset("retain")) // dm.batch_size)
    assert len(batches) == n_retain_batches  # cycles the shorter forget set
    batch = batches[0][0] if isinstance(batches[0], tuple) else batches[0]
    assert set(batch) == {"forget", "retain"}
    forget_ids = {u.id for u in dm.sets["forget"]}
    assert forget_ids and not forget_ids & {u.id for u in dm.sets["retain"]}
