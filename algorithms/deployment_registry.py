"""Deployment-stage runner and the registry of deployment algorithms (ALGORITHMS.md 3.3).

    run_deployment(algorithm, env, T, seed, *, constants="practical", radius=Radius(),
                   checkpoints=None, **options) -> DeploymentResult

Every algorithm of a comparison sees the same contexts and label uniforms (common random
numbers: `sim.core.seeding.CommonRandomNumbers.draw(seed, T)`); algorithm-specific randomness
(CoLSTIM's Gumbel noise, the LLM strategies' candidate draws) comes from a fourth stream,
`spawn_streams(seed, ("contexts", "labels", "arms", "algorithm"))["algorithm"]`, drawn before
the loop starts. Memory: O(T) for the uniforms and contexts, plus O(T K) for CoLSTIM's noise,
O(T n) for the LLM candidate uniforms and O(T d) for the MLE's observations; the one-pass
models keep O(d^2) state. With checkpoints, records take O(number of checkpoints).

The options of each algorithm (its `defaults`): project (all; OMD: project onto the B-ball,
Algorithm 1 step 3; MLE: constrain the fit to the B-ball), gumbel_scale and c (CoLSTIM; c=None
uses beta_t), n, tau, policy and, for the quantile strategy, q (LLM strategies).

Registered algorithms (DEPLOYMENT_ALGORITHMS):

    algorithm4             the paper's Algorithm 4 on one-pass OMD (`algorithms.deployment`)
    dueling-rl-mle         Algorithm 4's rule on the MLE refit every round, with V_t
                           (Dueling-RL style, Saha et al. 2023)
    maxinp-mle             MaxInP (Saha 2021)
    colstim-mle            CoLSTIM (Bengs, Saha, Hullermeier 2022)
    random-pair-omd        a uniform random pair of distinct arms (OMD fitted for the error
                           columns)
    llm-<s>-<m>            LLM-practice strategy s in {best-worst, best-second, quantile, random}
                           with reward model m in {omd, mle} (`algorithms.llm_strategies`)

The MLE baselines' confidence sets use V_t with a radius of the practical form c_beta
sqrt(d log(1 + t/delta)); the theory radius is the reading of Lemma 1 for the one-pass OMD set
and is refused for them.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.core.checkpoints import log_checkpoints
from sim.environment import PreferenceEnv
from sim.feedback import context_cdf, draw_contexts
from sim.core.seeding import CRN_STREAMS, CommonRandomNumbers, as_seed_sequence, spawn_streams

from .confidence import Radius
from .constants import practical_constants, theory_constants
from .deployment_loop import (
    COUNTERS, MODELS, RECORD_COLUMNS, RULES, TRACE_COLUMNS, Accounting,
    LearnerConfig, LearnerState, Oracle, RoundInputs, deployment_segment,
)
from .llm_strategies import STRATEGIES, CandidateStrategy
from .mle import MLE_MAX_ITER, MLE_TOL
from .regret import (
    INSTANCE_BOUND_CONSTANT, InstanceBoundCheck, instance_bound_violations, new_ledger,
    per_round_regret,
)

DEPLOYMENT_STREAMS: tuple[str, ...] = (*CRN_STREAMS, "algorithm")
"""Stream names of a deployment run: the common random numbers, then the algorithm's own."""

TIMING_POINTS = 20
"""When every round is recorded, the wall time is measured at about this many log-spaced rounds."""

CONSTANT_KINDS = ("practical", "theory")


@dataclass(frozen=True)
class DeploymentAlgorithm:
    """A registered deployment algorithm: its pair rule, reward model and accepted options.

    Calling it runs `run_deployment` with its name.
    """

    name: str
    rule: str
    """Key of `deployment_loop.RULES`."""
    model: str
    """"omd" (one-pass, matrix Hcal_t) or "mle" (refit every round, matrix V_t)."""
    description: str
    defaults: dict = field(default_factory=dict)
    """Accepted options and their defaults."""
    strategy: str | None = None
    """The LLM-practice strategy (rule "llm" only)."""

    def __call__(self, env: PreferenceEnv, T: int, seed, **kwargs) -> "DeploymentResult":
        return run_deployment(self.name, env, T, seed, **kwargs)

    def resolve(self, options: dict) -> dict:
        """The defaults updated by `options`; ValueError naming any option it does not accept."""
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(f"{self.name} does not accept option(s) {', '.join(unknown)}; "
                             f"accepted: {', '.join(sorted(self.defaults)) or 'none'}")
        return {**self.defaults, **options}


