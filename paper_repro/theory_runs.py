"""The experiments behind `python -m theory_checks`, at three scales, and the checks run on them.

Each experiment is a set of sweep cells (paper_repro.cells.run_cell) so that finished runs are
kept in a result store and an interrupted run resumes.

| part      | runs                                                                 | checks |
|-----------|----------------------------------------------------------------------|--------|
| coverage  | Algorithm 4 with the theory radius and with the practical one        | 1      |
| instance  | passive pessimistic OMD, active OMD, Algorithm 4: theory radius      | 2      |
| rates     | passive pessimistic OMD, active OMD, Algorithm 4: practical radius   | 3      |
| kappa     | passive pessimistic OMD against pessimistic MLE (Zhu) over kappa     | 4      |
| cost      | Algorithm 4 against Dueling-RL (MLE refit every round)               | 5      |

Only the theory radius is a claim of the paper (Lemma 1, in our reading): coverage with the
practical radius is reported, with the calibrated c_beta, not judged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pandas as pd

from algorithms.registry import get as get_algorithm
from paper_repro.cells import EnvConfig, RadiusConfig, StudyConfig, run_cell
from paper_repro.runner import run_sweep
from paper_repro.store import ResultStore
from theory_checks.checks import (
    calibrate_c_beta,
    cost_checks,
    coverage_checks,
    instance_checks_final,
    instance_checks_path,
    kappa_checks,
    rate_checks,
)
from theory_checks.verdicts import REPORT, Verdict

THEORY = RadiusConfig("theory", delta=0.05)
PRACTICAL = RadiusConfig("practical", c_beta=1.0, delta=0.05)


@dataclass(frozen=True)
class CheckScale:
    """Sizes of the theory-check experiments."""

    coverage_seeds: int
    """Runs per radius for the coverage frequency."""
    coverage_T: int
    instance_seeds: int
    rate_seeds: int
    rate_deploy_T: int
    """Horizon of the Algorithm 4 runs of the regret-rate check (long: the rate is asymptotic)."""
    passive_T: int
    active_T: int
    deploy_T: int
    kappas: tuple[float, ...]
    kappa_seeds: int
    kappa_T: int
    cost_T: int
    cost_seeds: int
    env: EnvConfig = EnvConfig(n_x=20, K=10, d=4, B=2.0)
    delta: float = 0.05


SCALES = {
    "quick": CheckScale(coverage_seeds=60, coverage_T=1_000, instance_seeds=10, rate_seeds=8,
                        rate_deploy_T=100_000, passive_T=20_000, active_T=2_000, deploy_T=4_000,
                        kappas=(5.0, 30.0, 200.0, 1_000.0), kappa_seeds=4, kappa_T=5_000,
                        cost_T=3_000, cost_seeds=2),
    "full": CheckScale(coverage_seeds=400, coverage_T=10_000, instance_seeds=50, rate_seeds=30,
                       rate_deploy_T=1_000_000, passive_T=1_000_000, active_T=20_000, deploy_T=100_000,
                       kappas=(5.0, 10.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0),
                       kappa_seeds=20, kappa_T=100_000, cost_T=20_000, cost_seeds=5),
    "tiny": CheckScale(coverage_seeds=6, coverage_T=100, instance_seeds=2, rate_seeds=2,
                       rate_deploy_T=400, passive_T=500, active_T=100, deploy_T=200, kappas=(5.0, 50.0, 500.0),
                       kappa_seeds=2, kappa_T=200, cost_T=300, cost_seeds=1,
                       env=EnvConfig(n_x=5, K=4, d=3, B=1.0)),
}


def _study(stage, env, T, algs, seeds, radius, checkpoints=12, **kw):
    return StudyConfig(stage, env, T, tuple(algs), seeds=seeds, checkpoints=checkpoints,
                       radius=radius, **kw)


SUBJECTS: dict[str, str] = {"passive": "passive-omd-pessimistic", "active": "active-omd",
                            "deployment": "algorithm4"}
"""The paper's algorithm of each stage: the subject of the coverage, instance and rate parts."""


