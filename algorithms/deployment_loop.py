"""The compiled deployment loop shared by Algorithm 4, its baselines and the LLM strategies.

One round t (1-based; array index i = t - 1) of every deployment algorithm:

    learner    beta_t from the radius; the pair (a_t, a'_t) from theta_t, M_t^{-1} and the rule
    accounting regret of the pair, ||theta_t - theta*||_2 and ||theta_t - theta*||_{M_t}, and
               whether theta* is in C_t = {||theta - theta_t||_{M_t} <= beta_t}
    oracle     y_t = 1[u_t < sigma(r(x_t, a_t) - r(x_t, a'_t))] (pre-drawn u_t; r = phi' theta* for
               a synthetic environment, or a given reward table, e.g. a judge's logits)
    learner    the reward model update on z_t = phi(x_t, a_t) - phi(x_t, a'_t) and y_t

Reward models: one-pass OMD (Algorithm 1; M_t = Hcal_t = lambda I + sum sigma'(z_i' theta_{i+1})
z_i z_i', O(d^2) per round) or the regularised MLE refit every round by warm-started Newton
(M_t = V_t = lambda I + sum z_i z_i', unweighted; O(t d^2) per round, O(t d) memory). The learner
branches read only features, contexts, labels and their own pre-drawn uniforms; theta* and
the true rewards enter only the oracle and the accounting lines (the tests check this by
running two environments that differ only in theta*).

The loop runs over a segment of rounds [t0, t1) and keeps its state in the arrays it is
given, so a run is a few calls (one per checkpoint) with Python timing in between.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from sim.feedback import bt_label

from .confidence import beta_at
from .deployment import algorithm4_pair, learned_rewards, pair_width
from .dueling_baselines import colstim_pair, maxinp_pair, uniform_distinct_pair
from .linalg import rank_one_update, sherman_morrison_update
from .llm_strategies import draw_candidates, rank_candidates, strategy_pair
from sim.core.links import dsigmoid
from .mle import mle_newton
from .omd import omd_update
from .regret import (
    LEDGER_ALL_IN_SET, LEDGER_BOUND, LEDGER_REGRET, LEDGER_SAME_ARM, LEDGER_STRONG, LEDGER_WEAK,
    ledger_add,
)

RULES: dict[str, int] = {"algorithm4": 0, "maxinp": 1, "colstim": 2, "random-pair": 3, "llm": 4}
"""Integer code of each pair-selection rule."""
MODELS: dict[str, int] = {"omd": 0, "mle": 1}
"""Integer code of each reward model."""

RECORD_COLUMNS: tuple[str, ...] = ("t", "regret", "regret_weak", "regret_strong", "err_l2",
                                   "err_hcal", "beta", "in_confidence_set", "instance_bound",
                                   "same_arm_rounds")
"""Columns of a record row as the loop writes it (cumulative regrets, bound and count of
rounds with a'_t = a_t; the state theta_t and beta_t of round t)."""
TRACE_COLUMNS: tuple[str, ...] = ("beta", "width", "err_l2", "err_hcal")
"""Per-round float trace: beta_t, ||z_t||_{M_t^{-1}}, and the two errors of theta_t."""
ARM_COLUMNS: tuple[str, ...] = ("a", "a2", "y")
"""Per-round integer trace: the pair and the label."""
COUNTERS: tuple[str, ...] = ("newton_iterations", "unconverged_refits", "projections")


class RoundInputs(NamedTuple):
    """What the learner sees: features, contexts, and its own pre-drawn uniforms."""

    phi: np.ndarray
    """(n_x, K, d) features."""
    x: np.ndarray
    """(T,) int64 contexts x_t."""
    arm_u: np.ndarray
    """(T, 2) uniforms of the random-pair rule."""
    gumbel: np.ndarray
    """(T, K) Gumbel noise of CoLSTIM, or (0, 0)."""
    cand_u: np.ndarray
    """(T, n) uniforms of the LLM candidate draws, or (0, 0)."""


class Oracle(NamedTuple):
    """What only the label oracle and the regret accounting read."""

    theta_star: np.ndarray
    """(d,) true parameter."""
    rewards: np.ndarray
    """(n_x, K) true rewards: phi(x, a)' theta*, or a given table (the labels and the regret
    use it; theta_star then only serves the error columns)."""
    label_u: np.ndarray
    """(T,) label uniforms."""
    link_code: int
    """Link of the label model (sim.feedback.LINK_CODES)."""


class LearnerConfig(NamedTuple):
    """Rule, reward model and constants of one run (codes as in RULES, MODELS, RADIUS_KINDS)."""

    rule: int
    model: int
    eta: float
    lam: float
    B: float
    """Declared bound on ||theta*||: the projection (when `project`) and the theory radius."""
    project: bool
    """OMD: project onto the B-ball (Algorithm 1 step 3); MLE: constrain to the B-ball."""
    L: float
    radius_kind: int
    delta: float
    c_beta: float
    gumbel_scale: float
    colstim_c: float
    """CoLSTIM's exploration coefficient c; NaN means c = beta_t."""
    strategy: int
    quantile_rank: int
    tau: float
    policy: int
    mle_tol: float
    mle_max_iter: int


class LearnerState(NamedTuple):
    """The learner's state, updated in place."""

    theta: np.ndarray
    """(d,) theta_t."""
    Minv: np.ndarray
    """(d, d) Hcal_t^{-1} (OMD) or V_t^{-1} (MLE)."""
    Zh: np.ndarray
    """(T, d) the z_s seen so far (MLE), or (0, d)."""
    yh: np.ndarray
    """(T,) the labels seen so far (MLE), or (0,)."""
    counters: np.ndarray
    """(3,) int64: Newton iterations, unconverged refits, active projections."""


class Accounting(NamedTuple):
    """The accounting side's state and the run's outputs, written in place."""

    M: np.ndarray
    """(d, d) Hcal_t or V_t itself, for ||theta_t - theta*||_{M_t}."""
    ledger: np.ndarray
    """(LEDGER_SIZE,) running totals (algorithms.regret)."""
    records: np.ndarray
    """(n_records, len(RECORD_COLUMNS)) record rows."""
    arms: np.ndarray
    """(T, 3) int64 per-round (a, a', y), or (0, 3) to keep nothing."""
    trace: np.ndarray
    """(T, 4) per-round TRACE_COLUMNS, or (0, 4)."""
    path: np.ndarray
    """(T + 1, d) theta_1..theta_{T+1}, or (0, d)."""


@njit(cache=True)
def _error_norms(theta: np.ndarray, theta_star: np.ndarray, M: np.ndarray,
                 e: np.ndarray) -> tuple[float, float]:
    """(||theta - theta*||_2, ||theta - theta*||_M)."""
    d = theta.shape[0]
    for j in range(d):
        e[j] = theta[j] - theta_star[j]
    sq = 0.0
    q = 0.0
    for i in range(d):
        sq += e[i] * e[i]
        acc = 0.0
        for j in range(d):
            acc += M[i, j] * e[j]
        q += e[i] * acc
    return math.sqrt(sq), (math.sqrt(q) if q > 0.0 else 0.0)


@njit(cache=True)
def _write_record(records: np.ndarray, row: int, t: int, ledger: np.ndarray, err_l2: float,
                  err_M: float, beta: float) -> None:
    records[row, 0] = t
    records[row, 1] = ledger[LEDGER_REGRET]
    records[row, 2] = ledger[LEDGER_WEAK]
    records[row, 3] = ledger[LEDGER_STRONG]
    records[row, 4] = err_l2
    records[row, 5] = err_M
    records[row, 6] = beta
    records[row, 7] = ledger[LEDGER_ALL_IN_SET]
    records[row, 8] = ledger[LEDGER_BOUND]
    records[row, 9] = ledger[LEDGER_SAME_ARM]


@njit(cache=True)
def deployment_segment(t0: int, t1: int, inputs: RoundInputs, oracle: Oracle,
                       cfg: LearnerConfig, state: LearnerState, acc: Accounting,
                       record_every: bool, record_row: int) -> None:
    """Rounds t0 + 1, ..., t1 (array indices t0..t1-1) of a deployment run, in place.

    record_every=True writes record row t - 1 after every round t; otherwise only row
    `record_row` after round t1 (nothing when t1 == t0).
    """
    phi = inputs.phi
    K = phi.shape[1]
    d = phi.shape[2]
    theta = state.theta
    Minv = state.Minv
    B_model = cfg.B if cfg.project else np.inf
    scores = np.empty(K)
    D = np.empty(d)
    u = np.empty(d)
    z = np.empty(d)
    e = np.empty(d)
    Mbuf = np.empty((d, d))
    W = np.empty((K, K)) if cfg.rule == 1 else np.empty((0, 0))
    keep = np.empty(K, dtype=np.bool_)
    cdf = np.empty(K)
    n_cand = inputs.cand_u.shape[1]
    cands = np.empty(n_cand, dtype=np.int64)
    ranked = np.empty(n_cand, dtype=np.int64)
    keep_trace = acc.arms.shape[0] > 0
    keep_path = acc.path.shape[0] > 0
    bound_applies = cfg.rule == 0
    err_l2 = 0.0
    err_M = 0.0
    beta = 0.0
    for i in range(t0, t1):
        t = i + 1
        xi = inputs.x[i]
        phi_x = phi[xi]
        # ---- learner: radius and pair (reads features, theta_t, M_t^{-1}, own uniforms)
        beta = beta_at(float(t), cfg.radius_kind, d, cfg.eta, cfg.lam, cfg.L, cfg.B,
                       cfg.delta, cfg.c_beta)
        if cfg.rule == 0:
            a, a2, width = algorithm4_pair(phi_x, theta, Minv, beta, scores, D)
        elif cfg.rule == 1:
            a, a2, width = maxinp_pair(phi_x, theta, Minv, beta, scores, W, keep, D)
        elif cfg.rule == 2:
            c = beta if math.isnan(cfg.colstim_c) else cfg.colstim_c
            a, a2, width = colstim_pair(phi_x, theta, Minv, c, inputs.gumbel[i],
                                        cfg.gumbel_scale, scores, D)
        elif cfg.rule == 3:
            a, a2 = uniform_distinct_pair(K, inputs.arm_u[i, 0], inputs.arm_u[i, 1])
            width = pair_width(phi_x, a, a2, Minv, D)
        else:
            learned_rewards(phi_x, theta, scores)
            draw_candidates(scores, inputs.cand_u[i], cfg.tau, cfg.policy, cdf, cands)
            rank_candidates(cands, scores, ranked)
            a, a2 = strategy_pair(cfg.strategy, cands, ranked, cfg.quantile_rank)
            width = pair_width(phi_x, a, a2, Minv, D)
        # ---- accounting: regret of the pair and the state theta_t against theta*
        err_l2, err_M = _error_norms(theta, oracle.theta_star, acc.M, e)
        ledger_add(acc.ledger, oracle.rewards[xi], a, a2, beta, width, err_M, bound_applies)
        # ---- oracle: the Bradley-Terry label of the query, from the true reward gap
        for j in range(d):
            z[j] = phi_x[a, j] - phi_x[a2, j]
        w_star = oracle.rewards[xi, a] - oracle.rewards[xi, a2]
        y = bt_label(w_star, oracle.label_u[i], oracle.link_code)
        # ---- learner: reward-model update on (z_t, y_t)
        if cfg.model == 0:
            if omd_update(theta, Minv, z, float(y), cfg.eta, B_model, cfg.project, u, Mbuf):
                state.counters[2] += 1
            rank_one_update(acc.M, z, dsigmoid(np.dot(z, theta)))
        else:
            state.Zh[i, :] = z
            state.yh[i] = y
            fit, its, ok = mle_newton(state.Zh, state.yh, t, cfg.lam, B_model, theta,
                                      cfg.mle_tol, cfg.mle_max_iter)
            theta[:] = fit
            state.counters[0] += its
            if not ok:
                state.counters[1] += 1
            sherman_morrison_update(Minv, z, 1.0, u)
            rank_one_update(acc.M, z, 1.0)
        # ---- outputs
        if keep_trace:
            acc.arms[i, 0] = a
            acc.arms[i, 1] = a2
            acc.arms[i, 2] = y
            acc.trace[i, 0] = beta
            acc.trace[i, 1] = width
            acc.trace[i, 2] = err_l2
            acc.trace[i, 3] = err_M
        if keep_path:
            acc.path[t, :] = theta
        if record_every:
            _write_record(acc.records, i, t, acc.ledger, err_l2, err_M, beta)
    if not record_every and t1 > t0:
        _write_record(acc.records, record_row, t1, acc.ledger, err_l2, err_M, beta)
