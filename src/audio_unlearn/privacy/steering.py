"""An inference-time forget request for a deployed zero-shot TTS service (TruS steering).

``audio-unlearn forget --method tts_steer`` on a TTS checkpoint enrols the requested
speakers (:mod:`audio_unlearn.models.tts.steering`) and writes an *enrolment file*, not new
weights. The record says so plainly: the checkpoint still holds every voice, so this
protects a service that generates through :class:`SteeredService`, not a released
checkpoint; a later training-based request can follow it from the same checkpoint.

Speakers of the request that are in the training manifest are "seen" (``alpha_seen``);
opt-out speakers outside training come with their recordings in ``enrol_manifest``
("unseen", ``alpha_unseen``). The prototype comes from other training speakers (one
utterance each); the embedding gate's threshold is chosen on further training speakers,
half enrolled as if protected, half as unprotected prompts. Everything is checked before
any model runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["SteeredService", "forget_by_steering"]

ENROLMENT_FILE = "enrolment.steer.pt"
#: the statement every inference-time record carries
WEIGHTS_STATEMENT = (
    "The model weights are unchanged and still hold every voice, the requested ones "
    "included. This enrolment protects a deployed service that generates through it "
    "(audio_unlearn.privacy.steering.SteeredService); it does not make a released "
    "checkpoint forget. A training-based request (audio-unlearn forget --method ...) can "
    "follow it from the same checkpoint."
)
SAMPLER = {"nfe": 16, "solver": "midpoint", "guidance": 0.7, "seed": 0, "margin_s": 0.15}


def _by_speaker(utts) -> dict[str, list]:
    out: dict[str, list] = {}
    for u in sorted(utts, key=lambda u: u.id):
        out.setdefault(u.speaker, []).append(u)
    return out


def forget_by_steering(
    checkpoint: str | os.PathLike,
    manifest: str | os.PathLike,
    request: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    method: str = "tts_steer_gate",
    hparams: dict[str, Any] | None = None,
    enrol_manifest: str | os.PathLike | None = None,
    encoder: str = "resemblyzer",
    sampler: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Enrol the request's speakers for steering; write the enrolment file and the record.

    Args:
        checkpoint: the deployed TTS checkpoint (only read).
        manifest: its training manifest (phone-aligned utterances).
        request: the request file (its ``speakers``).
        out_dir: a new run directory.
        method: ``tts_steer`` (oracle gate: the service passes the claimed speaker) or
            ``tts_steer_gate`` (the prompt's speaker embedding decides).
        hparams: the method's hyper-parameters (:class:`~audio_unlearn.methods.tts.steer.
            SpeakerSteering`).
        enrol_manifest: recordings of opt-out speakers outside training.
        encoder: the speaker encoder of the embedding gate.
        sampler: the service's sampler (``nfe``, ``solver``, ``guidance``): the
            directions are per solver step, so the service must generate with these.
        dry_run: check everything and return the plan; write and run nothing.

    Returns:
        The record (also ``record.json``).

    Raises:
        ValueError: an unknown speaker, too few utterances or speakers, an occupied
            ``out_dir``; all before any model runs.
    """
    from ..data.manifest import atomic_write_text, read_manifest
    from ..methods.registry import build_method
    from ..models.tts import MelFrontEnd, load_tts
    from ..models.tts.steering import Prototype, enrol, model_hash
    from ..runners.tts_steer import draw_plan, record_utterances
    from .record import file_sha256
    from .request import load_request

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} exists and is not an empty directory; choose a new one")
    req = load_request(request)
    if not req.speakers:
        raise ValueError(
            "an inference-time request protects voices: it needs `speakers` (single "
            "utterances are forgotten by a training-based method)"
        )
    ckpt = load_tts(checkpoint)
    model, vocab = ckpt.model.eval(), ckpt.vocab
    train = [u for u in read_manifest(manifest) if u.alignment]
    extra = [u for u in read_manifest(enrol_manifest) if u.alignment] if enrol_manifest else []
    by_train, by_extra = _by_speaker(train), _by_speaker(extra)
    unknown = [s for s in req.speakers if s not in by_train and s not in by_extra]
    if unknown:
        raise ValueError(
            f"speaker(s) {unknown} have no aligned utterance in the training manifest or "
            "--enrol-manifest; give an opt-out speaker's recordings with --enrol-manifest"
        )
    s = build_method(method, model, task="tts", **(hparams or {})).settings
    sampler = {**SAMPLER, **(sampler or {})}
    seen = [spk for spk in req.speakers if spk in by_train]
    unseen = [spk for spk in req.speakers if spk not in by_train]
    candidates = sorted(set(by_train) - set(req.speakers))
    drawn = draw_plan(
        by_train, list(req.speakers), candidates, s, enrol_pool={**by_extra, **by_train}
    )
    proto_utts, enrol_utts = drawn["prototype"], drawn["enrol"]
    if dry_run:
        return {
            "kind": "inference-time (plan)",
            "method": method,
            "settings": s,
            "speakers": {"seen": seen, "unseen_opt_out": unseen},
            "prototype_speakers": [u.speaker for u in proto_utts],
            "enrolment_utterances": {k: [u.id for u in v] for k, v in enrol_utts.items()},
            "weights": WEIGHTS_STATEMENT,
        }
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    front = MelFrontEnd(ckpt.mel)
    steps = {k: sampler[k] for k in ("nfe", "solver", "guidance")}
    mhash = model_hash(model)
    proto = Prototype.from_recordings(
        record_utterances(model, vocab, front, proto_utts, sampler),
        [u.speaker for u in proto_utts],
        mhash,
        steps,
    )
    profiles = {
        spk: enrol(
            spk,
            record_utterances(model, vocab, front, utts, sampler),
            proto,
            k=s["k"],
            rank=s["rank"],
            step_rule=s["step_rule"],
        )
        for spk, utts in enrol_utts.items()
    }
    alphas = {spk: s["alpha_seen"] if spk in seen else s["alpha_unseen"] for spk in profiles}
    gate: dict[str, Any] = {"kind": s["gate"]}
    if s["gate"] == "embedding":
        gate |= _embedding_gate(drawn, encoder, ckpt, front, sampler["margin_s"])
    seconds = time.perf_counter() - start
    enrolment = {
        "method": method,
        "settings": s,
        "sampler": steps,
        "model_hash": mhash,
        "prototype": proto.__dict__,
        "profiles": {k: p.__dict__ for k, p in profiles.items()},
        "alphas": alphas,
        "gate": gate,
    }
    torch.save(enrolment, out / ENROLMENT_FILE)
    record = {
        "kind": "inference-time",
        "request": req.to_json(),
        "method": method,
        "settings": s,
        "sampler": steps,
        "speakers": {"seen": seen, "unseen_opt_out": unseen},
        "enrolment_utterances": {k: [u.id for u in v] for k, v in enrol_utts.items()},
        "prototype_speakers": [u.speaker for u in proto_utts],
        "gate": {k: v for k, v in gate.items() if k not in ("embeddings",)},
        "checkpoint": {
            "path": str(checkpoint),
            "sha256": file_sha256(checkpoint),
            "model_hash": mhash,
            "unchanged": True,
        },
        "outputs": {"enrolment": ENROLMENT_FILE, "sha256": file_sha256(out / ENROLMENT_FILE)},
        "weights": WEIGHTS_STATEMENT,
        "seconds": seconds,
        "seconds_per_speaker": seconds / len(profiles),
    }
    atomic_write_text(out / "record.json", json.dumps(record, indent=1, default=str) + "\n")
    lines = [
        f"# Inference-time forget request ({method})",
        "",
        f"**{WEIGHTS_STATEMENT}**",
        "",
        f"- seen speakers (in training): {', '.join(seen) or '-'}",
        f"- unseen opt-out speakers: {', '.join(unseen) or '-'}",
        f"- gate: {s['gate']}"
        + (
            f" (threshold {gate['threshold']:.3f}; validation false accepts "
            f"{gate['validation']['false_accept_rate']:.2f}, false rejects "
            f"{gate['validation']['false_reject_rate']:.2f})"
            if "threshold" in gate
            else ""
        ),
        f"- sampler the service must use: {steps}",
        f"- {seconds:.1f} s ({seconds / len(profiles):.1f} s per enrolled speaker); no training",
        f"- enrolment file: {ENROLMENT_FILE} (sha256 {record['outputs']['sha256'][:16]}...)",
    ]
    atomic_write_text(out / "record.md", "\n".join(lines) + "\n")
    return record


