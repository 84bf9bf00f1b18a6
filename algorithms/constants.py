"""Step size and regulariser of the one-pass OMD estimator (ALGORITHMS.md 2.1).

Theory (the paper's Theorem/Lemma 1 constants):

    eta    = (1/2) log 2 + (B L + 1)
    lambda = 84 sqrt(2) eta (d L^2 + B L^3)

These make lambda large (about 2.8e3 at d = 5, B = 2, L = 1), so learning is slow. Practical
runs use constants chosen by evidence (`practical_constants`):

    eta = PRACTICAL_ETA = 1,   lambda = PRACTICAL_LAM_PER_L2 L^2 = L^2.

The rule that chose them is the `constants-sweep` spec of paper_repro
(`paper_repro.constants_sweep`; `python -m paper_repro constants-sweep`), which states it, runs
it through the result store and reports its tables. Over the grid eta in {theory, 0.5, 1, 2} x
lambda in {L^2/4, L^2, 4 L^2}, on the synthetic families (random directions, uniform pairs;
d = 5, B = 2; d = 10, B = 2; d = 10, B = 3) and on selection streams only: the admissible pairs
are those whose worst ratio, over the families, of one-pass OMD's final estimation error
||theta_{T+1} - theta*|| to the MLE's (lambda = L^2, same streams, T = 5,000) is within 5 % of
the best such ratio; the chosen pair is the admissible one of least worst ratio of Algorithm 4's
cumulative regret (T = 2,000) to the least regret on the grid. Held-out streams are reported,
never used. At the quick scale the rule picks eta = 1, lambda = L^2 (worst error ratio 0.99 on
the selection streams, 0.97 held out, against 1.32 and 1.39 for the theory eta with lambda =
4 L^2; worst regret ratio 1.03). The SGD baseline's learning rate is swept over {0.1, 0.3, 1,
3}: 1 (its default) wins. Both kinds are offered and every run records which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.validation import check_count, check_positive


@dataclass(frozen=True)
class OMDConstants:
    """Step size eta, regulariser lam, and which rule produced them ("theory" or "practical")."""

    eta: float
    lam: float
    kind: str


def _check(d: int, L: float, B: float) -> tuple[int, float, float]:
    """d a positive integer, L and B in the scale range of sim.core.validation."""
    return check_count("dimension d", d, 1), check_positive("L", L), check_positive("B", B)


def _checked_constant(name: str, value: float, rule: str) -> float:
    try:
        return check_positive(name, value)
    except ValueError as e:
        raise ValueError(f"{e} ({name} = {rule})") from None


def theory_eta(L: float, B: float) -> float:
    """eta = (1/2) log 2 + (B L + 1)."""
    _, L, B = _check(1, L, B)
    return 0.5 * math.log(2.0) + (B * L + 1.0)


def theory_constants(d: int, L: float, B: float) -> OMDConstants:
    """The paper's constants: eta as `theory_eta`, lambda = 84 sqrt(2) eta (d L^2 + B L^3)."""
    d, L, B = _check(d, L, B)
    eta = theory_eta(L, B)
    lam = _checked_constant("lam", 84.0 * math.sqrt(2.0) * eta * (d * L**2 + B * L**3),
                            "84 sqrt(2) eta (d L^2 + B L^3)")
    return OMDConstants(eta=eta, lam=lam, kind="theory")


PRACTICAL_ETA = 1.0
"""Step size of the practical constants (chosen by the rule of the module docstring)."""
PRACTICAL_LAM_PER_L2 = 1.0
"""lambda / L^2 of the practical constants (chosen by the rule of the module docstring)."""
PREVIOUS_PRACTICAL = ("theory eta", 4.0)
"""The practical constants before the evidence-based choice: the theory eta, lambda = 4 L^2."""


def practical_constants(d: int, L: float, B: float, lam: float | None = None,
                        eta: float | None = None) -> OMDConstants:
    """The practical constants: eta = 1 and lambda = L^2 unless given, chosen by the rule of the
    module docstring (the `constants-sweep` spec, `paper_repro.constants_sweep`)."""
    d, L, B = _check(d, L, B)
    lam = (_checked_constant("lam", PRACTICAL_LAM_PER_L2 * L**2, "L^2") if lam is None
           else check_positive("lam", lam))
    eta = PRACTICAL_ETA if eta is None else check_positive("eta", eta)
    return OMDConstants(eta=eta, lam=lam, kind="practical")
