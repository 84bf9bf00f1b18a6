"""The three stages with m-wise queries and Plackett-Luce ranking feedback (ALGORITHMS.md 7).

Every run draws its uniforms from `sim.rankings.RankingRandomNumbers.draw(seed, T, m)`; with
m = 2 they are the pairwise common random numbers, and each stage reproduces the pairwise
algorithm of the project on the same seed (tests/algorithms/test_kwise_stages.py).

Passive (`kwise_passive`). Uniform random m-wise queries (`sim.rankings.uniform_subsets`),
Plackett-Luce rankings, one pass of the estimator. Estimators: "omd" (one-pass PL OMD,
`algorithms.pl_omd`), "mle" (the regularised PL MLE, refit at the checkpoints), "breaking"
(pairwise breaking fitted by the Bradley-Terry MLE). Output "pessimistic": Algorithm 2's
policy, the exact maximiser of (m(pi) - v)' theta - beta ||m(pi) - v||_{Hcal^{-1}} over
stochastic policies (`algorithms.pessimism.pessimistic_policy`) with the PL confidence set
C_t = {||theta - theta_t||_{Hcal_t} <= beta_t} of the PL OMD (Hcal the sum of the ranking
Hessians at the new points); "greedy": argmax_a phi' theta (the only output of the MLE and
breaking baselines here, labelled). The radius beta_t of the passive and deployment stages is
a pairwise mode of `algorithms.confidence.Radius` (Lemma 1 counted in rankings, practical,
calibrated) or a Plackett-Luce one, `algorithms.pl_confidence.PLRadius` ("pl-theory": Lemma 1
with each ranking counted as its m - 1 MNL stage terms, t -> (m - 1) t, a reading documented
there; "pl-practical").

Active (`kwise_active`). Round t chooses the query (x, S), |S| = m, that maximises

    crit(S) = log det(I_d + c_m Hcal_t^{-1} P_S),
    P_S = sum_{i < j in S} (phi_i - phi_j)(phi_i - phi_j)',
    c_m = sum_{r=2}^{m} (r - 1) / (r m (m - 1)),

the information gain (D-optimal design criterion) of the expected Fisher information of one
PL ranking of S at the uninformative point theta = 0: there every ranking is equally likely,
the set left at stage j is a uniform random subset of size r = m - j + 1, and
E[Cov_unif(R)] = (r - 1) / (r m (m - 1)) P_S, so the expected information is c_m P_S. It
depends on S only, not on its order, needs no estimate of theta (so it is not fooled by an
early bad theta_t), and with m = 2 it is log(1 + ||z||^2_{Hcal^{-1}} / 4), monotone in the
criterion of Algorithm 3: with m = 2 the selection is Algorithm 3's pair, computed by its
kernel (`algorithms.active.pair_sq_norms`, ties to the lowest pool index). With
W = Phi_x Hcal^{-1} Phi_x' and the centring J = I - 11'/m, crit(S) = log det(I_m + c_m m
J W_S J), an m x m determinant. Subset construction: "greedy" (the best pair of the context,
then the arm of largest criterion added until |S| = m; the best context wins), "exhaustive"
(every m-subset of every context; small instances only) and "random" (uniform queries).
Output: greedy on theta_bar, the mean of theta_1..theta_{T+1}, as Algorithm 3.

Deployment (`kwise_deployment`). Context x_t ~ rho; first arm a_1 = argmax phi' theta_t; the
other slots are the m - 1 arms of largest optimistic index phi_a' theta_t + 2 beta_t
||phi_a - phi_{a_1}||_{Hcal_t^{-1}} over all arms (ties: lowest index). The first arm has
index phi_{a_1}' theta_t; when it is among the m - 1 it is not shown twice, and the query is
the distinct arms (with m = 2 exactly Algorithm 4, including a' = a, no feedback). m-wise
regret of a round: r(x, pi*(x)) minus the mean reward of the m slots (a slot filled by a_1
counts a_1), so with m = 2 it is Algorithm 4's (r(a) + r(a'))/2 form; the weak form (the best
arm shown) is recorded as well. "best-of-n" (the LLM practice): n candidates drawn uniformly
without replacement, ranked by the learned reward, the top m shown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from sim.core.checkpoints import log_checkpoints
from sim.core.seeding import spawn_streams
from sim.environment import PreferenceEnv
from sim.feedback import context_cdf, draw_contexts, draw_contexts_kernel
from sim.rankings import (
    RankingRandomNumbers,
    implied_pairs,
    pl_rank,
    pl_rankings,
    subset_features,
    subset_from_uniforms,
    uniform_subsets,
)

from . import active as act
from .confidence import Radius
from .constants import OMDConstants, practical_constants, theory_constants
from .deployment import learned_rewards, optimistic_second_arm, pair_width
from .pessimism import FW_TOL, greedy_policy, pessimistic_policy
from .pl_confidence import PLRadius, beta_kwise
from .pl_mle import breaking_mle_checkpoints, pl_mle_checkpoints
from .pl_omd import pl_omd_run, pl_omd_update, pl_workspace

PASSIVE_ESTIMATORS = ("omd", "mle", "breaking")
CONSTRUCTIONS = {"greedy": 0, "exhaustive": 1, "random": 2}
DEPLOY_RULES = {"optimistic": 0, "best-of-n": 1}
FW_MAX_ITER = 20_000


@dataclass
class KwiseResult:
    """A run: records (one row per checkpoint), final estimate and what produced it."""

    records: pd.DataFrame
    theta: np.ndarray
    Hinv: np.ndarray | None
    policy: np.ndarray | None
    queries: tuple
    config: dict


def _constants(kind, d: int, L: float, B: float) -> OMDConstants:
    if isinstance(kind, OMDConstants):
        return kind
    if kind == "practical":
        return practical_constants(d, L, B)
    if kind == "theory":
        return theory_constants(d, L, B)
    raise ValueError(f"constants must be 'practical', 'theory' or an OMDConstants, got {kind!r}")


def _check_args(env: PreferenceEnv, T: int, m: int) -> tuple[int, int]:
    if not isinstance(env, PreferenceEnv):
        raise ValueError(f"env must be a PreferenceEnv, got {type(env).__name__}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 2 <= m <= env.K:
        raise ValueError(f"m must be an int in [2, K = {env.K}], got {m!r}")
    return int(T), int(m)


def _checkpoints(T: int, checkpoints) -> np.ndarray:
    if isinstance(checkpoints, (int, np.integer)):
        return log_checkpoints(T, int(checkpoints))
    ck = np.asarray(checkpoints, dtype=np.int64)
    if ck.ndim != 1 or ck.size == 0 or ck[0] < 1 or ck[-1] > T or np.any(np.diff(ck) <= 0):
        raise ValueError("checkpoints must be increasing integers within [1, T]")
    return ck if ck[-1] == T else np.append(ck, T)


def _err_M(theta: np.ndarray, theta_star: np.ndarray, M: np.ndarray) -> float:
    e = theta - theta_star
    return float(math.sqrt(max(e @ M @ e, 0.0)))


# ------------------------------------------------------------------------------ passive


def kwise_passive(env: PreferenceEnv, T: int, m: int, seed: int, *, estimator: str = "omd",
                  output: str = "pessimistic", top1: bool = False,
                  constants: str | OMDConstants = "practical",
                  radius: Radius | PLRadius = Radius(), checkpoints=10,
                  project: bool = True) -> KwiseResult:
    """Passive data collection with m-wise queries (module docstring).

    Parameters
    ----------
    env : PreferenceEnv
    T : int
        Number of rankings.
    m : int
        Items per query (2 <= m <= K).
    seed : int
        Seed of the uniforms (`RankingRandomNumbers.draw(seed, T, m)`).
    estimator : {"omd", "mle", "breaking"}
    output : {"pessimistic", "greedy"}
        "pessimistic" needs estimator="omd" (the PL confidence set).
    top1 : bool
        Top-1 choice feedback instead of full rankings.
    radius : Radius or PLRadius
        The radius of the PL confidence set: a pairwise mode (`algorithms.confidence.Radius`:
        Lemma 1 at t rankings, practical, calibrated) or a Plackett-Luce one
        (`algorithms.pl_confidence.PLRadius`: "pl-theory", Lemma 1 with t -> (m - 1) t, a
        reading; "pl-practical").
    constants, checkpoints, project
        As in `algorithms.training.run_training`.
    """
    T, m = _check_args(env, T, m)
    if estimator not in PASSIVE_ESTIMATORS:
        raise ValueError(f"estimator must be one of {PASSIVE_ESTIMATORS}, got {estimator!r}")
    if output not in ("pessimistic", "greedy"):
        raise ValueError(f"output must be 'pessimistic' or 'greedy', got {output!r}")
    if output == "pessimistic" and estimator != "omd":
        raise ValueError("the pessimistic output uses the PL OMD confidence set: "
                         "estimator='omd'")
    ck = _checkpoints(T, checkpoints)
    c = _constants(constants, env.d, env.L, env.B)
    rr = RankingRandomNumbers.draw(seed, T, m)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    rank = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, bool(top1))
    F = subset_features(env.phi, x, S)
    d = env.d
    n = ck.shape[0]
    thetas = np.empty((n, d))
    Hinvs = np.full((n, d, d), np.nan)
    Hs = np.full((n, d, d), np.nan)
    secs = np.empty(n)
    n_stages = 1 if top1 else m - 1
    if estimator == "omd":
        theta, Hinv, H = np.zeros(d), np.eye(d) / c.lam, c.lam * np.eye(d)
        none = np.empty((0, d))
        start, el = 0, 0.0
        for k, t in enumerate(ck):
            t0 = time.perf_counter()
            pl_omd_run(F[start:t], rank[start:t], n_stages, theta, Hinv, c.eta,
                       env.B if project else math.inf, project, True, none, H)
            el += time.perf_counter() - t0
            thetas[k], Hinvs[k], Hs[k], secs[k] = theta, Hinv, H, el
            start = int(t)
    else:
        t0 = time.perf_counter()
        if estimator == "mle":
            thetas = pl_mle_checkpoints(F, rank, ck, lam=c.lam, top1=top1)
        else:
            thetas = breaking_mle_checkpoints(F, rank, ck, lam=c.lam, top1=top1)
        secs[:] = (time.perf_counter() - t0) * ck / T  # fits are timed in total only
    if isinstance(radius, PLRadius):
        betas = np.atleast_1d(radius.beta(ck + 1.0, d=d, eta=c.eta, lam=c.lam, L=env.L, B=env.B,
                                          n_stages=n_stages))
    else:
        betas = np.atleast_1d(radius.beta(ck + 1.0, d=d, eta=c.eta, lam=c.lam, L=env.L,
                                          B=env.B))
    rows, policy = [], None
    for k, t in enumerate(ck):
        if output == "pessimistic":
            sol = pessimistic_policy(env.phi, env.rho, thetas[k], Hinvs[k], float(betas[k]),
                                     np.zeros(d), tol=FW_TOL, max_iter=FW_MAX_ITER)
            policy = sol.policy
        else:
            policy = greedy_policy(env.phi, thetas[k])
        err_M = _err_M(thetas[k], env.theta_star, Hs[k]) if estimator == "omd" else math.nan
        rows.append(dict(t=int(t), rankings=int(t), pairs=int(t) * implied_pairs(m, top1),
                         subopt=env.suboptimality(policy),
                         err_l2=float(np.linalg.norm(thetas[k] - env.theta_star)),
                         err_hcal=err_M, beta=float(betas[k]),
                         in_confidence_set=bool(err_M <= betas[k]) if estimator == "omd"
                         else False, wall_time=float(secs[k])))
    df = pd.DataFrame(rows)
    config: dict[str, Any] = dict(
        stage="passive", m=m, top1=bool(top1), estimator=estimator, output=output,
        constants=c.kind, eta=c.eta, lam=c.lam, radius=radius.kind, seed=int(seed), T=T,
        env=env.name)
    for key, v in config.items():
        if key not in df:
            df[key] = v
    return KwiseResult(df, thetas[-1].copy(), Hinvs[-1] if estimator == "omd" else None,
                       policy, (x, S, rank), config)


# ------------------------------------------------------------------------------- active


@njit(cache=True)
def expected_info_constant(m: int) -> float:
    """c_m = sum_{r=2}^{m} (r - 1) / (r m (m - 1)) (module docstring); c_2 = 1/4."""
    acc = 0.0
    for r in range(2, m + 1):
        acc += (r - 1.0) / (r * m * (m - 1.0))
    return acc


@njit(cache=True)
def subset_criterion(W: np.ndarray, S: np.ndarray, n: int, c: float) -> float:
    """log det(I_n + c n J W_S J) for the first n arms of S (W = Phi Hinv Phi' of a context)."""
    M = np.empty((n, n))
    rs = np.zeros(n)
    tot = 0.0
    for i in range(n):
        for j in range(n):
            M[i, j] = W[S[i], S[j]]
            rs[i] += M[i, j]
        tot += rs[i]
    mean = tot / (n * n)
    for i in range(n):
        for j in range(n):
            v = M[i, j] - rs[i] / n - rs[j] / n + mean
            M[i, j] = c * n * v + (1.0 if i == j else 0.0)
    L = np.linalg.cholesky(M)
    acc = 0.0
    for i in range(n):
        acc += 2.0 * math.log(L[i, i])
    return acc


@njit(cache=True)
def _context_W(phi_x: np.ndarray, Hinv: np.ndarray) -> np.ndarray:
    return phi_x @ Hinv @ phi_x.T


@njit(cache=True)
def greedy_subset(W: np.ndarray, m: int, c: float, out: np.ndarray) -> float:
    """Greedy construction (module docstring): the best pair, then arms added one at a time.
    Writes the arms to out[:m] in the order chosen and returns crit(S)."""
    K = W.shape[0]
    best = -1.0
    for a in range(K - 1):
        for b in range(a + 1, K):
            q = W[a, a] + W[b, b] - 2.0 * W[a, b]
            if q > best:
                best = q
                out[0] = a
                out[1] = b
    val = subset_criterion(W, out, 2, c)
    for n in range(2, m):
        bestv = -math.inf
        arm = -1
        for a in range(K):
            used = False
            for k in range(n):
                if out[k] == a:
                    used = True
            if used:
                continue
            out[n] = a
            v = subset_criterion(W, out, n + 1, c)
            if v > bestv:
                bestv = v
                arm = a
        out[n] = arm
        val = bestv
    return val


@njit(cache=True)
def exhaustive_subset(W: np.ndarray, m: int, c: float, out: np.ndarray) -> float:
    """The m-subset of largest crit(S) among all C(K, m) (increasing order; ties: first in
    lexicographic order). Writes it to out[:m] and returns crit(S)."""
    K = W.shape[0]
    idx = np.arange(m)
    best = -math.inf
    while True:
        v = subset_criterion(W, idx, m, c)
        if v > best:
            best = v
            out[:m] = idx
        i = m - 1
        while i >= 0 and idx[i] == K - m + i:
            i -= 1
        if i < 0:
            break
        idx[i] += 1
        for j in range(i + 1, m):
            idx[j] = idx[j - 1] + 1
    return best


@njit(cache=True)
def active_rounds(phi: np.ndarray, rho: np.ndarray, m: int, construction: int, n_stages: int,
                  theta: np.ndarray, Hinv: np.ndarray, H: np.ndarray, theta_sum: np.ndarray,
                  eta: float, B: float, project: bool, px: np.ndarray, pa: np.ndarray,
                  pb: np.ndarray, sq: np.ndarray, cdf: np.ndarray, context_u: np.ndarray,
                  arm_u: np.ndarray, label_u: np.ndarray, theta_star: np.ndarray, t0: int,
                  t1: int, x_out: np.ndarray, S_out: np.ndarray, R_out: np.ndarray,
                  crit_out: np.ndarray) -> None:
    """Rounds t0..t1-1 of m-wise active selection (module docstring), in place on the state.

    Selection reads Hinv and the features only; theta_star enters only the ranking oracle
    (`sim.rankings.pl_rank`, or with m = 2 the pairwise oracle `act.query_pool_pair`)."""
    n_x, K, d = phi.shape
    ws = pl_workspace(m, d)
    c = expected_info_constant(m)
    S = np.empty(m, dtype=np.int64)
    best_S = np.empty(m, dtype=np.int64)
    Fq = np.empty((m, d))
    r = np.empty(m)
    rk = np.empty(m, dtype=np.int64)
    z = np.empty(d)
    for t in range(t0, t1):
        if construction == 2:
            x = draw_contexts_kernel(cdf, context_u[t:t + 1])[0]
            subset_from_uniforms(K, arm_u[t], best_S)
            crit = math.nan
        elif m == 2:
            act.pair_sq_norms(phi, px, pa, pb, Hinv, sq)
            p = act._argmax(sq)
            x = px[p]
            best_S[0] = pa[p]
            best_S[1] = pb[p]
            crit = math.log1p(0.25 * max(sq[p], 0.0))
        else:
            crit = -math.inf
            x = 0
            for xc in range(n_x):
                if rho[xc] <= 0.0:
                    continue
                W = _context_W(phi[xc], Hinv)
                if construction == 0:
                    v = greedy_subset(W, m, c, S)
                else:
                    v = exhaustive_subset(W, m, c, S)
                if v > crit:
                    crit = v
                    x = xc
                    best_S[:] = S
        for k in range(m):
            Fq[k, :] = phi[x, best_S[k]]
        if m == 2:
            y = act.query_pool_pair(phi, x, best_S[0], best_S[1], theta_star, label_u[t, 0],
                                    0, z)
            rk[0] = 0 if y == 1.0 else 1
            rk[1] = 1 - rk[0]
        else:
            for k in range(m):
                r[k] = np.dot(Fq[k], theta_star)
            pl_rank(r, label_u[t], n_stages, Fq, theta_star, rk)
        pl_omd_update(theta, Hinv, Fq, rk, n_stages, eta, B, project, True, ws, H)
        for j in range(d):
            theta_sum[j] += theta[j]
        x_out[t] = x
        S_out[t, :] = best_S
        R_out[t, :] = rk
        crit_out[t] = crit


def kwise_active(env: PreferenceEnv, T: int, m: int, seed: int, *,
                 construction: str = "greedy", top1: bool = False,
                 constants: str | OMDConstants = "practical", checkpoints=10,
                 project: bool = True) -> KwiseResult:
    """Active data collection with m-wise queries and the PL one-pass OMD (module docstring).

    construction: "greedy", "exhaustive" (every m-subset; small K only) or "random". Records:
    SubOpt of the greedy policy on theta_bar, ||theta_bar - theta*||, the mean criterion of
    the queries, seconds."""
    T, m = _check_args(env, T, m)
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"construction must be one of {tuple(CONSTRUCTIONS)}, got "
                         f"{construction!r}")
    ck = _checkpoints(T, checkpoints)
    c = _constants(constants, env.d, env.L, env.B)
    rr = RankingRandomNumbers.draw(seed, T, m)
    d = env.d
    px, pa, pb = act.query_pool(env.rho, env.K)
    sq = np.empty(px.shape[0])
    theta, Hinv, H, tsum = np.zeros(d), np.eye(d) / c.lam, c.lam * np.eye(d), np.zeros(d)
    xs, Ss = np.empty(T, np.int64), np.empty((T, m), np.int64)
    Rs, crit = np.empty((T, m), np.int64), np.empty(T)
    cdf = context_cdf(env.rho)
    rows, start, el, policy, bar = [], 0, 0.0, None, theta
    for t in ck:
        t0 = time.perf_counter()
        active_rounds(env.phi, env.rho, m, CONSTRUCTIONS[construction], 1 if top1 else m - 1,
                      theta, Hinv, H, tsum, c.eta, env.B if project else math.inf, project,
                      px, pa, pb, sq, cdf, rr.context_u, rr.arm_u, rr.label_u, env.theta_star,
                      start, int(t), xs, Ss, Rs, crit)
        el += time.perf_counter() - t0
        bar = tsum / (t + 1.0)
        policy = greedy_policy(env.phi, bar)
        rows.append(dict(t=int(t), rankings=int(t), pairs=int(t) * implied_pairs(m, top1),
                         subopt=env.suboptimality(policy),
                         err_l2=float(np.linalg.norm(bar - env.theta_star)),
                         err_last=float(np.linalg.norm(theta - env.theta_star)),
                         criterion=float(np.nanmean(crit[:t])) if construction != "random"
                         else math.nan, wall_time=el))
        start = int(t)
    df = pd.DataFrame(rows)
    config: dict[str, Any] = dict(
        stage="active", m=m, top1=bool(top1), construction=construction, estimator="omd",
        constants=c.kind, eta=c.eta, lam=c.lam, seed=int(seed), T=T, env=env.name)
    for key, v in config.items():
        df[key] = v
    return KwiseResult(df, bar.copy(), Hinv.copy(), policy, (xs, Ss, Rs), config)


