"""constants-sweep: the evidence behind `algorithms.constants.practical_constants`.

Families (`ConstantsSweepConfig.families`): random-directions environments (n_x = 50, K = 10,
L = 1) at (d, B) = (5, 2), (10, 2), (10, 3), uniform pairs. Stream s of a family: the
environment of seed s and, for the estimation cells, T pairs with labels drawn from the stream
`numpy.random.default_rng(1000 + s)`; for the regret cells, Algorithm 4 run on that environment
with seed s (`algorithms.registry.run`). Selection streams are s = 0 .. n_select - 1; held-out
streams s = 100, ..., never used for a choice.

Cells (`Cell(spec="constants-sweep", algorithm, config, seed=s)`), run through the result store
(`paper_repro.runner.run_sweep`: an interrupted run resumes, finished cells of the same code are
reused). An estimation cell is (family, split, stream, estimator config), the config naming the
settings the estimator runs at on that stream (the stream is drawn once per cell; one file per
setting would make the store's writes most of the cost); a regret cell is (family, split, seed,
(eta, lambda)):

- one-pass OMD (Algorithm 1, with the projection) at every (eta, lambda) of the grid eta in
  {theory, 0.5, 1, 2} x lambda in {L^2/4, L^2, 4 L^2} ("theory": (1/2) log 2 + B L + 1);
  final estimation error ||theta_{T+1} - theta*||;
- the MLE (lambda = L^2), the reference of equal T; one-pass SGD at lr in {0.1, 0.3, 1, 3}
  (schedule lr / sqrt(t));
- Algorithm 5 (`algorithms.first_order.cg_omd_path`: CG + Hessian-vector products on
  mini-batches, lam0 = 0.8 as reported, linear ramp over the pass) at eta in {1, 2}, batch size
  in {16, 64, 256, 1024} and K in {1, 2, 3, 5, d} CG steps (K = d is the exact inner solve; the
  kernel runs exactly K steps, it has no tolerance to sweep); error and cost (Hessian-vector
  products per sample, measured wall seconds);
- Algorithm 4 at every (eta, lambda) of the grid: cumulative regret at T_regret (practical
  radius c_beta sqrt(d log(1 + t/delta)), c_beta = 1, delta = 0.05). Its one-pass OMD runs
  through the open protocol (`algorithms.models.OMD_MODEL` with the swept (eta, lambda); at
  eta = 1, lambda = L^2 the registry's "algorithm4" gives the same regret bit for bit).

Rule (`choose`), on the selection streams only. For each grid point g and family f let
    e(g, f) = mean error of OMD at g / mean error of the MLE,
    r(g, f) = mean regret of Algorithm 4 at g / min over the grid of the same mean,
and E(g) = max_f e(g, f), R(g) = max_f r(g, f). The admissible points are those with
E(g) <= (1 + est_tol) min_g E (est_tol = 5 %); the choice is the admissible point of least R,
ties by E, then by |log(lambda / L^2)| (the middle of the lambda grid), then by eta.

SGD's learning rate: least worst SGD/MLE error ratio. CG (`choose_cg`): the smallest K whose
worst ratio to exact one-pass OMD at the chosen constants is within cg_tol = 2 % (over every
(eta, batch size)); when no setting gets there, the same rule against the exact inner solve
(K = d) of each (eta, batch size), at the (eta, batch size) of least worst ratio to OMD.

`python -m paper_repro constants-sweep` runs it (`python -m paper_repro.constants_sweep
[scale]` prints the Markdown).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from algorithms.constants import PRACTICAL_ETA, PRACTICAL_LAM_PER_L2, PREVIOUS_PRACTICAL, theory_eta
from algorithms.estimators import cg_omd_path, mle, omd_path, sgd_path
from sim import bt_labels, context_cdf, pair_differences, random_directions_env, uniform_pairs

from .spec_result import SpecResult
from .store import Cell, ResultStore
from .tables import markdown_table

SPEC = "constants-sweep"
FAMILIES: tuple[tuple[int, float], ...] = ((5, 2.0), (10, 2.0), (10, 3.0))
"""(d, B) of the swept families (L = 1)."""
ETAS: tuple[str | float, ...] = ("theory", 0.5, 1.0, 2.0)
LAMS_PER_L2: tuple[float, ...] = (0.25, 1.0, 4.0)
SGD_LRS: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
CG_ETAS: tuple[float, ...] = (1.0, 2.0)
CG_BATCHES: tuple[int, ...] = (16, 64, 256, 1024)
CG_ITERS: tuple[int, ...] = (1, 2, 3, 5)
"""CG steps swept besides K = d (the exact inner solve)."""
CG_LAM0 = 0.8
"""lam0 of Algorithm 5 (the paper's reported value)."""
SPLITS = ("select", "heldout")


@dataclass(frozen=True)
class ConstantsSweepConfig:
    """Sizes of the constants sweep (module docstring)."""

    T: int = 5_000
    """Pairs per estimation stream (OMD, MLE, SGD and CG all see the same T)."""
    n_select: int = 20
    """Selection streams per family (estimation)."""
    n_heldout: int = 10
    """Held-out streams per family (estimation)."""
    regret_T: int = 2_000
    """Rounds of each Algorithm 4 run."""
    regret_select: int = 4
    """Selection seeds per family (regret)."""
    regret_heldout: int = 4
    """Held-out seeds per family (regret)."""
    families: tuple[tuple[int, float], ...] = FAMILIES
    etas: tuple[str | float, ...] = ETAS
    lams: tuple[float, ...] = LAMS_PER_L2
    sgd_lrs: tuple[float, ...] = SGD_LRS
    cg_etas: tuple[float, ...] = CG_ETAS
    cg_batches: tuple[int, ...] = CG_BATCHES
    cg_iters: tuple[int, ...] = CG_ITERS
    n_x: int = 50
    K: int = 10
    heldout_offset: int = 100
    """Held-out stream s is heldout_offset + i."""
    est_tol: float = 0.05
    """Admissible: worst error ratio within this fraction of the best."""
    cg_tol: float = 0.02
    """CG: within this fraction of the reference error."""
    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0
    """Seed of the bootstrap intervals."""

    def __post_init__(self) -> None:
        counts = dict(T=self.T, n_select=self.n_select, n_heldout=self.n_heldout,
                      regret_T=self.regret_T, regret_select=self.regret_select,
                      regret_heldout=self.regret_heldout, n_boot=self.n_boot)
        for name, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if "T" in name else 1):
                raise ValueError(f"{name} must be an integer >= {2 if 'T' in name else 1}, "
                                 f"got {v!r}")
        if self.heldout_offset < max(self.n_select, self.regret_select):
            raise ValueError("held-out streams must be disjoint from the selection streams: "
                             f"heldout_offset {self.heldout_offset} < the selection streams")
        if any(e != "theory" and not (isinstance(e, (int, float)) and e > 0) for e in self.etas):
            raise ValueError(f"etas must be 'theory' or numbers > 0, got {self.etas!r}")
        if not self.families or not self.etas or not self.lams or not self.cg_batches:
            raise ValueError("families, etas, lams and cg_batches must not be empty")
        if not (self.est_tol >= 0 and self.cg_tol >= 0 and 0 < self.level < 1):
            raise ValueError("need est_tol >= 0, cg_tol >= 0 and 0 < level < 1")

    def seeds(self, split: str, regret: bool = False) -> list[int]:
        n = (self.regret_select if split == "select" else self.regret_heldout) if regret else \
            (self.n_select if split == "select" else self.n_heldout)
        return list(range(n)) if split == "select" else \
            list(range(self.heldout_offset, self.heldout_offset + n))


