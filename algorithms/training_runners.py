"""Runners of the training-stage algorithms: the learner side of `run_training`.

A runner gets a `ProblemView` of the environment (no theta*), a `RunConfig`, and either the
queries and labels (passive data collection and random selection) or the `LabelOracle`
(active selection: the compiled loop queries it). It returns a `LearnerOutput`: its state and
output policy at each checkpoint, from which `algorithms.training_metrics` computes the
records. Python runs once per checkpoint; the rounds run in compiled loops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.environment import PreferenceEnv
from sim.queries import pair_differences

from . import active as act
from .confidence import Radius
from .constants import OMDConstants
from .mle import MLE_MAX_ITER, MLE_TOL
from .model_loops import active_model_segment, stream_checkpoints
from .passive import mle_checkpoints, omd_checkpoints, sgd_checkpoints, zhu_radius
from .pessimism import FW_TOL, greedy_policy, lcb_proxy_policy, pessimistic_policy
from .protocol import COUNTERS, RewardModel, init_state, model_handle

TRAINING_FW_MAX_ITER = 20_000
"""Cap on Frank-Wolfe iterations per checkpoint in training runs (the gap is recorded)."""


@dataclass(frozen=True)
class ProblemView:
    """What a learner may know about the environment: everything but theta*."""

    phi: np.ndarray
    rho: np.ndarray
    L: float
    B: float
    kappa: float
    """Global kappa (Definition 2): a function of the features and B only."""

    @property
    def n_x(self) -> int:
        return int(self.phi.shape[0])

    @property
    def K(self) -> int:
        return int(self.phi.shape[1])

    @property
    def d(self) -> int:
        return int(self.phi.shape[2])

    @classmethod
    def of(cls, env: PreferenceEnv) -> ProblemView:
        return cls(env.phi, env.rho, env.L, env.B, env.kappa_global())


@dataclass(frozen=True)
class LabelOracle:
    """The environment's side of active selection: labels y = 1[label_u[t] < P(y = 1)] for the
    query of round t, computed inside the compiled loop from theta* and the link."""

    theta_star: np.ndarray
    label_u: np.ndarray
    link_code: int


@dataclass(frozen=True)
class RunConfig:
    """Everything a runner needs besides the problem and the data or oracle."""

    T: int
    checkpoints: np.ndarray
    constants: OMDConstants
    radius: Radius
    v: np.ndarray
    """Reference vector v (d,) of the pessimistic objective."""
    v_x: np.ndarray
    """Per-context reference (n_x, d) of the LCB proxy."""
    options: dict = field(default_factory=dict)


@dataclass
class LearnerOutput:
    """What a runner returns: its state at each checkpoint (arrays indexed like checkpoints)."""

    thetas: np.ndarray
    """(n, d) estimate behind the output policy."""
    policies: list
    """Output policy at each checkpoint: (n_x,) arms or (n_x, K) probabilities."""
    seconds: np.ndarray
    """(n,) cumulative seconds of the learner's updates (rounds 1..t) at each checkpoint."""
    output_seconds: np.ndarray
    """(n,) seconds to compute the output policy at each checkpoint."""
    queries: tuple
    """(x, a, a2, y) int64 arrays of the T queries and labels used."""
    betas: np.ndarray
    """(n,) radius used (NaN without a confidence set)."""
    conf_thetas: np.ndarray | None = None
    """(n, d) centre of the confidence set."""
    conf_inv: np.ndarray | None = None
    """(n, d, d) inverse of the confidence-set matrix (Hcal^{-1}, V^{-1}, W^{-1})."""
    passive_bound: bool = False
    """Whether 2 beta ||m(pi*) - v||_{conf_inv} bounds the output (exact pessimism)."""
    active_bound: np.ndarray | None = None
    """(n,) (1/t) sum_{s <= t} beta_s ||z_s|| of maximum-norm selection."""
    fw_gaps: np.ndarray | None = None
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- passive


