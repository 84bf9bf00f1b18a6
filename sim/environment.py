"""The linear Bradley-Terry contextual preference bandit and its exact quantities.

ALGORITHMS.md section 1. Contexts x in {0..n_x-1} with probabilities rho_x, arms
a in {0..K-1}, features phi(x, a) in R^d with ||phi(x, a)||_2 <= L, and an unknown
parameter theta* with ||theta*||_2 <= B. The reward is r(x, a) = phi(x, a)' theta* and the
query (x, a, a') is answered y = 1 with probability sigma(r(x, a) - r(x, a')).

A policy is either deterministic, an int array pi of shape (n_x,) with pi[x] the arm played
in context x, or stochastic, an array pi of shape (n_x, K) with pi[x, a] = pi(a | x).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from sim.core.links import inv_dsigmoid
from sim.core.validation import as_real_array

from .feedback import LINK_CODES, link_code_of

NORM_RTOL = 1e-12
"""Relative slack on the bounds ||phi|| <= L and ||theta*|| <= B (rounding of the norms)."""

PROBABILITY_ATOL = 1e-9
"""Tolerance on sum_x rho_x = 1 and on sum_a pi(a | x) = 1."""

_SQ_UNDERFLOW = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)
"""Below this, a sum of squares may have lost digits (or everything) to underflow."""


@njit(cache=True)
def _max_pair_sq_norm(phi: np.ndarray) -> float:
    """max over x and a < a' of ||phi(x, a) - phi(x, a')||_2^2, from the differences themselves."""
    n_x, K, d = phi.shape
    best = 0.0
    for x in range(n_x):
        for a in range(K - 1):
            for b in range(a + 1, K):
                s = 0.0
                for j in range(d):
                    diff = phi[x, a, j] - phi[x, b, j]
                    s += diff * diff
                if s > best:
                    best = s
    return best


def _float_array(field: str, value: object, ndim: int, shape_doc: str) -> np.ndarray:
    """A C-contiguous float64 copy of value, required to have `ndim` dimensions."""
    try:
        arr = as_real_array(field, value)
    except ValueError as exc:
        raise ValueError(f"{field} must be a float array of shape {shape_doc}: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(
            f"{field} must be a {ndim}-d array of shape {shape_doc}, got shape {arr.shape}"
        )
    return arr


def _check_finite(field: str, arr: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{field}[{', '.join(map(str, index))}] = {float(arr[index])!r} is not finite"
            f" ({len(bad)} non-finite entries in {field})"
        )


def _positive_finite(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a positive finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{field} must be a positive finite number, got {value!r}")
    return v


@dataclass(frozen=True, eq=False)
class PreferenceEnv:
    """A finite linear Bradley-Terry preference environment with known parameters.

    Construction copies the arrays to C-contiguous, read-only float64 and validates them;
    any violation raises ValueError naming the field, the index and the value. Rewards are
    identified only up to a per-context shift: BT sees phi(x, a) - phi(x, a') only.
    """

    phi: np.ndarray
    """(n_x, K, d) features phi(x, a), ||phi(x, a)||_2 <= L."""
    rho: np.ndarray
    """(n_x,) context distribution: rho_x >= 0, sum_x rho_x = 1 (never renormalised)."""
    theta_star: np.ndarray
    """(d,) true parameter, ||theta*||_2 <= B."""
    L: float
    """Bound on the feature norms."""
    B: float
    """Bound on the parameter norm."""
    name: str = "custom"
    """Label for result tables."""
    link: str = "logistic"
    """Link of the label model: "logistic" (Bradley-Terry) or "probit" (misspecified)."""

    def __post_init__(self) -> None:
        phi = _float_array("phi", self.phi, 3, "(n_x, K, d)")
        rho = _float_array("rho", self.rho, 1, "(n_x,)")
        theta_star = _float_array("theta_star", self.theta_star, 1, "(d,)")
        n_x, K, d = phi.shape
        if n_x < 1:
            raise ValueError(f"phi needs n_x >= 1 contexts, got phi.shape = {phi.shape}")
        if K < 2:
            raise ValueError(f"phi needs K >= 2 arms per context, got K = {K}")
        if d < 1:
            raise ValueError(f"phi needs d >= 1 features, got phi.shape = {phi.shape}")
        if rho.shape[0] != n_x:
            raise ValueError(f"rho has length {rho.shape[0]} but phi has n_x = {n_x} contexts")
        if theta_star.shape[0] != d:
            raise ValueError(
                f"theta_star has length {theta_star.shape[0]} but phi has d = {d} features"
            )
        for field, arr in (("phi", phi), ("rho", rho), ("theta_star", theta_star)):
            _check_finite(field, arr)
        if np.any(rho < 0.0):
            i = int(np.argmax(rho < 0.0))
            raise ValueError(f"rho[{i}] = {float(rho[i])!r} is negative")
        total = float(rho.sum())
        if abs(total - 1.0) > PROBABILITY_ATOL:
            raise ValueError(
                f"rho sums to {total!r}, not 1 (tolerance {PROBABILITY_ATOL:g});"
                " it is not renormalised"
            )
        L = _positive_finite("L", self.L)
        B = _positive_finite("B", self.B)
        norms = np.linalg.norm(phi, axis=2)
        x, a = np.unravel_index(int(np.argmax(norms)), norms.shape)
        if norms[x, a] > L * (1.0 + NORM_RTOL):
            raise ValueError(
                f"||phi[x={x}, a={a}]||_2 = {float(norms[x, a])!r} exceeds L = {L!r}"
                f" ({int(np.sum(norms > L * (1.0 + NORM_RTOL)))} feature vectors exceed L)"
            )
        theta_norm = float(np.linalg.norm(theta_star))
        if theta_norm > B * (1.0 + NORM_RTOL):
            raise ValueError(f"||theta_star||_2 = {theta_norm!r} exceeds B = {B!r}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a str, got {self.name!r}")
        link_code_of(self.link)
        for arr in (phi, rho, theta_star):
            arr.setflags(write=False)
        object.__setattr__(self, "phi", phi)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "theta_star", theta_star)
        object.__setattr__(self, "L", L)
        object.__setattr__(self, "B", B)

    def __reduce__(self):
        # Rebuild through the constructor so that a copy sent to a worker process is
        # validated and read-only again.
        fields = (self.phi, self.rho, self.theta_star, self.L, self.B, self.name, self.link)
        return (type(self), fields)

    # ------------------------------------------------------------------ sizes

    @property
    def n_x(self) -> int:
        """Number of contexts."""
        return int(self.phi.shape[0])

    @property
    def K(self) -> int:
        """Number of arms per context."""
        return int(self.phi.shape[1])

    @property
    def d(self) -> int:
        """Feature dimension."""
        return int(self.phi.shape[2])

    @property
    def link_code(self) -> int:
        """The link as the integer code the compiled kernels take (see feedback.LINK_CODES)."""
        return LINK_CODES[self.link]

    # ---------------------------------------------------------------- rewards

    def rewards(self) -> np.ndarray:
        """r(x, a) = phi(x, a)' theta*, shape (n_x, K)."""
        return self.phi @ self.theta_star

    def optimal_arms(self) -> np.ndarray:
        """pi*(x) = argmax_a r(x, a), shape (n_x,) int64; ties go to the lowest arm index."""
        return np.argmax(self.rewards(), axis=1).astype(np.int64)

    def reward_gaps(self) -> np.ndarray:
        """max over a, a' of |r(x, a) - r(x, a')| = max_a r(x, a) - min_a r(x, a), shape (n_x,)."""
        r = self.rewards()
        return r.max(axis=1) - r.min(axis=1)

    # --------------------------------------------------------------- policies

    def _policy(self, policy: np.ndarray) -> tuple[bool, np.ndarray]:
        """(True, arms) for a deterministic policy, (False, probabilities) for a stochastic one."""
        pi = np.asarray(policy)
        if pi.ndim == 1:
            if pi.shape[0] != self.n_x:
                raise ValueError(
                    f"deterministic policy has length {pi.shape[0]}, expected n_x = {self.n_x}"
                )
            if pi.dtype == np.bool_ or not np.issubdtype(pi.dtype, np.integer):
                raise ValueError(
                    f"deterministic policy must be an integer array of arms, got dtype {pi.dtype}"
                )
            bad = np.flatnonzero((pi < 0) | (pi >= self.K))
            if bad.size:
                x = int(bad[0])
                raise ValueError(f"policy[{x}] = {pi[x]} is not an arm in 0..{self.K - 1}")
            return True, pi.astype(np.int64)
        if pi.ndim == 2:
            if pi.shape != (self.n_x, self.K):
                raise ValueError(
                    f"stochastic policy has shape {pi.shape}, expected (n_x, K) = "
                    f"{(self.n_x, self.K)}"
                )
            probs = np.asarray(pi, dtype=np.float64)
            _check_finite("policy", probs)
            if np.any(probs < 0.0):
                x, a = np.argwhere(probs < 0.0)[0]
                raise ValueError(f"policy[{x}, {a}] = {float(probs[x, a])!r} is negative")
            row_sums = probs.sum(axis=1)
            off = np.abs(row_sums - 1.0)
            x = int(np.argmax(off))
            if off[x] > PROBABILITY_ATOL:
                raise ValueError(
                    f"policy row {x} sums to {float(row_sums[x])!r}, not 1 (tolerance "
                    f"{PROBABILITY_ATOL:g})"
                )
            return False, probs
        raise ValueError(
            f"policy must be (n_x,) arms or (n_x, K) probabilities, got shape {pi.shape}"
        )

    def _per_context(self, policy: np.ndarray, table: np.ndarray) -> np.ndarray:
        """E_{a ~ pi(x)} table[x, a, ...] for every context x."""
        deterministic, pi = self._policy(policy)
        if deterministic:
            return table[np.arange(self.n_x), pi]
        return np.einsum("xa,xa...->x...", pi, table)

    def value(self, policy: np.ndarray) -> float:
        """J(pi) = sum_x rho_x sum_a pi(a | x) r(x, a) = m(pi)' theta*."""
        return float(self.rho @ self._per_context(policy, self.rewards()))

    def mean_feature(self, policy: np.ndarray) -> np.ndarray:
        """m(pi) = E_{x ~ rho} E_{a ~ pi(x)} phi(x, a), shape (d,)."""
        return self.rho @ self._per_context(policy, self.phi)

    def suboptimality(self, policy: np.ndarray) -> float:
        """SubOpt(pi) = J(pi*) - J(pi) = sum_x rho_x sum_a pi(a | x) [r(x, pi*(x)) - r(x, a)].

        Computed from the per-context gaps max_a' r(x, a') - r(x, a), each >= 0 in floating
        point, rather than as a difference of two values: the result is >= 0 by construction
        (no clipping), exactly 0 for any policy supported on optimal arms, and free of the
        cancellation that J(pi*) - J(pi) suffers when the suboptimality is small against J.
        """
        r = self.rewards()
        gaps = r.max(axis=1, keepdims=True) - r
        return float(self.rho @ self._per_context(policy, gaps))

    # ------------------------------------------------------------------ kappa

    @cached_property
    def _max_pair_norm(self) -> float:
        sq = _max_pair_sq_norm(self.phi)
        if sq < _SQ_UNDERFLOW:
            # Squares of differences below ~1e-154 underflow: recompute on rescaled features.
            scale = float(np.abs(self.phi).max())
            if scale == 0.0:
                return 0.0
            return math.sqrt(_max_pair_sq_norm(self.phi / scale)) * scale
        return math.sqrt(sq)

    def max_pair_norm(self) -> float:
        """max over x and a != a' of ||phi(x, a) - phi(x, a')||_2 (<= 2L)."""
        return self._max_pair_norm

    def kappa_global(self) -> float:
        """kappa = max over x, a != a', ||theta||_2 <= B of 1 / sigma'(z' theta) (paper, Def. 2).

        With z = phi(x, a) - phi(x, a'), max over ||theta|| <= B of |z' theta| is B ||z||, and
        1/sigma'(w) = 2 + e^w + e^{-w} increases in |w|, so

            kappa = 1 / sigma'(B max_{x, a != a'} ||z||) = 2 + 2 cosh(B max ||z||),

        which lies in [4, 2 + 2 cosh(2BL)] within [4, 3 + e^{2BL}].
        """
        return float(inv_dsigmoid(self.B * self._max_pair_norm))

    def kappa_instance(self, theta: np.ndarray | None = None) -> float:
        """max over x, a != a' of 1 / sigma'(z' theta) at theta (theta* by default).

        Equals 1/sigma'(max_x [max_a phi(x, a)' theta - min_a phi(x, a)' theta]); at theta*
        it is at most kappa_global.
        """
        if theta is None:
            margins = self.reward_gaps()
        else:
            t = _float_array("theta", theta, 1, "(d,)")
            if t.shape[0] != self.d:
                raise ValueError(f"theta has length {t.shape[0]}, expected d = {self.d}")
            _check_finite("theta", t)
            r = self.phi @ t
            margins = r.max(axis=1) - r.min(axis=1)
        return float(inv_dsigmoid(float(margins.max())))
