"""Inference-time speaker forgetting by activation steering (TruS).

Lee, Shin, Lee, "TruS: training-free speaker unlearning for zero-shot TTS", ICASSP 2026
(arXiv 2601.20481). No weight changes: a protected speaker's direction is removed from the
hidden activations of the flow-matching model while it generates from that speaker's
prompt. Written for :class:`~audio_unlearn.models.tts.FlowMatchingTTS` from the paper
and the protocol notes in ``shared/anchors/inference-time-speaker-forgetting.md``:

- :class:`ActivationRecorder`: while ``generate`` runs, the output of every Transformer
  block (the residual stream after the feed-forward add), conditional branch only, each
  token L2-normalised over channels and averaged over the valid tokens; one vector per
  (block, solver step) and prompt row, shape ``(L, T, d)``. The step is the solver's own
  (:func:`~audio_unlearn.models.tts.flow.solver_step`): both evaluations of a midpoint
  step and both guidance branches, packed or separate, fall in one step (the reference
  code's call counter does not).
- :class:`Prototype`: the mean recording over other speakers (the paper's best: 30),
  stored with the model's hash and the sampler settings it was recorded under.
- :func:`enrol`: a speaker's recording ``X`` from one enrolment utterance (never one of
  the evaluation trials); directions ``u = unit(X - P)``; similarities
  ``c(l, t) = cos(X, P)``; blocks with ``c(l) < mu + k sigma`` (``c(l)`` the mean over
  steps, ``mu`` / ``sigma`` the mean and population std of the ``L`` block means); inside a
  kept block, steps with ``c(l, t) < c(l)``. With several enrolment utterances the rank-r
  extension (ours, not the paper's) removes the top ``r`` principal directions of the
  ``X_i - P``.
- :class:`Steerer`: a context manager that, on the kept (block, step) pairs, replaces
  each token's block output ``y`` by ``y - alpha U^T U y`` (``U`` the directions; rank 1:
  ``y - alpha <y, u> u``) on both guidance branches of the rows whose prompt the gate
  assigned to a protected speaker. It changes no weight; with no row assigned (or
  ``alpha = 0``) it attaches nothing and the output is bit-identical to the unsteered
  model's. (Rows left unsteered in a batch where others are steered match the unsteered
  model up to float rounding: attached hooks turn off PyTorch's fused Transformer path.)
- Gates: :class:`OracleGate` (the speaker id: the paper's evaluation) and
  :class:`EmbeddingGate` (the prompt's speaker embedding against the enrolled speakers',
  threshold chosen on validation speakers by :func:`choose_gate_threshold`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .flow import solver_step
from .voicebox import FlowMatchingTTS, field_rows

__all__ = [
    "ActivationRecorder",
    "EmbeddingGate",
    "OracleGate",
    "Prototype",
    "Steerer",
    "SteeringProfile",
    "choose_gate_threshold",
    "enrol",
    "gate_rates",
    "model_hash",
    "record",
]


def model_hash(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of the model's state: a prototype recorded on one
    model must not steer another."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _blocks(model: FlowMatchingTTS) -> Sequence[nn.Module]:
    return list(model.layers)


class _BlockHooks:
    """A forward hook on every Transformer block while the context is open."""

    model: FlowMatchingTTS
    _handles: list[Any]

    def _hook(self, block: int) -> Callable:
        raise NotImplementedError

    def _attach(self) -> None:
        self._handles = [
            b.register_forward_hook(self._hook(i), with_kwargs=True)
            for i, b in enumerate(_blocks(self.model))
        ]

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class ActivationRecorder(_BlockHooks):
    """Records block outputs during ``generate`` (see the module docstring).

    Use as a context manager around exactly the ``generate`` calls to record; then
    :meth:`vectors` gives ``(prompt rows, L, T, d)``. Rows of several ``generate`` calls
    are averaged together (call it once per batch to keep them apart).
    """

    def __init__(self, model: FlowMatchingTTS):
        self.model = model
        self.n_blocks = len(_blocks(model))
        self._sums: dict[int, torch.Tensor] = {}
        self._counts: dict[int, torch.Tensor] = {}
        self._steps: int | None = None
        self._handles: list[Any] = []

    def _hook(self, block: int) -> Callable:
        def hook(module, args, kwargs, output):
            step, rows = solver_step(), field_rows()
            if step is None or rows is None:
                return None
            k, steps = step
            if self._steps is None:
                self._steps = steps
            elif steps != self._steps:
                raise ValueError(
                    f"recorded generations with {self._steps} and {steps} solver steps; "
                    "record one sampler setting at a time"
                )
            y = output.detach().float()
            pad = kwargs.get("src_key_padding_mask")
            valid = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device)
            if pad is not None:
                valid = ~pad
            unit = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            w = valid.unsqueeze(-1).to(unit.dtype)
            means = (unit * w).sum(1) / w.sum(1).clamp_min(1.0)  # (rows, d)
            for r in torch.nonzero(rows.conditional).flatten().tolist():
                p = int(rows.prompt_row[r])
                if p not in self._sums:
                    self._sums[p] = torch.zeros(self.n_blocks, steps, y.shape[-1])
                    self._counts[p] = torch.zeros(self.n_blocks, steps)
                self._sums[p][block, k] += means[r].cpu()
                self._counts[p][block, k] += 1
            return None

        return hook

    def __enter__(self) -> ActivationRecorder:
        self._attach()
        return self

    def vectors(self) -> torch.Tensor:
        """``(prompt rows, L, T, d)``: the mean normalised block output per (block, step)."""
        if not self._sums:
            raise ValueError("nothing was recorded: run model.generate inside the recorder")
        rows = sorted(self._sums)
        if rows != list(range(len(rows))):
            raise ValueError(f"recorded prompt rows {rows} are not 0..{len(rows) - 1}")
        counts = torch.stack([self._counts[p] for p in rows])
        if bool((counts == 0).any()):
            raise ValueError("some (block, step) pairs were never recorded")
        return torch.stack([self._sums[p] for p in rows]) / counts.unsqueeze(-1)


def record(model: FlowMatchingTTS, run: Callable[[], Any]) -> torch.Tensor:
    """``(prompt rows, L, T, d)`` recorded while ``run()`` calls ``model.generate``."""
    with ActivationRecorder(model) as recorder:
        run()
    return recorder.vectors()


@dataclass
class Prototype:
    """The mean recording over reference speakers, and what it was recorded under.

    Attributes:
        vectors: ``(L, T, d)``.
        speakers: the reference speakers (one utterance each).
        model: :func:`model_hash` of the model.
        sampler: ``nfe``, ``solver`` and ``guidance`` of the recordings.
    """

    vectors: torch.Tensor
    speakers: tuple[str, ...]
    model: str
    sampler: dict[str, Any]

    @classmethod
    def from_recordings(
        cls,
        recordings: torch.Tensor,
        speakers: Sequence[str],
        model: str,
        sampler: Mapping[str, Any],
    ) -> Prototype:
        if recordings.dim() != 4 or recordings.shape[0] != len(speakers) or not speakers:
            raise ValueError(
                f"need (speakers, L, T, d) recordings for {len(speakers)} speakers, got "
                f"{tuple(recordings.shape)}"
            )
        return cls(recordings.mean(0), tuple(speakers), model, dict(sampler))

    def check(self, model_key: str, sampler: Mapping[str, Any]) -> None:
        """Refuse to steer a different model or under other sampler settings."""
        if model_key != self.model:
            raise ValueError(
                f"the prototype was recorded on model {self.model}, not {model_key}: record "
                "it again on this model"
            )
        wrong = {
            k: (self.sampler.get(k), v) for k, v in sampler.items() if self.sampler.get(k) != v
        }
        if wrong:
            raise ValueError(
                f"the prototype was recorded with other sampler settings {wrong} "
                "(prototype, now): the per-step directions only fit the same solver steps"
            )


@dataclass
class SteeringProfile:
    """One protected speaker's steering: directions and the kept (block, step) pairs.

    Attributes:
        speaker: the speaker id.
        directions: ``(L, T, r, d)`` orthonormal rows per (block, step) (``r = 1``: TruS).
        keep: ``(L, T)`` bool, where the steerer acts.
        similarity: ``(L, T)`` ``c(l, t) = cos(X, P)``.
        layers: ``(L,)`` bool, the kept blocks.
        settings: how it was enrolled (rule, k, rank, utterances).
    """

    speaker: str
    directions: torch.Tensor
    keep: torch.Tensor
    similarity: torch.Tensor
    layers: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.keep.shape[1])


def _layer_rule(
    block_means: torch.Tensor, k: float | None, blocks: Sequence[int] | None
) -> torch.Tensor:
    n = block_means.numel()
    if blocks is not None:
        bad = [b for b in blocks if not 0 <= b < n]
        if bad:
            raise ValueError(f"blocks {bad} out of range 0..{n - 1}")
        keep = torch.zeros(n, dtype=torch.bool)
        keep[list(blocks)] = True
        return keep
    if k is None:
        return torch.ones(n, dtype=torch.bool)
    mu = block_means.mean()
    sigma = block_means.std(unbiased=False)
    return block_means < mu + k * sigma


def enrol(
    speaker: str,
    recordings: torch.Tensor,
    prototype: Prototype | torch.Tensor,
    *,
    k: float | None = 1.0,
    blocks: Sequence[int] | None = None,
    rank: int = 1,
    step_rule: bool = True,
) -> SteeringProfile:
    """A speaker's :class:`SteeringProfile` from its recordings (see the module docstring).

    Args:
        speaker: the speaker id.
        recordings: ``(L, T, d)`` (one enrolment utterance) or ``(m, L, T, d)``.
        prototype: the :class:`Prototype` (or its ``(L, T, d)`` vectors).
        k: the block rule ``c(l) < mu + k sigma`` (TruS: 1); ``None``: every block.
        blocks: a fixed set of blocks instead of the rule.
        rank: directions removed per (block, step): 1 = TruS; ``r > 1`` (ours) takes the
            top ``r`` principal directions of the ``m >= r`` differences ``X_i - P``.
        step_rule: keep only steps with ``c(l, t) < c(l)`` inside kept blocks (TruS).

    Raises:
        ValueError: shapes disagree, or ``rank`` exceeds the enrolment utterances.
    """
    p = prototype.vectors if isinstance(prototype, Prototype) else prototype
    x = recordings if recordings.dim() == 4 else recordings.unsqueeze(0)
    if x.shape[1:] != p.shape:
        raise ValueError(
            f"recordings {tuple(x.shape[1:])} do not match the prototype {tuple(p.shape)}"
        )
    if not 1 <= rank <= x.shape[0]:
        raise ValueError(
            f"rank {rank} needs at least {rank} enrolment utterances, got {x.shape[0]}"
        )
    mean = x.mean(0)
    similarity = nn.functional.cosine_similarity(mean, p, dim=-1)  # (L, T)
    block_means = similarity.mean(1)
    layers = _layer_rule(block_means, k, blocks)
    keep = layers[:, None].expand_as(similarity).clone()
    if step_rule:
        keep &= similarity < block_means[:, None]
    diff = x - p  # (m, L, T, d)
    if rank == 1:
        u = diff.mean(0)
        directions = (u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)).unsqueeze(2)
    else:  # principal directions of the differences, per (block, step)
        d = diff.permute(1, 2, 0, 3)  # (L, T, m, d)
        _, _, vh = torch.linalg.svd(d, full_matrices=False)
        directions = vh[:, :, :rank]  # (L, T, r, d), orthonormal rows
    settings = {
        "k": k,
        "blocks": list(blocks) if blocks is not None else None,
        "rank": rank,
        "step_rule": step_rule,
        "utterances": int(x.shape[0]),
    }
    return SteeringProfile(speaker, directions, keep, similarity, layers, settings)


class Steerer(_BlockHooks):
    """Removes protected speakers' directions from block outputs during ``generate``.

    Args:
        model: the TTS model (its weights are never changed).
        profiles: speaker -> :class:`SteeringProfile`.
        assignment: per prompt row of the coming ``generate`` call(s), the protected
            speaker to steer away from (a gate's output) or ``None``.
        alpha: removal strength (TruS: 1.5 seen, 1.2 unseen speakers; 1 = the component
            is removed exactly; > 1 over-removes): one value, or one per speaker.
    """

    def __init__(
        self,
        model: FlowMatchingTTS,
        profiles: Mapping[str, SteeringProfile],
        assignment: Sequence[str | None],
        *,
        alpha: float | Mapping[str, float] = 1.0,
    ):
        unknown = sorted({s for s in assignment if s is not None and s not in profiles})
        if unknown:
            raise ValueError(f"no steering profile for speaker(s) {unknown}")
        self.model = model
        self.profiles = dict(profiles)
        if isinstance(alpha, Mapping):
            missing = sorted({s for s in assignment if s is not None and s not in alpha})
            if missing:
                raise ValueError(f"no alpha for speaker(s) {missing}")
            self.alphas = {s: float(a) for s, a in alpha.items()}
        else:
            self.alphas = {s: float(alpha) for s in self.profiles}
        # a row assigned a speaker whose alpha is 0 is not steered
        self.assignment = [s if s is None or self.alphas[s] != 0 else None for s in assignment]
        self._handles: list[Any] = []

    def _hook(self, block: int) -> Callable:
        def hook(module, args, kwargs, output):
            step, rows = solver_step(), field_rows()
            if step is None or rows is None:
                return None
            k, steps = step
            bases = []
            for r in range(output.shape[0]):
                p = int(rows.prompt_row[r])
                if p >= len(self.assignment):
                    raise ValueError(
                        f"the gate assigned {len(self.assignment)} prompt rows; generate "
                        f"has more (row {p})"
                    )
                speaker = self.assignment[p]
                if speaker is None:
                    bases.append(None)
                    continue
                profile = self.profiles[speaker]
                if profile.steps != steps:
                    raise ValueError(
                        f"speaker {speaker!r} was enrolled with {profile.steps} solver steps; "
                        f"this generation takes {steps}"
                    )
                bases.append(profile.directions[block, k] if profile.keep[block, k] else None)
            if all(b is None for b in bases):
                return None
            rank = max(b.shape[0] for b in bases if b is not None)
            d = output.shape[-1]
            u = torch.zeros(output.shape[0], rank, d, dtype=output.dtype, device=output.device)
            scale = torch.zeros(output.shape[0], 1, 1, dtype=output.dtype, device=output.device)
            for r, b in enumerate(bases):
                if b is not None:
                    u[r, : b.shape[0]] = b.to(output)
                    scale[r] = self.alphas[self.assignment[int(rows.prompt_row[r])]]
            coeff = torch.einsum("btd,brd->btr", output, u)
            return output - scale * torch.einsum("btr,brd->btd", coeff, u)

        return hook

    def __enter__(self) -> Steerer:
        if all(s is None for s in self.assignment):
            # nothing to steer: no hooks at all, since an attached hook turns off the
            # Transformer layers' fused inference path (other kernels, other rounding)
            return self
        self._attach()
        return self


# --------------------------------------------------------------------------- gates


class OracleGate:
    """Assigns a prompt to its true speaker when that speaker is protected (the paper's
    evaluation: steering runs exactly on protected speakers' prompts)."""

    def __init__(self, protected: Sequence[str]):
        self.protected = set(protected)

    def assign(self, speakers: Sequence[str]) -> list[str | None]:
        return [s if s in self.protected else None for s in speakers]


class EmbeddingGate:
    """Assigns a prompt to the enrolled speaker whose embedding is most cosine-similar
    to the prompt's, when that similarity reaches ``threshold``; else ``None``.

    Args:
        enrolled: speaker -> embedding ``(dim,)`` (e.g. the mean over its enrolment
            utterances).
        threshold: the cosine a prompt must reach (:func:`choose_gate_threshold`).
    """

    def __init__(self, enrolled: Mapping[str, torch.Tensor], threshold: float):
        if not enrolled:
            raise ValueError("the embedding gate needs at least one enrolled speaker")
        self.speakers = sorted(enrolled)
        e = torch.stack([torch.as_tensor(enrolled[s]).float().flatten() for s in self.speakers])
        self.embeddings = nn.functional.normalize(e, dim=-1)
        self.threshold = float(threshold)

    def scores(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(prompts, enrolled)`` cosine similarities."""
        x = nn.functional.normalize(torch.as_tensor(embeddings).float(), dim=-1)
        return x @ self.embeddings.T

    def assign(self, embeddings: torch.Tensor) -> list[str | None]:
        best, index = self.scores(embeddings).max(dim=1)
        return [
            self.speakers[int(i)] if float(b) >= self.threshold else None
            for b, i in zip(best, index, strict=True)
        ]


def gate_rates(assigned: Sequence[str | None], truth: Sequence[str | None]) -> dict[str, Any]:
    """False accepts (an unprotected prompt steered) and false rejects (a protected prompt
    left unsteered or steered as another speaker), as counts and rates.

    Args:
        assigned: the gate's output per prompt.
        truth: the protected speaker of each prompt, ``None`` for unprotected ones.
    """
    if len(assigned) != len(truth):
        raise ValueError(f"{len(assigned)} assignments for {len(truth)} prompts")
    protected = [a for a, t in zip(assigned, truth, strict=True) if t is not None]
    others = [a for a, t in zip(assigned, truth, strict=True) if t is None]
    fr = sum(a != t for a, t in zip(assigned, truth, strict=True) if t is not None)
    fa = sum(a is not None for a in others)
    return {
        "false_accepts": fa,
        "unprotected": len(others),
        "false_accept_rate": fa / len(others) if others else None,
        "false_rejects": fr,
        "protected": len(protected),
        "false_reject_rate": fr / len(protected) if protected else None,
    }


def choose_gate_threshold(
    gate_scores: torch.Tensor, truth: Sequence[str | None], speakers: Sequence[str]
) -> tuple[float, dict[str, Any]]:
    """The threshold minimising false accepts + false rejects (their rates, equally
    weighted) on validation prompts, and those rates.

    Args:
        gate_scores: ``(prompts, enrolled)`` cosines (:meth:`EmbeddingGate.scores`).
        truth: per prompt, the protected (enrolled) speaker or ``None``.
        speakers: the enrolled speakers in the score columns' order.
    """
    if gate_scores.shape != (len(truth), len(speakers)):
        raise ValueError(f"scores {tuple(gate_scores.shape)} for {len(truth)} x {len(speakers)}")
    best, index = gate_scores.max(dim=1)
    candidates = sorted({float(b) for b in best} | {float(best.max()) + 1e-6})
    chosen, chosen_rates, chosen_cost = None, None, None
    for threshold in candidates:
        assigned = [
            speakers[int(i)] if float(b) >= threshold else None
            for b, i in zip(best, index, strict=True)
        ]
        rates = gate_rates(assigned, truth)
        cost = (rates["false_accept_rate"] or 0.0) + (rates["false_reject_rate"] or 0.0)
        if chosen_cost is None or cost < chosen_cost:
            chosen, chosen_rates, chosen_cost = threshold, rates, cost
    return float(chosen), chosen_rates
