"""Paired comparisons on common random numbers.

Every algorithm of a study sees the same environment, contexts and label uniforms under the
same seed (`paper_repro.cells`), so the per-seed difference

    D_s = metric(algorithm, seed s) - metric(reference, seed s)

removes the noise the two runs share. The comparison reports the mean of D over seeds with its
Student-t confidence interval at `level` and a word:

    better     the interval lies on the better side of 0 (below 0 when lower is better)
    worse      the interval lies on the worse side of 0
    tied       the interval contains 0 (the data cannot tell them apart at this level)
    identical  every per-seed difference is exactly 0
    undecided  fewer than two paired seeds

`half_width / |mean difference|` says whether the study had enough seeds: an interval much
narrower than the difference it found decides; a tie whose interval is wide against the effect
the study was built to detect says that the seeds were too few, not that the algorithms are
equal. `seeds_for_half_width` gives the number of seeds that brings the half-width to a target
from a pilot's standard deviation of D.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

BETTER, TIED, WORSE = "better", "tied", "worse"
UNDECIDED = "undecided"
"""Fewer than two paired seeds: no interval."""
IDENTICAL = "identical"
"""Every per-seed difference is exactly 0 (for instance two outputs of the same estimator
compared on its estimation error)."""


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of the Student-t interval of the mean of x at `level`; infinite
    bounds below two values."""
    from scipy.stats import t as t_dist

    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan, -math.inf, math.inf
    m = float(x.mean())
    if x.size < 2:
        return m, -math.inf, math.inf
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    q = float(t_dist.ppf(0.5 + level / 2, x.size - 1))
    return m, m - q * se, m + q * se


def paired_word(lo: float, hi: float, *, lower_is_better: bool, n: int) -> str:
    """better / tied / worse from the interval [lo, hi] of metric(alg) - metric(reference)."""
    if n < 2:
        return UNDECIDED
    if lo == 0.0 and hi == 0.0:
        return IDENTICAL
    if hi < 0.0:
        return BETTER if lower_is_better else WORSE
    if lo > 0.0:
        return WORSE if lower_is_better else BETTER
    return TIED


def seeds_for_half_width(sd: float, target: float, level: float = 0.95, *,
                         minimum: int = 3) -> int:
    """The smallest n >= minimum with t_{n-1} sd / sqrt(n) <= target (the half-width of the
    paired interval), for a pilot standard deviation sd of the per-seed difference."""
    from scipy.stats import t as t_dist

    if not (sd >= 0.0 and target > 0.0):
        raise ValueError(f"need sd >= 0 and target > 0, got sd={sd}, target={target}")
    n = max(2, minimum)
    while float(t_dist.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n) > target:
        n += 1
        if n > 100_000:
            break
    return n


def paired_differences(last: pd.DataFrame, metric: str, reference: str, *,
                       by: tuple[str, ...] = (), lower_is_better: bool = True,
                       level: float = 0.95, seed_col: str = "seed") -> pd.DataFrame:
    """Per (group, algorithm): the paired comparison of the module docstring against
    `reference` on the seeds both have, from a table with one row per (group, algorithm, seed)
    (for instance the final checkpoints).

    Columns: the `by` keys, algorithm, reference, metric, n (paired seeds), mean_alg, mean_ref,
    diff (mean of D), ci_low, ci_high, half_width, rel_diff (diff / |mean_ref|), verdict.
    ValueError when a column is missing or the reference has no row in a group."""
    need = ["algorithm", seed_col, metric, *by]
    missing = [c for c in need if c not in last.columns]
    if missing:
        raise ValueError(f"paired_differences needs columns {missing}")
    rows = []
    groups = last.groupby(list(by), sort=False) if by else [((), last)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        vals = g.pivot_table(index=seed_col, columns="algorithm", values=metric, aggfunc="mean")
        if reference not in vals.columns:
            where = f" in group {dict(zip(by, key))}" if by else ""
            raise ValueError(f"reference {reference!r} has no {metric} rows{where}; algorithms: "
                             f"{sorted(map(str, vals.columns))}")
        ref = vals[reference]
        for alg in [a for a in g["algorithm"].drop_duplicates() if a != reference]:
            both = vals[[alg, reference]].dropna()
            dif = (both[alg] - both[reference]).to_numpy(float)
            m, lo, hi = t_interval(dif, level)
            mref = float(ref.loc[both.index].mean()) if len(both) else math.nan
            rows.append({**dict(zip(by, key)), "algorithm": alg, "reference": reference,
                         "metric": metric, "n": int(dif.size),
                         "mean_alg": float(both[alg].mean()) if len(both) else math.nan,
                         "mean_ref": mref, "diff": m, "ci_low": lo, "ci_high": hi,
                         "half_width": (hi - lo) / 2.0,
                         "rel_diff": m / abs(mref) if mref else math.nan,
                         "verdict": paired_word(lo, hi, lower_is_better=lower_is_better,
                                                n=int(dif.size))})
    return pd.DataFrame(rows)


def paired_markdown_table(tab: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The paired table as short strings: 'diff [lo, hi]' and the verdict, for reports."""
    def f(x: float) -> str:
        return f"{x:.{digits}g}"

    keys = [c for c in tab.columns if c not in {
        "reference", "metric", "n", "mean_alg", "mean_ref", "diff", "ci_low", "ci_high",
        "half_width", "rel_diff", "verdict"}]
    out = tab[keys].copy()
    out["metric"] = tab["metric"]
    out["vs"] = tab["reference"]
    out["paired diff [95% CI]"] = [f"{f(m)} [{f(lo)}, {f(hi)}]" for m, lo, hi in
                                   zip(tab["diff"], tab["ci_low"], tab["ci_high"])]
    out["relative"] = [f"{100 * r:+.1f}%" if np.isfinite(r) else "-" for r in tab["rel_diff"]]
    out["seeds"] = tab["n"]
    out["verdict"] = tab["verdict"]
    return out


def verdict_sentence(tab: pd.DataFrame, *, lower_is_better: bool = True) -> str:
    """One sentence naming the algorithms better, tied and worse than the reference."""
    if tab.empty:
        return "No paired comparison."
    ref = str(tab["reference"].iloc[0])
    metric = str(tab["metric"].iloc[0])
    parts = []
    phrase = {BETTER: f"better than {ref}", TIED: f"tied with {ref}",
              WORSE: f"worse than {ref}", UNDECIDED: "undecided (under two seeds)",
              IDENTICAL: f"identical to {ref}"}
    for word in (BETTER, TIED, WORSE, UNDECIDED, IDENTICAL):
        algs = [str(a) for a in tab.loc[tab["verdict"] == word, "algorithm"]]
        if algs:
            parts.append(f"{phrase[word]}: {', '.join(algs)}")
    side = "lower" if lower_is_better else "higher"
    return (f"Paired against {ref} on {metric} ({side} is better; 95% CI of the mean per-seed "
            f"difference on common seeds): " + "; ".join(parts) + ".")


__all__ = ["BETTER", "IDENTICAL", "TIED", "UNDECIDED", "WORSE", "paired_differences",
           "paired_markdown_table", "paired_word", "seeds_for_half_width", "t_interval",
           "verdict_sentence"]
