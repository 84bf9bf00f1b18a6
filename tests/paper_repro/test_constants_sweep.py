"""The constants-sweep spec: its rules on hand-built tables, a small sweep through the store
that resumes, and Algorithm 4 with swept constants against the registry's."""

import os

import numpy as np
import pandas as pd
import pytest

from algorithms.constants import PRACTICAL_ETA, PRACTICAL_LAM_PER_L2
from algorithms.registry import run
from paper_repro.constants_sweep import (
    SCALES,
    ConstantsSweepConfig,
    analyse,
    cells,
    choose,
    choose_cg,
    run_cells,
    run_constants_sweep,
    swept_algorithm4,
)
from paper_repro.runner import sweep_session
from paper_repro.specs import REGISTRY
from paper_repro.synthetic import RunOptions
from sim.generators import random_directions_env

SMALL = ConstantsSweepConfig(T=200, n_select=2, n_heldout=2, regret_T=80, regret_select=1,
                             regret_heldout=1, families=((3, 1.0), (4, 2.0)),
                             etas=("theory", 1.0), lams=(1.0, 4.0), sgd_lrs=(1.0,),
                             cg_etas=(1.0,), cg_batches=(16,), cg_iters=(1,), n_boot=50)


def _grid(est: dict, regret: dict) -> pd.DataFrame:
    rows = []
    for (eta, lam), ratios in est.items():
        for fam, (r, g) in enumerate(zip(ratios, regret[(eta, lam)])):
            rows.append(dict(eta=eta, lam=lam, family=f"f{fam}", est_ratio=r, regret=g))
    return pd.DataFrame(rows)


# (eta, lam) -> per-family values. (2, 4) is within 5 % of the best worst error ratio and has
# the least worst regret ratio among the admissible points; ("theory", 1) has the least
# regret of all but is 10 % worse in error, so it is not admissible.
EST = {("1.0", 1.0): [0.99, 1.00], ("2.0", 4.0): [1.03, 1.04], ("0.5", 0.25): [1.2, 1.3],
       ("theory", 1.0): [1.06, 1.10]}
REG = {("1.0", 1.0): [110.0, 205.0], ("2.0", 4.0): [100.0, 200.0], ("0.5", 0.25): [120.0, 230.0],
       ("theory", 1.0): [90.0, 180.0]}


def test_rule_picks_the_admissible_point_of_least_regret_not_the_default():
    c = choose(_grid(EST, REG), est_tol=0.05)
    assert (c.eta, c.lam) == ("2.0", 4.0)
    t = c.table.set_index(["eta", "lam"])
    assert t["admissible"].to_dict() == {("theory", 1.0): False, ("0.5", 0.25): False,
                                         ("1.0", 1.0): True, ("2.0", 4.0): True}
    assert t.loc[("2.0", 4.0), "worst_regret_ratio"] == pytest.approx(200.0 / 180.0)
    assert t.loc[("theory", 1.0), "worst_regret_ratio"] == pytest.approx(1.0)
    assert int(t["chosen"].sum()) == 1 and bool(t.loc[("2.0", 4.0), "chosen"])


def test_rule_with_no_tolerance_is_the_best_error_ratio():
    assert (lambda c: (c.eta, c.lam))(choose(_grid(EST, REG), est_tol=0.0)) == ("1.0", 1.0)
    # a wide tolerance admits ("theory", 1), the least regret
    assert choose(_grid(EST, REG), est_tol=0.2).eta == "theory"


def test_rule_breaks_regret_ties_by_the_error_ratio():
    reg = dict(REG)
    reg[("1.0", 1.0)] = [100.0, 200.0]  # the same regret as (2, 4), a smaller error ratio
    assert (lambda c: (c.eta, c.lam))(choose(_grid(EST, reg))) == ("1.0", 1.0)


def test_rule_rejects_an_incomplete_table():
    with pytest.raises(ValueError, match="columns"):
        choose(_grid(EST, REG).drop(columns="regret"))
    g = _grid(EST, REG)
    g.loc[0, "regret"] = np.nan
    with pytest.raises(ValueError, match="every grid point"):
        choose(g)


def _cg_rows(values: dict) -> pd.DataFrame:
    rows = []
    for (eta, m, K), (to_omd, to_exact) in values.items():
        rows.append(dict(family="f", eta=eta, batch_size=m, K=K, ratio_to_omd=to_omd,
                         ratio_to_exact_solve=to_exact, hvp_per_sample=0.0))
    return pd.DataFrame(rows)


def test_cg_rule_takes_the_fewest_steps_within_two_percent_of_omd():
    got = choose_cg(_cg_rows({("1.0", 64, "1"): (1.05, 1.04), ("1.0", 64, "2"): (1.015, 1.0),
                              ("1.0", 64, "d"): (1.01, 1.0), ("2.0", 16, "1"): (1.3, 1.0),
                              ("2.0", 16, "d"): (1.3, 1.0)}))
    assert (got["K"], got["eta"], got["batch_size"]) == ("2", "1.0", 64)
    assert got["against"] == "exact one-pass OMD"


def test_cg_rule_falls_back_to_the_exact_inner_solve():
    got = choose_cg(_cg_rows({("1.0", 64, "1"): (1.5, 1.03), ("1.0", 64, "2"): (1.46, 1.01),
                              ("1.0", 64, "d"): (1.45, 1.0), ("2.0", 256, "1"): (1.2, 1.001),
                              ("2.0", 256, "d"): (1.2, 1.0)}))
    assert (got["K"], got["eta"], got["batch_size"]) == ("1", "2.0", 256)
    assert got["against"].startswith("exact inner solve")


