"""The compiled deployment loop shared by Algorithm 4, its baselines and the LLM strategies.

One round t (1-based; array index i = t - 1) of every deployment algorithm:

    learner    beta_t from the radius (`algorithms.confidence.beta_for`); the pair (a_t, a'_t)
               from theta_t, M_t^{-1} and the rule, or a uniform random pair in the rounds
               t <= explore_rounds of a baseline's exploration phase
    accounting regret of the pair, ||theta_t - theta*||_2 and ||theta_t - theta*||_{M_t}, and
               whether theta* is in C_t = {||theta - theta_t||_{M_t} <= beta_t}
    oracle     y_t = 1[u_t < sigma(r(x_t, a_t) - r(x_t, a'_t))] (pre-drawn u_t; r = phi' theta* for
               a synthetic environment, or a given reward table, e.g. a judge's logits)
    learner    the reward model update on z_t = phi(x_t, a_t) - phi(x_t, a'_t) and y_t

The pair rule and the reward model are arguments of the loop: a built-in code (RULES, MODELS;
compiled once and cached) or a researcher's kernels (`algorithms.protocol.RewardModel`,
`SelectionRule`; compiled once per process). Built-in reward models: one-pass OMD
(Algorithm 1; M_t = Hcal_t = lambda I + sum sigma'(z_i' theta_{i+1}) z_i z_i', O(d^2) per
round) or the regularised MLE refit every round by warm-started Newton (M_t = V_t = lambda I
+ sum z_i z_i', unweighted; O(t d^2) per round, O(t d) memory). The learner
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
from numba import njit, types
from numba.extending import overload

from sim.feedback import bt_label

from .confidence import beta_for
from .deployment import algorithm4_pair_block, learned_rewards, pair_width
from .dueling_baselines import colstim_pair, maxinp_pair, uniform_distinct_pair
from .llm_strategies import draw_candidates, rank_candidates, strategy_pair
from .protocol import (
    kernel_loop,
    model_estimate,
    model_inverse,
    model_matrix,
    model_update,
)
from .regret import (
    LEDGER_ALL_IN_SET,
    LEDGER_BOUND,
    LEDGER_REGRET,
    LEDGER_SAME_ARM,
    LEDGER_STRONG,
    LEDGER_WEAK,
    ledger_add,
)

RULES: dict[str, int] = {"algorithm4": 0, "maxinp": 1, "colstim": 2, "random-pair": 3, "llm": 4}
"""Integer code of each built-in pair-selection rule."""
USER_RULE = -1
"""LearnerConfig.rule of a run whose pair comes from a user `SelectionRule`."""
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
    colstim_threshold: float
    """CoLSTIM's clipping threshold C_thresh of the perturbation (inf: no clipping)."""
    colstim_width: bool
    """CoLSTIM: scale the perturbation by ||phi_i||_{M_t^{-1}} (the paper) or not."""
    explore_rounds: int
    """Rounds t <= explore_rounds play a uniform random pair (the baselines' exploration
    phases: MaxInP, CoLSTIM); 0: none."""
    kappa: float
    """Global kappa (Definition 2, from the features and B): the MLE baselines' theory radius."""
    strategy: int
    quantile_rank: int
    tau: float
    policy: int
    mle_tol: float
    mle_max_iter: int


class Accounting(NamedTuple):
    """The accounting side's state and the run's outputs, written in place."""

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
                 e: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """(||theta - theta*||_2, ||theta - theta*||_M); e and r (d,) are work vectors.

    ||e||_M^2 = sum_i e_i (sum_j M_ij e_j): the d row sums are accumulated side by side (j
    outer), each in the order j = 0, 1, ..., so no single accumulator carries the whole sum."""
    d = theta.shape[0]
    for j in range(d):
        e[j] = theta[j] - theta_star[j]
        r[j] = 0.0
    sq = 0.0
    for i in range(d):
        sq += e[i] * e[i]
    for j in range(d):
        ej = e[j]
        for i in range(d):
            r[i] += M[i, j] * ej
    q = 0.0
    for i in range(d):
        q += e[i] * r[i]
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


def select_pair(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores, D, W, keep, cdf,
                cands, ranked, ws):  # pragma: no cover - numba only
    """(a_t, a'_t, ||z_t||_{M_t^{-1}}) of a built-in rule code or a user `SelectionRule`."""
    raise NotImplementedError("select_pair is called from compiled loops only")


@overload(select_pair, inline="always", jit_options={"cache": True})  # type: ignore[typeddict-unknown-key]
def _select_pair(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores, D, W, keep, cdf,
                 cands, ranked, ws):
    if isinstance(rule, types.Integer):
        def builtin(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores, D, W, keep, cdf,
                    cands, ranked, ws):
            return builtin_pair(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores, D, W,
                                keep, cdf, cands, ranked, ws)
        return builtin

    def user(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores, D, W, keep, cdf, cands,
             ranked, ws):
        a, a2 = rule.select(phi_x, theta, Minv, beta, inputs.cand_u[i])
        return a, a2, pair_width(phi_x, a, a2, Minv, D)
    return user


