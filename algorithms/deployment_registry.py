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

The options of each algorithm (`Algorithm.options`; every resolved value is recorded in the
`options` column, so each deviation from a paper is visible): project (all; OMD: project onto
the B-ball, Algorithm 1 step 3; MLE: constrain the fit to the B-ball), mle_stop (MLE models:
"statistical" or "exact", `algorithms.mle`), explore_rounds (MaxInP, CoLSTIM, Dueling RL: rounds
of uniform random pairs before the rule starts; None resolves to 2 d), perturbation,
gumbel_scale, threshold and c (CoLSTIM), n, tau, policy and, for the quantile strategy, q (LLM
strategies).

Registered algorithms (DEPLOYMENT_ALGORITHMS):

    algorithm4             the paper's Algorithm 4 on one-pass OMD (`algorithms.deployment`)
    dueling-rl-mle         Saha, Pacchiano, Lee (2023), Algorithm 1 on the MLE: the pair of
                           maximum width among potentially optimal arms (`algorithms.
                           dueling_baselines`); no exploration phase
    algorithm4-rule-mle    Algorithm 4's rule on the MLE refit every round, with V_t
    maxinp-mle             MaxInP (Saha 2021, Algorithm 1): exploration phase, then the widest
                           pair of non-dominated arms
    colstim-mle            CoLSTIM (Bengs, Saha, Hullermeier 2022, Algorithm 1): exploration
                           phase, clipped Gumbel perturbation scaled by ||phi_i||_{V^-1}
    random-pair-omd        a uniform random pair of distinct arms (OMD fitted for the error
                           columns)
    llm-<s>-<m>            LLM-practice strategy s in {best-worst, best-second, quantile, random}
                           with reward model m in {omd, mle} (`algorithms.llm_strategies`)

Radii (`algorithms.confidence`): every algorithm takes the three modes. The theory mode is
Lemma 1's radius for the one-pass model (Hcal_t) and the generalised-linear radius
`beta_glm` of the baselines' papers for the MLE models (V_t), with the global kappa of the
environment's features and B (Definition 2; it does not read theta*). Practical and
calibrated: c_beta sqrt(d log(1 + t/delta)) in the algorithm's own matrix.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sim.core.checkpoints import log_checkpoints
from sim.core.seeding import CRN_STREAMS, CommonRandomNumbers, as_seed_sequence, spawn_streams
from sim.environment import PreferenceEnv
from sim.feedback import context_cdf, draw_contexts

from .confidence import Radius
from .constants import practical_constants, theory_constants
from .deployment_loop import (
    MODELS,
    RECORD_COLUMNS,
    RULES,
    TRACE_COLUMNS,
    USER_RULE,
    Accounting,
    LearnerConfig,
    Oracle,
    RoundInputs,
    deployment_segment,
)
from .llm_strategies import STRATEGIES, CandidateStrategy
from .mle import MLE_MAX_ITER, MLE_STAT_RTOL, MLE_TOL
from .protocol import COUNTERS, RewardModel, init_state, model_handle
from .records import RunResult, conform, options_json, seed_fields
from .registry import Algorithm, Option, SelectionRule, StageView, get, register, rule_handle
from .regret import new_ledger, per_round_regret

DEPLOYMENT_STREAMS: tuple[str, ...] = (*CRN_STREAMS, "algorithm")
"""Stream names of a deployment run: the common random numbers, then the algorithm's own."""

TIMING_POINTS = 20
"""When every round is recorded, the wall time is measured at about this many log-spaced rounds."""

CONSTANT_KINDS = ("practical", "theory")


_PROJECT = Option("project", "bool", True,
                  "OMD: project onto the B-ball (Algorithm 1 step 3); MLE: constrain the fit to "
                  "the B-ball")


def _llm_options(strategy: str, model: str) -> tuple[Option, ...]:
    opts = [Option("n", "object", 16, "candidates drawn per round (int >= 2)"),
            Option("tau", "object", 1.0, "softmax temperature of the candidate policy (> 0)"),
            Option("policy", "object", "softmax", "candidate policy: softmax or uniform"),
            _PROJECT]
    if model == "mle":
        opts.append(_MLE_STOP)
    if strategy == "quantile":
        opts.insert(1, Option("q", "object", 4.0, "show the candidate at the top 1/q quantile"))
    return tuple(opts)


_MLE_STOP = Option("mle_stop", "choice", "statistical",
                   "MLE refits: stop at the statistical precision of the fit (one Newton pass "
                   "per round once warm) or at the exact step tolerance 1e-10 "
                   "(`algorithms.mle`)", choices=("statistical", "exact"))
_EXPLORE = Option("explore_rounds", "int", None,
                  "rounds of uniform random pairs before the rule starts (the paper's "
                  "exploration phase); None: 2 d", minimum=0, optional=True)


