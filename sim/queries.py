"""Queries (x, a, a') and their feature differences, as compiled kernels over plain arrays.

A query is a context x and two distinct arms a != a'; the learner sees
z = phi(x, a) - phi(x, a') and the label y (ALGORITHMS.md section 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .feedback import draw_contexts


@njit(cache=True)
def uniform_pairs(cdf: np.ndarray, K: int, context_u: np.ndarray,
                  arm_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform random pairs from uniforms: x = F^{-1}(context_u), a = floor(K u_0),
    a' = floor((K - 1) u_1) shifted past a, so (a, a') is uniform over ordered pairs of
    distinct arms. arm_u is (n, 2); returns int64 arrays (x, a, a')."""
    n = context_u.shape[0]
    x = draw_contexts(cdf, context_u)
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


@njit(cache=True)
def pair_differences(phi: np.ndarray, x: np.ndarray, a: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Z[t] = phi(x_t, a_t) - phi(x_t, a'_t), shape (n, d)."""
    n = x.shape[0]
    d = phi.shape[2]
    Z = np.empty((n, d))
    for t in range(n):
        for j in range(d):
            Z[t, j] = phi[x[t], a[t], j] - phi[x[t], a2[t], j]
    return Z
