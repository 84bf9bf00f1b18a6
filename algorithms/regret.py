"""Regret accounting of the deployment stage and the executable instance bound (ALGORITHMS.md 3.3).

Round t shows the pair (a_t, a'_t) in context x_t. With r* = r(x_t, pi*(x_t)) and the two gaps
g = r* - r(x_t, a_t) >= 0, g' = r* - r(x_t, a'_t) >= 0, the per-round regrets are

    average  (g + g') / 2          (the paper's Reg_T = sum_t [r* - (r(a_t) + r(a'_t)) / 2])
    weak     min(g, g')            (the better of the two arms)
    strong   max(g, g')            (the worse of the two arms)

The instance bound of Algorithm 4: on every round where ||theta_t - theta*||_{M_t} <= beta_t
(M_t = Hcal_t for the one-pass model; the argument holds for any estimate and any positive
definite M_t with that property),

    (g + g') / 2 <= (3/2) beta_t ||z_t||_{M_t^{-1}},        z_t = phi(x_t, a_t) - phi(x_t, a'_t),

and 3/2 is the smallest constant that holds on every instance.

Proof. Write ||.|| for the M_t^{-1} norm, phi* = phi(x_t, pi*(x_t)), phi_t = phi(x_t, a_t),
phi'_t = phi(x_t, a'_t), beta = beta_t, e = theta* - theta_t, so that |e'v| <= beta ||v||
for every v on the event (Cauchy-Schwarz in the M_t geometry).
(1) a_t is greedy for theta_t, so theta_t'(phi* - phi_t) <= 0 and
        g = theta_t'(phi* - phi_t) + e'(phi* - phi_t) <= beta ||phi* - phi_t||.
(2) a'_t maximises theta_t'phi + 2 beta ||phi - phi_t|| over the arms, in particular against
    pi*(x_t): theta_t'phi* + 2 beta ||phi* - phi_t|| <= theta_t'phi'_t + 2 beta ||z_t||. Hence
        g' = theta_t'(phi* - phi'_t) + e'(phi* - phi'_t)
           <= 2 beta ||z_t|| - 2 beta ||phi* - phi_t|| + beta ||phi* - phi'_t||
           <= 3 beta ||z_t|| - beta ||phi* - phi_t||,
    by the triangle inequality ||phi* - phi'_t|| <= ||phi* - phi_t|| + ||phi_t - phi'_t||.
(3) Adding (1) and (2), the ||phi* - phi_t|| terms cancel: g + g' <= 3 beta ||z_t||.
Tightness: d = 1, M_t = 1, beta = 1, theta_t = 0, theta* = 1, arms phi = 0 (a_t, first of
the greedy ties), phi = s (pi*) and phi = -w with 0 < s < w (a'_t: the widest). Then g = s,
g' = s + w, ||z_t|| = w and (g + g') / (2 beta ||z_t||) = 1/2 + s/w, which tends to 3/2 as
s -> w: no constant below 3/2 holds for every instance. (An earlier derivation bounded g' by
way of g and obtained 7/2; bounding the second arm's gap directly gives 3/2.)

`instance_bound_violations` checks exactly this, round by round, on a run's per-round arrays.
Everything here reads the true rewards: it is the accounting side, never the learner's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

INSTANCE_BOUND_CONSTANT = 1.5
"""The constant C of the instance bound: per-round regret <= C beta_t ||z_t||_{M_t^{-1}}
(the smallest that holds on every instance: module docstring)."""

# Slots of the running totals a deployment loop keeps (a float array of LEDGER_SIZE entries).
LEDGER_REGRET = 0
LEDGER_WEAK = 1
LEDGER_STRONG = 2
LEDGER_BOUND = 3
LEDGER_ALL_IN_SET = 4
LEDGER_SAME_ARM = 5
LEDGER_SIZE = 6


def new_ledger() -> np.ndarray:
    """Running totals before round 1: zero regret, zero bound, theta* in every set so far."""
    ledger = np.zeros(LEDGER_SIZE)
    ledger[LEDGER_ALL_IN_SET] = 1.0
    return ledger


@njit(cache=True)
def round_gaps(rewards_x: np.ndarray, a: int, a2: int) -> tuple[float, float]:
    """(r* - r(x, a), r* - r(x, a')) with r* = max_b r(x, b); both >= 0 in floating point."""
    rstar = rewards_x[0]
    for b in range(1, rewards_x.shape[0]):
        if rewards_x[b] > rstar:
            rstar = rewards_x[b]
    return rstar - rewards_x[a], rstar - rewards_x[a2]


@njit(cache=True)
def ledger_add(ledger: np.ndarray, rewards_x: np.ndarray, a: int, a2: int, beta: float,
               width: float, err: float, bound_applies: bool) -> None:
    """Add round t to the running totals: the three regrets, the instance-bound term
    (3/2) beta_t ||z_t|| (NaN for selection rules it does not cover), whether theta* lies in
    the round's confidence set (err = ||theta_t - theta*||_M <= beta_t), and whether the round
    showed one arm twice (z_t = 0: the reward model learns nothing)."""
    g, g2 = round_gaps(rewards_x, a, a2)
    ledger[LEDGER_REGRET] += 0.5 * (g + g2)
    ledger[LEDGER_WEAK] += min(g, g2)
    ledger[LEDGER_STRONG] += max(g, g2)
    if bound_applies:
        ledger[LEDGER_BOUND] += INSTANCE_BOUND_CONSTANT * beta * width
    else:
        ledger[LEDGER_BOUND] = np.nan
    if not err <= beta:
        ledger[LEDGER_ALL_IN_SET] = 0.0
    if a == a2:
        ledger[LEDGER_SAME_ARM] += 1.0


def per_round_regret(rewards: np.ndarray, x: np.ndarray, a: np.ndarray,
                     a2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(average, weak, strong) per-round regret arrays from the reward table r (n_x, K) and the
    rounds' contexts and pairs; the same arithmetic as `ledger_add`."""
    rewards = np.asarray(rewards, dtype=np.float64)
    rstar = rewards.max(axis=1)[x]
    g = rstar - rewards[x, a]
    g2 = rstar - rewards[x, a2]
    return 0.5 * (g + g2), np.minimum(g, g2), np.maximum(g, g2)


@dataclass(frozen=True)
class InstanceBoundCheck:
    """Outcome of checking regret_t <= C beta_t width_t on the rounds where theta* is in C_t."""

    constant: float
    """The constant C that was checked."""
    rounds_checked: int
    """Rounds on which theta* was in the confidence set (where the bound must hold)."""
    violations: np.ndarray
    """0-based indices of the checked rounds where the bound fails (beyond the tolerance)."""
    max_ratio: float
    """max over checked rounds with width > 0 of regret_t / (beta_t width_t) (NaN if none)."""

    @property
    def holds(self) -> bool:
        """True when no checked round violates the bound."""
        return self.violations.size == 0


def instance_bound_violations(regret, beta, width, in_set, *,
                              constant: float = INSTANCE_BOUND_CONSTANT,
                              rtol: float = 1e-9, atol: float = 1e-12) -> InstanceBoundCheck:
    """Check regret_t <= constant * beta_t * width_t on every round t with in_set[t] true.

    regret: per-round average regret (g + g')/2; beta: radius beta_t used in round t; width:
    ||z_t||_{Hcal_t^{-1}}; in_set: ||theta_t - theta*||_{Hcal_t} <= beta_t. A round violates the
    bound when regret_t > constant beta_t width_t (1 + rtol) + atol (the slack absorbs rounding
    of quantities computed in floating point; on a round with z_t = 0 the bound says regret 0).
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in (regret, beta, width)]
    mask = np.asarray(in_set, dtype=bool)
    n = mask.shape[0]
    for name, arr in zip(("regret", "beta", "width"), arrays):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like in_set, got {arr.shape}")
        if not np.all(np.isfinite(arr[mask])):
            raise ValueError(f"{name} has non-finite entries on rounds where theta* is in the set")
    if not (np.isfinite(constant) and constant > 0):
        raise ValueError(f"constant must be finite and > 0, got {constant!r}")
    reg, b, w = arrays
    bound = constant * b * w
    bad = mask & (reg > bound * (1.0 + rtol) + atol)
    scale = b * w
    ok = mask & (scale > 0)
    max_ratio = float(np.max(reg[ok] / scale[ok])) if ok.any() else float("nan")
    return InstanceBoundCheck(constant=float(constant), rounds_checked=int(mask.sum()),
                              violations=np.flatnonzero(bad), max_ratio=max_ratio)
