"""Training of recognisers (the original and retrained models); the ASR unlearning methods
are the task-generic ones run on the ASR task (:mod:`audio_unlearn.tasks.asr`).

FT, NG, NG+, CF-k and SCRUB serve ASR batches ``(wavs, wav_lengths, targets,
target_lengths)`` through the task's per-sample loss and output distribution; the presets
``asr_ft``, ``asr_ng``, ``asr_ngplus``, ``asr_cfk`` and ``asr_scrub`` name them with their
ASR defaults. The sequence helpers are re-exported here from :mod:`audio_unlearn.tasks.asr`.
"""

from ...tasks.asr import finite_mean, loss_from_outputs, sequence_kl, sequence_outputs
from ..training import CTCTraining

#: the ASR presets (each a task-generic method with its ASR defaults)
ASR_METHODS: tuple[str, ...] = ("asr_ft", "asr_ng", "asr_ngplus", "asr_cfk", "asr_scrub")

__all__ = [
    "ASR_METHODS",
    "CTCTraining",
    "finite_mean",
    "loss_from_outputs",
    "sequence_kl",
    "sequence_outputs",
]
