"""Every check of theory_checks.power_checks on inputs built to pass and inputs built to fail."""

import numpy as np
import pandas as pd
import pytest

from theory_checks import power_checks as pc
from theory_checks.verdicts import FAIL, PASS


def _records(ratios_by_seed, d=2, delta=0.05, beta_scale=1.0):
    """Records whose err_hcal / sqrt(d log(1 + t/delta)) follows the given ratio per seed and t;
    beta is beta_scale times that shape."""
    rows = []
    for seed, ratios in enumerate(ratios_by_seed):
        for t, r in zip((10, 100, 1000), ratios):
            shape = np.sqrt(d * np.log1p(t / delta))
            rows.append(dict(seed=seed, t=t, err_hcal=r * shape, beta=beta_scale * shape))
    return pd.DataFrame(rows)


def test_calibrated_c_beta_is_the_quantile_of_the_max_ratio():
    rec = _records([[0.1, 0.5, 0.2], [0.3, 0.2, 0.9], [0.4, 0.4, 0.4]])
    assert pc.calibrated_c_beta(rec, 2, 0.05, t0=0) == pytest.approx(0.9)
    assert pc.calibrated_c_beta(rec, 2, 0.05, t0=500) == pytest.approx(0.9)
    assert pc.calibrated_c_beta(rec[rec["seed"] != 1], 2, 0.05, t0=500) == pytest.approx(0.4)


def test_coverage_calibrated_fails_both_ways():
    rng = np.random.default_rng(0)
    good = _records(rng.uniform(0.3, 0.95, size=(40, 3)))
    assert pc.coverage_calibrated("c", good, d=2, delta=0.05, t0=0).verdict == PASS
    small = _records(rng.uniform(0.3, 0.95, size=(40, 3)) * 10)     # radius 10x too small
    v = pc.coverage_calibrated("c", small, d=2, delta=0.05, t0=0)
    assert v.verdict == FAIL and "coverage below" in v.detail
    large = _records(rng.uniform(0.3, 0.95, size=(40, 3)) / 10)     # radius 10x too large
    v = pc.coverage_calibrated("c", large, d=2, delta=0.05, t0=0)
    assert v.verdict == FAIL and "far larger" in v.detail


def test_coverage_theory_is_marked_vacuous_when_far_too_large():
    rec = _records([[0.01, 0.02, 0.03]] * 10)
    v = pc.coverage_theory("t", rec, delta=0.05, t0=0)
    assert v.verdict == PASS and "vacuous" in v.detail
    rec = _records([[0.5, 1.5, 1.2]] * 10)
    assert pc.coverage_theory("t", rec, delta=0.05, t0=0).verdict == FAIL


def test_instance_bound_judges_only_non_vacuous_rows():
    n = 100
    trivial = np.full(n, 2.0)
    bound = np.r_[np.full(50, 1.0), np.full(50, 5.0)]  # half the rows vacuous
    measured = np.r_[np.full(50, 0.5), np.full(50, 3.0)]  # "violations" only where vacuous
    v = pc.instance_bound("i", measured, bound, np.ones(n, bool), trivial)
    assert v.verdict == PASS and "non-vacuous fraction 0.5" in v.detail
    measured[0] = 1.5  # a real violation
    assert pc.instance_bound("i", measured, bound, np.ones(n, bool), trivial).verdict == FAIL
    outside = np.zeros(n, bool)  # nothing on the event: undecided
    v = pc.instance_bound("i", measured, bound, outside, trivial)
    assert v.verdict == pc.UNDECIDED