def _registry() -> dict[str, DeploymentAlgorithm]:
    algs = [
        DeploymentAlgorithm("algorithm4", "algorithm4", "omd",
                            "the paper's Algorithm 4: greedy first arm, optimistic second arm "
                            "with 2 beta_t ||.||_{Hcal_t^-1}, one-pass OMD update",
                            {"project": True}),
        DeploymentAlgorithm("dueling-rl-mle", "algorithm4", "mle",
                            "Algorithm 4's rule on the MLE refit every round with V_t "
                            "(Dueling-RL style, Saha et al. 2023)", {"project": True}),
        DeploymentAlgorithm("maxinp-mle", "maxinp", "mle",
                            "MaxInP (Saha 2021): candidates not dominated under the confidence "
                            "set, pair of maximum ||phi_i - phi_j||_{V^-1}", {"project": True}),
        DeploymentAlgorithm("colstim-mle", "colstim", "mle",
                            "CoLSTIM (Bengs et al. 2022): Gumbel-perturbed first arm, "
                            "optimistic second arm with c ||.||_{V^-1}",
                            {"project": True, "gumbel_scale": 1.0, "c": None}),
        DeploymentAlgorithm("random-pair-omd", "random-pair", "omd",
                            "uniform random pair of distinct arms (OMD fitted for the error "
                            "columns only)", {"project": True}),
    ]
    for strategy in STRATEGIES:
        for model in MODELS:
            defaults = {"n": 16, "tau": 1.0, "policy": "softmax", "project": True}
            if strategy == "quantile":
                defaults["q"] = 4.0
            algs.append(DeploymentAlgorithm(
                f"llm-{strategy}-{model}", "llm", model,
                f"LLM-practice strategy {strategy}: n candidates from the current policy, ranked "
                f"by the learned reward; reward model {model}", defaults, strategy))
    return {a.name: a for a in algs}


DEPLOYMENT_ALGORITHMS: dict[str, DeploymentAlgorithm] = _registry()
"""Name -> runner of every deployment algorithm."""


def get_deployment_algorithm(name: str) -> DeploymentAlgorithm:
    """The registered algorithm of that name; ValueError listing the known names otherwise."""
    try:
        return DEPLOYMENT_ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown deployment algorithm {name!r}; known: "
                         f"{', '.join(DEPLOYMENT_ALGORITHMS)}") from None


@dataclass(frozen=True, eq=False)
class DeploymentResult:
    """What one deployment run produced."""

    algorithm: str
    records: pd.DataFrame
    """Tidy table: one row per round (checkpoints=None) or per log-spaced checkpoint; columns
    algorithm, t, regret (cumulative average-form regret), regret_weak, regret_strong,
    err_l2 and err_hcal (||theta_t - theta*|| in the 2-norm and in the norm of the learner's
    matrix Hcal_t or V_t, for the estimate that chose round t's pair), beta (beta_t),
    in_confidence_set (theta* in C_s for all s <= t), instance_bound (cumulative
    (7/2) sum_s beta_s ||z_s||_{M_s^-1}; NaN for rules the bound does not cover),
    same_arm_rounds (rounds s <= t with a'_s = a_s, where z_s = 0 and the model learns
    nothing), wall_time
    (seconds of loop time up to round t), wall_time_measured, and the configuration columns
    constants, radius, c_beta, delta, reward_model, confidence_matrix, project."""
    theta: np.ndarray
    """theta_{T+1}, the learner's final estimate."""
    rounds: pd.DataFrame | None
    """Per-round trace (checkpoints=None only): t, x, a, a2, y, regret, regret_weak,
    regret_strong, beta, width (||z_t||_{M_t^-1}), err_l2, err_hcal, in_set (this round)."""
    theta_path: np.ndarray | None
    """(T + 1, d) theta_1 = 0, ..., theta_{T+1} when run with keep_path=True."""
    config: dict
    """Everything that determines the run (algorithm, options, constants, radius, T, ...)."""
    counters: dict
    """Newton iterations and unconverged refits (MLE), active projections (OMD)."""

    def instance_bound_check(self,
                             constant: float = INSTANCE_BOUND_CONSTANT) -> InstanceBoundCheck:
        """regret_t <= constant beta_t ||z_t|| on every round with theta* in C_t (needs `rounds`)."""
        if self.rounds is None:
            raise ValueError("the per-round trace is kept only when checkpoints=None")
        r = self.rounds
        return instance_bound_violations(r["regret"], r["beta"], r["width"], r["in_set"],
                                         constant=constant)


def _check_T(T) -> int:
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ValueError(f"T (number of rounds) must be an int >= 1, got {T!r}")
    return int(T)


