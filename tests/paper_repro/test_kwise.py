"""The kwise spec: registration, the throughput benchmark, and a tiny smoke run."""

import pytest

from paper_repro.kwise import cost_along_stream, ranking_throughput
from paper_repro.specs import get_spec
from paper_repro.synthetic import RunOptions


def test_registered():
    assert get_spec("kwise").name == "kwise"


def test_throughput_and_cost_tables():
    tp = ranking_throughput((2, 4), 8, 2000, reps=1)
    assert set(tp["kernel"]) == {"pairwise", "woodbury"} and (tp["rankings_per_s"] > 0).all()
    cost = cost_along_stream(4, 8, 4000, chunks=4)
    assert len(cost) == 4 and (cost["seconds_per_ranking"] > 0).all()


@pytest.mark.slow
def test_tiny_run(tmp_path):
    res = get_spec("kwise").run("tiny", RunOptions(out=str(tmp_path), quiet=True))
    assert {"estimation", "exchange", "active", "deployment", "throughput"} <= set(res.tables)
    assert "Exchange rate" in res.markdown and res.figures


def test_exchange_rate_measures_a_known_rate_and_fisher_is_one_at_m2():
    import numpy as np
    import pandas as pd

    from sim import random_directions_env
    from theory_checks.kwise import fisher_exchange_rate, measured_exchange_rate

    n = np.array([100, 200, 400, 800])
    rows = [dict(m=m, estimator="mle", rankings=t, err_l2=np.sqrt(c / t))
            for m, c in ((2, 8.0), (4, 2.0)) for t in n]
    rates = measured_exchange_rate(pd.DataFrame(rows), estimator="mle")
    assert rates.set_index("m")["measured_rate"].to_dict() == {2: 1.0, 4: 4.0}
    env = random_directions_env(6, 5, 3, L=1.0, B=1.0, seed=0)
    assert fisher_exchange_rate(env, 2, n_mc=500) == 1.0
    assert fisher_exchange_rate(env, 4, n_mc=4000) > 2.0


def test_kappa_panel_tiny():
    from dataclasses import replace

    import numpy as np

    from paper_repro.kwise import SCALES, kappa_panel

    cfg = replace(SCALES["tiny"], kappa_grid=(10.0, 100.0), kappa_ms=(2, 3), kappa_T=60)
    runs, summary, verdicts = kappa_panel(cfg, [1])
    assert len(runs) == 2 * 2 * 2 and set(runs["estimator"]) == {"omd", "mle"}
    m2 = summary[summary["m"] == 2]
    np.testing.assert_allclose(m2["kappa_m"], m2["kappa"], rtol=1e-9)  # kappa_2 = kappa
    assert m2["kappa_m_exact"].all() and not summary[summary["m"] == 3]["kappa_m_exact"].any()
    by = summary.set_index(["m", "kappa", "estimator"])["kappa_m"]
    assert by[(3, 10.0, "omd")] >= by[(2, 10.0, "omd")]  # more items: a larger kappa_m
    assert sorted(v.check for v in verdicts if v.check.startswith("kwise-kappa[")) == [
        "kwise-kappa[mle:m=2]", "kwise-kappa[mle:m=3]", "kwise-kappa[omd:m=2]",
        "kwise-kappa[omd:m=3]"]
    assert len(verdicts) == 8  # and one against the instance kappa_m each
    assert all(np.isfinite(v.measured) for v in verdicts)


def test_radius_coverage_tiny():
    from dataclasses import replace

    from paper_repro.kwise import SCALES, _env, radius_coverage

    cfg = replace(SCALES["tiny"], T=80, checkpoints=3)
    cov, verdicts = radius_coverage(_env(cfg), cfg, [1, 2])
    assert set(cov["kind"]) == {"practical", "theory", "pl-theory"}
    assert cov["runs_covered"].between(0.0, 1.0).all()
    b = cov.set_index(["kind", "m"])["beta_T"]
    assert b[("pl-theory", 2)] == b[("theory", 2)]  # one stage per ranking: Lemma 1 itself
    assert b[("pl-theory", 3)] > b[("theory", 3)]
    assert {v.check for v in verdicts} == {"kwise-coverage[practical]", "kwise-coverage[theory]",
                                          "kwise-coverage[pl-theory]"}
