"""Model-backed evaluation: run a classifier over a loader and collect logits."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

__all__ = ["predict_logits"]


@torch.no_grad()
def predict_logits(model: nn.Module, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, C)`` and targets ``(N,)`` of ``model`` (eval mode) over ``loader``.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    logits, targets = [], []
    try:
        for wav, y in loader:
            logits.append(model(wav).float())
            targets.append(y)
    finally:
        model.train(was_training)
    if not logits:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(targets)