def test_accounting_recomputes_regret_and_subopt():
    rewards = np.array([[1.0, 0.0, 0.5], [0.2, 0.9, 0.1]])
    x = np.array([0, 1, 1, 0])
    a, a2 = np.array([0, 1, 0, 2]), np.array([1, 2, 1, 0])
    direct = np.cumsum(pc.per_round_regret_direct(rewards, x, a, a2))
    np.testing.assert_allclose(direct, np.cumsum([0.5, 0.4, 0.35, 0.25]))
    assert pc.accounting_regret("a", direct, rewards, x, a, a2).verdict == PASS
    assert pc.accounting_regret("a", 2 * direct, rewards, x, a, a2).verdict == FAIL
    rho = np.array([0.5, 0.5])
    assert pc.suboptimality_direct(rewards, rho, np.array([0, 1])) == 0.0
    assert pc.suboptimality_direct(rewards, rho, np.array([1, 0])) == pytest.approx(0.85)
    mixed = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    assert pc.suboptimality_direct(rewards, rho, mixed) == pytest.approx(0.25)
    assert pc.accounting_subopt("s", [0.25], [0.25]).verdict == PASS
    assert pc.accounting_subopt("s", [0.25 / 100], [0.25]).verdict == FAIL


def test_beats_chance_and_error_within_mle():
    rng = np.random.default_rng(1)
    assert pc.beats_chance("b", 0.8 + 0.01 * rng.normal(size=10)).verdict == PASS
    assert pc.beats_chance("b", 0.3 + 0.01 * rng.normal(size=10)).verdict == FAIL
    assert pc.beats_chance("b", 0.5 + 0.05 * rng.normal(size=10)).verdict == FAIL
    mle = 0.3 + 0.01 * rng.random(12)
    assert pc.error_within_mle("e", 1.5 * mle, mle).verdict == PASS
    assert pc.error_within_mle("e", 10 * mle, mle).verdict == FAIL


def test_beats_uniform_needs_a_clear_paired_difference():
    rng = np.random.default_rng(2)
    uniform = 0.2 + 0.05 * rng.random(12)
    assert pc.beats_uniform("u", uniform - 0.1, uniform).verdict == PASS
    assert pc.beats_uniform("u", uniform, uniform).verdict == FAIL          # tied
    assert pc.beats_uniform("u", uniform + 0.1, uniform).verdict == FAIL


def test_inverse_and_ball():
    assert pc.inverse_consistent("i", np.array([1e-14, 3e-15])).verdict == PASS
    assert pc.inverse_consistent("i", np.array([1e-14, 1e-3])).verdict == FAIL
    assert pc.inverse_consistent("i", np.array([np.nan])).verdict == FAIL
    assert pc.stays_in_ball("b", np.array([1.0, 0.9]), 1.0, 10).verdict == PASS
    v = pc.stays_in_ball("b", np.array([1.0, 1.3]), 1.0, 0)
    assert v.verdict == FAIL
    assert "undecided" in pc.stays_in_ball("b", np.array([0.1]), 1.0, 0).detail


def test_rate_is_sound_with_zeros_and_catches_a_wrong_slope():
    rng = np.random.default_rng(3)
    t = np.geomspace(100, 1e5, 10)
    good = (t ** -0.5) * np.exp(0.05 * rng.normal(size=(12, t.size)))
    assert pc.rate("r", t, good, -0.5).verdict == PASS
    slow = (t ** -0.1) * np.exp(0.05 * rng.normal(size=(12, t.size)))
    assert pc.rate("r", t, slow, -0.5).verdict == FAIL
    with_zeros = good.copy()
    with_zeros[:3, -1] = 0.0  # some seeds reach 0: the mean stays positive
    v = pc.rate("r", t, with_zeros, -0.5)
    assert v.verdict == PASS and np.isfinite(v.measured)
    mostly_zero = np.zeros_like(good)
    mostly_zero[0] = good[0]  # one seed carries every checkpoint: resamples often all 0
    assert pc.rate("r", t, mostly_zero, -0.5).verdict == pc.UNDECIDED
    regret = np.sqrt(t) * np.log1p(t / 0.05) * np.exp(0.02 * rng.normal(size=(12, t.size)))
    assert pc.rate("r", t, regret, 0.5, log_power=1.0).verdict == PASS
    assert pc.rate("r", t, regret * t ** 0.5, 0.5, log_power=1.0).verdict == FAIL
