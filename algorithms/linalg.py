"""Linear-algebra kernels behind the estimators: rank-one inverse updates, the exact
projection onto the B-ball in a Mahalanobis norm, and conjugate gradients.

All kernels are compiled (numba) and work on plain float64 arrays in place where stated. Each
checks that the shapes of its arguments agree (a few integer comparisons) and raises ValueError
otherwise, so that no call reads or writes outside an array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PROJECTION_RTOL = 1e-14
"""Relative tolerance on ||u(mu)|| = B that ends the Lagrange-multiplier search."""


@njit(cache=True, inline="always")
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum_i a_i b_i, summed in index order (a compiled loop: at small d a call into BLAS costs
    more than the arithmetic). No shape check: a and b must have the same length."""
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@njit(cache=True, inline="always")
def rank_one_add(A: np.ndarray, u: np.ndarray, c: float) -> None:
    """A <- A + c u u' (row i gets (c u_i) u'); no shape check (`rank_one_update` checks).
    Two-dimensional indexing throughout: a row view per row costs more than the row's
    arithmetic at small d."""
    d = u.shape[0]
    for i in range(d):
        cu = c * u[i]
        for j in range(d):
            A[i, j] += cu * u[j]


@njit(cache=True, inline="always")
def rank_one_add_combination(A: np.ndarray, u: np.ndarray, c: float, x: np.ndarray,
                             out: np.ndarray) -> None:
    """A <- A + c u u', then out = A' x (A updated), in one pass over A.

    The arithmetic is that of `rank_one_add` followed by `row_combination(A, x, out)`: the same
    products, summed in the same order, so the results are bit-identical; A is read and
    written once instead of twice, which pays once A no longer fits in the cache (at small d
    the two simple loops vectorise better). No shape check."""
    d = u.shape[0]
    for i in range(d):
        out[i] = 0.0
    for j in range(d):
        cu = c * u[j]
        xj = x[j]
        for i in range(d):
            v = A[j, i] + cu * u[i]
            A[j, i] = v
            out[i] += xj * v


@njit(cache=True, inline="always")
def row_combination(A: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = A' x = sum_j x_j A[j, :] for A (m, n), x (m,), out (n,): a sum of rows (axpy form,
    vectorises without reassociating a reduction)."""
    m, n = A.shape
    for i in range(n):
        out[i] = 0.0
    for j in range(m):
        xj = x[j]
        for i in range(n):
            out[i] += xj * A[j, i]


@njit(cache=True)
def symv(A: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = A x for a symmetric A (= A' x, `row_combination`)."""
    if A.shape[0] != x.shape[0] or A.shape[1] != out.shape[0]:
        raise ValueError("symv: A (m, n), x (m,) and out (n,) must agree in shape")
    row_combination(A, x, out)


@njit(cache=True)
def rank_one_update(A: np.ndarray, u: np.ndarray, c: float) -> None:
    """A <- A + c u u' in place."""
    d = u.shape[0]
    if A.shape[0] != d or A.shape[1] != d:
        raise ValueError("rank_one_update: A must be (d, d) for u of length d")
    rank_one_add(A, u, c)


@njit(cache=True)
def sherman_morrison_update(Ainv: np.ndarray, z: np.ndarray, s: float, u: np.ndarray) -> float:
    """Ainv <- (A + s z z')^{-1} in place, given Ainv = A^{-1} (symmetric), s >= 0.

    (A + s z z')^{-1} = A^{-1} - s (A^{-1} z)(A^{-1} z)' / (1 + s z' A^{-1} z).
    `u` is a work vector; on return it holds A^{-1} z (old inverse). Returns q = z' A^{-1} z.
    """
    if z.shape[0] != u.shape[0]:
        raise ValueError("sherman_morrison_update: z and u must have the same length")
    symv(Ainv, z, u)
    q = np.dot(z, u)
    rank_one_update(Ainv, u, -s / (1.0 + s * q))
    return q


