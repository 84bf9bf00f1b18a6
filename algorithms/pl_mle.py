"""The regularised Plackett-Luce MLE and the pairwise-breaking baseline (ALGORITHMS.md 7).

PL MLE: argmin_theta sum_t l_t(theta) + (lambda/2) ||theta||^2, l_t the negative
log-likelihood of ranking t (`algorithms.pl_omd`, module docstring), by Newton's method with
backtracking (Armijo) line search (the full step once the predicted decrease is below the
rounding of the objective), to ||gradient|| <= tol (max(1, ||theta||)). The objective
is strictly convex (lambda > 0), so Newton converges from any start; the sums of gradients and
Hessians over the T rankings are compiled (`pl_objective`), O(T m d^2) per iteration.

Pairwise breaking (Zhu, Jordan and Jiao 2023's baseline): every ranking of m items is split
into the pairs it implies, fitted as Bradley-Terry. Pair (i, j) of positions i < j in the
order shown gives z = F_i - F_j and y = 1[item i placed above item j] (`pairwise_breaking`),
so with m = 2 the broken data are exactly the pairwise data (z = phi(a_1) - phi(a_2),
y = the Bradley-Terry label). Full rankings give m (m - 1) / 2 pairs, top-1 choices the m - 1
pairs of the chosen item. The pairs of one ranking are not independent: treating them as
independent is the misspecification the PL MLE avoids.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.validation import check_positive

from .mle import mle
from .pl_omd import _stage_weights, add_stage_hessian, check_rankings

PL_MLE_TOL = 1e-10
PL_MLE_MAX_ITER = 100


@njit(cache=True)
def pl_objective(F: np.ndarray, rank: np.ndarray, n: int, n_stages: int, lam: float,
                 theta: np.ndarray, g: np.ndarray, H: np.ndarray, want: int) -> float:
    """sum_{t < n} l_t(theta) + lam/2 ||theta||^2; with want >= 1 the gradient into g, with
    want >= 2 the Hessian into H as well (module docstring of `algorithms.pl_omd`)."""
    T, m, d = F.shape
    k1 = m - 1
    ns = min(n_stages, k1)
    G = np.empty((k1, d))
    r = np.empty(m)
    e = np.empty(m)
    b = np.empty(k1)
    A = np.empty((k1, k1))
    f = 0.5 * lam * np.dot(theta, theta)
    if want >= 1:
        for i in range(d):
            g[i] = lam * theta[i]
    if want >= 2:
        for i in range(d):
            for j in range(d):
                H[i, j] = lam if i == j else 0.0
    for t in range(n):
        last = rank[t, k1]
        for k in range(k1):
            src = rank[t, k]
            acc = 0.0
            for i in range(d):
                G[k, i] = F[t, src, i] - F[t, last, i]
                acc += G[k, i] * theta[i]
            r[k] = acc
        r[k1] = 0.0
        for j in range(ns):  # l = sum_j logsumexp_{k >= j} r_k - r_j
            c = r[j]
            for k in range(j + 1, m):
                c = max(c, r[k])
            tot = 0.0
            for k in range(j, m):
                tot += math.exp(r[k] - c)
            f += c + math.log(tot) - r[j]
        if want >= 1:
            _stage_weights(r, e, m, ns, b, A)
            for k in range(k1):
                for i in range(d):
                    g[i] += b[k] * G[k, i]
            if want >= 2:
                add_stage_hessian(H, G, A, k1, d)
    return f


@njit(cache=True)
def pl_mle_newton(F: np.ndarray, rank: np.ndarray, n: int, n_stages: int, lam: float,
                  theta0: np.ndarray, tol: float, max_iter: int
                  ) -> tuple[np.ndarray, int, bool]:
    """Damped Newton on the first n rankings from theta0: (theta, iterations, converged)."""
    d = theta0.shape[0]
    theta = theta0.copy()
    g = np.empty(d)
    H = np.empty((d, d))
    dummy_g = np.empty(d)
    dummy_H = np.empty((0, 0))
    for it in range(max_iter):
        f = pl_objective(F, rank, n, n_stages, lam, theta, g, H, 2)
        gn = math.sqrt(np.dot(g, g))
        if gn <= tol * max(1.0, math.sqrt(np.dot(theta, theta))):
            return theta, it, True
        step = np.linalg.solve(H, g)
        slope = np.dot(g, step)
        s = 1.0
        # near the optimum the decrease is below the rounding of f: take the Newton step
        while s > 1e-12 and slope > 1e-12 * max(1.0, abs(f)):
            cand = theta - s * step
            fc = pl_objective(F, rank, n, n_stages, lam, cand, dummy_g, dummy_H, 0)
            if fc <= f - 1e-4 * s * slope:
                break
            s *= 0.5
        theta = theta - s * step
    f = pl_objective(F, rank, n, n_stages, lam, theta, g, H, 1)
    gn = math.sqrt(np.dot(g, g))
    return theta, max_iter, gn <= tol * max(1.0, math.sqrt(np.dot(theta, theta)))


def pl_mle(F, rank, *, lam: float, top1: bool = False, tol: float = PL_MLE_TOL,
           max_iter: int = PL_MLE_MAX_ITER, theta0=None) -> np.ndarray:
    """The regularised Plackett-Luce MLE (module docstring).

    Parameters
    ----------
    F : (T, m, d) array
        Features of the items of each query, in the order shown.
    rank : (T, m) int array
        rank[t, j] = index of the item at place j.
    lam : float
        Ridge regulariser lambda > 0.
    top1 : bool
        Use the first place only (multinomial-logit choice).
    tol, max_iter : float, int
        Newton stopping rule; ValueError is not raised on non-convergence, but a
        RuntimeError is (the objective is strictly convex, so it means a numerical problem).
    theta0 : (d,) array, optional
        Warm start.
    """
    F, rank = check_rankings(F, rank)
    lam = check_positive("lam", lam)
    T, m, d = F.shape
    start = np.zeros(d) if theta0 is None else np.ascontiguousarray(theta0, dtype=np.float64)
    theta, _, ok = pl_mle_newton(F, rank, T, 1 if top1 else m - 1, lam, start, float(tol),
                                 int(max_iter))
    if not ok:
        raise RuntimeError(f"pl_mle: Newton did not reach tol = {tol:g} in {max_iter} "
                           "iterations")
    return theta


def pl_mle_checkpoints(F, rank, checkpoints, *, lam: float, top1: bool = False,
                       tol: float = PL_MLE_TOL, max_iter: int = PL_MLE_MAX_ITER) -> np.ndarray:
    """The PL MLE on the first t rankings at each checkpoint t (warm-started): (n, d)."""
    F, rank = check_rankings(F, rank)
    lam = check_positive("lam", lam)
    T, m, d = F.shape
    out = np.empty((len(checkpoints), d))
    theta = np.zeros(d)
    for k, t in enumerate(checkpoints):
        theta, _, _ = pl_mle_newton(F, rank, int(t), 1 if top1 else m - 1, lam, theta,
                                    float(tol), int(max_iter))
        out[k] = theta
    return out


def pairwise_breaking(F, rank, *, top1: bool = False) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Pairs implied by rankings (module docstring): (Z (P, d), y (P,), row (P,)), row the index
    of the ranking each pair comes from. Pairs of one ranking are consecutive, ordered by
    (i, j), i < j positions in the order shown."""
    F, rank = check_rankings(F, rank)
    T, m, d = F.shape
    place = np.empty_like(rank)
    place[np.arange(T)[:, None], rank] = np.arange(m)[None, :]
    ii, jj = np.triu_indices(m, k=1)
    if top1:
        winner = rank[:, 0]
        keep = (winner[:, None] == ii[None, :]) | (winner[:, None] == jj[None, :])
    else:
        keep = np.ones((T, ii.shape[0]), dtype=bool)
    rows, cols = np.nonzero(keep)
    Z = F[rows, ii[cols]] - F[rows, jj[cols]]
    y = (place[rows, ii[cols]] < place[rows, jj[cols]]).astype(np.float64)
    return np.ascontiguousarray(Z), y, rows.astype(np.int64)


