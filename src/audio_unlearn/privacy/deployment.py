"""Make a "deployed" model to forget from: train a classifier on part of a corpus and write
the checkpoint with its training and held-out manifests.

The forget workflow starts from what a team has in production: a checkpoint, the manifest
it was trained on, and (ideally) recordings it never saw. Recipes and tests use this to
produce exactly those three files from a corpus manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.datamodule import UnlearningDataModule
from ..data.manifest import read_manifest, write_manifest
from ..data.splits import ForgetSplit, speaker_disjoint_split, utterance_holdout_split
from ..models.checkpoint import save_classifier
from ..testing.harness import train_classifier

__all__ = ["Deployment", "deploy_classifier"]


@dataclass(frozen=True)
class Deployment:
    """The three files of a deployed classifier.

    Attributes:
        checkpoint: the trained model.
        train_manifest: every utterance it was trained on.
        heldout_manifest: utterances it never saw (same label set).
    """

    checkpoint: Path
    train_manifest: Path
    heldout_manifest: Path


def deploy_classifier(
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    label_key: str = "speaker",
    holdout: str = "utterance",
    test_fraction: float = 0.25,
    n_test_speakers: int = 2,
    model: dict[str, Any] | None = None,
    epochs: int = 15,
    lr: float = 3e-3,
    batch_size: int = 16,
    max_seconds: float = 3.6,
    seed: int = 0,
) -> Deployment:
    """Train a classifier on a corpus and write ``model.pt``, ``train.jsonl``, ``heldout.jsonl``.

    Args:
        manifest: the corpus manifest.
        out_dir: where the three files go.
        label_key: what the model predicts ("speaker" = speaker identification).
        holdout: "utterance" holds out ``test_fraction`` of every label's utterances (closed
            set, speaker identification); "speaker" holds out ``n_test_speakers`` speakers
            (SLU/intent models).
        test_fraction: held-out fraction per label (``holdout="utterance"``).
        n_test_speakers: held-out speakers (``holdout="speaker"``).
        model: classifier registry name and config, e.g. ``{"name": "ecapa"}``.
        epochs: training epochs.
        lr: learning rate.
        batch_size: batch size.
        max_seconds: audio length.
        seed: seed of the split and the training.

    Raises:
        ValueError: an unknown ``holdout``.
    """
    utts = read_manifest(manifest)
    if holdout == "utterance":
        corpus = utterance_holdout_split(
            utts, label_key=label_key, test_fraction=test_fraction, seed=seed
        )
    elif holdout == "speaker":
        corpus = speaker_disjoint_split(utts, n_test_speakers=n_test_speakers, seed=seed)
    else:
        raise ValueError(f"holdout must be 'utterance' or 'speaker', not {holdout!r}")
    # a split whose forget+retain is the whole training set ("original" stage trains on it)
    split = ForgetSplit(
        kind="item",
        forget=corpus.train[:1],
        retain=corpus.train[1:],
        valid=(),
        test=corpus.test,
    )
    dm = UnlearningDataModule(
        utts,
        split,
        label_key=label_key,
        batch_size=batch_size,
        max_seconds=max_seconds,
        seed=seed,
        progress=False,
    )
    dm.setup()
    config = dict(model or {})
    net = train_classifier(dm, stage="original", epochs=epochs, lr=lr, seed=seed, **config)
    out = Path(out_dir)
    by_id = {u.id: u for u in utts}
    train = write_manifest(out / "train.jsonl", [by_id[i] for i in corpus.train])
    heldout = write_manifest(out / "heldout.jsonl", [by_id[i] for i in corpus.test])
    ckpt = save_classifier(
        out / "model.pt",
        net,
        classes=dm.encoder.classes,
        label_key=label_key,
        meta={"role": "original", "epochs": epochs, "max_seconds": max_seconds},
    )
    return Deployment(ckpt, train, heldout)
