"""K-wise (Plackett-Luce) feedback: m-wise queries, rankings from pre-drawn uniforms, and the
m-wise kappa (ALGORITHMS.md section 7).

A query is a context x and m >= 2 distinct arms S = (s_0, ..., s_{m-1}) of x, in the order in
which they are shown; utilities r_k = phi(x, s_k)' theta*. The feedback is a ranking: place 0
(best) to place m - 1, drawn from Plackett-Luce,

    P(ranking) = prod_{j=0}^{m-2} exp(r_{rank_j}) / sum_{k >= j} exp(r_{rank_k}),

stage by stage from the uniforms u_0, ..., u_{m-2}: at stage j the item is the inverse-CDF
draw of u_j from the softmax over the items still unranked (in their order of presentation).
When two items a (shown first) and b remain, the stage is exactly the Bradley-Terry label
`sim.feedback.bt_label(w, u_j, 0)` with w = r_a - r_b (a placed first iff u_j < sigma(w));
with m = 2 the ranking of (a, b) is therefore y = 1 (a first) or y = 0 bit for bit the label
of the pairwise oracle on the same uniform. In the environment form (`pl_rankings`) the
margin w of that last stage is computed from the feature difference,
(phi(x, a) - phi(x, b))' theta*, as `sim.feedback.bt_labels` does.

Top-1 feedback (the multinomial-logit choice) keeps stage 0 only: the chosen item takes
place 0, the other items follow in their order of presentation (estimators are told to use
one stage). Rankings are stored as positions into S: rank[t, j] is the index in S of the
item at place j.

Common random numbers. `RankingRandomNumbers.draw(seed, T, m)` takes the context uniforms,
the first two arm uniforms and the first label uniform of every round from the pairwise
streams (`sim.core.seeding.CommonRandomNumbers.draw(seed, T)`), and the extra m - 2 arm and
label uniforms from two further streams appended after them; with m = 2 it is exactly the
pairwise draw, and the query generator `uniform_subsets` with m = 2 is `sim.queries.uniform_pairs`.

kappa for m-wise queries (our definition). The Hessian of one stage is the covariance of the
features under the stage's softmax p, Cov_p(phi) = (1/2) sum_{i, j} p_i p_j (phi_i - phi_j)
(phi_i - phi_j)', so every pair difference of the query enters with weight p_i p_j and
min_{i != j in S} p_i p_j plays the role of sigma'(z' theta) (later stages are softmaxes over
subsets, whose weights are larger). Hence

    kappa_m = max over x, |S| = m, ||theta|| <= B, i != j in S of 1 / (p_i p_j),
    p = softmax over S of phi(x, s)' theta,

and at m = 2, p_1 p_2 = sigma(w) sigma(-w) = sigma'(w): kappa_2 is the pairwise kappa of
Definition 2. For a fixed theta it is computed exactly (`kappa_mwise_instance`): for a pair
(i, j), 1 / (p_i p_j) = (sum_{k in S} e^{r_k})^2 / e^{r_i + r_j} grows with every item added,
so the worst S holds i, j and the m - 2 other arms of largest utility. Over the ball
(`kappa_mwise_global`) the m = 2 value is the closed form of `PreferenceEnv.kappa_global`;
for m > 2 the maximisation of a convex function over a ball is done numerically (a lower
bound: the best of many directions on the sphere, refined by ascent) and labelled so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .core.seeding import CRN_STREAMS, CommonRandomNumbers, SeedLike, spawn_streams
from .feedback import bt_label, draw_contexts_kernel

RANKING_STREAMS: tuple[str, ...] = ("ranking_arms", "ranking_labels")
"""Streams of the extra uniforms of m-wise queries, spawned after `CRN_STREAMS`."""


def _check_m(m: object, K: int | None = None) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or int(m) < 2:
        raise ValueError(f"m must be an integer >= 2, got {m!r}")
    if K is not None and int(m) > K:
        raise ValueError(f"m = {m} exceeds the number of arms K = {K}")
    return int(m)


def implied_pairs(m: int, top1: bool = False) -> int:
    """Number of pairwise comparisons one ranking of m items implies: m (m - 1) / 2 for a full
    ranking, m - 1 for a top-1 choice (the chosen item beats each other item)."""
    m = _check_m(m)
    return m - 1 if top1 else m * (m - 1) // 2


@dataclass(frozen=True, eq=False)
class RankingRandomNumbers:
    """The uniforms of one repetition of an m-wise experiment (module docstring).

    context_u (T,), arm_u (T, m) for the arms of the query, label_u (T, m - 1) for the stages
    of the ranking; read-only, in [0, 1).
    """

    context_u: np.ndarray
    arm_u: np.ndarray
    label_u: np.ndarray

    def __post_init__(self) -> None:
        for name in ("context_u", "arm_u", "label_u"):
            arr = np.array(getattr(self, name), dtype=np.float64, order="C", copy=True)
            if arr.size and not (np.all(arr >= 0.0) and np.all(arr < 1.0)):
                raise ValueError(f"{name} must lie in [0, 1)")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        T = self.context_u.shape[0]
        if self.context_u.ndim != 1:
            raise ValueError(f"context_u must be 1-d, got shape {self.context_u.shape}")
        if self.arm_u.ndim != 2 or self.arm_u.shape[0] != T or self.arm_u.shape[1] < 2:
            raise ValueError(f"arm_u must have shape (T, m) with m >= 2, got {self.arm_u.shape}")
        if self.label_u.shape != (T, self.arm_u.shape[1] - 1):
            raise ValueError(f"label_u must have shape (T, m - 1) = {(T, self.arm_u.shape[1] - 1)}"
                             f", got {self.label_u.shape}")

    @property
    def T(self) -> int:
        return int(self.context_u.shape[0])

    @property
    def m(self) -> int:
        return int(self.arm_u.shape[1])

    @classmethod
    def draw(cls, seed: SeedLike, T: int, m: int) -> RankingRandomNumbers:
        """Uniforms for T rounds of m-wise queries; the pairwise part is
        `CommonRandomNumbers.draw(seed, T)` (module docstring)."""
        m = _check_m(m)
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 0:
            raise ValueError(f"T must be a non-negative int, got {T!r}")
        T = int(T)
        streams = spawn_streams(seed, CRN_STREAMS + RANKING_STREAMS)
        context_u = streams["contexts"].random(T)
        label_u = np.empty((T, m - 1))
        label_u[:, 0] = streams["labels"].random(T)
        arm_u = np.empty((T, m))
        arm_u[:, :2] = streams["arms"].random((T, 2))
        if m > 2:
            arm_u[:, 2:] = streams["ranking_arms"].random((T, m - 2))
            label_u[:, 1:] = streams["ranking_labels"].random((T, m - 2))
        return cls(context_u, arm_u, label_u)

    def pairwise(self) -> CommonRandomNumbers:
        """The pairwise part: the uniforms `CommonRandomNumbers.draw(seed, T)` would give."""
        return CommonRandomNumbers(self.context_u, self.label_u[:, 0], self.arm_u[:, :2])


# ------------------------------------------------------------------ queries


@njit(cache=True)
def subset_from_uniforms(K: int, u: np.ndarray, out: np.ndarray) -> None:
    """m distinct arms drawn uniformly without replacement from u (m,): pick i takes the
    floor((K - i) u_i)-th arm (in increasing order) among those not yet taken. With m = 2 the
    arms are those of `sim.queries.uniform_pairs`."""
    m = u.shape[0]
    taken = np.empty(m, dtype=np.int64)  # sorted copy of the arms drawn so far
    for i in range(m):
        arm = min(int(u[i] * (K - i)), K - i - 1)
        for k in range(i):
            if arm >= taken[k]:
                arm += 1
        out[i] = arm
        k = i
        while k > 0 and taken[k - 1] > arm:
            taken[k] = taken[k - 1]
            k -= 1
        taken[k] = arm


@njit(cache=True)
def uniform_subsets(cdf: np.ndarray, K: int, context_u: np.ndarray, arm_u: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random m-wise queries: x = F^{-1}(context_u), S uniform over ordered m-tuples of
    distinct arms (`subset_from_uniforms`). arm_u is (n, m); returns int64 (x (n,), S (n, m))."""
    n, m = arm_u.shape
    if m > K:
        raise ValueError("uniform_subsets: m exceeds the number of arms")
    x = draw_contexts_kernel(cdf, context_u)
    S = np.empty((n, m), dtype=np.int64)
    for t in range(n):
        subset_from_uniforms(K, arm_u[t], S[t])
    return x, S


