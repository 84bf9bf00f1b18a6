import os

import numpy as np
import pandas as pd
import pytest

from figures.curves import (
    accuracy_time_table,
    mean_std,
    plot_accuracy_time,
    plot_kappa_sweep,
    plot_regret,
    plot_suboptimality,
)
from figures.style import algorithm_style


def table(metric="subopt"):
    rows = []
    for alg, c in (("omd", 1.0), ("mle", 2.0)):
        for seed in range(3):
            for t in (10, 100, 1000):
                rows.append(dict(algorithm=alg, seed=seed, t=t, **{metric: c * t ** -0.5 * (1 + 0.1 * seed)},
                                 instance_bound=3 * t ** -0.5, closed_form_bound=5 * t ** -0.5,
                                 regret=c * np.sqrt(t) * (1 + 0.1 * seed), kappa=4.0 * (1 + seed),
                                 bound_omd=np.sqrt(4.0 * (1 + seed)), bound_mle=4.0 * (1 + seed),
                                 eval_acc=0.6 + 0.01 * seed, wall_time=c))
    return pd.DataFrame(rows)


def test_mean_std_over_seeds():
    s = mean_std(table(), "t", "subopt")
    r = s[(s.algorithm == "omd") & (s.t == 100)].iloc[0]
    assert r["mean"] == pytest.approx(0.1 * 1.1) and r["count"] == 3


@pytest.mark.parametrize("fn, kw", [(plot_suboptimality, {}), (plot_regret, {}),
                                    (plot_regret, dict(logy=True)),
                                    (plot_kappa_sweep, dict(metric="subopt")),
                                    (plot_accuracy_time, {})])
def test_every_figure_is_written_non_empty(tmp_path, fn, kw):
    paths = fn(table(), str(tmp_path / "fig"), **kw)
    assert sorted(p.rsplit(".", 1)[1] for p in paths) == ["pdf", "png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"needs columns \['subopt'\]"):
        plot_suboptimality(table().drop(columns="subopt"), str(tmp_path / "x"))


def test_accuracy_time_table():
    tab = accuracy_time_table(table())
    omd = tab[tab.algorithm == "omd"].iloc[0]
    assert omd.accuracy_mean_pct == pytest.approx(61.0) and omd.seeds == 9


def test_algorithm_style_is_stable():
    assert algorithm_style("omd") == algorithm_style("omd")
    assert algorithm_style("omd")["color"] != algorithm_style("mle")["color"]


def test_forty_names_have_distinct_styles():
    names = [f"algorithm-{i}" for i in range(40)]
    triples = {(str(algorithm_style(n)["color"]), algorithm_style(n)["marker"],
                str(algorithm_style(n)["linestyle"])) for n in names}
    assert len(triples) == len(names)


def test_bands_are_confidence_intervals_of_the_mean():
    from scipy import stats

    s = mean_std(table(), "t", "subopt")
    r = s[(s.algorithm == "omd") & (s.t == 100)].iloc[0]
    assert r["ci"] == pytest.approx(stats.t.ppf(0.975, 2) * r["std"] / np.sqrt(3))


def test_accuracy_table_has_the_interval_and_the_bayes_ceiling():
    last = table().query("t == 1000")
    tab = accuracy_time_table(last.assign(eval_acc_bayes=0.7))
    assert list(tab["bayes_ceiling_pct"]) == pytest.approx([70.0, 70.0])
    assert tab["accuracy_ci_pct"].iloc[0] > tab["accuracy_std_pct"].iloc[0]  # t_2 / sqrt(3) > 1


def test_paired_figure(tmp_path):
    from figures.curves import plot_paired

    tab = pd.DataFrame(dict(algorithm=["a", "b"], diff=[-1.0, 0.1], ci_low=[-1.5, -0.2],
                            ci_high=[-0.5, 0.4], verdict=["better", "tied"]))
    paths = plot_paired(tab, str(tmp_path / "p"), title="t", xlabel="x")
    assert all(os.path.getsize(p) > 1000 for p in paths)
    with pytest.raises(ValueError, match="needs columns"):
        plot_paired(tab.drop(columns="verdict"), str(tmp_path / "q"), title="t", xlabel="x")