def _builtins() -> list[Algorithm]:
    algs = [
        Algorithm("algorithm4", "deployment", "algorithm4", "omd", "greedy",
                  "the paper's Algorithm 4: greedy first arm, optimistic second arm "
                  "with 2 beta_t ||.||_{Hcal_t^-1}, one-pass OMD update", (_PROJECT,),
                  builtin=True),
        Algorithm("dueling-rl-mle", "deployment", "maxinp", "mle", "greedy",
                  "Dueling RL (Saha, Pacchiano, Lee 2023, Algorithm 1): pair of maximum "
                  "||phi - phi'||_{V^-1} among the arms potentially optimal under the "
                  "confidence set, MLE refit every round",
                  (_PROJECT, _MLE_STOP, Option("explore_rounds", "int", 0,
                                    "rounds of uniform random pairs first (the paper has none)",
                                    minimum=0)),
                  variant={"rule_of": "Saha, Pacchiano, Lee 2023"}, builtin=True),
        Algorithm("algorithm4-rule-mle", "deployment", "algorithm4", "mle", "greedy",
                  "Algorithm 4's rule on the MLE refit every round with V_t (greedy first "
                  "arm, optimistic second arm with 2 beta_t ||.||_{V_t^-1})",
                  (_PROJECT, _MLE_STOP),
                  builtin=True),
        Algorithm("maxinp-mle", "deployment", "maxinp", "mle", "greedy",
                  "MaxInP (Saha 2021, Algorithm 1): exploration phase, then candidates not "
                  "dominated under the confidence set, pair of maximum ||phi_i - phi_j||_{V^-1}",
                  (_PROJECT, _MLE_STOP, _EXPLORE), variant={"rule_of": "Saha 2021"},
                  builtin=True),
        Algorithm("colstim-mle", "deployment", "colstim", "mle", "greedy",
                  "CoLSTIM (Bengs, Saha, Hullermeier 2022, Algorithm 1): exploration phase, "
                  "first arm with a clipped Gumbel perturbation scaled by ||phi_i||_{V^-1}, "
                  "optimistic second arm with c ||.||_{V^-1}",
                  (_PROJECT, _MLE_STOP, _EXPLORE,
                   Option("perturbation", "choice", "width",
                          "width: eps_i ||phi_i||_{V^-1} (the paper); fixed: eps_i alone, a "
                          "perturbation that never shrinks (not the paper)",
                          choices=("width", "fixed")),
                   Option("gumbel_scale", "object", 1.0,
                          "scale of the Gumbel perturbation before clipping (>= 0; 1 the "
                          "paper's, the logistic link's noise)"),
                   Option("threshold", "object", None,
                          "clipping threshold C_thresh (> 0, inf: none); None: sqrt(d log T)"),
                   Option("c", "object", None, "exploration coefficient c_1 (>= 0); None: "
                          "beta_t")),
                  builtin=True),
        Algorithm("random-pair-omd", "deployment", "random-pair", "omd", "greedy",
                  "uniform random pair of distinct arms (OMD fitted for the error "
                  "columns only)", (_PROJECT,), builtin=True),
    ]
    for strategy in STRATEGIES:
        for model in MODELS:
            algs.append(Algorithm(
                f"llm-{strategy}-{model}", "deployment", "llm", model, "greedy",
                f"LLM-practice strategy {strategy}: n candidates from the current policy, ranked "
                f"by the learned reward; reward model {model}", _llm_options(strategy, model),
                variant={"strategy": strategy}, builtin=True))
    return algs


for _alg in _builtins():
    register(_alg)

DEPLOYMENT_ALGORITHMS: Mapping[str, Algorithm] = StageView(("deployment",))
"""Name -> every registered deployment algorithm (a live view of `algorithms.registry`)."""
DeploymentAlgorithm = Algorithm
"""The registry's one algorithm type (kept as a name for the deployment stage)."""
DeploymentResult = RunResult
"""The one result type of both stages (`algorithms.records.RunResult`)."""


def get_deployment_algorithm(name: str | Algorithm) -> Algorithm:
    """The registered deployment algorithm of that name; ValueError listing the known names."""
    return get(name, "deployment")


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


