"""Deployment: online preference learning with regret, the paper's Algorithm 4 (ALGORITHMS.md 3.3).

Round t: a context x_t ~ rho arrives. With the one-pass OMD state (theta_t, Hcal_t) of
Algorithm 1 and the confidence radius beta_t of Lemma 1 (`algorithms.confidence`),

    a_t  = argmax_a phi(x_t, a)' theta_t                                        (greedy)
    a'_t = argmax_a phi(x_t, a)' theta_t + 2 beta_t ||phi(x_t, a) - phi(x_t, a_t)||_{Hcal_t^{-1}}

(ties go to the lowest arm index). The label y_t of the query (x_t, a_t, a'_t) is observed and
Algorithm 1 runs once on z_t = phi(x_t, a_t) - phi(x_t, a'_t). When a'_t = a_t, z_t = 0 and the
update leaves theta and Hcal unchanged. Regret Reg_T = sum_t [r(x_t, pi*(x_t)) - (r(x_t, a_t) +
r(x_t, a'_t)) / 2]; Theorem 3: Reg_T <= O~(d sqrt(kappa T)).

Instance bound, with its constant
---------------------------------
On every round where theta* lies in the confidence set C_t,

    r* - (r(a_t) + r(a'_t)) / 2 <= (3/2) beta_t ||z_t||_{Hcal_t^{-1}},

so on the event {theta* in C_t for all t} (probability >= 1 - delta by Lemma 1),
Reg_T <= (3/2) sum_t beta_t ||z_t||_{Hcal_t^{-1}}. The proof, and an instance family on which
the ratio tends to 3/2 (so no smaller constant holds), are in `algorithms.regret`. The steps use
only the selection rule and the event, not how theta_t and Hcal_t were computed: the same bound
holds for any estimator and any positive-definite matrix M_t in place of Hcal_t as long as
||theta_t - theta*||_{M_t} <= beta_t (for instance the MLE with V_t). The per-round form is what
`algorithms.regret.instance_bound_violations` checks; runs record the cumulative right-hand
side as `instance_bound`.

This module holds the selection rule as a compiled kernel over plain arrays; the loop, the
reward models and the accounting are in `algorithms.deployment_loop`, and the runner with its
registry of algorithms in `algorithms.deployment_registry`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def pair_width(phi_x: np.ndarray, a: int, b: int, Minv: np.ndarray, D: np.ndarray) -> float:
    """||phi(x, b) - phi(x, a)||_{M^{-1}} = sqrt(D' Minv D), D = phi_x[b] - phi_x[a].

    D (d,) is a work buffer. Exactly 0 when a == b; the quadratic form is clipped at 0 against
    rounding.
    """
    d = D.shape[0]
    for j in range(d):
        D[j] = phi_x[b, j] - phi_x[a, j]
    q = 0.0
    for i in range(d):
        row = Minv[i]
        acc = 0.0
        for j in range(d):
            acc += row[j] * D[j]
        q += D[i] * acc
    return math.sqrt(q) if q > 0.0 else 0.0


@njit(cache=True)
def learned_rewards(phi_x: np.ndarray, theta: np.ndarray, out: np.ndarray) -> int:
    """out[a] = phi(x, a)' theta for every arm; returns the greedy arm (ties: lowest index)."""
    K, d = phi_x.shape
    best = 0
    for a in range(K):
        s = 0.0
        for j in range(d):
            s += phi_x[a, j] * theta[j]
        out[a] = s
        if s > out[best]:
            best = a
    return best


@njit(cache=True)
def optimistic_second_arm(phi_x: np.ndarray, scores: np.ndarray, first: int, Minv: np.ndarray,
                          c: float, D: np.ndarray) -> tuple[int, float]:
    """argmax_a scores[a] + c ||phi(x, a) - phi(x, first)||_{M^{-1}} (ties: lowest index), and the
    width ||z|| of the chosen arm against `first`."""
    K = phi_x.shape[0]
    best_arm = first
    best_value = -np.inf
    best_width = 0.0
    for a in range(K):
        w = 0.0 if a == first else pair_width(phi_x, first, a, Minv, D)
        v = scores[a] + c * w
        if v > best_value:
            best_value = v
            best_arm = a
            best_width = w
    return best_arm, best_width


@njit(cache=True)
def algorithm4_pair(phi_x: np.ndarray, theta: np.ndarray, Minv: np.ndarray, beta: float,
                    scores: np.ndarray, D: np.ndarray) -> tuple[int, int, float]:
    """The pair of Algorithm 4 in one context: (a_t, a'_t, ||z_t||_{M^{-1}}).

    a_t = argmax_a phi_a' theta and
    a'_t = argmax_a phi_a' theta + 2 beta ||phi_a - phi_{a_t}||_{M^{-1}}, with M = Hcal_t in the
    paper. phi_x is (K, d); scores (K,) and D (d,) are work buffers (scores holds the learned
    rewards on return).
    """
    a = learned_rewards(phi_x, theta, scores)
    a2, width = optimistic_second_arm(phi_x, scores, a, Minv, 2.0 * beta, D)
    return a, a2, width


@njit(cache=True)
def algorithm4_pair_block(phi_x: np.ndarray, theta: np.ndarray, Minv: np.ndarray, beta: float,
                          scores: np.ndarray, D: np.ndarray, ws: np.ndarray
                          ) -> tuple[int, int, float]:
    """`algorithm4_pair` with every arm handled at once: the same products summed in the same
    order, so the same pair and bit-identical scores and width.

    ws (2 d + 1, K) is a work array: rows 0..d-1 hold the features transposed, then the
    differences phi(x, a) - phi(x, a_t) by arm (column a), rows d..2d-1 the products
    M^{-1} (phi(x, a) - phi(x, a_t)) and row 2d the squared widths. Each inner loop runs over
    the K arms with no reduction carried in one accumulator, so it vectorises; per arm the
    quadratic form sum_i D_i (sum_j M_ij D_j) is accumulated exactly as in `pair_width`.
    D (d,) keeps phi(x, a_t).
    """
    K, d = phi_x.shape
    for j in range(d):
        for a in range(K):
            ws[j, a] = phi_x[a, j]
    for a in range(K):
        scores[a] = 0.0
    for j in range(d):
        tj = theta[j]
        for a in range(K):
            scores[a] += ws[j, a] * tj
    first = 0
    for a in range(1, K):
        if scores[a] > scores[first]:
            first = a
    for j in range(d):
        D[j] = ws[j, first]
    for j in range(d):
        pj = D[j]
        for a in range(K):
            ws[j, a] = ws[j, a] - pj
    for i in range(d, 2 * d + 1):
        for a in range(K):
            ws[i, a] = 0.0
    for j in range(d):
        for i in range(d):
            m = Minv[i, j]
            for a in range(K):
                ws[d + i, a] += m * ws[j, a]
    sq = 2 * d
    for i in range(d):
        for a in range(K):
            ws[sq, a] += ws[i, a] * ws[d + i, a]
    c = 2.0 * beta
    best_arm = first
    best_value = -np.inf
    best_width = 0.0
    for a in range(K):
        q = ws[sq, a]
        w = 0.0 if a == first else (math.sqrt(q) if q > 0.0 else 0.0)
        v = scores[a] + c * w
        if v > best_value:
            best_value = v
            best_arm = a
            best_width = w
    return first, best_arm, best_width
