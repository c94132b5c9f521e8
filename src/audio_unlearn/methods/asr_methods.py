"""Registers the ASR unlearning methods of :mod:`audio_unlearn.methods.asr`.

The methods package imports its top-level modules automatically; this module is the
top-level hook that imports the ``asr`` subpackage, whose classes register themselves as
``asr_ft``, ``asr_ng``, ``asr_ngplus``, ``asr_cfk`` and ``asr_scrub``. Each has
``task = "asr"`` (classification drivers should skip them).
"""

from .asr import (
    ASRSCRUB,
    ASRCatastrophicForgettingK,
    ASRFineTune,
    ASRNegGrad,
    ASRNegGradPlus,
    CTCTraining,
)

#: Names of the registered ASR methods.
ASR_METHODS: tuple[str, ...] = ("asr_ft", "asr_ng", "asr_ngplus", "asr_cfk", "asr_scrub")

__all__ = [
    "ASRSCRUB",
    "ASR_METHODS",
    "ASRCatastrophicForgettingK",
    "ASRFineTune",
    "ASRNegGrad",
    "ASRNegGradPlus",
    "CTCTraining",
]