def run_deployment(algorithm: str | Algorithm, env: PreferenceEnv, T: int, seed, *,
                   constants: str = "practical", radius: Radius | None = None,
                   checkpoints: int | None = None, crn: CommonRandomNumbers | None = None,
                   keep_path: bool = False, oracle_rewards: np.ndarray | None = None,
                   **options) -> RunResult:
    """Run a registered deployment algorithm for T rounds on env.

    Parameters
    ----------
    algorithm : str or Algorithm
        A name of the registry (`algorithms.registry.names("deployment")`), `module:attribute`
        of a user algorithm, or an `Algorithm`.
    env : sim.PreferenceEnv
        The environment; theta* enters only the label oracle and the accounting.
    T : int
        Rounds (>= 1).
    seed : int or numpy.random.SeedSequence
        Seed of the common random numbers and of the algorithm's own stream.
    constants : {"practical", "theory"}
        eta and lambda (`algorithms.constants`).
    radius : Radius, optional
        The confidence radius (default Radius(): practical, c_beta = 1, delta = 0.05).
    checkpoints : int, optional
        None records every round (and keeps the per-round trace); an int n records about n
        log-spaced rounds (`sim.core.checkpoints.log_checkpoints`).
    crn : CommonRandomNumbers, optional
        Uniforms to use instead of CommonRandomNumbers.draw(seed, T) (T rounds); the
        algorithm's own stream still comes from seed.
    keep_path : bool
        Also return theta_1..theta_{T+1}.
    oracle_rewards : (n_x, K) array, optional
        A reward table for the labels and the regret instead of phi' theta*.
    **options
        The algorithm's own (`Algorithm.options`).

    Returns
    -------
    RunResult
        records in `algorithms.records.schema("deployment")`.
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
    n_ckpt = _check_checkpoints(checkpoints)
    keep_path = _check_bool("keep_path", keep_path)
    opts = spec.resolve(options)
    project = _check_bool("project", opts.get("project", True))
    user_rule = isinstance(spec.selector, SelectionRule)
    user_model = isinstance(spec.model, RewardModel)

    strategy = None
    if spec.selector == "llm":
        strategy = CandidateStrategy(spec.variant["strategy"], n=opts["n"], q=opts.get("q"),
                                     tau=opts["tau"], policy=opts["policy"])
    _, K, d = env.phi.shape
    gumbel_scale, colstim_c, threshold, width_scaled = 0.0, math.nan, math.inf, True
    if spec.selector == "colstim":
        gumbel_scale = _check_real("gumbel_scale", opts["gumbel_scale"], positive=False)
        if opts["c"] is not None:
            colstim_c = _check_real("c", opts["c"], positive=False)
        if opts["threshold"] is None:
            opts["threshold"] = math.sqrt(d * math.log(max(T, 2)))
        threshold = float(opts["threshold"])
        if not (threshold > 0.0):
            raise ValueError(f"threshold must be > 0 (inf: no clipping), got {opts['threshold']!r}")
        width_scaled = opts["perturbation"] == "width"
    explore = 0
    if "explore_rounds" in opts:
        if opts["explore_rounds"] is None:
            opts["explore_rounds"] = 2 * d
        explore = int(opts["explore_rounds"])
    if crn is None:
        crn = CommonRandomNumbers.draw(seed_seq, T)
    elif not isinstance(crn, CommonRandomNumbers) or crn.T != T:
        raise ValueError(f"crn must be a CommonRandomNumbers with T = {T} rounds")
    algo_rng = spawn_streams(seed_seq, DEPLOYMENT_STREAMS)["algorithm"]
    gumbel = algo_rng.gumbel(size=(T, K)) if spec.selector == "colstim" else np.empty((0, 0))
    if strategy is not None:
        cand_u = algo_rng.random((T, strategy.n))
    elif isinstance(spec.selector, SelectionRule):
        cand_u = algo_rng.random((T, int(spec.selector.n_uniforms)))
    else:
        cand_u = np.empty((0, 0))
    x = draw_contexts(context_cdf(env.rho), crn.context_u)

    c = (theory_constants if constants == "theory" else practical_constants)(env.d, env.L, env.B)
    mle_tol = -MLE_STAT_RTOL if opts.get("mle_stop", "statistical") == "statistical" else MLE_TOL
    matrix = spec.model.matrix_name if isinstance(spec.model, RewardModel) else \
        ("V" if spec.model == "mle" else "Hcal")
    cfg = LearnerConfig(
        rule=USER_RULE if user_rule else RULES[spec.selector_name],
        model=-1 if user_model else MODELS[spec.model_name], eta=float(c.eta), lam=float(c.lam),
        B=float(env.B), project=project, L=float(env.L), radius_kind=radius.code_for(matrix),
        delta=float(radius.delta), c_beta=float(radius.c_beta), gumbel_scale=gumbel_scale,
        colstim_c=colstim_c, colstim_threshold=threshold, colstim_width=width_scaled,
        explore_rounds=explore, kappa=float(env.kappa_global()), strategy=strategy.code if strategy else 0,
        quantile_rank=strategy.quantile_rank if strategy else 1,
        tau=strategy.tau if strategy else 1.0, policy=strategy.policy_code if strategy else 0,
        mle_tol=mle_tol, mle_max_iter=MLE_MAX_ITER)
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
    model, mparams = _model_and_params(spec, c.eta, c.lam, env.B, env.L, project, mle_tol)
    mstate = init_state(model, d, T, mparams, float(c.lam))
    counters = np.zeros(len(COUNTERS), dtype=np.int64)
    every = n_ckpt is None
    timed = log_checkpoints(T, TIMING_POINTS if n_ckpt is None else n_ckpt)
    n_rows = T if every else timed.shape[0]
    path = np.zeros((T + 1, d)) if keep_path else np.zeros((0, d))
    acc = Accounting(ledger=new_ledger(), records=np.zeros((n_rows, len(RECORD_COLUMNS))),
                     arms=np.zeros((T if every or user_rule else 0, 3), dtype=np.int64),
                     trace=np.zeros((T if every or user_rule else 0, 4)), path=path)
    rule = rule_handle(spec.selector) if isinstance(spec.selector, SelectionRule) else cfg.rule
    handle = model_handle(model)

    deployment_segment(0, 0, inputs, oracle, cfg, rule, handle, mstate, mparams, counters, acc,
                       every, 0)  # compile or load
    wall = np.empty(timed.shape[0])
    start = time.perf_counter()
    t_prev = 0
    for k, t_end in enumerate(timed):
        deployment_segment(t_prev, int(t_end), inputs, oracle, cfg, rule, handle, mstate,
                           mparams, counters, acc, every, k)
        wall[k] = time.perf_counter() - start
        t_prev = int(t_end)
    if user_rule:
        _check_user_pairs(spec, acc.arms, K)

    theta = _final_estimate(model, mstate)
    s_int, s_key = seed_fields(seed)
    config = dict(algorithm=spec.name, stage="deployment", selector=spec.selector_name,
                  rule=spec.selector_name, reward_model=spec.model_name, output=spec.output,
                  options=dict(opts), constants=constants, eta=float(c.eta), lam=float(c.lam),
                  radius=radius.kind, delta=float(radius.delta), c_beta=float(radius.c_beta),
                  radius_t0=int(radius.t0),
                  project=project, T=T, checkpoints=n_ckpt, env=env.name,
                  confidence_matrix=matrix, link=env.link, seed=s_int, seed_key=s_key)
    records = _records_frame(spec.name, acc.records, timed, wall, every, config)
    rounds = None
    if every:
        rounds = _rounds_frame(oracle.rewards, x, acc.arms, acc.trace)
    counter_dict = {name: int(v) for name, v in zip(COUNTERS, counters)}
    return RunResult(algorithm=spec.name, stage="deployment", records=records, theta=theta,
                     config=config, counters=counter_dict, rounds=rounds,
                     theta_path=path if keep_path else None)


def _model_and_params(spec: Algorithm, eta: float, lam: float, B: float, L: float,
                      project: bool, mle_tol: float = MLE_TOL
                      ) -> tuple[int | RewardModel, np.ndarray]:
    """The loop's model (built-in code or user model) and its parameter vector."""
    if isinstance(spec.model, RewardModel):
        return spec.model, spec.model.make_params(eta, lam, B, L, project)
    if spec.model == "omd":
        return MODELS["omd"], np.array([eta, lam, B, 1.0 if project else 0.0])
    if spec.model == "mle":
        return MODELS["mle"], np.array([lam, B if project else np.inf, mle_tol,
                                        float(MLE_MAX_ITER)])
    raise ValueError(f"{spec.name}: reward model {spec.model!r} has no deployment loop; use omd, "
                     "mle or a RewardModel")


