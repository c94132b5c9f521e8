"""Vocoders: Griffin-Lim round trip, mel conversion, SpeechBrain HiFi-GAN and Vocos adapters.

The neural vocoders are tiny, randomly initialised models written to a temporary folder
in the files their loaders read (SpeechBrain's ``hyperparams.yaml`` + ``generator.ckpt``,
Vocos's ``config.yaml`` + ``pytorch_model.bin``), so the real loading paths run offline.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torchaudio

from audio_unlearn.models.tts.mel import MelConfig, MelFrontEnd
from audio_unlearn.models.tts.vocoder import (
    GriffinLimVocoder,
    HiFiGANVocoder,
    MelConverter,
    VocoderFeatures,
    VocosVocoder,
    feature_mismatches,
    get_vocoder,
)

SR = 16_000


def chirp(seconds: float = 0.8, f0: float = 300.0, f1: float = 3000.0) -> torch.Tensor:
    """A linear chirp at amplitude 0.5, ``(samples,)``."""
    t = torch.arange(int(seconds * SR)) / SR
    return 0.5 * torch.sin(2 * math.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2))


def log_mel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two ``(1, frames, mels)`` log-mels over common frames."""
    n = min(a.shape[1], b.shape[1])
    return float((a[:, :n] - b[:, :n]).abs().mean())


# ----------------------------------------------------------------------------- Griffin-Lim

# Griffin-Lim (32 iterations) re-analysed with the same front end stays within this mean
# absolute log-mel distance of its input (measured: 0.21 nats on the chirp); a vocoder
# built for other mel settings lands far above it (measured: 1.3-1.8 nats).
GRIFFIN_LIM_BOUND = 0.35


def test_griffin_lim_round_trip_recovers_the_spectrum(seed, bound):
    torch.manual_seed(seed)  # Griffin-Lim's random initial phase
    front_end = MelFrontEnd(MelConfig())
    mel = front_end(chirp().unsqueeze(0))
    wav = GriffinLimVocoder(MelConfig(), n_iter=32)(mel)
    assert wav.shape == (1, mel.shape[1] * 160)  # frames * hop, as Vocoder.lengths says
    bound("log-mel distance (nats)", log_mel_distance(front_end(wav), mel), "<", GRIFFIN_LIM_BOUND)


@pytest.mark.parametrize(
    "wrong", [MelConfig(f_max=4000.0), MelConfig(hop_length=200)], ids=["f_max", "hop"]
)
def test_griffin_lim_with_a_wrong_mel_config_misses_the_bound(wrong, seed, bound):
    torch.manual_seed(seed)
    front_end = MelFrontEnd(MelConfig())
    mel = front_end(chirp().unsqueeze(0))
    wav = GriffinLimVocoder(wrong, n_iter=32)(mel)
    distance = log_mel_distance(front_end(wav), mel)
    bound("log-mel distance (nats)", distance, ">", 3 * GRIFFIN_LIM_BOUND)


# --------------------------------------------------------------------------- MelConverter


def htk_features(**overrides) -> VocoderFeatures:
    """Vocos-style features at the TTS's analysis settings (HTK scale, no norm)."""
    base = dict(
        sample_rate=SR,
        n_fft=1024,
        win_length=1024,
        hop_length=160,
        n_mels=80,
        mel_scale="htk",
        norm=None,
        log_floor=1e-7,
    )
    return VocoderFeatures(**{**base, **overrides})


@pytest.mark.parametrize("n_mels", [80, 100])
def test_mel_converter_maps_slaney_mels_onto_another_filterbank(n_mels, seed, bound):
    torch.manual_seed(seed)
    signal = chirp(1.0, 200.0, 6000.0) + 0.05 * torch.randn(SR)
    mel = MelConfig(win_length=1024)
    ours = MelFrontEnd(mel)(signal.unsqueeze(0))  # (1, T, 80)
    target = htk_features(n_mels=n_mels)
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR,
        n_fft=1024,
        hop_length=160,
        n_mels=n_mels,
        power=1.0,
        norm=None,
        mel_scale="htk",
    )(signal.unsqueeze(0))
    reference = reference.clamp_min(1e-7).log()  # (1, n_mels, T)
    converted = MelConverter(mel, target)(ours)
    assert converted.shape == reference.shape
    error = float((converted - reference).abs().mean())
    bound("mean |log-mel error|", error, "<", 0.3)
    if n_mels == 80:  # feeding our Slaney mels unconverted would be far off
        naive = float((ours.transpose(1, 2).clamp_min(math.log(1e-7)) - reference).abs().mean())
        bound("unconverted mean |log-mel error|", naive, ">", 2.0)


