"""One experiment cell: build an environment from a plain config, run one algorithm of one
stage under one seed, return its tidy records. This is the function that sweeps
(`paper_repro.runner.run_sweep`) call for every cell of the synthetic studies.

A cell's config is a JSON-like dict (so that it can be hashed for the result store):

    {"stage": "training" | "deployment",
     "env": {"generator": "random_directions" | "shared_offset" | "kappa" |
                          "poor_coverage" | "informative_directions",
             "n_x": ..., "K": ..., "d": ..., "L": ..., "B": ..., "kappa": ..., "env_seed": ...,
             "link": "logistic" | "probit"},
     "T": ..., "checkpoints": ..., "constants": "practical" | "theory",
     "radius": {"kind": ..., "c_beta": ..., "delta": ...},
     "options": {...}            # passed to run_training / run_deployment
     "tags": {...}}              # copied into every row (e.g. the swept variable)

The environment depends on env_seed only, the run's randomness on the cell's seed only, so the
same environment is shared by every algorithm and seed of a study (common random numbers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from algorithms.confidence import Radius
from algorithms.registry import get as get_algorithm
from algorithms.registry import run
from sim.environment import PreferenceEnv
from sim.generators import kappa_env, random_directions_env, shared_offset_env
from sim.instances import informative_directions_env, poor_coverage_env

from .store import Cell

GENERATORS = ("random_directions", "shared_offset", "kappa", "poor_coverage",
              "informative_directions")
"""The generic generators, then the purpose-built instances of `sim.instances` on which the
theory predicts a difference (poor_coverage: fixed, n_x = 2, K = 3, d = 3, every size field
ignored; informative_directions: n_x - d filler contexts and d informative ones, B fixed)."""
STAGES = ("training", "deployment")


@dataclass(frozen=True)
class EnvConfig:
    """A synthetic environment, by generator and size."""

    generator: str = "random_directions"
    """One of GENERATORS."""
    n_x: int = 20
    """Number of contexts."""
    K: int = 10
    """Arms per context."""
    d: int = 5
    """Feature dimension."""
    L: float = 1.0
    """Feature-norm bound."""
    B: float = 2.0
    """Parameter-norm bound (ignored by the kappa generator, which sets B from kappa)."""
    kappa: float | None = None
    """Target global kappa (kappa generator only)."""
    env_seed: int = 0
    """Seed of the environment draw."""
    link: str = "logistic"
    """Label link: logistic (the model) or probit (misspecified)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RadiusConfig:
    """The confidence radius of a study (algorithms.confidence.Radius)."""

    kind: str = "practical"
    """"practical" (c_beta sqrt(d log(1 + t/delta))), "theory" (each algorithm's own paper's
    radius) or "calibrated" (the practical shape with c_beta fitted per algorithm,
    `paper_repro.calibration`)."""
    c_beta: float | None = 1.0
    """Scale of the practical radius; for "calibrated", None means "fit it" (the study's cells
    then carry each algorithm's fitted value)."""
    delta: float = 0.05
    """Failure probability of the confidence set."""
    t0: int = 0
    """Burn-in of the calibration (the maximum runs over t > t0)."""


@dataclass(frozen=True)
class StudyConfig:
    """One stage studied over T on one environment, for several algorithms and seeds."""

    stage: str
    """"training" or "deployment"."""
    env: EnvConfig
    """The environment (the same for every algorithm and seed)."""
    T: int
    """Samples (training) or rounds (deployment)."""
    algorithms: tuple[str, ...]
    """Registered algorithm names (or module:attribute of a user algorithm)."""
    seeds: int = 5
    """Repetitions; seed s is the cell seed, shared by all algorithms (common random numbers)."""
    checkpoints: int = 15
    """About this many log-spaced checkpoints per run."""
    constants: str = "practical"
    """eta and lambda: "practical" or "theory" (algorithms.constants)."""
    radius: RadiusConfig = field(default_factory=RadiusConfig)
    """The confidence radius beta_t."""
    options: tuple[tuple[str, object], ...] = ()
    """Extra options for every run (name, value) pairs, e.g. (("behaviour", "skewed"),)."""
    radius_mle: RadiusConfig | None = None
    """Radius for the MLE-based deployment baselines instead of `radius` (None: the same)."""
    calibrated: tuple[tuple[str, float], ...] = ()
    """Fitted c_beta per algorithm (name, c_beta) of a calibrated radius with c_beta None
    (`paper_repro.synthetic.calibrate_study` fills it)."""

    def cells(self, spec: str, tags: dict | None = None) -> list[Cell]:
        fitted = dict(self.calibrated)
        out = []
        for alg in self.algorithms:
            radius = self.radius
            if self.stage == "deployment" and self.radius_mle is not None \
                    and get_algorithm(alg).model == "mle":
                radius = self.radius_mle
            if radius.kind == "calibrated" and radius.c_beta is None:
                if alg not in fitted:
                    raise ValueError(f"{alg}: the calibrated radius has no fitted c_beta yet "
                                     "(paper_repro.synthetic.calibrate_study)")
                radius = replace(radius, c_beta=float(fitted[alg]))
            cfg = dict(stage=self.stage, env=self.env.to_dict(), T=self.T,
                       checkpoints=self.checkpoints, constants=self.constants,
                       radius=asdict(radius), options=dict(self.options), tags=dict(tags or {}))
            out += [Cell(spec, alg, cfg, s) for s in range(self.seeds)]
        return out


