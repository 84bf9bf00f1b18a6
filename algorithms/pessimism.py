"""Policies extracted from a reward estimate: pessimistic (exact, Frank-Wolfe), the per-context
LCB proxy, and greedy (ALGORITHMS.md 3.1, the output step of the paper's Algorithm 2).

With an estimate theta, a positive definite matrix A (A = Hcal^{-1} for the one-pass OMD,
A = V^{-1} for the pessimistic MLE), a radius beta and a reference vector v, the pessimistic
objective of a policy pi is

    Jtilde(pi) = (m(pi) - v)' theta - beta ||m(pi) - v||_A,
    m(pi)      = E_{x ~ rho} E_{a ~ pi(x)} phi(x, a).

Jtilde is concave in m and m is linear in a stochastic policy, so maximising it over stochastic
policies is a convex problem over the polytope M = {m(pi)}, a rho-weighted product of one
simplex per context. `pessimistic_policy` solves it by Frank-Wolfe: each linear step is a
per-context argmax of phi(x, a)' g for the (super)gradient g, the duality gap certifies the
value. The per-context lower confidence bound `lcb_proxy_policy` is a cheaper *proxy*, not the
maximiser of Jtilde; `greedy_policy` ignores the uncertainty.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

FW_TOL = 1e-8
"""Default Frank-Wolfe tolerance: stop when the duality gap is <= tol (1 + |Jtilde(m)|)."""
FW_MAX_ITER = 100_000
"""Default cap on Frank-Wolfe iterations."""


@njit(cache=True)
def _mean_feature(phi: np.ndarray, rho: np.ndarray, pi: np.ndarray, v: np.ndarray,
                  out: np.ndarray) -> None:
    """out = m(pi) - v = sum_x rho_x sum_a pi(a | x) phi(x, a) - v."""
    n_x, K, d = phi.shape
    for j in range(d):
        out[j] = -v[j]
    for x in range(n_x):
        if rho[x] == 0.0:
            continue
        for a in range(K):
            w = rho[x] * pi[x, a]
            if w != 0.0:
                for j in range(d):
                    out[j] += w * phi[x, a, j]


@njit(cache=True)
def _scores(phi: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out[x, a] = phi(x, a)' g."""
    n_x, K, d = phi.shape
    for x in range(n_x):
        for a in range(K):
            s = 0.0
            for j in range(d):
                s += phi[x, a, j] * g[j]
            out[x, a] = s


@njit(cache=True)
def _segment_slope(a: float, c0: float, c1: float, c2: float, beta: float, gamma: float) -> float:
    """f'(gamma) for f of `segment_argmax`; at the kink q = 0 the left derivative."""
    r = c1 + gamma * c2
    q = c0 + gamma * (2.0 * c1 + gamma * c2)
    bound = math.sqrt(c2)
    if q > 0.0:
        ratio = r / math.sqrt(q)
        ratio = min(max(ratio, -bound), bound)  # |c1 + c2 gamma| <= sqrt(c2 q) (Cauchy-Schwarz)
    else:
        ratio = bound if r > 0.0 else -bound
    return a - beta * ratio


