"""A deterministic synthetic spoken-command corpus made with espeak-ng.

The corpus imitates Fluent Speech Commands: 28 intents (lights and heat in four
locations, volume, music, four languages, bring four objects), three phrasings each,
spoken by speakers that differ in accent, voice variant, base pitch and speaking rate.
Every utterance gets its own acoustic jitter (pitch, rate, reverberation, time shift,
gain, coloured noise, two-talker babble), drawn once from a seeded random generator,
so a model trained on the corpus fits its training utterances better than unseen
ones, and a loss-based membership-inference attack can see that.

espeak-ng is GPL-3.0 and therefore an optional extra (``pip install
'audio-unlearn[synth]'``, which installs the ``espeakng-loader`` wheel with the
library and its voice data). The library is driven through :mod:`ctypes`.

Determinism: espeak-ng keeps state between calls (pitch-flutter phase, automatic gain
control, ...), so the same sentence comes out a few samples different depending on
what was spoken before. To make every utterance depend only on its own parameters,
each utterance is spoken by a fresh private instance of the shared library (a
temporary copy, opened with ``dlopen`` and closed after the sentence; about 1 ms).
The same seed therefore gives byte-identical wav files and manifest on the same
platform and library versions.

Layout of a corpus directory::

    <root>/wavs/<speaker>/<utt_id>.wav   16-bit PCM mono
    <root>/manifest.jsonl                 Utterance records, audio paths relative
    <root>/speakers.tsv                   speaker, accent, variant, pitch, rate
    <root>/corpus.json                    config, espeak-ng version, counts (last)
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import PhoneSpan, Utterance, atomic_write_text, read_manifest, write_manifest

__all__ = [
    "ACCENTS",
    "INTENTS",
    "VARIANTS",
    "Intent",
    "SynthConfig",
    "SynthCorpus",
    "espeak_version",
    "speaker_genders",
    "synthesize_corpus",
    "synthesize_phrase",
]

_INSTALL_HINT = "pip install 'audio-unlearn[synth]'"
CORPUS_FORMAT = "audio-unlearn-synth"
CORPUS_FORMAT_VERSION = 1

# --------------------------------------------------------------------------- content

#: espeak-ng English voices (accents) shipped with espeak-ng 1.52.
ACCENTS: tuple[str, ...] = (
    "en-us",  # General American
    "en-us-nyc",  # New York City
    "en",  # Great Britain (espeak-ng names this voice "en", not "en-gb")
    "en-gb-x-rp",  # Received Pronunciation
    "en-gb-scotland",  # Scottish
    "en-gb-x-gbclan",  # Lancaster
    "en-gb-x-gbcwmd",  # West Midlands
    "en-029",  # Caribbean
)

#: espeak-ng voice variants (files in ``espeak-ng-data/voices/!v``), 8 female, 16 male.
#: Variants with breath noise or the Klatt synthesiser are left out: they call the C
#: library's ``rand()`` and would make the audio depend on the process's random state.
VARIANTS: tuple[str, ...] = (
    "f1",
    "f4",
    "Andrea",
    "Annie",
    "belinda",
    "steph",
    "linda",
    "aunty",
    "m1",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "Gene",
    "Mike",
    "Michael",
    "Nguyen",
    "antonio",
    "ed",
    "travis",
    "robert",
    "max",
)

#: the gender of each voice variant's voice (the first 8 are female, the rest male)
VARIANT_GENDER: dict[str, str] = {v: "f" if i < 8 else "m" for i, v in enumerate(VARIANTS)}


def speaker_genders(corpus_dir: str | os.PathLike) -> dict[str, str]:
    """Speaker -> "f" / "m" of a synthetic corpus, from its ``speakers.tsv`` (the voice
    variant's gender; {} when the file is absent, e.g. for another corpus)."""
    path = Path(corpus_dir) / "speakers.tsv"
    if not path.is_file():
        return {}
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return {r[0]: VARIANT_GENDER.get(r[2], "") for r in rows if len(r) >= 3}


_SPEAKER_PITCH = (25, 75)  # espeak pitch parameter, 0-100
_SPEAKER_RATE = (130, 190)  # words per minute
_PITCH_JITTER = 8
_RATE_JITTER = (0.88, 1.12)
_SHIFT_S = (0.0, 0.3)
_GAIN_DB = (-12.0, 6.0)
_RT60_S = (0.1, 0.5)
_DRR_DB = (0.0, 8.0)  # direct-to-reverberant energy ratio of the synthetic room
_SPEECH_RMS = 10 ** (-26 / 20)  # speech level before the gain jitter
_PEAK = 0.99  # peak limit after mixing (full scale = 1)
_BABBLE_POOL = 32
_NOISE_COLOURS = ("white", "pink", "brown")


@dataclass(frozen=True)
class _NoisePreset:
    snr_db: tuple[float, float] | None
    reverb_prob: float
    babble_prob: float
    babble_snr_db: tuple[float, float]


_NOISE_PRESETS = {
    # "clean": no additive noise, babble or reverberation; pitch/rate/shift/gain jitter stay.
    "clean": _NoisePreset(snr_db=None, reverb_prob=0.0, babble_prob=0.0, babble_snr_db=(0, 0)),
    "mid": _NoisePreset(
        snr_db=(10.0, 30.0), reverb_prob=0.3, babble_prob=0.2, babble_snr_db=(15.0, 25.0)
    ),
    "heavy": _NoisePreset(
        snr_db=(0.0, 20.0), reverb_prob=0.3, babble_prob=0.2, babble_snr_db=(5.0, 15.0)
    ),
}


@dataclass(frozen=True)
class Intent:
    """One spoken-command intent with its phrasings."""

    action: str
    object: str
    location: str
    phrasings: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.action}_{self.object}_{self.location}"

    def labels(self) -> dict[str, str]:
        return {
            "intent": self.name,
            "action": self.action,
            "object": self.object,
            "location": self.location,
        }


