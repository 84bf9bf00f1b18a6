"""Active data collection, the paper's Algorithm 3 and its baselines (ALGORITHMS.md 3.2).

The learner chooses each query from a pool of candidate pairs, by default every (x, a, a')
with a < a' and rho_x > 0 (n_x K (K - 1) / 2 pairs when every context has positive mass).

Algorithm 3 ("active-omd"): in round t pick the pair of largest
||z_p||_{Hcal_t^{-1}}, z_p = phi(x, a) - phi(x, a') (ties: lowest pool index), observe y_t, run
the one-pass OMD update (Algorithm 1); output pi(x) = argmax_a phi(x, a)' theta_bar,
theta_bar = mean of theta_1..theta_{T+1}.

Pair norms by rank-one downdates. The OMD update changes Hcal^{-1} by -c u u' with
u = Hcal_t^{-1} z_t and c = s'/(1 + s' z_t'u), s' = sigma'(z_t' theta_{t+1}) (the projection
changes theta, not Hcal). Hence every squared pair norm s_p = z_p' Hcal^{-1} z_p falls by
c (z_p'u)^2, and z_p'u = w(x, a) - w(x, a') with w = Phi u the (n_x, K) products phi(x, a)'u:
O(n_x K d + P) per round (P pairs) instead of O(P d^2) to recompute them.

Baselines (all output greedy policies):

- "apo" (Das et al. 2024): the same maximum-norm selection in V_t = lambda I + sum z z'
  (unweighted, as their code does), MLE (constrained to the B-ball) refit after every round,
  warm-started (O(t) per round); output greedy on the final MLE.
- "apo-weighted": selection in W_t = lambda I + sum_{i<t} sigma'(z_i' theta_hat_t) z_i z_i',
  the Hessian of the regularised log-likelihood at the current MLE (recomputed every round,
  with all pair norms: O(t d^2 + P d^2) per round).
- "active-mle": the paper's selection rule with Hcal maintained as in OMD,
  Hcal_{t+1} = Hcal_t + sigma'(z_t' theta_hat_{t+1}) z_t z_t' (weights frozen when added), but
  with the MLE refit every round as the estimate; output greedy on the final MLE.
- "random-omd" / "random-mle": uniform random pairs (`sim.queries.uniform_pairs`), fed to the
  one-pass OMD (greedy on theta_bar, as Algorithm 3) or to the MLE (refit at the checkpoints
  only: the selection does not depend on it).

Labels come from the oracle inside the compiled loops (`pool_label`): either the
Bradley-Terry label of the query (`sim.feedback.bt_label` on pre-drawn uniforms, synthetic
environments) or a fixed label y_p per pool pair (real labelled pairs, no theta*). The oracle
call is the only place a kernel reads theta* or labels. A pool of P labelled pairs given by
their differences z_p is the feature table phi (P, 2, d) with phi[p, 0] = z_p, phi[p, 1] = 0
and pairs (p, 0, 1) (`difference_pool`), so both kinds of pool run the same kernels
(`active_omd_rounds`, `active_mle_rounds`; `active_omd_segment` and `active_mle_segment` are
their Bradley-Terry-oracle forms).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from sim.core.links import dsigmoid
from sim.feedback import bt_label

from .confidence import beta_at
from .linalg import dot, rank_one_add, rank_one_update, row_combination, symv
from .mle import mle_newton
from .omd import omd_step, omd_update

APO, APO_WEIGHTED, ACTIVE_MLE = 0, 1, 2
"""Codes of the MLE-based selection rules of `active_mle_segment`."""


def query_pool(rho: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (x, a, a') with a < a' and rho_x > 0, ordered by x, then a, then a' (int64)."""
    xs = np.flatnonzero(np.asarray(rho) > 0.0)
    a, b = np.triu_indices(int(K), k=1)
    px = np.repeat(xs, a.shape[0]).astype(np.int64)
    return px, np.tile(a, xs.shape[0]).astype(np.int64), np.tile(b, xs.shape[0]).astype(np.int64)