def subjects(algorithms: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The algorithms each stage's checks run on: the paper's, then the given user algorithms
    (module:attribute or registered names) of that stage."""
    out = {stage: [name] for stage, name in SUBJECTS.items()}
    for a in algorithms:
        stage = get_algorithm(a).stage
        if a not in out[stage]:
            out[stage].append(a)
    return out


def cells_by_part(scale: str, algorithms: tuple[str, ...] = ()) -> dict[str, list]:
    """The sweep cells of every part, by part name; user algorithms join the coverage,
    instance and rate parts of their stage."""
    s = SCALES[scale]
    e = s.env
    subj = subjects(algorithms)
    parts = {}
    parts["coverage"] = (
        _study("deployment", e, s.coverage_T, subj["deployment"], s.coverage_seeds, THEORY,
               checkpoints=None).cells("theory-coverage", tags=dict(radius_name="theory"))
        + _study("deployment", e, s.coverage_T, subj["deployment"], s.coverage_seeds, PRACTICAL,
                 checkpoints=None).cells("theory-coverage", tags=dict(radius_name="practical")))
    parts["instance"] = (
        _study("training", e, s.passive_T, subj["passive"], s.instance_seeds, THEORY,
               options=(("behaviour", "skewed"),)).cells("theory-instance")
        + _study("training", e, s.active_T, subj["active"], s.instance_seeds, THEORY)
        .cells("theory-instance")
        + _study("deployment", e, s.deploy_T, subj["deployment"], s.instance_seeds, THEORY,
                 checkpoints=25).cells("theory-instance"))
    parts["rates"] = (
        _study("training", e, s.passive_T, subj["passive"], s.rate_seeds, PRACTICAL)
        .cells("theory-rates")
        + _study("training", e, s.active_T, subj["active"], s.rate_seeds, PRACTICAL)
        .cells("theory-rates")
        + _study("deployment", e, s.rate_deploy_T, subj["deployment"], s.rate_seeds, PRACTICAL,
                 checkpoints=25).cells("theory-rates"))
    kcells = []
    for k in s.kappas:
        env_k = replace(e, generator="kappa", kappa=k)
        kcells += _study("training", env_k, s.kappa_T,
                         ["passive-omd-pessimistic", "passive-mle-pessimistic-zhu"], s.kappa_seeds,
                         THEORY, checkpoints=4).cells("theory-kappa", tags=dict(kappa=k))
    parts["kappa"] = kcells
    parts["cost"] = (_study("deployment", e, s.cost_T, ["algorithm4", "dueling-rl-mle"],
                            s.cost_seeds, PRACTICAL, checkpoints=16).cells("theory-cost"))
    return parts


def run_part(cells, root: str, *, backend="local", workers=None, scheduler=None, quiet=True,
             label="") -> pd.DataFrame:
    return run_sweep(cells, run_cell, ResultStore(os.path.join(root, "store")), backend=backend,
                     workers=workers, scheduler=scheduler, quiet=quiet, label=label)


def verdicts_for(part: str, df: pd.DataFrame, delta: float) -> list[Verdict]:
    """The checks of one part on its table."""
    if part == "coverage":
        out = []
        for name, sub in df.groupby("radius_name", sort=False):
            vs = coverage_checks(sub, delta, f"{name}-radius")
            if name != "theory":  # a heuristic radius: reported, not judged
                vs = [replace(v, verdict=REPORT) if v.check.startswith("coverage") else v for v in vs]
            out += vs
        practical = df[df["radius_name"] == "practical"]
        for alg, sub in practical.groupby("algorithm", sort=False):
            c = calibrate_c_beta(sub, delta)
            out.append(Verdict(f"calibration[{alg}]", f"smallest c_beta with coverage 1 - delta "
                               f"(practical radius, delta = {delta:g})", c, float("nan"), REPORT,
                               "quantile 1 - delta over runs of max_t ||theta_t - theta*||_M / "
                               "sqrt(d log(1 + t/delta))"))
        return out
    if part == "instance":
        tr = df[df["stage"] != "deployment"]
        dep = df[df["stage"] == "deployment"]
        return (instance_checks_final(tr, "subopt", "theory-radius")
                + instance_checks_path(dep, "regret", "theory-radius"))
    if part == "rates":
        tr = df[df["stage"] != "deployment"]
        dep = df[df["stage"] == "deployment"]
        return (rate_checks(tr, "subopt", -0.5, "training")
                + rate_checks(dep, "regret", 0.5, "deployment", t_min_fraction=0.05))
    if part == "kappa":
        return kappa_checks(df, "subopt", "passive-omd-pessimistic",
                            "passive-mle-pessimistic-zhu", "passive")
    if part == "cost":
        return cost_checks(df, "deployment", flat_algs=("algorithm4",),
                           growing_algs=("dueling-rl-mle",))
    raise ValueError(f"unknown part {part!r}")


def run_checks(scale: str, out: str, algorithms: tuple[str, ...] = (), **sweep
               ) -> tuple[list[Verdict], dict[str, pd.DataFrame]]:
    """Run every part at `scale`, storing cells under out/store; returns verdicts and tables.
    algorithms: user algorithms (module:attribute) checked beside the paper's."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    verdicts, tables = [], {}
    for part, cells in cells_by_part(scale, tuple(algorithms)).items():
        df = run_part(cells, out, label=f"theory_checks:{part}", **sweep)
        tables[part] = df
        verdicts += verdicts_for(part, df, SCALES[scale].delta)
    return verdicts, tables
