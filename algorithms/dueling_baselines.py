"""Pair-selection rules of the dueling-bandit baselines of the deployment stage (ALGORITHMS.md 3.3).

All rules see the learned parameter theta_hat, a positive-definite matrix through its inverse
Minv (V_t^{-1}, V_t = lambda I + sum_i z_i z_i', for the MLE baselines) and a radius beta_t
(`algorithms.confidence`; mode "theory" gives these baselines the generalised-linear radius
of their papers, `beta_glm`, with kappa); none sees theta*. The reward model behind them,
the exploration phases and the loop are in `algorithms.deployment_loop`; the registered
algorithms and their options in `algorithms.deployment_registry`.

- MaxInP (Saha 2021, Algorithm 1 "MaxInP"): after an initial exploration phase of uniform
  random pairs (rounds t <= tau), the candidate set
      C_t = { i : (phi_i - phi_j)' theta_hat + beta_t ||phi_i - phi_j||_{V^{-1}} >= 0 for all j }
  (arms not dominated under the confidence set), then the pair of candidates of maximum
  ||phi_i - phi_j||_{V^{-1}} (`maxinp_pair`).
- Dueling RL (Saha, Pacchiano, Lee 2023, Algorithm 1 with known dynamics): the set of
  potentially optimal policies under the confidence set and the pair of them of maximum
  uncertainty ||phi(pi) - phi(pi')||_{V^{-1}}. In a contextual bandit whose context is seen
  before the choice, a policy's decision in round t is one arm of x_t, and **(reading)** the
  potentially-optimal set is taken as the non-dominated arms C_t above (the same pairwise
  test), so the rule is MaxInP's without its exploration phase (`maxinp_pair`).
- CoLSTIM (Bengs, Saha, Hullermeier 2022, Algorithm 1): tau rounds of uniform random pairs,
  then the first arm maximises the perturbed utility
      phi_i' theta_hat + eps_{t,i} ||phi_i||_{V^{-1}},  eps_{t,i} = clip(G_{t,i}, -C, C),
  G_{t,i} i.i.d. from the noise distribution of the link (standard Gumbel for the logistic
  link: the difference of two Gumbels is logistic), C the threshold C_thresh; the second arm
      argmax_j phi_j' theta_hat + c_1 ||phi_j - phi_first||_{V^{-1}}   (`colstim_pair`).
  The perturbation is scaled by the arm's width, so it shrinks as V_t grows.
- Uniform random pair: two distinct arms, uniform over ordered pairs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .deployment import learned_rewards, optimistic_second_arm, pair_width


@njit(cache=True)
def pairwise_widths(phi_x: np.ndarray, Minv: np.ndarray, W: np.ndarray, D: np.ndarray) -> None:
    """W[i, j] = ||phi_i - phi_j||_{M^{-1}} for all arm pairs (symmetric, zero diagonal)."""
    K = phi_x.shape[0]
    for i in range(K):
        W[i, i] = 0.0
        for j in range(i + 1, K):
            w = pair_width(phi_x, i, j, Minv, D)
            W[i, j] = w
            W[j, i] = w


@njit(cache=True)
def maxinp_candidates(scores: np.ndarray, W: np.ndarray, beta: float, keep: np.ndarray) -> int:
    """keep[i] = for all j: (scores[i] - scores[j]) + beta W[i, j] >= 0; returns the count.

    scores[i] = phi_i' theta_hat and W the pairwise widths. The greedy arm is always kept (its
    score differences are >= 0 exactly), so the set is never empty; with theta_hat = theta* and
    beta = 0 it is exactly the set of optimal arms.
    """
    K = scores.shape[0]
    count = 0
    for i in range(K):
        ok = True
        for j in range(K):
            if (scores[i] - scores[j]) + beta * W[i, j] < 0.0:
                ok = False
                break
        keep[i] = ok
        if ok:
            count += 1
    return count


@njit(cache=True)
def maxinp_pair(phi_x: np.ndarray, theta: np.ndarray, Minv: np.ndarray, beta: float,
                scores: np.ndarray, W: np.ndarray, keep: np.ndarray,
                D: np.ndarray) -> tuple[int, int, float]:
    """MaxInP's pair (i, j), i < j, of candidates maximising W[i, j] (ties: the first pair in
    lexicographic order), and its width; (i, i, 0) when i is the only candidate.

    scores (K,), W (K, K), keep (K,) bool and D (d,) are work buffers.
    """
    K = phi_x.shape[0]
    learned_rewards(phi_x, theta, scores)
    pairwise_widths(phi_x, Minv, W, D)
    maxinp_candidates(scores, W, beta, keep)
    first = -1
    best_i = -1
    best_j = -1
    best_w = -1.0
    for i in range(K):
        if not keep[i]:
            continue
        if first < 0:
            first = i
        for j in range(i + 1, K):
            if keep[j] and W[i, j] > best_w:
                best_i = i
                best_j = j
                best_w = W[i, j]
    if best_i < 0:
        return first, first, 0.0
    return best_i, best_j, best_w


@njit(cache=True)
def feature_width(phi_x: np.ndarray, i: int, Minv: np.ndarray) -> float:
    """||phi(x, i)||_{M^{-1}} (the quadratic form clipped at 0 against rounding)."""
    d = phi_x.shape[1]
    q = 0.0
    for j in range(d):
        acc = 0.0
        for k in range(d):
            acc += Minv[j, k] * phi_x[i, k]
        q += phi_x[i, j] * acc
    return math.sqrt(q) if q > 0.0 else 0.0


@njit(cache=True)
def colstim_pair(phi_x: np.ndarray, theta: np.ndarray, Minv: np.ndarray, c: float,
                 gumbel: np.ndarray, scale: float, threshold: float, width_scaled: bool,
                 scores: np.ndarray, D: np.ndarray) -> tuple[int, int, float]:
    """CoLSTIM's pair after its exploration phase (Bengs, Saha, Hullermeier 2022, Algorithm 1):

        eps_i  = clip(scale G_i, -threshold, threshold)                  (G_i standard Gumbel)
        first  = argmax_i phi_i' theta + eps_i ||phi_i||_{M^{-1}}       (width_scaled, the paper)
               = argmax_i phi_i' theta + eps_i                          (not width_scaled)
        second = argmax_j phi_j' theta + c ||phi_j - phi_first||_{M^{-1}}

    (ties: lowest index); returns (first, second, ||z||_{M^{-1}}). threshold = inf: no clipping.
    """
    K = phi_x.shape[0]
    learned_rewards(phi_x, theta, scores)
    first = 0
    best = -np.inf
    for i in range(K):
        e = scale * gumbel[i]
        if e > threshold:
            e = threshold
        elif e < -threshold:
            e = -threshold
        if width_scaled:
            e *= feature_width(phi_x, i, Minv)
        v = scores[i] + e
        if v > best:
            best = v
            first = i
    second, width = optimistic_second_arm(phi_x, scores, first, Minv, c, D)
    return first, second, width


@njit(cache=True)
def uniform_distinct_pair(K: int, u0: float, u1: float) -> tuple[int, int]:
    """a = floor(K u0), a' = floor((K - 1) u1) shifted past a: uniform over ordered pairs of
    distinct arms for u0, u1 ~ U[0, 1) (the rule of `sim.queries.uniform_pairs`)."""
    i = min(int(u0 * K), K - 1)
    j = min(int(u1 * (K - 1)), K - 2)
    if j >= i:
        j += 1
    return i, j