def check_pool(pool, n_x: int, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A user pool, an int array of shape (P, 3) of rows (x, a, a'), validated."""
    arr = np.asarray(pool)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"pool must be an array of shape (P, 3) of rows (x, a, a'), got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("the query pool is empty: active selection needs at least one pair")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pool must hold integers, got dtype {arr.dtype}")
    px, pa, pb = (arr[:, i].astype(np.int64) for i in range(3))
    if px.min() < 0 or px.max() >= n_x:
        raise ValueError(f"pool has a context outside 0..{n_x - 1}")
    if min(pa.min(), pb.min()) < 0 or max(pa.max(), pb.max()) >= K:
        raise ValueError(f"pool has an arm outside 0..{K - 1}")
    if np.any(pa == pb):
        raise ValueError("pool has a pair with two identical arms")
    return px, pa, pb


class PairPool(NamedTuple):
    """A query pool in the layout of the active kernels: feature table phi (n, K, d), its
    transpose phiT (d, n K) (column x K + a is phi(x, a)), the pairs (px, pa, pb) and their
    flat indices ia = px K + pa, ib = px K + pb."""

    phi: np.ndarray
    phiT: np.ndarray
    px: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    ia: np.ndarray
    ib: np.ndarray


def feature_pool(phi: np.ndarray, px: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> PairPool:
    """The pool of pairs (px[p], pa[p], pb[p]) over the feature table phi (n_x, K, d)."""
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    _, K, d = phi.shape
    px, pa, pb = (np.ascontiguousarray(v, dtype=np.int64) for v in (px, pa, pb))
    phiT = np.ascontiguousarray(phi.reshape(-1, d).T)
    return PairPool(phi, phiT, px, pa, pb, px * K + pa, px * K + pb)


def difference_pool(Zp: np.ndarray) -> PairPool:
    """A pool of P pairs given by their differences z_p (rows of Zp (P, d)) as a feature table:
    phi[p, 0] = z_p, phi[p, 1] = 0 and pair p = (p, 0, 1), so z_p = phi(p, 0) - phi(p, 1)
    exactly and z_p'u = (Phi u)[2p] - 0 in the norm downdates."""
    Zp = np.asarray(Zp, dtype=np.float64)
    P, d = Zp.shape
    phi = np.zeros((P, 2, d))
    phi[:, 0, :] = Zp
    p = np.arange(P, dtype=np.int64)
    return feature_pool(phi, p, np.zeros(P, dtype=np.int64), np.ones(P, dtype=np.int64))


@njit(cache=True, inline="always")
def omd_update_downdate(theta: np.ndarray, Hinv: np.ndarray, z: np.ndarray, y: float,
                        eta: float, B: float, project: bool, u: np.ndarray,
                        M: np.ndarray) -> float:
    """`algorithms.omd.omd_update`, returning c with Hinv_new = Hinv_old - c u u'.

    The same step (`algorithms.omd.omd_step`): u = Hcal_t^{-1} z_t is left in its work
    buffer and Hinv -= c u u' with c = s' / (1 + s' q), s' = sigma'(z_t' theta_{t+1}),
    q = z_t'u, the c returned. Mismatched shapes raise ValueError.
    """
    d = theta.shape[0]
    if (z.shape[0] != d or u.shape[0] != d or Hinv.shape[0] != d or Hinv.shape[1] != d
            or (project and (M.shape[0] != d or M.shape[1] != d))):
        raise ValueError("omd_update_downdate: theta, z, u (d,), Hinv and M (d, d) must agree "
                         "in d")
    c = omd_step(theta, Hinv, z, y, eta, B, project, u, M, dot(z, theta), False)[1]
    rank_one_add(Hinv, u, -c)
    return c


@njit(cache=True)
def pair_sq_norms(phi: np.ndarray, px: np.ndarray, pa: np.ndarray, pb: np.ndarray,
                  A: np.ndarray, out: np.ndarray) -> None:
    """out[p] = z_p' A z_p, z_p = phi(px[p], pa[p]) - phi(px[p], pb[p]) (direct, O(P d^2))."""
    d = A.shape[0]
    z = np.empty(d)
    for p in range(px.shape[0]):
        for j in range(d):
            z[j] = phi[px[p], pa[p], j] - phi[px[p], pb[p], j]
        acc = 0.0
        for j in range(d):
            r = 0.0
            for k in range(d):
                r += A[j, k] * z[k]
            acc += z[j] * r
        out[p] = acc


@njit(cache=True)
def downdate_pair_sq_norms(phiT: np.ndarray, ia: np.ndarray, ib: np.ndarray, u: np.ndarray,
                           c: float, w: np.ndarray, s: np.ndarray) -> int:
    """s_p -= c (z_p'u)^2 for every pair, and the index of the new largest s_p.

    phiT (d, n_x K) holds the features transposed (column x K + a is phi(x, a)); ia, ib are the
    flat indices x K + a and x K + a' of each pair. w (n_x K) receives Phi u. A used pair
    (s_p = -inf) stays -inf. Ties go to the lowest index.
    """
    row_combination(phiT, u, w)
    best = -math.inf
    arg = 0
    for p in range(s.shape[0]):
        diff = w[ia[p]] - w[ib[p]]
        val = s[p] - c * diff * diff
        s[p] = val
        if val > best:
            best = val
            arg = p
    return arg


@njit(cache=True)
def _argmax(s: np.ndarray) -> int:
    best = -math.inf
    arg = 0
    for p in range(s.shape[0]):
        if s[p] > best:
            best = s[p]
            arg = p
    return arg


@njit(cache=True)
def _recompute(phi, px, pa, pb, A, used, s) -> int:
    pair_sq_norms(phi, px, pa, pb, A, s)
    for p in range(s.shape[0]):
        if used[p]:
            s[p] = -math.inf
    return _argmax(s)


@njit(cache=True)
def query_pool_pair(phi: np.ndarray, x: int, a: int, b: int, theta_star: np.ndarray,
                    u: float, link_code: int, z: np.ndarray) -> float:
    """Writes z = phi(x, a) - phi(x, b) and returns the Bradley-Terry label of the query from
    its pre-drawn uniform u. This is the oracle (environment side): the only place the active
    kernels read theta_star."""
    for j in range(z.shape[0]):
        z[j] = phi[x, a, j] - phi[x, b, j]
    return float(bt_label(np.dot(z, theta_star), u, link_code))


@njit(cache=True)
def pool_label(phi: np.ndarray, px: np.ndarray, pa: np.ndarray, pb: np.ndarray, p: int,
               labels: np.ndarray, theta_star: np.ndarray, label_u: np.ndarray, t: int,
               link_code: int, z: np.ndarray) -> float:
    """The oracle of round t querying pool pair p: writes z = z_p and returns its label,
    labels[p] from a fixed label table when one is given (labels.shape[0] > 0: real labelled
    pairs, theta_star and label_u unused), otherwise the Bradley-Terry label of
    `query_pool_pair` from the uniform label_u[t]. The only place the active kernels read
    labels or theta*."""
    if labels.shape[0] > 0:
        for j in range(z.shape[0]):
            z[j] = phi[px[p], pa[p], j] - phi[px[p], pb[p], j]
        return labels[p]
    return query_pool_pair(phi, px[p], pa[p], pb[p], theta_star, label_u[t], link_code, z)


@njit(cache=True)
def active_omd_rounds(phi: np.ndarray, phiT: np.ndarray, px: np.ndarray, pa: np.ndarray,
                      pb: np.ndarray, ia: np.ndarray, ib: np.ndarray, s: np.ndarray,
                      used: np.ndarray, state_i: np.ndarray, theta: np.ndarray,
                      Hinv: np.ndarray, theta_sum: np.ndarray, state_f: np.ndarray,
                      eta: float, B: float, project: bool, replacement: bool, recompute: bool,
                      radius_kind: int, lam: float, L: float, delta: float, c_beta: float,
                      labels: np.ndarray, theta_star: np.ndarray, label_u: np.ndarray,
                      link_code: int, t0: int, t1: int, sel_out: np.ndarray,
                      y_out: np.ndarray, norm_out: np.ndarray) -> None:
    """Rounds t0..t1-1 of Algorithm 3, in place on the state; labels from `pool_label`
    (the table `labels` when non-empty, else the Bradley-Terry oracle on theta_star).

    State: s (P,) squared pair norms in Hcal_t^{-1} (-inf for a pair used without
    replacement), used (P,), state_i[0] the pair to query next, theta, Hinv, theta_sum
    (sum of theta_1..theta_{t+1}), state_f[0] the running sum of beta_t ||z_t||_{Hcal_t^{-1}}
    (beta of kind radius_kind, `algorithms.confidence.beta_at`). recompute=True recomputes
    every pair norm each round (O(P d^2)) instead of the rank-one downdate (same numbers up
    to rounding). Records the pair, label and norm of each round in sel_out, y_out, norm_out.
    """
    d = theta.shape[0]
    u = np.empty(d)
    M = np.empty((d, d))
    z = np.empty(d)
    w = np.empty(phiT.shape[1])
    for t in range(t0, t1):
        p = state_i[0]
        y = pool_label(phi, px, pa, pb, p, labels, theta_star, label_u, t, link_code, z)
        norm = math.sqrt(max(s[p], 0.0))
        c = omd_update_downdate(theta, Hinv, z, y, eta, B, project, u, M)
        for j in range(d):
            theta_sum[j] += theta[j]
        state_f[0] += beta_at(t + 1.0, radius_kind, d, eta, lam, L, B, delta, c_beta) * norm
        sel_out[t] = p
        y_out[t] = y
        norm_out[t] = norm
        if not replacement:
            used[p] = True
            s[p] = -math.inf
        if recompute:
            state_i[0] = _recompute(phi, px, pa, pb, Hinv, used, s)
        else:
            state_i[0] = downdate_pair_sq_norms(phiT, ia, ib, u, c, w, s)


@njit(cache=True)
def active_omd_segment(phi: np.ndarray, phiT: np.ndarray, px: np.ndarray, pa: np.ndarray,
                       pb: np.ndarray, ia: np.ndarray, ib: np.ndarray, s: np.ndarray,
                       used: np.ndarray, state_i: np.ndarray, theta: np.ndarray,
                       Hinv: np.ndarray, theta_sum: np.ndarray, state_f: np.ndarray,
                       eta: float, B: float, project: bool, replacement: bool, recompute: bool,
                       radius_kind: int, lam: float, L: float, delta: float, c_beta: float,
                       theta_star: np.ndarray, label_u: np.ndarray, link_code: int,
                       t0: int, t1: int, sel_out: np.ndarray, y_out: np.ndarray,
                       norm_out: np.ndarray) -> None:
    """`active_omd_rounds` with Bradley-Terry labels on theta_star (no label table)."""
    active_omd_rounds(phi, phiT, px, pa, pb, ia, ib, s, used, state_i, theta, Hinv, theta_sum,
                      state_f, eta, B, project, replacement, recompute, radius_kind, lam, L,
                      delta, c_beta, np.empty(0), theta_star, label_u, link_code, t0, t1,
                      sel_out, y_out, norm_out)


@njit(cache=True)
def _weighted_design_inverse(Zd: np.ndarray, n: int, theta: np.ndarray, lam: float,
                             out: np.ndarray) -> None:
    """out = (lambda I + sum_{i < n} sigma'(z_i' theta) z_i z_i')^{-1}."""
    d = theta.shape[0]
    W = np.zeros((d, d))
    for j in range(d):
        W[j, j] = lam
    for i in range(n):
        wi = dsigmoid(np.dot(Zd[i], theta))
        for j in range(d):
            c = wi * Zd[i, j]
            for k in range(d):
                W[j, k] += c * Zd[i, k]
    out[:, :] = np.linalg.inv(W)


@njit(cache=True)
def active_mle_rounds(phi: np.ndarray, phiT: np.ndarray, px: np.ndarray, pa: np.ndarray,
                      pb: np.ndarray, ia: np.ndarray, ib: np.ndarray, s: np.ndarray,
                      used: np.ndarray, state_i: np.ndarray, theta: np.ndarray,
                      Minv: np.ndarray, state_f: np.ndarray, Zd: np.ndarray, yd: np.ndarray,
                      mode: int, replacement: bool, lam: float, B: float, mle_tol: float,
                      mle_max_iter: int, beta_fixed: float, radius_kind: int, eta: float,
                      L: float, delta: float, c_beta: float, labels: np.ndarray,
                      theta_star: np.ndarray, label_u: np.ndarray, link_code: int, t0: int,
                      t1: int, sel_out: np.ndarray, y_out: np.ndarray,
                      norm_out: np.ndarray) -> None:
    """Rounds t0..t1-1 of a maximum-norm selection with the MLE refit every round; labels
    from `pool_label` (the table `labels` when non-empty, else the Bradley-Terry oracle).

    mode APO: Minv = V_t^{-1} (unweighted); APO_WEIGHTED: Minv = W_t^{-1} at the current MLE,
    recomputed every round with all pair norms; ACTIVE_MLE: Minv = Hcal_t^{-1} maintained as
    in OMD with the MLE as the new point. theta is the MLE (warm start of the next refit),
    Zd (T, d) and yd (T,) the data so far. state_i[0]: next pair, state_i[1]: refits that did
    not converge, state_i[2] (when state_i has 3 entries): Newton iterations of the refits;
    state_f[0]: running sum of beta_t ||z_t||_{Minv}, with beta_t = beta_fixed
    for APO and the radius of kind radius_kind otherwise.
    """
    d = theta.shape[0]
    u = np.empty(d)
    z = np.empty(d)
    w = np.empty(phiT.shape[1])
    for t in range(t0, t1):
        p = state_i[0]
        y = pool_label(phi, px, pa, pb, p, labels, theta_star, label_u, t, link_code, z)
        norm = math.sqrt(max(s[p], 0.0))
        Zd[t, :] = z
        yd[t] = y
        fit, its, ok = mle_newton(Zd, yd, t + 1, lam, B, theta, mle_tol, mle_max_iter)
        theta[:] = fit
        if not ok:
            state_i[1] += 1
        if state_i.shape[0] > 2:
            state_i[2] += its
        beta = beta_fixed if mode == APO else beta_at(t + 1.0, radius_kind, d, eta, lam, L, B,
                                                      delta, c_beta)
        state_f[0] += beta * norm
        sel_out[t] = p
        y_out[t] = y
        norm_out[t] = norm
        if not replacement:
            used[p] = True
            s[p] = -math.inf
        if mode == APO_WEIGHTED:
            _weighted_design_inverse(Zd, t + 1, theta, lam, Minv)
            state_i[0] = _recompute(phi, px, pa, pb, Minv, used, s)
            continue
        symv(Minv, z, u)
        q = np.dot(z, u)
        wt = 1.0 if mode == APO else dsigmoid(np.dot(z, theta))
        c = wt / (1.0 + wt * q)
        rank_one_update(Minv, u, -c)
        state_i[0] = downdate_pair_sq_norms(phiT, ia, ib, u, c, w, s)


@njit(cache=True)
def active_mle_segment(phi: np.ndarray, phiT: np.ndarray, px: np.ndarray, pa: np.ndarray,
                       pb: np.ndarray, ia: np.ndarray, ib: np.ndarray, s: np.ndarray,
                       used: np.ndarray, state_i: np.ndarray, theta: np.ndarray,
                       Minv: np.ndarray, state_f: np.ndarray, Zd: np.ndarray, yd: np.ndarray,
                       mode: int, replacement: bool, lam: float, B: float, mle_tol: float,
                       mle_max_iter: int, beta_fixed: float, radius_kind: int, eta: float,
                       L: float, delta: float, c_beta: float, theta_star: np.ndarray,
                       label_u: np.ndarray, link_code: int, t0: int, t1: int,
                       sel_out: np.ndarray, y_out: np.ndarray, norm_out: np.ndarray) -> None:
    """`active_mle_rounds` with Bradley-Terry labels on theta_star (no label table)."""
    active_mle_rounds(phi, phiT, px, pa, pb, ia, ib, s, used, state_i, theta, Minv, state_f, Zd,
                      yd, mode, replacement, lam, B, mle_tol, mle_max_iter, beta_fixed,
                      radius_kind, eta, L, delta, c_beta, np.empty(0), theta_star, label_u,
                      link_code, t0, t1, sel_out, y_out, norm_out)


@njit(cache=True)
def omd_average_segment(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray,
                        theta_sum: np.ndarray, eta: float, B: float, project: bool,
                        t0: int, t1: int) -> None:
    """One-pass OMD over rows t0..t1-1 of (Z, y), adding each new iterate to theta_sum."""
    d = theta.shape[0]
    u = np.empty(d)
    M = np.empty((d, d))
    for t in range(t0, t1):
        omd_update(theta, Hinv, Z[t], y[t], eta, B, project, u, M)
        for j in range(d):
            theta_sum[j] += theta[j]
