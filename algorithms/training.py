"""The training stage as one call: `run_training(algorithm, env, T, seed, ...)`.

Passive data collection (ALGORITHMS.md 3.1; the paper's Algorithm 2 and baselines):

    passive-omd-pessimistic      one-pass OMD, then the exact pessimistic policy (Frank-Wolfe)
    passive-omd-lcb-proxy        one-pass OMD, then the per-context LCB proxy
    passive-omd-greedy           one-pass OMD, then greedy
    passive-mle-pessimistic-zhu  MLE with V_T and beta_Zhu (Zhu, Jordan, Jiao 2023), pessimistic
    passive-mle-greedy           MLE, then greedy
    passive-sgd-greedy           one-pass SGD, then greedy

Active data collection (ALGORITHMS.md 3.2; the paper's Algorithm 3 and baselines):

    active-omd     maximum ||z||_{Hcal^{-1}} selection + one-pass OMD, greedy on theta_bar
    apo            maximum ||z||_{V^{-1}} (unweighted) + MLE refit every round (Das et al. 2024,
                   Algorithm 1), output greedy on the final MLE theta_hat_{T+1} (their output
                   rule; output "last")
    apo-weighted   maximum norm in the sigma'-weighted MLE Hessian + MLE refit every round
    active-mle     the paper's selection (Hcal as in OMD) + MLE refit every round
    random-omd     uniform random pairs + one-pass OMD, greedy on theta_bar
    random-mle     uniform random pairs + MLE

Seeds and common random numbers: the contexts, arms and labels of the T rounds come from
`CommonRandomNumbers.draw(seed, T)`, the same for every algorithm; the held-out evaluation set
from the stream "eval" of the same seed (`training_metrics.draw_eval_set`).

The learners receive a `ProblemView` of the environment (features, context distribution,
bounds; no theta*) and either the data (passive and random selection) or the label oracle
(active selection, called inside the compiled loop). Metrics are computed afterwards from
the state saved at the checkpoints.

Records: one row per checkpoint t (after t samples) with

    subopt           SubOpt of the output policy, exact (`PreferenceEnv.suboptimality`)
    err_l2, err_v    ||theta - theta*|| in the Euclidean norm and in
                     V_t = lambda I + sum_{i <= t} z_i z_i', theta the estimate behind the
                     output policy (theta_{t+1}, theta_bar, the MLE or the SGD iterate)
    err_hcal         ||theta_c - theta*|| in the algorithm's confidence matrix M_t, theta_c the
                     centre of its confidence set: the OMD iterate theta_{t+1} (also for
                     active-omd and random-omd, whose output uses theta_bar) in Hcal_{t+1}, or
                     the MLE in V_t (passive MLE, apo, random-mle), in the weighted W_t
                     (apo-weighted) or in Hcal_{t+1} (active-mle); NaN for SGD
    beta_theory, beta_practical
                     the OMD radius beta_{t+1} of both kinds (`algorithms.confidence`)
    beta             the radius of that confidence set: beta_{t+1} of the chosen kind for the
                     OMD-based algorithms and the sigma'-weighted matrices (apo-weighted,
                     active-mle), beta_Zhu for the unweighted V (pessimistic MLE, apo,
                     random-mle), NaN for SGD
    in_confidence_set
                     err_hcal <= beta at that checkpoint; NA without a confidence set (SGD)
    instance_bound   passive pessimistic: 2 beta ||m(pi*) - v|| in the inverse confidence
                     matrix (Hcal_{t+1}^{-1}, or V_t^{-1} with beta_Zhu); maximum-norm active
                     selection: (1/t) sum_{s <= t} beta_s ||z_s|| in the inverse matrix used to
                     select (the paper's bound for active-omd, the same expression with the
                     algorithm's own matrix and radius for apo, apo-weighted, active-mle);
                     NaN for greedy/proxy outputs and random selection
    eval_loss, eval_acc, eval_acc_true
                     held-out mean BT log loss, agreement of sign(z'theta) with the labels and
                     with sign(z'theta*) (a zero margin counts 1/2)
    eval_acc_bayes   agreement of sign(z'theta*) itself with the held-out labels: the ceiling
                     that label noise puts on eval_acc (the same on every checkpoint of a run)
    fw_gap           certified Frank-Wolfe duality gap of a pessimistic output (NaN otherwise)
    wall_time        cumulative seconds of the learner's updates of rounds 1..t (for active
                     selection including the selection; metrics excluded)
    output_time      seconds to compute the output policy at t (the Frank-Wolfe solve of a
                     pessimistic output; for a run of T samples, wall_time + output_time at T
                     is the learner's whole cost)

plus the configuration: algorithm, stage, constants, radius, delta, c_beta, reference,
behaviour (the queries' source: the behaviour policy, "uniform" for random selection,
"active" for maximum-norm selection), seed, T, env.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import numpy as np

from sim.behaviour import (
    BEHAVIOURS,
    DEFAULT_SKEW_EPS,
    LoggedData,
    behaviour_marginal,
    behaviour_queries,
    behaviour_reference,
)
from sim.core.checkpoints import log_checkpoints
from sim.core.seeding import CommonRandomNumbers, SeedLike, as_seed_sequence
from sim.environment import PreferenceEnv

from . import active as act
from .confidence import Radius
from .constants import OMDConstants, practical_constants, theory_constants
from .mle import MLE_TOL
from .pessimism import FW_TOL
from .protocol import RewardModel
from .records import RunResult, conform, options_json, seed_fields
from .registry import TRAINING_STAGES, Algorithm, Option, StageView, get, register
from .training_metrics import checkpoint_records, draw_eval_set
from .training_runners import (
    TRAINING_FW_MAX_ITER,
    LabelOracle,
    ProblemView,
    RunConfig,
    active_mle_runner,
    active_omd_runner,
    passive_mle_runner,
    passive_omd_runner,
    passive_sgd_runner,
    random_mle_runner,
    random_omd_runner,
    user_active_runner,
    user_passive_runner,
)

REFERENCES = ("zero", "behaviour")
"""Reference vectors v of the pessimistic objective: 0 (the paper's literal form) or the
behaviour policy's mean feature."""


# --------------------------------------------------------------------------- registry

_OPT = {o.name: o for o in (
    Option("project", "bool", True, "keep the estimate in the B-ball (Algorithm 1 step 3)"),
    Option("fw_tol", "float", FW_TOL, "Frank-Wolfe duality-gap tolerance", positive=True),
    Option("fw_max_iter", "int", TRAINING_FW_MAX_ITER, "Frank-Wolfe iteration cap", minimum=1),
    Option("skew_eps", "float", DEFAULT_SKEW_EPS,
           "skewed behaviour: probability of showing an optimal arm", minimum=0.0),
    Option("c_zhu", "float", 1.0, "scale of the radius beta_Zhu of the unweighted V",
           positive=True),
    Option("mle_tol", "float", MLE_TOL, "Newton tolerance of the MLE refits", positive=True),
    Option("sgd_lr", "float", 1.0, "SGD learning rate", positive=True),
    Option("sgd_schedule", "choice", "inv_sqrt", "SGD step schedule: lr / sqrt(t) or constant",
           choices=("inv_sqrt", "constant")),
    Option("pool", "object", None, "query pool: (P, 3) int array of rows (x, a, a'); None: all "
           "pairs of contexts with rho_x > 0", optional=True),
    Option("replacement", "bool", True, "a pool pair may be queried more than once"),
    Option("pair_norms", "choice", "incremental", "pool norms by rank-one downdates "
           "(incremental) or recomputed every round", choices=("incremental", "recompute")),
)}


def _opts(*names: str) -> tuple[Option, ...]:
    return tuple(_OPT[n] for n in names)


_FW = ("fw_tol", "fw_max_iter")
_PASSIVE = ("skew_eps",)
_POOL = ("pool", "replacement")

USER_PASSIVE_OPTIONS = _opts("project", *_FW, *_PASSIVE)
"""Options of a passive algorithm with a user reward model."""
USER_ACTIVE_OPTIONS = _opts("project", *_POOL)
"""Options of an active algorithm with a user reward model."""


def _builtins() -> list[Algorithm]:
    def alg(name, stage, selector, model, output, options, description, **variant):
        return Algorithm(name, stage, selector, model, output, description, _opts(*options),
                         variant=variant, builtin=True)
    return [
        alg("passive-omd-pessimistic", "passive", "behaviour", "omd", "pessimistic",
            ("project", *_FW, *_PASSIVE),
            "Algorithm 2: one-pass OMD, exact pessimistic policy (Frank-Wolfe)"),
        alg("passive-omd-lcb-proxy", "passive", "behaviour", "omd", "lcb-proxy",
            ("project", *_PASSIVE),
            "one-pass OMD, per-context LCB (a proxy for the pessimistic policy)"),
        alg("passive-omd-greedy", "passive", "behaviour", "omd", "greedy",
            ("project", *_PASSIVE), "one-pass OMD, greedy policy"),
        alg("passive-mle-pessimistic-zhu", "passive", "behaviour", "mle", "pessimistic",
            ("c_zhu", "mle_tol", *_FW, *_PASSIVE),
            "pessimistic MLE of Zhu, Jordan, Jiao (2023): V_T and beta_Zhu"),
        alg("passive-mle-greedy", "passive", "behaviour", "mle", "greedy",
            ("c_zhu", "mle_tol", *_PASSIVE), "MLE, greedy policy"),
        alg("passive-sgd-greedy", "passive", "behaviour", "sgd", "greedy",
            ("sgd_lr", "sgd_schedule", *_PASSIVE), "one-pass SGD, greedy policy"),
        alg("active-omd", "active", "max-norm", "omd", "average",
            (*_POOL, "pair_norms", "project"),
            "Algorithm 3: maximum ||z||_{Hcal^-1} + one-pass OMD, greedy on theta_bar"),
        alg("apo", "active", "max-norm", "mle", "last", (*_POOL, "c_zhu", "mle_tol"),
            "APO (Das et al. 2024, Algorithm 1): maximum ||z||_{V^-1} (unweighted) + MLE refit "
            "every round; output greedy on the final MLE, as their Algorithm 1",
            mode=act.APO, matrix="V"),
        alg("apo-weighted", "active", "max-norm", "mle", "last", (*_POOL, "mle_tol"),
            "APO with the sigma'-weighted MLE Hessian + MLE refit every round",
            mode=act.APO_WEIGHTED, matrix="W"),
        alg("active-mle", "active", "max-norm", "mle", "last", (*_POOL, "mle_tol"),
            "the paper's selection (Hcal as in OMD) + MLE refit every round",
            mode=act.ACTIVE_MLE, matrix="Hcal"),
        alg("random-omd", "active", "uniform", "omd", "average", ("project",),
            "uniform random pairs + one-pass OMD, greedy on theta_bar"),
        alg("random-mle", "active", "uniform", "mle", "last", ("c_zhu", "mle_tol"),
            "uniform random pairs + MLE (refit at the checkpoints)"),
    ]


for _alg in _builtins():
    register(_alg)

TRAINING_ALGORITHMS: Mapping[str, Algorithm] = StageView(TRAINING_STAGES)
"""Name -> every registered training algorithm (a live view of `algorithms.registry`)."""
TrainingAlgorithm = Algorithm
"""The registry's one algorithm type (kept as a name for the training stage)."""
TrainingResult = RunResult
"""The one result type of both stages (`algorithms.records.RunResult`)."""


def _runner(algo: Algorithm) -> Callable:
    """The implementation of a training algorithm's (stage, selector, model, output) tuple."""
    if isinstance(algo.model, RewardModel):
        if algo.stage == "passive":
            return user_passive_runner(algo.model, algo.output)
        return user_active_runner(algo.model, algo.selector_name, algo.output)
    key = (algo.stage, algo.selector, algo.model)
    if key == ("passive", "behaviour", "omd"):
        return passive_omd_runner(algo.output)
    if key == ("passive", "behaviour", "mle"):
        return passive_mle_runner(algo.output)
    if key == ("passive", "behaviour", "sgd") and algo.output == "greedy":
        return passive_sgd_runner
    if key == ("active", "max-norm", "omd") and algo.output == "average":
        return active_omd_runner
    if key == ("active", "max-norm", "mle") and algo.output == "last":
        return active_mle_runner(algo.variant.get("mode", act.ACTIVE_MLE))
    if key == ("active", "uniform", "omd") and algo.output == "average":
        return random_omd_runner
    if key == ("active", "uniform", "mle") and algo.output == "last":
        return random_mle_runner
    raise ValueError(f"{algo.name}: no training loop for the built-in combination "
                     f"{algo.stage}/{algo.selector}/{algo.model}/{algo.output}; give a "
                     "RewardModel to run the generic loops")


def _queries_from_data(algo: Algorithm) -> bool:
    """Passive algorithms and uniform selection get their queries; max-norm selection asks
    the label oracle."""
    return algo.stage == "passive" or algo.selector == "uniform"


def get_training_algorithm(name: str | Algorithm) -> Algorithm:
    """The registered training algorithm of that name (or `module:attribute`); ValueError
    listing the known names otherwise."""
    return get(name, TRAINING_STAGES)


# ------------------------------------------------------------------------------ run


_WARM: set = set()


def _warm_kernels(algo: Algorithm) -> None:
    """Compile (or load from the cache) an algorithm's kernels once per process, so that the
    first checkpoint's wall time does not include it."""
    key = (algo.name, id(algo.model), id(algo.selector))
    if key in _WARM:
        return
    from sim.generators import random_directions_env

    env = random_directions_env(2, 3, 2, seed=0)
    _run_training(algo, env, 3, 0, checkpoints=np.array([1, 3]), n_eval=2)
    _WARM.add(key)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_checkpoints(checkpoints: np.ndarray, T: int) -> np.ndarray:
    """The checkpoint rounds, checked to increase strictly within [1, T], as int64."""
    c = np.asarray(checkpoints)
    if c.ndim != 1 or c.size == 0:
        raise ValueError("checkpoints must be a non-empty 1-d array of rounds")
    if not np.issubdtype(c.dtype, np.integer):
        if not np.all(c == np.round(c)):
            raise ValueError(f"checkpoints must be integer rounds, got {c!r}")
    c = c.astype(np.int64)
    if c[0] < 1 or c[-1] > T or np.any(np.diff(c) <= 0):
        raise ValueError(f"checkpoints must increase strictly within [1, T = {T}], got {c!r}")
    return c


def _constants(kind, d: int, L: float, B: float) -> OMDConstants:
    if isinstance(kind, OMDConstants):
        return kind
    if kind == "practical":
        return practical_constants(d, L, B)
    if kind == "theory":
        return theory_constants(d, L, B)
    raise ValueError(f"constants must be 'practical', 'theory' or an OMDConstants, got {kind!r}")


def run_training(algorithm: str | Algorithm, env: PreferenceEnv, T: int, seed: SeedLike, *,
                 constants: str | OMDConstants = "practical", radius: Radius = Radius(),
                 behaviour: str | LoggedData = "uniform", reference: str = "zero",
                 checkpoints: int | np.ndarray = 20, n_eval: int = 2000,
                 crn: CommonRandomNumbers | None = None, **options) -> TrainingResult:
    """Run one training-stage algorithm for T rounds and record its checkpoints.

    algorithm: a name of TRAINING_ALGORITHMS. constants: "practical" or "theory" (eta and
    lambda of `algorithms.constants`) or an OMDConstants. radius: the confidence radius beta_t.
    behaviour (passive algorithms): "uniform", "skewed" (option skew_eps, default 0.05) or a
    LoggedData (its first T samples). reference: "zero" (v = 0) or "behaviour" (v = the
    behaviour's mean feature, `sim.behaviour.behaviour_reference`). checkpoints: about that
    many log-spaced rounds (`sim.log_checkpoints`) or an explicit increasing array within
    [1, T] (T is appended when missing). n_eval: size of the held-out evaluation set (0: no
    evaluation, NaN metrics). crn: the uniforms to use instead of
    CommonRandomNumbers.draw(seed, T) (at least T rounds). options: per algorithm
    (TRAINING_ALGORITHMS[name].options), e.g. replacement=False, pair_norms="recompute",
    c_zhu=1.0, fw_tol=1e-8, sgd_lr=1.0, project=False.
    """
    algo = get_training_algorithm(algorithm)
    _warm_kernels(algo)
    return _run_training(algo, env, T, seed, constants=constants, radius=radius,
                         behaviour=behaviour, reference=reference, checkpoints=checkpoints,
                         n_eval=n_eval, crn=crn, **options)


def _run_training(algorithm, env, T, seed, *, constants="practical", radius=Radius(),
                  behaviour="uniform", reference="zero", checkpoints=20, n_eval=2000, crn=None,
                  **options) -> TrainingResult:
    algo = get_training_algorithm(algorithm)
    if not isinstance(env, PreferenceEnv):
        raise ValueError(f"env must be a PreferenceEnv, got {type(env).__name__}")
    T = _check_int("T", T, 1)
    n_eval = _check_int("n_eval", n_eval, 0)
    as_seed_sequence(seed)
    options = algo.resolve(options)
    if not isinstance(radius, Radius):
        raise ValueError(f"radius must be an algorithms.confidence.Radius, got {radius!r}")
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; known: {', '.join(REFERENCES)}")
    if not isinstance(behaviour, LoggedData) and behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)} "
                         "or a LoggedData")
    if algo.stage == "active" and not (isinstance(behaviour, str) and behaviour == "uniform"):
        raise ValueError(f"{algorithm!r} chooses its own queries: behaviour applies to passive "
                         "algorithms only")
    if isinstance(checkpoints, numbers.Integral) and not isinstance(checkpoints, bool):
        ck = log_checkpoints(T, _check_int("checkpoints", checkpoints, 1))
    else:
        ck = _check_checkpoints(checkpoints, T)
        if ck[-1] != T:
            ck = np.append(ck, T)
    if crn is None:
        crn = CommonRandomNumbers.draw(seed, T)
    elif not isinstance(crn, CommonRandomNumbers) or crn.T < T:
        raise ValueError("crn must be a CommonRandomNumbers with at least T rounds")
    elif crn.T > T:
        crn = CommonRandomNumbers(crn.context_u[:T], crn.label_u[:T], crn.arm_u[:T])
    eps = options.get("skew_eps", DEFAULT_SKEW_EPS)
    if isinstance(behaviour, LoggedData) and len(behaviour) > T:
        behaviour = LoggedData(behaviour.x[:T], behaviour.a[:T], behaviour.a2[:T],
                               behaviour.y[:T])

    if algo.stage == "passive":
        marginal = behaviour_marginal(env, behaviour, eps)
        v, v_x = behaviour_reference(env, marginal)
        behaviour_name = "logged" if isinstance(behaviour, LoggedData) else behaviour
    else:
        v, v_x = np.zeros(env.d), np.zeros((env.n_x, env.d))
        behaviour_name = "uniform" if _queries_from_data(algo) else "active"
    if reference == "zero":
        v, v_x = np.zeros(env.d), np.zeros((env.n_x, env.d))
    cfg = RunConfig(T, ck, _constants(constants, env.d, env.L, env.B), radius, v, v_x,
                    options)
    view = ProblemView.of(env)
    runner = _runner(algo)
    if _queries_from_data(algo):
        queries = behaviour_queries(env, behaviour if algo.stage == "passive" else "uniform",
                                    crn, eps)
        out = runner(view, queries, cfg)
    else:
        out = runner(view, LabelOracle(env.theta_star, crn.label_u, env.link_code), cfg)

    ev = draw_eval_set(env, seed, n_eval) if n_eval else None
    records = checkpoint_records(algo.name, algo.stage, env, cfg, out, ev)
    s_int, s_key = seed_fields(seed)
    config = dict(algorithm=algo.name, stage=algo.stage, selector=algo.selector_name,
                  reward_model=algo.model_name, output=algo.output,
                  confidence_matrix=_confidence_matrix(algo), constants=cfg.constants.kind,
                  eta=float(cfg.constants.eta), lam=float(cfg.constants.lam),
                  radius=radius.kind, delta=radius.delta, c_beta=radius.c_beta,
                  reference=reference, behaviour=behaviour_name, seed=s_int, seed_key=s_key,
                  T=T, env=env.name, options=dict(options))
    for key in ("reference", "behaviour"):
        records[key] = config[key]
    records = conform(records, "training", {**config, "options": options_json(options)})
    info = dict(out.info, config=config, radius=radius, eta=cfg.constants.eta,
                lam=cfg.constants.lam)
    return RunResult(algo.name, algo.stage, records, out.thetas[-1].copy(), config,
                     counters=dict(out.info.get("counters", {})), policy=out.policies[-1],
                     queries=out.queries, info=info)


def _confidence_matrix(algo: Algorithm) -> str:
    if isinstance(algo.model, RewardModel):
        return algo.model.matrix_name
    if algo.model == "sgd":
        return "none"
    if algo.model == "omd":
        return "Hcal"
    if algo.stage == "active" and algo.selector == "max-norm":
        return str(algo.variant.get("matrix", "V"))
    return "V"
