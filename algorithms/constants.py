"""Step size and regulariser of the one-pass OMD estimator (ALGORITHMS.md 2.1).

Theory (the paper's Theorem/Lemma 1 constants):

    eta    = (1/2) log 2 + (B L + 1)
    lambda = 84 sqrt(2) eta (d L^2 + B L^3)

These make lambda large (about 2.8e3 at d = 5, B = 2, L = 1), so learning is slow; practical
runs use the same eta and a small lambda. Both are offered and every run records which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OMDConstants:
    """Step size eta, regulariser lam, and which rule produced them ("theory" or "practical")."""

    eta: float
    lam: float
    kind: str


def _check(d: int, L: float, B: float) -> None:
    if int(d) != d or d < 1:
        raise ValueError(f"dimension d must be a positive integer, got {d!r}")
    for name, v in (("L", L), ("B", B)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v!r}")


def theory_eta(L: float, B: float) -> float:
    """eta = (1/2) log 2 + (B L + 1)."""
    _check(1, L, B)
    return 0.5 * math.log(2.0) + (B * L + 1.0)


def theory_constants(d: int, L: float, B: float) -> OMDConstants:
    """The paper's constants: eta as `theory_eta`, lambda = 84 sqrt(2) eta (d L^2 + B L^3)."""
    _check(d, L, B)
    eta = theory_eta(L, B)
    lam = 84.0 * math.sqrt(2.0) * eta * (d * L**2 + B * L**3)
    return OMDConstants(eta=eta, lam=lam, kind="theory")


def practical_constants(d: int, L: float, B: float, lam: float | None = None) -> OMDConstants:
    """The theory eta with a small regulariser: lam = 4 L^2 unless given.

    4 L^2 is the smallest lambda for which the elliptic-potential bound of ALGORITHMS.md 4
    (lambda >= ||z||^2 with ||z|| <= 2L) applies without a correction term.
    """
    _check(d, L, B)
    lam = 4.0 * L**2 if lam is None else float(lam)
    if not (math.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be finite and > 0, got {lam!r}")
    return OMDConstants(eta=theory_eta(L, B), lam=lam, kind="practical")
