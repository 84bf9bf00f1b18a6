"""Hand-written loops: the floors beside which the timing spec shows the library kernels.

Each loop does the arithmetic of one library kernel written the plain way, in one compiled
function, with nothing else: no shape checks, no projection, no stored path, no records, no
accounting. The timing tables put the library's rate beside the loop's, measured in the same
process, so that the ratio (library rate / hand rate) is always visible.

- `hand_omd_loop`: the one-pass OMD update of ALGORITHMS.md 2.1 (steps 1, 2 and 4) on rows of
  (Z, y): theta <- theta - eta (sigma(z'theta) - y) u / (1 + eta sigma' q), u = Hinv z,
  q = z'u, then Hinv <- Hinv - s' u u' / (1 + s' q) at the new point.
- `hand_algorithm4_loop`: Algorithm 4 (ALGORITHMS.md 3.3): greedy first arm, optimistic second
  arm over the K arms, the Bradley-Terry label from pre-drawn uniforms, the update above.
- `hand_active_loop`: Algorithm 3 (ALGORITHMS.md 3.2) on a pool of pairs given by flat arm
  indices: the pair of largest squared norm, its label, the update above, and the rank-one
  downdate of every pair norm.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def hand_omd_loop(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray,
                  eta: float, u: np.ndarray) -> float:
    """The one-pass OMD update over the rows of (Z, y), in place; returns theta[0]."""
    T, d = Z.shape
    for t in range(T):
        w = 0.0
        for i in range(d):
            w += Z[t, i] * theta[i]
        e = math.exp(-abs(w))
        s = e / ((1.0 + e) * (1.0 + e))
        sg = 1.0 / (1.0 + math.exp(-w)) if w >= 0.0 else math.exp(w) / (1.0 + math.exp(w))
        for i in range(d):
            u[i] = 0.0
        for j in range(d):
            zj = Z[t, j]
            for i in range(d):
                u[i] += zj * Hinv[j, i]
        q = 0.0
        for i in range(d):
            q += Z[t, i] * u[i]
        step = eta * (sg - y[t]) / (1.0 + eta * s * q)
        w2 = 0.0
        for i in range(d):
            theta[i] -= step * u[i]
            w2 += Z[t, i] * theta[i]
        e = math.exp(-abs(w2))
        s2 = e / ((1.0 + e) * (1.0 + e))
        c = -s2 / (1.0 + s2 * q)
        for i in range(d):
            ci = c * u[i]
            for j in range(d):
                Hinv[i, j] += ci * u[j]
    return theta[0]


@njit(cache=True)
def _update(theta: np.ndarray, Hinv: np.ndarray, z: np.ndarray, y: float, eta: float,
            u: np.ndarray) -> float:
    """The update of `hand_omd_loop` on one (z, y); returns c with Hinv_new = Hinv - c u u'."""
    d = theta.shape[0]
    w = 0.0
    for i in range(d):
        w += z[i] * theta[i]
    e = math.exp(-abs(w))
    s = e / ((1.0 + e) * (1.0 + e))
    sg = 1.0 / (1.0 + math.exp(-w)) if w >= 0.0 else math.exp(w) / (1.0 + math.exp(w))
    for i in range(d):
        u[i] = 0.0
    for j in range(d):
        zj = z[j]
        for i in range(d):
            u[i] += zj * Hinv[j, i]
    q = 0.0
    for i in range(d):
        q += z[i] * u[i]
    step = eta * (sg - y) / (1.0 + eta * s * q)
    w2 = 0.0
    for i in range(d):
        theta[i] -= step * u[i]
        w2 += z[i] * theta[i]
    e = math.exp(-abs(w2))
    s2 = e / ((1.0 + e) * (1.0 + e))
    c = s2 / (1.0 + s2 * q)
    for i in range(d):
        ci = c * u[i]
        for j in range(d):
            Hinv[i, j] -= ci * u[j]
    return c


