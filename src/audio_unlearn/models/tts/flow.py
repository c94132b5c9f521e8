"""Conditional flow matching (Lipman et al., ICLR 2023), as VoiceBox uses it: pure functions.

Optimal-transport path from noise ``x0 ~ N(0, I)`` to data ``x1``:
``x_t = (1 - (1 - sigma_min) t) x0 + t x1`` with the constant target velocity
``u_t = x1 - (1 - sigma_min) x0``. Training regresses a network ``v(x_t, t, cond)`` on
``u_t`` over the masked frames only (VoiceBox's infilling loss); sampling integrates
``dx/dt = v`` from ``t = 0`` to ``1`` with Euler or midpoint steps, optionally with
classifier-free guidance ``v = (1 + w) v_cond - w v_uncond``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

import torch

__all__ = [
    "cfm_path",
    "cfm_target",
    "guided",
    "masked_mse",
    "ode_solve",
    "solver_step",
]

#: ``(step, steps)`` of the solver step whose field evaluations are running (both
#: evaluations of a midpoint step share one step), ``None`` outside :func:`ode_solve`.
_SOLVER_STEP: ContextVar[tuple[int, int] | None] = ContextVar("solver_step", default=None)


def solver_step() -> tuple[int, int] | None:
    """``(step index, number of steps)`` of the running :func:`ode_solve` step, or ``None``.

    Inference-time steering keys its per-step directions on this: the solver's own step,
    the same whichever solver takes it (Euler: one field evaluation per step; midpoint:
    two) and however the guidance branches are passed, never a count of network calls.
    """
    return _SOLVER_STEP.get()


SOLVERS = ("euler", "midpoint")


def cfm_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """The point ``x_t`` of the OT path. ``t``: ``(batch,)``; ``x0``/``x1``: ``(batch, ...)``."""
    t = t.view(-1, *([1] * (x1.dim() - 1)))
    return (1 - (1 - sigma_min) * t) * x0 + t * x1


def cfm_target(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """The path's velocity ``u_t = x1 - (1 - sigma_min) x0`` (independent of ``t``)."""
    return x1 - (1 - sigma_min) * x0


def masked_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, per_sample: bool = False
) -> torch.Tensor:
    """Mean squared error over the frames where ``mask`` is true.

    Args:
        pred, target: ``(batch, frames, dims)``.
        mask: ``(batch, frames)`` bool, the frames that count.
        per_sample: return ``(batch,)`` means (for membership attacks) instead of one mean.
    """
    m = mask.unsqueeze(-1).to(pred.dtype)
    sq = (pred - target).pow(2) * m
    dims = pred.shape[-1]
    if per_sample:
        return sq.sum(dim=(1, 2)) / (m.sum(dim=(1, 2)) * dims).clamp_min(1.0)
    return sq.sum() / (m.sum() * dims).clamp_min(1.0)


def guided(v_cond: torch.Tensor, v_uncond: torch.Tensor, weight: float) -> torch.Tensor:
    """Classifier-free guidance ``(1 + w) v_cond - w v_uncond``."""
    return v_cond + weight * (v_cond - v_uncond)


def ode_solve(
    field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    nfe: int = 32,
    solver: str = "midpoint",
) -> torch.Tensor:
    """Integrate ``dx/dt = field(x, t)`` from ``t = 0`` to ``1``.

    Args:
        field: ``(x, t) -> velocity``; ``t`` is a ``(batch,)`` tensor.
        x0: the start (noise), ``(batch, ...)``.
        nfe: function evaluations: Euler takes ``nfe`` steps, midpoint ``nfe // 2``.
        solver: ``"euler"`` or ``"midpoint"``.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    steps = nfe if solver == "euler" else nfe // 2
    if steps < 1:
        raise ValueError(f"nfe={nfe} gives no {solver} step (midpoint needs nfe >= 2)")
    x = x0
    dt = 1.0 / steps
    batch = x0.shape[0]
    for k in range(steps):
        t = torch.full((batch,), k * dt, device=x0.device, dtype=x0.dtype)
        token = _SOLVER_STEP.set((k, steps))
        try:
            v = field(x, t)
            if solver == "euler":
                x = x + dt * v
            else:
                x_mid = x + 0.5 * dt * v
                x = x + dt * field(x_mid, t + 0.5 * dt)
        finally:
            _SOLVER_STEP.reset(token)
    return x