def _lights(action: str, loc: str) -> Intent:
    on = "on" if action == "activate" else "off"
    if loc == "none":
        texts = (f"Turn {on} the lights", f"Switch the lights {on}", f"Lights {on}")
    else:
        texts = (
            f"Turn {on} the lights in the {loc}",
            f"Switch {on} the {loc} lights",
            f"Lights {on} in the {loc}",
        )
    return Intent(action, "lights", loc, texts)


def _heat(action: str, loc: str) -> Intent:
    up, warm = ("up", "warmer") if action == "increase" else ("down", "cooler")
    verb = action.capitalize()
    if loc == "none":
        texts = (f"Turn the heat {up}", f"Make it {warm}", f"{verb} the temperature")
    else:
        texts = (
            f"Turn {up} the heat in the {loc}",
            f"Make the {loc} {warm}",
            f"{verb} the temperature in the {loc}",
        )
    return Intent(action, "heat", loc, texts)


def _build_intents() -> tuple[Intent, ...]:
    volume = {
        "increase": ("Turn up the volume", "Make it louder", "Increase the sound"),
        "decrease": ("Turn down the volume", "Make it quieter", "Decrease the sound"),
    }
    music = {
        "activate": ("Play some music", "Turn on the music", "Start the music"),
        "deactivate": ("Stop the music", "Turn off the music", "Pause the music"),
    }

    def language(lang: str) -> Intent:
        name = lang.capitalize()
        texts = (
            f"Switch the language to {name}",
            f"Change the language to {name}",
            f"Set my phone to {name}",
        )
        return Intent("change_language", lang, "none", texts)

    def bring(obj: str) -> Intent:
        texts = (f"Bring me the {obj}", f"Fetch the {obj}", f"Go get my {obj}")
        return Intent("bring", obj, "none", texts)

    # Interleaved so that the first few intents of a small test corpus are diverse.
    return (
        _lights("activate", "none"),
        Intent("increase", "volume", "none", volume["increase"]),
        bring("newspaper"),
        _lights("deactivate", "none"),
        Intent("decrease", "volume", "none", volume["decrease"]),
        language("chinese"),
        Intent("activate", "music", "none", music["activate"]),
        _heat("increase", "none"),
        bring("juice"),
        Intent("deactivate", "music", "none", music["deactivate"]),
        _heat("decrease", "none"),
        language("korean"),
        _lights("activate", "kitchen"),
        _heat("increase", "kitchen"),
        bring("socks"),
        _lights("deactivate", "kitchen"),
        _heat("decrease", "kitchen"),
        language("english"),
        _lights("activate", "bedroom"),
        _heat("increase", "bedroom"),
        bring("shoes"),
        _lights("deactivate", "bedroom"),
        _heat("decrease", "bedroom"),
        language("german"),
        _lights("activate", "washroom"),
        _heat("increase", "washroom"),
        _lights("deactivate", "washroom"),
        _heat("decrease", "washroom"),
    )


