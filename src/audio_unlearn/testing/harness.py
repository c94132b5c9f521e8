"""Small building blocks for method tests and smoke runs: train a reference classifier on
a data module, and score a model on its sets."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch

from ..data.datamodule import UnlearningDataModule
from ..methods.fit import make_trainer
from ..methods.training import SupervisedTraining
from ..models import build_classifier

__all__ = ["set_accuracy", "train_classifier"]


def train_classifier(
    dm: UnlearningDataModule,
    *,
    stage: str = "original",
    epochs: int = 15,
    lr: float = 3e-3,
    seed: int = 0,
    name: str = "logmel_cnn",
    **model_kwargs,
) -> torch.nn.Module:
    """Train classifier ``name`` (see :data:`audio_unlearn.models.CLASSIFIERS`) on the
    datamodule's ``stage`` set ("original" = train, "gold" = retain); return it in eval
    mode."""
    L.seed_everything(seed, verbose=False)
    model = build_classifier(name=name, num_classes=dm.num_classes, **model_kwargs)
    dm.stage = stage
    make_trainer(epochs).fit(SupervisedTraining(model, lr=lr), datamodule=dm)
    return model.eval()


@torch.no_grad()
def set_accuracy(
    model: torch.nn.Module, dm: UnlearningDataModule, names: Sequence[str] = ("forget", "retain")
) -> dict[str, float]:
    """Accuracy of ``model`` on each named set of ``dm`` (model left in eval mode)."""
    model.eval()
    out = {}
    for name in names:
        correct = total = 0
        for wav, y in dm.eval_dataloader(name):
            correct += int((model(wav).argmax(-1) == y).sum())
            total += int(y.numel())
        out[name] = correct / max(total, 1)
    return out
