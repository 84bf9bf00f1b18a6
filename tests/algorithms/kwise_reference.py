"""Dense numpy references for the Plackett-Luce estimators (independent of the kernels)."""

from __future__ import annotations

import numpy as np


def pl_nll_grad_hess(F: np.ndarray, rank: np.ndarray, theta: np.ndarray, n_stages: int
                     ) -> tuple[float, np.ndarray, np.ndarray]:
    """Negative log-likelihood, gradient and Hessian of one ranking, stage by stage, from the
    definition: sum_j [logsumexp_{k >= j} r - r_j], grad = sum_j (E_p phi - phi_j),
    Hess = sum_j Cov_p(phi)."""
    Fo = F[rank]
    r = Fo @ theta
    d = F.shape[1]
    nll, g, H = 0.0, np.zeros(d), np.zeros((d, d))
    for j in range(n_stages):
        rest = r[j:]
        c = rest.max()
        w = np.exp(rest - c)
        p = w / w.sum()
        nll += c + np.log(w.sum()) - r[j]
        mean = p @ Fo[j:]
        g += mean - Fo[j]
        H += (Fo[j:] * p[:, None]).T @ Fo[j:] - np.outer(mean, mean)
    return nll, g, H


def project_dense(theta: np.ndarray, Htilde: np.ndarray, B: float) -> np.ndarray:
    """argmin_{||u|| <= B} (u - theta)' Htilde (u - theta) by bisection on the multiplier mu of
    u(mu) = (Htilde + mu I)^{-1} Htilde theta."""
    if np.linalg.norm(theta) <= B:
        return theta.copy()
    d = theta.shape[0]
    lo, hi = 0.0, 1.0
    u = lambda mu: np.linalg.solve(Htilde + mu * np.eye(d), Htilde @ theta)  # noqa: E731
    while np.linalg.norm(u(hi)) > B:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.linalg.norm(u(mid)) > B:
            lo = mid
        else:
            hi = mid
    return u(hi)


def pl_omd_dense(F: np.ndarray, rank: np.ndarray, eta: float, lam: float, B: float | None,
                 n_stages: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1 on rankings with dense matrices and solves: (path (T+1, d), final Hcal)."""
    T, m, d = F.shape
    ns = m - 1 if n_stages is None else n_stages
    theta = np.zeros(d)
    Hcal = lam * np.eye(d)
    path = [theta.copy()]
    for t in range(T):
        _, g, Hs = pl_nll_grad_hess(F[t], rank[t], theta, ns)
        Ht = Hcal + eta * Hs
        theta = theta - eta * np.linalg.solve(Ht, g)
        if B is not None:
            theta = project_dense(theta, Ht, B)
        _, _, Hn = pl_nll_grad_hess(F[t], rank[t], theta, ns)
        Hcal = Hcal + Hn
        path.append(theta.copy())
    return np.array(path), Hcal


def pl_mle_dense(F: np.ndarray, rank: np.ndarray, lam: float, n_stages: int | None = None,
                 iters: int = 100) -> np.ndarray:
    """argmin sum_t l_t(theta) + lam/2 ||theta||^2 by damped Newton with dense sums."""
    T, m, d = F.shape
    ns = m - 1 if n_stages is None else n_stages
    theta = np.zeros(d)

    def total(th):
        f, g, H = 0.5 * lam * th @ th, lam * th, lam * np.eye(d)
        for t in range(T):
            a, b, c = pl_nll_grad_hess(F[t], rank[t], th, ns)
            f, g, H = f + a, g + b, H + c
        return f, g, H

    for _ in range(iters):
        f, g, H = total(theta)
        step = np.linalg.solve(H, g)
        s = 1.0
        while total(theta - s * step)[0] > f + 1e-12 and s > 1e-10:
            s *= 0.5
        theta = theta - s * step
        if np.linalg.norm(g) < 1e-11:
            break
    return theta
