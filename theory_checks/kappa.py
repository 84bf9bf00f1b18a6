"""Measured kappa dependence: exponents of SubOpt, regret and estimation error against kappa,
fitted from result tables, with intervals over seeds, and the verdicts built on them.

Input: a table of final rows, one per (stage, algorithm, kappa, seed), with the measured
columns (for example subopt_norm, regret_norm, err_l2, err_own). For a metric Y and the swept
kappas k_1 < ... < k_n, the measured exponent is the least-squares slope of

    log( mean over seeds of Y(k_j) )   against   log k_j,

and its interval is the percentile bootstrap over seeds (the seeds are resampled with
replacement, the same resampled seeds at every kappa, so the common random numbers of a seed
stay together). Two algorithms run on the same seeds are compared by the paired bootstrap of
the difference of their exponents (the same resampled seeds for both).

A resample in which the mean at some kappa is 0 (every resampled seed reached SubOpt exactly 0
there) has no finite slope. Such resamples are not dropped: they are put at -inf for the lower
end and at +inf for the upper end of the interval, which widens it on both sides (never
narrower than the interval of the valid resamples); when they exceed the tail mass
(1 - level) / 2 the interval is unbounded. An exponent whose full-sample mean is 0 at some
kappa is NaN.

Verdicts: measured exponents are "report" rows (the paper bounds SubOpt and regret from above;
an upper bound predicts no measured exponent). A judged claim is made only where the theory
predicts an order at matched coverage, e.g. "the one-pass OMD's estimation-error exponent in
kappa is not larger than the MLE's" (Lemma 1 bounds the OMD error in Hcal_t by a kappa-free
beta_t, as the MLE's is in its Hessian norm): `not_larger_verdict` passes when the whole
interval of the difference lies at or below the tolerance, fails when it lies entirely above,
and reports "inconclusive" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .verdicts import FAIL, PASS, REPORT, Verdict

DEFAULT_BOOT = 2000
"""Bootstrap resamples of the intervals."""


def seed_matrix(final: pd.DataFrame, metric: str, *, x: str = "kappa",
                seed: str = "seed") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, seeds, Y): the sorted swept values, the seeds present at every one of them, and
    Y[i, j] = metric of seed i at xs[j]. ValueError for a missing column, a duplicated
    (seed, x) row or fewer than two swept values."""
    missing = [c for c in (metric, x, seed) if c not in final.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing}")
    if final.duplicated([seed, x]).any():
        raise ValueError(f"the table has more than one row per ({seed}, {x}): pass one "
                         "algorithm's final rows")
    piv = final.pivot(index=seed, columns=x, values=metric).sort_index(axis=1).dropna(axis=0)
    if piv.shape[1] < 2:
        raise ValueError(f"need at least two values of {x}, got {piv.shape[1]}")
    if piv.shape[0] < 1:
        raise ValueError(f"no seed has {metric} at every {x}")
    Y = piv.to_numpy(dtype=float)
    if not np.all(np.isfinite(Y)) or np.any(Y < 0):
        raise ValueError(f"{metric} must be finite and >= 0 to fit an exponent")
    return piv.columns.to_numpy(dtype=float), piv.index.to_numpy(), Y


def _slope(lx: np.ndarray, Y: np.ndarray) -> float:
    """Slope of log(mean over rows) on lx; NaN when a mean is 0."""
    m = Y.mean(axis=0)
    if np.any(m <= 0):
        return float("nan")
    return float(np.polyfit(lx, np.log(m), 1)[0])


def _interval(boots: np.ndarray, level: float) -> tuple[float, float, int]:
    """Percentile interval with the degenerate (NaN) resamples at -inf (lower end) and +inf
    (upper end); returns (lo, hi, number of degenerate resamples)."""
    a = (1.0 - level) / 2.0
    bad = np.isnan(boots)
    # order statistics (no interpolation): conservative, and defined with infinite entries
    lo = float(np.quantile(np.where(bad, -np.inf, boots), a, method="lower"))
    hi = float(np.quantile(np.where(bad, np.inf, boots), 1.0 - a, method="higher"))
    return lo, hi, int(bad.sum())


