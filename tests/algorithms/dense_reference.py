"""Direct dense numpy versions of the estimators: slow, simple and obviously right.

They form every matrix explicitly (Hcal_t as a sum, Htilde_t, solves instead of inverse
updates) and find Lagrange multipliers with scipy's brentq, so that the compiled kernels can be
compared with them iterate by iterate.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit


def sig(w):
    return float(expit(w))


def dsig(w):
    s = sig(w)
    return s * (1.0 - s)


def project_ball_dense(theta, H, B):
    """argmin_{||u|| <= B} (u - theta)' H (u - theta) via brentq on the multiplier."""
    if np.linalg.norm(theta) <= B:
        return theta.copy()
    d = theta.shape[0]
    def u(mu):
        return np.linalg.solve(H + mu * np.eye(d), H @ theta)
    def f(mu):
        return np.linalg.norm(u(mu)) - B
    hi = 1.0
    while f(hi) > 0:
        hi *= 2.0
    mu = brentq(f, 0.0, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
    return u(mu)


def omd_dense(Z, y, eta, lam, B, project):
    """Algorithm 1 exactly as written in ALGORITHMS.md 2.1, with explicit matrices."""
    T, d = Z.shape
    theta = np.zeros(d)
    Hcal = lam * np.eye(d)
    path = [theta.copy()]
    for t in range(T):
        z = Z[t]
        w = z @ theta
        Ht = Hcal + eta * dsig(w) * np.outer(z, z)
        g = (sig(w) - y[t]) * z
        tp = theta - eta * np.linalg.solve(Ht, g)
        theta = project_ball_dense(tp, Ht, B) if project else tp
        Hcal = Hcal + dsig(z @ theta) * np.outer(z, z)
        path.append(theta.copy())
    return np.array(path)


def implicit_omd_dense(Z, y, eta, lam):
    """theta_{t+1} = argmin l_t(theta) + ||theta - theta_t||^2_{Hcal_t} / (2 eta), by a damped
    damped Newton iteration on the full d-dimensional objective (no use of the 1-D reduction)."""
    T, d = Z.shape
    theta = np.zeros(d)
    Hcal = lam * np.eye(d)
    path = [theta.copy()]
    for t in range(T):
        z = Z[t]
        x = theta.copy()
        def obj(v, z=z, yt=y[t], theta=theta, Hcal=Hcal):
            return (np.logaddexp(0.0, z @ v) - yt * (z @ v)
                    + (v - theta) @ Hcal @ (v - theta) / (2 * eta))
        for _ in range(200):
            w = z @ x
            grad = (sig(w) - y[t]) * z + Hcal @ (x - theta) / eta
            hess = dsig(w) * np.outer(z, z) + Hcal / eta
            step = np.linalg.solve(hess, grad)
            a = 1.0  # damping only far from the optimum, where the objective can judge a step
            while (np.abs(step).max() > 1e-6 * (1 + np.abs(x).max())
                   and obj(x - a * step) > obj(x) - 1e-4 * a * (grad @ step) + 1e-15 * abs(obj(x))
                   and a > 1e-10):
                a *= 0.5
            x = x - a * step
            if np.abs(a * step).max() < 1e-15 * (1 + np.abs(x).max()):
                break
        theta = x
        Hcal = Hcal + dsig(z @ theta) * np.outer(z, z)
        path.append(theta.copy())
    return np.array(path)


def sgd_dense(Z, y, lr, lam, inv_sqrt):
    theta = np.zeros(Z.shape[1])
    path = [theta.copy()]
    for t in range(Z.shape[0]):
        step = lr / np.sqrt(t + 1.0) if inv_sqrt else lr
        theta = theta - step * ((sig(Z[t] @ theta) - y[t]) * Z[t] + lam * theta)
        path.append(theta.copy())
    return np.array(path)


def cg_omd_dense(Z, y, eta, lam0, ramp, batch):
    """Algorithm 5 with the CG replaced by an exact solve of the same system."""
    T, d = Z.shape
    theta = np.zeros(d)
    path = [theta.copy()]
    for b, lo in enumerate(range(0, T, batch)):
        Zb, yb = Z[lo:lo + batch], y[lo:lo + batch]
        m = Zb.shape[0]
        w = Zb @ theta
        g = Zb.T @ (expit(w) - yb) / m
        Ht = lam0 * min(1.0, (b + 1.0) / ramp) * np.eye(d) + eta * (Zb.T * (expit(w) * expit(-w))) @ Zb / m
        theta = theta - eta * np.linalg.solve(Ht, g)
        path.append(theta.copy())
    return np.array(path)


def regularised_objective(Z, y, lam, theta):
    w = Z @ theta
    return float(np.sum(np.logaddexp(0.0, w) - y * w) + 0.5 * lam * theta @ theta)


def regularised_gradient(Z, y, lam, theta):
    return Z.T @ (expit(Z @ theta) - y) + lam * theta
