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