def _passive_policy(output: str, view: ProblemView, theta: np.ndarray, A: np.ndarray | None,
                    beta: float, cfg: RunConfig) -> tuple[np.ndarray, float]:
    if output == "pessimistic":
        sol = pessimistic_policy(view.phi, view.rho, theta, A, beta, cfg.v,
                                 tol=cfg.options.get("fw_tol", FW_TOL),
                                 max_iter=cfg.options.get("fw_max_iter", TRAINING_FW_MAX_ITER))
        return sol.policy, sol.gap
    if output == "lcb-proxy":
        return lcb_proxy_policy(view.phi, theta, A, beta, cfg.v_x), math.nan
    return greedy_policy(view.phi, theta), math.nan


def _with_policies(output: str, view: ProblemView, cfg: RunConfig, thetas: np.ndarray,
                   As: np.ndarray | None, betas: np.ndarray
                   ) -> tuple[list, np.ndarray, np.ndarray]:
    """The output policy at each checkpoint, its seconds and Frank-Wolfe gap."""
    n = thetas.shape[0]
    policies, seconds, gaps = [], np.empty(n), np.full(n, math.nan)
    for k in range(n):
        t0 = time.perf_counter()
        pol, gaps[k] = _passive_policy(output, view, thetas[k], None if As is None else As[k],
                                       float(betas[k]), cfg)
        seconds[k] = time.perf_counter() - t0
        policies.append(pol)
    return policies, seconds, gaps


