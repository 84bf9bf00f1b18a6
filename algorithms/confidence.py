"""Confidence radii beta_t, in three modes shared by every algorithm (ALGORITHMS.md 2.2, 6).

Every confidence set of the project has the form

    C_t = { theta : ||theta - theta_t||_{M_t} <= beta_t },

with M_t the algorithm's own matrix (Hcal_t for the one-pass model, V_t = lambda I + sum z z'
or the sigma'-weighted W_t for the MLE baselines). A `Radius` names the mode:

theory
    the algorithm's own paper's radius, with its constants:

    - one-pass OMD (Lemma 1) **(reading)**: beta_t = sqrt(C_t) with the quantity of the paper's
      appendix

          C_t = 22 eta (3 log(1 + 2t) + 2 + L B) log(2 sqrt(1 + 2t) / delta) + 4 eta
                + 2 eta sqrt(6 c d) log(1 + 2 t L^2 / (d lambda)) + 4 lambda B^2,  c = 7 eta / 6;

      that beta_t is the square root of this quantity is our reading of the appendix (`beta_theory`);

    - MLE with the unweighted V_t (MaxInP, Saha 2021, Sec. 4 / Lemma 3; CoLSTIM, Bengs, Saha,
      Hullermeier 2022, the width c_1 of Algorithm 1; Dueling RL, Saha, Pacchiano, Lee 2023,
      Lemma 2): all three take the generalised-linear confidence bound of Li, Lu and Zhou
      (2017, Theorem 1), ||theta_hat_t - theta*||_{V_t} <= (sigma / kappa_low) sqrt((d/2)
      log(1 + 2t/d) + log(1/delta)), kappa_low = inf sigma' = 1/kappa and sigma = 1/2 the
      sub-Gaussian scale of a {0, 1} label. Written for ||z|| <= 2L and the regularised V_t of
      this project **(reading)**: (`beta_glm`)

          beta_t = (kappa / 2) sqrt((d / 2) log(1 + 4 t L^2 / (d lambda)) + log(1 / delta))
                   + sqrt(lambda) B,

      kappa the global kappa of Definition 2 (computed from the features and B, never theta*);
      the last term is the usual price of the ridge (lambda I) in V_t;

    - pessimistic MLE and APO with V_t (Zhu, Jordan, Jiao 2023, Lemma 3.1, also the radius of
      Das et al. 2024): beta_Zhu (`algorithms.passive.zhu_radius`), used by the training stage;

practical
    beta_t = c_beta sqrt(d log(1 + t / delta)), c_beta a free parameter (`beta_practical`);

calibrated
    the same shape c_beta sqrt(d log(1 + t / delta)) with c_beta fitted per algorithm and
    environment family (`paper_repro.calibration.calibrate_c_beta`: the (1 - delta) quantile
    over calibration seeds of max_{t > t0} ||theta_t - theta*||_{M_t} / sqrt(d log(1 + t/delta))),
    so numerically like practical, but recorded as "calibrated" with the fitted c_beta.

The radii are compiled scalar functions so that the stage loops call them inside their loops;
`Radius` is the Python-side description (mode and parameters) that every run records.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numba import njit

RADIUS_KINDS = {"theory": 0, "practical": 1, "calibrated": 2}
"""Codes of the radius modes (the compiled loops see the code)."""
THEORY_GLM = 3
"""Internal code: the theory radius of an MLE baseline with V_t (`beta_glm`); runs record the
mode as "theory"."""


@njit(cache=True)
def beta_theory(t: float, d: int, eta: float, lam: float, L: float, B: float,
                delta: float) -> float:
    """beta_t = sqrt(C_t), C_t of Lemma 1 as in the module docstring (t >= 1 the round index)."""
    c = 7.0 * eta / 6.0
    Ct = (22.0 * eta * (3.0 * math.log(1.0 + 2.0 * t) + 2.0 + L * B)
          * math.log(2.0 * math.sqrt(1.0 + 2.0 * t) / delta)
          + 4.0 * eta
          + 2.0 * eta * math.sqrt(6.0 * c * d) * math.log(1.0 + 2.0 * t * L * L / (d * lam))
          + 4.0 * lam * B * B)
    return math.sqrt(Ct)


@njit(cache=True)
def beta_glm(t: float, d: int, kappa: float, lam: float, L: float, B: float,
             delta: float) -> float:
    """beta_t = (kappa/2) sqrt((d/2) log(1 + 4 t L^2/(d lambda)) + log(1/delta)) + sqrt(lambda) B:
    the theory radius of the MLE baselines with V_t (module docstring; Li, Lu, Zhou 2017,
    Theorem 1, as used by Saha 2021, Bengs et al. 2022 and Saha et al. 2023)."""
    return (0.5 * kappa * math.sqrt(0.5 * d * math.log(1.0 + 4.0 * t * L * L / (d * lam))
                                    + math.log(1.0 / delta))
            + math.sqrt(lam) * B)


@njit(cache=True)
def beta_practical(t: float, d: int, c_beta: float, delta: float) -> float:
    """beta_t = c_beta sqrt(d log(1 + t / delta))."""
    return c_beta * math.sqrt(d * math.log(1.0 + t / delta))


@njit(cache=True)
def beta_at(t: float, kind: int, d: int, eta: float, lam: float, L: float, B: float,
            delta: float, c_beta: float) -> float:
    """beta_t of the one-pass model's modes (0 theory = Lemma 1, 1 practical, 2 calibrated):
    one call site for compiled loops."""
    if kind == 0:
        return beta_theory(t, d, eta, lam, L, B, delta)
    return beta_practical(t, d, c_beta, delta)


@njit(cache=True)
def beta_for(t: float, kind: int, d: int, eta: float, lam: float, L: float, B: float,
             delta: float, c_beta: float, kappa: float) -> float:
    """beta_t of any internal code: 0 Lemma 1, 1 and 2 c_beta sqrt(d log(1 + t/delta)),
    THEORY_GLM the MLE baselines' theory radius `beta_glm` (needs kappa)."""
    if kind == THEORY_GLM:
        return beta_glm(t, d, kappa, lam, L, B, delta)
    return beta_at(t, kind, d, eta, lam, L, B, delta, c_beta)


