"""Measured kappa exponents and the order verdict, on tables built to pass and to fail."""

import numpy as np
import pandas as pd
import pytest

from theory_checks.kappa import (
    difference_exponent,
    exponent_reports,
    exponent_table,
    fit_exponent,
    mean_intervals,
    not_larger_check,
    not_larger_verdict,
    seed_matrix,
)
from theory_checks.verdicts import FAIL, PASS, REPORT

KAPPAS = np.array([5.0, 20.0, 100.0, 500.0, 2000.0])


def table(exp_a, exp_b, *, noise=0.05, seeds=10, seed=0):
    """Final rows of two algorithms with err = c kappa^exp * lognormal noise per seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for alg, e in (("omd", exp_a), ("mle", exp_b)):
        for s in range(seeds):
            for k in KAPPAS:
                rows.append(dict(stage="passive", algorithm=alg, seed=s, kappa=k,
                                 err_l2=0.1 * k ** e * np.exp(noise * rng.standard_normal())))
    return pd.DataFrame(rows)


def test_fit_exponent_recovers_a_power_law_and_its_interval_covers_it():
    rng = np.random.default_rng(1)
    Y = 2.0 * KAPPAS ** 0.5 * np.exp(0.1 * rng.standard_normal((20, KAPPAS.size)))
    s, lo, hi, bad = fit_exponent(KAPPAS, Y, n_boot=500)
    assert s == pytest.approx(0.5, abs=0.03) and lo < 0.5 < hi and bad == 0
    assert hi - lo < 0.1


def test_fit_exponent_with_zero_means_is_undefined_or_widened():
    Y = np.ones((4, 3))
    Y[:, 2] = 0.0  # every seed exactly 0 at the last kappa
    s, lo, hi, bad = fit_exponent(KAPPAS[:3], Y, n_boot=100)
    assert np.isnan(s) and bad == 100 and lo == -np.inf and hi == np.inf
    Y = np.ones((10, 3))
    Y[0, 2] = 0.0
    Y[1:, 2] = 0.0
    Y[1, 2] = 1.0  # one seed of ten is positive: many resamples have a zero mean there
    s, lo, hi, bad = fit_exponent(KAPPAS[:3], Y, n_boot=400)
    assert np.isfinite(s) and bad > 0 and lo == -np.inf


def test_one_seed_gives_a_degenerate_interval():
    s, lo, hi, bad = fit_exponent(KAPPAS, KAPPAS[None, :] ** 0.3)
    assert s == pytest.approx(0.3) and lo == hi == s and bad == 0


def test_difference_is_paired_over_seeds():
    rng = np.random.default_rng(2)
    shared = np.exp(0.5 * rng.standard_normal((12, KAPPAS.size)))  # common random numbers
    Ya, Yb = shared * KAPPAS ** 0.4, shared * KAPPAS ** 0.2
    d, lo, hi, _ = difference_exponent(KAPPAS, Ya, Yb, n_boot=300)
    assert d == pytest.approx(0.2) and lo == pytest.approx(0.2) and hi == pytest.approx(0.2)


def test_order_claim_passes_on_a_smaller_exponent():
    v = not_larger_check(table(0.2, 0.5), "err_l2", "omd", "mle", "t", tol=0.1, n_boot=500)
    assert v.verdict == PASS and v.measured == pytest.approx(-0.3, abs=0.05)


def test_order_claim_fails_on_a_larger_exponent():
    v = not_larger_check(table(0.8, 0.2), "err_l2", "omd", "mle", "t", tol=0.1, n_boot=500)
    assert v.verdict == FAIL and v.measured == pytest.approx(0.6, abs=0.05)


def test_order_claim_is_inconclusive_when_the_interval_straddles_the_tolerance():
    v = not_larger_check(table(0.3, 0.2, noise=1.5, seeds=4), "err_l2", "omd", "mle", "t",
                         tol=0.1, n_boot=500)
    assert v.verdict == REPORT and "inconclusive" in v.detail


@pytest.mark.parametrize("lo, hi, verdict", [(-0.2, 0.1, PASS), (0.11, 0.4, FAIL),
                                             (0.0, 0.2, REPORT)])
def test_not_larger_verdict_on_its_edges(lo, hi, verdict):
    assert not_larger_verdict("x", "claim", (lo + hi) / 2, lo, hi, tol=0.1).verdict == verdict


def test_not_larger_verdict_rejects_a_bad_tolerance():
    with pytest.raises(ValueError, match="tol must be finite"):
        not_larger_verdict("x", "claim", 0.0, -1.0, 1.0, tol=-0.1)


def test_exponent_table_and_reports():
    exps = exponent_table(table(0.2, 0.5), ("err_l2",), n_boot=200)
    assert list(exps["algorithm"]) == ["omd", "mle"]
    assert exps.set_index("algorithm").loc["mle", "exponent"] == pytest.approx(0.5, abs=0.03)
    reps = exponent_reports(exps, "t")
    assert all(r.verdict == REPORT for r in reps) and "passive:mle:err_l2" in reps[1].check


def test_mean_intervals_bracket_the_mean():
    s = mean_intervals(table(0.2, 0.5, noise=0.3), "err_l2", n_boot=300)
    assert len(s) == 2 * KAPPAS.size
    assert ((s["lo"] <= s["mean"]) & (s["mean"] <= s["hi"])).all()


def test_bad_tables_are_named():
    t = table(0.2, 0.5)
    with pytest.raises(ValueError, match="more than one row"):
        seed_matrix(t, "err_l2")
    with pytest.raises(ValueError, match="lacks column"):
        seed_matrix(t[t.algorithm == "omd"], "regret")
    with pytest.raises(ValueError, match="at least two values"):
        seed_matrix(t[(t.algorithm == "omd") & (t.kappa == 5.0)], "err_l2")
    with pytest.raises(ValueError, match="finite Y >= 0"):
        fit_exponent(KAPPAS, -np.ones((2, KAPPAS.size)))