@njit(cache=True)
def segment_argmax(a: float, c0: float, c1: float, c2: float, beta: float, gmax: float) -> float:
    """argmax over gamma in [0, gmax] of f(gamma) = a gamma - beta sqrt(q(gamma)),
    q(gamma) = c0 + 2 c1 gamma + c2 gamma^2.

    This is Jtilde along the segment m + gamma D (a = theta'D, c0 = ||u||_A^2, c1 = u'A D,
    c2 = ||D||_A^2, u = m - v), a concave function: its slope
    f'(gamma) = a - beta (c1 + c2 gamma) / sqrt(q(gamma)) decreases (jumping down by
    2 beta sqrt(c2) at the kink m + gamma D = v, if the segment passes through v). The root of
    the slope is found by bisection to the resolution of floating point, which stays accurate
    where the closed-form root of the quadratic suffers cancellation (u nearly parallel to D).
    """
    if not gmax > 0.0 or _segment_slope(a, c0, c1, c2, beta, 0.0) <= 0.0:
        return 0.0
    if _segment_slope(a, c0, c1, c2, beta, gmax) >= 0.0:
        return gmax
    lo = 0.0
    hi = gmax
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _segment_slope(a, c0, c1, c2, beta, mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return lo if lo > 0.0 else hi


@njit(cache=True)
def frank_wolfe_pessimism(phi: np.ndarray, rho: np.ndarray, theta: np.ndarray, A: np.ndarray,
                          beta: float, v: np.ndarray, ub0: float, tol: float, max_iter: int,
                          pi: np.ndarray) -> tuple[float, float, int, bool]:
    """Maximise Jtilde over stochastic policies by pairwise Frank-Wolfe, in place on pi.

    pi (n_x, K) is the starting policy (rows on the simplex) and receives the solution.
    Supergradient at u = m - v != 0: g = theta - p, p = beta A u / ||u||_A. At the kink u = 0
    any g = theta - p with ||p||_{A^{-1}} <= beta is a supergradient; the last p is reused.
    For every such p, Jtilde(m') <= (m' - v)'g for all m', so
    h(p) = max_{s in M} (s - v)' g is an upper bound on max Jtilde (the dual bound), and the
    duality gap is min_k h(p_k) - Jtilde(m) (ub0: an extra upper bound supplied by the caller).
    Each iteration moves mass, in every context, from the worst supported arm to the best arm
    under g (pairwise step, common step bounded by the smallest moved mass), with an exact line
    search (`segment_argmax`); if that step makes no progress, a plain Frank-Wolfe step towards
    the per-context argmax vertex is tried. Stops when gap <= tol (1 + |Jtilde|), when no step
    improves, or after max_iter iterations.
    Returns (Jtilde(m), gap, iterations, converged).
    """
    n_x, K, d = phi.shape
    u = np.empty(d)
    g = np.empty(d)
    p = np.zeros(d)
    D = np.empty(d)
    scores = np.empty((n_x, K))
    best = np.empty(n_x, dtype=np.int64)
    worst = np.empty(n_x, dtype=np.int64)
    best_ub = ub0
    value = -math.inf
    gap = math.inf
    it = 0
    converged = False
    while True:
        _mean_feature(phi, rho, pi, v, u)
        Au = A @ u
        q = max(np.dot(u, Au), 0.0)
        nrm = math.sqrt(q)
        value = np.dot(theta, u) - beta * nrm
        if nrm > 0.0:
            for j in range(d):
                p[j] = beta * Au[j] / nrm
        for j in range(d):
            g[j] = theta[j] - p[j]
        _scores(phi, g, scores)
        h = -np.dot(v, g)
        for x in range(n_x):
            bx = 0
            wx = -1
            for a in range(K):
                if scores[x, a] > scores[x, bx]:
                    bx = a
                if pi[x, a] > 0.0 and (wx < 0 or scores[x, a] < scores[x, wx]):
                    wx = a
            best[x] = bx
            worst[x] = wx
            h += rho[x] * scores[x, bx]
        best_ub = min(best_ub, h)
        gap = max(best_ub - value, 0.0)
        if gap <= tol * (1.0 + abs(value)):
            converged = True
            break
        if it >= max_iter:
            break
        it += 1
        # pairwise direction
        gmax = math.inf
        for j in range(d):
            D[j] = 0.0
        for x in range(n_x):
            if rho[x] == 0.0 or best[x] == worst[x]:
                continue
            gmax = min(gmax, pi[x, worst[x]])
            for j in range(d):
                D[j] += rho[x] * (phi[x, best[x], j] - phi[x, worst[x], j])
        gamma = 0.0
        if gmax < math.inf:
            AD = A @ D
            gamma = segment_argmax(np.dot(theta, D), q, np.dot(u, AD), np.dot(D, AD), beta, gmax)
        if gamma > 0.0:
            for x in range(n_x):
                if rho[x] == 0.0 or best[x] == worst[x]:
                    continue
                rest = pi[x, worst[x]] - gamma
                if rest <= 1e-15:
                    pi[x, best[x]] += pi[x, worst[x]]
                    pi[x, worst[x]] = 0.0
                else:
                    pi[x, best[x]] += gamma
                    pi[x, worst[x]] = rest
            continue
        # plain Frank-Wolfe direction: towards the vertex of per-context argmaxes
        for j in range(d):
            D[j] = -u[j] - v[j]
        for x in range(n_x):
            if rho[x] != 0.0:
                for j in range(d):
                    D[j] += rho[x] * phi[x, best[x], j]
        AD = A @ D
        gamma = segment_argmax(np.dot(theta, D), q, np.dot(u, AD), np.dot(D, AD), beta, 1.0)
        if not gamma > 0.0:
            break
        for x in range(n_x):
            if rho[x] == 0.0:
                continue
            for a in range(K):
                pi[x, a] *= 1.0 - gamma
            pi[x, best[x]] += gamma
    for x in range(n_x):
        s = 0.0
        for a in range(K):
            s += pi[x, a]
        for a in range(K):
            pi[x, a] /= s
    return value, gap, it, converged


class PessimisticSolution(NamedTuple):
    """Output of `pessimistic_policy`."""

    policy: np.ndarray
    """(n_x, K) stochastic policy pi(a | x)."""
    value: float
    """Jtilde(pi)."""
    gap: float
    """Certified duality gap: max Jtilde - Jtilde(pi) <= gap."""
    iterations: int
    converged: bool
    """gap <= tol (1 + |value|) was reached."""


def _as_float(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries")
    return arr


def _check_problem(phi, rho, theta, Ainv_metric, beta, v):
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    if phi.ndim != 3:
        raise ValueError(f"phi must be (n_x, K, d), got shape {phi.shape}")
    n_x, K, d = phi.shape
    rho = _as_float("rho", rho, (n_x,))
    theta = _as_float("theta", theta, (d,))
    A = _as_float("A (the inverse design matrix)", Ainv_metric, (d, d))
    v = _as_float("v", v, (d,))
    beta = float(beta)
    if not (math.isfinite(beta) and beta >= 0.0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    return phi, rho, theta, A, beta, v


def pessimistic_value(phi, rho, policy, theta, A, beta: float, v) -> float:
    """Jtilde(pi) = (m(pi) - v)' theta - beta ||m(pi) - v||_A for a deterministic (n_x,) or
    stochastic (n_x, K) policy."""
    phi, rho, theta, A, beta, v = _check_problem(phi, rho, theta, A, beta, v)
    pi = np.asarray(policy)
    if pi.ndim == 1:
        u = rho @ phi[np.arange(phi.shape[0]), pi] - v
    else:
        u = np.einsum("x,xa,xad->d", rho, pi, phi) - v
    return float(u @ theta - beta * math.sqrt(max(float(u @ A @ u), 0.0)))


def pessimistic_policy(phi, rho, theta, A, beta: float, v, *, tol: float = FW_TOL,
                       max_iter: int = FW_MAX_ITER) -> PessimisticSolution:
    """The stochastic policy maximising Jtilde(pi) (module docstring), by Frank-Wolfe.

    phi (n_x, K, d) features, rho (n_x,) context distribution, theta (d,) the estimate,
    A (d, d) the inverse design matrix (Hcal^{-1} or V^{-1}), beta >= 0 the radius, v (d,) the
    reference vector. Starts from the greedy policy on theta and stops when the certified
    duality gap is at most tol (1 + |Jtilde|) (`frank_wolfe_pessimism`). Contexts with
    rho_x = 0 do not enter Jtilde and keep the greedy arm.
    """
    phi, rho, theta, A, beta, v = _check_problem(phi, rho, theta, A, beta, v)
    if not (math.isfinite(tol) and tol > 0.0):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    n_x, K, _ = phi.shape
    pi = np.zeros((n_x, K))
    pi[np.arange(n_x), np.argmax(phi @ theta, axis=1)] = 1.0
    # Extra dual bound from p = t theta, t = min(1, beta / ||theta||_{A^{-1}}):
    # h(p) = (1 - t) max_s (s - v)' theta; it is 0 (tight) whenever ||theta||_{A^{-1}} <= beta.
    theta_norm = math.sqrt(max(float(theta @ np.linalg.solve(A, theta)), 0.0))
    t = 1.0 if theta_norm <= beta else beta / theta_norm
    ub0 = (1.0 - t) * float(rho @ (phi @ theta).max(axis=1) - v @ theta)
    value, gap, its, ok = frank_wolfe_pessimism(phi, rho, theta, A, beta, v, ub0, float(tol),
                                                int(max_iter), pi)
    return PessimisticSolution(pi, float(value), float(gap), int(its), bool(ok))


def lcb_proxy_policy(phi, theta, A, beta: float, v_x) -> np.ndarray:
    """The "lcb-proxy" policy: pi(x) = argmax_a phi(x, a)' theta - beta ||phi(x, a) - v_x||_A.

    A per-context lower confidence bound (ties: lowest arm), shape (n_x,) int64. It is a cheap
    proxy for the pessimistic policy, not the maximiser of Jtilde. v_x (n_x, d) is the
    per-context reference (0, or the behaviour's mean feature in that context).
    """
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    n_x, K, d = phi.shape
    theta = _as_float("theta", theta, (d,))
    A = _as_float("A (the inverse design matrix)", A, (d, d))
    v_x = _as_float("v_x", v_x, (n_x, d))
    diff = phi - v_x[:, None, :]
    width = np.sqrt(np.maximum(np.einsum("xad,de,xae->xa", diff, A, diff), 0.0))
    return np.argmax(phi @ theta - float(beta) * width, axis=1).astype(np.int64)


def greedy_policy(phi, theta) -> np.ndarray:
    """pi(x) = argmax_a phi(x, a)' theta (ties: lowest arm), shape (n_x,) int64."""
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    theta = _as_float("theta", theta, (phi.shape[2],))
    return np.argmax(phi @ theta, axis=1).astype(np.int64)
