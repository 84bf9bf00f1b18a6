"""First-order one-pass estimators (ALGORITHMS.md 2.3).

- One-pass SGD on the regularised log loss (what LLM-scale code calls "MLE"):
      theta_{t+1} = theta_t - lr_t ((sigma(z_t'theta_t) - y_t) z_t + lam theta_t),
  lr_t = lr (constant) or lr / sqrt(t) ("inv_sqrt"); optional Euclidean projection on the B-ball.
- The practical LLM-scale OMD update (paper Sec. 6.1, Algorithm 5), on mini-batches b of size m:
      Htilde_b v = g_b,  Htilde_b = lam_b I + eta (1/m) sum_{i in b} sigma'(z_i'theta) z_i z_i',
      g_b = (1/m) sum_{i in b} (sigma(z_i'theta) - y_i) z_i,  theta <- theta - eta v,
  with the past-Hessian sum replaced by lam_b I, lam_b = lam0 min(1, b / ramp) (b = 1, 2, ...),
  and v from K conjugate-gradient steps using only Hessian-vector products. The CG uses the
  correct beta = r_new'r_new / r'r, so with K >= d steps it equals a direct solve.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import dsigmoid, sigmoid
from sim.core.validation import (
    check_count,
    check_design,
    check_finite_result,
    check_nonnegative,
    check_positive,
)

from .linalg import cg_ridge_lowrank

SGD_SCHEDULES = ("constant", "inv_sqrt")


@njit(cache=True)
def sgd_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, lr: float, lam: float,
            inv_sqrt: bool, B: float, t0: int, path_out: np.ndarray) -> None:
    """One-pass SGD over the rows of Z, in place on theta; t0 rounds already done.
    Mismatched shapes raise ValueError."""
    d = theta.shape[0]
    T = Z.shape[0]
    if (Z.shape[1] != d or y.shape[0] != T
            or (path_out.shape[0] != 0 and (path_out.shape[0] != T + 1
                                            or path_out.shape[1] != d))):
        raise ValueError("sgd_run: Z (T, d), y (T,), theta (d,) and path_out (0 or T + 1 rows, "
                         "d columns) must agree in shape")
    store = path_out.shape[0] > 0
    if store:
        path_out[0, :] = theta
    for t in range(Z.shape[0]):
        z = Z[t]
        step = lr / math.sqrt(t0 + t + 1.0) if inv_sqrt else lr
        c = sigmoid(np.dot(z, theta)) - y[t]
        for i in range(d):
            theta[i] -= step * (c * z[i] + lam * theta[i])
        nrm = math.sqrt(np.dot(theta, theta))
        if nrm > B:
            theta *= B / nrm * (1.0 - 1e-15)
        if store:
            path_out[t + 1, :] = theta


@njit(cache=True)
def cg_omd_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, eta: float, lam0: float,
               ramp: float, batch: int, cg_iters: int, b0: int, path_out: np.ndarray) -> None:
    """Algorithm 5 over consecutive mini-batches of the rows of Z (the last may be shorter);
    b0 batches already done. path_out row k receives theta after k batches. Mismatched
    shapes or batch < 1 raise ValueError."""
    T, d = Z.shape
    if batch < 1:
        raise ValueError("cg_omd_run: batch must be >= 1")
    nb = (T + batch - 1) // batch
    if (theta.shape[0] != d or y.shape[0] != T
            or (path_out.shape[0] != 0 and (path_out.shape[0] != nb + 1
                                            or path_out.shape[1] != d))):
        raise ValueError("cg_omd_run: Z (T, d), y (T,), theta (d,) and path_out (0 or "
                         "n_batches + 1 rows, d columns) must agree in shape")
    store = path_out.shape[0] > 0
    if store:
        path_out[0, :] = theta
    for b in range(nb):
        lo = b * batch
        hi = min(T, lo + batch)
        m = hi - lo
        Zb = Z[lo:hi]
        w = Zb @ theta
        g = np.zeros(d)
        wts = np.empty(m)
        for i in range(m):
            c = (sigmoid(w[i]) - y[lo + i]) / m
            for j in range(d):
                g[j] += c * Zb[i, j]
            wts[i] = eta * dsigmoid(w[i]) / m
        lam_b = lam0 * min(1.0, (b0 + b + 1.0) / ramp)
        v = cg_ridge_lowrank(lam_b, Zb, wts, g, cg_iters, 0.0)
        for j in range(d):
            theta[j] -= eta * v[j]
        if store:
            path_out[b + 1, :] = theta


def sgd_path(Z, y, *, lr: float, lam: float = 0.0, schedule: str = "constant",
             B: float | None = None) -> np.ndarray:
    """(T+1, d) iterates of one-pass SGD from theta = 0 (see module docstring)."""
    if schedule not in SGD_SCHEDULES:
        raise ValueError(f"schedule must be one of {SGD_SCHEDULES}, got {schedule!r}")
    Z, yv = check_design(Z, y)
    lr = check_positive("lr", lr)
    lam = check_nonnegative("lam", lam)
    Bv = check_positive("B", B, allow_none=True)
    path = np.empty((Z.shape[0] + 1, Z.shape[1]))
    sgd_run(Z, yv, np.zeros(Z.shape[1]), lr, lam, schedule == "inv_sqrt",
            math.inf if Bv is None else Bv, 0, path)
    return check_finite_result("sgd_path", path)


def cg_omd_path(Z, y, *, eta: float, lam0: float = 0.8, ramp: float | None = None,
                batch_size: int = 64, cg_iters: int = 3) -> np.ndarray:
    """(n_batches+1, d) iterates of the paper's practical CG + Hessian-vector-product update
    (Algorithm 5; defaults K = 3, lam0 = 0.8 as reported). ramp defaults to the number of
    batches, so lam_b grows linearly to lam0 over the pass. batch_size = 64 is this project's
    default (with size 1 the early, nearly unregularised steps are single-sample Newton steps
    and overshoot)."""
    Z, yv = check_design(Z, y)
    eta = check_positive("eta", eta)
    lam0 = check_positive("lam0", lam0)
    batch_size = check_count("batch_size", batch_size, 1)
    cg_iters = check_count("cg_iters", cg_iters, 1)
    nb = -(-Z.shape[0] // batch_size)
    ramp = float(nb) if ramp is None else check_positive("ramp", ramp)
    path = np.empty((nb + 1, Z.shape[1]))
    cg_omd_run(Z, yv, np.zeros(Z.shape[1]), eta, lam0, max(ramp, 1.0), batch_size,
               cg_iters, 0, path)
    return check_finite_result("cg_omd_path", path)
