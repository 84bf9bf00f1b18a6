"""The parts of the bring-your-own-data pipeline: splits by prompt, intervals, trivial baselines,
constants chosen on validation, and the active curves of one run per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from paper_repro.real.pool_active import ACTIVE_METHODS, active_checkpoints, run_pool_active
from paper_repro.real.splits import assign_splits, grouped_holdout
from paper_repro.real.tuning import Grid, tune
from paper_repro.real.uncertainty import (
    PromptBootstrap,
    chance_baseline,
    length_baseline,
    majority_baseline,
    pair_metrics,
    seed_interval,
)
from sim.core.links import pair_log_loss_accuracy


def prompts_of(n_prompts: int, sizes: np.ndarray) -> np.ndarray:
    return np.repeat([f"p{i}" for i in range(n_prompts)], sizes)


def test_grouped_holdout_keeps_prompts_whole_and_reaches_the_fraction():
    rng = np.random.default_rng(0)
    prompts = prompts_of(60, rng.integers(1, 6, size=60))
    held = grouped_holdout(prompts, 0.25, seed=3)
    assert set(prompts[held]).isdisjoint(prompts[~held])
    assert held.sum() >= round(0.25 * prompts.size)
    assert held.sum() - round(0.25 * prompts.size) < 6  # overshoot below one prompt's pairs
    np.testing.assert_array_equal(held, grouped_holdout(prompts, 0.25, seed=3))
    assert not np.array_equal(held, grouped_holdout(prompts, 0.25, seed=4))
    with pytest.raises(ValueError, match="share one prompt"):
        grouped_holdout(np.array(["p"] * 5), 0.2, 0)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        grouped_holdout(prompts, 1.0, 0)


def test_three_splits_share_no_prompt_and_a_fixed_eval_drops_shared_training_pairs():
    rng = np.random.default_rng(1)
    prompts = prompts_of(50, rng.integers(1, 4, size=50))
    a = assign_splits(prompts, None, 0.2, 0.25, 0, 1)
    groups = {s: set(prompts[a.split == s]) for s in ("train", "validation", "eval")}
    assert all(groups[x].isdisjoint(groups[y]) for x in groups for y in groups if x < y)
    assert (a.split != "").all() and a.dropped == 0
    prompts = prompts_of(40, np.full(40, 2))
    fixed = np.zeros(prompts.size, bool)
    fixed[0:10:2] = True  # one of the two pairs of prompts p0..p4
    b = assign_splits(prompts, fixed, 0.2, 0.25, 0, 1)
    shared = np.isin(prompts, prompts[fixed]) & ~fixed
    assert shared.sum() == 5
    assert b.dropped == shared.sum() and (b.split[shared] == "").all()
    assert b.dropped > 0 and (b.split[fixed] == "eval").all()
    assert f"{b.dropped} training pairs whose prompt is in it left out" in b.rule


def test_bootstrap_by_prompt_against_a_direct_resampling():
    rng = np.random.default_rng(2)
    prompts = prompts_of(30, rng.integers(1, 5, size=30))
    values = rng.random(prompts.size)
    boot = PromptBootstrap(prompts, 400, seed=5)
    lo, hi = boot.interval(values)
    # direct: resample prompts with the same multiplicities, mean of their pairs
    labels = np.unique(prompts)
    means = []
    for w in boot.weights:
        num = sum(w[g] * values[prompts == labels[g]].sum() for g in range(labels.size))
        den = sum(w[g] * (prompts == labels[g]).sum() for g in range(labels.size))
        means.append(num / den)
    np.testing.assert_allclose([lo, hi], np.quantile(means, [0.025, 0.975]), rtol=1e-12)
    assert lo < values.mean() < hi
    both_lo, both_hi = boot.interval(np.column_stack([values, 2 * values]))
    np.testing.assert_allclose(both_lo, [lo, 2 * lo])
    np.testing.assert_allclose(both_hi, [hi, 2 * hi])


def test_seed_interval_is_the_t_interval():
    v = np.array([0.61, 0.58, 0.63, 0.60])
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    np.testing.assert_allclose(seed_interval(v), (v.mean() - half, v.mean() + half))
    assert all(math.isnan(x) for x in seed_interval([0.5]))
    assert seed_interval([0.5, 0.5]) == (0.5, 0.5)


def test_pair_metrics_are_the_projects_loss_and_accuracy():
    rng = np.random.default_rng(3)
    Z, y, theta = rng.normal(size=(40, 4)), (rng.random(40) < 0.5) * 1.0, rng.normal(size=4)
    Z[0] = 0.0  # a zero margin counts 1/2
    c, lo = pair_metrics(Z, y, theta)
    assert c[0] == 0.5
    np.testing.assert_allclose((lo.mean(), c.mean()), pair_log_loss_accuracy(Z, y, theta))


def test_baselines_fit_on_training_pairs_only():
    chance = chance_baseline(7)
    assert chance.correct.mean() == 0.5 and chance.loss.mean() == pytest.approx(math.log(2))
    # shorter wins on the training pairs: the rule picks "shorter", whatever eval says
    tr_len, tr_y = np.array([5, -3, 4, -2, 1.0]), np.array([0, 1, 0, 1, 1.0])
    ev_len, ev_y = np.array([2, -2, 0, 3.0]), np.array([1, 0, 1, 0.0])
    b = length_baseline(tr_len, tr_y, ev_len, ev_y)
    p = 0.8  # 4 of 5 training pairs: the shorter response won
    assert b.name == "shorter response wins" and "80.0%" in b.rule
    np.testing.assert_array_equal(b.correct, [0, 0, 0.5, 1])
    np.testing.assert_allclose(b.loss, [-math.log(1 - p), -math.log(1 - p), math.log(2),
                                        -math.log(p)])
    # the data's order matters when its labels vary (a label column) ...
    m = majority_baseline(np.array([1, 1, 0, 1.0]), np.array([1, 0, 1.0]),
                          np.array([0, 1, 0, 1.0]), np.array([0, 1, 1.0]))
    np.testing.assert_array_equal(m.correct, [1, 0, 1])
    assert "in the data's order: 75.0%" in m.rule
    # ... and not when the order is the label (chosen first): the oriented labels count
    m2 = majority_baseline(np.ones(4), np.ones(3), np.array([0, 1, 0, 1.0]),
                           np.array([0, 1, 1.0]))
    np.testing.assert_array_equal(m2.correct, [0, 1, 1])
    assert "after the random orientation" in m2.rule


def test_tuning_picks_the_lowest_validation_loss_of_each_grid():
    rng = np.random.default_rng(4)
    theta = np.array([2.0, -1.0, 0.5])
    Z = rng.normal(size=(300, 3)) * 0.4
    y = (rng.random(300) < 1 / (1 + np.exp(-Z @ theta))) * 1.0
    grid = Grid(lam=(0.01, 1.0, 100.0), eta=(1.0, 3.0), sgd_lr=(0.1, 1.0))
    chosen, table = tune(Z[:200], y[:200], Z[200:], y[200:], grid)
    assert len(table) == 6 + 3 + 2
    for _, g in table.groupby("method"):
        best = g.loc[g["validation_loss"].idxmin()]
        assert g["chosen"].sum() == 1 and bool(best["chosen"])
    assert chosen["mle"].lam != 100.0  # a strong ridge loses on this data
    omd = table[(table.method == "omd") & table.chosen].iloc[0]
    assert (chosen["omd"].eta, chosen["omd"].lam) == (omd["eta"], omd["lam"])


@pytest.mark.parametrize("method", ACTIVE_METHODS)
def test_active_curve_of_one_run_is_the_run_of_each_budget(method):
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(50, 4)) * 0.4
    y = (rng.random(50) < 0.5) * 1.0
    ts = np.array([2, 7, 20])
    curve = active_checkpoints(method, Z, y, ts, seed=9, eta=2.0, lam=0.5)
    assert np.all(np.diff(curve.seconds) >= 0)
    for k, T in enumerate(ts):
        run = run_pool_active(method, Z, y, int(T), 9, eta=2.0, lam=0.5)
        np.testing.assert_array_equal(run.picked, curve.picked[:T])
        if method == "random-mle":  # warm-started from the previous checkpoint's fit
            np.testing.assert_allclose(curve.thetas[k], run.theta, atol=1e-9)
        else:
            np.testing.assert_array_equal(curve.thetas[k], run.theta)
            np.testing.assert_array_equal(curve.thetas_last[k], run.theta_last)
    with pytest.raises(ValueError, match="exceeds the pool of 50 pairs"):
        active_checkpoints(method, Z, y, np.array([10, 60]), 0, eta=1.0, lam=1.0)
    with pytest.raises(ValueError, match="increasing ints"):
        active_checkpoints(method, Z, y, np.array([10, 5]), 0, eta=1.0, lam=1.0)


def test_deployment_table_reads_a_reference_or_the_within_prompt_win_share():
    from paper_repro.real.pipeline import deployment_table
    from sim.real.adapters import RatedData, RatedPrompt
    from sim.real.build import bank_from_rated
    from tests.sim.real.fake_encoder import HashEncoder

    def embed(texts):
        return HashEncoder().encode(texts)

    prompts = [RatedPrompt(f"p{i}", ("a", "bb", "ccc"), (0.2, 0.9, 0.5), i + 1, ("m1", "m2", "m3"),
                           f"ref {i}") for i in range(3)]
    judged = RatedData("x", tuple(prompts), 3, "p", scores_are_reference_probabilities=True,
                       reference_name="r")
    bank = bank_from_rated(judged, embed, lambda p, r: f"{p}\n\n{r}")
    phi, phi_ref, p, chars, how, reason = deployment_table(bank)
    assert reason == "" and phi.shape == (3, 3, 6) and "reference answer" in how
    np.testing.assert_array_equal(p, [[0.2, 0.9, 0.5]] * 3)
    np.testing.assert_array_equal(phi_ref[0], bank.features[3])  # the reference row of p0
    np.testing.assert_array_equal(chars, [[1, 2, 3]] * 3)
    plain = RatedData("x", tuple(RatedPrompt(q.prompt, q.responses, (1.0, 3.0, 3.0), q.line)
                                 for q in prompts), 3, "s")
    bank2 = bank_from_rated(plain, embed, lambda p, r: f"{p}\n\n{r}")
    phi2, ref2, p2, _, how2, _ = deployment_table(bank2)
    np.testing.assert_array_equal(p2[0], [0.0, 0.75, 0.75])  # share of the others outscored
    np.testing.assert_allclose(ref2, phi2.mean(axis=1))
    assert "our reading" in how2
    few = RatedData("x", tuple(RatedPrompt(q.prompt, q.responses[:2], q.scores[:2], q.line)
                               for q in prompts), 3, "s")
    assert "at most 2 responses per prompt" in deployment_table(
        bank_from_rated(few, embed, lambda p, r: p + r))[5]