@njit(cache=True)
def subset_features(phi: np.ndarray, x: np.ndarray, S: np.ndarray) -> np.ndarray:
    """F[t, k] = phi(x_t, S[t, k]), shape (n, m, d)."""
    n, m = S.shape
    d = phi.shape[2]
    F = np.empty((n, m, d))
    for t in range(n):
        for k in range(m):
            F[t, k, :] = phi[x[t], S[t, k]]
    return F


# ------------------------------------------------------------------ Plackett-Luce draws


@njit(cache=True)
def pl_rank(r: np.ndarray, u: np.ndarray, n_stages: int, Fq: np.ndarray, theta: np.ndarray,
            out: np.ndarray) -> None:
    """A Plackett-Luce ranking of m items of utilities r (m,) from uniforms u (>= n_stages,),
    written to out (m,) as positions (module docstring). n_stages = m - 1: a full ranking;
    1: the top-1 choice (the others follow in presentation order).

    The stage with two items a, b left is `bt_label(w, u_j, 0)`, w = r_a - r_b, or, when
    Fq (m, d) holds the items' features, w = (Fq[a] - Fq[b])' theta (the form of
    `sim.feedback.bt_labels`). Other stages: inverse CDF of the softmax of the remaining
    utilities (largest utility subtracted; the last remaining item when rounding leaves u
    above the cumulative sum).
    """
    m = r.shape[0]
    rem = np.empty(m, dtype=np.int64)
    for k in range(m):
        rem[k] = k
    n_rem = m
    d = Fq.shape[1]
    use_features = Fq.shape[0] > 0
    for j in range(n_stages):
        if n_rem == 2:
            a = rem[0]
            b = rem[1]
            if use_features:
                w = 0.0
                for i in range(d):
                    w += (Fq[a, i] - Fq[b, i]) * theta[i]
            else:
                w = r[a] - r[b]
            pick = 0 if bt_label(w, u[j], 0) == 1 else 1
        else:
            c = -math.inf
            for k in range(n_rem):
                c = max(c, r[rem[k]])
            total = 0.0
            for k in range(n_rem):
                total += math.exp(r[rem[k]] - c)
            target = u[j] * total
            acc = 0.0
            pick = n_rem - 1
            for k in range(n_rem - 1):
                acc += math.exp(r[rem[k]] - c)
                if target < acc:
                    pick = k
                    break
        out[j] = rem[pick]
        for k in range(pick, n_rem - 1):
            rem[k] = rem[k + 1]
        n_rem -= 1
    for k in range(n_rem):
        out[n_stages + k] = rem[k]


