"""Evaluation: pure metric functions over tensors and arrays, model-backed layers on top.

Pure functions (re-exported here):

- :mod:`.classification`: per-sample cross-entropy, accuracy, macro-F1, calibration (ECE).
- :mod:`.mia`: the UnSLU-BENCH loss-based membership attack, its ROC AUC, and the
  SalUn-style SVC attack on confidence/entropy features.
- :mod:`.lira`: shadow-model attacks on per-sample losses (LiRA online / offline, RMIA,
  U-LiRA), speaker-level aggregation, AUC and TPR at 1% / 0.1% FPR.
- :mod:`.gum`: GUM and CGUM, the single-number summaries of an unlearning run.
- :mod:`.scores`: ZRF, spk-ZRF, activation distance and JS divergence to a retrained model.
- :mod:`.verification`: EER, minDCF, trial lists.

Model-backed (import the module; they load models on first use):

- :mod:`.speaker`: speaker encoders (Resemblyzer, SpeechBrain ECAPA, WavLM x-vector,
  WavLM-Large + ECAPA from the UniSpeech checkpoint), SIM-o/SIM-r, an embedding cache.
- :mod:`.asr` and :mod:`.wer`: ASR backends (transformers CTC, Whisper), WER/CER with
  named text normalisers (:mod:`.text`).
- :mod:`.model_eval`: logits of a classifier over a data loader.
"""

from audio_unlearn.evaluation.classification import (
    ClassificationScores,
    accuracy,
    classification_scores,
    expected_calibration_error,
    macro_f1,
    per_sample_cross_entropy,
)
from audio_unlearn.evaluation.gum import (
    GUMTerms,
    cgum,
    cgum_terms,
    gum,
    gum_terms,
    scores_from_rows,
)
from audio_unlearn.evaluation.lira import (
    ROCSummary,
    lira,
    logit_confidence,
    rmia,
    roc_summary,
    speaker_scores,
    unlearning_lira,
)
from audio_unlearn.evaluation.mia import (
    MIAResult,
    SVCMIAResult,
    confidence_features,
    loss_mia,
    mia_auc,
    svc_mia,
    svc_mia_from_losses,
)
from audio_unlearn.evaluation.scores import (
    ZRFResult,
    activation_distance,
    js_divergence,
    js_to_retrained,
    spk_zrf,
    zrf,
)
from audio_unlearn.evaluation.verification import (
    VerificationResult,
    build_trials,
    equal_error_rate,
    min_dcf,
    verification_metrics,
)

__all__ = [
    "ClassificationScores",
    "GUMTerms",
    "MIAResult",
    "ROCSummary",
    "SVCMIAResult",
    "VerificationResult",
    "ZRFResult",
    "accuracy",
    "activation_distance",
    "build_trials",
    "cgum",
    "cgum_terms",
    "classification_scores",
    "confidence_features",
    "equal_error_rate",
    "expected_calibration_error",
    "gum",
    "gum_terms",
    "js_divergence",
    "js_to_retrained",
    "lira",
    "logit_confidence",
    "loss_mia",
    "macro_f1",
    "mia_auc",
    "min_dcf",
    "per_sample_cross_entropy",
    "rmia",
    "roc_summary",
    "scores_from_rows",
    "speaker_scores",
    "spk_zrf",
    "svc_mia",
    "svc_mia_from_losses",
    "unlearning_lira",
    "verification_metrics",
    "zrf",
]