SCALES: dict[str, ConstantsSweepConfig] = {
    "tiny": ConstantsSweepConfig(T=300, n_select=2, n_heldout=2, regret_T=200, regret_select=2,
                                 regret_heldout=2, cg_batches=(16, 64), cg_iters=(1, 2),
                                 n_boot=200),
    "quick": ConstantsSweepConfig(),
    "full": ConstantsSweepConfig(T=20_000, n_select=40, n_heldout=20, regret_T=10_000,
                                 regret_select=10, regret_heldout=10),
}


# ------------------------------------------------------------------------------ cells


def _family(cfg: ConstantsSweepConfig, d: int, B: float) -> dict:
    return dict(d=int(d), B=float(B), L=1.0, n_x=int(cfg.n_x), K=int(cfg.K))


def _eta_value(eta: str | float, L: float, B: float) -> float:
    return theory_eta(L, B) if eta == "theory" else float(eta)


def estimator_configs(cfg: ConstantsSweepConfig) -> list[tuple[str, dict]]:
    """(estimator, settings) of the estimation cells of one stream: each estimator with the
    grid it is run at (the stream is generated once per cell)."""
    return [("omd", dict(grid=[[eta, float(lam)] for eta in cfg.etas for lam in cfg.lams])),
            ("mle", dict(lam=1.0)),
            ("sgd", dict(lrs=[float(lr) for lr in cfg.sgd_lrs], schedule="inv_sqrt")),
            ("cg_omd", dict(etas=[float(e) for e in cfg.cg_etas],
                            batch_sizes=[int(b) for b in cfg.cg_batches],
                            cg_iters=[int(k) for k in cfg.cg_iters], lam0=CG_LAM0))]


