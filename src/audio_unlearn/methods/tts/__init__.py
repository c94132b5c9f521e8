"""Speaker-identity forgetting for zero-shot TTS: TGU and its baselines (``tts_tgu``,
``tts_sgu``, ``tts_kl`` and the inference-time ``tts_steer`` registered here; ``tts_ft``,
``tts_ng`` and ``tts_retrain`` are presets of the task-generic FT, NG and retrain)."""

from ..training import FlowMatchingTraining, warmup_cosine
from .base import TTSUnlearningModule, concat_rows
from .baselines import TTSKL, SampleGuidedUnlearning
from .steer import SpeakerSteering, SpeakerSteeringGated
from .tgu import TeacherGuidedUnlearning

#: Names of the TTS methods of the TGU paper (``tts_ft`` and ``tts_ng`` are presets of the
#: task-generic FT and NG).
TTS_METHODS: tuple[str, ...] = ("tts_ft", "tts_ng", "tts_kl", "tts_sgu", "tts_tgu", "tts_retrain")

__all__ = [
    "TTSKL",
    "TTS_METHODS",
    "FlowMatchingTraining",
    "SampleGuidedUnlearning",
    "SpeakerSteering",
    "SpeakerSteeringGated",
    "TTSUnlearningModule",
    "TeacherGuidedUnlearning",
    "concat_rows",
    "warmup_cosine",
]
