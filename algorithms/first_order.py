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
from sim.core.validation import check_design, check_positive

from .linalg import cg_ridge_lowrank

SGD_SCHEDULES = ("constant", "inv_sqrt")


@njit(cache=True)
def sgd_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, lr: float, lam: float,
            inv_sqrt: bool, B: float, t0: int, path_out: np.ndarray) -> None:
    """One-pass SGD over the rows of Z, in place on theta; t0 rounds already done."""
    d = theta.shape[0]
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
    b0 batches already done. path_out row k receives theta after k batches."""
    T, d = Z.shape
    nb = (T + batch - 1) // batch
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
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    Bv = check_positive("B", B, allow_none=True)
    path = np.empty((Z.shape[0] + 1, Z.shape[1]))
    sgd_run(Z, yv, np.zeros(Z.shape[1]), lr, float(lam), schedule == "inv_sqrt",
            math.inf if Bv is None else Bv, 0, path)
    return path


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
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if int(cg_iters) != cg_iters or cg_iters < 1:
        raise ValueError(f"cg_iters must be a positive integer, got {cg_iters!r}")
    nb = -(-Z.shape[0] // int(batch_size))
    ramp = float(nb) if ramp is None else check_positive("ramp", ramp)
    path = np.empty((nb + 1, Z.shape[1]))
    cg_omd_run(Z, yv, np.zeros(Z.shape[1]), eta, lam0, max(ramp, 1.0), int(batch_size),
               int(cg_iters), 0, path)
    return path