def breaking_mle(F, rank, *, lam: float, top1: bool = False, B: float | None = None
                 ) -> np.ndarray:
    """Pairwise breaking fitted by the Bradley-Terry MLE (`algorithms.mle.mle`)."""
    Z, y, _ = pairwise_breaking(F, rank, top1=top1)
    return mle(Z, y, lam=lam, B=B)


def breaking_mle_checkpoints(F, rank, checkpoints, *, lam: float, top1: bool = False
                             ) -> np.ndarray:
    """Pairwise breaking + BT MLE on the first t rankings at each checkpoint t: (n, d)."""
    from .mle import MLE_MAX_ITER, MLE_TOL, mle_newton

    Z, y, rows = pairwise_breaking(F, rank, top1=top1)
    ends = np.searchsorted(rows, np.asarray(checkpoints), side="left")
    out = np.empty((len(checkpoints), Z.shape[1]))
    theta = np.zeros(Z.shape[1])
    for k, n in enumerate(ends):
        theta, _, _ = mle_newton(Z, y, int(n), lam, math.inf, theta, MLE_TOL, MLE_MAX_ITER)
        out[k] = theta
    return out


__all__ = ["breaking_mle", "breaking_mle_checkpoints", "pairwise_breaking", "pl_mle",
           "pl_mle_checkpoints", "pl_mle_newton", "pl_objective"]
