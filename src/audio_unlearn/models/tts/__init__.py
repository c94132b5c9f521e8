"""Zero-shot TTS: a VoiceBox-style flow-matching mel model, its front end and vocoders."""

from .checkpoint import TTSCheckpoint, TTSCheckpointError, load_tts, save_tts
from .flow import cfm_path, cfm_target, guided, masked_mse, ode_solve
from .mel import MelConfig, MelFrontEnd
from .phones import DurationTable, PhoneVocabulary, frame_phone_ids, phones_from_durations
from .vocoder import (
    GriffinLimVocoder,
    HiFiGANVocoder,
    MelConverter,
    Vocoder,
    VocoderFeatures,
    VocosVocoder,
    get_vocoder,
)
from .voicebox import FlowMatchingTTS, FlowMatchingTTSConfig, lengths_mask

__all__ = [
    "DurationTable",
    "FlowMatchingTTS",
    "FlowMatchingTTSConfig",
    "GriffinLimVocoder",
    "HiFiGANVocoder",
    "MelConfig",
    "MelConverter",
    "MelFrontEnd",
    "PhoneVocabulary",
    "TTSCheckpoint",
    "TTSCheckpointError",
    "Vocoder",
    "VocoderFeatures",
    "VocosVocoder",
    "cfm_path",
    "cfm_target",
    "frame_phone_ids",
    "get_vocoder",
    "guided",
    "lengths_mask",
    "load_tts",
    "masked_mse",
    "ode_solve",
    "phones_from_durations",
    "save_tts",
]
