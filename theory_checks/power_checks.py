"""Checks that judge an algorithm by what it outputs on the environments, each able to fail.

Every function takes the outputs of runs (tidy records, per-round traces, final estimates,
the environment's exact quantities) and returns a `Verdict`. None compares an algorithm with
the project's own implementation of it; where a yardstick is needed it is a different estimator
(the MLE) or the same learner with another selection rule, on common random numbers. Each
verdict says in its detail whether the check was decisive at this scale (it could have failed
on the data it saw) or vacuous.

    coverage_calibrated   the algorithm's own radius, calibrated on other seeds, covers theta*
                          with probability 1 - delta on fresh seeds (coverage limit) and is not
                          far larger than needed (tightness limit)
    coverage_theory       the Lemma 1 radius with Lemma 1's own lambda; judged, and reported as
                          vacuous when a radius ten times smaller would still cover every run
    instance_bound        the instance bound of the stage, judged only where it is below the
                          trivial bound (the largest reward gap); the non-vacuous fraction shown
    accounting            reported regret / SubOpt equal a direct recomputation from the pairs
                          shown or the output policy
    beats_chance          held-out agreement with sign(z' theta*) above 1/2
    error_within_mle      estimation error within a stated constant of the MLE's at equal T
    beats_uniform         maximum-norm selection beats the same learner on uniform pairs on an
                          instance built for it
    inverse_consistent    the reported inverse matrix is the inverse of the reported matrix
    stays_in_ball         every iterate within the B-ball where the model claims to project
    rate                  log-log slope of a metric against t, with a sound interval when some
                          seeds reach 0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .paired import t_interval
from .verdicts import FAIL, PASS, Verdict, clopper_pearson

UNDECIDED = "undecided"


def _shape(d: int, t: np.ndarray, delta: float) -> np.ndarray:
    return np.sqrt(d * np.log1p(np.asarray(t, dtype=float) / delta))


def max_error_ratio(records: pd.DataFrame, d: int, delta: float, t0: int,
                    denominator: str = "shape") -> pd.Series:
    """Per seed: max over recorded t > t0 of ||theta_t - theta*||_{M_t} divided by
    sqrt(d log(1 + t/delta)) (denominator "shape") or by the run's beta_t ("beta")."""
    r = records[records["t"] > t0]
    if denominator == "shape":
        den = _shape(d, r["t"].to_numpy(), delta)
    else:
        den = r["beta"].to_numpy(dtype=float)
    ratio = pd.Series(r["err_hcal"].to_numpy(dtype=float) / den, index=r.index)
    return ratio.groupby(r["seed"]).max()


def calibrated_c_beta(records: pd.DataFrame, d: int, delta: float, t0: int) -> float:
    """c_beta = the (1 - delta) quantile over calibration runs of
    max_{t > t0} ||theta_t - theta*||_{M_t} / sqrt(d log(1 + t/delta)) (ALGORITHMS.md 6)."""
    need = max_error_ratio(records, d, delta, t0)
    if need.empty or not np.all(np.isfinite(need)):
        return math.inf
    return float(np.quantile(need.to_numpy(), 1.0 - delta, method="higher"))


def coverage_calibrated(name: str, records: pd.DataFrame, *, d: int, delta: float, t0: int,
                        tightness_min: float = 0.25, level: float = 0.95) -> Verdict:
    """Fresh-seed runs with the calibrated radius: the fraction of runs in which theta* leaves
    C_t at some t > t0 must not exceed delta (fails when the Clopper-Pearson interval lies above
    delta), and the median over runs of max_t ||theta_t - theta*||_{M_t} / beta_t must be at
    least tightness_min (a radius more than 1/tightness_min times larger than needed fails)."""
    ratio = max_error_ratio(records, d, delta, t0, denominator="beta")
    left = ratio.to_numpy() > 1.0
    k, n = int(left.sum()), int(left.size)
    lo, hi = clopper_pearson(k, n, level)
    med = float(np.median(ratio)) if n else math.nan
    too_small = lo > delta
    too_large = med < tightness_min
    verdict = FAIL if (too_small or too_large) else PASS
    why = ("coverage below 1 - delta" if too_small else
           "radius far larger than needed" if too_large else "covered and tight")
    return Verdict(name, f"P(theta* leaves C_t) <= {delta:g} and median max err/beta >= "
                   f"{tightness_min:g}", k / max(n, 1), delta, verdict,
                   f"{why}: {k}/{n} runs left the set (CI [{lo:.3g}, {hi:.3g}]); median max "
                   f"err/beta {med:.3g}; decisive (both limits can fail at this size)")