def _check_level(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")


def fit_exponent(x: np.ndarray, Y: np.ndarray, *, n_boot: int = DEFAULT_BOOT, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float, int]:
    """Exponent of mean_seeds Y against x on log-log axes (module docstring), with the
    percentile bootstrap interval over the rows (seeds) of Y (n_seeds, n).

    Returns (exponent, lo, hi, degenerate resamples). With one seed the interval is
    (exponent, exponent): no spread over seeds can be measured."""
    _check_level(level, n_boot)
    x = np.asarray(x, dtype=float)
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    if x.ndim != 1 or x.size < 2 or Y.shape[1] != x.size:
        raise ValueError(f"Y must be (n_seeds, {x.size}) with at least two points")
    if np.any(x <= 0) or np.any(Y < 0) or not np.all(np.isfinite(Y)):
        raise ValueError("exponents need x > 0 and finite Y >= 0")
    lx = np.log(x)
    s = _slope(lx, Y)
    n = Y.shape[0]
    if n == 1:
        return s, s, s, 0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (n_boot, n))
    boots = np.array([_slope(lx, Y[i]) for i in idx])
    lo, hi, bad = _interval(boots, level)
    return s, lo, hi, bad


def difference_exponent(x: np.ndarray, Ya: np.ndarray, Yb: np.ndarray, *,
                        n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95
                        ) -> tuple[float, float, float, int]:
    """exponent(Ya) - exponent(Yb) with the paired bootstrap interval: the same resampled rows
    (seeds, common random numbers) for both. Ya and Yb are (n_seeds, n) on the same seeds."""
    _check_level(level, n_boot)
    x = np.asarray(x, dtype=float)
    Ya = np.atleast_2d(np.asarray(Ya, dtype=float))
    Yb = np.atleast_2d(np.asarray(Yb, dtype=float))
    if Ya.shape != Yb.shape or Ya.shape[1] != x.size or x.size < 2:
        raise ValueError(f"Ya and Yb must both be (n_seeds, {x.size}), got {Ya.shape} and "
                         f"{Yb.shape}")
    lx = np.log(x)
    d = _slope(lx, Ya) - _slope(lx, Yb)
    n = Ya.shape[0]
    if n == 1:
        return d, d, d, 0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (n_boot, n))
    boots = np.array([_slope(lx, Ya[i]) - _slope(lx, Yb[i]) for i in idx])
    lo, hi, bad = _interval(boots, level)
    return d, lo, hi, bad


