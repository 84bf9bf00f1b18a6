"""Each check on inputs where it must pass and inputs where it must fail."""

import numpy as np
import pytest

from theory_checks.verdicts import (
    FAIL,
    PASS,
    REPORT,
    clopper_pearson,
    cost_verdict,
    coverage_verdict,
    exponent_report,
    instance_bound_verdict,
    loglog_slope,
    ordering_verdict,
    rate_verdict,
    verdict_table,
)


def test_clopper_pearson_known_values():
    lo, hi = clopper_pearson(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.03621669, rel=1e-5)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, rel=1e-4) and hi == pytest.approx(0.812914, rel=1e-4)


def test_coverage_pass_and_fail():
    ok = np.zeros(200, bool)
    ok[:8] = True  # 4% <= 5%
    assert coverage_verdict("c", ok, 0.05).verdict == PASS
    bad = np.zeros(200, bool)
    bad[:40] = True  # 20%: CI far above 5%
    v = coverage_verdict("c", bad, 0.05)
    assert v.verdict == FAIL and v.measured == pytest.approx(0.2)


def test_instance_bound_catches_a_bound_divided_by_ten():
    rng = np.random.default_rng(0)
    bound = rng.uniform(1, 2, 50)
    measured = bound * rng.uniform(0.2, 0.9, 50)
    ev = np.ones(50, bool)
    assert instance_bound_verdict("b", measured, bound, ev).verdict == PASS
    v = instance_bound_verdict("b", measured, bound / 10, ev)
    assert v.verdict == FAIL and v.measured == 50
    # violations outside the event do not count
    ev2 = measured <= bound / 10
    assert instance_bound_verdict("b", measured, bound / 10, ev2).verdict == REPORT


def test_loglog_slope_recovers_power_law():
    x = np.geomspace(10, 1e4, 12)
    rng = np.random.default_rng(1)
    Y = 3.0 * x ** -0.5 * np.exp(rng.normal(0, 0.05, (20, 12)))
    s, lo, hi = loglog_slope(x, Y)
    assert s == pytest.approx(-0.5, abs=0.02) and lo < s < hi


def test_rate_verdict_catches_a_wrong_rate():
    x = np.geomspace(10, 1e4, 12)
    rng = np.random.default_rng(2)
    noise = np.exp(rng.normal(0, 0.05, (10, 12)))
    assert rate_verdict("r", x, x ** -0.55 * noise, -0.5).verdict == PASS
    assert rate_verdict("r", x, x ** -0.2 * noise, -0.5).verdict == FAIL
    assert rate_verdict("reg", x, x ** 0.5 * noise, 0.5).verdict == PASS
    assert rate_verdict("reg", x, x ** 1.0 * noise, 0.5).verdict == FAIL


def test_ordering_and_exponent_report():
    k = np.geomspace(4, 1e3, 8)
    assert ordering_verdict("o", "omd <= mle", np.sqrt(k), k).verdict == PASS
    assert ordering_verdict("o", "omd <= mle", k, np.sqrt(k)).verdict == FAIL
    v = exponent_report("e", "exponent", k, np.sqrt(k)[None, :])
    assert v.verdict == REPORT and v.measured == pytest.approx(0.5)


def test_cost_verdict():
    t = np.geomspace(100, 1e6, 10)
    rng = np.random.default_rng(3)
    flat = 1e-7 * np.exp(rng.normal(0, 0.05, (5, 10)))
    grow = 1e-8 * t * np.exp(rng.normal(0, 0.05, (5, 10)))
    assert cost_verdict("c", t, flat, flat=True).verdict == PASS
    assert cost_verdict("c", t, grow, flat=True).verdict == FAIL
    assert cost_verdict("c", t, grow, flat=False).verdict == PASS
    assert cost_verdict("c", t, flat, flat=False).verdict == FAIL


def test_verdict_table_columns():
    df = verdict_table([coverage_verdict("c", np.zeros(10, bool), 0.1)])
    assert list(df.columns) == ["check", "claim", "measured", "threshold", "verdict", "detail"]
