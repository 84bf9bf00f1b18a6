"""Behaviour policies of passive data collection (ALGORITHMS.md 3.1): who picks (x, a, a').

In the passive training stage the queries come from a behaviour policy, not from the learner.
Every policy here turns pre-drawn uniforms (`CommonRandomNumbers`: context_u, arm_u) into
queries, and the labels come from label_u through the Bradley-Terry oracle, so two learners
fed by the same behaviour see the same data.

- "uniform": x ~ rho and an ordered pair of distinct arms, uniform (`sim.queries.uniform_pairs`).
- "skewed" (poor coverage): with probability 1 - eps the pair is uniform among the
  non-optimal arms of x, with probability eps uniform among all arms. Pairs involving an
  optimal arm are then rare. The policy is told the optimal arms: this is legitimate for the
  data-collection policy (the environment's choice); the learner never sees them.
- logged data (`LoggedData`): user-supplied arrays (x, a, a', y), validated against the
  environment.

`behaviour_marginal` gives the behaviour's arm marginal mu(a | x) (both positions of the pair
averaged), which defines the reference vector v = E_{x ~ rho} E_{a ~ mu(x)} phi(x, a) of the
pessimistic objective.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from .core.seeding import CommonRandomNumbers
from .core.validation import as_real_array, check_cdf, check_uniforms
from .environment import PreferenceEnv
from .feedback import bt_labels, context_cdf, draw_contexts_kernel
from .queries import uniform_pairs

BEHAVIOURS: tuple[str, ...] = ("uniform", "skewed")
"""Names of the simulated behaviour policies (logged data is passed as a `LoggedData`)."""

DEFAULT_SKEW_EPS = 0.05
"""Default probability with which the skewed behaviour draws a pair among all arms."""

OPTIMAL_RTOL = 1e-12
"""Arms within this relative tolerance of the best reward of their context count as optimal."""


def optimal_arm_mask(env: PreferenceEnv) -> np.ndarray:
    """(n_x, K) bool: arm a is optimal in context x (r(x, a) within OPTIMAL_RTOL of the best).

    Reads theta*: for the environment's behaviour policy and for metrics only.
    """
    r = env.rewards()
    best = r.max(axis=1, keepdims=True)
    scale = np.maximum(np.abs(r).max(axis=1, keepdims=True), 1e-300)
    return r >= best - OPTIMAL_RTOL * scale


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0.0 <= float(eps) <= 1.0:
        raise ValueError(f"skew eps must be a probability in [0, 1], got {eps!r}")
    return float(eps)


@njit(cache=True)
def skewed_pairs_kernel(cdf: np.ndarray, avoid: np.ndarray, eps: float, context_u: np.ndarray,
                        arm_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`skewed_pairs` without checks, for compiled callers."""
    n = context_u.shape[0]
    n_x, K = avoid.shape
    keep = np.empty((n_x, K), dtype=np.int64)
    n_keep = np.zeros(n_x, dtype=np.int64)
    for x in range(n_x):
        for a in range(K):
            if not avoid[x, a]:
                keep[x, n_keep[x]] = a
                n_keep[x] += 1
    x_out = draw_contexts_kernel(cdf, context_u)
    a_out = np.empty(n, dtype=np.int64)
    b_out = np.empty(n, dtype=np.int64)
    for t in range(n):
        x = x_out[t]
        u0 = arm_u[t, 0]
        if n_keep[x] < 2:
            u = u0
            m = K
        elif u0 < eps:
            u = u0 / eps
            m = K
        else:
            u = (u0 - eps) / (1.0 - eps)
            m = n_keep[x]
        i = min(int(u * m), m - 1)
        j = min(int(arm_u[t, 1] * (m - 1)), m - 2)
        if j >= i:
            j += 1
        if m == K:
            a_out[t] = i
            b_out[t] = j
        else:
            a_out[t] = keep[x, i]
            b_out[t] = keep[x, j]
    return x_out, a_out, b_out