@njit(cache=True)
def _norm_at(c: np.ndarray, nu: np.ndarray, mu: float) -> float:
    acc = 0.0
    for i in range(c.shape[0]):
        v = c[i] / (1.0 + mu * nu[i])
        acc += v * v
    return math.sqrt(acc)


@njit(cache=True)
def project_ball_eig(theta: np.ndarray, nu: np.ndarray, Q: np.ndarray, B: float,
                     out: np.ndarray) -> float:
    """Exact projection onto {||u||_2 <= B} in the norm of M^{-1}, M = Q diag(nu) Q' (nu > 0).

    argmin_{||u|| <= B} (u - theta)' M^{-1} (u - theta). KKT: u(mu) = (M^{-1} + mu I)^{-1} M^{-1}
    theta = Q diag(1 / (1 + mu nu)) Q' theta with mu >= 0 and mu (||u(mu)|| - B) = 0.
    ||u(mu)|| is strictly decreasing in mu, so mu is found by a safeguarded Newton search on
    the secular equation 1/||u(mu)|| - 1/B = 0 (nearly linear in mu), bracketed by
    [0, (||theta||/B - 1)/min(nu)], to relative tolerance PROJECTION_RTOL. Writes u to `out`
    and returns mu (0 when theta is already inside the ball).
    """
    d = theta.shape[0]
    if nu.shape[0] != d or Q.shape[0] != d or Q.shape[1] != d or out.shape[0] != d:
        raise ValueError("project_ball_eig: theta, nu, out (d,) and Q (d, d) must agree in d")
    tn = math.sqrt(np.dot(theta, theta))
    if tn <= B:
        for i in range(d):
            out[i] = theta[i]
        return 0.0
    c = Q.T @ theta
    numin = nu.min()
    numax = nu.max()
    if not numax > 0.0:
        raise ValueError("project_ball_eig: the metric has no positive eigenvalue")
    floor = numax * 2.220446049250313e-16
    if numin < floor:
        # Rounding made the metric singular or indefinite (a rank-one downdate by a huge
        # eta s q): eigenvalues below eps times the largest are noise; keep them positive.
        nu = np.maximum(nu, floor)
        numin = floor
    lo = 0.0
    hi = (tn / B - 1.0) / numin
    mu = 0.0
    for _ in range(200):
        # phi(mu) = 1/n(mu) - 1/B; phi' = (sum c_i^2 nu_i / (1 + mu nu_i)^3) / n^3
        n = _norm_at(c, nu, mu)
        if abs(n - B) <= PROJECTION_RTOL * B:
            break
        if n > B:
            lo = mu
        else:
            hi = mu
        dn = 0.0
        for i in range(d):
            r = 1.0 + mu * nu[i]
            dn += c[i] * c[i] * nu[i] / (r * r * r)
        slope = dn / (n * n * n) if n > 0.0 else 0.0
        if slope > 0.0 and slope < math.inf:
            new = mu - (1.0 / n - 1.0 / B) / slope
        else:  # the derivative under- or overflowed: bisect
            new = 0.5 * (lo + hi)
        if not (new > lo and new < hi):
            new = 0.5 * (lo + hi)
        if new == mu or hi - lo <= 1e-300:
            break
        mu = new
    w = np.empty(d)
    for i in range(d):
        w[i] = c[i] / (1.0 + mu * nu[i])
    res = Q @ w
    rn = math.sqrt(np.dot(res, res))
    scale = (B / rn) * (1.0 - 1e-15) if rn > B else 1.0  # keeps the result inside the ball despite rounding
    for i in range(d):
        out[i] = res[i] * scale
    return mu