# --------------------------------------------------------------------------- deployment


@njit(cache=True)
def deployment_rounds(phi: np.ndarray, rewards: np.ndarray, x: np.ndarray, m: int, rule: int,
                      n_cand: int, n_stages: int, theta: np.ndarray, Hinv: np.ndarray,
                      H: np.ndarray, eta: float, lam: float, B: float, B_ball: float,
                      project: bool, radius_kind: int, L: float, delta: float, c_beta: float,
                      label_u: np.ndarray, cand_u: np.ndarray, t0: int, t1: int,
                      ledger: np.ndarray, shown: np.ndarray) -> None:
    """Rounds t0..t1-1 of m-wise deployment (module docstring), in place.

    ledger: [cumulative m-wise regret, cumulative weak regret (best shown), rounds in which
    theta* was in C_t]; shown (T, m) receives the slots (a_1 first; -1 for a slot not shown).
    The learner reads features, theta_t, Hcal_t^{-1} and its own uniforms; `rewards` (the
    true r(x, a)) enter only the oracle and the accounting."""
    n_x, K, d = phi.shape
    ws = pl_workspace(m, d)
    scores = np.empty(K)
    val = np.empty(K)
    D = np.empty(d)
    slots = np.empty(m, dtype=np.int64)
    items = np.empty(m, dtype=np.int64)
    cands = np.empty(max(n_cand, 1), dtype=np.int64)
    r = np.empty(m)
    rk = np.empty(m, dtype=np.int64)
    Fq = np.empty((m, d))
    e = np.empty(d)
    for i in range(t0, t1):
        t = i + 1
        xi = x[i]
        phi_x = phi[xi]
        beta = beta_kwise(float(t), radius_kind, n_stages, d, eta, lam, L, B, delta, c_beta)
        first = learned_rewards(phi_x, theta, scores)
        if rule == 0:
            slots[0] = first
            if m == 2:
                a2, _ = optimistic_second_arm(phi_x, scores, first, Hinv, 2.0 * beta, D)
                slots[1] = a2
            else:
                for a in range(K):
                    w = 0.0 if a == first else pair_width(phi_x, first, a, Hinv, D)
                    val[a] = scores[a] + 2.0 * beta * w
                for k in range(1, m):  # the m - 1 largest indices, ties to the lowest arm
                    best = -math.inf
                    arm = -1
                    for a in range(K):
                        taken = False
                        for q in range(1, k):
                            if slots[q] == a:
                                taken = True
                        if not taken and val[a] > best:
                            best = val[a]
                            arm = a
                    slots[k] = arm
        else:
            subset_from_uniforms(K, cand_u[i], cands)
            for k in range(m):  # the top m candidates by the learned reward
                best = -math.inf
                arm = -1
                for q in range(n_cand):
                    a = cands[q]
                    taken = False
                    for p in range(k):
                        if slots[p] == a:
                            taken = True
                    if not taken and scores[a] > best:
                        best = scores[a]
                        arm = a
                slots[k] = arm
        # ---- accounting
        rstar = rewards[xi, 0]
        for a in range(1, K):
            rstar = max(rstar, rewards[xi, a])
        mean = 0.0
        top = -math.inf
        for k in range(m):
            mean += rewards[xi, slots[k]]
            top = max(top, rewards[xi, slots[k]])
        ledger[0] += rstar - mean / m
        ledger[1] += rstar - top
        for j in range(d):
            e[j] = theta[j]
        # ---- the distinct arms shown, in slot order
        n = 0
        for k in range(m):
            dup = False
            for q in range(n):
                if items[q] == slots[k]:
                    dup = True
            if not dup:
                items[n] = slots[k]
                n += 1
        for k in range(m):
            shown[i, k] = items[k] if k < n else -1
        if n < 2:
            continue
        # ---- oracle: the PL ranking of the shown arms from the true rewards
        for k in range(n):
            r[k] = rewards[xi, items[k]]
            Fq[k, :] = phi_x[items[k]]
        pl_rank(r[:n], label_u[i], min(n_stages, n - 1), Fq[:0], theta, rk[:n])
        pl_omd_update(theta, Hinv, Fq[:n], rk[:n], n_stages, eta, B_ball, project, True, ws, H)


