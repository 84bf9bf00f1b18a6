"""The table-level checks on tables built to pass and tables built to fail."""

import numpy as np
import pandas as pd
import pytest

from theory_checks.checks import (
    as_nullable_bool,
    calibrate_c_beta,
    cost_checks,
    coverage_checks,
    instance_checks_final,
    instance_checks_path,
    kappa_checks,
    left_confidence_set,
    rate_checks,
)
from theory_checks.verdicts import FAIL, PASS, REPORT


def runs(n_seeds=10, ts=(10, 100, 1000, 10000), rate=-0.5, alg="a", leave=(), bound_scale=3.0,
         noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seeds):
        for t in ts:
            m = t ** rate * np.exp(rng.normal(0, noise))
            rows.append(dict(algorithm=alg, seed=s, t=t, subopt=m, regret=m,
                             instance_bound=bound_scale * t ** rate,
                             in_confidence_set=not (s in leave and t == ts[-1]),
                             err_hcal=0.5 * np.sqrt(np.log1p(t / 0.05)), beta=1.0 + 0 * t, d=1,
                             wall_time=1e-6 * t, kappa_global=4.0))
    return pd.DataFrame(rows)


def verdicts_of(vs, prefix):
    return [v for v in vs if v.check.startswith(prefix)]


def test_coverage_counts_runs_that_left_the_set():
    df = runs(n_seeds=20, leave=(0,))
    assert left_confidence_set(df).sum() == 1
    (cov,) = verdicts_of(coverage_checks(df, 0.05, "x"), "coverage")
    assert cov.verdict == PASS and cov.measured == pytest.approx(0.05)
    (bad,) = verdicts_of(coverage_checks(runs(n_seeds=20, leave=tuple(range(10))), 0.05, "x"), "coverage")
    assert bad.verdict == FAIL


def test_nullable_booleans_and_strings():
    s = as_nullable_bool(pd.Series(["True", "False", "<NA>"]))
    assert s.iloc[0] is True or s.iloc[0] == True  # noqa: E712
    assert s.isna().iloc[2]


def test_calibrated_c_beta_covers_the_runs():
    df = runs()
    c = calibrate_c_beta(df, 0.05)
    assert c == pytest.approx(0.5)


def test_instance_checks_catch_a_bound_divided_by_ten():
    df = runs()
    assert all(v.verdict == PASS for v in instance_checks_final(df, "subopt", "x"))
    assert all(v.verdict == PASS for v in instance_checks_path(df, "regret", "x"))
    tight = df.assign(instance_bound=df["instance_bound"] / 10)
    assert all(v.verdict == FAIL for v in instance_checks_final(tight, "subopt", "x"))
    assert all(v.verdict == FAIL for v in instance_checks_path(tight, "regret", "x"))


def test_rate_checks_catch_a_wrong_rate():
    assert rate_checks(runs(rate=-0.6), "subopt", -0.5, "x")[0].verdict == PASS
    assert rate_checks(runs(rate=-0.2), "subopt", -0.5, "x")[0].verdict == FAIL
    assert rate_checks(runs(rate=1.0), "regret", 0.5, "x")[0].verdict == FAIL
    zero = runs().assign(subopt=0.0)
    assert rate_checks(zero, "subopt", -0.5, "x")[0].verdict == REPORT


def test_kappa_ordering_catches_swapped_bounds():
    rows = []
    for k in (5.0, 50.0, 500.0):
        for s in range(3):
            rows.append(dict(algorithm="omd", seed=s, t=100, kappa_global=k, subopt=0.1,
                             instance_bound=np.sqrt(k)))
            rows.append(dict(algorithm="mle", seed=s, t=100, kappa_global=k, subopt=0.1,
                             instance_bound=k))
    df = pd.DataFrame(rows)
    (ok,) = verdicts_of(kappa_checks(df, "subopt", "omd", "mle", "x"), "kappa-ordering")
    assert ok.verdict == PASS
    (bad,) = verdicts_of(kappa_checks(df, "subopt", "mle", "omd", "x"), "kappa-ordering")
    assert bad.verdict == FAIL


def test_cost_checks():
    ts = tuple(int(x) for x in np.geomspace(64, 10**5, 10))
    flat = runs(ts=ts, alg="omd")
    grow = runs(ts=ts, alg="mle")
    grow["wall_time"] = 1e-9 * grow["t"] ** 2
    df = pd.concat([flat, grow])
    vs = cost_checks(df, "x", flat_algs=("omd",), growing_algs=("mle",))
    assert [v.verdict for v in vs] == [PASS, PASS]
    vs = cost_checks(df, "x", flat_algs=("mle",), growing_algs=("omd",))
    assert [v.verdict for v in vs] == [FAIL, FAIL]
