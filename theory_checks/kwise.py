"""Checks of the Plackett-Luce extension over result tables (ALGORITHMS.md 7).

- Exchange rate. With n rankings of m items the estimation error of an efficient estimator
  behaves like E||theta_hat - theta*||^2 ~ tr(I_m^{-1}) / n, I_m the Fisher information of one
  ranking at theta* (the expected Hessian of its negative log-likelihood under the query
  distribution and Plackett-Luce). One m-wise ranking is then worth

      rho_m = tr(I_2^{-1}) / tr(I_m^{-1})

  pairwise comparisons (`fisher_exchange_rate`, Monte Carlo over queries and rankings). The
  measured rate (`measured_exchange_rate`) is c_2 / c_m with c_m the mean of n err^2 over the
  later checkpoints (the 1/n regime) of the runs with m items; compared, in a report verdict,
  with the prediction and with the m (m - 1)/2 pairs a ranking implies.
- Coverage of the PL confidence set {||theta - theta_t||_{Hcal_t} <= beta_t} over the
  checkpoints of each run, reported with the factor of the radius that would cover all.
- Cost per ranking flat in t for the one-pass model (`theory_checks.verdicts.cost_verdict`).
- kappa dependence: the error at the last checkpoint against kappa_m (a reported exponent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algorithms.pl_mle import pl_objective
from sim.environment import PreferenceEnv
from sim.feedback import context_cdf
from sim.rankings import (
    RankingRandomNumbers,
    implied_pairs,
    pl_rankings,
    subset_features,
    uniform_subsets,
)

from .verdicts import REPORT, Verdict, cost_verdict, exponent_report


def fisher_information(env: PreferenceEnv, m: int, *, n_mc: int = 20_000, seed: int = 0,
                       top1: bool = False) -> np.ndarray:
    """I_m = E[Hess l(theta*)] of one ranking of a uniform m-wise query, by Monte Carlo over
    n_mc queries and Plackett-Luce rankings (d, d)."""
    rr = RankingRandomNumbers.draw(seed, n_mc, m)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    rank = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, top1)
    F = subset_features(env.phi, x, S)
    d = env.d
    g, H = np.empty(d), np.empty((d, d))
    pl_objective(F, rank, n_mc, 1 if top1 else m - 1, 0.0, np.ascontiguousarray(env.theta_star),
                 g, H, 2)
    return H / n_mc


def fisher_exchange_rate(env: PreferenceEnv, m: int, **kw) -> float:
    """rho_m = tr(I_2^{-1}) / tr(I_m^{-1}) (module docstring)."""
    i2 = np.trace(np.linalg.inv(fisher_information(env, 2, **kw)))
    im = np.trace(np.linalg.inv(fisher_information(env, m, **kw)))
    return float(i2 / im)


def measured_exchange_rate(df: pd.DataFrame, *, estimator: str, tail: float = 0.5,
                           err: str = "err_l2") -> pd.DataFrame:
    """Per m: c_m = mean over seeds and the last `tail` fraction of checkpoints of
    rankings * err^2, and the rate c_2 / c_m (one m-ranking worth that many pairs). Needs
    rows of m = 2 in df (columns m, estimator, rankings, err)."""
    sub = df[df["estimator"] == estimator]
    out = []
    for m, g in sub.groupby("m"):
        ts = np.sort(g["rankings"].unique())
        late = ts[int(len(ts) * (1.0 - tail)):]
        h = g[g["rankings"].isin(late)]
        out.append(dict(m=int(str(m)), c=float(np.mean(h["rankings"] * h[err] ** 2))))
    res = pd.DataFrame(out)
    if 2 not in set(res["m"]):
        raise ValueError("measured_exchange_rate needs runs with m = 2")
    c2 = float(res.loc[res["m"] == 2, "c"].iloc[0])
    res["measured_rate"] = c2 / res["c"]
    res["implied_pairs"] = [implied_pairs(int(m)) for m in res["m"]]
    res["estimator"] = estimator
    return res


def exchange_verdicts(rates: pd.DataFrame, tol: float = 0.35) -> list[Verdict]:
    """Report verdicts: measured rate against the Fisher prediction (column predicted_rate),
    with the relative difference; no claim is made (the prediction is asymptotic)."""
    out = []
    for row in rates.to_dict("records"):
        rel = abs(float(row["measured_rate"]) / float(row["predicted_rate"]) - 1.0)
        out.append(Verdict(f"exchange-rate[{row['estimator']}:m={row['m']}]",
                           "one m-ranking worth tr(I_2^-1)/tr(I_m^-1) pairs (asymptotic)",
                           float(row["measured_rate"]), float(row["predicted_rate"]), REPORT,
                           f"relative difference {rel:.2f} (within {tol:g}: {rel <= tol}); "
                           f"implied pairs {row['implied_pairs']}"))
    return out


def kwise_coverage_verdict(df: pd.DataFrame, delta: float, name: str = "kwise-coverage"
                           ) -> Verdict:
    """Coverage of the PL confidence set with the run's radius, over runs (one per (m, seed)):
    a run left the set when some checkpoint has in_confidence_set False. Reported, not
    claimed: Lemma 1's radius is derived for pairs, and the practical radius c_beta sqrt(d
    log(1 + t/delta)) has a free c_beta. The detail gives the c_beta that would have covered
    every checkpoint of every run (max of err_hcal / sqrt(d log(1 + t/delta)) with d read from
    the radius at c_beta = 1 as beta / c_beta)."""
    runs = df.groupby(["m", "seed"])["in_confidence_set"].all()
    left = ~runs.to_numpy(bool)
    need = float(np.max(df["err_hcal"] / df["beta"]))
    return Verdict(name, f"P(theta* leaves C_t) <= delta = {delta:g} (reported)",
                   float(left.mean()), delta, REPORT,
                   f"{int(left.sum())}/{left.size} runs left the set; the radius covers every "
                   f"checkpoint when multiplied by {need:.3g}")


def kwise_cost_verdict(t: np.ndarray, seconds_per_ranking: np.ndarray,
                       name: str = "cost[kwise:pl-omd]") -> Verdict:
    """Time per ranking flat in t (one-pass model)."""
    return cost_verdict(name, np.asarray(t, float), np.asarray(seconds_per_ranking)[None, :],
                        flat=True)


def kappa_report(kappas: np.ndarray, errors: np.ndarray, name: str = "kwise-kappa") -> Verdict:
    """Reported log-log exponent of the final error against kappa_m."""
    return exponent_report(name, "error against kappa_m (reported)", np.asarray(kappas, float),
                           np.asarray(errors, float))


__all__ = ["exchange_verdicts", "fisher_exchange_rate", "fisher_information", "kappa_report",
           "kwise_cost_verdict", "kwise_coverage_verdict", "measured_exchange_rate"]