def coverage_theory(name: str, records: pd.DataFrame, *, delta: float, t0: int,
                    level: float = 0.95) -> Verdict:
    """The Lemma 1 radius (theory constants): judged by the leaving frequency; marked vacuous
    when every run's max_t err/beta_t stays below 0.1 (a ten times smaller radius would still
    cover every run, so the check could not tell a too-small radius from a right one)."""
    t0 = 0 if records["t"].max() <= t0 else t0
    r = records[records["t"] > t0]
    ratio = (r["err_hcal"] / r["beta"]).groupby(r["seed"]).max()
    left = ratio.to_numpy() > 1.0
    k, n = int(left.sum()), int(left.size)
    lo, hi = clopper_pearson(k, n, level)
    vacuous = bool(ratio.max() < 0.1)
    verdict = FAIL if lo > delta else PASS
    return Verdict(name, f"P(theta* leaves C_t) <= {delta:g} (theory radius, Lemma 1 lambda)",
                   k / n, delta, verdict,
                   f"{k}/{n} runs left (CI [{lo:.3g}, {hi:.3g}]); max err/beta {ratio.max():.3g}"
                   + ("; vacuous: a radius 10x smaller would still cover" if vacuous else
                      "; decisive"))


def instance_bound(name: str, measured: np.ndarray, bound: np.ndarray, in_event: np.ndarray,
                   trivial: np.ndarray, *, rtol: float = 1e-9, min_decisive: int = 20) -> Verdict:
    """measured <= bound where theta* is in the confidence set AND the bound is below the
    trivial bound (the largest possible value of the measured quantity). Reports the
    non-vacuous fraction; with fewer than min_decisive non-vacuous rows the verdict is
    undecided."""
    m, b, ev, tr = (np.asarray(a, dtype=float) for a in (measured, bound, in_event, trivial))
    ev = ev.astype(bool)
    finite = np.isfinite(b)
    nonvac = finite & (b < tr)
    judged = nonvac & ev
    viol = int(np.sum(m[judged] > b[judged] * (1 + rtol) + 1e-12))
    frac = float(nonvac.sum() / max(finite.sum(), 1))
    n = int(judged.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        tight = float(np.nanmedian(np.where(judged & (b > 0), m / b, np.nan))) if n else math.nan
    if n < min_decisive:
        verdict, state = (FAIL if viol else UNDECIDED), "undecided (too few non-vacuous rows)"
    else:
        verdict, state = (FAIL if viol else PASS), "decisive"
    return Verdict(name, "measured <= instance bound where the bound is below the trivial one",
                   viol, 0.0, verdict,
                   f"{viol} violations in {n} non-vacuous rows on the event; non-vacuous "
                   f"fraction {frac:.3g} of {int(finite.sum())}; median measured/bound "
                   f"{tight:.3g}; {state}")


def per_round_regret_direct(rewards: np.ndarray, x: np.ndarray, a: np.ndarray,
                            a2: np.ndarray) -> np.ndarray:
    """r(x, pi*(x)) - (r(x, a) + r(x, a')) / 2 per round, directly from the reward table."""
    best = rewards.max(axis=1)
    return best[x] - 0.5 * (rewards[x, a] + rewards[x, a2])


def accounting_regret(name: str, reported_cumulative: np.ndarray, rewards: np.ndarray,
                      x: np.ndarray, a: np.ndarray, a2: np.ndarray,
                      rtol: float = 1e-9) -> Verdict:
    """The reported cumulative regret equals the cumulative sum of the per-round regret
    recomputed from the pairs shown and the true rewards."""
    direct = np.cumsum(per_round_regret_direct(rewards, x, a, a2))
    rep = np.asarray(reported_cumulative, dtype=float)
    err = float(np.max(np.abs(rep - direct) / np.maximum(1.0, np.abs(direct))))
    return Verdict(name, "reported regret = direct recomputation", err, rtol,
                   FAIL if err > rtol else PASS, f"max relative difference {err:.3g}; decisive")


def suboptimality_direct(rewards: np.ndarray, rho: np.ndarray, policy: np.ndarray) -> float:
    """J(pi*) - J(pi) = sum_x rho_x [max_a r(x, a) - E_{a ~ pi(x)} r(x, a)], directly."""
    pol = np.asarray(policy)
    if pol.ndim == 1:
        val = rewards[np.arange(rewards.shape[0]), pol.astype(int)]
    else:
        val = (pol * rewards).sum(axis=1)
    return float(np.dot(rho, rewards.max(axis=1) - val))


def accounting_subopt(name: str, reported: np.ndarray, direct: np.ndarray,
                      atol: float = 1e-9) -> Verdict:
    """The reported final SubOpt of each run equals the direct recomputation from its output
    policy."""
    err = float(np.max(np.abs(np.asarray(reported) - np.asarray(direct))))
    return Verdict(name, "reported SubOpt = direct recomputation", err, atol,
                   FAIL if err > atol else PASS, f"max difference {err:.3g}; decisive")


def beats_chance(name: str, accuracy: np.ndarray, level: float = 0.95) -> Verdict:
    """Held-out agreement with sign(z' theta*) above 1/2: fails unless the interval of the
    mean over seeds lies above 1/2."""
    m, lo, hi = t_interval(accuracy, level)
    return Verdict(name, "held-out agreement with theta* > 1/2", m, 0.5,
                   PASS if lo > 0.5 else FAIL, f"mean {m:.3g}, {level:.0%} CI [{lo:.3g}, {hi:.3g}]")


def error_within_mle(name: str, err: np.ndarray, err_mle: np.ndarray, *, constant: float = 2.5,
                     n_boot: int = 2000, seed: int = 0) -> Verdict:
    """mean ||theta_T - theta*|| of the algorithm within `constant` times the MLE's on the same
    streams (paired over seeds): fails when the bootstrap interval of the ratio of means lies
    above the constant."""
    e, m = np.asarray(err, dtype=float), np.asarray(err_mle, dtype=float)
    ratio = float(e.mean() / m.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, e.size, (n_boot, e.size))
    boots = e[idx].mean(axis=1) / m[idx].mean(axis=1)
    lo, hi = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    return Verdict(name, f"error <= {constant:g} x the MLE's at equal T", ratio, constant,
                   FAIL if lo > constant else PASS,
                   f"ratio of mean errors {ratio:.3g}, 95% CI [{lo:.3g}, {hi:.3g}]")


def beats_uniform(name: str, metric: np.ndarray, metric_uniform: np.ndarray,
                  level: float = 0.95) -> Verdict:
    """Paired per-seed difference metric - metric_uniform (same learner, same seeds): the
    theory predicts it below 0 on the instance; fails unless its interval lies below 0."""
    diff = np.asarray(metric, dtype=float) - np.asarray(metric_uniform, dtype=float)
    m, lo, hi = t_interval(diff, level)
    return Verdict(name, "maximum-norm selection beats uniform pairs (paired difference < 0)",
                   m, 0.0, PASS if hi < 0.0 else FAIL,
                   f"mean paired difference {m:.3g}, {level:.0%} CI [{lo:.3g}, {hi:.3g}] over "
                   f"{diff.size} seeds")


def inverse_consistent(name: str, residuals: np.ndarray, tol: float = 1e-6) -> Verdict:
    """max ||inverse @ matrix - I||_max over runs at most tol."""
    r = float(np.max(residuals))
    return Verdict(name, "inverse(state) is the inverse of matrix(state)", r, tol,
                   FAIL if not r <= tol else PASS, f"max residual {r:.3g}; decisive")


def stays_in_ball(name: str, max_norms: np.ndarray, B: float, projections: int) -> Verdict:
    """Every iterate within the B-ball (relative 1e-9); decisive when some run needed the
    projection (an unprojected iterate would have left the ball)."""
    worst = float(np.max(max_norms))
    return Verdict(name, f"||theta_t|| <= B = {B:g} for every t", worst, B,
                   FAIL if worst > B * (1 + 1e-9) else PASS,
                   f"max ||theta_t|| {worst:.4g}; {projections} projections; "
                   + ("decisive" if projections > 0 or worst > B else
                      "undecided: no iterate reached the ball's boundary"))


def rate(name: str, t: np.ndarray, Y: np.ndarray, claim: float, *, tol: float = 0.15,
         log_power: float = 0.0, delta: float = 0.05, n_boot: int = 2000,
         seed: int = 0) -> Verdict:
    """log-log slope of mean_seeds Y against t (Y (n_seeds, n), zeros allowed), after dividing
    by log(1 + t/delta)^log_power, against the claim "slope <= claim".

    The interval is a bootstrap over seeds; a resample whose mean is 0 at some checkpoint has no
    slope and is dropped, and if more than 5 % are dropped the verdict is undecided. Fails when
    the interval lies above claim + tol; a constant-factor slowdown does not change a slope:
    `error_within_mle` and the instance bounds judge constants."""
    t = np.asarray(t, dtype=float)
    Y = np.atleast_2d(np.asarray(Y, dtype=float)) / np.log1p(t / delta) ** log_power
    lt = np.log(t)

    def slope(rows: np.ndarray) -> float:
        mean = rows.mean(axis=0)
        if np.any(mean <= 0):
            return math.nan
        return float(np.polyfit(lt, np.log(mean), 1)[0])

    s = slope(Y)
    if not math.isfinite(s):
        return Verdict(name, f"log-log slope <= {claim:g}", math.nan, claim + tol, UNDECIDED,
                       "the mean over seeds is 0 at some checkpoint: no slope")
    rng = np.random.default_rng(seed)
    n = Y.shape[0]
    boots = np.array([slope(Y[rng.integers(0, n, n)]) for _ in range(n_boot)])
    dropped = float(np.mean(~np.isfinite(boots)))
    boots = boots[np.isfinite(boots)]
    lo, hi = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    if dropped > 0.05:
        return Verdict(name, f"log-log slope <= {claim:g}", s, claim + tol, UNDECIDED,
                       f"slope {s:.3f}; {dropped:.0%} of resamples have a zero mean")
    return Verdict(name, f"log-log slope <= {claim:g}", s, claim + tol,
                   FAIL if lo > claim + tol else PASS,
                   f"slope {s:.3f}, 95% CI [{lo:.3f}, {hi:.3f}]; tolerance {tol:g}; "
                   + ("decisive" if hi - lo < 1.0 else "wide interval"))


__all__ = ["UNDECIDED", "accounting_regret", "accounting_subopt", "beats_chance",
           "beats_uniform", "calibrated_c_beta", "coverage_calibrated", "coverage_theory",
           "error_within_mle", "instance_bound", "inverse_consistent", "max_error_ratio",
           "per_round_regret_direct", "rate", "stays_in_ball", "suboptimality_direct"]