def cells(cfg: ConstantsSweepConfig) -> list[Cell]:
    """Every cell of the sweep: (family, split, stream, estimator config); one Algorithm 4
    run per (eta, lambda) of the grid."""
    out = []
    for d, B in cfg.families:
        fam = _family(cfg, d, B)
        for split in SPLITS:
            for s in cfg.seeds(split):
                out += [Cell(SPEC, name, dict(kind="estimation", family=fam, split=split,
                                              T=int(cfg.T), params=p), s)
                        for name, p in estimator_configs(cfg)]
            for s in cfg.seeds(split, regret=True):
                out += [Cell(SPEC, "algorithm4", dict(kind="regret", family=fam, split=split,
                                                      T=int(cfg.regret_T),
                                                      params=dict(eta=eta, lam=float(lam))), s)
                        for eta in cfg.etas for lam in cfg.lams]
    return out


def _stream(fam: dict, T: int, s: int):
    env = random_directions_env(n_x=fam["n_x"], K=fam["K"], d=fam["d"], L=fam["L"], B=fam["B"],
                                seed=s)
    rng = np.random.default_rng(1000 + s)
    x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, rng.random(T), rng.random((T, 2)))
    y = bt_labels(env.phi, env.theta_star, x, a, a2, rng.random(T), env.link_code)
    return env, pair_differences(env.phi, x, a, a2), y.astype(np.float64)


def swept_algorithm4(eta: float, lam: float):
    """Algorithm 4 (the registry's selector and output) on one-pass OMD with the given eta and
    lambda, through the open protocol (`algorithms.models.OMD_MODEL`)."""
    from algorithms.models import OMD_MODEL
    from algorithms.registry import Algorithm, get

    base = get("algorithm4")

    def params(_eta: float, _lam: float, B: float, L: float, project: bool) -> np.ndarray:
        return np.array([eta, lam, B, 1.0 if project else 0.0])

    return Algorithm(base.name, base.stage, base.selector, OMD_MODEL._replace(params=params),
                     base.output, base.description, base.options)


