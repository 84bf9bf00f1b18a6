"""Calibrated confidence radii: c_beta fitted per algorithm and environment family
(ALGORITHMS.md 6; `algorithms.confidence`, mode "calibrated").

    c_beta = the (1 - delta) quantile, over calibration runs, of
             max_{t > t0} ||theta_t - theta*||_{M_t} / sqrt(d log(1 + t / delta)),

M_t the algorithm's own confidence matrix and theta_t the centre of its set (the `err_hcal`
column of the records). The calibration runs use seeds disjoint from the evaluation seeds of
the studies: seed `CALIBRATION_SEED_OFFSET + s` for s = 0, 1, ... (the studies use 0, 1, ...).

When the algorithm's choices do not depend on the radius (passive algorithms, maximum-norm or
uniform active selection, random pairs, the LLM strategies), the iterates under c_beta = 1 are
those under any c_beta, and one pass gives the answer. Otherwise (Algorithm 4, MaxInP,
CoLSTIM, Dueling RL: their pairs use beta_t) the fit is iterated: run at c = 1, fit c_1, rerun at
c_1, fit c_2, ..., until |c_{k+1} - c_k| <= CALIBRATION_RTOL c_k or CALIBRATION_ROUNDS fits; the
last fit is returned. Every run is a normal sweep cell (spec "calibration") and is cached in the
result store when one is given, so a calibration is computed once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict

import numpy as np
import pandas as pd

from algorithms.registry import get as get_algorithm

from .cells import EnvConfig, RadiusConfig, run_cell
from .runner import run_sweep
from .store import Cell, ResultStore

CALIBRATION_SEED_OFFSET = 10_000
"""Calibration seeds are CALIBRATION_SEED_OFFSET + s (evaluation seeds are 0, 1, ...)."""
CALIBRATION_ROUNDS = 4
"""At most this many fits for algorithms whose choices depend on the radius."""
CALIBRATION_RTOL = 0.05
"""Relative change of c_beta below which the iteration stops."""
RADIUS_FREE_SELECTORS = ("behaviour", "uniform", "max-norm", "random-pair", "llm")
"""Selectors whose queries do not depend on the radius (one calibration pass suffices)."""


def calibration_seeds(seeds: int | Iterable[int]) -> list[int]:
    """The calibration seeds: CALIBRATION_SEED_OFFSET + s for s < seeds, or the given ones
    (which must be >= CALIBRATION_SEED_OFFSET, so that they never meet evaluation seeds)."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 2:
            raise ValueError(f"seeds must be >= 2 calibration runs, got {seeds!r}")
        return [CALIBRATION_SEED_OFFSET + s for s in range(int(seeds))]
    out = [int(s) for s in seeds]  # type: ignore[union-attr]
    if len(out) < 2 or min(out) < CALIBRATION_SEED_OFFSET:
        raise ValueError(f"calibration seeds must be >= 2 seeds, all >= {CALIBRATION_SEED_OFFSET}")
    return out


def c_beta_quantile(df: pd.DataFrame, delta: float, t0: int = 0) -> float:
    """The (1 - delta) quantile over runs (algorithm, seed) of
    max_{t > t0} err_hcal / sqrt(d log(1 + t/delta)) (method "higher": an observed run's value).

    With t0 = 0 it equals `theory_checks.checks.calibrate_c_beta(df, delta)`.
    """
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    sub = df[(df["t"] > t0) & df["err_hcal"].notna()]
    if sub.empty:
        raise ValueError(f"no recorded round t > t0 = {t0} with a confidence set")
    shape = np.sqrt(sub["d"] * np.log1p(sub["t"] / delta))
    need = (sub["err_hcal"] / shape).groupby([sub["algorithm"], sub["seed"]]).max()
    return float(np.quantile(need.to_numpy(), 1.0 - delta, method="higher"))


def calibration_cells(algorithm: str, env_config: EnvConfig | Mapping, T: int, *, seeds,
                      delta: float, c_beta: float, options: Mapping | None = None,
                      constants: str = "practical") -> list[Cell]:
    """The cells of one calibration pass at radius Radius("practical", c_beta, delta)."""
    alg = get_algorithm(algorithm)
    env = env_config.to_dict() if isinstance(env_config, EnvConfig) else dict(env_config)
    stage = "training" if alg.training else "deployment"
    cfg = dict(stage=stage, env=env, T=int(T),
               checkpoints=None if stage == "deployment" else 40, constants=constants,
               radius=asdict(RadiusConfig("practical", c_beta=float(c_beta), delta=delta)),
               options=dict(options or {}), tags=dict(calibration=True))
    return [Cell("calibration", alg.name, cfg, s) for s in calibration_seeds(seeds)]


def _run(cells: list[Cell], store: str | None, workers: int | None) -> pd.DataFrame:
    if store is None:
        return pd.concat([run_cell(c) for c in cells], ignore_index=True)
    return run_sweep(cells, run_cell, ResultStore(store), workers=workers, quiet=True,
                     label="calibration")


def calibrate_c_beta(algorithm: str, env_config: EnvConfig | Mapping, T: int, *,
                     seeds: int | Iterable[int], delta: float, t0: int,
                     options: Mapping | None = None, constants: str = "practical",
                     store: str | None = None, workers: int | None = None) -> float:
    """c_beta of the calibrated radius of `algorithm` on an environment family (module
    docstring).

    Parameters
    ----------
    algorithm : str
        A registered algorithm (or module:attribute).
    env_config : EnvConfig or dict
        The environment (`paper_repro.cells.EnvConfig`).
    T : int
        Rounds (deployment) or samples (training) of each calibration run.
    seeds : int or iterable of int
        Number of calibration runs (seeds CALIBRATION_SEED_OFFSET + s), or the seeds.
    delta : float
        Failure probability: the returned c_beta is the (1 - delta) quantile.
    t0 : int
        Burn-in: the maximum runs over rounds t > t0.
    options : dict, optional
        Options of the algorithm, as in a study.
    constants : {"practical", "theory"}
        eta and lambda of the runs.
    store : str, optional
        Result-store folder: the runs are cached there as sweep cells of spec "calibration".
    workers : int, optional
        Worker processes of the sweep (with a store).

    Returns
    -------
    float
        The fitted c_beta.
    """
    alg = get_algorithm(algorithm)
    fixed = alg.selector_name in RADIUS_FREE_SELECTORS
    c = 1.0
    for _ in range(1 if fixed else CALIBRATION_ROUNDS):
        cells = calibration_cells(alg.name, env_config, T, seeds=seeds, delta=delta, c_beta=c,
                                  options=options, constants=constants)
        fit = c_beta_quantile(_run(cells, store, workers), delta, t0)
        done = abs(fit - c) <= CALIBRATION_RTOL * c
        c = fit
        if done:
            break
    return float(c)


def default_store(out: str) -> str:
    """The store folder of a paper_repro output folder."""
    return os.path.join(out, "store")


__all__ = ["CALIBRATION_SEED_OFFSET", "c_beta_quantile", "calibrate_c_beta",
           "calibration_cells", "calibration_seeds"]