@dataclass(frozen=True)
class Radius:
    """Which confidence radius a run uses (module docstring).

    kind: "theory" (the algorithm's own paper's radius), "practical" (c_beta sqrt(d log(1 +
    t/delta))) or "calibrated" (the same shape with a fitted c_beta); delta the failure
    probability; c_beta the scale of the practical and calibrated radii; t0 the burn-in of a
    calibration (the maximum that defines c_beta runs over t > t0; recorded, and not used by
    the radius itself).
    """

    kind: str = "practical"
    delta: float = 0.05
    c_beta: float = 1.0
    """Scale of the practical and calibrated radii (unused by the theory radius)."""
    t0: int = 0
    """Burn-in rounds of the calibration behind a calibrated c_beta (recorded only)."""

    def __post_init__(self) -> None:
        if self.kind not in RADIUS_KINDS:
            raise ValueError(f"unknown radius kind {self.kind!r}; known: {sorted(RADIUS_KINDS)}")
        if not (0.0 < self.delta < 1.0):
            raise ValueError(f"delta must be in (0, 1), got {self.delta!r}")
        if not (math.isfinite(self.c_beta) and self.c_beta >= 0.0):
            raise ValueError(f"c_beta must be finite and >= 0, got {self.c_beta!r}")
        if isinstance(self.t0, bool) or not isinstance(self.t0, numbers.Integral) or self.t0 < 0:
            raise ValueError(f"t0 must be an int >= 0, got {self.t0!r}")

    @property
    def code(self) -> int:
        return RADIUS_KINDS[self.kind]

    def code_for(self, matrix: str) -> int:
        """The internal code of this mode for an algorithm whose confidence matrix is `matrix`:
        the theory mode of an unweighted V_t is THEORY_GLM, every other case `code`."""
        return THEORY_GLM if self.kind == "theory" and matrix == "V" else self.code

    @overload
    def beta(self, t: float, *, d: int, eta: float, lam: float, L: float, B: float,
             matrix: str = "Hcal", kappa: float = math.nan) -> float: ...

    @overload
    def beta(self, t: np.ndarray | Sequence[float], *, d: int, eta: float, lam: float, L: float,
             B: float, matrix: str = "Hcal", kappa: float = math.nan) -> np.ndarray | float: ...

    def beta(self, t: float | np.ndarray | Sequence[float], *, d: int, eta: float, lam: float,
             L: float, B: float, matrix: str = "Hcal",
             kappa: float = math.nan) -> np.ndarray | float:
        """beta_t for an array (or scalar) of rounds t >= 1: an array for an array of at least
        one dimension, a float for a scalar (a 0-d array included). matrix "V" with the theory
        mode gives the MLE baselines' radius `beta_glm`, which needs kappa."""
        code = self.code_for(matrix)
        if code == THEORY_GLM and not (math.isfinite(kappa) and kappa > 0):
            raise ValueError(f"the theory radius of V_t needs kappa > 0, got {kappa!r}")
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.array([beta_for(float(s), code, d, eta, lam, L, B, self.delta, self.c_beta,
                                 kappa) for s in ts])
        return out if np.ndim(t) else float(out[0])
