"""What a scale costs, said before anything runs: `python -m paper_repro --scale S --estimate`.

Cost laws. A run of T rounds of one algorithm costs

    seconds(T) = c0 + sum_{t=1}^T (a + b t) = c0 + a T + b T (T + 1) / 2,

c0 the fixed part (environment, kappa, checkpoint evaluations), a the per-round cost of a
one-pass update and b the growth of an MLE refit on all t past samples (O(t d^2) per round,
so O(T^2) in all). b is fitted only for the algorithms that refit every round
(`refits_every_round`: the MLE deployment algorithms and the maximum-norm active MLE
learners); every other algorithm has b = 0 (one-pass models, and MLEs refit at log-spaced
checkpoints only). The coefficients are measured on this machine by short probe runs of the
cell itself (`paper_repro.cells.run_cell`, one compiled thread as in a sweep worker) at a few
hundred to a few thousand rounds (`PROBE_TS`), fitted by non-negative least squares, and
cached in OUT/estimate_costs.json under the code fingerprint (`paper_repro.fingerprint`), so
that a second estimate measures nothing. Probes depend on the algorithm, the stage, the
environment's shape (generator, n_x, K, d), the checkpoints, constants and options, not on the
seed, kappa or radius. A sweep cell also pays its synced write to the store and its reading
back (`CostModel.store_cost`, measured once).

Plans. `plan(spec, scale)` lists the runs a spec will make at a scale, from the same configs
the specs read (`paper_repro.synthetic`, `kappa_study`, `theory_runs`, `power`), without
running them, including the calibration passes of calibrated radii (`paper_repro.calibration`:
one pass for algorithms whose queries do not depend on the radius, at most
CALIBRATION_ROUNDS otherwise; passes already in the store are read from it to learn the
fitted constants, so the plan of a resumed run is exact, and the passes not yet run are
counted at their maximum: an upper bound). Cells already in the result store with the current
fingerprint cost nothing. Runs made in process (the power and checks parts of theory-checks)
are priced with the cost law of the built-in algorithm of the same stage and reward-model
family (their variants are copies of it through the open protocol) and run one after another.
Specs that are not made of runs the model can list (kwise, timing, the real-data specs) are
priced from the duration measured by the last run of that spec at that scale, recorded in the
same file (`record_duration`), else scaled from another scale by the ratio of their budgets,
else reported as not modelled.

Overhead. What a spec does beside its runs (tables, bootstrap intervals, figures, process and
compilation start-up) is learnt: a run through the command line records its measured duration
minus its predicted runs (`CostModel.record_overhead`), and later estimates of that spec add
it.

Wall time. The cells of one sweep run on W workers: the wall time of a sweep is the longest-
processing-time schedule of its cells on W workers (at most 4/3 of the optimum), stretched by
W / cores when W exceeds the cores, plus the measured start of a sweep (worker processes and
the store: `CostModel.sweep_start`) and the loading of its algorithms' compiled kernels in the
new workers (the warm-up probe beyond its law: `CostLaw.load`); sweeps, in-process runs and
specs follow one another.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from algorithms.registry import get as get_algorithm

from .store import Cell, ResultStore

COSTS_FILE = "estimate_costs.json"
"""The cache of measured cost laws and spec durations, in the output folder."""

PROBE_TS = {"linear": (250, 1_000, 4_000, 16_000, 64_000, 256_000),
            "quadratic": (125, 250, 500, 1_000, 2_000, 4_000, 8_000)}
"""Rounds of the probe runs of each law; the last three of those <= the run's T (<= T/2 for a
refitting law, whose cost is dominated by its longest probe) are measured (T/2 and T when T
is below them all), after a short warm-up run that compiles or loads the kernels. A law is
re-measured on a longer ladder when a run is more than EXTRAPOLATION times longer than its
longest probe and a longer probe exists."""
EXTRAPOLATION = 8.0

UNMODELLED_SPECS = ("kwise", "timing", "real-passive", "real-active", "real-deployment")
"""Specs priced from measured durations (module docstring)."""


# ------------------------------------------------------------------------------ laws

@dataclass(frozen=True)
class CostLaw:
    """seconds(T) = c0 + a T + b T (T + 1) / 2: per-round cost a + b t (module docstring)."""

    c0: float
    a: float
    b: float = 0.0
    points: tuple[tuple[int, float], ...] = ()
    """The measured (T, seconds) it was fitted on."""
    load: float = 0.0
    """Seconds a fresh process spends loading the algorithm's compiled kernels (the warm-up
    probe beyond its law): paid once per sweep by its new worker processes."""

    def seconds(self, T: float) -> float:
        T = float(T)
        return self.c0 + self.a * T + self.b * T * (T + 1.0) / 2.0

    @property
    def max_T(self) -> int:
        return max((int(t) for t, _ in self.points), default=0)

    def to_json(self) -> dict:
        return dict(c0=self.c0, a=self.a, b=self.b, points=[list(p) for p in self.points],
                    load=self.load)

    @classmethod
    def from_json(cls, d: dict) -> CostLaw:
        return cls(float(d["c0"]), float(d["a"]), float(d.get("b", 0.0)),
                   tuple((int(t), float(s)) for t, s in d.get("points", ())),
                   float(d.get("load", 0.0)))


def fit_cost_law(Ts: Sequence[float], seconds: Sequence[float], quadratic: bool) -> CostLaw:
    """Non-negative least squares fit of seconds(T) = c0 + a T [+ b T (T + 1) / 2] to measured
    totals (absolute errors: the longest probes, which decide the extrapolation, weigh most).
    ValueError for fewer points than coefficients
    (one point: c0 = 0 and a = seconds / T) or a non-finite, negative time."""
    from scipy.optimize import nnls

    T = np.asarray(Ts, dtype=float)
    s = np.asarray(seconds, dtype=float)
    if T.ndim != 1 or T.shape != s.shape or T.size == 0:
        raise ValueError(f"need matching 1-d rounds and seconds, got {T.shape} and {s.shape}")
    if not (np.all(np.isfinite(s)) and np.all(s >= 0) and np.all(T >= 1)):
        raise ValueError("rounds must be >= 1 and seconds finite and >= 0")
    points = tuple((int(t), float(v)) for t, v in zip(T, s))
    if T.size == 1:
        return CostLaw(0.0, float(s[0] / T[0]), 0.0, points)
    cols = [np.ones_like(T), T] + ([T * (T + 1.0) / 2.0] if quadratic else [])
    A = np.stack(cols, axis=1)
    scale = np.abs(A).max(axis=0)
    coef, _ = nnls(A / scale, s)
    coef = coef / scale
    return CostLaw(float(coef[0]), float(coef[1]), float(coef[2]) if quadratic else 0.0, points)


def refits_every_round(algorithm: str) -> bool:
    """Whether the algorithm refits an MLE on all past data every round (cost a + b t per
    round): the MLE-model deployment algorithms and the maximum-norm active MLE learners (APO,
    APO-weighted, Active-MLE); the MLE passive and random-pair learners refit at checkpoints."""
    alg = get_algorithm(algorithm)
    if alg.model_name != "mle":
        return False
    return alg.stage == "deployment" or (alg.stage == "active" and alg.selector_name == "max-norm")


def cost_key(cell: Cell) -> str:
    """What a cell's cost depends on: algorithm, stage, environment shape, checkpoints,
    constants, options (not the seed, kappa, B or the radius)."""
    cfg = cell.config
    env = {k: v for k, v in dict(cfg.get("env", {})).items()
           if k in ("generator", "n_x", "K", "d", "link")}
    return json.dumps(dict(algorithm=cell.algorithm, stage=cfg.get("stage"), env=env,
                           checkpoints=cfg.get("checkpoints"), constants=cfg.get("constants"),
                           options=cfg.get("options", {})), sort_keys=True, default=str)


def _probe_cell(cell: Cell, T: int) -> Cell:
    cfg = dict(cell.config)
    radius = dict(cfg.get("radius", {}))
    if radius.get("c_beta") is None or radius.get("kind") == "calibrated":
        radius = dict(kind="practical", c_beta=float(radius.get("c_beta") or 1.0),
                      delta=float(radius.get("delta", 0.05)))
    cfg.update(T=int(T), radius=radius, tags={})
    return Cell("estimate-probe", cell.algorithm, cfg, 0)


def probe_ts(T: int, quadratic: bool) -> list[int]:
    """The probe rounds for a run of T rounds (PROBE_TS)."""
    top = T / 2 if quadratic else T
    ladder = [t for t in PROBE_TS["quadratic" if quadratic else "linear"] if t <= top]
    if not ladder:
        return sorted({max(1, T // 2), max(1, T)})
    return ladder[-3:]


def _time_cell(cell: Cell) -> float:
    from .cells import run_cell

    t0 = time.perf_counter()
    run_cell(cell)
    return time.perf_counter() - t0


def _time_store(cell: Cell) -> float:
    """Seconds to store a cell's table (atomic, synced writes) and read it back, as a sweep
    does for every cell it computes."""
    import shutil
    import tempfile

    from .cells import run_cell

    table = run_cell(cell)
    folder = tempfile.mkdtemp(prefix="estimate-probe-")
    try:
        store = ResultStore(folder)
        t0 = time.perf_counter()
        store.save(cell, table)
        store.load(cell)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------ model

class CostModel:
    """Cost laws measured on this machine, cached in OUT/estimate_costs.json by fingerprint.

    `seconds(cell)` prices a cell (measuring its law first when `measure` and it is not
    cached); `known_seconds(cell)` prices it from the cache only (None when unknown), for
    progress bars."""

    def __init__(self, out: str | None, measure: bool = True,
                 log: Callable[[str], None] | None = None,
                 timer: Callable[[Cell], float] | None = None,
                 earlier_laws: bool = False) -> None:
        from .fingerprint import code_fingerprint

        self.path = os.path.join(out, COSTS_FILE) if out else None
        self.measure = measure
        self.log = log
        self.timer = timer if timer is not None else _time_cell
        self.fingerprint = code_fingerprint()
        self.laws: dict[str, CostLaw] = {}
        self.earlier: dict[str, CostLaw] = {}
        """Laws measured under another fingerprint: used instead of measuring when
        `earlier_laws` (a run's progress bars and prediction lines, not `--estimate`)."""
        self.use_earlier = earlier_laws
        self.durations: dict[str, dict[str, float]] = {}
        self.overheads: dict[str, dict[str, float]] = {}
        self.measured = 0
        if self.path and os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    data = json.load(f)
                laws = {k: CostLaw.from_json(v) for k, v in data.get("laws", {}).items()}
                self.earlier = {k: CostLaw.from_json(v)
                                for k, v in data.get("earlier_laws", {}).items()}
                if data.get("fingerprint") == self.fingerprint:
                    self.laws = laws
                else:
                    self.earlier.update(laws)
                self.durations = {str(k): {str(s): float(x) for s, x in v.items()}
                                  for k, v in data.get("durations", {}).items()}
                self.overheads = {str(k): {str(s): float(x) for s, x in v.items()}
                                  for k, v in data.get("overheads", {}).items()}
            except (OSError, ValueError, KeyError, TypeError):
                self.laws, self.durations, self.overheads = {}, {}, {}

    def save(self) -> None:
        if not self.path:
            return
        from .store import write_atomic

        data = dict(fingerprint=self.fingerprint,
                    laws={k: v.to_json() for k, v in sorted(self.laws.items())},
                    earlier_laws={k: v.to_json() for k, v in sorted(self.earlier.items())
                                  if k not in self.laws},
                    durations=self.durations, overheads=self.overheads)
        text = json.dumps(data, indent=1, sort_keys=True).encode()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        write_atomic(self.path, lambda f: f.write(text))

    def law(self, cell: Cell) -> CostLaw | None:
        """The cell's cost law, measured now when missing (or too short for its T)."""
        key = cost_key(cell)
        law = self.laws.get(key)
        T = int(cell.config.get("T", 1))
        quad = refits_every_round(cell.algorithm)
        if law is not None and not (T > EXTRAPOLATION * law.max_T
                                    and max(probe_ts(T, quad)) > law.max_T):
            return law
        if law is None and self.use_earlier and key in self.earlier:
            return self.earlier[key]
        if not self.measure:
            return law
        law = self._measure(cell, T, quad)
        self.laws[key] = law
        self.save()
        return law

    def _measure(self, cell: Cell, T: int, quad: bool) -> CostLaw:
        import numba

        ts = probe_ts(T, quad)
        if self.log:
            self.log(f"measuring {cell.algorithm} ({cell.config.get('stage')}, d = "
                     f"{cell.config.get('env', {}).get('d')}) at T = {ts}")
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # as in a sweep worker
        try:
            warm = min(ts[0], 100)
            first = self.timer(_probe_cell(cell, warm))  # compiles or loads the kernels
            secs = [self.timer(_probe_cell(cell, t)) for t in ts]
        finally:
            numba.set_num_threads(threads)
        self.measured += 1
        law = fit_cost_law(ts, secs, quad)
        return replace(law, load=max(0.0, first - law.seconds(warm)))

    def sweep_start(self, workers: int) -> float:
        """Seconds a sweep spends beside its cells' runs on `workers` worker processes
        (starting the processes, loading the compiled kernels in them, storing and reading
        the cells): a sweep of 2 W one-round cells, measured once and cached (0 for one
        worker, whose sweeps run in process)."""
        if workers <= 1:
            return 0.0
        key = f"sweep-start:{min(workers, os.cpu_count() or 1)}"
        law = self.laws.get(key) or (self.earlier.get(key) if self.use_earlier else None)
        if law is not None or not self.measure:
            return law.c0 if law is not None else 0.0
        import shutil
        import tempfile

        from .cells import EnvConfig, run_cell
        from .runner import run_sweep

        env = EnvConfig(n_x=5, K=4, d=3).to_dict()
        cfg = dict(stage="deployment", env=env, T=10, checkpoints=2, constants="practical",
                   radius=dict(kind="practical", c_beta=1.0, delta=0.05), options={}, tags={})
        cells = [Cell("estimate-probe", "dueling-rl-mle", cfg, s) for s in range(2 * workers)]
        folder = tempfile.mkdtemp(prefix="estimate-probe-")
        try:
            t0 = time.perf_counter()
            run_sweep(cells, run_cell, ResultStore(folder), workers=workers, quiet=True,
                      label="estimate-probe")
            sec = time.perf_counter() - t0
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.laws[key] = CostLaw(sec, 0.0, 0.0, ((1, sec),))
        self.save()
        return sec

    def store_cost(self) -> float:
        """Seconds a sweep spends storing and reading back one computed cell (median of three
        writes of a deployment table; measured once and cached)."""
        key = "store-cell"
        law = self.laws.get(key) or (self.earlier.get(key) if self.use_earlier else None)
        if law is not None or not self.measure:
            return law.c0 if law is not None else 0.0
        from .cells import EnvConfig

        cfg = dict(stage="deployment", env=EnvConfig().to_dict(), T=200, checkpoints=25,
                   constants="practical", radius=dict(kind="practical", c_beta=1.0, delta=0.05),
                   options={}, tags={})
        sec = float(np.median([_time_store(Cell("estimate-probe", "algorithm4", cfg, s))
                               for s in range(3)]))
        self.laws[key] = CostLaw(sec, 0.0, 0.0, ((1, sec),))
        self.save()
        return sec

    def seconds(self, cell: Cell) -> float:
        law = self.law(cell)
        return float("nan") if law is None else max(0.0, law.seconds(cell.config.get("T", 1)))

    def known_seconds(self, cell: Cell) -> float | None:
        """The cell's predicted seconds from cached laws only (None when none is cached)."""
        key = cost_key(cell)
        law = self.laws.get(key) or (self.earlier.get(key) if self.use_earlier else None)
        return None if law is None else max(0.0, law.seconds(cell.config.get("T", 1)))

    def record_duration(self, spec: str, scale: str, seconds: float) -> None:
        self.durations.setdefault(spec, {})[scale] = float(seconds)
        self.save()

    def record_overhead(self, spec: str, scale: str, seconds: float) -> None:
        """Record what a whole run of a spec took beyond its predicted runs (its analysis,
        figures, process start-ups): added to later estimates of the spec."""
        self.overheads.setdefault(spec, {})[scale] = max(0.0, float(seconds))
        self.save()

    def overhead(self, spec: str, scale: str) -> tuple[float, str]:
        got = self.overheads.get(spec, {})
        if scale in got:
            return got[scale], f"+ {got[scale]:.0f} s analysis measured by the last run"
        if got:
            other, sec = next(iter(got.items()))
            return sec, f"+ {sec:.0f} s analysis measured at {other}"
        return 0.0, ""


def record_duration(out: str, spec: str, scale: str, seconds: float) -> None:
    """Record the measured wall seconds of a spec at a scale in OUT/estimate_costs.json (the
    price of the specs the model cannot list: UNMODELLED_SPECS)."""
    CostModel(out, measure=False).record_duration(spec, scale, seconds)


# ------------------------------------------------------------------------------ plans

@dataclass
class CellCost:
    """One run a spec will make at a scale, and its predicted cost."""

    spec: str
    group: str
    """The sweep (or in-process part) it belongs to: sweeps follow one another."""
    algorithm: str
    rounds: int
    kind: str
    """"cell" (a sweep cell), "calibration" (a cell of a calibration pass), "in-process" (a run
    made outside the store) or "measured" (a whole spec priced by its measured duration)."""
    probe: Cell | None = None
    """The cell whose cost law prices it (None for "measured")."""
    cell: Cell | None = None
    """The exact cell (None while its config depends on calibration passes not yet run)."""
    stored: bool = False
    """Already in the result store with the current fingerprint: costs nothing."""
    serial: bool = False
    """Run in process, one after another (not on the workers)."""
    seconds: float = 0.0
    """Predicted CPU seconds (0 when stored)."""
    load: float = 0.0
    """Kernel loading of its algorithm in a fresh worker (`CostLaw.load`)."""
    ident: tuple = ()
    """(spec, algorithm, seed, tags) of a sweep cell, known even before its key is."""


@dataclass
class PlanContext:
    """What a plan reads: the result store, the user algorithms, the stale-reuse policy."""

    out: str
    algorithms: tuple[str, ...] = ()
    reuse_stale: bool = False
    _store: ResultStore | None = field(default=None, repr=False)

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            self._store = ResultStore(os.path.join(self.out, "store"))
        return self._store

    def is_stored(self, cell: Cell) -> bool:
        from .fingerprint import algorithm_fingerprint

        # look before opening the store: an estimate creates no folder
        if not os.path.exists(os.path.join(self.out, "store", cell.spec, f"{cell.key}.parquet")):
            return False
        fp = self.store.fingerprint(cell)
        if fp is False:
            return False
        return self.reuse_stale or fp == algorithm_fingerprint(cell.algorithm)

    def table(self, cell: Cell) -> pd.DataFrame | None:
        return self.store.load(cell) if self.is_stored(cell) else None


def _ident(cell: Cell) -> tuple:
    return (cell.spec, cell.algorithm, int(cell.seed),
            json.dumps(cell.config.get("tags", {}), sort_keys=True, default=str))


def _item(ctx: PlanContext, cell: Cell, group: str, kind: str, exact: bool = True) -> CellCost:
    stored = exact and ctx.is_stored(cell)
    return CellCost(cell.spec, group, cell.algorithm, int(cell.config.get("T", 0)), kind,
                    probe=cell, cell=cell if exact else None, stored=stored, ident=_ident(cell))


def _calibration(study, ctx: PlanContext, spec: str) -> tuple[list[CellCost], dict]:
    """The calibration passes of a study with a calibrated radius to fit (as
    `paper_repro.synthetic.calibrate_study` runs them) and the fitted constants known from the
    store (None for an algorithm whose passes are not all stored)."""
    from .calibration import (
        CALIBRATION_ROUNDS,
        CALIBRATION_RTOL,
        RADIUS_FREE_SELECTORS,
        c_beta_quantile,
        calibration_cells,
    )

    r = study.radius
    if r.kind != "calibrated" or r.c_beta is not None:
        return [], {}
    items: list[CellCost] = []
    fitted: dict[str, float | None] = dict(study.calibrated)
    for alg in study.algorithms:
        if alg in fitted:
            continue
        passes = 1 if get_algorithm(alg).selector_name in RADIUS_FREE_SELECTORS \
            else CALIBRATION_ROUNDS
        c: float | None = 1.0
        for i in range(passes):
            cells = calibration_cells(alg, study.env, study.T, seeds=max(study.seeds, 2),
                                      delta=r.delta, c_beta=c if c is not None else 1.0,
                                      options=dict(study.options), constants=study.constants)
            group = f"{spec}: calibration {alg} pass {i + 1}"
            new = [_item(ctx, x, group, "calibration", exact=c is not None) for x in cells]
            items += new
            if c is None:
                continue
            if not all(x.stored for x in new):
                c = None
                continue
            try:
                fit = c_beta_quantile(pd.concat([ctx.store.load(x) for x in cells],
                                                ignore_index=True), r.delta, r.t0)
            except ValueError as err:
                if "no recorded round" not in str(err):
                    raise
                c = 1.0
                break
            done = abs(fit - c) <= CALIBRATION_RTOL * c
            c = fit
            if done:
                break
        fitted[alg] = c
    return items, fitted


def _study_plan(study, ctx: PlanContext, spec: str, tags: dict | None,
                group: str) -> tuple[list[CellCost], list[CellCost]]:
    """(calibration items, evaluation items) of one StudyConfig."""
    cal, fitted = _calibration(study, ctx, spec)
    if fitted:
        known = tuple((a, float(fitted.get(a) or 1.0)) for a in study.algorithms)
        cells = replace(study, calibrated=known).cells(spec, tags=tags)
        ev = [_item(ctx, c, group, "cell", exact=fitted.get(c.algorithm) is not None)
              for c in cells]
    else:
        ev = [_item(ctx, c, group, "cell") for c in study.cells(spec, tags=tags)]
    return cal, ev


def _user(ctx: PlanContext, stage: str) -> tuple[str, ...]:
    return tuple(a for a in ctx.algorithms if get_algorithm(a).stage == stage)


def plan_passive(scale: str, ctx: PlanContext) -> list[CellCost]:
    from .synthetic import PASSIVE, with_algorithms

    cfg = PASSIVE[scale]
    extra = _user(ctx, "passive")
    base = with_algorithms(cfg.study, extra)
    panels = [(b, base, b) for b in cfg.behaviours]
    instance = getattr(cfg, "instance", None)  # the purpose-built poor-coverage panel
    if instance is not None:
        panels.append(("poor-coverage", with_algorithms(instance, extra), "skewed"))
    cal, ev = [], []
    for name, st, b in panels:
        study = replace(st, options=(("behaviour", b), ("reference", cfg.reference)))
        c, e = _study_plan(study, ctx, "passive-synthetic", dict(panel=name), "passive-synthetic")
        cal += c
        ev += e
    return cal + ev


def plan_active(scale: str, ctx: PlanContext) -> list[CellCost]:
    from .synthetic import ACTIVE, with_algorithms

    cfg = ACTIVE[scale]
    extra = _user(ctx, "active")
    panels = [("generic", with_algorithms(cfg.study, extra))]
    instance = getattr(cfg, "instance", None)  # the purpose-built informative-directions panel
    if instance is not None:
        panels.append(("informative-directions", with_algorithms(instance, extra)))
    cal, ev = [], []
    for name, study in panels:
        c, e = _study_plan(study, ctx, "active-synthetic", dict(panel=name), "active-synthetic")
        cal += c
        ev += e
    return cal + ev


def plan_deployment(scale: str, ctx: PlanContext) -> list[CellCost]:
    from .synthetic import DEPLOYMENT, with_algorithms

    cfg = DEPLOYMENT[scale]
    study = with_algorithms(cfg.study, _user(ctx, "deployment"))
    spec = "deployment-synthetic"
    cal, ev = _study_plan(study, ctx, spec, dict(panel=study.radius.kind), spec)
    # the other radius modes run a subset of the algorithms when the config names one
    subset = getattr(cfg, "other_radii_algorithms", None)
    for r in cfg.other_radii:
        algs = study.algorithms if subset is None else \
            tuple(a for a in study.algorithms if a in subset)
        c, e = _study_plan(replace(study, radius=r, algorithms=algs), ctx, spec,
                           dict(panel=r.kind), spec)
        cal += c
        ev += e
    return cal + ev


def plan_dimension(scale: str, ctx: PlanContext) -> list[CellCost]:
    from .synthetic import DIMENSION, with_env

    cfg = DIMENSION[scale]
    cal: list[CellCost] = []
    ev: list[CellCost] = []
    for d in cfg.dims:
        for st in (cfg.passive, cfg.deployment):
            c, e = _study_plan(with_env(st, d=d), ctx, "dimension-sweep", dict(dim=d),
                               "dimension-sweep")
            cal += c
            ev += e
    return cal + ev


def plan_kappa(scale: str, ctx: PlanContext) -> list[CellCost]:
    from . import kappa_study as ks
    from .calibration import CALIBRATION_RTOL

    cfg = ks.KAPPA_STUDY[scale]
    out: list[CellCost] = []
    ev: list[CellCost] = []
    for st in cfg.stages:
        seeds = range(cfg.calibration_seed_offset,
                      cfg.calibration_seed_offset + cfg.calibration_seeds)
        rounds = 1 if st.stage == "training" else cfg.calibration_rounds
        ck = st.calibration_checkpoints if st.stage == "training" else None
        c: dict | None = {(a, float(k)): cfg.pilot_c_beta for a in st.algorithms
                          for k in cfg.kappas}
        keys = [(a, float(k)) for a in st.algorithms for k in cfg.kappas]
        for i in range(rounds):
            group = f"kappa-sweep: calibration {ks.STAGE_LABELS[st.stage]} pass {i + 1}"
            cells = [ks._cell(st, a, k, s, (c or {}).get((a, k), 1.0), cfg.delta, ck,
                              "calibration") for (a, k) in keys for s in seeds]
            items = [_item(ctx, x, group, "calibration", exact=c is not None) for x in cells]
            out += items
            if c is None:
                continue
            if not all(x.stored for x in items):
                c = None
                continue
            rec = pd.concat([ctx.store.load(x) for x in cells], ignore_index=True)
            fit = ks.calibrate(rec, cfg.delta, cfg.t0(st))
            new = {(str(a), float(k)): float(v)
                   for a, k, v in zip(fit["algorithm"], fit["kappa"], fit["c_fit"])}
            done = all(abs(new[key] - c[key]) <= CALIBRATION_RTOL * c[key] for key in c)
            c = new
            if done:
                break
        ev += [_item(ctx, ks._cell(st, a, k, s, (c or {}).get((a, float(k)), 1.0), cfg.delta,
                                   st.checkpoints, "evaluation", cfg.t0(st)),
                     "kappa-sweep", "cell", exact=c is not None)
               for a in st.algorithms for k in cfg.kappas for s in range(cfg.seeds)]
    return out + ev


def _proxy_cell(spec: str, stage: str, alg: str, n_x: int, K: int, d: int, B: float, T: int,
                checkpoints: int | None, constants: str = "practical") -> Cell:
    from .cells import EnvConfig

    cfg = dict(stage="deployment" if stage == "deployment" else "training",
               env=EnvConfig(n_x=n_x, K=K, d=d, B=B).to_dict(), T=int(T), checkpoints=checkpoints,
               constants=constants, radius=dict(kind="practical", c_beta=1.0, delta=0.05),
               options={}, tags={})
    return Cell(spec, alg, cfg, 0)


_PROXY = {"passive": "passive-omd-pessimistic", "active": "active-omd",
          "deployment": "algorithm4"}
"""The built-in algorithm whose cost law prices an in-process run of a variant (module
docstring)."""


def _power_runs(scale: str, chosen: Iterable[tuple[str, str, str]], group: str,
                with_mle_errors: bool) -> list[CellCost]:
    """The runs `paper_repro.power._Runner.stage_verdicts` makes for each (name, stage, proxy
    algorithm), read from POWER_SCALES."""
    from sim.instances import informative_directions_env

    from .power import POWER_SCALES

    s = POWER_SCALES[scale]
    act = informative_directions_env()
    spec = "theory-checks"
    out: list[CellCost] = []

    def add(name: str, stage: str, alg: str, T: int, n: int, ck, constants="practical") -> None:
        shape = (act.n_x, act.K, act.d, float(act.B)) if stage == "active" \
            else (s.n_x, s.K, s.d, s.B)
        probe = _proxy_cell(spec, stage, alg, *shape, T, ck, constants)
        out.extend(CellCost(spec, group, name, int(T), "in-process", probe=probe, serial=True)
                   for _ in range(n))

    mle_done = False
    for name, stage, proxy in chosen:
        T = {"deployment": s.deploy_T, "passive": s.passive_T, "active": s.active_T}[stage]
        ck = {"deployment": None, "passive": 8, "active": 5}[stage]
        passes = 2 if stage == "deployment" else 1
        add(name, stage, proxy, T, s.calibration_seeds * passes, ck)
        add(name, stage, proxy, T, s.seeds, ck)
        if stage == "deployment":
            add(name, stage, proxy, s.rate_deploy_T, s.seeds, 16)
            add(name, stage, proxy, s.deploy_T, s.seeds, None, "theory")
        elif stage == "passive":
            add(name, stage, proxy, s.rate_passive_T, s.seeds, 12)
            if with_mle_errors and not mle_done:
                add("passive-mle-greedy", stage, "passive-mle-greedy", s.passive_T, s.seeds, 1)
                mle_done = True
        else:
            add(name, stage, proxy, s.active_T, 3 * s.seeds, 1)
            add(name, stage, "random-omd", s.active_T, 3 * s.seeds, 1)
    return out


def plan_theory_checks(scale: str, ctx: PlanContext) -> list[CellCost]:
    from theory_checks.variants import variants

    from .power import POWER_SCALES
    from .theory_runs import cells_by_part, subjects

    out: list[CellCost] = []
    # every variant is the one-pass OMD through the open protocol (theory_checks.variants)
    chosen = [(v.name, stage, _PROXY[stage]) for v in variants() for stage in v.stages]
    out += _power_runs(scale, chosen, "theory-checks: power (in process)", True)
    subj = [(name, stage, name if ":" not in name else _PROXY[stage])
            for stage, names in subjects(tuple(ctx.algorithms)).items() for name in names]
    out += _power_runs(scale, subj, "theory-checks: checks (in process)", True)
    for part, cells in cells_by_part(scale).items():
        out += [_item(ctx, c, f"theory_checks:{part}", "cell") for c in cells]
    s = POWER_SCALES[scale]
    for alg, T in (("algorithm4", s.deploy_T), ("dueling-rl-mle", min(s.deploy_T, 2_000))):
        probe = _proxy_cell("theory-checks", "deployment", alg, s.n_x, s.K, s.d, s.B, T, 4)
        out.append(CellCost("theory-checks", "theory-checks: cost counts (in process)", alg, T,
                            "in-process", probe=probe, serial=True))
    return out


def _work_kwise(scale: str) -> float:
    from .kwise import SCALES

    c = SCALES[scale]
    return float(sum(c.ms) * c.T * c.seeds * len(c.estimators) * c.d ** 2
                 + sum(c.active_ms) * c.active_T ** 2 * c.seeds * c.d ** 2
                 + sum(c.active_ms) * c.deploy_T * c.seeds * c.d ** 2
                 + (c.bench_T * len(c.bench_ms) * 3 + c.stream_T) * 64)


_TIMING_BUDGETS: dict[str, tuple[int, float, int, tuple[int, ...], tuple[int, ...]]] = {
    "quick": (4, 2.0e8, 1_000_000, (100, 1_000, 10_000, 30_000), (10_000, 1_000_000)),
    "full": (4, 1e9, 10_000_000, (100, 1_000, 10_000, 100_000, 300_000),
             (10_000, 1_000_000, 10_000_000)),
    "tiny": (2, 1e5, 20_000, (50, 500), (1_000, 10_000)),
}
"""(dimensions, updates budget, stream T, MLE refit sizes, memory T's) of the timing spec's
TimingConfig at each scale, as `paper_repro.specs` writes them inside its run function (not
readable from outside it: mirrored here)."""


def _work_timing(scale: str) -> float:
    dims, budget, stream_T, mle_ts, memory_Ts = _TIMING_BUDGETS[scale]
    return float(6 * budget * dims + 64 * stream_T + 20 * 64 * sum(mle_ts) + 64 * sum(memory_Ts))


_WORK: dict[str, Callable[[str], float]] = {"kwise": _work_kwise, "timing": _work_timing}


def plan_measured(spec: str) -> Callable[[str, PlanContext], list[CellCost]]:
    """The plan of a spec the model cannot list: one item, priced by measured durations."""
    def plan(scale: str, ctx: PlanContext) -> list[CellCost]:
        return [CellCost(spec, spec, "(whole spec)", 0, "measured", serial=True)]
    return plan


PLANNERS: dict[str, Callable[[str, PlanContext], list[CellCost]]] = {
    "theory-checks": plan_theory_checks,
    "passive-synthetic": plan_passive,
    "active-synthetic": plan_active,
    "deployment-synthetic": plan_deployment,
    "kappa-sweep": plan_kappa,
    "dimension-sweep": plan_dimension,
    **{s: plan_measured(s) for s in UNMODELLED_SPECS},
}
"""spec -> plan(scale, context): the runs the spec makes at a scale."""


def plan(spec: str, scale: str, out: str = "repro_out", algorithms: tuple[str, ...] = (),
         reuse_stale: bool = False) -> list[CellCost]:
    """The runs `spec` makes at `scale` with output folder `out` (unpriced; `stored` set for
    the cells already in the store). ValueError for an unknown spec or scale."""
    from .specs import SCALES

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    from .specs import get_spec

    if spec not in PLANNERS:
        get_spec(spec)  # ValueError for an unknown spec
    planner = PLANNERS.get(spec) or plan_measured(spec)  # a spec registered elsewhere
    return planner(scale, PlanContext(out, tuple(algorithms), reuse_stale))


# ------------------------------------------------------------------------------ estimate

@dataclass
class SpecEstimate:
    """The predicted cost of one spec at one scale."""

    spec: str
    scale: str
    items: list[CellCost]
    workers: int
    cpu: float
    """Predicted CPU seconds of what is not yet stored (nan: not modelled)."""
    wall: float
    """Predicted wall seconds on `workers` workers, the overhead included (nan: not
    modelled)."""
    note: str = ""
    overhead: float = 0.0
    """Seconds beyond the runs (analysis, figures) measured by an earlier run of the spec."""
    runs_wall: float = 0.0
    """The predicted wall seconds of the runs alone."""

    @property
    def cells(self) -> int:
        return len(self.items)

    @property
    def stored(self) -> int:
        return sum(1 for i in self.items if i.stored)

    @property
    def rounds(self) -> int:
        return sum(i.rounds for i in self.items if not i.stored)

    @property
    def calibration(self) -> int:
        return sum(1 for i in self.items if i.kind == "calibration" and not i.stored)

    @property
    def dominant(self) -> str:
        by: dict[str, float] = {}
        for i in self.items:
            by[i.algorithm] = by.get(i.algorithm, 0.0) + i.seconds
        if not by or not self.cpu > 0:
            return "-"
        name, sec = max(by.items(), key=lambda kv: kv[1])
        return f"{name} ({sec / self.cpu:.0%})"


def lpt_wall(costs: Sequence[float], workers: int) -> float:
    """Makespan of the longest-processing-time-first schedule of `costs` on `workers`."""
    loads = [0.0] * max(1, int(workers))
    for c in sorted(costs, reverse=True):
        i = loads.index(min(loads))
        loads[i] += c
    return max(loads)


def wall_seconds(items: Sequence[CellCost], workers: int, cores: int | None = None,
                 sweep_start: float = 0.0) -> float:
    """Sweeps one after another, each an LPT schedule on `workers` (stretched by workers /
    cores beyond the cores; a sweep of one cell runs in process) plus `sweep_start` seconds
    and the kernel loading of its slowest-loading algorithm for each sweep that starts worker
    processes; serial runs add up."""
    cores = int(cores or os.cpu_count() or 1)
    groups: dict[str, list[CellCost]] = {}
    for i in items:
        groups.setdefault(i.group, []).append(i)
    total = 0.0
    for g in groups.values():
        costs = [i.seconds for i in g if not i.stored]
        if not costs:
            continue
        if g[0].serial or workers <= 1 or len(costs) == 1:
            total += sum(costs)
        else:
            w = min(workers, len(costs))
            load = max(i.load for i in g if not i.stored)  # the workers load in parallel
            total += lpt_wall(costs, w) * max(1.0, w / cores) + sweep_start + load
    return total


def estimate_spec(spec: str, scale: str, model: CostModel, workers: int,
                  algorithms: tuple[str, ...] = (), reuse_stale: bool = False) -> SpecEstimate:
    """Plan and price one spec (module docstring)."""
    out = os.path.dirname(model.path) if model.path else "repro_out"
    items = plan(spec, scale, out, algorithms, reuse_stale)
    note = ""
    for i in items:
        if i.stored:
            i.seconds = 0.0
        elif i.kind == "measured":
            i.seconds, note = _measured_price(spec, scale, model)
        elif i.probe is not None:
            i.seconds = model.seconds(i.probe) + (0.0 if i.serial else model.store_cost())
            law = model.laws.get(cost_key(i.probe))
            i.load = law.load if law is not None else 0.0
    if any(not i.stored and i.kind == "calibration" and i.cell is None for i in items):
        note = "calibration passes not yet run counted at their maximum (an upper bound)"
    if any(i.kind == "in-process" for i in items):
        note = (note + "; " if note else "") + ("in-process runs priced as the built-in "
                                                "algorithm of their stage")
    finite = [i for i in items if math.isfinite(i.seconds)]
    cpu = float(sum(i.seconds for i in finite)) if len(finite) == len(items) else math.nan
    runs_wall = wall_seconds(finite, workers, sweep_start=model.sweep_start(workers))
    over, why = (0.0, "") if any(i.kind == "measured" for i in items) \
        else model.overhead(spec, scale)
    if why:
        note = (note + "; " if note else "") + why
    all_stored = all(i.stored for i in items)
    wall = runs_wall + (0.0 if all_stored else over) if math.isfinite(cpu) else math.nan
    return SpecEstimate(spec, scale, items, workers, cpu, wall, note,
                        over if not all_stored else 0.0, runs_wall)


def _measured_price(spec: str, scale: str, model: CostModel) -> tuple[float, str]:
    got = model.durations.get(spec, {})
    if scale in got:
        return got[scale], f"measured duration of the last {scale} run"
    work = _WORK.get(spec)
    if work is not None:
        for other, sec in got.items():
            try:
                ratio = work(scale) / work(other)
            except (KeyError, ValueError, ZeroDivisionError):
                continue
            return sec * ratio, (f"scaled from the measured {other} run ({sec:.0f} s) by the "
                                 f"ratio of its budgets (x{ratio:.3g}; rough)")
    return float("nan"), "not modelled: no measured run of this spec yet (run it once)"


def estimate(specs: Sequence[str], scale: str, out: str, workers: int | None = None,
             algorithms: tuple[str, ...] = (), reuse_stale: bool = False, measure: bool = True,
             log: Callable[[str], None] | None = None) -> list[SpecEstimate]:
    """Estimates of the specs at a scale, with the cost laws of OUT/estimate_costs.json
    (measured first where missing, when `measure`)."""
    w = int(workers or os.cpu_count() or 1)
    model = CostModel(out, measure=measure, log=log)
    return [estimate_spec(s, scale, model, w, algorithms, reuse_stale) for s in specs]


def _fmt_s(x: float) -> str:
    if not math.isfinite(x):
        return "?"
    if x >= 3600:
        return f"{x:,.0f} ({x / 3600:.1f} h)"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def estimate_table(ests: Sequence[SpecEstimate]) -> pd.DataFrame:
    """One row per spec and a total: cells (stored), calibration cells, rounds, predicted CPU
    and wall seconds, the dominant algorithm, notes."""
    rows = []
    for e in ests:
        rows.append({"spec": e.spec, "cells": e.cells, "stored": e.stored,
                     "calibration cells": e.calibration, "rounds": e.rounds,
                     "CPU s": _fmt_s(e.cpu), f"wall s ({e.workers} workers)": _fmt_s(e.wall),
                     "dominant": e.dominant, "note": e.note})
    if ests:
        cpu = sum(e.cpu for e in ests if math.isfinite(e.cpu))
        wall = sum(e.wall for e in ests if math.isfinite(e.wall))
        unknown = [e.spec for e in ests if not math.isfinite(e.wall)]
        rows.append({"spec": "total", "cells": sum(e.cells for e in ests),
                     "stored": sum(e.stored for e in ests),
                     "calibration cells": sum(e.calibration for e in ests),
                     "rounds": sum(e.rounds for e in ests), "CPU s": _fmt_s(cpu),
                     f"wall s ({ests[0].workers} workers)": _fmt_s(wall), "dominant": "",
                     "note": f"without {', '.join(unknown)} (not modelled)" if unknown else ""})
    return pd.DataFrame(rows)


def format_estimate(ests: Sequence[SpecEstimate]) -> str:
    """The estimate as a Markdown table, with its scale and worker count."""
    from .tables import markdown_table

    if not ests:
        return "(no spec)"
    head = (f"Predicted cost at scale {ests[0].scale} on {ests[0].workers} workers (cost laws "
            "measured on this machine; stored cells cost nothing):")
    return head + "\n\n" + markdown_table(estimate_table(ests)) + "\n"


def estimate_line(e: SpecEstimate) -> str:
    """The one line printed before a spec runs."""
    left = f"{e.cells - e.stored} of {e.cells} runs to compute"
    return (f"spec {e.spec}: predicted {_fmt_s(e.wall)} s on {e.workers} workers "
            f"({left}{'; ' + e.note if e.note else ''})")


def cell_cost_function(out: str) -> Callable[[Cell], float | None]:
    """cell -> predicted seconds from the cached laws of OUT (never measures), for
    `paper_repro.runner.set_cost_model`."""
    model = CostModel(out, measure=False)
    return model.known_seconds


__all__ = ["COSTS_FILE", "CellCost", "CostLaw", "CostModel", "PLANNERS", "SpecEstimate",
           "cell_cost_function", "estimate", "estimate_line", "estimate_table",
           "fit_cost_law", "format_estimate", "lpt_wall", "plan", "record_duration",
           "refits_every_round", "wall_seconds"]
