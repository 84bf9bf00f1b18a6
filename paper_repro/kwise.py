"""The `kwise` spec: Plackett-Luce ranking feedback with m-wise queries (ALGORITHMS.md 7).

Tables and figures:

- estimation: ||theta - theta*|| and SubOpt of the passive output against the number of
  rankings and against the implied pairwise comparisons m (m - 1)/2, for each m, with the
  one-pass PL OMD (pessimistic output), the PL MLE and pairwise breaking (greedy outputs);
- exchange: the measured exchange rate (one m-ranking worth how many pairs) against the
  Fisher-information prediction (`theory_checks.kwise`);
- active: m-wise maximum-information selection (greedy construction) against random queries,
  and greedy against exhaustive subset construction at the same states;
- deployment: cumulative m-wise regret (mean gap of the m arms shown) of the optimistic rule
  and of best-of-n;
- throughput: rankings per second of the one-pass PL OMD on one core (`ranking_throughput`;
  m = 4, d = 8 is the row of the speed requirement) and the time per ranking along one stream
  (`cost_along_stream`; flat in t).

`python -m paper_repro.kwise` prints the throughput table.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from algorithms.constants import practical_constants
from algorithms.kwise_stages import (
    greedy_vs_exhaustive,
    kwise_active,
    kwise_deployment,
    kwise_passive,
)
from algorithms.omd import omd_run
from algorithms.pl_omd import pl_omd_run
from sim.generators import random_directions_env
from sim.rankings import kappa_mwise_instance
from theory_checks.kwise import (
    exchange_verdicts,
    fisher_exchange_rate,
    kwise_cost_verdict,
    kwise_coverage_verdict,
    measured_exchange_rate,
)
from theory_checks.verdicts import verdict_table

from .spec_result import SpecResult
from .tables import markdown_table


@dataclass(frozen=True)
class KwiseConfig:
    """Sizes of the kwise spec."""

    n_x: int = 20
    """Contexts of the synthetic environment (`random_directions_env`)."""
    K: int = 10
    """Arms per context (at least the largest m)."""
    d: int = 5
    """Feature dimension."""
    B: float = 2.0
    """||theta*|| and the radius of the ball."""
    ms: tuple[int, ...] = (2, 3, 5, 10)
    """Query sizes m of the passive study."""
    T: int = 3000
    """Rankings per passive run."""
    seeds: int = 3
    """Repetitions."""
    checkpoints: int = 8
    """Log-spaced checkpoints per run."""
    estimators: tuple[str, ...] = ("omd", "mle", "breaking")
    """Passive estimators."""
    active_ms: tuple[int, ...] = (2, 3, 5)
    """Query sizes of the active and deployment studies."""
    active_T: int = 600
    """Rankings per active run."""
    deploy_T: int = 3000
    """Rounds per deployment run."""
    exhaustive_K: int = 8
    """Arms of the small instance of the greedy/exhaustive comparison."""
    fisher_mc: int = 20_000
    """Monte Carlo draws of the Fisher information."""
    bench_T: int = 400_000
    """Rankings per throughput measurement."""
    bench_ms: tuple[int, ...] = (2, 3, 4, 5, 10)
    """Query sizes of the throughput table (d = 8)."""
    stream_T: int = 1_000_000
    """Length of the stream of the cost-against-t measurement."""
    seed: int = 20250211
    """Seed of the environment and the repetitions."""


SCALES = {
    "quick": KwiseConfig(),
    "full": KwiseConfig(n_x=50, K=20, d=8, T=30_000, seeds=5, checkpoints=12, active_T=3000,
                        deploy_T=20_000, fisher_mc=100_000, bench_T=2_000_000,
                        stream_T=10_000_000),
    "tiny": KwiseConfig(n_x=6, K=5, d=3, ms=(2, 3, 5), T=200, seeds=2, checkpoints=4,
                        active_ms=(2, 3), active_T=60, deploy_T=200, exhaustive_K=5,
                        fisher_mc=2000, bench_T=5000, bench_ms=(2, 4), stream_T=20_000),
}


# ------------------------------------------------------------------------------ timing


def _random_rankings(T: int, m: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(T, m, d)) / math.sqrt(d)
    rank = np.argsort(rng.random((T, m)), axis=1).astype(np.int64)
    return F, rank


def _best(fn, reps: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of fn() over reps calls."""
    wall = cpu = math.inf
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def ranking_throughput(ms=(2, 3, 4, 5, 10), d: int = 8, T: int = 400_000, reps: int = 3,
                       seed: int = 0) -> pd.DataFrame:
    """Rankings per second of the one-pass PL OMD on one core (best of reps, projection
    enabled but inactive, only Hcal^{-1} kept, as `omd_run`), by wall clock and by the
    process's CPU time (the kernels are single-threaded, so CPU time is one core's time and
    does not count waiting for a shared core), and the pairwise `omd_run` on T pairs for
    comparison; m = 2 with the pairwise kernel and with the general formulas."""
    rows = []
    none = np.empty((0, d))
    noH = np.empty((0, 0))
    Z = np.random.default_rng(seed).normal(size=(T, d)) / math.sqrt(d)
    y = (np.random.default_rng(seed + 1).random(T) < 0.5).astype(np.float64)
    omd_run(Z[:4], y[:4], np.zeros(d), np.eye(d), 2.0, 1e300, True, none)
    pair_wall, pair_cpu = _best(lambda: omd_run(Z, y, np.zeros(d), np.eye(d), 2.0, 1e300, True,
                                                none), reps)
    for m in ms:
        F, rank = _random_rankings(T, m, d, seed + m)
        for pairwise in ((True, False) if m == 2 else (True,)):
            def go(F=F, rank=rank, m=m, pairwise=pairwise) -> None:
                pl_omd_run(F, rank, m - 1, np.zeros(d), np.eye(d), 2.0, 1e300, True, pairwise,
                           none, noH)
            pl_omd_run(F[:4], rank[:4], m - 1, np.zeros(d), np.eye(d), 2.0, 1e300, True,
                       pairwise, none, noH)
            wall, cpu = _best(go, reps)
            rows.append(dict(m=m, d=d, kernel="pairwise" if (m == 2 and pairwise) else
                             "woodbury", n=T, rankings_per_s=T / wall,
                             rankings_per_cpu_s=T / cpu, pairwise_omd_per_s=T / pair_wall,
                             pairwise_omd_per_cpu_s=T / pair_cpu))
    return pd.DataFrame(rows)


