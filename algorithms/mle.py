"""Regularised maximum-likelihood reward model (ALGORITHMS.md 2.3), the baselines' estimator.

    theta_hat = argmin_{||theta|| <= B} F(theta),  F(theta) = sum_i l_i(theta) + (lambda/2)||theta||^2

(B = inf: unconstrained). Solved by warm-started projected Newton: the Newton point
theta - H^{-1} grad F is projected onto the ball in the H norm (the exact minimiser of the
local quadratic model over the ball), then a step along the segment, which stays inside the
convex ball.

Sums. Each iteration needs grad F and the Hessian H = lambda I + sum_i sigma'(z_i'theta) z_i z_i'
(O(n d^2)); they are computed in one compiled pass over the rows, split into fixed chunks of
MLE_CHUNK rows (within a chunk by matrix products, one exp per row) that run in parallel (numba
prange) when numba has several threads, and are added in chunk order, so the result does not
depend on the number of threads. The objective F is evaluated only when a line search needs
it.

Stopping rules (the `tol` argument of `mle_newton`):

- tol > 0, exact (`mle`, the default of the training stage): stop when the step's largest entry
  is below tol (1 + ||theta||_inf); Newton's quadratic convergence makes the error then about
  tol^2. Steps are damped by an Armijo line search on F, except once the predicted decrease is
  below the rounding noise of F (1e-12 |F|), when the full step is taken.
- tol < 0, at the statistical precision of the fit (rtol = -tol; MLE_STAT_RTOL by default, the
  deployment baselines' refits): with the Newton decrement nu = sqrt(grad' H^{-1} grad) (the H
  distance to the optimum to first order), a step with nu <= MLE_FULL_STEP is taken in full
  and, when nu^2 <= rtol sqrt(d), the fit stops after it without another pass: by quadratic
  convergence the distance to the exact MLE after the step is O(nu^2) in the H norm, at most
  about rtol times sqrt(d), the size of the fit's own statistical error ||theta_hat - theta*||_H
  (a chi_d-sized quantity). Larger steps use the Armijo line search. A refit warm-started from
  the previous round's fit typically needs one pass (two in the first rounds), instead of the
  three passes and the objective evaluations of the exact rule, and the optimisation error does
  not accumulate over rounds: the next warm start corrects it.

Refitting after every observation costs O(t d^2) per round (one or two passes).
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit, prange

from sim.core.links import bt_loss
from sim.core.validation import check_design, check_positive

from .linalg import project_ball_metric

if "NUMBA_THREADING_LAYER" not in os.environ:
    # The sweep runner forks worker processes; numba's GNU OpenMP layer does not survive a fork
    # after its threads started (the children abort), its workqueue layer does. An explicit
    # NUMBA_THREADING_LAYER in the environment wins.
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

MLE_TOL = 1e-10
"""Default tolerance on the Newton step (relative to 1 + ||theta||_inf): the exact rule."""
MLE_STAT_RTOL = 1e-3
"""Default rtol of the statistical-precision rule (module docstring); passed as tol = -rtol."""
MLE_FULL_STEP = 0.25
"""Newton decrement below which the statistical-precision rule takes the full step."""
MLE_MAX_ITER = 100
MLE_CHUNK = 1024
"""Rows per chunk of the sums (fixed, so the sums do not depend on the threads)."""
MLE_PARALLEL_CHUNKS = 8
"""From this many chunks on, the chunks run in parallel (below, thread start-up dominates)."""


@njit(cache=True, fastmath={"reassoc", "contract"})
def _gram_upper(S, m, H):
    """H[j, k] = sum_{i < m} S[j, i] S[k, i] for k >= j (contiguous, vectorised reductions)."""
    d = S.shape[0]
    for j in range(d):
        for k in range(j, d):
            acc = 0.0
            for i in range(m):
                acc += S[j, i] * S[k, i]
            H[j, k] = acc


@njit(cache=True)
def _block_grad_hess(Z, y, lo, hi, theta, G, H, S):
    """G = sum_{lo <= i < hi} (sigma(z_i'theta) - y_i) z_i and the upper triangle of
    H = sum sigma'(z_i'theta) z_i z_i' over one block of rows; one exp per row. S (d, >= hi - lo)
    is a work buffer (receives sqrt(sigma') z_i as columns)."""
    d = Z.shape[1]
    m = hi - lo
    G[:] = 0.0
    for i in range(m):
        z = Z[lo + i]
        w = 0.0
        for j in range(d):
            w += z[j] * theta[j]
        h = math.exp(-0.5 * abs(w))
        e = h * h                                   # e^{-|w|}
        inv = 1.0 / (1.0 + e)
        c = (inv if w >= 0.0 else e * inv) - y[lo + i]
        r = h * inv                                 # sqrt(sigma'(w)) = e^{-|w|/2} / (1 + e^{-|w|})
        for j in range(d):
            G[j] += c * z[j]
            S[j, i] = r * z[j]
    _gram_upper(S, m, H)


@njit(cache=True, parallel=True)
def _chunked_grad_hess(Z, y, n, theta, Gp, Hp):
    d = Z.shape[1]
    for c in prange(Gp.shape[0]):
        lo = c * MLE_CHUNK
        S = np.empty((d, MLE_CHUNK))
        _block_grad_hess(Z, y, lo, min(n, lo + MLE_CHUNK), theta, Gp[c], Hp[c], S)


@njit(cache=True)
def grad_hess(Z: np.ndarray, y: np.ndarray, n: int, lam: float, theta: np.ndarray,
              G: np.ndarray, H: np.ndarray) -> None:
    """G = grad F(theta), H = Hessian of F at theta, over the first n rows (in place).

    The rows are cut into chunks of MLE_CHUNK; the chunks run in parallel (prange, on numba's
    threads) from MLE_PARALLEL_CHUNKS chunks on, and their sums are added in chunk order, so the
    result is the same whatever the number of threads."""
    d = Z.shape[1]
    nch = max(1, (n + MLE_CHUNK - 1) // MLE_CHUNK)
    Gp = np.empty((nch, d))
    Hp = np.empty((nch, d, d))
    if nch >= MLE_PARALLEL_CHUNKS:
        _chunked_grad_hess(Z, y, n, theta, Gp, Hp)
    else:
        S = np.empty((d, min(n, MLE_CHUNK)))
        for c in range(nch):
            lo = c * MLE_CHUNK
            _block_grad_hess(Z, y, lo, min(n, lo + MLE_CHUNK), theta, Gp[c], Hp[c], S)
    for j in range(d):
        G[j] = lam * theta[j]
        for k in range(d):
            H[j, k] = lam if j == k else 0.0
    for c in range(nch):
        for j in range(d):
            G[j] += Gp[c, j]
            for k in range(j, d):
                H[j, k] += Hp[c, j, k]
    for j in range(d):                                # exact symmetry
        for k in range(j):
            H[j, k] = H[k, j]


@njit(cache=True)
def _rows_loss(Z, y, lo, hi, theta):
    f = 0.0
    for i in range(lo, hi):
        f += bt_loss(np.dot(Z[i], theta), y[i])
    return f


@njit(cache=True, parallel=True)
def _chunked_loss(Z, y, n, theta, fp):
    for c in prange(fp.shape[0]):
        lo = c * MLE_CHUNK
        fp[c] = _rows_loss(Z, y, lo, min(n, lo + MLE_CHUNK), theta)


@njit(cache=True)
def _objective(Z, y, n, lam, theta):
    """F(theta) over the first n rows (chunked like `grad_hess`)."""
    f = 0.5 * lam * np.dot(theta, theta)
    nch = (n + MLE_CHUNK - 1) // MLE_CHUNK
    if nch <= 1:
        return f + _rows_loss(Z, y, 0, n, theta)
    fp = np.empty(nch)
    if nch >= MLE_PARALLEL_CHUNKS:
        _chunked_loss(Z, y, n, theta, fp)
    else:
        for c in range(nch):
            lo = c * MLE_CHUNK
            fp[c] = _rows_loss(Z, y, lo, min(n, lo + MLE_CHUNK), theta)
    for c in range(nch):
        f += fp[c]
    return f


@njit(cache=True)
def mle_newton(Z: np.ndarray, y: np.ndarray, n: int, lam: float, B: float,
               theta0: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    """Regularised (projected) Newton on the first n rows of (Z, y), from theta0.

    tol > 0: the exact rule; tol < 0: the statistical-precision rule with rtol = -tol (module
    docstring). Returns (theta, iterations, converged). B = inf means unconstrained.
    """
    d = Z.shape[1]
    theta = theta0.copy()
    tn = math.sqrt(np.dot(theta, theta))
    if tn > B:
        theta *= B / tn * (1.0 - 1e-15)
    G = np.empty(d)
    H = np.empty((d, d))
    proj = np.empty(d)
    stat = tol < 0.0
    stat_stop = -tol * math.sqrt(d)
    have_f = False
    f = 0.0
    for it in range(max_iter):
        grad_hess(Z, y, n, lam, theta, G, H)
        p = -np.linalg.solve(H, G)
        newton = theta + p
        if math.sqrt(np.dot(newton, newton)) > B:
            project_ball_metric(newton, H, B, proj)
            p = proj - theta
        slope = np.dot(G, p)
        if stat:
            # nu^2 = -slope for the unconstrained step (for a projected step, the model decrease)
            if slope >= 0.0:
                return theta, it + 1, True
            nu2 = -slope
            if nu2 <= MLE_FULL_STEP * MLE_FULL_STEP:
                theta += p
                have_f = False
                if nu2 <= stat_stop:
                    return theta, it + 1, True
                continue
        else:
            pmax = np.abs(p).max()
            if slope >= 0.0 or pmax <= tol * (1.0 + np.abs(theta).max()):
                if slope < 0.0:
                    theta += p
                return theta, it + 1, True
        if not have_f:
            f = _objective(Z, y, n, lam, theta)
            have_f = True
        if -slope <= 1e-12 * (abs(f) + 1.0):
            # The predicted decrease is below the rounding noise of a sum of n losses: F
            # cannot judge the step, and Newton is in its local regime. Take the full step.
            theta += p
            have_f = False
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
                  max_iter: int, lazy: bool, path_out: np.ndarray, stats: np.ndarray) -> None:
    """MLE refit on the first t rows for t = 1..T (warm-started), rows of path_out as in
    `omd_run` (row 0 = 0). lazy=True refits only when t is a power of two and keeps the last
    fit otherwise. stats[0] receives the total number of Newton iterations, stats[1] the
    number of refits that did not converge and stats[2] the first round t that did not (0:
    none)."""
    d = Z.shape[1]
    theta = np.zeros(d)
    path_out[0, :] = theta
    stats[:] = 0
    for t in range(1, Z.shape[0] + 1):
        if (not lazy) or (t & (t - 1)) == 0:
            theta, its, ok = mle_newton(Z, y, t, lam, B, theta, tol, max_iter)
            stats[0] += its
            if not ok:
                stats[1] += 1
                if stats[2] == 0:
                    stats[2] = t
        path_out[t, :] = theta


def _check_B(B):
    return math.inf if B is None else check_positive("B", B)


def mle(Z, y, *, lam: float, B: float | None = None, tol: float = MLE_TOL,
        max_iter: int = MLE_MAX_ITER, theta0=None) -> np.ndarray:
    """Regularised MLE argmin sum_i l_i(theta) + (lam/2)||theta||^2, over ||theta|| <= B when
    B is given. Z (T, d) feature differences, y (T,) labels in {0, 1}; returns theta (d,).
    tol > 0 the exact rule, tol < 0 the statistical-precision rule (module docstring).
    Raises RuntimeError if Newton does not converge within max_iter iterations."""
    Z, yv = check_design(Z, y)
    lam = check_positive("lam", lam)
    Bv = _check_B(B)
    _check_tol(tol)
    d = Z.shape[1]
    th0 = np.zeros(d) if theta0 is None else np.ascontiguousarray(theta0, dtype=np.float64)
    if th0.shape != (d,) or not np.all(np.isfinite(th0)):
        raise ValueError(f"theta0 must be a finite array of shape ({d},), got {th0.shape}")
    theta, its, ok = mle_newton(Z, yv, Z.shape[0], lam, Bv, th0, float(tol), int(max_iter))
    if not ok:
        raise RuntimeError(f"MLE Newton did not converge to tol={tol} in {max_iter} iterations")
    return theta


def _check_tol(tol) -> None:
    if not (isinstance(tol, (int, float, np.floating)) and math.isfinite(tol) and tol != 0.0):
        raise ValueError(f"tol must be a finite non-zero number (> 0 exact, < 0 statistical), "
                         f"got {tol!r}")


def mle_path(Z, y, *, lam: float, B: float | None = None, refit: str = "every",
             tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER) -> np.ndarray:
    """(T+1, d) MLE iterates: row 0 is 0, row t the MLE on the first t observations.

    refit="every" refits after every observation (the faithful baseline, O(t) per round);
    refit="lazy" refits only at t = 1, 2, 4, 8, ... (an explicit, labelled shortcut).
    Raises RuntimeError naming the first round whose refit did not converge, as `mle` does.
    """
    if refit not in ("every", "lazy"):
        raise ValueError(f"refit must be 'every' or 'lazy', got {refit!r}")
    Z, yv = check_design(Z, y)
    lam = check_positive("lam", lam)
    _check_tol(tol)
    path = np.empty((Z.shape[0] + 1, Z.shape[1]))
    stats = np.zeros(3, dtype=np.int64)
    mle_refit_run(Z, yv, lam, _check_B(B), float(tol), int(max_iter), refit == "lazy", path,
                  stats)
    if stats[1]:
        raise RuntimeError(f"MLE Newton did not converge to tol={tol} in {max_iter} iterations "
                           f"in {int(stats[1])} refit(s), first at t = {int(stats[2])}")
    return path
