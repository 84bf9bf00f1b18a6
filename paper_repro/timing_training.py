"""Timing of the training stage: the cost claims of ALGORITHMS.md 3.1, 3.2 and Table 1.

Tables (tidy pandas DataFrames, by name):

- `passive_omd`: one passive run of Algorithm 2 (one-pass OMD over T samples, then the
  exact pessimistic policy) at d = 10: seconds of the OMD pass, of the output policy, and of
  the whole `run_training` call (drawing the data and the metrics included).
- `active_selection`: Algorithm 3 at n_x = 200, K = 10, d = 10 (9,000 candidate pairs) in
  rounds per second, with the pair norms kept by rank-one downdates (O(n_x K (K + d)) per
  round) and recomputed every round (O(n_x K^2 d^2)), and the speed-up between the two.
- `time_per_round_vs_t`: seconds per round at several t for the MLE baselines that refit
  every round (apo, apo-weighted, active-mle: O(t) per round) next to Algorithm 3 (flat),
  from the learner time between two close checkpoints of one run, with the number of
  refits of the run that stopped at the Newton iteration cap without reaching the tolerance
  (`algorithms.mle.mle_newton`; each such refit costs the full cap of iterations).

All numbers are printed, never asserted: no test is timed. Each measured call follows a
warm-up call, so compilation is excluded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.training import run_training
from figures.tables import markdown_table
from sim.generators import random_directions_env


@dataclass(frozen=True)
class TrainingTimingConfig:
    """Sizes of the training timing study."""

    passive_T: int = 1_000_000
    passive_d: int = 10
    passive_n_x: int = 50
    passive_K: int = 10
    active_n_x: int = 200
    active_K: int = 10
    active_d: int = 10
    active_T: int = 50_000
    """Rounds of the incremental run."""
    recompute_T: int = 1_000
    """Rounds of the run that recomputes every pair norm."""
    per_round_ts: tuple[int, ...] = (100, 1_000, 4_000)
    """Rounds t at which the time per round is measured."""
    per_round_window: int = 50
    """Rounds between the two checkpoints that time one t."""
    per_round_n_x: int = 50
    per_round_K: int = 10
    per_round_d: int = 10
    seed: int = 20250211


SCALES: dict[str, TrainingTimingConfig] = {
    "quick": TrainingTimingConfig(),
    "full": TrainingTimingConfig(passive_T=10_000_000, active_T=200_000, recompute_T=2_000,
                                 per_round_ts=(100, 1_000, 4_000, 8_000)),
    "tiny": TrainingTimingConfig(passive_T=20_000, active_n_x=20, active_T=2_000,
                                 recompute_T=200, per_round_ts=(50, 200), per_round_window=20),
}


def _env(n_x: int, K: int, d: int, seed: int):
    return random_directions_env(n_x, K, d, L=1.0, B=2.0, seed=seed)


def passive_omd_timing(cfg: TrainingTimingConfig) -> pd.DataFrame:
    """Seconds of one passive run of Algorithm 2 (see module docstring)."""
    env = _env(cfg.passive_n_x, cfg.passive_K, cfg.passive_d, cfg.seed)
    run_training("passive-omd-pessimistic", env, 100, 0, checkpoints=1, n_eval=0)
    rows = []
    for T in sorted({min(cfg.passive_T, 10_000), cfg.passive_T}):
        t0 = time.perf_counter()
        rec = run_training("passive-omd-pessimistic", env, T, cfg.seed, checkpoints=1,
                           n_eval=0).records.iloc[-1]
        total = time.perf_counter() - t0
        learner = float(rec["wall_time"] + rec["output_time"])
        rows.append(dict(T=T, d=env.d, n_x=env.n_x, K=env.K,
                         omd_pass_seconds=float(rec["wall_time"]),
                         pessimistic_policy_seconds=float(rec["output_time"]),
                         learner_seconds=learner, run_training_seconds=total,
                         samples_per_s=T / learner, subopt=float(rec["subopt"])))
    return pd.DataFrame(rows)


def active_selection_timing(cfg: TrainingTimingConfig) -> pd.DataFrame:
    """Rounds per second of Algorithm 3 with incremental and with recomputed pair norms."""
    env = _env(cfg.active_n_x, cfg.active_K, cfg.active_d, cfg.seed)
    rows = []
    for mode, T in (("incremental", cfg.active_T), ("recompute", cfg.recompute_T)):
        run_training("active-omd", env, 10, 0, checkpoints=1, n_eval=0, pair_norms=mode)
        rec = run_training("active-omd", env, T, cfg.seed, checkpoints=1, n_eval=0,
                           pair_norms=mode).records
        sec = float(rec["wall_time"].iloc[-1])
        rows.append(dict(pair_norms=mode, n_x=env.n_x, K=env.K, d=env.d,
                         pairs=env.n_x * env.K * (env.K - 1) // 2, rounds=T, seconds=sec,
                         rounds_per_s=T / sec))
    df = pd.DataFrame(rows)
    rate = df.set_index("pair_norms")["rounds_per_s"]
    df["speedup_of_incremental"] = rate["incremental"] / df["rounds_per_s"]
    return df


def time_per_round_vs_t(cfg: TrainingTimingConfig) -> pd.DataFrame:
    """Seconds per round at each t of cfg.per_round_ts, from one run per algorithm."""
    env = _env(cfg.per_round_n_x, cfg.per_round_K, cfg.per_round_d, cfg.seed)
    w = cfg.per_round_window
    ck = np.array(sorted({t for t0 in cfg.per_round_ts for t in (t0, t0 + w)}))
    rows = []
    for algorithm in ("active-omd", "apo", "apo-weighted", "active-mle"):
        res = run_training(algorithm, env, int(ck[-1]), cfg.seed, checkpoints=ck, n_eval=0)
        rec = res.records.set_index("t")
        for t0 in cfg.per_round_ts:
            sec = (rec.loc[t0 + w, "wall_time"] - rec.loc[t0, "wall_time"]) / w
            rows.append(dict(algorithm=algorithm, t=t0, seconds_per_round=float(sec),
                             mle_failures_in_run=int(res.info.get("mle_failures", 0))))
    df = pd.DataFrame(rows)
    first = df.groupby("algorithm")["seconds_per_round"].transform("first")
    df["relative_to_first_t"] = df["seconds_per_round"] / first
    return df


def training_benchmarks(scale: str) -> dict[str, pd.DataFrame]:
    """All parts of the training timing study at scale "quick", "full" or "tiny", by name."""
    try:
        cfg = SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}") from None
    return {"passive_omd": passive_omd_timing(cfg),
            "active_selection": active_selection_timing(cfg),
            "time_per_round_vs_t": time_per_round_vs_t(cfg)}


def training_benchmarks_markdown(tables: dict[str, pd.DataFrame]) -> str:
    """A Markdown section presenting the tables of `training_benchmarks`."""
    p, a, r = tables["passive_omd"], tables["active_selection"], tables["time_per_round_vs_t"]
    big = p.iloc[-1]
    inc = a.set_index("pair_norms").loc["incremental"]
    rec = a.set_index("pair_norms").loc["recompute"]
    lines = [
        f"Passive data collection (Algorithm 2): one pass of one-pass OMD over "
        f"{int(big['T']):,} samples at d = {int(big['d'])} took {big['omd_pass_seconds']:.3g} s "
        f"and the exact pessimistic policy {big['pessimistic_policy_seconds']:.3g} s "
        f"({big['samples_per_s']:,.0f} samples/s); the whole run_training call, data and "
        f"metrics included, {big['run_training_seconds']:.3g} s.", "",
        markdown_table(p, ".4g"), "",
        f"Active data collection (Algorithm 3) over {int(inc['pairs']):,} candidate pairs "
        f"(n_x = {int(inc['n_x'])}, K = {int(inc['K'])}, d = {int(inc['d'])}): "
        f"{inc['rounds_per_s']:,.0f} rounds/s with rank-one downdates of the pair norms, "
        f"{rec['rounds_per_s']:,.0f} rounds/s recomputing them (speed-up "
        f"x{rec['speedup_of_incremental']:.3g}).",
        "", markdown_table(a, ".4g"), "",
        "Seconds per round against t: flat for Algorithm 3, growing with t for the baselines "
        "that refit the MLE every round (mle_failures_in_run: refits of the run that hit the "
        "Newton iteration cap):", "",
        markdown_table(r, ".4g"), ""]
    return "\n".join(lines)