def exponent_table(final: pd.DataFrame, metrics: Sequence[str], *, x: str = "kappa",
                   by: Sequence[str] = ("stage", "algorithm"), n_boot: int = DEFAULT_BOOT,
                   seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """One row per group of `by` and metric: the measured exponent in x with its bootstrap
    interval over seeds (columns *by, metric, exponent, lo, hi, seeds, points, degenerate)."""
    rows = []
    for key, g in final.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            if m not in g.columns or g[m].isna().all():
                continue
            xs, seeds, Y = seed_matrix(g, m, x=x)
            s, lo, hi, bad = fit_exponent(xs, Y, n_boot=n_boot, seed=seed, level=level)
            rows.append({**dict(zip(by, key)), "metric": m, "exponent": s, "lo": lo, "hi": hi,
                         "seeds": int(seeds.size), "points": int(xs.size), "degenerate": bad})
    return pd.DataFrame(rows, columns=[*by, "metric", "exponent", "lo", "hi", "seeds", "points",
                                       "degenerate"])


def paired_difference(final: pd.DataFrame, metric: str, a: str, b: str, *, x: str = "kappa",
                      algorithm: str = "algorithm", n_boot: int = DEFAULT_BOOT, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float, int]:
    """exponent(a) - exponent(b) of metric, paired over the seeds both algorithms have at
    every x (`difference_exponent`)."""
    xa, sa, Ya = seed_matrix(final[final[algorithm] == a], metric, x=x)
    xb, sb, Yb = seed_matrix(final[final[algorithm] == b], metric, x=x)
    if not np.array_equal(xa, xb):
        raise ValueError(f"{a} and {b} were run at different values of {x}")
    common = np.intersect1d(sa, sb)
    if common.size == 0:
        raise ValueError(f"{a} and {b} share no seed")
    Ya = Ya[np.searchsorted(sa, common)]
    Yb = Yb[np.searchsorted(sb, common)]
    return difference_exponent(xa, Ya, Yb, n_boot=n_boot, seed=seed, level=level)


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def exponent_reports(exps: pd.DataFrame, label: str, *, level: float = 0.95) -> list[Verdict]:
    """The rows of `exponent_table` as "report" verdicts (measured numbers, no claim)."""
    out = []
    for rd in exps.to_dict("records"):
        stage = f"{rd['stage']}:" if "stage" in rd else ""
        extra = f"; {rd['degenerate']} resamples with a zero mean" if rd["degenerate"] else ""
        out.append(Verdict(f"kappa-exponent[{label}:{stage}{rd['algorithm']}:{rd['metric']}]",
                           f"measured exponent of {rd['metric']} in kappa (no claim)",
                           float(rd["exponent"]), float("nan"), REPORT,
                           f"{level:.0%} bootstrap CI over {rd['seeds']} seeds "
                           f"{_ci(rd['lo'], rd['hi'])}, {rd['points']} kappas{extra}"))
    return out


def not_larger_verdict(name: str, claim: str, diff: float, lo: float, hi: float, *,
                       tol: float = 0.1, level: float = 0.95) -> Verdict:
    """Claim exponent(a) <= exponent(b) + tol, from the interval [lo, hi] of the difference
    exponent(a) - exponent(b): pass when hi <= tol (the interval excludes the violation), fail
    when lo > tol (it excludes the claim), report "inconclusive" otherwise."""
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be finite and >= 0, got {tol!r}")
    if np.isnan(diff):
        return Verdict(name, claim, diff, tol, REPORT, "no finite exponent: a mean is 0")
    detail = f"difference {diff:.3f}, {level:.0%} paired bootstrap CI {_ci(lo, hi)}; tolerance {tol:g}"
    if hi <= tol:
        return Verdict(name, claim, diff, tol, PASS, detail)
    if lo > tol:
        return Verdict(name, claim, diff, tol, FAIL, detail)
    return Verdict(name, claim, diff, tol, REPORT, detail + "; inconclusive at this scale")


def not_larger_check(final: pd.DataFrame, metric: str, a: str, b: str, label: str, *,
                     tol: float = 0.1, x: str = "kappa", n_boot: int = DEFAULT_BOOT,
                     seed: int = 0, level: float = 0.95) -> Verdict:
    """`not_larger_verdict` for "exponent of metric in kappa: a not larger than b + tol",
    from one stage's final rows (paired over seeds)."""
    d, lo, hi, _ = paired_difference(final, metric, a, b, x=x, n_boot=n_boot, seed=seed,
                                     level=level)
    return not_larger_verdict(f"kappa-order[{label}:{metric}]",
                              f"exponent of {metric} in kappa: {a} <= {b} + {tol:g}",
                              d, lo, hi, tol=tol, level=level)


def mean_intervals(final: pd.DataFrame, metric: str, *, by: Sequence[str] = ("algorithm", "kappa"),
                   n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per group: mean over seeds of metric and its percentile bootstrap interval over seeds
    (columns *by, mean, lo, hi, seeds)."""
    _check_level(level, n_boot)
    rng = np.random.default_rng(seed)
    a = (1.0 - level) / 2.0
    rows = []
    for key, g in final.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        v = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(dtype=float)
        if v.size == 0:
            continue
        boots = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)
        rows.append({**dict(zip(by, key)), "mean": float(v.mean()),
                     "lo": float(np.quantile(boots, a)), "hi": float(np.quantile(boots, 1 - a)),
                     "seeds": int(v.size)})
    return pd.DataFrame(rows, columns=[*by, "mean", "lo", "hi", "seeds"])


__all__ = ["DEFAULT_BOOT", "difference_exponent", "exponent_reports", "exponent_table",
           "fit_exponent", "mean_intervals", "not_larger_check", "not_larger_verdict",
           "paired_difference", "seed_matrix"]
