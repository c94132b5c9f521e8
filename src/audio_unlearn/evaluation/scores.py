"""Output-distribution scores of forgetting: ZRF, spk-ZRF, activation distance, JS divergence.

Pure functions over probability tensors (pass ``logits.softmax(-1)``) or embeddings.

- **ZRF** (Zero Retrain Forgetting; Chundawat et al., "Can Bad Teaching Induce
  Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023):
  ``ZRF = 1 - (1/n) sum_i JS(M(x_i), T_d(x_i))`` over the forget set, with ``M`` the
  unlearned model and ``T_d`` a randomly initialised ("incompetent") teacher. 1 = the
  model is as uninformative on forget as a random network.
- **spk-ZRF** (Kim et al., "Do Not Mimic My Voice: Speaker Identity Unlearning for
  Zero-Shot Text-to-Speech", ICML 2025): per forget item, ``e_a`` = speaker embedding of
  the unlearned model's output given the forget prompt and text, ``e_b`` = of the
  *original* model's output given the text only (no prompt: a random voice);
  ``p = softmax(zscore(e))`` over embedding dimensions (z-score with the population
  standard deviation, as NumPy's ``std``); ``spk-ZRF = 1 - mean_i JSD(p_a, p_b)``.
- **Activation distance** (Chundawat et al. 2023, after Golatkar et al. 2020): mean L2
  distance between the unlearned and the retrained model's output probabilities on forget.
- **JS divergence to the retrained model**: mean JSD between the same two distributions.

Log base: natural log by default (JSD in ``[0, ln 2]``), as in the TGU release (SciPy's
``jensenshannon`` squared) and Chundawat et al.'s code; ``log_base=2`` gives JSD in
``[0, 1]`` (one third-party port's choice). The base is recorded in every result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "ZRFResult",
    "activation_distance",
    "js_divergence",
    "js_to_retrained",
    "spk_zrf",
    "zrf",
    "zscore_softmax",
]

_PROB_TOL = 1e-4


def _log_base(log_base: Any) -> tuple[str, float]:
    if log_base in ("e", math.e):
        return "e", 1.0
    if log_base in (2, "2", 2.0):
        return "2", math.log(2.0)
    raise ValueError(f"log_base must be 'e' (natural log, the default) or 2, got {log_base!r}")


def _tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or array, got {type(x).__name__}")
    x = x.detach().to("cpu", torch.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, K) with N, K >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf")
    return x


def _probs(x: Any, name: str) -> torch.Tensor:
    p = _tensor(x, name)
    if (p < 0).any():
        raise ValueError(f"{name} has negative entries; pass probabilities (logits.softmax(-1))")
    sums = p.sum(1)
    bad = (sums - 1).abs() > _PROB_TOL
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(
            f"{name} row {i} sums to {float(sums[i]):.6f}, not 1; pass probabilities "
            "(logits.softmax(-1)), not logits"
        )
    return p


def _pair(a: torch.Tensor, b: torch.Tensor, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{na} and {nb} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)} (rows paired item by item)"
        )


def _xlogy_ratio(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    # p * log(p / m), with 0 log 0 = 0 (m > 0 wherever p > 0)
    return torch.where(p > 0, p * (torch.log(p) - torch.log(m.clamp_min(1e-300))), 0.0)


def js_divergence(p: Any, q: Any, *, log_base: Any = "e") -> torch.Tensor:
    """Jensen-Shannon divergence per row: ``JSD = KL(p||m)/2 + KL(q||m)/2``, ``m = (p+q)/2``.

    Args:
        p: Probabilities ``(N, K)`` (or ``(K,)``).
        q: Probabilities, same shape.
        log_base: ``"e"`` (default; range ``[0, ln 2]``) or ``2`` (range ``[0, 1]``).

    Returns:
        Per-row divergence ``(N,)``, float64.
    """
    _, scale = _log_base(log_base)
    pp, qq = _probs(p, "p"), _probs(q, "q")
    _pair(pp, qq, "p", "q")
    m = 0.5 * (pp + qq)
    jsd = 0.5 * _xlogy_ratio(pp, m).sum(1) + 0.5 * _xlogy_ratio(qq, m).sum(1)
    return jsd.clamp_min(0.0) / scale


@dataclass(frozen=True)
class ZRFResult:
    """A ZRF-style score with its provenance.

    Attributes:
        value: ``1 - mean JSD`` (higher = closer to the reference's randomness).
        mean_js: Mean JS divergence.
        per_item_js: JSD of each item, ``(N,)``.
        log_base: ``"e"`` or ``"2"``.
    """

    value: float
    mean_js: float
    per_item_js: torch.Tensor
    log_base: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "mean_js": self.mean_js,
            "log_base": self.log_base,
            "n": int(self.per_item_js.numel()),
        }


def zrf(unlearned_probs: Any, incompetent_probs: Any, *, log_base: Any = "e") -> ZRFResult:
    """Zero Retrain Forgetting score (Chundawat et al., AAAI 2023).

    Args:
        unlearned_probs: The unlearned model's output probabilities on forget, ``(N, K)``.
        incompetent_probs: A randomly initialised model's probabilities on the same
            inputs, ``(N, K)``.
        log_base: ``"e"`` (default) or ``2``.

    Returns:
        ``ZRFResult`` with ``value = 1 - mean_i JSD``.
    """
    base, _ = _log_base(log_base)
    per_item = js_divergence(unlearned_probs, incompetent_probs, log_base=log_base)
    mean = float(per_item.mean())
    return ZRFResult(1.0 - mean, mean, per_item, base)


def zscore_softmax(embeddings: Any) -> torch.Tensor:
    """``softmax(zscore(e))`` over the embedding dimensions of each row (spk-ZRF's mapping
    of a speaker embedding to a distribution). Population std (``ddof=0``)."""
    e = _tensor(embeddings, "embeddings")
    std = e.std(dim=1, correction=0, keepdim=True)
    if (std == 0).any():
        i = int(torch.nonzero(std[:, 0] == 0)[0])
        raise ValueError(f"embedding row {i} is constant; its z-score is undefined")
    z = (e - e.mean(dim=1, keepdim=True)) / std
    return torch.softmax(z, dim=1)


def spk_zrf(
    unlearned_embeddings: Any, original_random_embeddings: Any, *, log_base: Any = "e"
) -> ZRFResult:
    """spk-ZRF of the TGU paper (Kim et al., ICML 2025).

    Args:
        unlearned_embeddings: ``e_a``, speaker embeddings of the unlearned model's speech
            for forget item i (forget prompt + text), ``(N, D)``.
        original_random_embeddings: ``e_b``, embeddings of the *original* model's speech for
            the same text without an audio prompt, ``(N, D)``, paired by row.
        log_base: ``"e"`` (default, the paper's) or ``2``.

    Returns:
        ``ZRFResult``: ``value = 1 - mean_i JSD(softmax(z(e_a_i)), softmax(z(e_b_i)))``;
        equals 1 when the embeddings coincide. (Unlike the released scorer, which asserts
        the two distributions are *equal* and so fails on every real pair.)
    """
    ea = _tensor(unlearned_embeddings, "unlearned_embeddings")
    eb = _tensor(original_random_embeddings, "original_random_embeddings")
    _pair(ea, eb, "unlearned_embeddings", "original_random_embeddings")
    return zrf(zscore_softmax(ea), zscore_softmax(eb), log_base=log_base)


def activation_distance(unlearned_probs: Any, retrained_probs: Any) -> float:
    """Mean L2 distance between two models' output probabilities on the forget set.

    Args:
        unlearned_probs: ``(N, K)`` probabilities of the unlearned model.
        retrained_probs: ``(N, K)`` probabilities of the model retrained without forget.

    Returns:
        ``mean_i ||p_u(x_i) - p_r(x_i)||_2`` (0 = identical outputs).
    """
    pu = _probs(unlearned_probs, "unlearned_probs")
    pr = _probs(retrained_probs, "retrained_probs")
    _pair(pu, pr, "unlearned_probs", "retrained_probs")
    return float((pu - pr).norm(dim=1).mean())


def js_to_retrained(
    unlearned_probs: Any, retrained_probs: Any, *, log_base: Any = "e"
) -> dict[str, Any]:
    """Mean JS divergence between the unlearned and retrained models' outputs on forget.

    Returns:
        ``{"js": mean JSD, "log_base": "e" | "2", "n": N}``.
    """
    base, _ = _log_base(log_base)
    per_item = js_divergence(unlearned_probs, retrained_probs, log_base=log_base)
    return {"js": float(per_item.mean()), "log_base": base, "n": int(per_item.numel())}
