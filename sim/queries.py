"""Queries (x, a, a') and their feature differences, as compiled kernels over plain arrays.

A query is a context x and two distinct arms a != a'; the learner sees
z = phi(x, a) - phi(x, a') and the label y (ALGORITHMS.md section 1).

The public functions check their arguments (shapes, lengths, index ranges, uniforms in
[0, 1)) and raise ValueError naming the problem before entering compiled code; the unchecked
kernels (`*_kernel`) are for other compiled loops, whose callers guarantee the ranges.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .core.validation import (
    check_cdf,
    check_count,
    check_features,
    check_index_array,
    check_same_length,
    check_uniforms,
)
from .feedback import draw_contexts_kernel


@njit(cache=True)
def uniform_pairs_kernel(cdf: np.ndarray, K: int, context_u: np.ndarray,
                         arm_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`uniform_pairs` without checks (K >= 2, uniforms in [0, 1), arm_u of shape (n, 2))."""
    n = context_u.shape[0]
    x = draw_contexts_kernel(cdf, context_u)
    a = np.empty(n, dtype=np.int64)
    a2 = np.empty(n, dtype=np.int64)
    for t in range(n):
        i = min(int(arm_u[t, 0] * K), K - 1)
        j = min(int(arm_u[t, 1] * (K - 1)), K - 2)
        if j >= i:
            j += 1
        a[t] = i
        a2[t] = j
    return x, a, a2


def uniform_pairs(cdf: np.ndarray, K: int, context_u: np.ndarray,
                  arm_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform random pairs from uniforms: x = F^{-1}(context_u), a = floor(K u_0),
    a' = floor((K - 1) u_1) shifted past a, so (a, a') is uniform over ordered pairs of
    distinct arms.

    Parameters
    ----------
    cdf : (n_x,) context CDF (`sim.context_cdf`).
    K : number of arms, >= 2.
    context_u : (n,) uniforms in [0, 1) for the contexts.
    arm_u : (n, 2) uniforms in [0, 1) for the arms.

    Returns int64 arrays (x, a, a'), each (n,).
    """
    cdf = check_cdf(cdf)
    K = check_count("K", K, 2)
    context_u = check_uniforms("context_u", context_u, (None,))
    arm_u = check_uniforms("arm_u", arm_u, (context_u.shape[0], 2))
    return uniform_pairs_kernel(cdf, K, context_u, arm_u)


@njit(cache=True)
def pair_differences_kernel(phi: np.ndarray, x: np.ndarray, a: np.ndarray,
                            a2: np.ndarray) -> np.ndarray:
    """`pair_differences` without checks (equal lengths, indices in range)."""
    n = x.shape[0]
    d = phi.shape[2]
    Z = np.empty((n, d))
    for t in range(n):
        for j in range(d):
            Z[t, j] = phi[x[t], a[t], j] - phi[x[t], a2[t], j]
    return Z


def pair_differences(phi: np.ndarray, x: np.ndarray, a: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Z[t] = phi(x_t, a_t) - phi(x_t, a'_t), shape (n, d).

    Parameters
    ----------
    phi : (n_x, K, d) features.
    x : (n,) context indices in [0, n_x).
    a, a2 : (n,) arm indices in [0, K).
    """
    phi = check_features("phi", phi, 3)
    n_x, K, _ = phi.shape
    x = check_index_array("x", x, n_x, "a context")
    a = check_index_array("a", a, K, "an arm")
    a2 = check_index_array("a2", a2, K, "an arm")
    check_same_length(x=x, a=a, a2=a2)
    return pair_differences_kernel(phi, x, a, a2)
