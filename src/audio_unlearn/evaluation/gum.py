"""GUM and CGUM: single-number summaries of an unlearning run.

Both combine three terms in ``[0, 1]`` with a weighted harmonic mean
``(1 + a + b) U E T / (a E T + b U T + U E)``, i.e. ``(1 + a + b) / (a / U + b / E + 1 / T)``:

- utility ``U``: how close the unlearned model's test macro-F1 is to the gold model's;
- efficacy ``E``: how close its membership-inference accuracy (MIA, see
  :func:`audio_unlearn.evaluation.mia.loss_mia`) is to the gold model's;
- efficiency ``T``: how much faster unlearning was than retraining the gold model.

Subscripts: ``o`` = original model, ``g`` = gold model (retrained on the retain set),
``u`` = unlearned model. Times are wall-clock seconds.

GUM is from Koudounas et al., "Alexa, can you forget me? Machine Unlearning Benchmark in
Spoken Language Understanding", Interspeech 2025 (arXiv 2505.15700); CGUM from its journal
extension (UnSLU-BENCH+, IEEE TASLP 2026).

Degenerate cases (decided here, each the limit of the formula where one exists):

- GUM efficacy, zero denominator: ``max(MIA_o, mia_u') == mia_g'`` happens exactly when
  nothing was forgotten (``MIA_u >= MIA_o``) *and* the original was already at or below the
  gold MIA (``MIA_o <= MIA_g``). ``E = 0`` there, which is the value of ``E`` at every
  nearby point and matches "GUM is 0 when nothing was forgotten".
- GUM efficacy is exactly 0 (not ``1e-14`` of rounding) when ``MIA_u >= MIA_o`` or when
  ``mia_u'`` falls to the reflection ``2 MIA_g - MIA_o`` or below (where ``mia_g'`` is the
  midpoint ``(mia_u' + MIA_o) / 2``); both are algebraic identities of the formula.
- GUM efficiency is *not* clipped by the formula: ``T < 0`` when unlearning took longer than
  retraining. Plugged into the harmonic form a negative term gives meaningless values
  (negative, a pole, or above 1: ``U = E = 1, T = -1`` gives 3). The score is therefore 0
  whenever a weighted term is ``<= 0`` (the limit of the harmonic mean as a term falls to
  0); :class:`GUMTerms` still reports the raw negative ``T`` so a report can show it.
- Zero harmonic denominator: only possible when at least two terms are 0; the score is 0
  by the rule above. A term with weight 0 (``a = 0`` or ``b = 0``) drops out.
- CGUM utility when the gold model is at or below chance (``F1_g <= 1/C``): there is no
  above-chance utility to keep; ``U = 1`` if ``F1_u > 1/C`` else 0 (the limit as
  ``F1_g -> 1/C`` from above), with a ``RuntimeWarning``.
- CGUM efficacy when ``MIA_o == MIA_g``: the tolerance ``|MIA_o - MIA_g|`` is zero;
  ``E = 1`` if ``mia_sat == MIA_g`` (nothing moved) else 0 (the limit as
  ``MIA_o -> MIA_g``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GUMTerms", "cgum", "cgum_terms", "gum", "gum_terms", "scores_from_rows"]


@dataclass(frozen=True)
class GUMTerms:
    """The parts of a GUM or CGUM score.

    Attributes:
        utility: ``U``.
        efficacy: ``E``.
        efficiency: ``T`` (for GUM, negative when unlearning was slower than retraining).
        score: The weighted harmonic mean of the three (0 if a weighted term is ``<= 0``).
    """

    utility: float
    efficacy: float
    efficiency: float
    score: float


def _check_unit(name: str, value: float) -> float:
    value = _check_number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def _check_number(name: str, value: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a number, got {value!r}") from err
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_inputs(
    f1_unlearned: float,
    f1_gold: float,
    mia_unlearned: float,
    mia_original: float,
    mia_gold: float,
    time_unlearned: float,
    time_gold: float,
    a: float,
    b: float,
) -> tuple[float, ...]:
    f1_u = _check_unit("f1_unlearned", f1_unlearned)
    f1_g = _check_unit("f1_gold", f1_gold)
    mia_u = _check_unit("mia_unlearned", mia_unlearned)
    mia_o = _check_unit("mia_original", mia_original)
    mia_g = _check_unit("mia_gold", mia_gold)
    t_u = _check_number("time_unlearned", time_unlearned)
    t_g = _check_number("time_gold", time_gold)
    if t_u < 0:
        raise ValueError(f"time_unlearned must be >= 0 seconds, got {t_u}")
    if t_g <= 0:
        raise ValueError(f"time_gold must be > 0 seconds, got {t_g}")
    a = _check_number("a", a)
    b = _check_number("b", b)
    if a < 0 or b < 0:
        raise ValueError(f"weights a and b must be >= 0, got a={a}, b={b}")
    return f1_u, f1_g, mia_u, mia_o, mia_g, t_u, t_g, a, b


def _raw_efficiency(t_u: float, t_g: float) -> float:
    return 1.0 - math.log1p(t_u) / math.log1p(t_g)


def _weighted_harmonic(u: float, e: float, t: float, a: float, b: float) -> float:
    """``(1 + a + b) U E T / (a E T + b U T + U E)``; 0 if a weighted term is <= 0."""
    weighted = [(a, u), (b, e), (1.0, t)]
    if any(w > 0 and x <= 0 for w, x in weighted):
        return 0.0
    if a > 0 and b > 0:  # the published form, evaluated as written
        return (1.0 + a + b) * u * e * t / (a * e * t + b * u * t + u * e)
    return (1.0 + a + b) / sum(w / x for w, x in weighted if w > 0)


def gum_terms(
    *,
    f1_unlearned: float,
    f1_gold: float,
    mia_unlearned: float,
    mia_original: float,
    mia_gold: float,
    time_unlearned: float,
    time_gold: float,
    a: float = 1.0,
    b: float = 1.0,
) -> GUMTerms:
    """GUM (UnSLU-BENCH) with its utility, efficacy and efficiency terms.

    ::

        mia_u' = min(MIA_u, MIA_o)
        mia_g' = min((mia_u' + MIA_o) / 2, MIA_g)
        E = 1 - ((mia_u' - mia_g') / (max(MIA_o, mia_u') - mia_g'))**2
        U = 1 - |F1_u - F1_g|
        T = 1 - ln(t_u + 1) / ln(t_g + 1)
        GUM = (1 + a + b) U E T / (a E T + b U T + U E)

    GUM is 0 when nothing was forgotten (``MIA_u >= MIA_o``), when the MIA falls to the
    gold mid-point or below (over-forgetting), and when unlearning is at least as slow as
    retraining. See the module docstring for the degenerate cases.

    Args:
        f1_unlearned: Test macro-F1 of the unlearned model.
        f1_gold: Test macro-F1 of the gold model.
        mia_unlearned: MIA accuracy of the unlearned model.
        mia_original: MIA accuracy of the original model.
        mia_gold: MIA accuracy of the gold model.
        time_unlearned: Unlearning wall-clock time in seconds (``>= 0``).
        time_gold: Gold retraining wall-clock time in seconds (``> 0``).
        a: Weight of utility.
        b: Weight of efficacy (efficiency has weight 1).

    Returns:
        The three terms and the score.

    Raises:
        ValueError: If an F1 or MIA lies outside ``[0, 1]``, a time is negative,
            ``time_gold`` is 0, a weight is negative, or any input is not finite.
    """
    f1_u, f1_g, mia_u, mia_o, mia_g, t_u, t_g, a, b = _check_inputs(
        f1_unlearned,
        f1_gold,
        mia_unlearned,
        mia_original,
        mia_gold,
        time_unlearned,
        time_gold,
        a,
        b,
    )
    mia_u_sat = min(mia_u, mia_o)
    midpoint = (mia_u_sat + mia_o) / 2.0
    mia_g_sat = min(midpoint, mia_g)
    denominator = max(mia_o, mia_u_sat) - mia_g_sat
    if denominator == 0.0 or mia_u_sat >= mia_o or midpoint <= mia_g:
        # Zero denominator (nothing forgotten with MIA_o <= MIA_g), nothing forgotten
        # (ratio exactly 1), or over-forgetting (mia_g' is the midpoint: ratio exactly -1).
        efficacy = 0.0
    else:
        efficacy = 1.0 - ((mia_u_sat - mia_g_sat) / denominator) ** 2
    utility = 1.0 - abs(f1_u - f1_g)
    efficiency = _raw_efficiency(t_u, t_g)
    score = _weighted_harmonic(utility, efficacy, efficiency, a, b)
    return GUMTerms(utility=utility, efficacy=efficacy, efficiency=efficiency, score=score)


def gum(
    *,
    f1_unlearned: float,
    f1_gold: float,
    mia_unlearned: float,
    mia_original: float,
    mia_gold: float,
    time_unlearned: float,
    time_gold: float,
    a: float = 1.0,
    b: float = 1.0,
) -> float:
    """GUM score in ``[0, 1]``; see :func:`gum_terms` for the formula and arguments."""
    return gum_terms(
        f1_unlearned=f1_unlearned,
        f1_gold=f1_gold,
        mia_unlearned=mia_unlearned,
        mia_original=mia_original,
        mia_gold=mia_gold,
        time_unlearned=time_unlearned,
        time_gold=time_gold,
        a=a,
        b=b,
    ).score


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def cgum_terms(
    *,
    f1_unlearned: float,
    f1_gold: float,
    mia_unlearned: float,
    mia_original: float,
    mia_gold: float,
    time_unlearned: float,
    time_gold: float,
    n_classes: int,
    a: float = 1.0,
    b: float = 1.0,
) -> GUMTerms:
    """CGUM (UnSLU-BENCH+) with its utility, efficacy and efficiency terms.

    ::

        U = clip((F1_u - 1/C) / (F1_g - 1/C), 0, 1)
        mia_sat = min(MIA_u, MIA_o) if MIA_o >= MIA_g else max(MIA_u, MIA_o)
        E = clip(1 - |mia_sat - MIA_g| / |MIA_o - MIA_g|, 0, 1)
        T = clip(1 - ln(t_u + 1) / ln(t_g + 1), 0, 1)
        CGUM = (1 + a + b) U E T / (a E T + b U T + U E)

    Utility is measured above chance (``1/C``), efficacy rewards moving the MIA from the
    original's towards the gold's value, and every term is clipped to ``[0, 1]``. See the
    module docstring for ``F1_g <= 1/C`` and ``MIA_o == MIA_g``.

    Args:
        f1_unlearned: Test macro-F1 of the unlearned model.
        f1_gold: Test macro-F1 of the gold model.
        mia_unlearned: MIA accuracy of the unlearned model.
        mia_original: MIA accuracy of the original model.
        mia_gold: MIA accuracy of the gold model.
        time_unlearned: Unlearning wall-clock time in seconds (``>= 0``).
        time_gold: Gold retraining wall-clock time in seconds (``> 0``).
        n_classes: Number of classes ``C`` (``>= 2``).
        a: Weight of utility.
        b: Weight of efficacy (efficiency has weight 1).

    Returns:
        The three terms and the score.

    Raises:
        ValueError: As :func:`gum_terms`, and if ``n_classes`` is not an integer ``>= 2``.
    """
    f1_u, f1_g, mia_u, mia_o, mia_g, t_u, t_g, a, b = _check_inputs(
        f1_unlearned,
        f1_gold,
        mia_unlearned,
        mia_original,
        mia_gold,
        time_unlearned,
        time_gold,
        a,
        b,
    )
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    n_classes = int(n_classes)
    chance = 1.0 / n_classes
    if f1_g <= chance:
        warnings.warn(
            f"f1_gold={f1_g} is at or below chance 1/{n_classes}; CGUM utility is 1 if "
            "f1_unlearned is above chance, else 0",
            RuntimeWarning,
            stacklevel=2,
        )
        utility = 1.0 if f1_u > chance else 0.0
    else:
        utility = _clip01((f1_u - chance) / (f1_g - chance))

    mia_sat = min(mia_u, mia_o) if mia_o >= mia_g else max(mia_u, mia_o)
    tolerance = abs(mia_o - mia_g)
    if tolerance == 0.0:
        efficacy = 1.0 if mia_sat == mia_g else 0.0
    else:
        efficacy = _clip01(1.0 - abs(mia_sat - mia_g) / tolerance)

    efficiency = _clip01(_raw_efficiency(t_u, t_g))
    score = _weighted_harmonic(utility, efficacy, efficiency, a, b)
    return GUMTerms(utility=utility, efficacy=efficacy, efficiency=efficiency, score=score)


def cgum(
    *,
    f1_unlearned: float,
    f1_gold: float,
    mia_unlearned: float,
    mia_original: float,
    mia_gold: float,
    time_unlearned: float,
    time_gold: float,
    n_classes: int,
    a: float = 1.0,
    b: float = 1.0,
) -> float:
    """CGUM score in ``[0, 1]``; see :func:`cgum_terms` for the formula and arguments."""
    return cgum_terms(
        f1_unlearned=f1_unlearned,
        f1_gold=f1_gold,
        mia_unlearned=mia_unlearned,
        mia_original=mia_original,
        mia_gold=mia_gold,
        time_unlearned=time_unlearned,
        time_gold=time_gold,
        n_classes=n_classes,
        a=a,
        b=b,
    ).score


def scores_from_rows(
    unlearned: Mapping[str, Any],
    original: Mapping[str, Any],
    gold: Mapping[str, Any],
    *,
    n_classes: int,
    f1_key: str = "test_f1",
    mia_key: str = "mia",
    time_key: str = "time_s",
) -> tuple[GUMTerms, GUMTerms]:
    """GUM and CGUM terms of an unlearned model from report rows (dicts of metrics).

    The published scores use test macro-F1 and the forget-vs-test MIA (the defaults);
    UnSLU-BENCH's learning-rate selection uses the validation columns instead.

    Returns:
        ``(gum_terms, cgum_terms)``.
    """
    common = dict(
        f1_unlearned=unlearned[f1_key],
        f1_gold=gold[f1_key],
        mia_unlearned=unlearned[mia_key],
        mia_original=original[mia_key],
        mia_gold=gold[mia_key],
        time_unlearned=unlearned[time_key],
        time_gold=gold[time_key],
    )
    return gum_terms(**common), cgum_terms(**common, n_classes=n_classes)
