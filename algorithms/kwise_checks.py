"""A conformance set for ranking estimators, in the spirit of `algorithms.testing`: properties
every estimator of the linear Plackett-Luce model should have. An estimator is a function
f(F, rank) -> (T + 1, d) iterates (or (d,) for a batch fit: then path-only checks are skipped).

    check_ranking_same_bits        the same rankings twice, or a copy: the same bits
    check_ranking_order_invariance presenting a query's items in another order (with the ranking
                                   permuted alike) leaves the result unchanged (relative 1e-9)
    check_ranking_shift_invariance adding one vector to every item of a query changes nothing
                                   (PL sees utility differences only; relative 1e-9)
    check_ranking_extreme          utilities spread over +-60 within a query: finite results
    check_ranking_error_decreases  ||theta_T - theta*|| falls with T on PL data
    check_ranking_in_ball          ||theta_t|| <= B (1 + 1e-9) when a ball radius B is declared

`check_ranking_estimator(fn, m=3, B=None)` runs them all and returns {name: message}; a failure
raises AssertionError naming the check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.feedback import context_cdf
from sim.generators import random_directions_env
from sim.rankings import RankingRandomNumbers, pl_rankings, subset_features, uniform_subsets

RTOL = 1e-9


def ranking_stream(m: int, T: int, seed: int, *, d: int = 3, B: float = 2.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, rank, theta*) of T uniform m-wise queries with PL rankings on a canonical
    environment (20 contexts, max(5, m) arms, L = 1)."""
    env = random_directions_env(20, max(5, m), d, L=1.0, B=B, seed=seed)
    rr = RankingRandomNumbers.draw(seed + 1, T, m)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    rank = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, False)
    return subset_features(env.phi, x, S), rank, np.array(env.theta_star)


def _final(out: np.ndarray) -> np.ndarray:
    return out[-1] if out.ndim == 2 else out


def _close(label: str, a: np.ndarray, b: np.ndarray) -> float:
    scale = max(1.0, float(np.max(np.abs(a))))
    rel = float(np.max(np.abs(a - b))) / scale
    if not rel <= RTOL:
        raise AssertionError(f"{label}: relative difference {rel:.3g} > {RTOL:g}")
    return rel


def check_ranking_same_bits(fn: Callable, m: int = 3) -> str:
    F, rank, _ = ranking_stream(m, 300, 1)
    a, b, c = fn(F, rank), fn(F, rank), fn(F.copy(), rank.copy())
    if a.tobytes() != b.tobytes() or a.tobytes() != c.tobytes():
        raise AssertionError("check_ranking_same_bits: repeated runs differ")
    return "identical bits"


def check_ranking_order_invariance(fn: Callable, m: int = 3) -> str:
    F, rank, _ = ranking_stream(m, 300, 2)
    rng = np.random.default_rng(3)
    perm = np.array([rng.permutation(m) for _ in range(F.shape[0])])
    F2 = np.take_along_axis(F, perm[:, :, None], axis=1)
    inv = np.argsort(perm, axis=1)
    rank2 = np.take_along_axis(inv, rank, axis=1)
    rel = _close("check_ranking_order_invariance", fn(F, rank), fn(F2, rank2))
    return f"max relative difference {rel:.2g}"


def check_ranking_shift_invariance(fn: Callable, m: int = 3) -> str:
    F, rank, _ = ranking_stream(m, 300, 4)
    shift = np.random.default_rng(5).normal(size=(F.shape[0], 1, F.shape[2]))
    rel = _close("check_ranking_shift_invariance", fn(F, rank), fn(F + shift, rank))
    return f"max relative difference {rel:.2g}"


def check_ranking_extreme(fn: Callable, m: int = 3) -> str:
    F, rank, theta = ranking_stream(m, 200, 6)
    u = theta / np.linalg.norm(theta)
    spread = np.linspace(-30.0, 30.0, m)
    Fx = F.copy()
    Fx[100:] = spread[None, :, None] * u[None, None, :]
    out = fn(np.vstack([Fx, F]), np.vstack([rank, rank]))
    if not np.all(np.isfinite(out)):
        raise AssertionError("check_ranking_extreme: non-finite estimate")
    return "finite at utility spreads of 60"


def check_ranking_error_decreases(fn: Callable, m: int = 3) -> str:
    small, large = [], []
    for s in range(3):
        F, rank, theta = ranking_stream(m, 3000, 10 + s)
        small.append(np.linalg.norm(_final(fn(F[:200], rank[:200])) - theta))
        large.append(np.linalg.norm(_final(fn(F, rank)) - theta))
    if not np.mean(large) <= 0.7 * np.mean(small):
        raise AssertionError(f"check_ranking_error_decreases: {np.mean(small):.3g} at T = 200, "
                             f"{np.mean(large):.3g} at T = 3000")
    return f"{np.mean(small):.3g} -> {np.mean(large):.3g}"


def check_ranking_in_ball(fn: Callable, B: float, m: int = 3) -> str:
    F, rank, _ = ranking_stream(m, 500, 20, B=4 * B)
    out = np.atleast_2d(fn(F, rank))
    top = float(np.linalg.norm(out, axis=1).max())
    if not top <= B * (1 + RTOL):
        raise AssertionError(f"check_ranking_in_ball: ||theta|| = {top:.6g} > B = {B:g}")
    return f"max ||theta|| / B = {top / B:.6f}"


def check_ranking_estimator(fn: Callable, *, m: int = 3, B: float | None = None
                            ) -> dict[str, str]:
    """Every check on fn (module docstring); B: the declared ball (None: not checked)."""
    out = {c.__name__: c(fn, m) for c in (check_ranking_same_bits, check_ranking_order_invariance,
                                          check_ranking_shift_invariance, check_ranking_extreme,
                                          check_ranking_error_decreases)}
    if B is not None:
        out["check_ranking_in_ball"] = check_ranking_in_ball(fn, B, m)
    return out


__all__ = ["check_ranking_error_decreases", "check_ranking_estimator", "check_ranking_extreme",
           "check_ranking_in_ball", "check_ranking_order_invariance", "check_ranking_same_bits",
           "check_ranking_shift_invariance", "ranking_stream"]
