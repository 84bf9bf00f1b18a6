"""Regularised maximum-likelihood reward model (ALGORITHMS.md 2.3), the baselines' estimator.

    theta_hat = argmin_{||theta|| <= B} F(theta),  F(theta) = sum_i l_i(theta) + (lambda/2)||theta||^2

(B = inf: unconstrained). Solved by warm-started projected Newton: the Newton point
theta - Hs^{-1} grad F is projected onto the ball in the Hs norm (this is the exact minimiser
of the local quadratic model over the ball), then an Armijo backtracking line search along
the segment, which stays inside the convex ball; once the predicted decrease is below the
rounding noise of the objective (1e-12 |F|), the full Newton step is taken without a line
search. Stops when the step's largest entry is below tol (1 + ||theta||_inf); Newton's quadratic
convergence makes the error then about tol^2.
Each iteration costs O(n d^2 + d^3): refitting after every observation costs O(t) per round.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import bt_loss, dsigmoid, sigmoid
from sim.core.validation import check_design, check_positive

from .linalg import project_ball_metric

MLE_TOL = 1e-10
"""Default tolerance on the Newton step (relative to 1 + ||theta||_inf)."""
MLE_MAX_ITER = 100


@njit(cache=True)
def _objective(Z, y, n, lam, theta):
    f = 0.5 * lam * np.dot(theta, theta)
    for i in range(n):
        f += bt_loss(np.dot(Z[i], theta), y[i])
    return f


@njit(cache=True)
def mle_newton(Z: np.ndarray, y: np.ndarray, n: int, lam: float, B: float,
               theta0: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    """Regularised (projected) Newton on the first n rows of (Z, y), from theta0.

    Returns (theta, iterations, converged). B = inf means unconstrained.
    """
    d = Z.shape[1]
    theta = theta0.copy()
    tn = math.sqrt(np.dot(theta, theta))
    if tn > B:
        theta *= B / tn * (1.0 - 1e-15)
    G = np.empty(d)
    H = np.empty((d, d))
    proj = np.empty(d)
    f = _objective(Z, y, n, lam, theta)
    for it in range(max_iter):
        for j in range(d):
            G[j] = lam * theta[j]
        H[:, :] = 0.0
        for j in range(d):
            H[j, j] = lam
        for i in range(n):
            z = Z[i]
            w = np.dot(z, theta)
            c = sigmoid(w) - y[i]
            s = dsigmoid(w)
            for j in range(d):
                G[j] += c * z[j]
                sz = s * z[j]
                for k in range(j, d):
                    H[j, k] += sz * z[k]
        for j in range(d):
            for k in range(j):
                H[j, k] = H[k, j]
        p = -np.linalg.solve(H, G)
        newton = theta + p
        if math.sqrt(np.dot(newton, newton)) > B:
            project_ball_metric(newton, H, B, proj)
            p = proj - theta
        slope = np.dot(G, p)
        pmax = np.abs(p).max()
        if slope >= 0.0 or pmax <= tol * (1.0 + np.abs(theta).max()):
            if slope < 0.0:
                theta += p
            return theta, it + 1, True
        if -slope <= 1e-12 * (abs(f) + 1.0):
            # The predicted decrease is below the rounding noise of a sum of n losses: F
            # cannot judge the step, and Newton is in its local regime. Take the full step.
            theta += p
            f = _objective(Z, y, n, lam, theta)
            continue
        alpha = 1.0
        # rounding slack: near the optimum F cannot resolve the decrease of a Newton step
        slack = 1e-14 * (abs(f) + 1.0)
        while True:
            cand = theta + alpha * p
            fc = _objective(Z, y, n, lam, cand)
            if fc <= f + 1e-4 * alpha * slope + slack or alpha < 1e-12:
                break
            alpha *= 0.5
        theta = cand
        f = fc
    return theta, max_iter, False


@njit(cache=True)
def mle_refit_run(Z: np.ndarray, y: np.ndarray, lam: float, B: float, tol: float,
                  max_iter: int, lazy: bool, path_out: np.ndarray) -> int:
    """MLE refit on the first t rows for t = 1..T (warm-started), rows of path_out as in
    `omd_run` (row 0 = 0). lazy=True refits only when t is a power of two and keeps the last
    fit otherwise. Returns the total number of Newton iterations."""
    d = Z.shape[1]
    theta = np.zeros(d)
    path_out[0, :] = theta
    total = 0
    for t in range(1, Z.shape[0] + 1):
        if (not lazy) or (t & (t - 1)) == 0:
            theta, its, _ = mle_newton(Z, y, t, lam, B, theta, tol, max_iter)
            total += its
        path_out[t, :] = theta
    return total


def _check_B(B):
    return math.inf if B is None else check_positive("B", B)


def mle(Z, y, *, lam: float, B: float | None = None, tol: float = MLE_TOL,
        max_iter: int = MLE_MAX_ITER, theta0=None) -> np.ndarray:
    """Regularised MLE argmin sum_i l_i(theta) + (lam/2)||theta||^2, over ||theta|| <= B when
    B is given. Z (T, d) feature differences, y (T,) labels in {0, 1}; returns theta (d,).
    Raises RuntimeError if Newton does not reach `tol` within max_iter iterations."""
    Z, yv = check_design(Z, y)
    lam = check_positive("lam", lam)
    Bv = _check_B(B)
    d = Z.shape[1]
    th0 = np.zeros(d) if theta0 is None else np.ascontiguousarray(theta0, dtype=np.float64)
    if th0.shape != (d,) or not np.all(np.isfinite(th0)):
        raise ValueError(f"theta0 must be a finite array of shape ({d},), got {th0.shape}")
    theta, its, ok = mle_newton(Z, yv, Z.shape[0], lam, Bv, th0, float(tol), int(max_iter))
    if not ok:
        raise RuntimeError(f"MLE Newton did not converge to tol={tol} in {max_iter} iterations")
    return theta


def mle_path(Z, y, *, lam: float, B: float | None = None, refit: str = "every",
             tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER) -> np.ndarray:
    """(T+1, d) MLE iterates: row 0 is 0, row t the MLE on the first t observations.

    refit="every" refits after every observation (the faithful baseline, O(t) per round);
    refit="lazy" refits only at t = 1, 2, 4, 8, ... (an explicit, labelled shortcut).
    """
    if refit not in ("every", "lazy"):
        raise ValueError(f"refit must be 'every' or 'lazy', got {refit!r}")
    Z, yv = check_design(Z, y)
    lam = check_positive("lam", lam)
    path = np.empty((Z.shape[0] + 1, Z.shape[1]))
    mle_refit_run(Z, yv, lam, _check_B(B), float(tol), int(max_iter), refit == "lazy", path)
    return path