def _timed_greedy(view: ProblemView, theta: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    policy = greedy_policy(view.phi, theta)
    return policy, time.perf_counter() - t0


def _omd_betas(cfg: RunConfig, view: ProblemView) -> np.ndarray:
    c = cfg.constants
    return np.atleast_1d(cfg.radius.beta(cfg.checkpoints + 1.0, d=view.d, eta=c.eta, lam=c.lam,
                                         L=view.L, B=view.B))


def _zhu(cfg: RunConfig, view: ProblemView) -> float:
    return zhu_radius(view.kappa, view.d, cfg.radius.delta, cfg.constants.lam, view.B,
                      cfg.options.get("c_zhu", 1.0))


def _v_betas(cfg: RunConfig, view: ProblemView) -> np.ndarray:
    """The radius of an unweighted V_t at the checkpoints: the theory mode is beta_Zhu, the
    radius of the baselines' papers (Zhu, Jordan, Jiao 2023, Lemma 3.1, also used by Das et al.
    2024 for APO); practical and calibrated are c_beta sqrt(d log(1 + t/delta)) as for every
    algorithm (`algorithms.confidence`)."""
    if cfg.radius.kind == "theory":
        return np.full(cfg.checkpoints.shape[0], _zhu(cfg, view))
    return _omd_betas(cfg, view)


def _mle_tol(cfg: RunConfig) -> float:
    tol = float(cfg.options.get("mle_tol", MLE_TOL))
    if not (math.isfinite(tol) and tol > 0.0):
        raise ValueError(f"mle_tol must be finite and > 0, got {tol!r}")
    return tol


def _data_arrays(view: ProblemView, queries: tuple) -> tuple[np.ndarray, np.ndarray]:
    x, a, a2, y = queries
    return pair_differences(view.phi, x, a, a2), y.astype(np.float64)


def passive_omd_runner(output: str) -> Callable:
    """Algorithm 2: one pass of one-pass OMD, then the output policy ("pessimistic",
    "lcb-proxy" or "greedy") at each checkpoint from theta_{t+1}, Hcal_{t+1}^{-1} and
    beta_{t+1}. Option project (default True): Algorithm 1's step 3."""
    def run(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
        Z, y = _data_arrays(view, queries)
        c = cfg.constants
        thetas, Hinvs, seconds = omd_checkpoints(Z, y, cfg.checkpoints, eta=c.eta, lam=c.lam,
                                                 B=view.B,
                                                 project=cfg.options.get("project", True))
        betas = _omd_betas(cfg, view)
        policies, out_sec, gaps = _with_policies(output, view, cfg, thetas, Hinvs, betas)
        return LearnerOutput(thetas, policies, seconds, out_sec, queries, betas,
                             conf_thetas=thetas,
                             conf_inv=Hinvs, passive_bound=output == "pessimistic",
                             fw_gaps=gaps)
    return run


def passive_mle_runner(output: str) -> Callable:
    """The MLE (B-ball, refit at the checkpoints) with V_t^{-1} and its radius (`_v_betas`:
    beta_Zhu in the theory mode), then the output policy ("pessimistic": Zhu, Jordan, Jiao
    2023; or "greedy"). Options c_zhu, mle_tol."""
    def run(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
        Z, y = _data_arrays(view, queries)
        thetas, Vinvs, seconds, failures = mle_checkpoints(
            Z, y, cfg.checkpoints, lam=cfg.constants.lam, B=view.B,
            tol=_mle_tol(cfg))
        betas = _v_betas(cfg, view)
        policies, out_sec, gaps = _with_policies(output, view, cfg, thetas, Vinvs, betas)
        return LearnerOutput(thetas, policies, seconds, out_sec, queries, betas,
                             conf_thetas=thetas,
                             conf_inv=Vinvs, passive_bound=output == "pessimistic",
                             fw_gaps=gaps, info={"mle_failures": failures})
    return run


def passive_sgd_runner(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
    """One-pass SGD on the log loss, projected on the B-ball, greedy output. Options sgd_lr
    (default 1.0) and sgd_schedule ("inv_sqrt": lr / sqrt(t), the default; or "constant")."""
    Z, y = _data_arrays(view, queries)
    schedule = cfg.options.get("sgd_schedule", "inv_sqrt")
    if schedule not in ("constant", "inv_sqrt"):
        raise ValueError(f"sgd_schedule must be 'constant' or 'inv_sqrt', got {schedule!r}")
    lr = float(cfg.options.get("sgd_lr", 1.0))
    if not (math.isfinite(lr) and lr > 0.0):
        raise ValueError(f"sgd_lr must be finite and > 0, got {lr!r}")
    thetas, seconds = sgd_checkpoints(Z, y, cfg.checkpoints, lr=lr,
                                      inv_sqrt=schedule == "inv_sqrt", B=view.B)
    betas = np.full(cfg.checkpoints.shape[0], math.nan)
    policies, out_sec, _ = _with_policies("greedy", view, cfg, thetas, None, betas)
    return LearnerOutput(thetas, policies, seconds, out_sec, queries, betas)


# ----------------------------------------------------------------------------- active


def _pool(view: ProblemView, cfg: RunConfig, T: int):
    pool = cfg.options.get("pool")
    if pool is None:
        px, pa, pb = act.query_pool(view.rho, view.K)
        if px.shape[0] == 0:
            raise ValueError("the query pool is empty: no context has positive probability")
    else:
        px, pa, pb = act.check_pool(pool, view.n_x, view.K)
    replacement = bool(cfg.options.get("replacement", True))
    if not replacement and T > px.shape[0]:
        raise ValueError(f"budget T = {T} exceeds the pool of {px.shape[0]} pairs, and "
                         "replacement=False allows each pair at most once")
    phiT = np.ascontiguousarray(view.phi.reshape(-1, view.d).T)
    ia = px * view.K + pa
    ib = px * view.K + pb
    return px, pa, pb, ia, ib, phiT, replacement


def active_omd_runner(view: ProblemView, oracle: LabelOracle, cfg: RunConfig) -> LearnerOutput:
    """Algorithm 3 (`algorithms.active.active_omd_segment`): greedy output on theta_bar.
    Options pool, replacement (default True), pair_norms ("incremental" or "recompute"),
    project. The confidence set is centred on the OMD iterate theta_{t+1}."""
    T, d, c, r = cfg.T, view.d, cfg.constants, cfg.radius
    pair_norms = cfg.options.get("pair_norms", "incremental")
    if pair_norms not in ("incremental", "recompute"):
        raise ValueError(f"pair_norms must be 'incremental' or 'recompute', got {pair_norms!r}")
    project = bool(cfg.options.get("project", True))
    B = view.B if project else math.inf
    t_start = time.perf_counter()
    px, pa, pb, ia, ib, phiT, replacement = _pool(view, cfg, T)
    theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / c.lam, np.zeros(d)
    s = np.empty(px.shape[0])
    act.pair_sq_norms(view.phi, px, pa, pb, Hinv, s)
    used = np.zeros(px.shape[0], dtype=np.bool_)
    state_i = np.array([int(np.argmax(s))], dtype=np.int64)
    state_f = np.zeros(1)
    sel, yv, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
    n = cfg.checkpoints.shape[0]
    out = dict(bars=np.empty((n, d)), iters=np.empty((n, d)), Hinvs=np.empty((n, d, d)),
               bound=np.empty(n), seconds=np.empty(n), out_sec=np.empty(n))
    elapsed = time.perf_counter() - t_start
    policies, start = [], 0
    for k, t in enumerate(cfg.checkpoints):
        t0 = time.perf_counter()
        act.active_omd_segment(view.phi, phiT, px, pa, pb, ia, ib, s, used, state_i, theta,
                               Hinv, theta_sum, state_f, c.eta, B, project, replacement,
                               pair_norms == "recompute", r.code, c.lam, view.L, r.delta,
                               r.c_beta, oracle.theta_star, oracle.label_u, oracle.link_code,
                               start, int(t), sel, yv, norms)
        bar = theta_sum / (t + 1.0)
        elapsed += time.perf_counter() - t0
        policy, out["out_sec"][k] = _timed_greedy(view, bar)
        policies.append(policy)
        out["bars"][k], out["iters"][k], out["Hinvs"][k] = bar, theta, Hinv
        out["bound"][k], out["seconds"][k] = state_f[0] / t, elapsed
        start = int(t)
    queries = (px[sel], pa[sel], pb[sel], yv)
    return LearnerOutput(out["bars"], policies, out["seconds"], out["out_sec"], queries,
                         _omd_betas(cfg, view), conf_thetas=out["iters"], conf_inv=out["Hinvs"],
                         active_bound=out["bound"],
                         info={"widths": norms, "pool_size": int(px.shape[0])})


def active_mle_runner(mode: int) -> Callable:
    """Maximum-norm selection with the MLE refit every round (`active_mle_segment`), mode APO,
    APO_WEIGHTED or ACTIVE_MLE; greedy output on the MLE. Options pool, replacement, mle_tol,
    and c_zhu (APO: the radius of its unweighted V is beta_Zhu)."""

    def run(view: ProblemView, oracle: LabelOracle, cfg: RunConfig) -> LearnerOutput:
        T, d, c, r = cfg.T, view.d, cfg.constants, cfg.radius
        t_start = time.perf_counter()
        px, pa, pb, ia, ib, phiT, replacement = _pool(view, cfg, T)
        theta, Minv = np.zeros(d), np.eye(d) / c.lam
        s = np.empty(px.shape[0])
        act.pair_sq_norms(view.phi, px, pa, pb, Minv, s)
        used = np.zeros(px.shape[0], dtype=np.bool_)
        state_i = np.array([int(np.argmax(s)), 0], dtype=np.int64)
        state_f = np.zeros(1)
        Zd, yd = np.empty((T, d)), np.empty(T)
        sel, yv, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
        beta_zhu, mle_tol = _zhu(cfg, view), _mle_tol(cfg)
        n = cfg.checkpoints.shape[0]
        thetas, Minvs = np.empty((n, d)), np.empty((n, d, d))
        bound, seconds, out_sec = np.empty(n), np.empty(n), np.empty(n)
        elapsed = time.perf_counter() - t_start
        policies, start = [], 0
        for k, t in enumerate(cfg.checkpoints):
            t0 = time.perf_counter()
            act.active_mle_segment(view.phi, phiT, px, pa, pb, ia, ib, s, used, state_i, theta,
                                   Minv, state_f, Zd, yd, mode, replacement, c.lam, view.B,
                                   mle_tol, MLE_MAX_ITER, beta_zhu, r.code, c.eta, view.L, r.delta, r.c_beta,
                                   oracle.theta_star, oracle.label_u, oracle.link_code, start,
                                   int(t), sel, yv, norms)
            elapsed += time.perf_counter() - t0
            policy, out_sec[k] = _timed_greedy(view, theta)
            policies.append(policy)
            thetas[k], Minvs[k], bound[k], seconds[k] = theta, Minv, state_f[0] / t, elapsed
            start = int(t)
        betas = (_v_betas(cfg, view) if mode == act.APO else _omd_betas(cfg, view))
        if mode == act.APO and r.kind != "theory":
            # the loop sums beta_Zhu ||z_s||; with a t-dependent radius the sum is redone here
            ts = np.arange(1, T + 1, dtype=np.float64)
            run_beta = np.atleast_1d(r.beta(ts + 1.0, d=d, eta=c.eta, lam=c.lam, L=view.L,
                                            B=view.B))
            csum = np.cumsum(run_beta * norms)
            bound = csum[cfg.checkpoints - 1] / cfg.checkpoints
        queries = (px[sel], pa[sel], pb[sel], yv)
        return LearnerOutput(thetas, policies, seconds, out_sec, queries, betas,
                             conf_thetas=thetas, conf_inv=Minvs, active_bound=bound,
                             info={"widths": norms, "pool_size": int(px.shape[0]),
                                   "mle_failures": int(state_i[1])})
    return run


def random_omd_runner(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
    """One-pass OMD on uniform random pairs, greedy output on theta_bar (as Algorithm 3)."""
    Z, y = _data_arrays(view, queries)
    d, c = view.d, cfg.constants
    project = bool(cfg.options.get("project", True))
    B = view.B if project else math.inf
    theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / c.lam, np.zeros(d)
    n = cfg.checkpoints.shape[0]
    bars, iters, Hinvs = np.empty((n, d)), np.empty((n, d)), np.empty((n, d, d))
    seconds, out_sec = np.empty(n), np.empty(n)
    policies, start, elapsed = [], 0, 0.0
    for k, t in enumerate(cfg.checkpoints):
        t0 = time.perf_counter()
        act.omd_average_segment(Z, y, theta, Hinv, theta_sum, c.eta, B, project, start, int(t))
        bars[k] = theta_sum / (t + 1.0)
        elapsed += time.perf_counter() - t0
        policy, out_sec[k] = _timed_greedy(view, bars[k])
        policies.append(policy)
        iters[k], Hinvs[k], seconds[k] = theta, Hinv, elapsed
        start = int(t)
    return LearnerOutput(bars, policies, seconds, out_sec, queries, _omd_betas(cfg, view),
                         conf_thetas=iters, conf_inv=Hinvs)


def random_mle_runner(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
    """The MLE on uniform random pairs, refit at the checkpoints (the selection does not
    depend on it), greedy output."""
    return passive_mle_runner("greedy")(view, queries, cfg)


# ------------------------------------------------------------------ user reward models


def _user_params(model: RewardModel, cfg: RunConfig, view: ProblemView) -> np.ndarray:
    c = cfg.constants
    return model.make_params(c.eta, c.lam, view.B, view.L, bool(cfg.options.get("project", True)))


def user_passive_runner(model: RewardModel, output: str) -> Callable:
    """A passive algorithm with a user reward model (`algorithms.model_loops`): one pass over
    the behaviour's queries, then the output policy from the model's estimate, its inverse
    confidence matrix and the run's radius beta_{t+1}."""
    def run(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
        Z, y = _data_arrays(view, queries)
        params = _user_params(model, cfg, view)
        res = stream_checkpoints(model, params, Z, y, cfg.checkpoints, cfg.constants.lam)
        betas = _omd_betas(cfg, view)
        policies, out_sec, gaps = _with_policies(output, view, cfg, res["thetas"],
                                                 res["inverses"], betas)
        return LearnerOutput(res["thetas"], policies, res["seconds"], out_sec, queries, betas,
                             conf_thetas=res["iterates"], conf_inv=res["inverses"],
                             passive_bound=output == "pessimistic", fw_gaps=gaps,
                             info={"counters": res["counters"]})
    return run


def user_active_runner(model: RewardModel, selector: str, output: str) -> Callable:
    """An active algorithm with a user reward model: maximum ||z||_{M_t^{-1}} selection over
    the pool (`model_loops.active_model_segment`) or uniform random pairs; greedy output on
    theta_bar ("average") or on the final estimate ("last")."""
    average = output == "average"

    def run_uniform(view: ProblemView, queries: tuple, cfg: RunConfig) -> LearnerOutput:
        Z, y = _data_arrays(view, queries)
        params = _user_params(model, cfg, view)
        res = stream_checkpoints(model, params, Z, y, cfg.checkpoints, cfg.constants.lam,
                                 average=average)
        policies, out_sec = [], np.empty(cfg.checkpoints.shape[0])
        for k in range(cfg.checkpoints.shape[0]):
            pol, out_sec[k] = _timed_greedy(view, res["thetas"][k])
            policies.append(pol)
        return LearnerOutput(res["thetas"], policies, res["seconds"], out_sec, queries,
                             _omd_betas(cfg, view), conf_thetas=res["iterates"],
                             conf_inv=res["inverses"], info={"counters": res["counters"]})

    def run_max_norm(view: ProblemView, oracle: LabelOracle, cfg: RunConfig) -> LearnerOutput:
        T, d, c, r = cfg.T, view.d, cfg.constants, cfg.radius
        t_start = time.perf_counter()
        px, pa, pb, _, _, _, replacement = _pool(view, cfg, T)
        params = _user_params(model, cfg, view)
        state = init_state(model, d, T, params, c.lam)
        handle = model_handle(model)
        counters = np.zeros(len(COUNTERS), dtype=np.int64)
        used = np.zeros(px.shape[0], dtype=np.bool_)
        theta_sum = np.array(model.estimate(state), dtype=np.float64)
        bound_sum = np.zeros(1)
        sel, yv, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
        n = cfg.checkpoints.shape[0]
        thetas, iters, inverses = np.empty((n, d)), np.empty((n, d)), np.empty((n, d, d))
        bound, seconds, out_sec = np.empty(n), np.empty(n), np.empty(n)
        elapsed = time.perf_counter() - t_start
        policies, start = [], 0
        for k, t in enumerate(cfg.checkpoints):
            t0 = time.perf_counter()
            active_model_segment(handle, state, params, counters, view.phi, px, pa, pb, used,
                                 replacement, theta_sum, bound_sum, r.code, c.eta, c.lam,
                                 view.L, view.B, r.delta, r.c_beta, oracle.theta_star,
                                 oracle.label_u, oracle.link_code, start, int(t), sel, yv,
                                 norms)
            elapsed += time.perf_counter() - t0
            est = np.array(model.estimate(state), dtype=np.float64)
            iters[k], inverses[k] = est, np.array(model.inverse(state), dtype=np.float64)
            thetas[k] = theta_sum / (t + 1.0) if average else est
            policy, out_sec[k] = _timed_greedy(view, thetas[k])
            policies.append(policy)
            bound[k], seconds[k] = bound_sum[0] / t, elapsed
            start = int(t)
        queries = (px[sel], pa[sel], pb[sel], yv)
        return LearnerOutput(thetas, policies, seconds, out_sec, queries, _omd_betas(cfg, view),
                             conf_thetas=iters, conf_inv=inverses, active_bound=bound,
                             info={"widths": norms, "pool_size": int(px.shape[0]),
                                   "counters": {nm: int(v) for nm, v in zip(COUNTERS, counters)}})

    return run_uniform if selector == "uniform" else run_max_norm