def kwise_deployment(env: PreferenceEnv, T: int, m: int, seed: int, *, rule: str = "optimistic",
                     n_candidates: int | None = None, top1: bool = False,
                     constants: str | OMDConstants = "practical",
                     radius: Radius | PLRadius = Radius(), checkpoints=10,
                     project: bool = True) -> KwiseResult:
    """Deployment with m-wise queries and the PL one-pass OMD (module docstring).

    rule: "optimistic" (greedy first arm, m - 1 optimistic arms; Algorithm 4 at m = 2) or
    "best-of-n" (n_candidates uniform candidates, the top m by the learned reward shown;
    default n = min(2 m, K)). radius: a pairwise `Radius` or a `PLRadius` (as
    `kwise_passive`). Records: cumulative m-wise regret (mean gap of the m slots), weak
    regret (best arm shown), ||theta_t - theta*||, seconds."""
    T, m = _check_args(env, T, m)
    if rule not in DEPLOY_RULES:
        raise ValueError(f"rule must be one of {tuple(DEPLOY_RULES)}, got {rule!r}")
    n_cand = min(2 * m, env.K) if n_candidates is None else int(n_candidates)
    if rule == "best-of-n" and not m <= n_cand <= env.K:
        raise ValueError(f"n_candidates must lie in [m, K] = [{m}, {env.K}], got {n_cand}")
    ck = _checkpoints(T, checkpoints)
    c = _constants(constants, env.d, env.L, env.B)
    rr = RankingRandomNumbers.draw(seed, T, m)
    cand_u = (spawn_streams(seed, ("contexts", "labels", "arms", "ranking_arms",
                                   "ranking_labels", "best_of_n"))["best_of_n"]
              .random((T, n_cand)) if rule == "best-of-n" else np.zeros((T, 1)))
    x = draw_contexts(context_cdf(env.rho), rr.context_u)
    rewards = np.ascontiguousarray(env.rewards())
    d = env.d
    theta, Hinv, H = np.zeros(d), np.eye(d) / c.lam, c.lam * np.eye(d)
    ledger = np.zeros(3)
    shown = np.empty((T, m), np.int64)
    kind = radius.code_for("Hcal")
    rows, start, el = [], 0, 0.0
    for t in ck:
        t0 = time.perf_counter()
        deployment_rounds(env.phi, rewards, x, m, DEPLOY_RULES[rule], n_cand,
                          1 if top1 else m - 1, theta, Hinv, H, c.eta, c.lam, env.B,
                          env.B if project else math.inf, project, kind, env.L, radius.delta,
                          radius.c_beta, rr.label_u, cand_u, start, int(t), ledger, shown)
        el += time.perf_counter() - t0
        rows.append(dict(t=int(t), regret=float(ledger[0]), regret_weak=float(ledger[1]),
                         err_l2=float(np.linalg.norm(theta - env.theta_star)),
                         err_hcal=_err_M(theta, env.theta_star, H), wall_time=el))
        start = int(t)
    df = pd.DataFrame(rows)
    config: dict[str, Any] = dict(
        stage="deployment", m=m, top1=bool(top1), rule=rule, n_candidates=n_cand,
        estimator="omd", constants=c.kind, eta=c.eta, lam=c.lam, radius=radius.kind,
        seed=int(seed), T=T, env=env.name)
    for key, v in config.items():
        df[key] = v
    return KwiseResult(df, theta.copy(), Hinv.copy(), None, (x, shown), config)


