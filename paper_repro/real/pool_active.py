"""Pool-based active selection over real labelled pairs (ALGORITHMS.md 3.2 on a finite pool).

The pool is a set of P pairs with feature differences z_p (rows of Zp) and real labels y_p
(read from an array: there is no theta* and no simulated oracle). Each pair can be queried
once (selection without replacement); querying it reveals y_p. Methods:

    active-omd   the paper's Algorithm 3: query argmax over unqueried p of ||z_p||_{Hcal_t^{-1}}
                 (ties: lowest index), one-pass OMD update (Algorithm 1, practical version
                 unless B is finite); output theta_bar = mean of theta_1..theta_{T+1}
                 (the last iterate is returned as well)
    active-mle   the same selection with Hcal_{t+1} = Hcal_t + sigma'(z_t' theta_hat_{t+1}) z_t z_t'
                 (weights frozen when added) and the regularised MLE theta_hat refit after every
                 query (warm-started Newton, O(t d^2) per round); output the final MLE
    random-omd   the pool in a seeded random order, one-pass OMD; output theta_bar
    random-mle   the same random pairs, the MLE fitted once on all T of them (its selection does
                 not depend on the model, so intermediate refits would change nothing)

Pool norms by rank-one downdates. The update Hcal_{t+1}^{-1} = Hcal_t^{-1} - c u u' with
u = Hcal_t^{-1} z_t and c = s / (1 + s z_t'u) (s the weight of the added term) lowers every
squared norm s_p = z_p' Hcal^{-1} z_p by c (z_p'u)^2: O(P d) per round for all P pairs instead
of O(P d^2) to recompute them (`downdate_pool_sq_norms`, tested against `pool_sq_norms`).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from numba import njit

from algorithms.linalg import rank_one_update, symv
from sim.core.links import dsigmoid
from algorithms.mle import MLE_MAX_ITER, MLE_TOL, mle_newton
from algorithms.omd import omd_update
from sim.core.seeding import SeedLike, spawn_streams

ACTIVE_METHODS: tuple[str, ...] = ("random-mle", "active-mle", "random-omd", "active-omd")
"""Methods of `run_pool_active`, in the order of the paper's table (Rand-MLE, Active-MLE,
Rand-OMD, the paper's)."""

PAPER_NAMES: dict[str, str] = {"random-mle": "Rand-MLE", "active-mle": "Active-MLE",
                               "random-omd": "Rand-OMD", "active-omd": "paper (Active-OMD)"}
"""The paper's name of each method."""


@njit(cache=True)
def pool_sq_norms(Zp: np.ndarray, Ainv: np.ndarray, out: np.ndarray) -> None:
    """out[p] = z_p' Ainv z_p for every row z_p of Zp, computed directly (O(P d^2))."""
    d = Zp.shape[1]
    v = np.empty(d)
    for p in range(Zp.shape[0]):
        symv(Ainv, Zp[p], v)
        out[p] = np.dot(Zp[p], v)


@njit(cache=True)
def downdate_pool_sq_norms(Zp: np.ndarray, u: np.ndarray, c: float, s: np.ndarray) -> int:
    """s_p -= c (z_p'u)^2 for every pair; returns the index of the new largest s_p (ties: the
    lowest index). A queried pair holds s_p = -inf and keeps it. O(P d)."""
    best = -math.inf
    arg = -1
    for p in range(Zp.shape[0]):
        if s[p] == -math.inf:
            continue
        w = np.dot(Zp[p], u)
        val = s[p] - c * w * w
        s[p] = val
        if val > best:
            best = val
            arg = p
    return arg


@njit(cache=True)
def _first_pick(s: np.ndarray) -> int:
    best = -math.inf
    arg = -1
    for p in range(s.shape[0]):
        if s[p] > best:
            best = s[p]
            arg = p
    return arg


@njit(cache=True)
def active_omd_pool_run(Zp: np.ndarray, yp: np.ndarray, T: int, theta: np.ndarray,
                        Hinv: np.ndarray, theta_sum: np.ndarray, eta: float, B: float,
                        project: bool, s: np.ndarray, picked: np.ndarray,
                        picked_norm: np.ndarray) -> None:
    """T rounds of Algorithm 3 over the pool, in place on theta, Hinv = Hcal^{-1}, theta_sum
    (receives theta_1 + ... + theta_{T+1} added to its input) and s (the squared pool norms
    in Hcal^{-1}, -inf for queried pairs). picked[t] is the pair of round t and
    picked_norm[t] its norm ||z||_{Hcal_t^{-1}}."""
    d = theta.shape[0]
    u = np.empty(d)
    M = np.empty((d, d))
    for j in range(d):
        theta_sum[j] += theta[j]
    p = _first_pick(s)
    for t in range(T):
        z = Zp[p]
        picked[t] = p
        picked_norm[t] = math.sqrt(max(s[p], 0.0))
        s[p] = -math.inf
        omd_update(theta, Hinv, z, yp[p], eta, B, project, u, M)
        for j in range(d):
            theta_sum[j] += theta[j]
        # omd_update leaves u = Hcal_t^{-1} z and applied Hinv -= c u u' with this c
        s_new = dsigmoid(np.dot(z, theta))
        c = s_new / (1.0 + s_new * np.dot(z, u))
        p = downdate_pool_sq_norms(Zp, u, c, s)