def _embedding_gate(drawn, encoder_name, ckpt, front, margin_s) -> dict[str, Any]:
    """The gate's enrolled embeddings and threshold (chosen on validation speakers): the
    prompts probed as the service crops them."""
    from ..data.audio import load_audio
    from ..evaluation.speaker import get_speaker_encoder
    from ..evaluation.tts import prompt_segment
    from ..runners.tts_steer import PROMPT_S, fit_embedding_gate

    encoder = get_speaker_encoder(encoder_name)
    rate = ckpt.mel.sample_rate

    def embed(wavs):
        return encoder.embed(wavs, sample_rate=rate).float()

    gate, facts = fit_embedding_gate(
        lambda utts: embed([load_audio(u.audio, sample_rate=rate) for u in utts]),
        lambda utts: embed(
            [
                prompt_segment(u, ckpt.vocab, front, prompt_s=PROMPT_S, margin_s=margin_s)[0]
                for u in utts
            ]
        ),
        drawn,
    )
    return {
        "encoder": encoder_name,
        **facts,
        "embeddings": dict(zip(gate.speakers, gate.embeddings, strict=True)),
    }


class SteeredService:
    """Generation through an enrolment: the deployed side of an inference-time request.

    Args:
        model: the deployed TTS model (its hash must be the enrolment's).
        enrolment: the path of an enrolment file (or its loaded dict).
        encoder: the speaker encoder of an embedding gate (None: loaded by name).
    """

    def __init__(self, model, enrolment: str | os.PathLike | dict, *, encoder=None):
        from ..models.tts.steering import EmbeddingGate, Prototype, SteeringProfile, model_hash

        data = (
            enrolment if isinstance(enrolment, dict) else torch.load(enrolment, weights_only=False)
        )
        proto = Prototype(**data["prototype"])
        proto.check(model_hash(model), proto.sampler)
        self.model = model
        self.sampler = data["sampler"]
        self.profiles = {k: SteeringProfile(**v) for k, v in data["profiles"].items()}
        self.alphas = data["alphas"]
        self.gate_kind = data["gate"]["kind"]
        self.gate = None
        if self.gate_kind == "embedding":
            from ..evaluation.speaker import get_speaker_encoder

            self.encoder = encoder or get_speaker_encoder(data["gate"]["encoder"])
            self.gate = EmbeddingGate(data["gate"]["embeddings"], data["gate"]["threshold"])

    def assign(self, prompt_wavs=None, *, speakers=None, sample_rate: int = 16_000) -> list:
        """Per prompt, the protected speaker to steer away from or None: from the prompts'
        audio (embedding gate) or from claimed speaker ids (oracle gate)."""
        if self.gate is None:
            if speakers is None:
                raise ValueError("an oracle-gate enrolment needs the prompts' speaker ids")
            return [s if s in self.profiles else None for s in speakers]
        if prompt_wavs is None:
            raise ValueError("an embedding-gate enrolment needs the prompts' audio")
        return self.gate.assign(self.encoder.embed(prompt_wavs, sample_rate=sample_rate))

    def steering(self, assignment):
        """The context manager to call ``model.generate`` in (with :attr:`sampler`)."""
        from ..models.tts.steering import Steerer

        return Steerer(self.model, self.profiles, assignment, alpha=self.alphas)