@njit(cache=True)
def project_ball_inverse_metric(theta: np.ndarray, Minv_metric: np.ndarray, B: float,
                                out: np.ndarray) -> float:
    """Projection onto the B-ball in the norm of H, given M = H^{-1} (symmetric positive definite)."""
    d = theta.shape[0]
    if Minv_metric.shape[0] != d or Minv_metric.shape[1] != d or out.shape[0] != d:
        raise ValueError("project_ball_inverse_metric: theta, out (d,) and M (d, d) must agree")
    if math.sqrt(np.dot(theta, theta)) <= B:
        out[:] = theta
        return 0.0
    nu, Q = np.linalg.eigh(Minv_metric)
    return project_ball_eig(theta, nu, Q, B, out)


@njit(cache=True)
def project_ball_metric(theta: np.ndarray, H: np.ndarray, B: float, out: np.ndarray) -> float:
    """Projection onto the B-ball in the norm of H (symmetric positive definite)."""
    d = theta.shape[0]
    if H.shape[0] != d or H.shape[1] != d or out.shape[0] != d:
        raise ValueError("project_ball_metric: theta, out (d,) and H (d, d) must agree")
    if math.sqrt(np.dot(theta, theta)) <= B:
        out[:] = theta
        return 0.0
    lam, Q = np.linalg.eigh(H)
    return project_ball_eig(theta, 1.0 / lam, Q, B, out)


CG_RESIDUAL_FLOOR = 1e-16
"""CG stops once ||r|| <= max(tol, CG_RESIDUAL_FLOOR) ||b||: below that the recurrences only
shrink rounding noise, until p'Ap underflows."""


@njit(cache=True)
def _cg(A: np.ndarray, lam: float, Zb: np.ndarray, wts: np.ndarray, b: np.ndarray,
        max_iter: int, tol: float, dense: bool) -> np.ndarray:
    """Conjugate gradients from x = 0 for A x = b (dense=True) or for
    (lam I + Zb' diag(wts) Zb) x = b through Hessian-vector products (dense=False).

    Standard recurrences: alpha = r'r / p'Ap, x += alpha p, r -= alpha A p,
    beta = r_new'r_new / r'r, p = r + beta p.
    """
    d = b.shape[0]
    x = np.zeros(d)
    r = b.copy()
    p = r.copy()
    rr = np.dot(r, r)
    f = max(tol, CG_RESIDUAL_FLOOR)
    stop = f * f * rr
    for _ in range(max_iter):
        if rr <= stop:
            break
        if dense:
            Ap = A @ p
        else:
            Ap = lam * p + Zb.T @ (wts * (Zb @ p))
        pAp = np.dot(p, Ap)
        if not pAp > 0.0:
            break
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = np.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


@njit(cache=True)
def cg_dense(A: np.ndarray, b: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
    """Conjugate gradients for A x = b, A symmetric positive definite, from x = 0; stops after
    max_iter steps or when ||r|| <= tol ||b||. In exact arithmetic it solves the system in at
    most d steps."""
    if A.shape[0] != b.shape[0] or A.shape[1] != b.shape[0]:
        raise ValueError("cg_dense: A must be (d, d) for b of length d")
    return _cg(A, 0.0, np.empty((0, b.shape[0])), np.empty(0), b, max_iter, tol, True)


@njit(cache=True)
def cg_ridge_lowrank(lam: float, Zb: np.ndarray, wts: np.ndarray, b: np.ndarray,
                     max_iter: int, tol: float) -> np.ndarray:
    """Conjugate gradients for (lam I + Zb' diag(wts) Zb) x = b using only Hessian-vector
    products v -> lam v + Zb' (wts * (Zb v)); never forms the d x d matrix (paper Sec. 6.1).
    Same recurrences as `cg_dense`, including the correct beta = r_new'r_new / r'r."""
    if Zb.shape[1] != b.shape[0] or wts.shape[0] != Zb.shape[0]:
        raise ValueError("cg_ridge_lowrank: Zb (m, d), wts (m,) and b (d,) must agree in shape")
    return _cg(np.empty((0, 0)), lam, Zb, wts, b, max_iter, tol, False)
