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

These are the synthetic stage's kernels (`algorithms.active`): the pool is expressed as a
feature table with phi[p, 0] = z_p, phi[p, 1] = 0 and pairs (p, 0, 1)
(`algorithms.active.difference_pool`), and the kernels' oracle reads the label table y
instead of drawing a Bradley-Terry label. The active methods are `active_omd_rounds` and
`active_mle_rounds` (mode ACTIVE_MLE) without replacement, with the pool norms maintained by
rank-one downdates; random-omd is `omd_average_segment`, random-mle `mle_checkpoints` at the
single checkpoint T.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np

from algorithms.active import (
    ACTIVE_MLE,
    PairPool,
    active_mle_rounds,
    active_omd_rounds,
    difference_pool,
    omd_average_segment,
    pair_sq_norms,
)
from algorithms.confidence import Radius
from algorithms.mle import MLE_MAX_ITER, MLE_TOL
from algorithms.passive import mle_checkpoints
from sim.core.seeding import SeedLike, spawn_streams

ACTIVE_METHODS: tuple[str, ...] = ("random-mle", "active-mle", "random-omd", "active-omd")
"""Methods of `run_pool_active`, in the order of the paper's table (Rand-MLE, Active-MLE,
Rand-OMD, the paper's)."""

PAPER_NAMES: dict[str, str] = {"random-mle": "Rand-MLE", "active-mle": "Active-MLE",
                               "random-omd": "Rand-OMD", "active-omd": "paper (Active-OMD)"}
"""The paper's name of each method."""

_RADIUS = Radius()
"""Radius passed to the kernels: it only enters their running width sum, not reported here."""
_NO_THETA_STAR = np.empty(0)


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


def warm_up(d: int, eta: float, lam: float) -> None:
    """Load (or compile) the kernels on a 2-pair pool, so that timings exclude compilation."""
    Zp = np.eye(2, d)
    yp = np.array([1.0, 0.0])
    pool = difference_pool(Zp)
    for method in ACTIVE_METHODS:
        _run_method(pool, Zp, yp, 1, method, eta, lam, math.inf, False, np.arange(2))