@njit(cache=True)
def pl_rankings(phi: np.ndarray, theta_star: np.ndarray, x: np.ndarray, S: np.ndarray,
                label_u: np.ndarray, top1: bool) -> np.ndarray:
    """Plackett-Luce rankings (n, m) of the queries (x_t, S_t) on theta*, from label_u (n, m-1):
    rank[t, j] = index in S_t of the item at place j (`pl_rank`, environment form). With m = 2,
    rank[t, 0] == 0 exactly when `sim.feedback.bt_labels` gives y_t = 1."""
    n, m = S.shape
    n_x, K, d = phi.shape
    if x.shape[0] != n or label_u.shape[0] != n or label_u.shape[1] < m - 1:
        raise ValueError("pl_rankings: x, S and label_u must agree (label_u (n, m - 1))")
    if theta_star.shape[0] != d:
        raise ValueError("pl_rankings: theta_star length differs from the feature dimension")
    out = np.empty((n, m), dtype=np.int64)
    Fq = np.empty((m, d))
    r = np.empty(m)
    stages = 1 if top1 else m - 1
    for t in range(n):
        xt = x[t]
        if xt < 0 or xt >= n_x:
            raise IndexError("pl_rankings: context index out of range")
        for k in range(m):
            a = S[t, k]
            if a < 0 or a >= K:
                raise IndexError("pl_rankings: arm index out of range")
            s = 0.0
            for i in range(d):
                Fq[k, i] = phi[xt, a, i]
                s += phi[xt, a, i] * theta_star[i]
            r[k] = s
        pl_rank(r, label_u[t], stages, Fq, theta_star, out[t])
    return out


def pl_probability(r: np.ndarray, ranking: np.ndarray, n_stages: int | None = None) -> float:
    """P(ranking) under Plackett-Luce with utilities r (numpy, for tests and checks):
    prod over the first n_stages places j of exp(r_{rank_j}) / sum_{k >= j} exp(r_{rank_k})."""
    r = np.asarray(r, dtype=np.float64)
    rk = np.asarray(ranking, dtype=np.int64)
    m = r.shape[0]
    stages = m - 1 if n_stages is None else int(n_stages)
    logp = 0.0
    for j in range(stages):
        rest = r[rk[j:]]
        c = rest.max()
        logp += r[rk[j]] - c - math.log(np.exp(rest - c).sum())
    return math.exp(logp)


