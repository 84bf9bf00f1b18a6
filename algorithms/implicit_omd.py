"""Implicit OMD (ECOLog-style, Faury et al. 2022; ALGORITHMS.md 2.3).

    theta_{t+1} = argmin_theta  l_t(theta) + 1/(2 eta) ||theta - theta_t||^2_{Hcal_t}
    Hcal_{t+1}  = Hcal_t + sigma'(z_t' theta_{t+1}) z_t z_t'

The first-order condition (sigma(z'theta) - y) z + Hcal_t (theta - theta_t)/eta = 0 puts the
minimiser on the line theta_t - eta c Hcal_t^{-1} z, with the scalar c solving

    c = sigma(z' theta_t - eta q c) - y,   q = z' Hcal_t^{-1} z,

a strictly monotone 1-D equation on [-1, 1], solved by safeguarded Newton to machine
precision. The update is therefore exact, at O(d^2) per observation plus a few scalar
iterations. Optionally the result is projected onto the B-ball in the Hcal_t norm.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import dsigmoid, sigmoid
from sim.core.validation import check_finite_result, check_positive

from .linalg import dot, project_ball_inverse_metric, rank_one_add, row_combination
from .omd import fast_check_conditioning, fast_check_design


@njit(cache=True)
def implicit_scalar(w0: float, y: float, eta: float, q: float) -> float:
    """Root c of f(c) = c - sigma(w0 - eta q c) + y (f increasing, root in [-y, 1 - y])."""
    lo = -y
    hi = 1.0 - y
    c = sigmoid(w0) - y
    for _ in range(100):
        w = w0 - eta * q * c
        f = c - sigmoid(w) + y
        if f == 0.0:
            return c
        if f > 0.0:
            hi = c
        else:
            lo = c
        fp = 1.0 + eta * q * dsigmoid(w)
        new = c - f / fp
        if not (new > lo and new < hi):
            new = 0.5 * (lo + hi)
        if abs(new - c) <= 1e-16 * (1.0 + abs(c)):
            return new
        c = new
    return c


@njit(cache=True)
def implicit_omd_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray,
                     eta: float, B: float, project: bool, path_out: np.ndarray) -> int:
    """Implicit OMD over the rows of Z, in place on (theta, Hinv); path_out as in `omd_run`.
    Mismatched shapes raise ValueError."""
    d = theta.shape[0]
    T = Z.shape[0]
    if (Z.shape[1] != d or y.shape[0] != T or Hinv.shape[0] != d or Hinv.shape[1] != d
            or (path_out.shape[0] != 0 and (path_out.shape[0] != T + 1
                                            or path_out.shape[1] != d))):
        raise ValueError("implicit_omd_run: Z (T, d), y (T,), theta (d,), Hinv (d, d) and "
                         "path_out (0 or T + 1 rows, d columns) must agree in shape")
    u = np.empty(d)
    out = np.empty(d)
    store = path_out.shape[0] > 0
    if store:
        for i in range(d):
            path_out[0, i] = theta[i]
    n_active = 0
    for t in range(Z.shape[0]):
        z = Z[t]
        row_combination(Hinv, z, u)
        q = dot(z, u)
        c = implicit_scalar(dot(z, theta), y[t], eta, q)
        for i in range(d):
            theta[i] -= eta * c * u[i]
        if project and math.sqrt(dot(theta, theta)) > B:
            project_ball_inverse_metric(theta, Hinv, B, out)
            for i in range(d):
                theta[i] = out[i]
            n_active += 1
        s = dsigmoid(dot(z, theta))
        rank_one_add(Hinv, u, -s / (1.0 + s * q))
        if store:
            for i in range(d):
                path_out[t + 1, i] = theta[i]
    return n_active


def implicit_omd_path(Z, y, *, eta: float, lam: float, B: float | None = None) -> np.ndarray:
    """(T+1, d) iterates of implicit OMD from theta_1 = 0, Hcal_1 = lam I; projected onto the
    B-ball (Hcal_t norm) when B is given."""
    Z, yv, worst = fast_check_design(Z, y)
    eta = check_positive("eta", eta)
    lam = check_positive("lam", lam)
    Bv = check_positive("B", B, allow_none=True)
    fast_check_conditioning(Z, lam, worst)
    d = Z.shape[1]
    path = np.empty((Z.shape[0] + 1, d))
    implicit_omd_run(Z, yv, np.zeros(d), np.eye(d) / lam, eta,
                     math.inf if Bv is None else Bv, Bv is not None, path)
    return check_finite_result("implicit_omd_path", path)