def build_env(cfg: dict | EnvConfig) -> PreferenceEnv:
    """The environment a config describes (ValueError for an unknown generator)."""
    c = EnvConfig(**cfg) if isinstance(cfg, dict) else cfg
    if c.generator == "random_directions":
        env = random_directions_env(c.n_x, c.K, c.d, L=c.L, B=c.B, seed=c.env_seed)
    elif c.generator == "shared_offset":
        env = shared_offset_env(c.n_x, c.K, c.d, L=c.L, B=c.B, seed=c.env_seed)
    elif c.generator == "kappa":
        if c.kappa is None:
            raise ValueError("the kappa generator needs a target kappa")
        env = kappa_env(c.kappa, c.n_x, c.K, c.d, L=c.L, seed=c.env_seed)
    elif c.generator == "poor_coverage":
        env = poor_coverage_env()
    elif c.generator == "informative_directions":
        if c.n_x <= c.d:
            raise ValueError(f"informative_directions needs n_x > d (n_x - d filler contexts), "
                             f"got n_x={c.n_x}, d={c.d}")
        env = informative_directions_env(n_fill=c.n_x - c.d, d=c.d, K=c.K, seed=c.env_seed)
    else:
        raise ValueError(f"unknown generator {c.generator!r}; known: {', '.join(GENERATORS)}")
    if c.link != "logistic":
        env = PreferenceEnv(env.phi, env.rho, env.theta_star, env.L, env.B, name=env.name,
                            link=c.link)
    return env


def _single_thread_in_workers() -> None:
    """In a sweep's worker process, compiled kernels use one thread: the sweep already runs one
    cell per core, and nested parallel regions would oversubscribe the cores."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        import numba

        numba.set_num_threads(1)


def run_cell(cell: Cell) -> pd.DataFrame:
    """Run one cell (module docstring) and return its records with the environment's kappa,
    its size and the cell's tags as extra columns."""
    cfg = cell.config
    _single_thread_in_workers()
    stage = cfg.get("stage")
    if stage not in STAGES:
        raise ValueError(f"cell config needs stage in {STAGES}, got {stage!r}")
    env = build_env(cfg["env"])
    radius = Radius(**cfg.get("radius", {}))
    common = dict(constants=cfg.get("constants", "practical"), radius=radius,
                  checkpoints=cfg.get("checkpoints", 20))
    alg = get_algorithm(cell.algorithm)
    if alg.training != (stage == "training"):
        raise ValueError(f"cell of stage {stage} names the {alg.stage} algorithm {alg.name}")
    res = run(alg, env, int(cfg["T"]), int(cell.seed), **common, **cfg.get("options", {}))
    df = res.records.copy()
    df["spec"] = cell.spec
    df["kappa_global"] = env.kappa_global()
    df["kappa_instance"] = env.kappa_instance()
    df["d"] = env.d
    df["K"] = env.K
    df["n_x"] = env.n_x
    df["B"] = env.B
    df["L"] = env.L
    for k, v in cfg.get("tags", {}).items():
        df[k] = v
    return df


def final_rows(df: pd.DataFrame, by: tuple[str, ...] = ("algorithm", "seed")) -> pd.DataFrame:
    """The last checkpoint of every run."""
    idx = df.groupby(list(by))["t"].idxmax()
    return df.loc[np.sort(idx.to_numpy())].reset_index(drop=True)