def skewed_pairs(cdf: np.ndarray, avoid: np.ndarray, eps: float, context_u: np.ndarray,
                 arm_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs that rarely involve the arms flagged in avoid (n_x, K), from uniforms.

    x = F^{-1}(context_u). With u_0 = arm_u[t, 0]: if u_0 < eps the ordered pair is uniform
    over all distinct arms, drawn from u_0 / eps and arm_u[t, 1]; otherwise it is uniform over
    the distinct arms not flagged, drawn from (u_0 - eps) / (1 - eps) and arm_u[t, 1]
    (rescaling keeps the uniforms uniform and independent of the branch). A context with fewer
    than two unflagged arms has no such pair: there the pair is uniform over all arms.
    """
    cdf = check_cdf(cdf)
    avoid = np.asarray(avoid)
    if avoid.ndim != 2 or avoid.shape[0] != cdf.shape[0] or avoid.shape[1] < 2:
        raise ValueError(f"avoid must be a (n_x, K) array with n_x = len(cdf) = {cdf.shape[0]} "
                         f"and K >= 2, got shape {avoid.shape}")
    if avoid.dtype != np.bool_:
        raise ValueError(f"avoid must be a boolean array, got dtype {avoid.dtype}")
    context_u = check_uniforms("context_u", context_u, (None,))
    arm_u = check_uniforms("arm_u", arm_u, (context_u.shape[0], 2))
    return skewed_pairs_kernel(cdf, np.ascontiguousarray(avoid), _check_eps(eps), context_u,
                               arm_u)


def behaviour_marginal(env: PreferenceEnv, behaviour: str | LoggedData,
                       eps: float = DEFAULT_SKEW_EPS) -> np.ndarray:
    """mu(a | x), shape (n_x, K): the probability that arm a appears in a behaviour pair at
    context x, the two positions averaged (each row sums to 1).

    uniform: 1 / K. skewed: eps / K + (1 - eps) 1[a not optimal] / (number of non-optimal
    arms), or 1 / K in a context with fewer than two non-optimal arms. Logged data: the
    empirical frequency of each arm among the logged pairs of context x (1 / K for a context
    that never appears).
    """
    n_x, K = env.n_x, env.K
    if isinstance(behaviour, LoggedData):
        behaviour.validate(env)
        counts = np.zeros((n_x, K))
        np.add.at(counts, (behaviour.x, behaviour.a), 1.0)
        np.add.at(counts, (behaviour.x, behaviour.a2), 1.0)
        totals = counts.sum(axis=1, keepdims=True)
        return np.where(totals > 0, counts / np.maximum(totals, 1.0), 1.0 / K)
    if behaviour == "uniform":
        return np.full((n_x, K), 1.0 / K)
    if behaviour == "skewed":
        eps = _check_eps(eps)
        keep = ~optimal_arm_mask(env)
        n_keep = keep.sum(axis=1, keepdims=True)
        skew = eps / K + (1.0 - eps) * keep / np.maximum(n_keep, 1)
        return np.where(n_keep >= 2, skew, 1.0 / K)
    raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)} "
                     "or a LoggedData")


def behaviour_reference(env: PreferenceEnv, marginal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(v, v_x): v_x = E_{a ~ mu(x)} phi(x, a) per context (n_x, d) and
    v = E_{x ~ rho} v_x (d,), for the arm marginal mu (n_x, K)."""
    mu = as_real_array("marginal", marginal)
    if mu.shape != (env.n_x, env.K):
        raise ValueError(f"marginal must have shape (n_x, K) = {(env.n_x, env.K)}, got {mu.shape}")
    v_x = np.einsum("xa,xad->xd", mu, env.phi)
    return env.rho @ v_x, v_x


@dataclass(frozen=True, eq=False)
class LoggedData:
    """User-supplied passive data: queries (x, a, a') and labels y (1: a preferred).

    Arrays are copied to int64 and made read-only; `validate(env)` checks them against an
    environment and raises ValueError("mismatched logged data: ...") naming the problem.
    """

    x: np.ndarray
    a: np.ndarray
    a2: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        arrays = {}
        for field in ("x", "a", "a2", "y"):
            raw = np.asarray(getattr(self, field))
            if raw.ndim != 1:
                raise ValueError(f"mismatched logged data: {field} must be 1-d, got shape "
                                 f"{raw.shape}")
            if raw.size and not (np.issubdtype(raw.dtype, np.integer)
                                 or np.issubdtype(raw.dtype, np.bool_)):
                if not np.issubdtype(raw.dtype, np.floating) or not np.all(raw == np.round(raw)):
                    raise ValueError(f"mismatched logged data: {field} must hold integers, "
                                     f"got dtype {raw.dtype}")
            arr = raw.astype(np.int64)
            arr.setflags(write=False)
            arrays[field] = arr
        lengths = {f: arr.shape[0] for f, arr in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"mismatched logged data: lengths differ ({lengths})")
        for field, arr in arrays.items():
            object.__setattr__(self, field, arr)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def validate(self, env: PreferenceEnv) -> None:
        """Ranges x in [0, n_x), arms in [0, K), a != a', y in {0, 1}."""
        checks = (("x", self.x, env.n_x, "a context"), ("a", self.a, env.K, "an arm"),
                  ("a2", self.a2, env.K, "an arm"))
        for field, arr, n, what in checks:
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"mismatched logged data: {field}[{i}] = {arr[i]} is not "
                                 f"{what} in 0..{n - 1} ({bad.size} entries out of range)")
        same = np.flatnonzero(self.a == self.a2)
        if same.size:
            i = int(same[0])
            raise ValueError(f"mismatched logged data: a[{i}] = a2[{i}] = {self.a[i]}; a query "
                             f"needs two distinct arms ({same.size} such entries)")
        bad = np.flatnonzero((self.y != 0) & (self.y != 1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"mismatched logged data: y[{i}] = {self.y[i]} is not a label in "
                             "{0, 1}")


def behaviour_queries(env: PreferenceEnv, behaviour: str | LoggedData, crn: CommonRandomNumbers,
                      eps: float = DEFAULT_SKEW_EPS
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, a, a', y) for the T = crn.T rounds of a passive run, all int64.

    Queries from crn.context_u and crn.arm_u by the named behaviour, labels from crn.label_u
    through the oracle (`sim.feedback.bt_labels`). Logged data supplies its first T samples.
    """
    if not isinstance(crn, CommonRandomNumbers):
        raise ValueError(f"crn must be a CommonRandomNumbers, got {type(crn).__name__}")
    T = crn.T
    if isinstance(behaviour, LoggedData):
        behaviour.validate(env)
        if len(behaviour) < T:
            raise ValueError(f"mismatched logged data: T = {T} rounds requested but only "
                             f"{len(behaviour)} samples are logged")
        return (behaviour.x[:T].copy(), behaviour.a[:T].copy(), behaviour.a2[:T].copy(),
                behaviour.y[:T].copy())
    cdf = context_cdf(env.rho)
    if behaviour == "uniform":
        x, a, a2 = uniform_pairs(cdf, env.K, crn.context_u, crn.arm_u)
    elif behaviour == "skewed":
        x, a, a2 = skewed_pairs(cdf, optimal_arm_mask(env), _check_eps(eps), crn.context_u,
                                crn.arm_u)
    else:
        raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)} "
                         "or a LoggedData")
    y = bt_labels(env.phi, env.theta_star, x, a, a2, crn.label_u, env.link_code)
    return x, a, a2, y