@njit(cache=True, inline="always")
def builtin_pair(rule: int, cfg: LearnerConfig, i: int, phi_x: np.ndarray, theta: np.ndarray,
                 Minv: np.ndarray, beta: float, inputs: RoundInputs, scores: np.ndarray,
                 D: np.ndarray, W: np.ndarray, keep: np.ndarray, cdf: np.ndarray,
                 cands: np.ndarray, ranked: np.ndarray, ws: np.ndarray) -> tuple[int, int, float]:
    """The pair of a built-in rule (RULES) in round i + 1, and its width in M_t^{-1}; ws is the
    (2 d + 1, K) work array of Algorithm 4's rule (`algorithm4_pair_block`)."""
    K = phi_x.shape[0]
    if rule == 0:
        a, a2, width = algorithm4_pair_block(phi_x, theta, Minv, beta, scores, D, ws)
    elif rule == 1:
        a, a2, width = maxinp_pair(phi_x, theta, Minv, beta, scores, W, keep, D)
    elif rule == 2:
        c = beta if math.isnan(cfg.colstim_c) else cfg.colstim_c
        a, a2, width = colstim_pair(phi_x, theta, Minv, c, inputs.gumbel[i],
                                    cfg.gumbel_scale, cfg.colstim_threshold, cfg.colstim_width,
                                    scores, D)
    elif rule == 3:
        a, a2 = uniform_distinct_pair(K, inputs.arm_u[i, 0], inputs.arm_u[i, 1])
        width = pair_width(phi_x, a, a2, Minv, D)
    else:
        learned_rewards(phi_x, theta, scores)
        draw_candidates(scores, inputs.cand_u[i], cfg.tau, cfg.policy, cdf, cands)
        rank_candidates(cands, scores, ranked)
        a, a2 = strategy_pair(cfg.strategy, cands, ranked, cfg.quantile_rank)
        width = pair_width(phi_x, a, a2, Minv, D)
    return a, a2, width


@kernel_loop
def deployment_segment(t0: int, t1: int, inputs: RoundInputs, oracle: Oracle,
                       cfg: LearnerConfig, rule, model, mstate: tuple, mparams: np.ndarray,
                       counters: np.ndarray, acc: Accounting, record_every: bool,
                       record_row: int) -> None:
    """Rounds t0 + 1, ..., t1 (array indices t0..t1-1) of a deployment run, in place.

    rule: a built-in code of RULES or a user `SelectionRule`; model: a built-in code or a user
    reward model's kernels (`algorithms.protocol`), with its state and parameters.
    record_every=True writes record row t - 1 after every round t; otherwise only row
    `record_row` after round t1 (nothing when t1 == t0).
    """
    phi = inputs.phi
    K = phi.shape[1]
    d = phi.shape[2]
    scores = np.empty(K)
    D = np.empty(d)
    z = np.empty(d)
    e = np.empty(d)
    r = np.empty(d)
    ws = np.empty((2 * d + 1, K)) if cfg.rule == 0 else np.empty((0, 0))
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
        theta = model_estimate(model, mstate)
        Minv = model_inverse(model, mstate)
        # ---- learner: radius and pair (reads features, theta_t, M_t^{-1}, own uniforms)
        beta = beta_for(float(t), cfg.radius_kind, d, cfg.eta, cfg.lam, cfg.L, cfg.B,
                        cfg.delta, cfg.c_beta, cfg.kappa)
        if t <= cfg.explore_rounds:
            # exploration phase of a baseline: a uniform random pair from the arm uniforms
            a, a2 = uniform_distinct_pair(K, inputs.arm_u[i, 0], inputs.arm_u[i, 1])
            width = pair_width(phi_x, a, a2, Minv, D)
        else:
            a, a2, width = select_pair(rule, cfg, i, phi_x, theta, Minv, beta, inputs, scores,
                                       D, W, keep, cdf, cands, ranked, ws)
        # ---- accounting: regret of the pair and the state theta_t against theta*
        err_l2, err_M = _error_norms(theta, oracle.theta_star, model_matrix(model, mstate), e,
                                     r)
        ledger_add(acc.ledger, oracle.rewards[xi], a, a2, beta, width, err_M, bound_applies)
        # ---- oracle: the Bradley-Terry label of the query, from the true reward gap
        for j in range(d):
            z[j] = phi_x[a, j] - phi_x[a2, j]
        w_star = oracle.rewards[xi, a] - oracle.rewards[xi, a2]
        y = bt_label(w_star, oracle.label_u[i], oracle.link_code)
        # ---- learner: reward-model update on (z_t, y_t)
        model_update(model, mstate, z, float(y), t, mparams, counters)
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
            acc.path[t, :] = model_estimate(model, mstate)
        if record_every:
            _write_record(acc.records, i, t, acc.ledger, err_l2, err_M, beta)
    if not record_every and t1 > t0:
        _write_record(acc.records, record_row, t1, acc.ledger, err_l2, err_M, beta)
