"""Zero-shot TTS: a VoiceBox-style flow-matching mel model, its front end and vocoders."""

from .checkpoint import TTSCheckpoint, TTSCheckpointError, load_tts, save_tts
from .flow import cfm_path, cfm_target, guided, masked_mse, ode_solve
from .mel import MelConfig, MelFrontEnd
from .phones import DurationTable, PhoneVocabulary, frame_phone_ids, phones_from_durations
from .voicebox import FlowMatchingTTS, FlowMatchingTTSConfig, lengths_mask

__all__ = [
    "DurationTable",
    "FlowMatchingTTS",
    "FlowMatchingTTSConfig",
    "MelConfig",
    "MelFrontEnd",
    "PhoneVocabulary",
    "TTSCheckpoint",
    "TTSCheckpointError",
    "cfm_path",
    "cfm_target",
    "frame_phone_ids",
    "guided",
    "lengths_mask",
    "load_tts",
    "masked_mse",
    "ode_solve",
    "phones_from_durations",
    "save_tts",
]
