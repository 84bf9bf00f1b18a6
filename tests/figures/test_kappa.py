import os

import numpy as np
import pandas as pd
import pytest

from figures.kappa import plot_kappa_exponents, plot_kappa_measured


def summary():
    rows = []
    for panel in ("passive: SubOpt", "deployment: regret", "passive: error"):
        for alg, e in (("omd", 0.2), ("mle", 0.5)):
            for k in (5.0, 50.0, 500.0):
                m = k ** e
                rows.append(dict(panel=panel, algorithm=alg, kappa=k, mean=m, lo=0.8 * m, hi=1.2 * m))
    return pd.DataFrame(rows)


def exponents():
    rows = []
    for panel in ("passive", "deployment"):
        for alg in ("omd", "mle"):
            rows += [dict(panel=panel, quantity="SubOpt", algorithm=alg, kind="measured",
                          exponent=0.3, lo=0.1, hi=0.5),
                     dict(panel=panel, quantity="error", algorithm=alg, kind="measured",
                          exponent=0.2, lo=-np.inf, hi=np.inf),
                     dict(panel=panel, quantity="SubOpt", algorithm=alg, kind="bound (fitted)",
                          exponent=0.6, lo=0.6, hi=0.6),
                     dict(panel=panel, quantity="SubOpt", algorithm=alg,
                          kind="bound (Table 1 formula)", exponent=1.0, lo=1.0, hi=1.0)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("fn, data", [(plot_kappa_measured, summary), (plot_kappa_exponents, exponents)])
def test_figures_are_written_non_empty(tmp_path, fn, data):
    paths = fn(data(), str(tmp_path / "fig"), interval="95% bootstrap interval over seeds")
    assert sorted(p.rsplit(".", 1)[1] for p in paths) == ["pdf", "png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_non_positive_means_use_a_linear_axis(tmp_path):
    s = summary()
    s.loc[0, "mean"] = 0.0
    assert len(plot_kappa_measured(s, str(tmp_path / "lin"), interval="x")) == 2


@pytest.mark.parametrize("fn, data, col", [(plot_kappa_measured, summary, "lo"),
                                           (plot_kappa_exponents, exponents, "kind")])
def test_missing_columns_are_named(tmp_path, fn, data, col):
    with pytest.raises(ValueError, match=f"needs columns \\['{col}'\\]"):
        fn(data().drop(columns=col), str(tmp_path / "x"), interval="x")


def test_unknown_kind_is_refused(tmp_path):
    e = exponents()
    e.loc[0, "kind"] = "guess"
    with pytest.raises(ValueError, match="unknown kind"):
        plot_kappa_exponents(e, str(tmp_path / "x"), interval="x")


def test_empty_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one row"):
        plot_kappa_measured(summary().iloc[:0], str(tmp_path / "x"), interval="x")


def test_figures_leave_the_global_style_alone(tmp_path):
    import matplotlib as mpl

    before = dict(mpl.rcParams)
    plot_kappa_measured(summary(), str(tmp_path / "a"), interval="x")
    assert dict(mpl.rcParams) == before