@njit(cache=True)
def hand_algorithm4_loop(phi: np.ndarray, x: np.ndarray, rewards: np.ndarray,
                         label_u: np.ndarray, eta: float, lam: float, c_beta: float,
                         delta: float) -> float:
    """Algorithm 4 over len(x) rounds from theta = 0, Hcal = lam I (practical radius
    beta_t = c_beta sqrt(d log(1 + t / delta)), logistic labels on the true rewards);
    returns the sum of the second arms (so that nothing is optimised away)."""
    n_x, K, d = phi.shape
    theta = np.zeros(d)
    Hinv = np.eye(d) / lam
    u = np.empty(d)
    z = np.empty(d)
    D = np.empty(d)
    scores = np.empty(K)
    total = 0.0
    for t in range(x.shape[0]):
        P = phi[x[t]]
        beta = c_beta * math.sqrt(d * math.log(1.0 + (t + 1.0) / delta))
        a = 0
        for k in range(K):
            sc = 0.0
            for j in range(d):
                sc += P[k, j] * theta[j]
            scores[k] = sc
            if sc > scores[a]:
                a = k
        a2 = a
        best = -math.inf
        for k in range(K):
            wk = 0.0
            if k != a:
                for j in range(d):
                    D[j] = P[k, j] - P[a, j]
                qk = 0.0
                for i in range(d):
                    acc = 0.0
                    for j in range(d):
                        acc += Hinv[i, j] * D[j]
                    qk += D[i] * acc
                wk = math.sqrt(qk) if qk > 0.0 else 0.0
            v = scores[k] + 2.0 * beta * wk
            if v > best:
                best = v
                a2 = k
        for j in range(d):
            z[j] = P[a, j] - P[a2, j]
        gap = rewards[x[t], a] - rewards[x[t], a2]
        y = 1.0 if label_u[t] < 1.0 / (1.0 + math.exp(-gap)) else 0.0
        _update(theta, Hinv, z, y, eta, u)
        total += a2
    return total


@njit(cache=True)
def hand_active_loop(phiT: np.ndarray, ia: np.ndarray, ib: np.ndarray, s: np.ndarray,
                     theta_star: np.ndarray, label_u: np.ndarray, eta: float,
                     lam: float) -> float:
    """Algorithm 3 over len(label_u) rounds from theta = 0, Hcal = lam I, with replacement;
    s (P,) holds the squared pair norms in Hcal_1^{-1} and is downdated in place. phiT (d, N)
    holds the arm features as columns, pair p is (ia[p], ib[p]). Returns the sum of the chosen
    pair indices."""
    d, N = phiT.shape
    theta = np.zeros(d)
    Hinv = np.eye(d) / lam
    u = np.empty(d)
    z = np.empty(d)
    w = np.empty(N)
    p = 0
    best = -math.inf
    for q in range(s.shape[0]):
        if s[q] > best:
            best = s[q]
            p = q
    total = 0.0
    for t in range(label_u.shape[0]):
        gap = 0.0
        for j in range(d):
            z[j] = phiT[j, ia[p]] - phiT[j, ib[p]]
            gap += z[j] * theta_star[j]
        y = 1.0 if label_u[t] < 1.0 / (1.0 + math.exp(-gap)) else 0.0
        c = _update(theta, Hinv, z, y, eta, u)
        for k in range(N):
            w[k] = 0.0
        for j in range(d):
            uj = u[j]
            for k in range(N):
                w[k] += uj * phiT[j, k]
        best = -math.inf
        arg = 0
        for q in range(s.shape[0]):
            diff = w[ia[q]] - w[ib[q]]
            val = s[q] - c * diff * diff
            s[q] = val
            if val > best:
                best = val
                arg = q
        total += p
        p = arg
    return total


__all__ = ["hand_active_loop", "hand_algorithm4_loop", "hand_omd_loop"]