def test_mel_converter_is_the_identity_on_equal_filterbanks():
    mel = MelConfig()
    x = MelFrontEnd(mel)(chirp().unsqueeze(0))
    out = MelConverter(mel, VocoderFeatures.from_mel_config(mel))(x)
    torch.testing.assert_close(out, x.transpose(1, 2))


def test_feature_mismatches_separate_analysis_from_filterbank():
    analysis, filterbank = feature_mismatches(MelConfig(), htk_features(sample_rate=24_000))
    assert analysis == ["sample_rate 24000 (TTS: 16000)", "win_length 1024 (TTS: 640)"]
    assert any(s.startswith("mel_scale 'htk'") for s in filterbank)
    assert any(s.startswith("f_max 12000.0") for s in filterbank)
    with pytest.raises(ValueError, match="analysis settings"):
        MelConverter(MelConfig(), htk_features())


# ------------------------------------------------------------------------------ HiFi-GAN


def write_tiny_hifigan(
    folder: Path,
    *,
    upsample_factors=(4, 4, 10),
    kernels=(8, 8, 20),
    in_channels: int = 80,
    extra_yaml: str = "",
    seed: int = 0,
) -> Path:
    """A SpeechBrain HiFi-GAN folder as ``HIFIGAN.from_hparams`` reads it: the inference
    ``hyperparams.yaml`` (generator, modules, pretrainer) and ``generator.ckpt``."""
    from hyperpyyaml import load_hyperpyyaml

    folder.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(
        f"""\
        in_channels: {in_channels}
        upsample_factors: {list(upsample_factors)}
        generator: !new:speechbrain.lobes.models.HifiGAN.HifiganGenerator
          in_channels: !ref <in_channels>
          out_channels: 1
          resblock_type: "1"
          resblock_dilation_sizes: [[1, 3, 5]]
          resblock_kernel_sizes: [3]
          upsample_kernel_sizes: {list(kernels)}
          upsample_initial_channel: 32
          upsample_factors: !ref <upsample_factors>
          inference_padding: 5
          cond_channels: 0
          conv_post_bias: True
        modules:
          generator: !ref <generator>
        pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
          loadables:
            generator: !ref <generator>
        """
    )
    text = extra_yaml + "\n" + text
    (folder / "hyperparams.yaml").write_text(text)
    torch.manual_seed(seed)
    generator = load_hyperpyyaml(text)["generator"]
    torch.save(generator.state_dict(), folder / "generator.ckpt")
    return folder


def reference_hifigan_audio(folder: Path, features: torch.Tensor) -> torch.Tensor:
    """The saved generator run by hand on ``(B, mels, T)`` features, padding cut off."""
    from hyperpyyaml import load_hyperpyyaml

    generator = load_hyperpyyaml((folder / "hyperparams.yaml").read_text())["generator"]
    generator.load_state_dict(torch.load(folder / "generator.ckpt", weights_only=True))
    generator.remove_weight_norm()
    generator.eval()
    with torch.no_grad():
        wav = generator(features).squeeze(1)
    return wav


def test_hifigan_loads_through_speechbrain_and_renders_frames_times_hop(tmp_path):
    folder = write_tiny_hifigan(tmp_path / "hifigan")
    mel = MelConfig()
    vocoder = get_vocoder(f"hifigan:{folder}", mel, trust_code=True)
    assert isinstance(vocoder, HiFiGANVocoder)
    assert vocoder.features.hop_length == 160 and vocoder.features.n_mels == 80
    assert not vocoder.converter.maps_filterbank  # SpeechBrain's conventions are ours
    x = MelFrontEnd(mel)(torch.stack([chirp(0.5), chirp(0.5, 500.0, 900.0)]))
    wav = vocoder(x)
    assert wav.shape == (2, x.shape[1] * 160)
    assert vocoder.lengths(torch.tensor(x.shape[1])) == wav.shape[1]
    # The loaded weights are the saved ones (not a fresh initialisation), and SpeechBrain's
    # 5 replicate-padded frames are cut from the front: the generator without padding
    # gives the same samples except near the edges.
    direct = reference_hifigan_audio(folder, x.transpose(1, 2))
    assert direct.shape == wav.shape
    middle = slice(1600, wav.shape[1] - 1600)
    torch.testing.assert_close(wav[:, middle], direct[:, middle], atol=1e-4, rtol=1e-3)
    other = write_tiny_hifigan(tmp_path / "other", seed=1)
    assert not torch.allclose(HiFiGANVocoder(other, mel, trust_code=True)(x), wav, atol=1e-3)