#: The 28 intents, in corpus order (``n_intents=k`` takes the first k).
INTENTS: tuple[Intent, ...] = _build_intents()

# Neutral sentences for the two-talker babble (no command words, so the babble never
# carries another intent).
_BABBLE_TEXTS = (
    "The weather was lovely on Saturday afternoon",
    "She said the meeting starts at nine tomorrow",
    "We walked along the river until it got dark",
    "My brother bought a new bicycle last week",
    "The train was late again this morning",
    "Could you tell me where the post office is",
    "They painted the fence a bright shade of green",
    "I think the library closes early on Sundays",
    "The children played football in the park",
    "He forgot his umbrella at the restaurant",
    "Our neighbours are moving to another city",
    "The market sells fresh bread every day",
    "It took us three hours to finish the puzzle",
    "Please remember to water the plants",
    "The museum has a new exhibition about ships",
    "Everyone enjoyed the concert last night",
)

# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthetic corpus (the defaults are the measured "mid noise" design).

    Attributes:
        n_speakers: number of speakers (at most ``len(ACCENTS) * len(VARIANTS)`` = 192).
        repeats_per_intent: utterances per intent and speaker.
        seed: seeds speakers, phrasings and every utterance's jitter.
        noise: ``"clean"`` (no noise, babble or reverb), ``"mid"`` (SNR 10-30 dB) or
            ``"heavy"`` (SNR 0-20 dB); mid and heavy add reverb to 30% and two-talker
            babble to 20% of the utterances.
        window_s: every file is exactly this long (speech is truncated or padded).
        sample_rate: sample rate of the written files, Hz.
        n_intents: use the first ``n_intents`` of :data:`INTENTS` (None = all 28).
    """

    n_speakers: int = 48
    repeats_per_intent: int = 2
    seed: int = 0
    noise: str = "mid"
    window_s: float = 3.6
    sample_rate: int = 16000
    n_intents: int | None = None

    def __post_init__(self) -> None:
        max_speakers = len(ACCENTS) * len(VARIANTS)
        if not isinstance(self.n_speakers, int) or not 1 <= self.n_speakers <= max_speakers:
            raise ValueError(
                f"n_speakers must be an int in 1..{max_speakers}, got {self.n_speakers!r}"
            )
        if not isinstance(self.repeats_per_intent, int) or self.repeats_per_intent < 1:
            raise ValueError(
                f"repeats_per_intent must be an int >= 1, got {self.repeats_per_intent!r}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.noise not in _NOISE_PRESETS:
            raise ValueError(f"noise must be one of {sorted(_NOISE_PRESETS)}, got {self.noise!r}")
        if not self.window_s >= 1.0:
            raise ValueError(f"window_s must be >= 1.0 seconds, got {self.window_s!r}")
        if not isinstance(self.sample_rate, int) or not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be an int in 8000..48000, got {self.sample_rate!r}")
        if self.n_intents is not None and (
            not isinstance(self.n_intents, int) or not 1 <= self.n_intents <= len(INTENTS)
        ):
            raise ValueError(
                f"n_intents must be None or an int in 1..{len(INTENTS)}, got {self.n_intents!r}"
            )

    @property
    def intents(self) -> tuple[Intent, ...]:
        return INTENTS[: self.n_intents] if self.n_intents is not None else INTENTS

    @property
    def n_utterances(self) -> int:
        return self.n_speakers * len(self.intents) * self.repeats_per_intent

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


@dataclass(frozen=True)
class SynthCorpus:
    """A synthesised corpus on disk."""

    root: Path
    manifest: Path
    speakers: Path
    config: SynthConfig

    def utterances(self) -> list[Utterance]:
        """Read the manifest (audio paths resolved against ``root``)."""
        return read_manifest(self.manifest)


@dataclass(frozen=True)
class _Speaker:
    id: str
    accent: str
    variant: str
    pitch: int
    rate: int


# --------------------------------------------------------------------------- espeak-ng

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_BUFLEN_MS = 500


class _EspeakEvent(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; ``id`` is a union whose char[8] member holds the
    # phoneme mnemonic for PHONEME events.
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)

_ESPEAK_LOCK = threading.Lock()  # the library and the callback buffers are not thread-safe


def _import_loader() -> Any:
    try:
        import espeakng_loader
    except ImportError as err:
        raise ImportError(
            "speech synthesis needs espeak-ng, which is an optional (GPL-licensed) extra: "
            f"{_INSTALL_HINT}"
        ) from err
    return espeakng_loader


@dataclass(frozen=True)
class _Speech:
    samples: np.ndarray  # int16 at the espeak sample rate
    sample_rate: int
    phones: tuple[tuple[str, int, int], ...]  # (mnemonic, start sample, end sample)


class _Espeak:
    """espeak-ng driven through ctypes, one fresh library instance per sentence."""

    def __init__(self) -> None:
        loader = _import_loader()
        self._lib_path = Path(loader.get_library_path())
        self._data_path = Path(loader.get_data_path())
        if not self._lib_path.is_file():
            raise ImportError(
                f"espeakng-loader is installed but its library {self._lib_path} is missing; "
                f"reinstall it: {_INSTALL_HINT}"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="audio-unlearn-espeak-")
        self._counter = 0
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        # Keep the ctypes callback alive for as long as any library instance may call it.
        self._callback = _SynthCallback(self._on_synth)
        self.sample_rate = 0
        self.version = ""
        lib = self._open()
        try:
            version = lib.espeak_Info(None)
            self.version = version.decode("ascii", "replace") if version else "unknown"
        finally:
            self._close(lib)
        variants_dir = self._data_path / "voices" / "!v"
        missing = [v for v in VARIANTS if not (variants_dir / v).is_file()]
        if missing:
            raise RuntimeError(
                f"espeak-ng data at {self._data_path} lacks voice variants {missing}; "
                f"install a full espeakng-loader wheel: {_INSTALL_HINT}"
            )

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> _Espeak:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- library instances

    def _open(self) -> ctypes.CDLL:
        # espeak-ng keeps synthesis state in static variables; a private copy of the
        # library gives a fresh instance whose output depends only on this sentence.
        self._counter += 1
        copy = Path(self._tmp.name) / f"libespeak-ng-{self._counter}{self._lib_path.suffix}"
        shutil.copyfile(self._lib_path, copy)
        try:
            lib = ctypes.CDLL(str(copy))
        finally:
            with contextlib.suppress(OSError):  # Windows cannot delete a loaded DLL
                copy.unlink()
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = (
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = (ctypes.c_void_p,)
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Terminate.argtypes = ()
        lib.espeak_Terminate.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _BUFLEN_MS,
            str(self._data_path).encode(),
            _INITIALIZE_PHONEME_EVENTS,
        )
        if rate <= 0:
            self._unload(lib)
            raise RuntimeError(
                f"espeak_Initialize failed (returned {rate}) with data path {self._data_path}; "
                f"reinstall the extra: {_INSTALL_HINT}"
            )
        if self.sample_rate and rate != self.sample_rate:
            raise RuntimeError(f"espeak-ng sample rate changed from {self.sample_rate} to {rate}")
        self.sample_rate = rate
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    def _close(self, lib: ctypes.CDLL) -> None:
        lib.espeak_Terminate()
        self._unload(lib)

    @staticmethod
    def _unload(lib: ctypes.CDLL) -> None:
        if sys.platform == "win32":  # pragma: no cover - not tested here
            import _ctypes

            _ctypes.FreeLibrary(lib._handle)
        else:
            import _ctypes

            _ctypes.dlclose(lib._handle)

    # -- synthesis

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        if n > 0 and wav:
            # string_at copies the buffer (np.ctypeslib.as_array would cache a ctypes
            # array type per chunk length).
            self._chunks.append(np.frombuffer(ctypes.string_at(wav, 2 * n), dtype=np.int16))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                name = event.id.decode("utf-8", "replace")
                self._events.append((event.type, event.sample, name))
            elif event.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append((event.type, event.sample, ""))
            i += 1
        return 0

    def speak(self, text: str, *, accent: str, variant: str, pitch: int, rate: int) -> _Speech:
        """Speak ``text`` with voice ``accent+variant`` at espeak pitch (0-100) and rate (wpm)."""
        voice = f"{accent}+{variant}" if variant else accent
        with _ESPEAK_LOCK:
            self._chunks = []
            self._events = []
            lib = self._open()
            try:
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise ValueError(f"espeak-ng has no voice {voice!r}; accents: {ACCENTS}")
                lib.espeak_SetParameter(_PARAM_RATE, int(np.clip(rate, 80, 450)), 0)
                lib.espeak_SetParameter(_PARAM_PITCH, int(np.clip(pitch, 0, 100)), 0)
                buf = ctypes.create_string_buffer(text.encode("utf-8"))
                err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                if err != 0:
                    raise RuntimeError(f"espeak_Synth failed with error {err} on {text!r}")
            finally:
                self._close(lib)
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return _Speech(samples, self.sample_rate, _phone_spans(events, len(samples)))


def _phone_spans(
    events: Sequence[tuple[int, int, str]], n_samples: int
) -> tuple[tuple[str, int, int], ...]:
    """Turn PHONEME events into (phone, start, end) in samples, pauses dropped."""
    marks = sorted(((min(max(s, 0), n_samples), t, p) for t, s, p in events), key=lambda m: m[0])
    phones = []
    for i, (start, etype, phone) in enumerate(marks):
        if etype != _EVENT_PHONEME:
            continue
        end = marks[i + 1][0] if i + 1 < len(marks) else n_samples
        if not phone or phone.startswith("_") or end <= start:
            continue  # pause or empty
        phones.append((phone, start, end))
    return tuple(phones)


def espeak_version() -> str:
    """The version of the espeak-ng library from ``espeakng-loader``."""
    with _Espeak() as engine:
        return engine.version


# --------------------------------------------------------------------------- signal


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    if orig == new:
        return x.astype(np.float32, copy=True)
    import torch
    import torchaudio

    # Zero-pad to a multiple of 0.5 s: the output is unchanged (torchaudio pads with
    # zeros too), but the convolution sees only a few distinct shapes. With one shape
    # per utterance length, oneDNN caches a primitive per shape and memory grows by
    # about 1 MB per utterance.
    n = len(x)
    bucket = orig // 2
    padded = np.zeros(-(-n // bucket) * bucket, np.float32)
    padded[:n] = x
    with torch.no_grad():
        y = torchaudio.functional.resample(torch.from_numpy(padded), orig, new)
    return y.numpy()[: -(-n * new // orig)].copy()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]
    return y.astype(np.float32)


def _room_impulse_response(rng: np.random.Generator, sr: int, rt60: float, drr_db: float):
    """Direct path plus exponentially decaying noise (60 dB down after ``rt60``)."""
    n = max(int(rt60 * sr), 2)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-np.log(1000.0) * t / rt60)
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0
    return tail.astype(np.float32)


def _coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour != "white":
        spec = np.fft.rfft(white)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        spec *= f ** (-0.5 if colour == "pink" else -1.0)
        spec[0] = 0.0
        white = np.fft.irfft(spec, n)
    return (white / max(_rms(white), 1e-12)).astype(np.float32)


def _to_int16(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > _PEAK:
        x = x * (_PEAK / peak)
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


def synthesize_phrase(
    text: str,
    *,
    accent: str = "en-us",
    variant: str = "m3",
    pitch: int = 50,
    rate: int = 160,
    sample_rate: int = 16000,
) -> tuple[np.ndarray, tuple[PhoneSpan, ...]]:
    """Speak one sentence, without any jitter or noise.

    Args:
        text: the sentence.
        accent: an espeak-ng voice, e.g. one of :data:`ACCENTS`.
        variant: a voice variant, e.g. one of :data:`VARIANTS` ("" for none).
        pitch: espeak base pitch 0-100.
        rate: words per minute (80-450).
        sample_rate: output sample rate.

    Returns:
        float32 mono audio in [-1, 1] and its phone alignment (seconds).
    """
    with _Espeak() as engine:
        speech = engine.speak(text, accent=accent, variant=variant, pitch=pitch, rate=rate)
    audio = _resample(speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, sample_rate)
    spans = tuple(
        PhoneSpan(p, round(s / speech.sample_rate, 5), round(e / speech.sample_rate, 5))
        for p, s, e in speech.phones
    )
    return audio, spans


# --------------------------------------------------------------------------- corpus


def _speakers(config: SynthConfig) -> list[_Speaker]:
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    accents = [ACCENTS[i] for i in rng.permutation(len(ACCENTS))]
    width = max(2, len(str(config.n_speakers - 1)))
    speakers = []
    for i in range(config.n_speakers):
        # Every (accent, variant) pair is distinct for up to 8 x 24 speakers, each accent
        # is used equally often and each variant n_speakers / 24 times.
        variant = variants[i % len(variants)]
        accent = accents[(i + i // len(variants)) % len(accents)]
        pitch = int(rng.integers(_SPEAKER_PITCH[0], _SPEAKER_PITCH[1] + 1))
        rate = int(rng.integers(_SPEAKER_RATE[0], _SPEAKER_RATE[1] + 1))
        speakers.append(_Speaker(f"spk{i:0{width}d}", accent, variant, pitch, rate))
    return speakers


def _babble_pool(engine: _Espeak, config: SynthConfig) -> list[np.ndarray]:
    """Neutral sentences by random voices, each scaled to unit RMS, at the output rate."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    pool = []
    for k in range(_BABBLE_POOL):
        speech = engine.speak(
            _BABBLE_TEXTS[k % len(_BABBLE_TEXTS)],
            accent=ACCENTS[int(rng.integers(len(ACCENTS)))],
            variant=VARIANTS[int(rng.integers(len(VARIANTS)))],
            pitch=int(rng.integers(_SPEAKER_PITCH[0], _SPEAKER_PITCH[1] + 1)),
            rate=int(rng.integers(_SPEAKER_RATE[0], _SPEAKER_RATE[1] + 1)),
        )
        x = _resample(
            speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, config.sample_rate
        )
        pool.append(x / max(_rms(x), 1e-9))
    return pool


