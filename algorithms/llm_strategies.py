"""The pair strategies of LLM practice (the paper's Sec. 6.2) as deployment-stage bandit rules.

In each round, n candidate responses (arms) are drawn i.i.d. from the current policy, ranked
by the learned reward phi(x, a)' theta_t, and two of them are shown:

    best-worst    the first and the last of the ranking
    best-second   the first, and the best-ranked candidate whose arm differs from the first's
                  (the first twice when all n candidates are the same arm)
    quantile      the first, and the candidate at rank ceil(n / q) (1-based): the top-1/q
                  quantile of the candidates; needs 1 < q <= n
    random        two of the n candidates uniformly at random, that is the first two draws
                  (the draws are i.i.d., so these are two independent draws from the policy)

The current policy is the softmax of the learned reward with temperature tau,
pi_t(a | x) proportional to exp(phi(x, a)' theta_t / tau), or the uniform distribution. The
ranking is by learned reward, highest first, ties between different arms broken by the lower
arm index. The reward model behind theta_t (one-pass OMD or the MLE refit every round) and the
loop are in `algorithms.deployment_loop`. Candidate draws come from pre-drawn uniforms of the
run's "algorithm" stream, never from the label or context uniforms.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

STRATEGIES: dict[str, int] = {"best-worst": 0, "best-second": 1, "quantile": 2, "random": 3}
"""Integer code of each strategy, as the compiled loop takes it."""

CANDIDATE_POLICIES: dict[str, int] = {"softmax": 0, "uniform": 1}
"""Integer code of each candidate-sampling policy."""


@njit(cache=True)
def draw_candidates(scores: np.ndarray, u: np.ndarray, tau: float, policy: int,
                    cdf: np.ndarray, out: np.ndarray) -> None:
    """out[k] = candidate k, drawn by inverse CDF from u[k] ~ U[0, 1).

    policy 0: softmax, P(a) = exp((scores[a] - max scores) / tau) / sum_b exp(...); policy 1:
    uniform, a = floor(K u). cdf (K,) is a work buffer.
    """
    K = scores.shape[0]
    n = u.shape[0]
    if policy == 1:
        for k in range(n):
            out[k] = min(int(u[k] * K), K - 1)
        return
    top = scores.max()
    total = 0.0
    for a in range(K):
        total += math.exp((scores[a] - top) / tau)
        cdf[a] = total
    for k in range(n):
        target = u[k] * total
        a = 0
        while a < K - 1 and cdf[a] <= target:
            a += 1
        out[k] = a


@njit(cache=True)
def rank_candidates(cands: np.ndarray, scores: np.ndarray, out: np.ndarray) -> None:
    """out = the candidates sorted by learned reward scores[arm], highest first, ties between
    different arms by the lower arm index (insertion sort: n is small)."""
    n = cands.shape[0]
    for k in range(n):
        out[k] = cands[k]
    for k in range(1, n):
        c = out[k]
        sc = scores[c]
        i = k - 1
        while i >= 0 and (scores[out[i]] < sc or (scores[out[i]] == sc and out[i] > c)):
            out[i + 1] = out[i]
            i -= 1
        out[i + 1] = c


@njit(cache=True)
def strategy_pair(strategy: int, cands: np.ndarray, ranked: np.ndarray,
                  quantile_rank: int) -> tuple[int, int]:
    """The two arms shown by a strategy (codes in STRATEGIES), from the candidates in draw
    order and in ranked order; quantile_rank is ceil(n / q), 1-based."""
    n = ranked.shape[0]
    best = ranked[0]
    if strategy == 0:
        return best, ranked[n - 1]
    if strategy == 1:
        for k in range(1, n):
            if ranked[k] != best:
                return best, ranked[k]
        return best, best
    if strategy == 2:
        return best, ranked[quantile_rank - 1]
    return cands[0], cands[1]


def _strategy_code(strategy: str) -> int:
    try:
        return STRATEGIES[strategy]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {strategy!r}; known strategies: "
                         f"{', '.join(STRATEGIES)}") from None


@dataclass(frozen=True)
class CandidateStrategy:
    """A validated LLM-practice strategy: which pair to show from n candidates of a policy."""

    strategy: str
    """One of STRATEGIES: "best-worst", "best-second", "quantile", "random"."""
    n: int = 16
    """Candidates drawn per round (>= 2)."""
    q: float | None = None
    """Quantile parameter of the "quantile" strategy, 1 < q <= n (default 4); None otherwise."""
    tau: float = 1.0
    """Temperature of the softmax policy (> 0)."""
    policy: str = "softmax"
    """Candidate policy: "softmax" of the learned reward, or "uniform"."""

    def __post_init__(self) -> None:
        _strategy_code(self.strategy)
        if isinstance(self.n, bool) or not isinstance(self.n, numbers.Integral) or self.n < 2:
            raise ValueError(f"n (candidates per round) must be an int >= 2, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        if self.strategy == "quantile":
            q = 4.0 if self.q is None else self.q
            if isinstance(q, bool) or not isinstance(q, numbers.Real) or not math.isfinite(q):
                raise ValueError(f"q must be a finite number with 1 < q <= n, got {q!r}")
            if not 1.0 < q <= self.n:
                raise ValueError(f"q must satisfy 1 < q <= n = {self.n}, got q = {q!r}")
            object.__setattr__(self, "q", float(q))
        elif self.q is not None:
            raise ValueError(f"q applies only to the quantile strategy, not {self.strategy!r}")
        tau = self.tau
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not (
                math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau (softmax temperature) must be finite and > 0, got {tau!r}")
        object.__setattr__(self, "tau", float(tau))
        if self.policy not in CANDIDATE_POLICIES:
            raise ValueError(f"unknown candidate policy {self.policy!r}; known: "
                             f"{', '.join(CANDIDATE_POLICIES)}")

    @property
    def code(self) -> int:
        """The strategy's integer code."""
        return STRATEGIES[self.strategy]

    @property
    def policy_code(self) -> int:
        """The candidate policy's integer code."""
        return CANDIDATE_POLICIES[self.policy]

    @property
    def quantile_rank(self) -> int:
        """ceil(n / q): the 1-based rank of the quantile strategy's second arm (1 otherwise)."""
        if self.q is None:
            return 1
        return max(1, min(self.n, math.ceil(self.n / self.q)))