def test_hifigan_with_another_hop_is_refused_with_the_matching_config(tmp_path):
    # The published speechbrain/tts-hifigan-libritts-16kHz upsamples by 8*8*2*2 = 256.
    folder = write_tiny_hifigan(
        tmp_path / "hop256",
        upsample_factors=(8, 8, 2, 2),
        kernels=(16, 16, 4, 4),
        extra_yaml="win_length: 1024\nn_fft: 1024\nsample_rate: 16000",
    )
    with pytest.raises(ValueError) as err:
        HiFiGANVocoder(folder, MelConfig(), trust_code=True)
    message = str(err.value)
    assert "hop_length 256 (TTS: 160)" in message and "win_length 1024 (TTS: 640)" in message
    assert "MelConfig(sample_rate=16000, n_fft=1024, win_length=1024, hop_length=256" in message
    fitting = HiFiGANVocoder(folder, MelConfig(win_length=1024, hop_length=256), trust_code=True)
    assert fitting(torch.zeros(1, 7, 80)).shape == (1, 7 * 256)


def test_hifigan_reads_the_stated_sample_rate_and_filterbank(tmp_path, caplog):
    folder = write_tiny_hifigan(tmp_path / "sr", extra_yaml="sample_rate: 22050")
    with pytest.raises(ValueError, match=r"sample_rate 22050 \(TTS: 16000\)"):
        HiFiGANVocoder(folder, MelConfig(), trust_code=True)
    htk = write_tiny_hifigan(
        tmp_path / "htk", extra_yaml="mel_scale: htk\nnorm: null\nn_fft: 1024\nwin_length: 640"
    )
    with caplog.at_level(logging.WARNING, logger="audio_unlearn.models.tts.vocoder"):
        vocoder = HiFiGANVocoder(htk, MelConfig(), trust_code=True)
    assert vocoder.converter.maps_filterbank
    assert "another mel filterbank" in caplog.text and "mel_scale 'htk'" in caplog.text
    with pytest.raises(ValueError, match="convert_filterbank=True"):
        HiFiGANVocoder(htk, MelConfig(), convert_filterbank=False, trust_code=True)


def test_hifigan_resamples_output_when_configured(tmp_path):
    folder = write_tiny_hifigan(tmp_path / "hifigan")
    vocoder = HiFiGANVocoder(folder, MelConfig(), output_sample_rate=24_000, trust_code=True)
    wav = vocoder(torch.zeros(2, 10, 80))
    assert vocoder.sample_rate == 24_000
    assert wav.shape == (2, 10 * 160 * 3 // 2) == (2, int(vocoder.lengths(torch.tensor(10))))


def test_hifigan_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"hyperparams\.yaml"):
        HiFiGANVocoder(tmp_path / "nowhere", MelConfig())
    with pytest.raises(ValueError, match="features say hop_length 256"):
        HiFiGANVocoder(
            write_tiny_hifigan(tmp_path / "h"),
            MelConfig(),
            features=VocoderFeatures.from_mel_config(MelConfig(hop_length=256)),
            trust_code=True,
        )


def test_a_folder_whose_yaml_runs_code_needs_explicit_trust(tmp_path):
    """HyperPyYAML calls what the file names: without ``trust_code`` the folder is refused
    before it is read (the payload does not run); with it, it runs (the flag is the gate)."""
    from audio_unlearn.evaluation.speaker import SpeechBrainECAPAEncoder
    from audio_unlearn.models.trust import UntrustedCodeError, check_spec_trust, needs_trust

    marker = tmp_path / "ran"
    payload = f"payload: !apply:pathlib.Path.touch [!new:pathlib.Path ['{marker}']]"
    folder = write_tiny_hifigan(tmp_path / "h", extra_yaml=payload)
    assert marker.exists()  # the helper loads the YAML once: the payload is live
    marker.unlink()
    for load in (
        lambda: HiFiGANVocoder(folder, MelConfig()),
        lambda: get_vocoder(f"hifigan:{folder}", MelConfig()),
        lambda: SpeechBrainECAPAEncoder(str(folder)),
        lambda: check_spec_trust(f"ecapa:{folder}", trust_code=False, setting="x"),
    ):
        with pytest.raises(UntrustedCodeError, match=r"hyperparams\.yaml names; a local folder"):
            load()
        assert not marker.exists()
    with pytest.raises(UntrustedCodeError, match="'someone' is not a known publisher"):
        check_spec_trust("ecapa:someone/ecapa", trust_code=False, setting="x")
    assert not needs_trust("speechbrain/spkrec-ecapa-voxceleb")
    assert needs_trust("someone/ecapa") and needs_trust(folder)
    check_spec_trust("ecapa", trust_code=False, setting="x")  # SpeechBrain's own default
    check_spec_trust("griffin_lim", trust_code=False, setting="x")
    HiFiGANVocoder(folder, MelConfig(), trust_code=True)
    assert marker.exists()


# --------------------------------------------------------------------------------- Vocos

HAS_VOCOS = importlib.util.find_spec("vocos") is not None


