"""Evaluation: pure metric functions over tensors and arrays.

- :mod:`.classification`: per-sample cross-entropy, accuracy, macro-F1, calibration (ECE).
- :mod:`.mia`: the UnSLU-BENCH loss-based membership inference attack, and its ROC AUC.
- :mod:`.gum`: GUM and CGUM, the single-number summaries of an unlearning run.
"""

from audio_unlearn.evaluation.classification import (
    ClassificationScores,
    accuracy,
    classification_scores,
    expected_calibration_error,
    macro_f1,
    per_sample_cross_entropy,
)
from audio_unlearn.evaluation.gum import GUMTerms, cgum, cgum_terms, gum, gum_terms
from audio_unlearn.evaluation.mia import MIAResult, loss_mia, mia_auc

__all__ = [
    "ClassificationScores",
    "GUMTerms",
    "MIAResult",
    "accuracy",
    "cgum",
    "cgum_terms",
    "classification_scores",
    "expected_calibration_error",
    "gum",
    "gum_terms",
    "loss_mia",
    "macro_f1",
    "mia_auc",
    "per_sample_cross_entropy",
]