def test_swept_algorithm4_at_the_practical_constants_is_the_registry_algorithm4():
    env = random_directions_env(n_x=8, K=5, d=3, L=1.0, B=1.0, seed=2)
    a = run("algorithm4", env, 150, 4, checkpoints=5)
    b = run(swept_algorithm4(PRACTICAL_ETA, PRACTICAL_LAM_PER_L2), env, 150, 4, checkpoints=5)
    assert np.array_equal(a.records["regret"].to_numpy(), b.records["regret"].to_numpy())
    assert np.array_equal(a.theta, b.theta)
    c = run(swept_algorithm4(2.0, 4.0), env, 150, 4, checkpoints=5)
    assert not np.array_equal(a.theta, c.theta)


def test_cells_cover_every_family_split_stream_and_setting():
    cs = cells(SMALL)
    keys = [c.key for c in cs]
    assert len(set(keys)) == len(keys)
    est = [c for c in cs if c.config["kind"] == "estimation"]
    reg = [c for c in cs if c.config["kind"] == "regret"]
    assert len(est) == 2 * (2 + 2) * 4  # families x streams x estimators
    assert len(reg) == 2 * (1 + 1) * 2 * 2  # families x seeds x eta x lambda
    assert {c.seed for c in est if c.config["split"] == "heldout"} == {100, 101}


def test_small_sweep_runs_and_a_rerun_reuses_every_cell(tmp_path):
    out = str(tmp_path)
    with sweep_session() as first:
        est, reg = run_cells(SMALL, out, workers=1)
    assert first.records[0].computed == len(cells(SMALL)) and first.records[0].reused == 0
    a = analyse(est, reg, SMALL)
    assert set(a["grid_select"]["family"]) == {"d=3, B=1", "d=4, B=2"}
    assert a["choice"].table["chosen"].sum() == 1
    assert (reg["regret"] > 0).all() and (est["err"] > 0).all()
    cg = a["cg_select"]
    assert set(cg["K"]) == {"1", "d"} and np.allclose(cg.loc[cg["K"] == "d",
                                                             "ratio_to_exact_solve"], 1.0)
    store = os.path.join(out, "store")
    before = {os.path.join(r, f): os.path.getmtime(os.path.join(r, f))
              for r, _, fs in os.walk(store) for f in fs}
    with sweep_session() as second:
        est2, reg2 = run_cells(SMALL, out, workers=1)
    rec = second.records[0]
    assert rec.computed == 0 and rec.reused == len(cells(SMALL))
    assert {p: os.path.getmtime(p) for p in before} == before
    cols = [c for c in est.columns if "wall" not in c]
    pd.testing.assert_frame_equal(est[cols], est2[cols])
    pd.testing.assert_frame_equal(reg, reg2)


def test_spec_result_states_the_rule_and_draws_its_figures(tmp_path):
    res = run_constants_sweep("tiny", RunOptions(out=str(tmp_path), quiet=True, workers=1),
                              config=SMALL)
    md = res.markdown
    assert "**Rule**" in md and "**Chosen: eta = " in md
    assert "How far one-pass OMD is from the MLE at equal T" in md
    assert "previous default" in md and "Algorithm 5" in md
    assert len(res.figures) == 4 and all(os.path.getsize(f) > 1000 for f in res.figures)
    assert {"rule", "omd_vs_mle", "cg", "regret", "estimation"} <= set(res.tables)
    iv = res.tables["omd_vs_mle"]
    assert (iv["lo"] <= iv["ratio"]).all() and (iv["ratio"] <= iv["hi"]).all()


@pytest.mark.parametrize("kw, message", [
    (dict(n_select=0), "n_select must be an integer >= 1"),
    (dict(T=1), "T must be an integer >= 2"),
    (dict(heldout_offset=5, n_select=10), "disjoint"),
    (dict(etas=("theory", -1.0)), "etas must be"),
    (dict(est_tol=-0.1), "est_tol"),
])
def test_bad_config_is_rejected_with_a_clear_message(kw, message):
    with pytest.raises(ValueError, match=message):
        ConstantsSweepConfig(**kw)


def test_spec_is_registered_with_three_scales():
    assert "constants-sweep" in REGISTRY
    assert set(SCALES) == {"quick", "full", "tiny"}
    with pytest.raises(ValueError, match="unknown scale"):
        run_constants_sweep("huge", RunOptions())


@pytest.mark.slow
def test_tiny_scale_through_the_command_line(tmp_path):
    from paper_repro.cli import main

    out = str(tmp_path)
    assert main(["constants-sweep", "--scale", "tiny", "--out", out, "--quiet",
                 "--workers", "1"]) == 0
    report = open(os.path.join(out, "report.md")).read()
    assert "## constants-sweep" in report and "figures/constants_heatmaps.png" in report
    assert os.path.exists(os.path.join(out, "tables", "constants-sweep_rule.csv"))


def test_figures_reject_tables_without_their_columns(tmp_path):
    from figures.constants import plot_cg_sweep, plot_ratio_heatmaps

    with pytest.raises(ValueError, match="needs columns"):
        plot_ratio_heatmaps(pd.DataFrame(dict(panel=["a"], eta=["1"], lam=[1.0])),
                            str(tmp_path / "h"))
    with pytest.raises(ValueError, match="at least one row"):
        plot_cg_sweep(pd.DataFrame(columns=["setting", "K", "worst_ratio_to_omd_select"]),
                      str(tmp_path / "c"))
