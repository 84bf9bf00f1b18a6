"""Training-stage loops over any reward model of the protocol (`algorithms.protocol`).

These run a researcher's `RewardModel` (or a built-in code) in the training stage:

    passive   the behaviour policy's queries, fed to the model in one pass; at each
              checkpoint the estimate and the inverse confidence matrix go to the output rule
              (pessimistic, lcb-proxy, greedy: `algorithms.pessimism`)
    active    max-norm: each round, the pool pair of largest ||z_p||_{M_t^{-1}} (ties: lowest
              index; recomputed from the model's inverse every round, O(P d^2), since a
              user model's inverse may change by more than rank one), its label from the
              oracle, the model update; uniform: the uniform random pairs of the common random
              numbers. Output "average": greedy on theta_bar = mean of theta_1..theta_{T+1}
              (as Algorithm 3); "last": greedy on the final estimate.

The instance bound of maximum-norm selection, (1/t) sum_s beta_s ||z_s||_{M_s^{-1}}, is
accumulated with the run's radius, as for the built-in algorithms.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from .active import query_pool_pair
from .confidence import beta_at
from .protocol import (
    COUNTERS,
    RewardModel,
    init_state,
    kernel_loop,
    model_estimate,
    model_handle,
    model_inverse,
    model_stream,
    model_update,
)


@njit(cache=True)
def _pool_argmax(phi, px, pa, pb, Minv, used, z) -> tuple[int, float]:
    """argmax over unused pool pairs of z_p' Minv z_p (ties: lowest index), and that value."""
    d = Minv.shape[0]
    best = -math.inf
    arg = -1
    for p in range(px.shape[0]):
        if used[p]:
            continue
        for j in range(d):
            z[j] = phi[px[p], pa[p], j] - phi[px[p], pb[p], j]
        acc = 0.0
        for j in range(d):
            r = 0.0
            for k in range(d):
                r += Minv[j, k] * z[k]
            acc += z[j] * r
        if acc > best:
            best = acc
            arg = p
    return arg, best


@kernel_loop
def active_model_segment(model, state, params: np.ndarray, counters: np.ndarray,
                         phi: np.ndarray, px: np.ndarray, pa: np.ndarray, pb: np.ndarray,
                         used: np.ndarray, replacement: bool, theta_sum: np.ndarray,
                         bound_sum: np.ndarray, radius_kind: int, eta: float, lam: float,
                         L: float, B: float, delta: float, c_beta: float,
                         theta_star: np.ndarray, label_u: np.ndarray, link_code: int,
                         t0: int, t1: int, sel_out: np.ndarray, y_out: np.ndarray,
                         norm_out: np.ndarray) -> None:
    """Rounds t0..t1-1 of maximum-norm selection with any reward model, in place.

    theta_sum accumulates the estimates after each update; bound_sum[0] the running
    sum of beta_t ||z_t||_{M_t^{-1}}. The label comes from the oracle (`query_pool_pair`).
    """
    d = theta_sum.shape[0]
    z = np.empty(d)
    for t in range(t0, t1):
        p, sq = _pool_argmax(phi, px, pa, pb, model_inverse(model, state), used, z)
        y = query_pool_pair(phi, px[p], pa[p], pb[p], theta_star, label_u[t], link_code, z)
        norm = math.sqrt(max(sq, 0.0))
        model_update(model, state, z, y, t + 1, params, counters)
        est = model_estimate(model, state)
        for j in range(d):
            theta_sum[j] += est[j]
        bound_sum[0] += beta_at(t + 1.0, radius_kind, d, eta, lam, L, B, delta, c_beta) * norm
        sel_out[t] = p
        y_out[t] = int(y)
        norm_out[t] = norm
        if not replacement:
            used[p] = True


def _copy_estimate(model: int | RewardModel, state: tuple) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(model, RewardModel):
        return (np.array(model.estimate(state), dtype=np.float64),
                np.array(model.inverse(state), dtype=np.float64))
    return state[0].copy(), state[1].copy()


def stream_checkpoints(model: int | RewardModel, params: np.ndarray, Z: np.ndarray,
                       y: np.ndarray, checkpoints: np.ndarray, lam: float, *,
                       average: bool = False) -> dict:
    """One pass of a model over (Z, y), with its state at each checkpoint t (after t rows).

    Returns thetas (the estimate, or theta_bar when average), iterates (the estimate),
    inverses (M_t^{-1}), seconds (cumulative update time) and counters.
    """
    T, d = Z.shape
    state = init_state(model, d, T, params, lam)
    handle = model_handle(model)
    counters = np.zeros(len(COUNTERS), dtype=np.int64)
    n = checkpoints.shape[0]
    out: dict = dict(thetas=np.empty((n, d)), iterates=np.empty((n, d)),
                     inverses=np.empty((n, d, d)), seconds=np.empty(n))
    path = np.empty((0, d))
    model_stream(handle, state, Z[:0], y[:0], 0, params, counters, path)  # compile or load
    theta_sum = _copy_estimate(model, state)[0]
    start, elapsed = 0, 0.0
    for k, t in enumerate(checkpoints):
        t = int(t)
        t0 = time.perf_counter()
        if average:
            seg = np.empty((t - start + 1, d))
            model_stream(handle, state, Z[start:t], y[start:t], start, params, counters, seg)
            # sequential sums, in the order the built-in loops add their iterates
            theta_sum = np.cumsum(np.vstack([theta_sum[None, :], seg[1:]]), axis=0)[-1]
        else:
            model_stream(handle, state, Z[start:t], y[start:t], start, params, counters, path)
        elapsed += time.perf_counter() - t0
        est, inv = _copy_estimate(model, state)
        out["iterates"][k], out["inverses"][k], out["seconds"][k] = est, inv, elapsed
        out["thetas"][k] = theta_sum / (t + 1.0) if average else est
        start = t
    out["counters"] = {name: int(v) for name, v in zip(COUNTERS, counters)}
    return out


__all__ = ["active_model_segment", "stream_checkpoints"]