def active_selection(pool: PairPool, yp: np.ndarray, T: int, method: str, *, eta: float,
                     lam: float, B: float = math.inf, project: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """T maximum-norm queries without replacement over a labelled pool (labels yp (P,)),
    from Hcal_1 = lam I and theta_1 = 0: (theta, theta_last, picked, counters).

    "active-omd": `active_omd_rounds` (Algorithm 3), theta = theta_bar = theta_sum / (T + 1),
    theta_last = theta_{T+1}. "active-mle": `active_mle_rounds` in mode ACTIVE_MLE (MLE
    constrained to ||theta|| <= B, unconstrained for B = inf), theta = theta_last = the
    final MLE; counters: Newton iterations and refits that did not converge. The first pair
    is argmax_p ||z_p||_{Hcal_1^{-1}} (ties: the lowest index, as in the kernels).
    """
    P, d = pool.px.shape[0], pool.phi.shape[2]
    theta = np.zeros(d)
    Hinv = np.eye(d) / lam
    s = np.empty(P)
    pair_sq_norms(pool.phi, pool.px, pool.pa, pool.pb, Hinv, s)
    used = np.zeros(P, dtype=np.bool_)
    state_f = np.zeros(1)
    picked, y_out, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
    r = _RADIUS
    if method == "active-omd":
        state_i = np.array([int(np.argmax(s))], dtype=np.int64)
        theta_sum = np.zeros(d)
        active_omd_rounds(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib, s,
                          used, state_i, theta, Hinv, theta_sum, state_f, eta, B, project,
                          False, False, r.code, lam, 1.0, r.delta, r.c_beta, yp,
                          _NO_THETA_STAR, _NO_THETA_STAR, 0, 0, T, picked, y_out, norms)
        counters = {"newton_iterations": 0, "unconverged_refits": 0}
        return theta_sum / (T + 1.0), theta, picked, counters
    if method == "active-mle":
        state_i = np.array([int(np.argmax(s)), 0, 0], dtype=np.int64)
        active_mle_rounds(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib, s,
                          used, state_i, theta, Hinv, state_f, np.empty((T, d)), np.empty(T),
                          ACTIVE_MLE, False, lam, B, MLE_TOL, MLE_MAX_ITER, math.nan, r.code,
                          eta, 1.0, r.delta, r.c_beta, yp, _NO_THETA_STAR, _NO_THETA_STAR, 0,
                          0, T, picked, y_out, norms)
        counters = {"newton_iterations": int(state_i[2]), "unconverged_refits": int(state_i[1])}
        return theta, theta.copy(), picked, counters
    raise ValueError(f"unknown active selection {method!r}; known: active-omd, active-mle")


def _run_method(pool: PairPool, Zp: np.ndarray, yp: np.ndarray, T: int, method: str,
                eta: float, lam: float, B: float, project: bool, order: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(theta, theta_last, picked, counters) of one method; `order` is the random order used
    by the random-* methods. No input checks (see `run_pool_active`)."""
    if method in ("active-omd", "active-mle"):
        return active_selection(pool, yp, T, method, eta=eta, lam=lam, B=B, project=project)
    d = Zp.shape[1]
    picked = np.ascontiguousarray(order[:T], dtype=np.int64)
    Z, y = np.ascontiguousarray(Zp[picked]), np.ascontiguousarray(yp[picked])
    if method == "random-omd":
        theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / lam, np.zeros(d)
        omd_average_segment(Z, y, theta, Hinv, theta_sum, eta, B, project, 0, T)
        counters = {"newton_iterations": 0, "unconverged_refits": 0}
        return theta_sum / (T + 1.0), theta, picked, counters
    if method == "random-mle":
        its = np.zeros(1, dtype=np.int64)
        fits, _, _, failures = mle_checkpoints(Z, y, np.array([T]), lam=lam, B=B, design=False,
                                               iterations=its)
        counters = {"newton_iterations": int(its[0]), "unconverged_refits": int(failures)}
        return fits[0], fits[0].copy(), picked, counters
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
    warm_up(Zp.shape[1], float(eta), float(lam))
    start = time.perf_counter()
    pool = difference_pool(Zp)
    theta, last, picked, counters = _run_method(pool, Zp, yp, T, method, float(eta), float(lam),
                                                Bv, project, order)
    seconds = time.perf_counter() - start
    return ActiveOutcome(method, theta, last, picked, seconds, counters)


class ActiveCurve(NamedTuple):
    """One pool-based active run observed at increasing query counts (its checkpoints)."""

    method: str
    checkpoints: np.ndarray
    """(n,) int64 query counts t, increasing, the last one the run's length T."""
    thetas: np.ndarray
    """(n, d) the output estimate after t queries: theta_bar = mean of theta_1..theta_{t+1} for
    the OMD methods, the MLE of the first t queried pairs otherwise."""
    thetas_last: np.ndarray
    """(n, d) the last iterate theta_{t+1} (equal to thetas for the MLE methods)."""
    picked: np.ndarray
    """(T,) int64 pool indices in query order."""
    seconds: np.ndarray
    """(n,) cumulative learner wall time at each checkpoint (compiled code loaded first)."""
    counters: dict


def _check_checkpoints(checkpoints, P: int) -> np.ndarray:
    ts = np.asarray(checkpoints)
    if (ts.ndim != 1 or ts.size == 0 or not np.issubdtype(ts.dtype, np.integer) or ts[0] < 1
            or np.any(np.diff(ts) <= 0)):
        raise ValueError(f"checkpoints must be increasing ints >= 1, got {checkpoints!r}")
    if ts[-1] > P:
        raise ValueError(f"the largest checkpoint {int(ts[-1])} exceeds the pool of {P} pairs "
                         "(each pair can be queried once)")
    return ts.astype(np.int64)


def active_checkpoints(method: str, Zp: np.ndarray, yp: np.ndarray, checkpoints, seed: SeedLike,
                       *, eta: float, lam: float, B: float | None = None) -> ActiveCurve:
    """One run of `run_pool_active`'s method for T = checkpoints[-1] queries, with its output
    estimate at every checkpoint: a curve of accuracy against queries from a single run (the
    run is cut into segments between checkpoints; the kernels carry their state across, so the
    iterates are those of one run, and the state at T is `run_pool_active`'s with budget T,
    bit for bit for the OMD methods and active-mle, to the Newton tolerance for random-mle,
    whose fits are warm-started from the previous checkpoint).

    eta, lam, B and seed as in `run_pool_active` (seed: the random order of random-*)."""
    if method not in ACTIVE_METHODS:
        raise ValueError(f"unknown active method {method!r}; known: {', '.join(ACTIVE_METHODS)}")
    Zp = np.ascontiguousarray(Zp, dtype=np.float64)
    ts = _check_checkpoints(checkpoints, Zp.shape[0] if Zp.ndim == 2 else 0)
    Zp, yp, T = _check_pool(Zp, yp, int(ts[-1]))
    for name, v in (("eta", eta), ("lam", lam)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if B is not None and (isinstance(B, bool) or not isinstance(B, (int, float))
                          or not (math.isfinite(B) and B > 0)):
        raise ValueError(f"B must be None or a finite number > 0, got {B!r}")
    eta, lam = float(eta), float(lam)
    order = spawn_streams(seed, ("order",))["order"].permutation(Zp.shape[0])
    Bv, project = (math.inf, False) if B is None else (float(B), True)
    warm_up(Zp.shape[1], eta, lam)
    P, d, n = Zp.shape[0], Zp.shape[1], ts.shape[0]
    thetas, lasts, seconds = np.empty((n, d)), np.empty((n, d)), np.empty(n)
    picked = np.empty(T, np.int64)
    counters = {"newton_iterations": 0, "unconverged_refits": 0}
    start = time.perf_counter()
    if method == "random-mle":
        picked[:] = order[:T]
        Z, y = np.ascontiguousarray(Zp[picked]), np.ascontiguousarray(yp[picked])
        its = np.zeros(n, dtype=np.int64)
        fits, _, secs, failures = mle_checkpoints(Z, y, ts, lam=lam, B=Bv, design=False,
                                                  iterations=its)
        counters = {"newton_iterations": int(its.sum()), "unconverged_refits": int(failures)}
        return ActiveCurve(method, ts, fits, fits.copy(), picked, np.asarray(secs), counters)
    theta, theta_sum, state_f = np.zeros(d), np.zeros(d), np.zeros(1)
    Hinv = np.eye(d) / lam
    if method == "random-omd":
        picked[:] = order[:T]
        Z, y = np.ascontiguousarray(Zp[picked]), np.ascontiguousarray(yp[picked])
    else:
        pool = difference_pool(Zp)
        s = np.empty(P)
        pair_sq_norms(pool.phi, pool.px, pool.pa, pool.pb, Hinv, s)
        used = np.zeros(P, dtype=np.bool_)
        y_out, norms = np.empty(T, np.int64), np.empty(T)
        r = _RADIUS
        if method == "active-mle":
            state_i = np.array([int(np.argmax(s)), 0, 0], dtype=np.int64)
            Zd, yd = np.empty((T, d)), np.empty(T)
        else:
            state_i = np.array([int(np.argmax(s))], dtype=np.int64)
    t0 = 0
    for k, t1 in enumerate(ts):
        t1 = int(t1)
        if method == "random-omd":
            omd_average_segment(Z, y, theta, Hinv, theta_sum, eta, Bv, project, t0, t1)
        elif method == "active-omd":
            active_omd_rounds(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib,
                              s, used, state_i, theta, Hinv, theta_sum, state_f, eta, Bv,
                              project, False, False, r.code, lam, 1.0, r.delta, r.c_beta, yp,
                              _NO_THETA_STAR, _NO_THETA_STAR, 0, t0, t1, picked, y_out, norms)
        else:
            active_mle_rounds(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib,
                              s, used, state_i, theta, Hinv, state_f, Zd, yd, ACTIVE_MLE, False,
                              lam, Bv, MLE_TOL, MLE_MAX_ITER, math.nan, r.code, eta, 1.0,
                              r.delta, r.c_beta, yp, _NO_THETA_STAR, _NO_THETA_STAR, 0, t0, t1,
                              picked, y_out, norms)
        seconds[k] = time.perf_counter() - start
        lasts[k] = theta
        thetas[k] = theta if method == "active-mle" else theta_sum / (t1 + 1.0)
        t0 = t1
    if method == "active-mle":
        counters = {"newton_iterations": int(state_i[2]), "unconverged_refits": int(state_i[1])}
    return ActiveCurve(method, ts, thetas, lasts, picked, seconds, counters)