@njit(cache=True)
def omd_mean_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray,
                 theta_sum: np.ndarray, eta: float, B: float, project: bool) -> None:
    """One-pass OMD over the rows of (Z, y) in place, adding theta_1, ..., theta_{T+1} to
    theta_sum (theta_bar = theta_sum / (T + 1) without storing the path)."""
    d = theta.shape[0]
    u = np.empty(d)
    M = np.empty((d, d))
    for j in range(d):
        theta_sum[j] += theta[j]
    for t in range(Z.shape[0]):
        omd_update(theta, Hinv, Z[t], y[t], eta, B, project, u, M)
        for j in range(d):
            theta_sum[j] += theta[j]


@njit(cache=True)
def active_mle_pool_run(Zp: np.ndarray, yp: np.ndarray, T: int, theta: np.ndarray,
                        Hinv: np.ndarray, lam: float, B: float, tol: float, max_iter: int,
                        s: np.ndarray, Zd: np.ndarray, yd: np.ndarray, picked: np.ndarray,
                        picked_norm: np.ndarray, counters: np.ndarray) -> None:
    """T rounds of the maximum-norm selection with the MLE refit after every query.

    theta is the MLE (the warm start of the next refit); Zd (T, d) and yd (T,) receive the
    queried pairs. Hinv = Hcal^{-1} with
    Hcal_{t+1} = Hcal_t + sigma'(z_t' theta_hat_{t+1}) z_t z_t'.
    counters[0] += Newton iterations, counters[1] += refits that did not converge.
    """
    d = theta.shape[0]
    u = np.empty(d)
    p = _first_pick(s)
    for t in range(T):
        z = Zp[p]
        picked[t] = p
        picked_norm[t] = math.sqrt(max(s[p], 0.0))
        s[p] = -math.inf
        Zd[t, :] = z
        yd[t] = yp[p]
        fit, its, ok = mle_newton(Zd, yd, t + 1, lam, B, theta, tol, max_iter)
        theta[:] = fit
        counters[0] += its
        if not ok:
            counters[1] += 1
        symv(Hinv, z, u)
        w = dsigmoid(np.dot(z, theta))
        c = w / (1.0 + w * np.dot(z, u))
        rank_one_update(Hinv, u, -c)
        p = downdate_pool_sq_norms(Zp, u, c, s)


class ActiveOutcome(NamedTuple):
    """What one pool-based active run produced."""

    method: str
    theta: np.ndarray
    """The output estimate: theta_bar for the OMD methods, the final MLE otherwise."""
    theta_last: np.ndarray
    """The last iterate theta_{T+1} (equal to theta for the MLE methods)."""
    picked: np.ndarray
    """(T,) int64 pool indices in query order."""
    seconds: float
    """Wall time of the learner (selection and updates; the compiled code is loaded first)."""
    counters: dict


def _check_pool(Zp, yp, budget) -> tuple[np.ndarray, np.ndarray, int]:
    Zp = np.ascontiguousarray(Zp, dtype=np.float64)
    yp = np.ascontiguousarray(yp, dtype=np.float64)
    if Zp.ndim != 2 or Zp.shape[0] == 0 or Zp.shape[1] == 0:
        raise ValueError(f"the pool Zp must be a non-empty (P, d) array, got shape {Zp.shape}")
    if yp.shape != (Zp.shape[0],):
        raise ValueError(f"pool labels yp must have shape ({Zp.shape[0]},) like the rows of Zp, "
                         f"got {yp.shape}")
    if not np.all(np.isfinite(Zp)):
        raise ValueError("the pool Zp has non-finite entries")
    if not np.all((yp == 0.0) | (yp == 1.0)):
        raise ValueError("pool labels yp must be 0 or 1")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be an int >= 1, got {budget!r}")
    if budget > Zp.shape[0]:
        raise ValueError(f"budget {budget} exceeds the pool of {Zp.shape[0]} pairs (each pair can "
                         "be queried once)")
    return Zp, yp, int(budget)