def write_tiny_vocos(
    folder: Path,
    *,
    sample_rate: int = SR,
    hop: int = 160,
    n_mels: int = 80,
    seed: int = 0,
) -> Path:
    """A Vocos folder as on the hub (config.yaml + pytorch_model.bin), tiny and random."""
    import vocos

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        textwrap.dedent(
            f"""\
            feature_extractor:
              class_path: vocos.feature_extractors.MelSpectrogramFeatures
              init_args: {{sample_rate: {sample_rate}, n_fft: 1024, hop_length: {hop},
                           n_mels: {n_mels}, padding: center}}
            backbone:
              class_path: vocos.models.VocosBackbone
              init_args: {{input_channels: {n_mels}, dim: 16, intermediate_dim: 32,
                           num_layers: 1}}
            head:
              class_path: vocos.heads.ISTFTHead
              init_args: {{dim: 16, n_fft: 1024, hop_length: {hop}, padding: center}}
            """
        )
    )
    torch.manual_seed(seed)
    model = vocos.Vocos.from_hparams(str(folder / "config.yaml"))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_vocos_without_the_package_raises_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vocos", None)  # what a missing package looks like
    with pytest.raises(ImportError, match="pip install vocos"):
        get_vocoder(f"vocos:{tmp_path}", MelConfig())


def vocos_installed(tmp_path: Path) -> bool:
    """True when ``vocos`` is installed; otherwise checks that the adapter says how to
    install it (vocos is an optional package, not a dependency) and returns False."""
    if HAS_VOCOS:
        return True
    with pytest.raises(ImportError, match="pip install vocos"):
        VocosVocoder(tmp_path, MelConfig())
    return False


def test_vocos_tiny_local_model(tmp_path):
    if not vocos_installed(tmp_path):
        return
    import vocos

    folder = write_tiny_vocos(tmp_path / "vocos16k")
    mel = MelConfig(win_length=1024)  # Vocos analyses with win_length = n_fft
    vocoder = get_vocoder(f"vocos:{folder}", mel, trust_code=True)
    assert isinstance(vocoder, VocosVocoder)
    assert vocoder.features.mel_scale == "htk" and vocoder.features.norm is None
    assert vocoder.converter.maps_filterbank
    x = MelFrontEnd(mel)(torch.stack([chirp(0.5), chirp(0.5, 500.0, 900.0)]))
    wav = vocoder(x)
    assert wav.shape == (2, x.shape[1] * 160)
    # The saved weights were loaded: the same features through the saved model by hand.
    model = vocos.Vocos.from_hparams(str(folder / "config.yaml"))
    model.load_state_dict(torch.load(folder / "pytorch_model.bin", weights_only=True))
    expected = model.decode(vocoder.converter(x)).clone()  # (T - 1) * hop samples
    torch.testing.assert_close(wav[:, : expected.shape[1]], expected)
    assert wav[:, expected.shape[1] :].abs().max() == 0  # padded to T * hop
    resampled = VocosVocoder(folder, mel, output_sample_rate=24_000, trust_code=True)(x)
    assert resampled.shape == (2, x.shape[1] * 240)


def test_vocos_with_the_published_24khz_settings_is_refused(tmp_path):
    if not vocos_installed(tmp_path):
        return
    folder = write_tiny_vocos(tmp_path / "vocos24k", sample_rate=24_000, hop=256, n_mels=100)
    with pytest.raises(ValueError) as err:
        VocosVocoder(folder, MelConfig(), trust_code=True)
    message = str(err.value)
    for part in ("sample_rate 24000 (TTS: 16000)", "hop_length 256 (TTS: 160)", "Fix:"):
        assert part in message
    assert "MelConfig(sample_rate=24000, n_fft=1024, win_length=1024, hop_length=256, " in message
    # With the matching TTS settings it loads, and resamples to 16 kHz on request.
    mel24 = MelConfig(
        sample_rate=24_000, win_length=1024, hop_length=256, n_mels=100, f_max=12_000.0
    )
    vocoder = VocosVocoder(folder, mel24, output_sample_rate=16_000, trust_code=True)
    assert vocoder.sample_rate == 16_000
    assert vocoder(torch.zeros(1, 9, 100)).shape == (1, math.ceil(9 * 256 * 2 / 3))


def test_vocos_folder_without_weights_names_the_file(tmp_path):
    if not vocos_installed(tmp_path):
        return
    folder = write_tiny_vocos(tmp_path / "v")
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"pytorch_model\.bin"):
        VocosVocoder(folder, MelConfig(win_length=1024), trust_code=True)


def test_get_vocoder_rejects_unknown_specs():
    assert isinstance(get_vocoder("griffin_lim", MelConfig(), n_iter=4), GriffinLimVocoder)
    with pytest.raises(ValueError, match="griffin_lim"):
        get_vocoder("wavenet:x", MelConfig())
    with pytest.raises(ValueError, match="names no model"):
        get_vocoder("hifigan:", MelConfig())