def ranking_to_pairs(S: np.ndarray, rank: np.ndarray, top1: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise breaking: the pairs implied by each ranking, as (row, a, a') arrays with a the
    preferred arm (placed above a'). Full rankings give m (m - 1)/2 pairs per row, in place
    order (place 0 against 1..m-1, then place 1 against 2..m-1, ...); top-1 choices m - 1."""
    S = np.asarray(S, dtype=np.int64)
    rank = np.asarray(rank, dtype=np.int64)
    n, m = S.shape
    rows, a, b = [], [], []
    for i in range(1 if top1 else m - 1):
        for j in range(i + 1, m):
            rows.append(np.arange(n))
            a.append(S[np.arange(n), rank[:, i]])
            b.append(S[np.arange(n), rank[:, j]])
    order = np.argsort(np.concatenate(rows), kind="stable")
    return (np.concatenate(rows)[order], np.concatenate(a)[order], np.concatenate(b)[order])


# ------------------------------------------------------------------ kappa


@njit(cache=True)
def _log_kappa_context(r: np.ndarray, m: int) -> float:
    """max over |S| = m and i != j in S of log(1 / (p_i p_j)) for utilities r (K,) of one
    context: for each pair, the other m - 2 members are the arms of largest utility."""
    K = r.shape[0]
    order = np.argsort(-r)
    best = -math.inf
    for i in range(K - 1):
        for j in range(i + 1, K):
            c = max(r[i], r[j])
            tot = math.exp(r[i] - c) + math.exp(r[j] - c)
            got = 0
            for q in range(K):
                if got == m - 2:
                    break
                k = order[q]
                if k != i and k != j:
                    c2 = r[k]
                    if c2 > c:
                        tot = tot * math.exp(c - c2) + 1.0
                        c = c2
                    else:
                        tot += math.exp(c2 - c)
                    got += 1
            val = 2.0 * (c + math.log(tot)) - r[i] - r[j]
            if val > best:
                best = val
    return best


@njit(cache=True)
def log_kappa_mwise(phi: np.ndarray, theta: np.ndarray, m: int) -> float:
    """log kappa_m at theta: max over contexts of `_log_kappa_context` (module docstring)."""
    n_x = phi.shape[0]
    best = -math.inf
    for x in range(n_x):
        r = phi[x] @ theta
        best = max(best, _log_kappa_context(r, m))
    return best


def kappa_mwise_instance(phi: np.ndarray, theta: np.ndarray, m: int) -> float:
    """kappa_m at a fixed theta (exact; module docstring). With m = 2 it is
    `PreferenceEnv.kappa_instance(theta)` up to rounding. inf when it overflows."""
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    if phi.ndim != 3:
        raise ValueError(f"phi must have shape (n_x, K, d), got {phi.shape}")
    m = _check_m(m, phi.shape[1])
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    if theta.shape != (phi.shape[2],):
        raise ValueError(f"theta must have shape ({phi.shape[2]},), got {theta.shape}")
    v = log_kappa_mwise(phi, theta, m)
    return math.exp(v) if v < 709.0 else math.inf


def kappa_mwise_global(phi: np.ndarray, B: float, m: int, *, n_directions: int = 256,
                       seed: int = 0) -> tuple[float, bool]:
    """(kappa_m over the ball ||theta|| <= B, exact). m = 2: the closed form
    1/sigma'(B max ||z||) (exact = True). m > 2: the best value over B-scaled directions (every
    pair difference of every context, and n_directions seeded random ones), refined by
    projected ascent on the sphere; a lower bound of the maximum (exact = False)."""
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    m = _check_m(m, phi.shape[1])
    n_x, K, d = phi.shape
    diffs = (phi[:, :, None, :] - phi[:, None, :, :]).reshape(-1, d)
    norms = np.linalg.norm(diffs, axis=1)
    if m == 2:
        w = float(B * norms.max())
        return (2.0 + math.exp(w) + math.exp(-w)) if w <= 709.0 else math.inf, True
    keep = norms > 1e-12
    dirs = diffs[keep] / norms[keep, None]
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n_directions, d))
    dirs = np.vstack([dirs, g / np.linalg.norm(g, axis=1, keepdims=True)])
    vals = np.array([log_kappa_mwise(phi, B * u, m) for u in dirs])
    best_val = float(vals.max())
    for start in dirs[np.argsort(-vals)[:8]]:
        theta = B * start
        val = log_kappa_mwise(phi, theta, m)
        step = 0.1 * B
        for _ in range(60):
            grad = np.zeros(d)
            h = 1e-6 * B
            for i in range(d):
                e = np.zeros(d)
                e[i] = h
                grad[i] = (log_kappa_mwise(phi, theta + e, m)
                           - log_kappa_mwise(phi, theta - e, m)) / (2 * h)
            cand = theta + step * grad / max(float(np.linalg.norm(grad)), 1e-300)
            cand *= B / np.linalg.norm(cand)
            cv = log_kappa_mwise(phi, cand, m)
            if cv > val:
                theta, val = cand, cv
            else:
                step *= 0.5
                if step < 1e-9 * B:
                    break
        best_val = max(best_val, val)
    return (math.exp(best_val) if best_val < 709.0 else math.inf), False


__all__ = ["RANKING_STREAMS", "RankingRandomNumbers", "implied_pairs", "kappa_mwise_global",
           "kappa_mwise_instance", "log_kappa_mwise", "pl_probability", "pl_rank", "pl_rankings",
           "ranking_to_pairs", "subset_features", "subset_from_uniforms", "uniform_subsets"]