def _check_checkpoints(checkpoints) -> int | None:
    if checkpoints is None:
        return None
    if isinstance(checkpoints, bool) or not isinstance(checkpoints, numbers.Integral) or \
            checkpoints < 1:
        raise ValueError(f"checkpoints must be None (every round) or an int >= 1 (about that "
                         f"many log-spaced rounds), got {checkpoints!r}")
    return int(checkpoints)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_real(name: str, value, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (value <= 0 if positive else value < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


def run_deployment(algorithm: str, env: PreferenceEnv, T: int, seed, *,
                   constants: str = "practical", radius: Radius | None = None,
                   checkpoints: int | None = None, crn: CommonRandomNumbers | None = None,
                   keep_path: bool = False, oracle_rewards: np.ndarray | None = None,
                   **options) -> DeploymentResult:
    """Run a registered deployment algorithm for T rounds on env.

    constants: "practical" or "theory" eta and lambda (`algorithms.constants`). radius: the
    confidence radius (default Radius(): practical, c_beta = 1, delta = 0.05). checkpoints:
    None records every round (and keeps the per-round trace); an int n records about n
    log-spaced rounds (`sim.core.checkpoints.log_checkpoints`). crn: uniforms to use instead of
    CommonRandomNumbers.draw(seed, T) (must have T rounds); the algorithm stream still comes
    from seed. keep_path: also return theta_1..theta_{T+1}. options: the algorithm's own (see
    DEPLOYMENT_ALGORITHMS[name].defaults).
    """
    spec = get_deployment_algorithm(algorithm)
    if not isinstance(env, PreferenceEnv):
        raise ValueError(f"env must be a sim.PreferenceEnv, got {type(env).__name__}")
    T = _check_T(T)
    seed_seq = as_seed_sequence(seed)
    if constants not in CONSTANT_KINDS:
        raise ValueError(f"constants must be one of {', '.join(CONSTANT_KINDS)}, got {constants!r}")
    radius = Radius() if radius is None else radius
    if not isinstance(radius, Radius):
        raise ValueError(f"radius must be an algorithms.confidence.Radius, got {radius!r}")
    if spec.model == "mle" and radius.kind == "theory":
        raise ValueError(f"{spec.name}: the theory radius is the Lemma 1 reading for the one-pass "
                         "OMD confidence set; MLE baselines take a practical radius "
                         "(Radius('practical', c_beta=...))")
    n_ckpt = _check_checkpoints(checkpoints)
    keep_path = _check_bool("keep_path", keep_path)
    opts = spec.resolve(options)
    project = _check_bool("project", opts["project"])

    strategy = None
    if spec.rule == "llm":
        strategy = CandidateStrategy(spec.strategy, n=opts["n"], q=opts.get("q"),
                                     tau=opts["tau"], policy=opts["policy"])
    gumbel_scale, colstim_c = 0.0, math.nan
    if spec.rule == "colstim":
        gumbel_scale = _check_real("gumbel_scale", opts["gumbel_scale"], positive=False)
        if opts["c"] is not None:
            colstim_c = _check_real("c", opts["c"], positive=False)

    _, K, d = env.phi.shape
    if crn is None:
        crn = CommonRandomNumbers.draw(seed_seq, T)
    elif not isinstance(crn, CommonRandomNumbers) or crn.T != T:
        raise ValueError(f"crn must be a CommonRandomNumbers with T = {T} rounds")
    algo_rng = spawn_streams(seed_seq, DEPLOYMENT_STREAMS)["algorithm"]
    gumbel = algo_rng.gumbel(size=(T, K)) if spec.rule == "colstim" else np.empty((0, 0))
    cand_u = algo_rng.random((T, strategy.n)) if strategy is not None else np.empty((0, 0))
    x = draw_contexts(context_cdf(env.rho), crn.context_u)

    c = (theory_constants if constants == "theory" else practical_constants)(env.d, env.L, env.B)
    cfg = LearnerConfig(
        rule=RULES[spec.rule], model=MODELS[spec.model], eta=float(c.eta), lam=float(c.lam),
        B=float(env.B), project=project, L=float(env.L), radius_kind=radius.code,
        delta=float(radius.delta), c_beta=float(radius.c_beta), gumbel_scale=gumbel_scale,
        colstim_c=colstim_c, strategy=strategy.code if strategy else 0,
        quantile_rank=strategy.quantile_rank if strategy else 1,
        tau=strategy.tau if strategy else 1.0, policy=strategy.policy_code if strategy else 0,
        mle_tol=MLE_TOL, mle_max_iter=MLE_MAX_ITER)
    inputs = RoundInputs(phi=env.phi, x=x, arm_u=crn.arm_u, gumbel=gumbel, cand_u=cand_u)
    if oracle_rewards is None:
        true_rewards = np.ascontiguousarray(env.rewards())
    else:
        true_rewards = np.ascontiguousarray(oracle_rewards, dtype=np.float64)
        if true_rewards.shape != (env.n_x, env.K) or not np.all(np.isfinite(true_rewards)):
            raise ValueError(f"oracle_rewards must be a finite ({env.n_x}, {env.K}) array, got "
                             f"shape {true_rewards.shape}")
    oracle = Oracle(theta_star=env.theta_star, rewards=true_rewards,
                    label_u=crn.label_u, link_code=env.link_code)
    is_mle = spec.model == "mle"
    state = LearnerState(theta=np.zeros(d), Minv=np.eye(d) / c.lam,
                         Zh=np.zeros((T, d)) if is_mle else np.zeros((0, d)),
                         yh=np.zeros(T) if is_mle else np.zeros(0),
                         counters=np.zeros(len(COUNTERS), dtype=np.int64))
    every = n_ckpt is None
    timed = log_checkpoints(T, TIMING_POINTS if every else n_ckpt)
    n_rows = T if every else timed.shape[0]
    path = np.zeros((T + 1, d)) if keep_path else np.zeros((0, d))
    acc = Accounting(M=c.lam * np.eye(d), ledger=new_ledger(),
                     records=np.zeros((n_rows, len(RECORD_COLUMNS))),
                     arms=np.zeros((T if every else 0, 3), dtype=np.int64),
                     trace=np.zeros((T, 4)) if every else np.zeros((0, 4)), path=path)

    deployment_segment(0, 0, inputs, oracle, cfg, state, acc, every, 0)  # compile or load
    wall = np.empty(timed.shape[0])
    start = time.perf_counter()
    t_prev = 0
    for k, t_end in enumerate(timed):
        deployment_segment(t_prev, int(t_end), inputs, oracle, cfg, state, acc, every, k)
        wall[k] = time.perf_counter() - start
        t_prev = int(t_end)

    config = dict(algorithm=spec.name, rule=spec.rule, reward_model=spec.model,
                  options=dict(opts), constants=constants, eta=float(c.eta), lam=float(c.lam),
                  radius=radius.kind, delta=float(radius.delta), c_beta=float(radius.c_beta),
                  project=project, T=T, checkpoints=n_ckpt, env=env.name,
                  confidence_matrix="V" if is_mle else "Hcal", link=env.link)
    records = _records_frame(spec.name, acc.records, timed, wall, every, config)
    rounds = None
    if every:
        rounds = _rounds_frame(oracle.rewards, x, acc.arms, acc.trace)
    counters = {name: int(v) for name, v in zip(COUNTERS, state.counters)}
    return DeploymentResult(algorithm=spec.name, records=records, theta=state.theta.copy(),
                            rounds=rounds, theta_path=path if keep_path else None,
                            config=config, counters=counters)


def _records_frame(name: str, rows: np.ndarray, timed: np.ndarray, wall: np.ndarray,
                   every: bool, config: dict) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    df["t"] = df["t"].astype(np.int64)
    df["in_confidence_set"] = df["in_confidence_set"].astype(bool)
    df["same_arm_rounds"] = df["same_arm_rounds"].astype(np.int64)
    if every:
        # measured at the timed rounds; linear in t in between (flagged by wall_time_measured)
        df["wall_time"] = np.interp(df["t"].to_numpy(np.float64), np.r_[0.0, timed], np.r_[0.0, wall])
        df["wall_time_measured"] = np.isin(df["t"].to_numpy(), timed)
    else:
        df["wall_time"] = wall
        df["wall_time_measured"] = True
    df.insert(0, "algorithm", name)
    for col in ("constants", "radius", "c_beta", "delta", "reward_model", "confidence_matrix",
                "project"):
        df[col] = config[col]
    return df


def _rounds_frame(rewards: np.ndarray, x: np.ndarray, arms: np.ndarray,
                  trace: np.ndarray) -> pd.DataFrame:
    a, a2, y = (arms[:, k] for k in range(3))
    regret, weak, strong = per_round_regret(rewards, x, a, a2)
    df = pd.DataFrame({"t": np.arange(1, x.shape[0] + 1), "x": x, "a": a, "a2": a2, "y": y,
                       "regret": regret, "regret_weak": weak, "regret_strong": strong})
    for k, col in enumerate(TRACE_COLUMNS):
        df[col] = trace[:, k]
    df["in_set"] = df["err_hcal"] <= df["beta"]
    return df


__all__ = ["DEPLOYMENT_ALGORITHMS", "DEPLOYMENT_STREAMS", "DeploymentAlgorithm",
           "DeploymentResult", "get_deployment_algorithm", "run_deployment"]
