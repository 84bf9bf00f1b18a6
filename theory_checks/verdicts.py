"""Verdicts: each check reduces measurements to one row (check, claim, measured, threshold,
verdict, detail). A verdict is "pass", "fail" (a claimed bound violated beyond its allowance)
or "report" (a number the paper makes no claim about, shown as measured).

The functions here are pure: they take arrays of measurements and return a `Verdict`, so they
can be tested on inputs built to pass and inputs built to fail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import beta as beta_dist

PASS, FAIL, REPORT = "pass", "fail", "report"


@dataclass(frozen=True)
class Verdict:
    check: str
    claim: str
    measured: float
    threshold: float
    verdict: str
    detail: str = ""

    def row(self) -> dict:
        return asdict(self)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval for k successes in n trials."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(beta_dist.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta_dist.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def coverage_verdict(name: str, left_set: np.ndarray, delta: float, level: float = 0.95) -> Verdict:
    """Lemma 1: P(theta* leaves C_t for some t) <= delta. left_set[i] is True when run i saw
    theta* outside its confidence set at some round. Fails only when the Clopper-Pearson
    interval of the leaving frequency lies entirely above delta."""
    left = np.asarray(left_set, dtype=bool)
    k, n = int(left.sum()), int(left.size)
    lo, hi = clopper_pearson(k, n, level)
    verdict = FAIL if lo > delta else PASS
    return Verdict(name, f"P(theta* leaves C_t) <= delta = {delta:g}", k / n, delta, verdict,
                   f"{k}/{n} runs left the set; {level:.0%} CI [{lo:.3g}, {hi:.3g}]")


def instance_bound_verdict(name: str, measured: np.ndarray, bound: np.ndarray,
                           in_event: np.ndarray, rtol: float = 1e-9, unit: str = "runs") -> Verdict:
    """Instance bound: on every run where theta* stayed in the confidence set, measured <= bound
    (up to rtol for rounding). Reports violations (expected 0) and the median tightness
    measured / bound over those runs."""
    m = np.asarray(measured, dtype=float)
    b = np.asarray(bound, dtype=float)
    ev = np.asarray(in_event, dtype=bool)
    if not (m.shape == b.shape == ev.shape):
        raise ValueError("measured, bound and in_event must have the same shape")
    if not ev.any():
        return Verdict(name, "measured <= instance bound on the event", float("nan"), 0.0, REPORT,
                       "no run stayed in the confidence set: nothing to check")
    viol = int(np.sum(m[ev] > b[ev] * (1 + rtol) + 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        tight = float(np.nanmedian(np.where(b[ev] > 0, m[ev] / b[ev], np.nan)))
    return Verdict(name, "measured <= instance bound on the event", viol, 0.0,
                   PASS if viol == 0 else FAIL,
                   f"{viol} violations in {int(ev.sum())} {unit} on the event; median measured/bound "
                   f"= {tight:.3g}")


def loglog_slope(x: np.ndarray, Y: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Least-squares slope of log(mean_seeds Y) on log x, with a bootstrap interval over seeds
    (over the points when there is one seed).

    x is (n,), Y is (n_seeds, n) with positive entries. Returns (slope, lo, hi)."""
    x = np.asarray(x, dtype=float)
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    if Y.shape[1] != x.size or x.size < 2:
        raise ValueError(f"Y must be (n_seeds, {x.size}) with at least two points")
    if np.any(x <= 0) or np.any(Y <= 0):
        raise ValueError("log-log slopes need positive x and Y")
    lx = np.log(x)

    def slope(rows):
        return float(np.polyfit(lx, np.log(rows.mean(axis=0)), 1)[0])

    s = slope(Y)
    rng = np.random.default_rng(seed)
    n = Y.shape[0]
    if n > 1:  # resample seeds
        boots = np.array([slope(Y[rng.integers(0, n, n)]) for _ in range(n_boot)])
    else:  # one run: resample the points
        ly = np.log(Y[0])
        fits = []
        for _ in range(n_boot):
            i = rng.integers(0, x.size, x.size)
            if np.ptp(lx[i]) > 0:
                fits.append(np.polyfit(lx[i], ly[i], 1)[0])
        boots = np.array(fits) if fits else np.array([s])
    a = (1 - level) / 2
    return s, float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


def rate_verdict(name: str, x: np.ndarray, Y: np.ndarray, claim: float, *, tol: float = 0.1,
                 seed: int = 0) -> Verdict:
    """A rate claim "slope <= claim" on log-log axes (e.g. SubOpt ~ T^{-1/2}: claim -0.5; regret
    ~ T^{1/2}: claim 0.5). Fails when the whole bootstrap interval lies above claim + tol."""
    s, lo, hi = loglog_slope(x, Y, seed=seed)
    return Verdict(name, f"log-log slope <= {claim:g}", s, claim + tol,
                   FAIL if lo > claim + tol else PASS,
                   f"slope {s:.3f}, 95% CI [{lo:.3f}, {hi:.3f}]; tolerance {tol:g}")


def ordering_verdict(name: str, claim: str, smaller: np.ndarray, larger: np.ndarray,
                     rtol: float = 1e-12) -> Verdict:
    """smaller <= larger entrywise (e.g. the OMD bound against the MLE bound over kappa)."""
    s = np.asarray(smaller, dtype=float)
    g = np.asarray(larger, dtype=float)
    viol = int(np.sum(s > g * (1 + rtol)))
    return Verdict(name, claim, viol, 0.0, PASS if viol == 0 else FAIL,
                   f"{viol} of {s.size} points out of order; max ratio {float(np.max(s / g)):.3g}")


def exponent_report(name: str, claim: str, x: np.ndarray, Y: np.ndarray) -> Verdict:
    """A fitted log-log exponent reported as measured (no pass/fail)."""
    s, lo, hi = loglog_slope(x, Y)
    return Verdict(name, claim, s, float("nan"), REPORT, f"95% CI [{lo:.3f}, {hi:.3f}]")


def cost_verdict(name: str, t: np.ndarray, seconds: np.ndarray, *, flat: bool,
                 flat_max: float = 0.2, grow_min: float = 0.5) -> Verdict:
    """Time per round against t: flat (fitted slope's upper CI end < flat_max) for the one-pass
    methods, growing (lower CI end > grow_min) for the MLE baselines. seconds is (reps, n)."""
    s, lo, hi = loglog_slope(t, seconds)
    if flat:
        ok, claim, thr = hi < flat_max, "time per round flat in t", flat_max
    else:
        ok, claim, thr = lo > grow_min, "time per round grows with t", grow_min
    return Verdict(name, claim, s, thr, PASS if ok else FAIL,
                   f"log-log slope {s:.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")


def verdict_table(verdicts: list[Verdict]):
    """The verdicts as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame([v.row() for v in verdicts],
                        columns=["check", "claim", "measured", "threshold", "verdict", "detail"])


def any_failed(verdicts: list[Verdict]) -> bool:
    return any(v.verdict == FAIL for v in verdicts)