def _render(
    engine: _Espeak,
    config: SynthConfig,
    speaker: _Speaker,
    text: str,
    seq: np.random.SeedSequence,
    babble: list[np.ndarray],
) -> tuple[np.ndarray, tuple[PhoneSpan, ...]]:
    """Speak one utterance with its jitter; return int16 audio and the phone alignment."""
    preset = _NOISE_PRESETS[config.noise]
    sr = config.sample_rate
    n_out = round(config.window_s * sr)
    p_rng, ir_rng, noise_rng, babble_rng = (np.random.default_rng(s) for s in seq.spawn(4))

    # All parameters are drawn in a fixed order, whatever the preset, so the streams
    # of the other draws do not depend on which effects are switched on.
    pitch = speaker.pitch + int(p_rng.integers(-_PITCH_JITTER, _PITCH_JITTER + 1))
    rate = round(speaker.rate * p_rng.uniform(*_RATE_JITTER))
    reverb_on = p_rng.random() < preset.reverb_prob
    rt60 = p_rng.uniform(*_RT60_S)
    drr_db = p_rng.uniform(*_DRR_DB)
    shift = round(p_rng.uniform(*_SHIFT_S) * sr)
    gain = 10 ** (p_rng.uniform(*_GAIN_DB) / 20)
    colour = _NOISE_COLOURS[int(p_rng.integers(len(_NOISE_COLOURS)))]
    snr_db = p_rng.uniform(*preset.snr_db) if preset.snr_db else None
    babble_on = p_rng.random() < preset.babble_prob and len(babble) >= 2
    babble_snr_db = p_rng.uniform(*preset.babble_snr_db)

    speech = engine.speak(
        text, accent=speaker.accent, variant=speaker.variant, pitch=pitch, rate=rate
    )
    x = _resample(speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, sr)
    x *= _SPEECH_RMS / max(_rms(x), 1e-9)
    speech_power = _SPEECH_RMS**2 * gain**2
    if reverb_on:
        x = _fft_convolve(x, _room_impulse_response(ir_rng, sr, rt60, drr_db))

    out = np.zeros(n_out, np.float32)
    seg = x[: max(n_out - shift, 0)]
    out[shift : shift + len(seg)] = seg * gain

    if snr_db is not None:
        noise = _coloured_noise(noise_rng, n_out, colour)
        out += noise * np.float32(np.sqrt(speech_power / 10 ** (snr_db / 10)))
    if babble_on:
        mix = np.zeros(n_out, np.float32)
        for k in babble_rng.choice(len(babble), size=2, replace=False):
            clip = babble[int(k)]
            offset = int(babble_rng.integers(-len(clip) // 2, n_out // 2))
            lo, hi = max(offset, 0), min(offset + len(clip), n_out)
            if hi > lo:
                mix[lo:hi] += clip[lo - offset : hi - offset]
        level = _rms(mix)
        if level > 0:
            out += mix * np.float32(np.sqrt(speech_power / 10 ** (babble_snr_db / 10)) / level)

    window = n_out / sr
    offset_s = shift / sr
    spans = []
    for phone, start, end in speech.phones:
        t0 = offset_s + start / speech.sample_rate
        t1 = min(offset_s + end / speech.sample_rate, window)
        if t0 < window and t1 > t0:
            spans.append(PhoneSpan(phone, round(t0, 5), round(t1, 5)))
    return _to_int16(out), tuple(spans)


def _plan(config: SynthConfig, speakers: list[_Speaker]):
    """Yield (speaker index, speaker, utterance index, utterance id, intent, text)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    for s, speaker in enumerate(speakers):
        u = 0
        for intent in config.intents:
            order = rng.permutation(len(intent.phrasings))
            for r in range(config.repeats_per_intent):
                text = intent.phrasings[int(order[r % len(order)])]
                yield s, speaker, u, f"{speaker.id}_u{u:04d}", intent, text
                u += 1


def _write_corpus(tmp: Path, config: SynthConfig, progress: bool) -> None:
    import soundfile as sf
    from tqdm.auto import tqdm

    speakers = _speakers(config)
    utterances: list[Utterance] = []
    with _Espeak() as engine:
        preset = _NOISE_PRESETS[config.noise]
        babble = _babble_pool(engine, config) if preset.babble_prob > 0 else []
        bar = tqdm(
            total=config.n_utterances, desc="synthesising speech", unit="utt", disable=not progress
        )
        with bar:
            for s, speaker, u, utt_id, intent, text in _plan(config, speakers):
                seq = np.random.SeedSequence([config.seed, 1, s, u])
                audio, spans = _render(engine, config, speaker, text, seq, babble)
                rel = Path("wavs") / speaker.id / f"{utt_id}.wav"
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(tmp / rel, audio, config.sample_rate, subtype="PCM_16", format="WAV")
                utterances.append(
                    Utterance(
                        id=utt_id,
                        audio=rel.as_posix(),
                        speaker=speaker.id,
                        duration=round(len(audio) / config.sample_rate, 6),
                        sample_rate=config.sample_rate,
                        text=text,
                        labels=intent.labels(),
                        alignment=spans,
                    )
                )
                bar.update(1)
        version = engine.version
    write_manifest(tmp / "manifest.jsonl", utterances)
    rows = ["speaker\taccent\tvariant\tpitch\trate"]
    rows += [f"{k.id}\t{k.accent}\t{k.variant}\t{k.pitch}\t{k.rate}" for k in speakers]
    atomic_write_text(tmp / "speakers.tsv", "\n".join(rows) + "\n")
    info = {
        "format": CORPUS_FORMAT,
        "format_version": CORPUS_FORMAT_VERSION,
        "config": config.to_json(),
        "espeak_ng_version": version,
        "counts": {
            "speakers": len(speakers),
            "intents": len(config.intents),
            "utterances": len(utterances),
        },
    }
    atomic_write_text(tmp / "corpus.json", json.dumps(info, indent=2, sort_keys=True) + "\n")


def _read_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _same_config(info: dict[str, Any] | None, config: SynthConfig) -> bool:
    return (
        info is not None
        and info.get("format") == CORPUS_FORMAT
        and info.get("config") == json.loads(json.dumps(config.to_json()))
    )


def _corpus(root: Path, config: SynthConfig) -> SynthCorpus:
    return SynthCorpus(root, root / "manifest.jsonl", root / "speakers.tsv", config)


def synthesize_corpus(
    output_dir: str | os.PathLike,
    config: SynthConfig = SynthConfig(),
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> SynthCorpus:
    """Synthesise a spoken-command corpus into ``output_dir`` (or reuse it).

    The corpus is written into a temporary sibling directory and renamed into place
    at the end, so ``output_dir`` never holds a half-written corpus.

    Args:
        output_dir: the corpus root.
        config: what to synthesise; the defaults are the measured "mid noise" design
            (48 speakers x 28 intents x 2 = 2688 utterances).
        progress: show a progress bar.
        overwrite: replace an existing corpus with a different config.

    Returns:
        The corpus. If ``output_dir/corpus.json`` already records the same config the
        existing corpus is returned without synthesising anything.

    Raises:
        ValueError: ``output_dir`` holds a corpus with another config (and
            ``overwrite`` is False), or holds files that are not a synthetic corpus.
        ImportError: the ``synth`` extra (espeak-ng) is not installed.
    """
    if not isinstance(config, SynthConfig):
        raise TypeError(f"config must be a SynthConfig, got {type(config).__name__}")
    root = Path(output_dir).expanduser().resolve()
    info_path = root / "corpus.json"
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} exists and is not a directory; choose another output_dir")
    if info_path.is_file():
        info = _read_info(info_path)
        if not overwrite:
            if _same_config(info, config):
                print(f"reusing the synthetic corpus at {root} (same config)")
                return _corpus(root, config)
            found = info.get("config") if info else "an unreadable corpus.json"
            raise ValueError(
                f"{root} holds a synthetic corpus with another config ({found}); pass "
                "overwrite=True to replace it, or choose another output directory"
            )
    elif root.is_dir() and any(root.iterdir()):
        raise ValueError(
            f"{root} is not empty and holds no synthetic corpus (no corpus.json); "
            "refusing to write into it or delete it: choose another output directory"
        )

    _import_loader()  # fail early with the install hint
    root.parent.mkdir(parents=True, exist_ok=True)
    # A hidden sibling (same file system, so the final rename is atomic), made with
    # mkdir rather than mkdtemp so the corpus gets the usual umask permissions.
    tmp = root.parent / f".{root.name}.synth-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_corpus(tmp, config, progress)
        _move_into_place(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _corpus(root, config)


def _move_into_place(tmp: Path, root: Path) -> None:
    old = None
    if root.exists():
        if any(root.iterdir()):
            # An existing corpus being overwritten: move it aside first, delete it after.
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, old / "corpus")
        else:
            root.rmdir()
    try:
        os.replace(tmp, root)
    except OSError:
        if old is not None and not root.exists():
            os.replace(old / "corpus", root)  # put the previous corpus back
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
