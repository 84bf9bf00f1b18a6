"""The paper's bounds as code (ALGORITHMS.md sections 1, 2.2, 3 and 4).

Closed forms of Table 1 hide constants and logarithms behind O~. Here the logarithmic terms are
written out and the unknown constant is a parameter `C` (default 1), so that a bound can be
evaluated, plotted against measurements, and compared across methods. Each choice:

- confidence radius (OMD, Lemma 1 order): beta_T ~ sqrt(d log(1 + T/delta));
- elliptic potential (ALGORITHMS.md 4): sum_t ||z_t||_{V_t^-1} <= sqrt(2 d T log(1 + 4 T L^2/(d lambda))),
  and ||.||_{Hcal^-1} <= sqrt(kappa) ||.||_{V^-1} since Hcal >= V / kappa;
- MLE radius (Zhu et al. 2023, Lemma 3.1, unnormalised; our reading): kappa sqrt(d + log(1/delta)).

The products of these are the closed forms below; the instance (data-dependent) bounds of
Theorems 1-3 are in `instance_*`. Items marked (reading) are our interpretation of the paper.
"""

from __future__ import annotations

import math

import numpy as np

from algorithms.confidence import Radius, beta_practical, beta_theory
from algorithms.constants import practical_constants, theory_constants, theory_eta
from algorithms.regret import INSTANCE_BOUND_CONSTANT

__all__ = [
    "TABLE1", "Radius", "beta_practical", "beta_theory", "elliptic_potential_bound",
    "instance_active", "instance_deployment", "instance_passive", "kappa_upper_bound",
    "closed_form", "practical_constants", "theory_constants", "theory_eta",
]

DEPLOYMENT_CONSTANT = INSTANCE_BOUND_CONSTANT
"""Per-round instance bound constant of Algorithm 4, 3/2 (proof and tightness in
`algorithms.regret`)."""


def kappa_upper_bound(B: float, L: float) -> float:
    """kappa <= 3 + e^{2 B L} (ALGORITHMS.md 1)."""
    return 3.0 + math.exp(2.0 * B * L)


def elliptic_potential_bound(T: float, d: int, L: float, lam: float) -> float:
    """sqrt(2 d T log(1 + 4 T L^2 / (d lambda))): bounds sum_t ||z_t||_{V_t^-1} when lambda >= 4L^2."""
    return math.sqrt(2.0 * d * T * math.log(1.0 + 4.0 * T * L * L / (d * lam)))


def _log_terms(T: float, d: int, delta: float, lam: float) -> float:
    return math.sqrt(math.log(1.0 + T / delta) * math.log(1.0 + T / (d * lam)))


def closed_form(stage: str, method: str, *, d: int, T: float, kappa: float, delta: float = 0.05,
                lam: float = 1.0, phi_norm: float | None = None, C: float = 1.0) -> float:
    """The Table 1 bound of (stage, method) with its logarithms written out, times C.

    passive, paper: C 2 sqrt(d log(1 + T/delta)) ||Phi||_{Hcal^-1}          (phi_norm = that norm)
    passive, zhu:   C 2 kappa sqrt(d + log(1/delta)) ||Phi||_{V^-1}          (phi_norm = that norm)
    active,  paper / apo:  C d sqrt(kappa / T) sqrt(log(1+T/delta) log(1+T/(d lam)))
    deploy,  paper: C d sqrt(kappa T) sqrt(log(1+T/delta) log(1+T/(d lam)))
    deploy,  saha:  C d kappa sqrt(T) sqrt(log(1+T/delta) log(1+T/(d lam)))
    """
    key = (stage, method)
    if key not in TABLE1:
        raise ValueError(f"unknown (stage, method) {key!r}; known: {sorted(TABLE1)}")
    if not (T >= 1 and d >= 1 and kappa >= 1 and 0 < delta < 1 and lam > 0):
        raise ValueError(f"need T >= 1, d >= 1, kappa >= 1, 0 < delta < 1, lam > 0; got "
                         f"T={T}, d={d}, kappa={kappa}, delta={delta}, lam={lam}")
    if stage == "passive":
        if phi_norm is None or not phi_norm >= 0:
            raise ValueError("the passive bounds need phi_norm = ||Phi||, the norm of the "
                             "optimal policy's (centred) mean feature")
        if method == "paper":
            return C * 2.0 * math.sqrt(d * math.log(1.0 + T / delta)) * phi_norm
        return C * 2.0 * kappa * math.sqrt(d + math.log(1.0 / delta)) * phi_norm
    logs = _log_terms(T, d, delta, lam)
    if stage == "active":
        return C * d * math.sqrt(kappa / T) * logs
    if method == "paper":
        return C * d * math.sqrt(kappa * T) * logs
    return C * d * kappa * math.sqrt(T) * logs


TABLE1 = {
    ("passive", "zhu"): dict(bound="sqrt(d) kappa ||Phi||_{V^-1}", time="O(log T) amortised", memory="O(t)"),
    ("passive", "paper"): dict(bound="sqrt(d) ||Phi||_{Hcal^-1}", time="O(1)", memory="O(1)"),
    ("active", "apo"): dict(bound="d sqrt(kappa/T)", time="O(t log t)", memory="O(t)"),
    ("active", "paper"): dict(bound="d sqrt(kappa/T)", time="O(1)", memory="O(1)"),
    ("deploy", "saha"): dict(bound="d kappa sqrt(T)", time="O(t log t)", memory="O(t)"),
    ("deploy", "paper"): dict(bound="d sqrt(kappa T)", time="O(1)", memory="O(1)"),
}
"""The paper's Table 1: bound order, time per round, memory."""


def instance_passive(beta: float, centred_opt_feature_norm: float) -> float:
    """Theorem 1, instance form on the event theta* in C: SubOpt <= 2 beta_{T+1} ||m(pi*) - v||_{Hcal_{T+1}^-1}
    (standard pessimism argument)."""
    return 2.0 * beta * centred_opt_feature_norm


def instance_active(betas: np.ndarray, widths: np.ndarray) -> float:
    """Theorem 2, instance form on the event: SubOpt <= (1/T) sum_t beta_t ||z_t||_{Hcal_t^-1}."""
    betas = np.asarray(betas, dtype=float)
    widths = np.asarray(widths, dtype=float)
    if betas.shape != widths.shape or betas.ndim != 1 or betas.size == 0:
        raise ValueError("betas and widths must be non-empty 1-d arrays of the same length")
    return float(np.mean(betas * widths))


def instance_deployment(betas: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Theorem 3, instance form on the event: Reg_t <= (3/2) sum_{s<=t} beta_s ||z_s||_{Hcal_s^-1};
    returns the cumulative bound for every t."""
    betas = np.asarray(betas, dtype=float)
    widths = np.asarray(widths, dtype=float)
    if betas.shape != widths.shape or betas.ndim != 1:
        raise ValueError("betas and widths must be 1-d arrays of the same length")
    return DEPLOYMENT_CONSTANT * np.cumsum(betas * widths)