def _warm_up(d: int, eta: float, lam: float) -> None:
    """Load (or compile) the kernels on a 2-pair pool, so that timings exclude compilation."""
    Zp = np.eye(2, d)
    yp = np.array([1.0, 0.0])
    _run_method(Zp, yp, 1, "active-omd", eta, lam, math.inf, False, np.arange(2))
    _run_method(Zp, yp, 1, "active-mle", eta, lam, math.inf, False, np.arange(2))
    _run_method(Zp, yp, 1, "random-omd", eta, lam, math.inf, False, np.arange(2))
    _run_method(Zp, yp, 1, "random-mle", eta, lam, math.inf, False, np.arange(2))


def _run_method(Zp: np.ndarray, yp: np.ndarray, T: int, method: str, eta: float, lam: float,
                B: float, project: bool, order: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(theta, theta_last, picked, counters) of one method; `order` is the random order used
    by the random-* methods. No input checks (see `run_pool_active`)."""
    P, d = Zp.shape
    theta = np.zeros(d)
    Hinv = np.eye(d) / lam
    counters = {"newton_iterations": 0, "unconverged_refits": 0}
    if method == "active-omd":
        s = np.empty(P)
        pool_sq_norms(Zp, Hinv, s)
        theta_sum = np.zeros(d)
        picked = np.empty(T, dtype=np.int64)
        norms = np.empty(T)
        active_omd_pool_run(Zp, yp, T, theta, Hinv, theta_sum, eta, B, project, s, picked, norms)
        return theta_sum / (T + 1), theta, picked, counters
    if method == "active-mle":
        s = np.empty(P)
        pool_sq_norms(Zp, Hinv, s)
        picked = np.empty(T, dtype=np.int64)
        norms = np.empty(T)
        cnt = np.zeros(2, dtype=np.int64)
        active_mle_pool_run(Zp, yp, T, theta, Hinv, lam, B, MLE_TOL, MLE_MAX_ITER, s,
                            np.zeros((T, d)), np.zeros(T), picked, norms, cnt)
        counters = {"newton_iterations": int(cnt[0]), "unconverged_refits": int(cnt[1])}
        return theta, theta.copy(), picked, counters
    picked = np.ascontiguousarray(order[:T], dtype=np.int64)
    Z, y = np.ascontiguousarray(Zp[picked]), np.ascontiguousarray(yp[picked])
    if method == "random-omd":
        theta_sum = np.zeros(d)
        omd_mean_run(Z, y, theta, Hinv, theta_sum, eta, B, project)
        return theta_sum / (T + 1), theta, picked, counters
    if method == "random-mle":
        fit, its, ok = mle_newton(Z, y, T, lam, B, theta, MLE_TOL, MLE_MAX_ITER)
        counters = {"newton_iterations": int(its), "unconverged_refits": int(not ok)}
        return fit, fit.copy(), picked, counters
    raise ValueError(f"unknown active method {method!r}; known: {', '.join(ACTIVE_METHODS)}")


def run_pool_active(method: str, Zp: np.ndarray, yp: np.ndarray, budget: int, seed: SeedLike, *,
                    eta: float, lam: float, B: float | None = None) -> ActiveOutcome:
    """One pool-based active run (see the module docstring) with `budget` queries.

    eta, lam: the OMD step size and the regulariser (lam is also the MLE's ridge and Hcal_1 =
    lam I for both selections). B: None (default) runs the practical OMD without projection
    and the unconstrained MLE; a number projects the OMD iterates onto the B-ball and
    constrains the MLE to it. seed: the random order of the random-* methods (stream "order").
    """
    if method not in ACTIVE_METHODS:
        raise ValueError(f"unknown active method {method!r}; known: {', '.join(ACTIVE_METHODS)}")
    Zp, yp, T = _check_pool(Zp, yp, budget)
    for name, v in (("eta", eta), ("lam", lam)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if B is not None and (isinstance(B, bool) or not isinstance(B, (int, float))
                          or not (math.isfinite(B) and B > 0)):
        raise ValueError(f"B must be None or a finite number > 0, got {B!r}")
    order = spawn_streams(seed, ("order",))["order"].permutation(Zp.shape[0])
    Bv, project = (math.inf, False) if B is None else (float(B), True)
    _warm_up(Zp.shape[1], float(eta), float(lam))
    start = time.perf_counter()
    theta, last, picked, counters = _run_method(Zp, yp, T, method, float(eta), float(lam), Bv,
                                                project, order)
    seconds = time.perf_counter() - start
    return ActiveOutcome(method, theta, last, picked, seconds, counters)
