"""Confidence radius beta_t of the one-pass OMD confidence set (ALGORITHMS.md 2.2, Lemma 1).

    C_t = { theta : ||theta - theta_t||_{Hcal_t} <= beta_t },  P(theta* in C_t for all t) >= 1 - delta.

Theory **(reading)**: beta_t = sqrt(C_t) with the quantity of the paper's appendix

    C_t = 22 eta (3 log(1 + 2t) + 2 + L B) log(2 sqrt(1 + 2t) / delta) + 4 eta
          + 2 eta sqrt(6 c d) log(1 + 2 t L^2 / (d lambda)) + 4 lambda B^2,   c = 7 eta / 6.

That beta_t is the square root of this quantity is our reading of the appendix; coverage is
checked empirically (theory_checks), not assumed.

Practical: beta_t = c_beta sqrt(d log(1 + t / delta)), c_beta a free parameter.

Both are compiled scalar functions so that stage algorithms can call them inside their loops;
`Radius` is the Python-side description (kind and parameters) that every run records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numba import njit

RADIUS_KINDS = {"theory": 0, "practical": 1}


@njit(cache=True)
def beta_theory(t: float, d: int, eta: float, lam: float, L: float, B: float,
                delta: float) -> float:
    """beta_t = sqrt(C_t), C_t as in the module docstring (t >= 1 the round index)."""
    c = 7.0 * eta / 6.0
    Ct = (22.0 * eta * (3.0 * math.log(1.0 + 2.0 * t) + 2.0 + L * B)
          * math.log(2.0 * math.sqrt(1.0 + 2.0 * t) / delta)
          + 4.0 * eta
          + 2.0 * eta * math.sqrt(6.0 * c * d) * math.log(1.0 + 2.0 * t * L * L / (d * lam))
          + 4.0 * lam * B * B)
    return math.sqrt(Ct)


@njit(cache=True)
def beta_practical(t: float, d: int, c_beta: float, delta: float) -> float:
    """beta_t = c_beta sqrt(d log(1 + t / delta))."""
    return c_beta * math.sqrt(d * math.log(1.0 + t / delta))


@njit(cache=True)
def beta_at(t: float, kind: int, d: int, eta: float, lam: float, L: float, B: float,
            delta: float, c_beta: float) -> float:
    """beta_t of the given kind (0 theory, 1 practical): one call site for compiled loops."""
    if kind == 0:
        return beta_theory(t, d, eta, lam, L, B, delta)
    return beta_practical(t, d, c_beta, delta)


@dataclass(frozen=True)
class Radius:
    """Which confidence radius a run uses: kind "theory" (Lemma 1 reading) or "practical"
    (c_beta sqrt(d log(1 + t/delta))), with the failure probability delta."""

    kind: str = "practical"
    delta: float = 0.05
    c_beta: float = 1.0
    """Only used by the practical radius."""

    def __post_init__(self) -> None:
        if self.kind not in RADIUS_KINDS:
            raise ValueError(f"unknown radius kind {self.kind!r}; known: {sorted(RADIUS_KINDS)}")
        if not (0.0 < self.delta < 1.0):
            raise ValueError(f"delta must be in (0, 1), got {self.delta!r}")
        if not (math.isfinite(self.c_beta) and self.c_beta >= 0.0):
            raise ValueError(f"c_beta must be finite and >= 0, got {self.c_beta!r}")

    @property
    def code(self) -> int:
        return RADIUS_KINDS[self.kind]

    @overload
    def beta(self, t: float, *, d: int, eta: float, lam: float, L: float, B: float) -> float: ...

    @overload
    def beta(self, t: np.ndarray | Sequence[float], *, d: int, eta: float, lam: float, L: float,
             B: float) -> np.ndarray | float: ...

    def beta(self, t: float | np.ndarray | Sequence[float], *, d: int, eta: float, lam: float,
             L: float, B: float) -> np.ndarray | float:
        """beta_t for an array (or scalar) of rounds t >= 1: an array for an array of at least
        one dimension, a float for a scalar (a 0-d array included)."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.array([beta_at(float(s), self.code, d, eta, lam, L, B, self.delta, self.c_beta)
                        for s in ts])
        return out if np.ndim(t) else float(out[0])
