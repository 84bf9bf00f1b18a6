"""The paper's three experiments on real preference data with text-encoder features
(ALGORITHMS.md 3 and 5): passive one-pass training (Fig. 2), pool-based active selection
(Fig. 3's table) and multi-arm deployment (Fig. 4).

Learners see arrays only: pairs z = phi(x, a) - phi(x, b) with labels read from the data
(`oriented_pairs`), or, in deployment, labels drawn from an oracle outside the learner
(`judge_oracle`). No experiment here has a theta* for its training stage.

    passive_experiment     UltraFeedback train pairs in a seeded order, once, by SGD (the
                           released code's "MLE"), the full MLE and one-pass OMD
                           (`passive_training`); train/eval loss and accuracy at checkpoints
    active_experiment      Rand-MLE, Active-MLE, Rand-OMD and the paper's Active-OMD over a
                           pool of real pairs without replacement (`pool_active`); held-out
                           accuracy and loss, wall time
    deployment_experiment  AlpacaEval instructions x model answers, the Fig. 4 strategies with
                           MLE and OMD reward models under the judge and the semi-synthetic
                           oracles (`multiarm_deployment`)

Seeds: one SeedSequence per experiment; repetition r is its child r
(`sim.core.seeding.repetition_seeds`), and a repetition's children are, in order, the streams of
REPETITION_STREAMS: the training pairs (order and orientation), the eval pairs, and the
learner's own randomness (the random methods' query order).

Constants: the practical ones of `algorithms.constants` (eta = (1/2) log 2 + B L + 1,
lambda = 4 L^2). In the training experiments B is a declared DEFAULT_B, the OMD runs the
paper's practical version (no projection) and the MLE is unconstrained, as in the paper's LLM
experiments; the deployment runs take the registry's defaults (projection onto the ball of
radius B = ||theta|| of the semi-synthetic fit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algorithms.constants import OMDConstants, practical_constants
from algorithms.records import seed_fields
from sim.core.links import pair_log_loss_accuracy
from sim.core.seeding import SeedLike, repetition_seeds
from sim.real.bank import FeatureBank
from sim.real.oriented_pairs import PairSet, bank_pairs, orient, orientation_flips

from .judge_oracle import (
    JUDGE_CLIP,
    fit_reference_logistic,
    judge_rewards,
    reference_fit_gradient,
    reference_win_probability,
    semi_synthetic_env,
)
from .multiarm_deployment import (
    ORACLES,
    REWARD_MODELS,
    STRATEGIES,
    DeploymentOracle,
    deployment_oracles,
    deployment_run,
    principal_features,
    reference_win_rates,
    strategy_algorithm,
)
from .passive_training import (
    METHOD_LABELS,
    PASSIVE_METHODS,
    PassiveSettings,
    passive_curves,
    passive_estimates,
)
from .pool_active import ACTIVE_METHODS, PAPER_NAMES, ActiveOutcome, run_pool_active

DEFAULT_L = 1.0
"""Feature bound: banks are normalised to max ||phi|| = L."""
DEFAULT_B = 2.0
"""Declared bound on ||theta|| entering the practical eta (no projection is applied)."""
REPETITION_STREAMS: tuple[str, ...] = ("train", "eval", "learner")


def default_constants(d: int, L: float = DEFAULT_L, B: float = DEFAULT_B) -> OMDConstants:
    """The practical OMD constants for features of dimension d."""
    return practical_constants(d, L, B)


def _seed_column(seed: SeedLike) -> int:
    """The experiment seed as the tables record it (records.seed_fields: -1 for a
    SeedSequence); the repetition index has its own column, `repetition`."""
    return seed_fields(seed)[0]


def repetition_streams(seed: SeedLike, r: int) -> dict[str, np.random.SeedSequence]:
    """The seeds of REPETITION_STREAMS for repetition r of the experiment seed."""
    rep = repetition_seeds(seed, r + 1)[r]
    return dict(zip(REPETITION_STREAMS, repetition_seeds(rep, len(REPETITION_STREAMS))))


def _check_bank(bank: FeatureBank) -> None:
    if not isinstance(bank, FeatureBank):
        raise ValueError(f"bank must be a sim.real.FeatureBank, got {type(bank).__name__}")
    if bank.n_pairs == 0:
        raise ValueError("the bank has no pairs; the training experiments need labelled pairs "
                         "in splits 'train' and 'eval'")
    for split in ("train", "eval"):
        if split not in bank.splits:
            raise ValueError(f"the bank has no split {split!r}; splits: {', '.join(bank.splits)}")


def passive_experiment(bank: FeatureBank, *, seed: SeedLike = 0, repetitions: int = 1,
                       settings: PassiveSettings | None = None, train_limit: int | None = None,
                       checkpoints: int = 15, methods: tuple[str, ...] = PASSIVE_METHODS
                       ) -> pd.DataFrame:
    """Passive curves (`passive_training.passive_curves`) of each repetition: the train pairs
    shuffled and oriented by the repetition's "train" stream (the first train_limit of them),
    the eval pairs oriented by its "eval" stream. Adds columns repetition (index), seed (the
    experiment seed), d, eta, lam, sgd_lr."""
    _check_bank(bank)
    if settings is None:
        c = default_constants(bank.d)
        settings = PassiveSettings(eta=c.eta, lam=c.lam)
    frames = []
    for r in range(_check_count("repetitions", repetitions)):
        s = repetition_streams(seed, r)
        train = bank_pairs(bank, "train", s["train"], limit=train_limit)
        ev = bank_pairs(bank, "eval", s["eval"])
        df = passive_curves(train.Z, train.y, ev.Z, ev.y, settings, checkpoints=checkpoints,
                            methods=methods)
        frames.append(df.assign(repetition=r, seed=_seed_column(seed), d=bank.d,
                                eta=settings.eta, lam=settings.lam,
                                sgd_lr=settings.sgd_lr))
    return pd.concat(frames, ignore_index=True)


def active_experiment(bank: FeatureBank, *, budget: int, seed: SeedLike = 0,
                      repetitions: int = 5, pool_size: int | None = None,
                      methods: tuple[str, ...] = ACTIVE_METHODS, eta: float | None = None,
                      lam: float | None = None) -> pd.DataFrame:
    """Pool-based active selection (`pool_active.run_pool_active`), one row per (method,
    repetition): the pool is the first pool_size of the repetition's shuffled, oriented train
    pairs (all of them when None: then the active methods differ across repetitions only in
    tie-breaking), queried `budget` times without replacement; held-out accuracy and loss of
    the output estimate (theta_bar for the OMD methods, the final MLE otherwise) and of the
    last iterate, wall time, Newton iterations."""
    _check_bank(bank)
    c = default_constants(bank.d)
    eta = c.eta if eta is None else eta
    lam = c.lam if lam is None else lam
    unknown = [m for m in methods if m not in ACTIVE_METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be among {', '.join(ACTIVE_METHODS)}, got {methods!r}")
    rows = []
    for r in range(_check_count("repetitions", repetitions)):
        s = repetition_streams(seed, r)
        pool = bank_pairs(bank, "train", s["train"], limit=pool_size)
        if pool_size is not None and pool.n < pool_size:
            raise ValueError(f"pool_size {pool_size} exceeds the {pool.n} train pairs of the bank")
        ev = bank_pairs(bank, "eval", s["eval"])
        for method in methods:
            out = run_pool_active(method, pool.Z, pool.y, budget, s["learner"], eta=eta, lam=lam)
            loss, acc = pair_log_loss_accuracy(ev.Z, ev.y, out.theta)
            loss_last, acc_last = pair_log_loss_accuracy(ev.Z, ev.y, out.theta_last)
            rows.append(dict(method=method, algorithm=PAPER_NAMES[method], repetition=r,
                             seed=_seed_column(seed), budget=budget,
                             pool=pool.n, eval_acc=acc, eval_loss=loss, eval_acc_last=acc_last,
                             eval_loss_last=loss_last, wall_time=out.seconds,
                             newton_iterations=out.counters["newton_iterations"],
                             unconverged_refits=out.counters["unconverged_refits"],
                             d=bank.d, eta=float(eta), lam=float(lam)))
    return pd.DataFrame(rows)


def deployment_experiment(phi, phi_ref, p, *, T: int, seed: SeedLike = 0, repetitions: int = 1,
                          strategies: tuple[str, ...] = STRATEGIES,
                          models: tuple[str, ...] = REWARD_MODELS,
                          oracles: tuple[str, ...] = ORACLES, n: int = 16, q: float = 4.0,
                          lam_fit: float = 1.0, L: float = DEFAULT_L, points: int = 40
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(curves, summary, references): every strategy x reward model x oracle x repetition of
    `multiarm_deployment.deployment_run` on the table (phi (n_x, K, d), phi_ref (n_x, d),
    judge probabilities p (n_x, K)); all runs of a repetition share its seed, hence its
    contexts and label uniforms (common random numbers). references: per oracle, the win
    rates of the best arm and of a uniform arm, the oracle's instance kappa, and ||theta|| of
    the semi-synthetic fit (the B of both environments)."""
    T = _check_count("T", T)
    for name, given, known in (("strategies", strategies, STRATEGIES),
                               ("models", models, REWARD_MODELS), ("oracles", oracles, ORACLES)):
        if not given or any(g not in known for g in given):
            raise ValueError(f"{name} must be among {', '.join(known)}, got {given!r}")
    table = deployment_oracles(phi, phi_ref, p, L=L, lam_fit=lam_fit)
    curves, summary = [], []
    for r in range(_check_count("repetitions", repetitions)):
        rep = repetition_seeds(seed, r + 1)[r]
        for name in oracles:
            for strategy in strategies:
                for model in models:
                    curve, row = deployment_run(strategy, model, table[name], T, rep, n=n, q=q,
                                                points=points)
                    curves.append(curve.assign(repetition=r, seed=_seed_column(seed)))
                    summary.append({**row, "repetition": r, "seed": _seed_column(seed)})
    refs = []
    for name in oracles:
        o = table[name]
        refs.append(dict(oracle=name, **reference_win_rates(o), theta_fit_norm=o.env.B,
                         n_x=o.env.n_x, K=o.env.K, d=o.env.d))
    return (pd.concat(curves, ignore_index=True), pd.DataFrame(summary), pd.DataFrame(refs))


def _check_count(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    return int(v)


__all__ = [
    "ACTIVE_METHODS", "ActiveOutcome", "DEFAULT_B", "DEFAULT_L", "DeploymentOracle",
    "JUDGE_CLIP", "METHOD_LABELS", "ORACLES", "PAPER_NAMES", "PASSIVE_METHODS", "PairSet",
    "PassiveSettings", "REPETITION_STREAMS", "REWARD_MODELS", "STRATEGIES", "active_experiment",
    "bank_pairs", "default_constants", "deployment_experiment", "deployment_oracles",
    "deployment_run", "fit_reference_logistic", "judge_rewards", "orient", "orientation_flips",
    "pair_log_loss_accuracy", "passive_curves", "passive_estimates", "passive_experiment",
    "principal_features", "reference_fit_gradient", "reference_win_probability",
    "reference_win_rates", "repetition_streams", "run_pool_active", "semi_synthetic_env",
    "strategy_algorithm",
]
