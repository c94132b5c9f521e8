"""Classification metrics: per-sample loss, accuracy, macro-F1 and calibration.

Pure functions over tensors and arrays. The evaluators that run a model to obtain logits sit
on top of these; nothing here touches a model or a data loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

__all__ = [
    "ClassificationScores",
    "accuracy",
    "classification_scores",
    "expected_calibration_error",
    "macro_f1",
    "per_sample_cross_entropy",
]


def _to_numpy(values: Any, name: str) -> np.ndarray:
    """Converts a tensor or array-like to a NumPy array (detached, on CPU)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as err:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {err}") from err


def _class_ids(values: Any, name: str) -> np.ndarray:
    """Validates a 1-D array of integer class ids."""
    array = _to_numpy(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D class ids, got shape {tuple(array.shape)}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(
            np.isfinite(array) & (array == np.round(array))
        ):
            raise ValueError(f"{name} must hold integer class ids, got dtype {array.dtype}")
        array = array.astype(np.int64)
    return array


def _paired_class_ids(predictions: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    pred = _class_ids(predictions, "predictions")
    true = _class_ids(targets, "targets")
    if pred.shape != true.shape:
        raise ValueError(
            f"predictions and targets differ in length: {pred.shape[0]} vs {true.shape[0]}"
        )
    if pred.size == 0:
        raise ValueError("predictions and targets are empty; need at least one sample")
    return pred, true


def per_sample_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample (``reduction="none"``).

    This is the membership signal of the UnSLU-BENCH loss attack (see
    :func:`audio_unlearn.evaluation.mia.loss_mia`). Half-precision logits are promoted to
    float32 so the losses of a mixed-precision model are not rounded.

    Args:
        logits: Unnormalised class scores, shape ``(N, C)``.
        targets: Class ids, shape ``(N,)``, integer dtype, values in ``[0, C)``.

    Returns:
        Losses of shape ``(N,)``, on the device of ``logits``.

    Raises:
        ValueError: If the shapes do not match, ``targets`` is not integer, or a class id is
            out of range.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise ValueError(
            "logits and targets must be torch.Tensor, got "
            f"{type(logits).__name__} and {type(targets).__name__}"
        )
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"targets must have shape ({logits.shape[0]},) to match logits "
            f"{tuple(logits.shape)}, got {tuple(targets.shape)}"
        )
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class ids, got dtype {targets.dtype}")
    if targets.numel():
        low, high = int(targets.min()), int(targets.max())
        if low < 0 or high >= logits.shape[1]:
            raise ValueError(
                f"targets hold class ids in [{low}, {high}] but logits have "
                f"{logits.shape[1]} classes"
            )
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    return F.cross_entropy(logits, targets.long(), reduction="none")


def accuracy(predictions: Any, targets: Any) -> float:
    """Fraction of predictions equal to the targets.

    Args:
        predictions: Predicted class ids, shape ``(N,)`` (array-like or tensor).
        targets: True class ids, shape ``(N,)``.

    Returns:
        Accuracy in ``[0, 1]``.

    Raises:
        ValueError: If the inputs are empty, not 1-D integer ids, or differ in length.
    """
    pred, true = _paired_class_ids(predictions, targets)
    return float(np.mean(pred == true))


def macro_f1(predictions: Any, targets: Any, labels: Any = None) -> float:
    """Unweighted mean of per-class F1 (scikit-learn ``f1_score(average="macro")``).

    Args:
        predictions: Predicted class ids, shape ``(N,)``.
        targets: True class ids, shape ``(N,)``.
        labels: The class set to average over. ``None`` uses the classes present in
            ``targets`` or ``predictions``; pass the full label set to count a class that was
            never predicted nor present as F1 0, or a subset to restrict the average.
            Classes with no true and no predicted samples score 0 (``zero_division=0``).

    Returns:
        Macro-F1 in ``[0, 1]``.

    Raises:
        ValueError: If the inputs are empty, not 1-D integer ids, or differ in length, or
            ``labels`` is empty.
    """
    pred, true = _paired_class_ids(predictions, targets)
    if labels is not None:
        labels = _class_ids(labels, "labels")
        if labels.size == 0:
            raise ValueError("labels is empty; pass None or at least one class id")
    return float(f1_score(true, pred, labels=labels, average="macro", zero_division=0))


def expected_calibration_error(
    probs: torch.Tensor | np.ndarray, targets: Any, n_bins: int = 15
) -> float:
    """Top-1 expected calibration error with equal-width confidence bins.

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` where a sample falls in bin ``b`` when
    its top-1 probability lies in ``((b - 1) / n_bins, b / n_bins]`` (Guo et al., "On
    Calibration of Modern Neural Networks", ICML 2017).

    Args:
        probs: Class probabilities (softmax outputs, not logits), shape ``(N, C)``.
        targets: True class ids, shape ``(N,)``.
        n_bins: Number of equal-width bins over ``[0, 1]``.

    Returns:
        ECE in ``[0, 1]``.

    Raises:
        ValueError: If the shapes do not match, the inputs are empty, ``probs`` holds values
            outside ``[0, 1]`` or rows that do not sum to 1, or ``n_bins < 1``.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = _to_numpy(probs, "probs").astype(np.float64)
    true = _class_ids(targets, "targets")
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {tuple(p.shape)}")
    if p.shape[0] != true.shape[0]:
        raise ValueError(f"probs and targets differ in length: {p.shape[0]} vs {true.shape[0]}")
    if p.shape[0] == 0:
        raise ValueError("probs and targets are empty; need at least one sample")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("probs must be finite probabilities in [0, 1]; pass softmax(logits)")
    row_sums = p.sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-2):
        worst = row_sums[np.argmax(np.abs(row_sums - 1.0))]
        raise ValueError(f"probs rows must sum to 1 (softmax outputs); a row sums to {worst:.4g}")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == true).astype(np.float64)
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    # side="left": a confidence equal to an edge belongs to the bin that edge closes.
    bins = np.searchsorted(inner_edges, confidence, side="left")
    gap_per_bin = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap_per_bin).sum() / p.shape[0])


@dataclass(frozen=True)
class ClassificationScores:
    """Summary scores of a classifier on one split.

    Attributes:
        accuracy: Top-1 accuracy.
        macro_f1: Macro-F1 over the label set (see :func:`macro_f1`).
        loss: Mean cross-entropy.
        n: Number of samples.
    """

    accuracy: float
    macro_f1: float
    loss: float
    n: int


def classification_scores(
    logits: torch.Tensor | np.ndarray, targets: Any, labels: Any = None
) -> ClassificationScores:
    """Accuracy, macro-F1 and mean cross-entropy of logits against targets.

    Args:
        logits: Unnormalised class scores, shape ``(N, C)`` (tensor or array).
        targets: True class ids, shape ``(N,)``.
        labels: Class set for macro-F1 (see :func:`macro_f1`).

    Returns:
        The scores of the ``N`` samples.

    Raises:
        ValueError: If the inputs are empty or their shapes do not match.
    """
    logits_t = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(logits)
    targets_t = (
        targets
        if isinstance(targets, torch.Tensor)
        else torch.as_tensor(_class_ids(targets, "targets"))
    )
    if logits_t.ndim != 2 or logits_t.shape[0] == 0:
        raise ValueError(f"logits must have shape (N, C) with N > 0, got {tuple(logits_t.shape)}")
    losses = per_sample_cross_entropy(logits_t, targets_t)
    predictions = logits_t.argmax(dim=1)
    return ClassificationScores(
        accuracy=accuracy(predictions, targets_t),
        macro_f1=macro_f1(predictions, targets_t, labels=labels),
        loss=float(losses.mean()),
        n=int(logits_t.shape[0]),
    )
