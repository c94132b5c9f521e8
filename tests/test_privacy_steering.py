"""``audio-unlearn forget --method tts_steer``: an inference-time request for a deployed TTS
service writes an enrolment file and a record that says the weights still hold the voice;
the service generates through it."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.cli import main
from audio_unlearn.data.manifest import PhoneSpan, Utterance, write_manifest
from audio_unlearn.models.tts import (
    DurationTable,
    FlowMatchingTTS,
    FlowMatchingTTSConfig,
    MelConfig,
    PhoneVocabulary,
    load_tts,
    save_tts,
)
from audio_unlearn.privacy.steering import SteeredService, forget_by_steering

SR = 16_000
PHONES = ("a", "b", "k", "s")


def _utt(root: Path, speaker: str, k: int, f0: float) -> Utterance:
    rng = np.random.default_rng(zlib.crc32(f"{speaker}|{k}".encode()))
    n = 3 + k % 3
    seconds = 0.05 + 0.1 * n + 0.3
    t = np.arange(int(seconds * SR)) / SR
    wav = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    wav = 0.3 * wav / np.abs(wav).max() + 0.01 * rng.standard_normal(t.size)
    path = root / f"{speaker}_{k}.wav"
    sf.write(path, wav.astype(np.float32), SR)
    spans = tuple(PhoneSpan(PHONES[(k + j) % 4], 0.05 + 0.1 * j, 0.15 + 0.1 * j) for j in range(n))
    return Utterance(
        id=f"{speaker}_{k}",
        audio=str(path),
        speaker=speaker,
        duration=seconds,
        sample_rate=SR,
        text="ab",
        alignment=spans,
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A tiny 'deployed' TTS checkpoint, its training manifest (6 speakers x 4), a manifest
    of one opt-out speaker outside training, and a request for one of each."""
    root = tmp_path_factory.mktemp("steer_service")
    train = [_utt(root, f"s{i}", k, 100.0 + 30 * i) for i in range(6) for k in range(4)]
    outside = [_utt(root, "x0", k, 330.0) for k in range(2)]
    write_manifest(root / "train.jsonl", train)
    write_manifest(root / "outside.jsonl", outside)
    vocab = PhoneVocabulary.from_utterances(train)
    torch.manual_seed(0)
    cfg = FlowMatchingTTSConfig(n_phones=len(vocab), d_model=32, n_layers=2, n_heads=2, d_phone=8)
    model = FlowMatchingTTS(cfg).eval()
    save_tts(root / "tts.pt", model, vocab, DurationTable.from_utterances(train), MelConfig())
    (root / "request.yaml").write_text("id: req-7\nspeakers: [s0, x0]\nreason: opt-out\n")
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SMALL = {"prototype_speakers": 3, "k": None, "gate_speakers": 2}
SAMPLER = {"nfe": 4, "solver": "euler"}


def test_inference_time_request_writes_an_enrolment_not_weights(service, tmp_path):
    before = _sha(service / "tts.pt")
    record = forget_by_steering(
        service / "tts.pt",
        service / "train.jsonl",
        service / "request.yaml",
        tmp_path / "out",
        method="tts_steer",
        hparams=SMALL,
        enrol_manifest=service / "outside.jsonl",
        sampler=SAMPLER,
    )
    assert record["kind"] == "inference-time"
    assert "still hold every voice" in record["weights"]
    assert "not make a released checkpoint forget" in record["weights"]
    assert record["speakers"] == {"seen": ["s0"], "unseen_opt_out": ["x0"]}
    assert _sha(service / "tts.pt") == before == record["checkpoint"]["sha256"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "enrolment.steer.pt",
        "record.json",
        "record.md",
    ]  # no checkpoint
    assert json.loads((tmp_path / "out" / "record.json").read_text())["request"]["id"] == "req-7"
    assert "still hold every voice" in (tmp_path / "out" / "record.md").read_text()
    # the service: an oracle gate steers the claimed protected speakers only
    ckpt = load_tts(service / "tts.pt")
    svc = SteeredService(ckpt.model, tmp_path / "out" / "enrolment.steer.pt")
    assert svc.assign(speakers=["s0", "s3", "x0"]) == ["s0", None, "x0"]
    assert svc.alphas == {"s0": 1.5, "x0": 1.2}
    g = torch.Generator().manual_seed(0)
    phones = torch.randint(1, len(ckpt.vocab), (1, 40), generator=g)
    prompt = torch.randn(1, 40, 80, generator=g) - 5
    infill = torch.zeros(1, 40, dtype=torch.bool)
    infill[:, 20:] = True
    noise = torch.randn(1, 40, 80, generator=g)

    def gen():
        return ckpt.model.generate(
            phones, torch.tensor([40]), prompt=prompt, infill=infill, noise=noise, **SAMPLER
        )

    plain = gen()
    with svc.steering(["s0"]):
        steered = gen()
    with svc.steering([None]):
        untouched = gen()
    assert not torch.allclose(steered, plain, atol=1e-4)
    assert torch.equal(untouched, plain)
    # another model is refused
    torch.manual_seed(1)
    other = FlowMatchingTTS(ckpt.model.config)
    with pytest.raises(ValueError, match="recorded on model"):
        SteeredService(other, tmp_path / "out" / "enrolment.steer.pt")


def test_requests_fail_before_any_work(service, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    args = (service / "tts.pt", service / "train.jsonl", service / "request.yaml")
    with pytest.raises(ValueError, match="not an empty directory"):
        forget_by_steering(*args, tmp_path / "busy", hparams=SMALL)
    with pytest.raises(ValueError, match=r"\['x0'\].*--enrol-manifest"):
        forget_by_steering(*args, tmp_path / "a", hparams=SMALL)
    with pytest.raises(ValueError, match="prototype_speakers=30"):
        forget_by_steering(
            *args, tmp_path / "b", enrol_manifest=service / "outside.jsonl", hparams={"k": None}
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_forget_cli_with_the_embedding_gate(service, tmp_path, capsys):
    """The CLI path with the deployable gate: threshold and validation rates recorded, the
    service assigns prompts from their audio."""
    argv = [
        "forget",
        "--checkpoint",
        str(service / "tts.pt"),
        "--manifest",
        str(service / "train.jsonl"),
        "--request",
        str(service / "request.yaml"),
        "--enrol-manifest",
        str(service / "outside.jsonl"),
        "--method",
        "tts_steer_gate",
        "--out",
        str(tmp_path / "out"),
        *("--set", "prototype_speakers=3", "--set", "gate_speakers=2", "--set", "k=null"),
    ]
    assert main([*argv[:-8], "--dry-run", *argv[-8:]]) == 0
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    assert main(argv) == 0
    assert "still hold every voice" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    gate = record["gate"]
    assert gate["kind"] == "embedding" and gate["encoder"] == "resemblyzer"
    assert 0 <= gate["validation"]["false_accept_rate"] <= 1
    ckpt = load_tts(service / "tts.pt")
    svc = SteeredService(ckpt.model, tmp_path / "out" / "enrolment.steer.pt")
    import soundfile

    wav, _ = soundfile.read(str(service / "s0_2.wav"), dtype="float32")
    assigned = svc.assign([torch.from_numpy(wav)])
    assert len(assigned) == 1 and assigned[0] in (None, "s0", "x0")
