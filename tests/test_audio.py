import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.data.audio import AudioError, load_audio, save_audio


def _write(path, data, sr=16000, subtype="PCM_16"):
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def test_loads_16k_mono_float(tmp_path):
    data = 0.1 * np.sin(np.linspace(0, 100, 16000))
    wav = load_audio(_write(tmp_path / "a.wav", data))
    assert wav.dtype == torch.float32 and wav.shape == (16000,)
    assert torch.allclose(wav, torch.from_numpy(data).float(), atol=1e-4)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_file_is_rejected_with_its_name(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 3)
    with pytest.raises(AudioError, match=r"corrupt\.wav.*corrupt or not audio"):
        load_audio(bad)


def test_empty_file_is_rejected(tmp_path):
    path = _write(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(AudioError, match=r"empty\.wav.*empty"):
        load_audio(path)


def test_silent_file_is_rejected(tmp_path):
    path = _write(tmp_path / "zeros.wav", np.zeros(1600))
    with pytest.raises(AudioError, match=r"zeros\.wav.*all zeros"):
        load_audio(path)


def test_nan_file_is_rejected(tmp_path):
    data = np.full(1600, 0.1, dtype=np.float32)
    data[100] = np.nan
    path = _write(tmp_path / "nan.wav", data, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*NaN"):
        load_audio(path)


def test_stereo_is_downmixed(tmp_path):
    left = np.full(800, 0.2)
    right = np.full(800, 0.4)
    wav = load_audio(_write(tmp_path / "st.wav", np.stack([left, right], axis=1)))
    assert wav.shape == (800,)
    assert torch.allclose(wav, torch.full((800,), 0.3), atol=1e-3)


def test_other_rate_is_resampled_and_logged_once(tmp_path, caplog):
    data = 0.1 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    a = _write(tmp_path / "a.wav", data, sr=44100)
    b = _write(tmp_path / "b.wav", data, sr=44100)
    with caplog.at_level(logging.WARNING, logger="audio_unlearn.data.audio"):
        wa = load_audio(a)
        load_audio(b)
    assert abs(wa.numel() - 16000) <= 1
    assert sum("resampling 44100 Hz" in r.message for r in caplog.records) == 1


def test_too_short_is_rejected(tmp_path):
    path = _write(tmp_path / "short.wav", np.full(160, 0.1))
    with pytest.raises(AudioError, match="shorter than"):
        load_audio(path, min_duration=0.5)


def test_save_roundtrip_leaves_no_temp(tmp_path):
    wav = torch.linspace(-0.5, 0.5, 1000)
    save_audio(tmp_path / "x.wav", wav)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]
    assert torch.allclose(load_audio(tmp_path / "x.wav"), wav, atol=1e-4)
