"""Speaker forgetting for speech recognisers: sequence-loss versions of FT, NG, NG+, CF-k
and SCRUB, and the CTC training module of the original and retrained models.

Every method here has ``task = "asr"``: its batches are ASR batches
``(wavs, wav_lengths, targets, target_lengths)`` (:mod:`audio_unlearn.data.asr_data`),
and its model is a recogniser with ``model.loss(wavs, wav_lengths, targets,
target_lengths) -> (batch,)`` per-sample losses and ``model.sequence_outputs(...) ->
(log_probs, lengths)`` (or, for a plain CTC model, ``model(wavs, wav_lengths) ->
(log_probs, frame_lengths)``): :class:`audio_unlearn.models.asr.CTCRecognizer`, or the
transformers wrappers of :mod:`audio_unlearn.models.asr_hf` (``*ForCTC``, Whisper). They are
registered as ``asr_ft``, ``asr_ng``, ``asr_ngplus``, ``asr_cfk`` and ``asr_scrub``
(imported by :mod:`audio_unlearn.methods.asr_methods`).
"""

from .base import (
    ASRUnlearningModule,
    finite_mean,
    loss_from_outputs,
    sequence_kl,
    sequence_outputs,
)
from .methods import ASRCatastrophicForgettingK, ASRFineTune, ASRNegGrad, ASRNegGradPlus
from .scrub import ASRSCRUB
from .training import CTCTraining

__all__ = [
    "ASRSCRUB",
    "ASRCatastrophicForgettingK",
    "ASRFineTune",
    "ASRNegGrad",
    "ASRNegGradPlus",
    "ASRUnlearningModule",
    "CTCTraining",
    "finite_mean",
    "loss_from_outputs",
    "sequence_kl",
    "sequence_outputs",
]