def _final_estimate(model: int | RewardModel, state: tuple) -> np.ndarray:
    if isinstance(model, RewardModel):
        theta = np.array(model.estimate(state), dtype=np.float64, copy=True)
    else:
        theta = state[0].copy()
    return theta


def _check_user_pairs(spec: Algorithm, arms: np.ndarray, K: int) -> None:
    a, a2 = arms[:, 0], arms[:, 1]
    bad = (a < 0) | (a >= K) | (a2 < 0) | (a2 >= K)
    if np.any(bad):
        t = int(np.flatnonzero(bad)[0]) + 1
        raise ValueError(f"{spec.name}: selection rule {spec.selector_name!r} returned arms "
                         f"({int(a[t - 1])}, {int(a2[t - 1])}) outside 0..{K - 1} in round {t}")


def _records_frame(name: str, rows: np.ndarray, timed: np.ndarray, wall: np.ndarray,
                   every: bool, config: dict) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    if every:
        # measured at the timed rounds; linear in t in between (flagged by wall_time_measured)
        df["wall_time"] = np.interp(df["t"].to_numpy(np.float64), np.r_[0.0, timed], np.r_[0.0, wall])
        df["wall_time_measured"] = np.isin(df["t"].to_numpy().astype(np.int64), timed)
    else:
        df["wall_time"] = wall
        df["wall_time_measured"] = True
    df["project"] = config["project"]
    return conform(df, "deployment", {**config, "options": options_json(config["options"])})


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