def cost_along_stream(m: int = 4, d: int = 8, T: int = 1_000_000, chunks: int = 20,
                      seed: int = 1) -> pd.DataFrame:
    """Seconds per ranking of the one-pass PL OMD in consecutive chunks of one stream (the
    state carried over), against the round t at the chunk's end."""
    theta, Hinv = np.zeros(d), np.eye(d)
    none, noH = np.empty((0, d)), np.empty((0, 0))
    n = max(1, T // chunks)
    rows = []
    F0, r0 = _random_rankings(4, m, d, seed)
    pl_omd_run(F0, r0, m - 1, np.zeros(d), np.eye(d), 2.0, 1e300, True, True, none, noH)
    for k in range(chunks):
        F, rank = _random_rankings(n, m, d, seed + 1 + k)
        t0 = time.perf_counter()
        pl_omd_run(F, rank, m - 1, theta, Hinv, 2.0, 1e300, True, True, none, noH)
        rows.append(dict(t=(k + 1) * n, seconds_per_ranking=(time.perf_counter() - t0) / n))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ the spec


def _env(cfg: KwiseConfig, K: int | None = None):
    return random_directions_env(cfg.n_x, K or cfg.K, cfg.d, L=1.0, B=cfg.B, seed=cfg.seed)


def run_kwise(scale: str, opts) -> SpecResult:
    """The kwise spec at a scale (module docstring)."""
    from figures.kwise import plot_lines

    cfg = SCALES[scale]
    env = _env(cfg)
    fig_dir = os.path.join(opts.out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    figs: list[str] = []
    verdicts = []
    seeds = [cfg.seed + 1 + s for s in range(cfg.seeds)]

    # ---- passive: estimation error and SubOpt against rankings and implied pairs
    for est in cfg.estimators:  # compile (or load) the kernels before anything is timed
        kwise_passive(env, 20, 2, 0, estimator=est, checkpoints=2,
                      output="pessimistic" if est == "omd" else "greedy")
    runs = []
    for m in cfg.ms:
        for est in cfg.estimators:
            for s in seeds:
                res = kwise_passive(env, cfg.T, m, s, estimator=est,
                                    output="pessimistic" if est == "omd" else "greedy",
                                    checkpoints=cfg.checkpoints)
                runs.append(res.records)
    est_df = pd.concat(runs, ignore_index=True)
    tables["estimation"] = est_df
    for est in cfg.estimators:
        sub = est_df[est_df["estimator"] == est]
        for x, xl in (("rankings", "rankings (queries)"), ("pairs", "implied pairwise comparisons")):
            figs += plot_lines(sub, x, "err_l2", "m", os.path.join(fig_dir, f"kwise_err_{est}_{x}"),
                               title=f"Estimation error, {est}", xlabel=xl,
                               ylabel="||theta - theta*||")
        figs += plot_lines(sub, "rankings", "subopt", "m",
                           os.path.join(fig_dir, f"kwise_subopt_{est}"),
                           title=f"Passive SubOpt, {est}", xlabel="rankings", logy=False)
    last = est_df[est_df["t"] == cfg.T]
    summary = (last.groupby(["m", "estimator"])[["err_l2", "subopt", "wall_time"]]
               .agg(["mean", "std"]))
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary = summary.reset_index()
    tables["estimation_final"] = summary
    cmp_m = max(cfg.ms)
    cmp_df = est_df[est_df["m"] == cmp_m]
    figs += plot_lines(cmp_df, "rankings", "err_l2", "estimator",
                       os.path.join(fig_dir, f"kwise_estimators_m{cmp_m}"),
                       title=f"OMD vs PL MLE vs pairwise breaking, m = {cmp_m}",
                       xlabel="rankings", ylabel="||theta - theta*||")

    # ---- exchange rate against the Fisher prediction; coverage; kappa_m
    rates = []
    for est in ("mle", "omd"):
        if est in cfg.estimators:
            r = measured_exchange_rate(est_df, estimator=est)
            r["predicted_rate"] = [fisher_exchange_rate(env, int(m), n_mc=cfg.fisher_mc,
                                                        seed=cfg.seed) for m in r["m"]]
            rates.append(r)
    rates_df = pd.concat(rates, ignore_index=True)
    rates_df["kappa_m_instance"] = [kappa_mwise_instance(env.phi, env.theta_star, int(m))
                                    for m in rates_df["m"]]
    tables["exchange"] = rates_df
    verdicts += exchange_verdicts(rates_df)
    if "omd" in cfg.estimators:
        verdicts.append(kwise_coverage_verdict(est_df[est_df["estimator"] == "omd"], 0.05))

    # ---- active: greedy vs random; greedy vs exhaustive at the same states
    act_runs = []
    for m in cfg.active_ms:
        for construction in ("greedy", "random"):
            for s in seeds:
                act_runs.append(kwise_active(env, cfg.active_T, m, s, construction=construction,
                                             checkpoints=cfg.checkpoints).records)
    act_df = pd.concat(act_runs, ignore_index=True)
    act_df["query"] = act_df["construction"] + ", m = " + act_df["m"].astype(str)
    tables["active"] = act_df
    figs += plot_lines(act_df, "rankings", "subopt", "query",
                       os.path.join(fig_dir, "kwise_active_subopt"),
                       title="Active m-wise selection vs random queries", logy=False)
    small = _env(cfg, cfg.exhaustive_K)
    ge = []
    for m in (3, 4):
        if m <= small.K:
            st = kwise_active(small, cfg.active_T, m, seeds[0], construction="greedy",
                              checkpoints=4)
            # states: lambda I and the state after the run
            Hs = np.stack([np.eye(small.d) / practical_constants(small.d, 1.0, small.B).lam,
                           st.Hinv])
            ge.append(greedy_vs_exhaustive(small, m, Hs))
    ge_df = pd.concat(ge, ignore_index=True)
    ge_sum = ge_df.groupby("m")["ratio"].agg(["mean", "min"]).reset_index()
    ge_sum["optimal_fraction"] = ge_df.groupby("m")["ratio"].apply(
        lambda r: float(np.mean(r >= 1.0 - 1e-12))).to_numpy()
    tables["greedy_vs_exhaustive"] = ge_sum

    # ---- deployment
    dep_runs = []
    for m in cfg.active_ms:
        for rule in ("optimistic", "best-of-n"):
            if rule == "best-of-n" and m == 2 and env.K < 4:
                continue
            for s in seeds:
                dep_runs.append(kwise_deployment(env, cfg.deploy_T, m, s, rule=rule,
                                                 checkpoints=cfg.checkpoints).records)
    dep_df = pd.concat(dep_runs, ignore_index=True)
    dep_df["strategy"] = dep_df["rule"] + ", m = " + dep_df["m"].astype(str)
    tables["deployment"] = dep_df
    figs += plot_lines(dep_df, "t", "regret", "strategy",
                       os.path.join(fig_dir, "kwise_deployment_regret"),
                       title="m-wise regret (mean gap of the m arms shown)", xlabel="round t")
    dep_last = (dep_df[dep_df["t"] == cfg.deploy_T].groupby("strategy")[["regret", "regret_weak"]]
                .mean().reset_index())

    # ---- throughput and cost along the stream
    tp = ranking_throughput(cfg.bench_ms, 8, cfg.bench_T)
    tables["throughput"] = tp
    cost = cost_along_stream(4, 8, cfg.stream_T)
    tables["cost_vs_t"] = cost
    verdicts.append(kwise_cost_verdict(cost["t"].to_numpy(), cost["seconds_per_ranking"]
                                       .to_numpy()))
    per_query = (last.groupby(["m", "estimator"])["wall_time"].mean() / cfg.T).reset_index()
    per_query = per_query.rename(columns={"wall_time": "seconds_per_ranking"})
    tables["time_per_query"] = per_query

    target = tp[(tp["m"] == 4) & (tp["d"] == 8)]
    rate_line = ("; ".join(f"m = {int(r.m)}: measured {r.measured_rate:.2f} pairs "
                           f"(Fisher {r.predicted_rate:.2f}, implied {int(r.implied_pairs)})"
                           for r in rates_df[rates_df["estimator"] == "mle"].itertuples())
                 if "mle" in cfg.estimators else "")
    md = [f"Synthetic environment: n_x = {cfg.n_x}, K = {cfg.K}, d = {cfg.d}, B = {cfg.B}; "
          f"uniform m-wise queries, Plackett-Luce rankings from pre-drawn uniforms (m = 2 is "
          f"the pairwise Bradley-Terry data bit for bit); {cfg.seeds} seeds.", "",
          "Final checkpoint of the passive runs (OMD: pessimistic policy with the PL "
          "confidence set; PL MLE and pairwise breaking: greedy):", "",
          markdown_table(summary, ".4g"), "",
          f"**Exchange rate** (one m-wise ranking is worth this many pairwise comparisons, "
          f"PL MLE): {rate_line}.", "",
          markdown_table(rates_df, ".4g"), "",
          "Greedy against exhaustive subset construction (criterion ratio, per context, at "
          "lambda I and at the end of a greedy run):", "", markdown_table(ge_sum, ".4g"), "",
          "Deployment, cumulative regret at T (mean over seeds):", "",
          markdown_table(dep_last, ".4g"), "",
          "One-pass PL OMD throughput on one core (d = 8):", "", markdown_table(tp, ".4g"), "",
          (f"Speed requirement (m = 4, d = 8, at least 1e6 rankings/s on one core): measured "
           f"{float(target['rankings_per_cpu_s'].iloc[0]):,.0f} rankings per CPU second, "
           f"{float(target['rankings_per_s'].iloc[0]):,.0f} per wall-clock second (the "
           "pairwise one-pass OMD in the same run for scale)." if len(target) else ""),
          "", "Time per ranking of the estimators in the passive runs:", "",
          markdown_table(per_query, ".4g"), "",
          "Checks:", "", markdown_table(verdict_table(verdicts), ".4g"), ""]
    return SpecResult(tables=tables, figures=figs, markdown="\n".join(md), config=asdict(cfg),
                      verdicts=verdicts)


def spec():
    """The `kwise` Spec (registered by `paper_repro.specs`)."""
    from .specs import Spec

    return Spec("kwise", "Plackett-Luce rankings with m-wise queries: estimation error and "
                  "SubOpt per m, OMD vs PL MLE vs pairwise breaking, exchange rate, active, "
                  "deployment, rankings per second", run_kwise)


def main() -> None:
    """Print the throughput table (quick sizes)."""
    cfg = SCALES["quick"]
    print(ranking_throughput(cfg.bench_ms, 8, cfg.bench_T).to_string(index=False))


if __name__ == "__main__":
    main()


__all__ = ["KwiseConfig", "SCALES", "cost_along_stream", "ranking_throughput", "run_kwise",
           "spec"]
