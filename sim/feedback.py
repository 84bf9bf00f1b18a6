"""The preference oracle: context draws and Bradley-Terry labels from pre-drawn uniforms.

ALGORITHMS.md section 1. A query (x, a, a') with margin w = r(x, a) - r(x, a') is answered
y = 1 ("a preferred") with probability

    P(y = 1) = sigma(w) = 1 / (1 + e^{-w})                 (logistic link, the model)
    P(y = 1) = Phi(w)   = (1 + erf(w / sqrt 2)) / 2         (probit link, a misspecified model)

Every random quantity is a function of a uniform drawn beforehand: y = 1[u < P(y = 1)] and
x = F^{-1}(u) for the context distribution's CDF F. Algorithms compared on the same
uniforms therefore see the same contexts and the same label noise (common random numbers).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import sigmoid
from sim.core.validation import (
    as_real_array,
    check_cdf,
    check_features,
    check_index_array,
    check_same_length,
    check_uniforms,
)

LINK_CODES: dict[str, int] = {"logistic": 0, "probit": 1}
"""Integer code of each link function, as the compiled kernels take it."""

_SQRT2 = math.sqrt(2.0)


def link_code_of(link: str) -> int:
    """The integer code of a link name; ValueError for an unknown name."""
    try:
        return LINK_CODES[link]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown link {link!r}; known links: {', '.join(sorted(LINK_CODES))}"
        ) from None


def context_cdf(rho: np.ndarray) -> np.ndarray:
    """F_i = sum_{j <= i} rho_j, with F = 1.0 exactly from the last context of positive mass on.

    Forcing the tail to 1.0 makes x = min{i : F_i > u} land on a context of positive
    probability for every u in [0, 1), whatever the rounding of the cumulative sum.
    """
    rho = as_real_array("rho", rho)
    if rho.ndim != 1 or rho.shape[0] < 1:
        raise ValueError(f"rho must be a non-empty 1-d array, got shape {rho.shape}")
    if not np.all(np.isfinite(rho)):
        raise ValueError("rho has non-finite entries")
    if np.any(rho < 0.0):
        i = int(np.argmax(rho < 0.0))
        raise ValueError(f"rho[{i}] = {float(rho[i])!r} is negative")
    total = float(rho.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"rho sums to {total!r}, not 1 (tolerance 1e-9)")
    cdf = np.minimum(np.cumsum(rho), 1.0)
    last_positive = int(np.flatnonzero(rho > 0.0)[-1])
    cdf[last_positive:] = 1.0
    return cdf


@njit(cache=True)
def draw_contexts_kernel(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`draw_contexts` without checks, for compiled callers (cdf non-empty)."""
    n = cdf.shape[0]
    out = np.empty(u.shape[0], dtype=np.int64)
    for t in range(u.shape[0]):
        ut = u[t]
        lo = 0
        hi = n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cdf[mid] > ut:
                hi = mid
            else:
                lo = mid + 1
        out[t] = lo
    return out


def draw_contexts(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """x_t = min{i : cdf_i > u_t} (inverse-CDF sampling, binary search), as int64.

    With cdf from `context_cdf` and u_t uniform on [0, 1), P(x_t = i) = rho_i. ValueError for
    a cdf that is not one (`context_cdf` builds it) or uniforms outside [0, 1) (NaN included).
    """
    return draw_contexts_kernel(check_cdf(cdf), check_uniforms("u", u, (None,)))


@njit(cache=True)
def preference_probability(w: float, link_code: int) -> float:
    """P(y = 1 | margin w): sigma(w) for link code 0, Phi(w) for link code 1.

    Phi(w) = (1 + erf(w / sqrt 2)) / 2 is evaluated as erfc(-w / sqrt 2) / 2, the same
    number without the cancellation of 1 + erf in the lower tail.
    """
    if link_code == 0:
        return sigmoid(w)
    if link_code == 1:
        return 0.5 * math.erfc(-w / _SQRT2)
    raise ValueError("unknown link code: expected 0 (logistic) or 1 (probit)")


@njit(cache=True)
def bt_label(w: float, u: float, link_code: int) -> int:
    """y = 1[u < P(y = 1 | w)]: a label with P(y = 1) = P(y = 1 | w) when u ~ U[0, 1)."""
    return 1 if u < preference_probability(w, link_code) else 0


@njit(cache=True)
def bt_labels_kernel(
    phi: np.ndarray,
    theta_star: np.ndarray,
    x: np.ndarray,
    a: np.ndarray,
    a2: np.ndarray,
    u: np.ndarray,
    link_code: int,
) -> np.ndarray:
    """`bt_labels` in compiled code; it checks lengths and ranges itself (IndexError)."""
    n = x.shape[0]
    if a.shape[0] != n or a2.shape[0] != n or u.shape[0] != n:
        raise ValueError("bt_labels: x, a, a2 and u must have the same length")
    n_x, K, d = phi.shape
    if theta_star.shape[0] != d:
        raise ValueError("bt_labels: theta_star length differs from the feature dimension")
    preference_probability(0.0, link_code)  # rejects a bad link code even for no queries
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        xi = x[i]
        ai = a[i]
        bi = a2[i]
        if xi < 0 or xi >= n_x:
            raise IndexError("bt_labels: context index out of range")
        if ai < 0 or ai >= K or bi < 0 or bi >= K:
            raise IndexError("bt_labels: arm index out of range")
        w = 0.0
        for j in range(d):
            w += (phi[xi, ai, j] - phi[xi, bi, j]) * theta_star[j]
        out[i] = bt_label(w, u[i], link_code)
    return out


def bt_labels(phi: np.ndarray, theta_star: np.ndarray, x: np.ndarray, a: np.ndarray,
              a2: np.ndarray, u: np.ndarray, link_code: int) -> np.ndarray:
    """y_i = 1[u_i < P(y = 1 | w_i)], w_i = (phi(x_i, a_i) - phi(x_i, a2_i))' theta*, as int64.

    Parameters
    ----------
    phi : (n_x, K, d) features.
    theta_star : (d,) parameter.
    x : (n,) context indices in [0, n_x); a, a2 : (n,) arm indices in [0, K).
    u : (n,) label uniforms in [0, 1).
    link_code : a value of LINK_CODES.

    ValueError naming the argument for any shape, length, range or link problem.
    """
    phi = check_features("phi", phi, 3)
    n_x, K, d = phi.shape
    theta = check_features("theta_star", theta_star, 1)
    if theta.shape[0] != d:
        raise ValueError(f"theta_star has length {theta.shape[0]}, but phi has d = {d} features")
    x = check_index_array("x", x, n_x, "a context")
    a = check_index_array("a", a, K, "an arm")
    a2 = check_index_array("a2", a2, K, "an arm")
    n = check_same_length(x=x, a=a, a2=a2, u=np.asarray(u).reshape(-1))
    uu = check_uniforms("u", u, (n,))
    if (isinstance(link_code, (bool, np.bool_)) or not isinstance(link_code, (int, np.integer))
            or int(link_code) not in LINK_CODES.values()):
        raise ValueError(f"unknown link code {link_code!r}; codes: {LINK_CODES}")
    return bt_labels_kernel(phi, theta, x, a, a2, uu, int(link_code))
