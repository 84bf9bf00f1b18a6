"""constants sweep: the evidence behind `algorithms.constants.practical_constants`.

Grid: eta in {theory, 0.5, 1, 2} x lambda in {L^2/4, L^2, 4 L^2} for one-pass OMD (Algorithm 1,
with the projection), the SGD learning rate in {0.1, 0.3, 1, 3} (schedule lr / sqrt(t)), and
the MLE (lambda = L^2) as the reference, on the synthetic families of `FAMILIES` (random
directions, n_x = 50, K = 10, uniform pairs) at horizon T. Each family has selection streams
(environment seed s, label seed 1000 + s, s < n_select) and held-out streams (s = 100, ...,
100 + n_heldout - 1).

Rule: the chosen (eta, lambda) minimises, over the grid, the worst ratio across families of
OMD's mean final estimation error ||theta_{T+1} - theta*|| to the MLE's on the selection
streams (ties, within 1 %, go to the middle of the lambda grid); the held-out streams only
report. The table also gives the old practical constants (theory eta, lambda = 4 L^2) and the
distance of one-pass OMD from the MLE at equal T (the paper's claim is that it is not far).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.constants import theory_eta
from algorithms.estimators import mle, omd_path, sgd_path
from sim import bt_labels, context_cdf, pair_differences, random_directions_env, uniform_pairs

FAMILIES: tuple[tuple[int, float], ...] = ((5, 2.0), (10, 2.0), (10, 3.0))
"""(d, B) of the swept families (L = 1)."""
ETAS: tuple[str | float, ...] = ("theory", 0.5, 1.0, 2.0)
LAMS_PER_L2: tuple[float, ...] = (0.25, 1.0, 4.0)
SGD_LRS: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)


@dataclass(frozen=True)
class ConstantsSweepConfig:
    T: int = 5_000
    n_select: int = 20
    n_heldout: int = 10


SCALES = {"tiny": ConstantsSweepConfig(T=300, n_select=2, n_heldout=2),
          "quick": ConstantsSweepConfig(), "full": ConstantsSweepConfig(T=20_000, n_select=40,
                                                                        n_heldout=20)}


def _streams(d: int, B: float, T: int, seeds):
    for s in seeds:
        env = random_directions_env(n_x=50, K=10, d=d, L=1.0, B=B, seed=s)
        rng = np.random.default_rng(1000 + s)
        x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, rng.random(T), rng.random((T, 2)))
        y = bt_labels(env.phi, env.theta_star, x, a, a2, rng.random(T), env.link_code)
        yield env, pair_differences(env.phi, x, a, a2), y.astype(np.float64)


def constants_sweep(cfg: ConstantsSweepConfig) -> pd.DataFrame:
    """Mean final estimation error per (family, split, estimator, eta, lambda or lr)."""
    rows = []
    for d, B in FAMILIES:
        for split, seeds in (("select", range(cfg.n_select)),
                             ("heldout", range(100, 100 + cfg.n_heldout))):
            data = list(_streams(d, B, cfg.T, seeds))

            def add(est, eta, lam, errs, d=d, B=B, split=split):
                rows.append(dict(d=d, B=B, split=split, estimator=est, eta=str(eta), lam=lam,
                                 err=float(np.mean(errs)), n=len(errs)))
            for eta, lam in itertools.product(ETAS, LAMS_PER_L2):
                e = theory_eta(1.0, B) if eta == "theory" else float(eta)
                add("omd", eta, lam, [np.linalg.norm(omd_path(Z, y, eta=e, lam=lam, B=env.B)[-1]
                                                     - env.theta_star) for env, Z, y in data])
            add("mle", "-", 1.0, [np.linalg.norm(mle(Z, y, lam=1.0) - env.theta_star)
                                  for env, Z, y in data])
            for lr in SGD_LRS:
                add("sgd", f"lr={lr:g}", math.nan,
                    [np.linalg.norm(sgd_path(Z, y, lr=lr, schedule="inv_sqrt")[-1]
                                    - env.theta_star) for env, Z, y in data])
    return pd.DataFrame(rows)


def choose(df: pd.DataFrame) -> tuple[str, float, pd.DataFrame]:
    """The rule of the module docstring: (eta, lambda / L^2, table of worst ratios)."""
    sel = df[df["split"] == "select"]
    ref = sel[sel["estimator"] == "mle"].set_index(["d", "B"])["err"]
    omd = sel[sel["estimator"] == "omd"].copy()
    omd["ratio"] = omd["err"].to_numpy() / ref.loc[list(zip(omd["d"], omd["B"]))].to_numpy()
    worst = omd.groupby(["eta", "lam"])["ratio"].max().reset_index()
    best = worst["ratio"].min()
    near = worst[worst["ratio"] <= best * 1.01].copy()
    near["mid"] = np.abs(np.log(near["lam"]))
    pick = near.sort_values(["ratio", "mid"]).iloc[0] if len(near) == 1 else \
        near.sort_values(["mid", "ratio"]).iloc[0]
    return str(pick["eta"]), float(pick["lam"]), worst


def run(scale: str = "quick") -> str:
    df = constants_sweep(SCALES[scale])
    eta, lam, worst = choose(df)
    piv = df.pivot_table(index=["estimator", "eta", "lam"], columns=["split", "d", "B"],
                         values="err", dropna=False)
    return "\n".join([f"chosen: eta = {eta}, lambda = {lam:g} L^2", "",
                      "worst OMD/MLE error ratio over the families (selection streams):", "",
                      worst.to_string(index=False), "", "mean final ||theta - theta*||:", "",
                      piv.round(4).to_string(), ""])


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1] if len(sys.argv) > 1 else "quick"))
