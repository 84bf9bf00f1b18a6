"""A confidence radius for the one-pass Plackett-Luce OMD (ALGORITHMS.md 2.2 and 7).

The PL confidence set is C_t = {theta : ||theta - theta_t||_{Hcal_t} <= beta_t}, Hcal_t the sum
of the ranking Hessians at the new points plus lambda I (`algorithms.pl_omd`). The pairwise
radius of Lemma 1 (`algorithms.confidence.beta_theory`) is written for t loss terms, each the
log loss of one Bradley-Terry label. The loss of one ranking of m items is a sum of
n_s = m - 1 multinomial-logit (MNL) stage terms (n_s = 1 for a top-1 choice),

    l_t(theta) = sum_{j < n_s} [ log sum_{k >= j} exp(r_k) - r_j ],

and each stage plays the role of one pairwise observation **(reading)**:

- the stage's choice, given the earlier stages of the same ranking, is a fresh draw, so the
  stage gradients' noise terms form a martingale difference sequence over the n_s t stages of
  t rankings (the concentration terms of Lemma 1 count n_s t terms, not t);
- the curvature of a stage, Cov_p(phi) with ||phi|| <= L, has trace <= E_p ||phi||^2 <= L^2,
  the bound sigma'(w) ||z||^2 <= (1/4)(2L)^2 = L^2 of one pair; so the elliptical-potential
  term log det(Hcal_t / lambda) <= d log(1 + n_s t L^2 / (d lambda)) counts n_s t terms;
- utility differences within a query obey |r_i - r_j| <= 2 L B, as |z' theta| for a pair, so
  the L B term is unchanged.

Hence the PL radius, our reading of Lemma 1 for rankings:

    beta^PL_t = beta^Lemma1_{n_s t}   (`beta_pl`: Lemma 1's quantity C with t -> n_s t),

which at m = 2 (n_s = 1) is Lemma 1's radius exactly. It is not a proved bound: the proof of
Lemma 1 takes one OMD step per loss term, while the PL OMD takes one step per ranking with the
sum of its stage terms; whether the set covers theta* is measured (the kwise spec's coverage
verdict, `theory_checks.kwise.kwise_coverage_verdict`).

`PLRadius(kind="pl-theory")` names this radius for the K-wise stages
(`algorithms.kwise_stages`), beside the pairwise modes of `algorithms.confidence.Radius`;
`PLRadius(kind="pl-practical", c_beta)` is c_beta sqrt(d log(1 + n_s t / delta)), the practical
shape with the same count of terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .confidence import beta_practical, beta_theory

PL_RADIUS_KINDS = {"pl-theory": 10, "pl-practical": 11}
"""Codes of the PL radius kinds inside the compiled K-wise loops (distinct from the codes of
`algorithms.confidence.RADIUS_KINDS`)."""


@njit(cache=True)
def beta_pl(t: float, n_stages: int, d: int, eta: float, lam: float, L: float, B: float,
            delta: float) -> float:
    """beta^PL_t = sqrt(C_{n_s t}) with C of Lemma 1 (module docstring, (reading))."""
    return beta_theory(n_stages * t, d, eta, lam, L, B, delta)


@njit(cache=True)
def beta_pl_practical(t: float, n_stages: int, d: int, c_beta: float, delta: float) -> float:
    """c_beta sqrt(d log(1 + n_s t / delta))."""
    return beta_practical(n_stages * t, d, c_beta, delta)


@njit(cache=True)
def beta_kwise(t: float, kind: int, n_stages: int, d: int, eta: float, lam: float, L: float,
               B: float, delta: float, c_beta: float) -> float:
    """beta_t of any radius code of the K-wise stages: the PL codes of `PL_RADIUS_KINDS`, else
    the pairwise modes of `algorithms.confidence.beta_at` (0 Lemma 1 at t, 1 and 2 c_beta
    sqrt(d log(1 + t / delta)))."""
    if kind == 10:
        return beta_pl(t, n_stages, d, eta, lam, L, B, delta)
    if kind == 11:
        return beta_pl_practical(t, n_stages, d, c_beta, delta)
    if kind == 0:
        return beta_theory(t, d, eta, lam, L, B, delta)
    return beta_practical(t, d, c_beta, delta)


@dataclass(frozen=True)
class PLRadius:
    """A Plackett-Luce radius of the K-wise stages (module docstring).

    kind: "pl-theory" (Lemma 1 with t -> n_s t, (reading)) or "pl-practical" (c_beta
    sqrt(d log(1 + n_s t / delta))); delta the failure probability; c_beta the scale of the
    practical shape.
    """

    kind: str = "pl-theory"
    delta: float = 0.05
    c_beta: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in PL_RADIUS_KINDS:
            raise ValueError(f"unknown PL radius kind {self.kind!r}; known: "
                             f"{sorted(PL_RADIUS_KINDS)}")
        if not (0.0 < self.delta < 1.0):
            raise ValueError(f"delta must be in (0, 1), got {self.delta!r}")
        if not (math.isfinite(self.c_beta) and self.c_beta >= 0.0):
            raise ValueError(f"c_beta must be finite and >= 0, got {self.c_beta!r}")

    @property
    def code(self) -> int:
        return PL_RADIUS_KINDS[self.kind]

    def code_for(self, matrix: str) -> int:
        """The code inside the compiled loops (the matrix is always Hcal here)."""
        return self.code

    def beta(self, t: float | np.ndarray, *, d: int, eta: float, lam: float, L: float, B: float,
             n_stages: int = 1) -> np.ndarray | float:
        """beta_t for rounds t >= 1 (array in, array out; scalar in, float out)."""
        if isinstance(n_stages, bool) or not isinstance(n_stages, (int, np.integer)) \
                or n_stages < 1:
            raise ValueError(f"n_stages must be an int >= 1, got {n_stages!r}")
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.array([beta_kwise(float(s), self.code, int(n_stages), d, eta, lam, L, B,
                                   self.delta, self.c_beta) for s in ts])
        return out if np.ndim(t) else float(out[0])


__all__ = ["PLRadius", "PL_RADIUS_KINDS", "beta_kwise", "beta_pl", "beta_pl_practical"]