def greedy_vs_exhaustive(env: PreferenceEnv, m: int, Hinvs: np.ndarray) -> pd.DataFrame:
    """Greedy against exhaustive subset construction at given states: for each matrix
    Hcal^{-1} in Hinvs (n, d, d) and each context, crit of the greedy subset, of the best
    subset, and their ratio (1 = greedy optimal). One row per (state, context)."""
    _, m = _check_args(env, 1, m)
    c = expected_info_constant(m)
    S = np.empty(m, dtype=np.int64)
    rows = []
    for k, Hinv in enumerate(np.asarray(Hinvs, dtype=np.float64)):
        for x in range(env.n_x):
            W = _context_W(env.phi[x], np.ascontiguousarray(Hinv))
            g = greedy_subset(W, m, c, S)
            e = exhaustive_subset(W, m, c, S)
            rows.append(dict(state=k, x=x, m=m, greedy=g, exhaustive=e, ratio=g / e))
    return pd.DataFrame(rows)


__all__ = ["CONSTRUCTIONS", "greedy_vs_exhaustive", "DEPLOY_RULES", "KwiseResult",
           "PASSIVE_ESTIMATORS",
           "active_rounds", "deployment_rounds", "exhaustive_subset", "expected_info_constant",
           "greedy_subset", "kwise_active", "kwise_deployment", "kwise_passive",
           "subset_criterion"]
