"""``tts_steer``: inference-time speaker forgetting by activation steering (TruS).

Lee, Shin, Lee, "TruS: training-free speaker unlearning for zero-shot TTS", ICASSP 2026
(arXiv 2601.20481). The method trains nothing and writes no weights: its product is an
enrolment (a prototype, per-speaker directions and a gate) that the TTS runner applies
around the unchanged model at generation
(:mod:`audio_unlearn.models.tts.steering`). This class holds its hyper-parameters, so the
runner checks them with every other method's before any work.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from ..base import UnlearningModule
from ..registry import register_method

__all__ = ["GATES", "SpeakerSteering", "SpeakerSteeringGated"]

GATES = ("oracle", "embedding")


@register_method("tts_steer")
class SpeakerSteering(UnlearningModule):
    """TruS activation steering (applied by the TTS runner; see the module docstring).

    Args:
        model: the original TTS model (never changed).
        alpha_seen: removal strength for protected speakers that were in training (the
            paper's 1.5).
        alpha_unseen: for opt-out speakers outside training (the paper's 1.2).
        k: block rule ``c(l) < mu + k sigma`` (the paper's 1); ``None`` keeps every block.
        step_rule: inside kept blocks keep steps with ``c(l, t) < c(l)`` (the paper's).
        prototype_speakers: speakers of the prototype, one utterance each (the paper's
            30; training speakers that are neither protected nor in any trial).
        enrol_utterances: enrolment utterances per protected speaker (no trial uses them;
            the paper's 1).
        rank: directions removed per (block, step); 1 = the paper's; ``r > 1`` (ours)
            needs ``enrol_utterances >= r``.
        gate: ``"oracle"`` (steer exactly the protected speakers' prompts, the paper's
            evaluation) or ``"embedding"`` (the prompt's speaker embedding against the
            enrolled ones; threshold chosen on validation speakers).
        gate_speakers: validation speakers enrolled as if protected to choose the
            embedding gate's threshold (as many again serve as unprotected prompts).
        seed: draws the prototype speakers and the enrolment utterances.
    """

    training_free: ClassVar[bool] = True
    #: applied around generation by the runner: no new weights
    inference_time: ClassVar[bool] = True
    tasks: ClassVar[tuple[str, ...]] = ("tts",)
    uses: ClassVar[tuple[str, ...]] = ("forget",)

    def __init__(
        self,
        model: nn.Module,
        *,
        alpha_seen: float = 1.5,
        alpha_unseen: float = 1.2,
        k: float | None = 1.0,
        step_rule: bool = True,
        prototype_speakers: int = 30,
        enrol_utterances: int = 1,
        rank: int = 1,
        gate: str = "oracle",
        gate_speakers: int = 8,
        seed: int = 0,
        **shared,
    ):
        super().__init__(model, **shared)
        if gate not in GATES:
            raise ValueError(f"tts_steer: gate must be one of {GATES}, got {gate!r}")
        if not alpha_seen >= 0 or not alpha_unseen >= 0:
            raise ValueError(
                f"tts_steer: alpha_seen / alpha_unseen must be >= 0, got {alpha_seen}, "
                f"{alpha_unseen}"
            )
        if prototype_speakers < 1 or enrol_utterances < 1 or gate_speakers < 1:
            raise ValueError(
                "tts_steer: prototype_speakers, enrol_utterances and gate_speakers must be >= 1"
            )
        if not 1 <= rank <= enrol_utterances:
            raise ValueError(
                f"tts_steer: rank {rank} needs enrol_utterances >= {rank} (got {enrol_utterances})"
            )
        self.settings = {
            "alpha_seen": float(alpha_seen),
            "alpha_unseen": float(alpha_unseen),
            "k": None if k is None else float(k),
            "step_rule": bool(step_rule),
            "prototype_speakers": int(prototype_speakers),
            "enrol_utterances": int(enrol_utterances),
            "rank": int(rank),
            "gate": gate,
            "gate_speakers": int(gate_speakers),
            "seed": int(seed),
        }

    def apply(self, datamodule) -> None:
        raise RuntimeError(
            "tts_steer changes no weights: the TTS runner enrols the protected speakers and "
            "steers generation (audio_unlearn.models.tts.steering)"
        )


@register_method("tts_steer_gate")
class SpeakerSteeringGated(SpeakerSteering):
    """``tts_steer`` with the deployable embedding gate by default (so one run can hold
    both the oracle-gated reproduction and the gated service)."""

    def __init__(self, model: nn.Module, *, gate: str = "embedding", **rest):
        super().__init__(model, gate=gate, **rest)