def run_constants_cell(cell: Cell) -> pd.DataFrame:
    """One cell of the sweep (module docstring): its rows, one per estimator setting."""
    from .cells import _single_thread_in_workers

    _single_thread_in_workers()
    cfg = cell.config
    fam, p, s = cfg["family"], cfg["params"], int(cell.seed)
    base = dict(d=fam["d"], B=fam["B"], split=cfg["split"], stream=s, estimator=cell.algorithm,
                eta="-", lam=math.nan, lr=math.nan, batch_size=0, cg_iters=0, K="-")
    if cfg["kind"] == "regret":
        from algorithms.registry import run

        env = random_directions_env(n_x=fam["n_x"], K=fam["K"], d=fam["d"], L=fam["L"],
                                    B=fam["B"], seed=s)
        eta = _eta_value(p["eta"], env.L, env.B)
        res = run(swept_algorithm4(eta, p["lam"] * env.L**2), env, int(cfg["T"]), s,
                  checkpoints=4)
        last = res.records.iloc[-1]
        return pd.DataFrame([dict(base, eta=str(p["eta"]), lam=p["lam"], regret=float(last["regret"]),
                                  err=float(last["err_l2"]), T=int(last["t"]))])
    env, Z, y = _stream(fam, int(cfg["T"]), s)
    rows = []

    def add(theta: np.ndarray, seconds: float, hvp: float = 0.0, **kw) -> None:
        rows.append(dict(base, **kw, err=float(np.linalg.norm(theta - env.theta_star)),
                         wall_seconds=seconds, hvp_per_sample=hvp, T=len(y)))

    def timed(fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        return out, time.perf_counter() - t0

    if cell.algorithm == "omd":
        for eta, lam in p["grid"]:
            th, sec = timed(omd_path, Z, y, eta=_eta_value(eta, env.L, env.B),
                            lam=lam * env.L**2, B=env.B)
            add(th[-1], sec, eta=str(eta), lam=float(lam))
    elif cell.algorithm == "mle":
        th, sec = timed(mle, Z, y, lam=p["lam"] * env.L**2)
        add(th, sec, lam=float(p["lam"]))
    elif cell.algorithm == "sgd":
        for lr in p["lrs"]:
            th, sec = timed(sgd_path, Z, y, lr=lr, schedule=p["schedule"])
            add(th[-1], sec, lr=float(lr))
    elif cell.algorithm == "cg_omd":
        cg_omd_path(Z[:2], y[:2], eta=1.0, batch_size=1, cg_iters=1)  # load the kernel first
        for eta in p["etas"]:
            for m in p["batch_sizes"]:
                for k, label in [*((int(k), str(k)) for k in p["cg_iters"]), (env.d, "d")]:
                    th, sec = timed(cg_omd_path, Z, y, eta=eta, lam0=p["lam0"], batch_size=m,
                                    cg_iters=k)
                    add(th[-1], sec, k * math.ceil(len(y) / m) / len(y), eta=str(eta),
                        batch_size=int(m), cg_iters=k, K=label)
    else:
        raise ValueError(f"constants-sweep: unknown estimator {cell.algorithm!r}")
    return pd.DataFrame(rows)


def run_cells(cfg: ConstantsSweepConfig, out: str, *, backend: str = "local",
              workers: int | None = None, scheduler: str | None = None,
              quiet: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(estimation rows, regret rows) of every cell, through the store out/store."""
    store = ResultStore(os.path.join(out, "store"))
    from .runner import run_sweep

    df = run_sweep(cells(cfg), run_constants_cell, store, backend=backend, workers=workers,
                   scheduler=scheduler, quiet=quiet, label=SPEC)
    reg = df[df["estimator"] == "algorithm4"].reset_index(drop=True)
    est = df[df["estimator"] != "algorithm4"].reset_index(drop=True)
    return est, reg


# ------------------------------------------------------------------------------ the rule


def _family_label(d, B) -> str:
    return f"d={int(d)}, B={float(B):g}"


def grid_table(est: pd.DataFrame, reg: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per (eta, lambda, family) on one split: mean OMD error, mean MLE error, their ratio
    est_ratio, and Algorithm 4's mean regret."""
    e = est[est["split"] == split]
    mle_err = e[e["estimator"] == "mle"].groupby(["d", "B"])["err"].mean()
    omd = e[e["estimator"] == "omd"].groupby(["eta", "lam", "d", "B"])["err"].agg(
        err_omd="mean", streams="size").reset_index()
    omd["err_mle"] = mle_err.loc[list(zip(omd["d"], omd["B"]))].to_numpy()
    omd["est_ratio"] = omd["err_omd"] / omd["err_mle"]
    r = reg[reg["split"] == split].groupby(["eta", "lam", "d", "B"])["regret"].agg(
        regret="mean", regret_seeds="size").reset_index()
    g = omd.merge(r, on=["eta", "lam", "d", "B"], how="left")
    g["family"] = [_family_label(d, B) for d, B in zip(g["d"], g["B"])]
    return g


@dataclass(frozen=True)
class Choice:
    """The rule's pick and the table it was read from."""

    eta: str
    lam: float
    table: pd.DataFrame = field(repr=False)
    """Per (eta, lam): worst_est_ratio, worst_regret_ratio, admissible, chosen."""


def _eta_order(eta: str) -> float:
    return -1.0 if eta == "theory" else float(eta)


def choose(grid: pd.DataFrame, est_tol: float = 0.05) -> Choice:
    """The rule of the module docstring on a table with columns eta, lam, family, est_ratio
    and regret (one row per grid point and family)."""
    need = {"eta", "lam", "family", "est_ratio", "regret"}
    if not need <= set(grid.columns) or grid.empty:
        raise ValueError(f"choose needs a non-empty table with columns {sorted(need)}")
    if not (est_tol >= 0):
        raise ValueError(f"est_tol must be >= 0, got {est_tol!r}")
    g = grid.copy()
    g["eta"] = g["eta"].astype(str)
    per_point = g.groupby(["eta", "lam"])["family"].nunique()
    if g[["est_ratio", "regret"]].isna().any().any() \
            or (per_point != g["family"].nunique()).any():
        raise ValueError("choose: every grid point needs an error ratio and a regret in every "
                         "family")
    best = g.groupby("family")["regret"].transform("min")
    g["regret_ratio"] = g["regret"] / best
    t = g.groupby(["eta", "lam"]).agg(worst_est_ratio=("est_ratio", "max"),
                                      worst_regret_ratio=("regret_ratio", "max")).reset_index()
    t["admissible"] = t["worst_est_ratio"] <= (1.0 + est_tol) * t["worst_est_ratio"].min()
    adm = t[t["admissible"]].assign(_mid=lambda x: np.abs(np.log(x["lam"].astype(float))),
                                    _eta=lambda x: x["eta"].map(_eta_order))
    pick = adm.sort_values(["worst_regret_ratio", "worst_est_ratio", "_mid", "_eta"]).iloc[0]
    t["chosen"] = (t["eta"] == pick["eta"]) & (t["lam"] == pick["lam"])
    t = t.assign(_eta=t["eta"].map(_eta_order)).sort_values(["_eta", "lam"]).drop(columns="_eta")
    return Choice(str(pick["eta"]), float(pick["lam"]), t.reset_index(drop=True))


def cg_table(est: pd.DataFrame, eta: str, lam: float, split: str) -> pd.DataFrame:
    """Per (family, CG eta, batch size, K): mean error, its ratio to exact one-pass OMD at
    (eta, lam) and to the exact inner solve (K = d), and the cost."""
    e = est[est["split"] == split]
    omd = e[(e["estimator"] == "omd") & (e["eta"] == eta) & (e["lam"] == lam)]
    ref = omd.groupby(["d", "B"])["err"].mean()
    cg = e[e["estimator"] == "cg_omd"].groupby(["d", "B", "eta", "batch_size", "K"]).agg(
        err=("err", "mean"), wall_seconds_per_sample=("wall_seconds", "mean"),
        hvp_per_sample=("hvp_per_sample", "mean"), T=("T", "first")).reset_index()
    cg["wall_seconds_per_sample"] /= cg["T"]
    cg["ratio_to_omd"] = cg["err"] / ref.loc[list(zip(cg["d"], cg["B"]))].to_numpy()
    exact = cg[cg["K"] == "d"].set_index(["d", "B", "eta", "batch_size"])["err"]
    cg["ratio_to_exact_solve"] = cg["err"] / exact.loc[
        list(zip(cg["d"], cg["B"], cg["eta"], cg["batch_size"]))].to_numpy()
    cg["family"] = [_family_label(d, B) for d, B in zip(cg["d"], cg["B"])]
    return cg.drop(columns="T")


def choose_cg(cg: pd.DataFrame, tol: float = 0.02) -> dict:
    """The CG rule of the module docstring on `cg_table` rows: dict(eta, batch_size, K,
    against ("exact one-pass OMD" or "exact inner solve"), worst_ratio_to_omd, table)."""
    w = cg.groupby(["eta", "batch_size", "K"]).agg(
        worst_ratio_to_omd=("ratio_to_omd", "max"),
        worst_ratio_to_exact_solve=("ratio_to_exact_solve", "max"),
        hvp_per_sample=("hvp_per_sample", "max")).reset_index()
    w["_k"] = [math.inf if k == "d" else int(k) for k in w["K"]]
    w = w.sort_values(["eta", "batch_size", "_k"]).reset_index(drop=True)
    near = w[w["worst_ratio_to_omd"] <= 1.0 + tol]
    if len(near):
        p = near.sort_values(["_k", "worst_ratio_to_omd"]).iloc[0]
        against = "exact one-pass OMD"
    else:
        exact = w[w["K"] == "d"]
        eb = exact.sort_values("worst_ratio_to_omd").iloc[0]
        sub = w[(w["eta"] == eb["eta"]) & (w["batch_size"] == eb["batch_size"])
                & (w["worst_ratio_to_exact_solve"] <= 1.0 + tol)]
        p = sub.sort_values("_k").iloc[0]
        against = "exact inner solve (K = d)"
    return dict(eta=str(p["eta"]), batch_size=int(p["batch_size"]), K=str(p["K"]),
                against=against, worst_ratio_to_omd=float(p["worst_ratio_to_omd"]),
                table=w.drop(columns="_k"))


def ratio_interval(est: pd.DataFrame, eta: str, lam: float, split: str, *, n_boot: int,
                   level: float, seed: int) -> pd.DataFrame:
    """Per family: mean OMD error at (eta, lam) / mean MLE error on the same streams, with a
    paired bootstrap interval over the streams."""
    e = est[est["split"] == split]
    rows = []
    rng = np.random.default_rng(seed)
    for (d, B), g in e.groupby(["d", "B"]):
        a = g[(g["estimator"] == "omd") & (g["eta"] == eta) & (g["lam"] == lam)].set_index(
            "stream")["err"]
        b = g[g["estimator"] == "mle"].set_index("stream")["err"].reindex(a.index)
        x, z = a.to_numpy(), b.to_numpy()
        idx = rng.integers(0, len(x), size=(n_boot, len(x)))
        boot = x[idx].mean(axis=1) / z[idx].mean(axis=1)
        lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
        rows.append(dict(family=_family_label(d, B), split=split, eta=eta, lam=lam,
                         streams=len(x), err_omd=x.mean(), err_mle=z.mean(),
                         ratio=x.mean() / z.mean(), lo=float(lo), hi=float(hi)))
    return pd.DataFrame(rows)


def sgd_table(est: pd.DataFrame) -> pd.DataFrame:
    """Per (lr, split): worst over the families of the mean SGD error / mean MLE error."""
    rows = []
    for split in SPLITS:
        e = est[est["split"] == split]
        mle_err = e[e["estimator"] == "mle"].groupby(["d", "B"])["err"].mean()
        s = e[e["estimator"] == "sgd"].groupby(["lr", "d", "B"])["err"].mean().reset_index()
        s["ratio"] = s["err"] / mle_err.loc[list(zip(s["d"], s["B"]))].to_numpy()
        for lr, g in s.groupby("lr"):
            rows.append(dict(lr=float(lr), split=split, worst_ratio=float(g["ratio"].max())))  # type: ignore[arg-type]
    return pd.DataFrame(rows).pivot(index="lr", columns="split", values="worst_ratio") \
        .reset_index().rename(columns={"select": "worst_ratio_select",
                                       "heldout": "worst_ratio_heldout"})


# ------------------------------------------------------------------------------ the spec


def _grid_summary(grid: pd.DataFrame, split: str) -> pd.DataFrame:
    c = choose(grid)
    return c.table.rename(columns={"worst_est_ratio": f"worst_est_ratio_{split}",
                                   "worst_regret_ratio": f"worst_regret_ratio_{split}"})


def analyse(est: pd.DataFrame, reg: pd.DataFrame, cfg: ConstantsSweepConfig) -> dict:
    """Every table of the spec from the cells' rows."""
    sel, held = grid_table(est, reg, "select"), grid_table(est, reg, "heldout")
    choice = choose(sel, cfg.est_tol)
    summary = choice.table.merge(
        _grid_summary(held, "heldout")[["eta", "lam", "worst_est_ratio_heldout",
                                        "worst_regret_ratio_heldout"]], on=["eta", "lam"])
    cg_sel = cg_table(est, choice.eta, choice.lam, "select")
    cg_held = cg_table(est, choice.eta, choice.lam, "heldout")
    cg_pick = choose_cg(cg_sel, cfg.cg_tol)
    cg_w = cg_pick["table"].merge(choose_cg(cg_held, cfg.cg_tol)["table"][
        ["eta", "batch_size", "K", "worst_ratio_to_omd", "worst_ratio_to_exact_solve"]],
        on=["eta", "batch_size", "K"], suffixes=("_select", "_heldout"))
    cost = cg_sel.groupby(["eta", "batch_size", "K"])["wall_seconds_per_sample"].mean()
    cg_w["wall_seconds_per_sample"] = cost.loc[
        list(zip(cg_w["eta"], cg_w["batch_size"], cg_w["K"]))].to_numpy()
    omd_cost = est[est["estimator"] == "omd"]
    cur = (str(PRACTICAL_ETA), float(PRACTICAL_LAM_PER_L2))
    prev = ("theory", float(PREVIOUS_PRACTICAL[1]))
    intervals = pd.concat([ratio_interval(est, e, lam, sp, n_boot=cfg.n_boot, level=cfg.level,
                                          seed=cfg.seed).assign(constants=name)
                           for name, (e, lam) in (("chosen", (choice.eta, choice.lam)),
                                                  ("current default", cur),
                                                  ("previous default", prev))
                           for sp in SPLITS], ignore_index=True)
    return dict(grid_select=sel, grid_heldout=held, choice=choice, summary=summary,
                cg_select=cg_sel, cg_heldout=cg_held, cg_pick=cg_pick, cg_summary=cg_w,
                omd_seconds_per_sample=float((omd_cost["wall_seconds"] / omd_cost["T"]).mean()),
                sgd=sgd_table(est), intervals=intervals)


def _figures(a: dict, out: str) -> list[str]:
    from figures.constants import plot_cg_sweep, plot_ratio_heatmaps

    fig_dir = os.path.join(out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    sel = a["grid_select"]
    t = a["choice"].table
    panels = []
    for fam, g in sel.groupby("family", sort=False):
        panels.append(g.assign(panel=f"OMD / MLE error, {fam}", value=g["est_ratio"]))
    panels.append(t.assign(panel="worst OMD / MLE error over families",
                           value=t["worst_est_ratio"]))
    panels.append(t.assign(panel="worst Alg. 4 regret / best regret",
                           value=t["worst_regret_ratio"]))
    heat = pd.concat(panels, ignore_index=True)[["panel", "eta", "lam", "value"]]
    c = a["choice"]
    figs = plot_ratio_heatmaps(heat, os.path.join(fig_dir, "constants_heatmaps"),
                               chosen=(c.eta, c.lam),
                               title="Constants sweep (selection streams): ratios over eta x "
                                     "lambda; box = chosen")
    cgw = a["cg_summary"]
    figs += plot_cg_sweep(cgw.assign(setting=[f"eta={e}, batch={b}" for e, b in
                                              zip(cgw["eta"], cgw["batch_size"])]),
                          os.path.join(fig_dir, "constants_cg"),
                          title="Algorithm 5 (CG + HVP), selection streams")
    return figs


def _fmt_ratio(r) -> str:
    return f"{r.ratio:.3f} [{r.lo:.3f}, {r.hi:.3f}]"


def _markdown(a: dict, cfg: ConstantsSweepConfig) -> str:
    c = a["choice"]
    cg = a["cg_pick"]
    iv = a["intervals"]
    cur = (str(PRACTICAL_ETA), float(PRACTICAL_LAM_PER_L2))
    same = (c.eta, c.lam) == cur
    level = f"{cfg.level:.0%}"

    def line(name: str, split: str) -> str:
        sub = iv[(iv["constants"] == name) & (iv["split"] == split)]
        return "; ".join(f"{r.family}: {_fmt_ratio(r)}" for r in sub.itertuples())

    summ = a["summary"].copy()
    summ["lam"] = summ["lam"].map(lambda v: f"{v:g} L^2")
    sgd = a["sgd"]
    lr = float(sgd.sort_values("worst_ratio_select").iloc[0]["lr"])
    cgw = a["cg_summary"]
    exact = cgw[cgw["K"] == "d"]
    fams = ", ".join(f"(d = {d}, B = {B:g})" for d, B in cfg.families)
    lines = [
        f"Families {fams}: random directions, n_x = {cfg.n_x}, K = {cfg.K}, L = 1, uniform "
        f"pairs. Estimation: T = {cfg.T:,}, {cfg.n_select} selection and {cfg.n_heldout} "
        f"held-out streams per family; regret: Algorithm 4, T = {cfg.regret_T:,}, "
        f"{cfg.regret_select} selection and {cfg.regret_heldout} held-out seeds per family "
        "(practical radius, c_beta = 1).", "",
        "**Rule** (selection streams only). For each (eta, lambda) and family: e = mean final "
        "||theta - theta*|| of one-pass OMD / that of the MLE (lambda = L^2) on the same "
        "streams, r = Algorithm 4's mean cumulative regret / the least over the grid. "
        f"Admissible: worst e over the families within {cfg.est_tol:.0%} of the best worst e; "
        "chosen: the admissible pair of least worst r (ties: worst e, then the middle of the "
        "lambda grid).", "",
        f"**Chosen: eta = {c.eta}, lambda = {c.lam:g} L^2** "
        + ("(the current `practical_constants`)." if same else
           f"(differs from the current `practical_constants`, eta = {cur[0]}, lambda = "
           f"{cur[1]:g} L^2; the defaults are left unchanged here)."), "",
        markdown_table(summ, ".4g"), "",
        f"**How far one-pass OMD is from the MLE at equal T** (mean error ratio per family, "
        f"{level} paired bootstrap interval over the streams):", "",
        f"- chosen constants, held-out: {line('chosen', 'heldout')}",
        f"- chosen constants, selection: {line('chosen', 'select')}",
        f"- current default (eta = {cur[0]}, lambda = {cur[1]:g} L^2), held-out: "
        f"{line('current default', 'heldout')}",
        f"- previous default (theory eta, lambda = {PREVIOUS_PRACTICAL[1]:g} L^2), held-out: "
        f"{line('previous default', 'heldout')}", "",
        f"One-pass SGD (lr / sqrt(t)), worst SGD / MLE error ratio: least on the selection "
        f"streams at lr = {lr:g}.", "", markdown_table(sgd, ".4g"), "",
        "### Algorithm 5 (CG + Hessian-vector products)", "",
        f"lam0 = {CG_LAM0:g}, linear ramp over the pass; K CG steps per mini-batch (K = d: the "
        "exact inner solve; the kernel runs exactly K steps, so there is no tolerance to sweep). "
        f"Ratios are worst over the families, against exact one-pass OMD at the chosen constants "
        f"and against the exact inner solve. Cost: Hessian-vector products per sample and "
        f"measured wall seconds per sample (one-pass OMD: "
        f"{a['omd_seconds_per_sample']:.3g} s per sample in the same cells).", "",
        markdown_table(cgw, ".4g"), "",
        (f"Rule: the smallest K within {cfg.cg_tol:.0%} of exact one-pass OMD's error: "
         + (f"K = {cg['K']} at eta = {cg['eta']}, batch size {cg['batch_size']} (worst ratio "
            f"{cg['worst_ratio_to_omd']:.3f})." if cg["against"] == "exact one-pass OMD" else
            f"**no setting gets there** (least worst ratio of the exact inner solve "
            f"{exact['worst_ratio_to_omd_select'].min():.3f}); the error of Algorithm 5 is set "
            "by its batch size and eta, not by K. Against the exact inner solve instead, at the "
            f"(eta, batch size) closest to OMD: K = {cg['K']} at eta = {cg['eta']}, batch size "
            f"{cg['batch_size']} (worst ratio to OMD {cg['worst_ratio_to_omd']:.3f}).")), ""]
    return "\n".join(lines)


def run_constants_sweep(scale: str, opts, config: ConstantsSweepConfig | None = None
                        ) -> SpecResult:
    """The constants-sweep spec at a scale (module docstring).

    Parameters
    ----------
    scale : {"quick", "full", "tiny"}
        The sizes of `SCALES` (ignored when `config` is given).
    opts : paper_repro.synthetic.RunOptions
        Output folder (its store and figures), backend and workers.
    config : ConstantsSweepConfig, optional
        Sizes to use instead of the scale's.
    """
    if config is None and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    cfg = SCALES[scale] if config is None else config
    est, reg = run_cells(cfg, opts.out, backend=opts.backend, workers=opts.workers,
                         scheduler=opts.scheduler, quiet=opts.quiet)
    a = analyse(est, reg, cfg)
    figs = _figures(a, opts.out)
    tables = {"estimation": est, "regret": reg, "grid_select": a["grid_select"],
              "grid_heldout": a["grid_heldout"], "rule": a["summary"],
              "omd_vs_mle": a["intervals"], "sgd": a["sgd"], "cg": a["cg_summary"],
              "cg_select": a["cg_select"], "cg_heldout": a["cg_heldout"]}
    facts = asdict(cfg)
    facts["chosen"] = dict(eta=a["choice"].eta, lam_per_L2=a["choice"].lam,
                           cg={k: v for k, v in a["cg_pick"].items() if k != "table"})
    return SpecResult(tables=tables, figures=figs, markdown=_markdown(a, cfg), config=facts)


def spec():
    """The `constants-sweep` Spec (registered by `paper_repro.specs`)."""
    from .specs import Spec

    return Spec(SPEC, "Practical constants by evidence: eta x lambda of one-pass OMD chosen by "
                "its error against the MLE and Algorithm 4's regret (selection streams; held-out "
                "reported), SGD's learning rate, CG steps and batch size of Algorithm 5 "
                "(an extra spec: run it by name)", run_constants_sweep, default=False)


def main(argv: list[str] | None = None) -> int:
    """`python -m paper_repro.constants_sweep [scale] [out]`: print the spec's Markdown."""
    import sys

    from .synthetic import RunOptions

    args = list(sys.argv[1:] if argv is None else argv)
    scale = args[0] if args else "quick"
    out = args[1] if len(args) > 1 else "repro_out"
    print(run_constants_sweep(scale, RunOptions(out=out, quiet=True)).markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Choice", "ConstantsSweepConfig", "SCALES", "analyse", "cells", "cg_table", "choose",
           "choose_cg", "grid_table", "run_cells", "run_constants_cell", "run_constants_sweep",
           "spec", "swept_algorithm4"]
