"""The real-data experiments on small banks built here with a stand-in feature map (no model,
no shared data): the shared active kernels on a labelled pool (norm downdates and selection
against dense recomputation, and against the synthetic stage on the same pool), passive runs
against the estimators, the one loss and accuracy, orientation, the judge and semi-synthetic
oracles, the cached bank builds, and input errors."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from algorithms.active import (
    ACTIVE_MLE,
    active_mle_segment,
    active_omd_segment,
    difference_pool,
    downdate_pair_sq_norms,
    feature_pool,
    pair_sq_norms,
    query_pool,
    query_pool_pair,
)
from algorithms.estimators import mle, omd_path, practical_constants, sgd_path
from algorithms.linalg import sherman_morrison_update
from algorithms.omd import omd_update
from algorithms.training_metrics import EvalSet, eval_metrics
from paper_repro.real.experiments import (
    ACTIVE_METHODS,
    PassiveSettings,
    active_experiment,
    bank_pairs,
    default_constants,
    deployment_experiment,
    deployment_oracles,
    fit_reference_logistic,
    judge_rewards,
    orient,
    orientation_flips,
    passive_curves,
    passive_estimates,
    passive_experiment,
    principal_features,
    reference_fit_gradient,
    repetition_streams,
    run_pool_active,
    semi_synthetic_env,
)
from paper_repro.real.multiarm_deployment import greedy_arms
from paper_repro.real.pool_active import active_selection
from sim import pair_differences, random_directions_env
from sim.core.checkpoints import log_checkpoints
from sim.core.links import pair_log_loss_accuracy, sign_agreement
from sim.real import shared_banks
from sim.real.adapters import MultiArmData, PreferencePair, text_sha256
from sim.real.bank import FeatureBank
from sim.real.build import bank_from_pairs
from sim.real.shared_banks import FeaturesUnavailable, alpacaeval_subset, ultrafeedback_bank

D = 6


def toy_embed(texts: list[str]) -> np.ndarray:
    """D floats in [-1, 1) from the sha256 of each text: a deterministic stand-in model."""
    rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[: 4 * D], dtype=np.uint32)
            for t in texts]
    return (np.array(rows, dtype=np.float64) / 2**31 - 1.0).reshape(len(texts), D)


def compose(prompt: str, response: str) -> str:
    return f"{prompt}\n\n{response}"


def toy_pairs(n: int, tag: str) -> list[PreferencePair]:
    return [PreferencePair(f"{tag}{i}", f"prompt {tag} {i // 2}", f"good {tag} {i}",
                           f"bad {tag} {i}", 8.0, 3.0, i + 1) for i in range(n)]


@pytest.fixture(scope="module")
def bank() -> FeatureBank:
    sources = [(toy_pairs(60, "tr"), "train"), (toy_pairs(25, "ev"), "eval")]
    return bank_from_pairs(sources, toy_embed, compose).normalized(1.0)


@pytest.fixture(scope="module")
def pool(bank):
    return bank_pairs(bank, "train", 3)


SETTINGS = PassiveSettings(eta=2.5, lam=0.5, sgd_lr=0.7)


# --------------------------------------------------------------------------- orientation

def test_orientation_flips_are_seeded_and_exactly_balanced():
    a, b = orientation_flips(101, 7), orientation_flips(101, 7)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 50
    assert not np.array_equal(a, orientation_flips(101, 8))
    assert orientation_flips(0, 1).shape == (0,)


def test_orient_flips_differences_and_labels_and_keeps_the_bt_loss(bank):
    Z, y = bank.pair_differences("train")
    flips = orientation_flips(Z.shape[0], 0)
    Zo, yo = orient(Z, y, flips)
    np.testing.assert_array_equal(Zo[flips], -Z[flips])
    np.testing.assert_array_equal(Zo[~flips], Z[~flips])
    np.testing.assert_array_equal(yo, np.where(flips, 0.0, 1.0))
    theta = np.linspace(-1.0, 1.0, D)
    assert pair_log_loss_accuracy(Zo, yo, theta) == pytest.approx(
        pair_log_loss_accuracy(Z, y, theta), rel=1e-14)


def test_bank_pairs_are_seeded_shuffled_and_balanced(bank):
    a, b = bank_pairs(bank, "train", 5), bank_pairs(bank, "train", 5)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert a.flipped.sum() == 30 and 0.0 < a.y.mean() < 1.0
    assert sorted(a.rows.tolist()) == list(range(60)) and a.rows.tolist() != list(range(60))
    Z, _ = bank.pair_differences("train")
    np.testing.assert_array_equal(np.abs(a.Z), np.abs(Z[a.rows]))
    assert bank_pairs(bank, "train", 5, limit=10).n == 10


def test_one_loss_and_accuracy_for_synthetic_and_real_records(bank):
    """The synthetic training records and the real-data drivers report
    `sim.core.links.pair_log_loss_accuracy`; a zero margin counts 1/2."""
    Z = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    loss, acc = pair_log_loss_accuracy(Z, np.array([1.0, 0.0, 1.0]), np.array([2.0, 0.0]))
    assert acc == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    expected = [math.log1p(math.exp(-2)), math.log(2), math.log1p(math.exp(2))]
    assert loss == pytest.approx(np.mean(expected))
    rng = np.random.default_rng(3)
    Zi = rng.integers(-1, 2, size=(40, 3)).astype(float)  # many exact zero margins
    yi = rng.integers(0, 2, 40).astype(float)
    theta, theta_star = np.array([1.0, -1.0, 0.0]), np.array([0.0, 2.0, 1.0])
    loss, acc, acc_true = eval_metrics(EvalSet(Zi, yi, Zi @ theta_star), theta)
    assert (loss, acc) == pair_log_loss_accuracy(Zi, yi, theta)
    assert acc_true == sign_agreement(Zi @ theta, Zi @ theta_star)
    s = repetition_streams(0, 0)
    df = active_experiment(bank, budget=10, repetitions=1, pool_size=30,
                           methods=("random-omd",))
    pool = bank_pairs(bank, "train", s["train"], limit=30)
    ev = bank_pairs(bank, "eval", s["eval"])
    c = default_constants(D)
    out = run_pool_active("random-omd", pool.Z, pool.y, 10, s["learner"], eta=c.eta, lam=c.lam)
    row = df.iloc[0]
    assert (row["eval_loss"], row["eval_acc"]) == pair_log_loss_accuracy(ev.Z, ev.y, out.theta)


# ---------------------------------------------------------------------------- pool norms

def test_difference_pool_holds_the_rows_as_pairs(pool):
    dp = difference_pool(pool.Z)
    np.testing.assert_array_equal(dp.phi[dp.px, dp.pa] - dp.phi[dp.px, dp.pb], pool.Z)
    np.testing.assert_array_equal(dp.phiT[:, dp.ia].T, pool.Z)
    assert not dp.phiT[:, dp.ib].any()


def test_pool_norm_downdate_equals_recomputation_after_a_rank_one_update(pool):
    """The shared kernels `pair_sq_norms` and `downdate_pair_sq_norms` on the real pool
    against z_p' Hinv z_p recomputed densely; a queried pair (-inf) stays out."""
    rng = np.random.default_rng(0)
    dp = difference_pool(pool.Z)
    Hinv = np.eye(D) / 0.5
    s = np.empty(pool.n)
    pair_sq_norms(dp.phi, dp.px, dp.pa, dp.pb, Hinv, s)
    np.testing.assert_allclose(s, np.einsum("pi,ij,pj->p", pool.Z, Hinv, pool.Z), rtol=1e-13)
    w = np.empty(dp.phiT.shape[1])
    for _ in range(5):
        p = int(rng.integers(pool.n))
        z, wt = pool.Z[p], rng.random()
        s[p] = -math.inf
        u = np.empty(D)
        q = sherman_morrison_update(Hinv, z, wt, u)
        best = downdate_pair_sq_norms(dp.phiT, dp.ia, dp.ib, u, wt / (1.0 + wt * q), w, s)
        direct = np.einsum("pi,ij,pj->p", pool.Z, Hinv, pool.Z)
        left = np.isfinite(s)
        np.testing.assert_allclose(s[left], direct[left], rtol=1e-10, atol=1e-13)
        direct[~left] = -np.inf
        assert best == int(np.argmax(direct))


def _dense_active(Zp, yp, T, lam, step):
    """Recompute every pool norm each round (O(P d^2)), pick the largest unqueried one."""
    Hinv = np.eye(Zp.shape[1]) / lam
    used = np.zeros(Zp.shape[0], dtype=bool)
    picked = []
    for _ in range(T):
        norms = np.einsum("pi,ij,pj->p", Zp, Hinv, Zp)
        norms[used] = -np.inf
        p = int(np.argmax(norms))
        picked.append(p)
        used[p] = True
        step(Zp[p], yp[p], Hinv)
    return picked, Hinv


def test_active_omd_on_the_real_pool_matches_recomputed_norms(pool):
    T, lam, eta = 25, 0.5, 2.5
    theta, last, picked, _ = active_selection(difference_pool(pool.Z), pool.y, T, "active-omd",
                                              eta=eta, lam=lam)
    th = np.zeros(D)
    u, M = np.empty(D), np.empty((D, D))
    iterates = [th.copy()]

    def step(z, y, H):
        omd_update(th, H, z, y, eta, math.inf, False, u, M)
        iterates.append(th.copy())

    expected, _ = _dense_active(pool.Z, pool.y, T, lam, step)
    assert picked.tolist() == expected
    np.testing.assert_allclose(last, th, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(theta, np.mean(iterates, axis=0), rtol=1e-12)


def test_active_mle_on_the_real_pool_matches_recomputed_norms(pool):
    T, lam = 12, 0.5
    theta, _, picked, counters = active_selection(difference_pool(pool.Z), pool.y, T,
                                                  "active-mle", eta=2.5, lam=lam)
    picks: list[int] = []
    Hd = np.eye(D) / lam
    used = np.zeros(pool.n, dtype=bool)
    for _ in range(T):
        nrm = np.einsum("pi,ij,pj->p", pool.Z, Hd, pool.Z)
        nrm[used] = -np.inf
        p = int(np.argmax(nrm))
        used[p] = True
        picks.append(p)
        fit = mle(pool.Z[picks], pool.y[picks], lam=lam)
        z = pool.Z[p]
        w = 1.0 / (2.0 + math.exp(z @ fit) + math.exp(-z @ fit))
        sherman_morrison_update(Hd, z, w, np.empty(D))
    assert picked.tolist() == picks
    np.testing.assert_allclose(theta, fit, rtol=1e-8, atol=1e-10)
    assert counters["unconverged_refits"] == 0 and counters["newton_iterations"] >= T


def _synthetic_active(env, kernel, T, seed):
    """The synthetic stage's segment kernel over env's full pool without replacement, labels
    from the Bradley-Terry oracle: (selected pairs, labels, theta, theta_sum)."""
    c = practical_constants(env.d, env.L, env.B)
    fp = feature_pool(env.phi, *query_pool(env.rho, env.K))
    P, d = fp.px.shape[0], env.d
    theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / c.lam, np.zeros(d)
    s = np.empty(P)
    pair_sq_norms(fp.phi, fp.px, fp.pa, fp.pb, Hinv, s)
    used = np.zeros(P, dtype=np.bool_)
    sel, y, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
    label_u = np.random.default_rng(seed).random(T)
    head = (fp.phi, fp.phiT, fp.px, fp.pa, fp.pb, fp.ia, fp.ib, s, used)
    if kernel == "active-omd":
        state_i = np.array([int(np.argmax(s))], dtype=np.int64)
        active_omd_segment(*head, state_i, theta, Hinv, theta_sum, np.zeros(1), c.eta,
                           math.inf, False, False, False, 1, c.lam, env.L, 0.05, 1.0,
                           env.theta_star, label_u, env.link_code, 0, T, sel, y, norms)
    else:
        state_i = np.array([int(np.argmax(s)), 0], dtype=np.int64)
        active_mle_segment(*head, state_i, theta, Hinv, np.zeros(1), np.empty((T, d)),
                           np.empty(T), ACTIVE_MLE, False, c.lam, math.inf, 1e-10, 100,
                           math.nan, 1, c.eta, env.L, 0.05, 1.0, env.theta_star, label_u,
                           env.link_code, 0, T, sel, y, norms)
    return fp, sel, y.astype(float), theta, theta_sum, c


@pytest.mark.parametrize("method", ["active-omd", "active-mle"])
def test_real_pool_selection_is_the_synthetic_kernel(method):
    """A synthetic environment's pool run by the synthetic kernel (labels from the oracle on
    theta*), and the same pool as difference rows z_p with those oracle labels as a fixed
    table (the real-data path): the same queries in the same order and the same estimate."""
    env = random_directions_env(6, 5, 4, B=2.0, seed=9)
    T = 40
    fp, sel, y, theta, theta_sum, c = _synthetic_active(env, method, T, 5)
    assert len(set(sel.tolist())) == T
    Zp = pair_differences(env.phi, fp.px, fp.pa, fp.pb)
    # the label table: the oracle's label for every pair, its draw for the queried ones
    labels = np.array([query_pool_pair(env.phi, x, a, b, env.theta_star, u, env.link_code,
                                       np.empty(env.d))
                       for x, a, b, u in zip(fp.px, fp.pa, fp.pb,
                                             np.random.default_rng(6).random(Zp.shape[0]))])
    labels[sel] = y
    out, last, picked, _ = active_selection(difference_pool(Zp), labels, T, method,
                                            eta=c.eta, lam=c.lam)
    np.testing.assert_array_equal(picked, sel)
    if method == "active-omd":
        np.testing.assert_array_equal(last, theta)
        np.testing.assert_array_equal(out, theta_sum / (T + 1.0))
    else:
        np.testing.assert_allclose(out, theta, rtol=1e-10, atol=1e-12)


def test_run_pool_active_outputs(pool):
    c = default_constants(D)
    outs = {m: run_pool_active(m, pool.Z, pool.y, 20, 4, eta=c.eta, lam=c.lam)
            for m in ACTIVE_METHODS}
    rand = outs["random-omd"]
    path = omd_path(pool.Z[rand.picked], pool.y[rand.picked], eta=c.eta, lam=c.lam, project=False)
    np.testing.assert_allclose(rand.theta, path.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rand.theta_last, path[-1], rtol=1e-12)
    np.testing.assert_array_equal(outs["random-mle"].picked, rand.picked)  # same seeded order
    np.testing.assert_allclose(outs["random-mle"].theta,
                               mle(pool.Z[rand.picked], pool.y[rand.picked], lam=c.lam), rtol=1e-8)
    for o in outs.values():
        assert len(set(o.picked.tolist())) == 20 and o.seconds >= 0.0
    again = run_pool_active("random-omd", pool.Z, pool.y, 20, 4, eta=c.eta, lam=c.lam)
    np.testing.assert_array_equal(again.picked, rand.picked)


def test_pool_labels_come_from_the_array(pool):
    """Flipping the revealed labels (and nothing else) changes the estimate's sign."""
    c = default_constants(D)
    a = run_pool_active("active-omd", pool.Z, pool.y, 15, 0, eta=c.eta, lam=c.lam)
    b = run_pool_active("active-omd", -pool.Z, pool.y, 15, 0, eta=c.eta, lam=c.lam)
    np.testing.assert_array_equal(a.picked, b.picked)
    np.testing.assert_allclose(a.theta, -b.theta, rtol=1e-12)


# ------------------------------------------------------------------------------ passive

def test_passive_omd_equals_omd_path_and_others_their_estimators(bank):
    tr = bank_pairs(bank, "train", 11)
    ts = np.array([1, 3, 10, 33, 60])
    thetas, seconds = passive_estimates(tr.Z, tr.y, SETTINGS, "omd", ts)
    path = omd_path(tr.Z, tr.y, eta=SETTINGS.eta, lam=SETTINGS.lam, project=False)
    np.testing.assert_array_equal(thetas, path[ts])
    assert np.all(np.diff(seconds) >= 0)
    sgd, _ = passive_estimates(tr.Z, tr.y, SETTINGS, "sgd", ts)
    np.testing.assert_array_equal(sgd, sgd_path(tr.Z, tr.y, lr=SETTINGS.sgd_lr)[ts])
    fits, _ = passive_estimates(tr.Z, tr.y, SETTINGS, "mle", ts)
    for t, fit in zip(ts, fits):
        np.testing.assert_allclose(fit, mle(tr.Z[:t], tr.y[:t], lam=SETTINGS.lam), rtol=1e-8,
                                   atol=1e-10)


def test_passive_experiment_rows_and_metrics(bank):
    df = passive_experiment(bank, seed=2, repetitions=2, settings=SETTINGS, checkpoints=6)
    assert set(df["method"]) == {"sgd", "mle", "omd"} and set(df["repetition"]) == {0, 1}
    assert set(df["seed"]) == {2}
    s = repetition_streams(2, 1)
    tr, ev = bank_pairs(bank, "train", s["train"]), bank_pairs(bank, "eval", s["eval"])
    theta = omd_path(tr.Z, tr.y, eta=SETTINGS.eta, lam=SETTINGS.lam, project=False)[-1]
    row = df[(df["method"] == "omd") & (df["repetition"] == 1)].iloc[-1]
    assert row["t"] == 60
    assert (row["train_loss"], row["train_acc"]) == pair_log_loss_accuracy(tr.Z, tr.y, theta)
    assert (row["eval_loss"], row["eval_acc"]) == pair_log_loss_accuracy(ev.Z, ev.y, theta)
    first = df[df["t"] == 1]
    assert np.all(first["eval_acc"].between(0, 1))


def test_passive_curves_rows_at_log_checkpoints(bank):
    tr, ev = bank_pairs(bank, "train", 0), bank_pairs(bank, "eval", 0)
    df = passive_curves(tr.Z, tr.y, ev.Z, ev.y, SETTINGS, checkpoints=4, methods=("omd",))
    assert df["t"].tolist() == log_checkpoints(60, 4).tolist()
    assert np.all(np.isfinite(df[["train_loss", "eval_loss", "wall_time"]].to_numpy()))
    assert np.all(np.diff(df["wall_time"]) >= 0)


def test_active_experiment_rows(bank):
    df = active_experiment(bank, budget=15, repetitions=2, pool_size=40)
    assert len(df) == 2 * len(ACTIVE_METHODS)
    assert set(df["pool"]) == {40} and set(df["budget"]) == {15}
    assert df["eval_acc"].between(0, 1).all() and (df["wall_time"] >= 0).all()
    mle_rows = df[df["method"].str.endswith("mle")]
    np.testing.assert_array_equal(mle_rows["eval_acc"], mle_rows["eval_acc_last"])


# ------------------------------------------------------------------------------- oracles

def test_judge_rewards_are_the_clipped_logits():
    p = np.array([[0.0, 1e-5, 0.2, 0.5], [0.9, 1.0 - 1e-6, 1.0, 0.7]])
    r = judge_rewards(p)
    q = np.clip(p, 1e-4, 1 - 1e-4)
    np.testing.assert_allclose(r, np.log(q / (1 - q)), rtol=1e-12)
    np.testing.assert_allclose(1 / (1 + np.exp(-r)), q, rtol=1e-12)
    assert r[0, 0] == r[0, 1] == pytest.approx(-math.log(9999))
    assert r[0, 3] == 0.0


def toy_table(n_x=4, K=7, d=5, seed=0):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n_x, K, d))
    phi /= np.linalg.norm(phi, axis=2, keepdims=True).max()
    phi_ref = rng.normal(size=(n_x, d))
    phi_ref *= 0.9 / np.linalg.norm(phi_ref, axis=1, keepdims=True)
    p = rng.random((n_x, K)) ** 3
    p[0, 0], p[1, 1] = 0.0, 1.0
    return phi, phi_ref, p


def test_semi_synthetic_fit_is_first_order_optimal():
    phi, phi_ref, p = toy_table()
    theta = fit_reference_logistic(phi, phi_ref, p, lam=0.3)
    grad = reference_fit_gradient(theta, phi, phi_ref, p, lam=0.3)
    scale = np.abs(reference_fit_gradient(np.zeros_like(theta), phi, phi_ref, p, lam=0.3)).max()
    assert np.abs(grad).max() <= 1e-9 * scale
    env = semi_synthetic_env(phi, theta, 1.0)
    assert env.B == pytest.approx(np.linalg.norm(theta))
    np.testing.assert_allclose(env.rewards(), phi @ theta)
    np.testing.assert_allclose(env.rho, 1 / 4)


def test_deployment_oracles_and_experiment():
    phi, phi_ref, p = toy_table()
    oracles = deployment_oracles(phi, phi_ref, p, lam_fit=0.5)
    assert oracles["judge"].oracle_rewards is oracles["judge"].rewards
    assert oracles["semi-synthetic"].oracle_rewards is None
    np.testing.assert_array_equal(oracles["judge"].rewards, judge_rewards(p))
    np.testing.assert_array_equal(oracles["judge"].win_probability, p)
    curves, summary, refs = deployment_experiment(phi, phi_ref, p, T=30, seed=1,
                                                  strategies=("random", "quantile"),
                                                  n=4, q=2.0, lam_fit=0.5, points=5)
    assert set(summary["oracle"]) == {"judge", "semi-synthetic"}
    assert set(summary["algorithm"]) == {"llm-random-mle", "llm-random-omd",
                                         "llm-quantile-mle", "llm-quantile-omd"}
    assert set(curves["oracle"]) == {"judge", "semi-synthetic"} and curves["t"].max() == 30
    assert (summary["regret"] >= -1e-9).all() and summary["win_rate"].between(0, 1).all()
    best = refs.set_index("oracle")["best_arm"]
    assert (summary.groupby("oracle")["win_rate"].max() <= best + 1e-12).all()
    again = deployment_experiment(phi, phi_ref, p, T=30, seed=1, strategies=("random", "quantile"),
                                  n=4, q=2.0, lam_fit=0.5, points=5)[1]
    np.testing.assert_array_equal(again["cum_reward"], summary["cum_reward"])


def test_greedy_arms_and_principal_features():
    phi, phi_ref, _ = toy_table()
    x = np.array([0, 2, 0])
    thetas = np.array([np.zeros(5), np.ones(5), np.ones(5)])
    arms = greedy_arms(phi, x, thetas)
    assert arms[0] == 0  # all scores tie at theta = 0: the lowest arm
    assert arms[1] == np.argmax(phi[2] @ np.ones(5))
    pk, rk = principal_features(phi, phi_ref, 3, L=1.0)
    assert pk.shape == (4, 7, 3) and rk.shape == (4, 3)
    assert max(np.linalg.norm(pk, axis=2).max(), np.linalg.norm(rk, axis=1).max()) <= 1.0
    full, _ = principal_features(phi, phi_ref, 5, L=1.0)
    dev = phi - phi.mean(axis=1, keepdims=True)
    devk = full - full.mean(axis=1, keepdims=True)
    # an orthogonal change of basis and one scale: within-context distances keep their ratios
    ratio = np.linalg.norm(devk, axis=2) / np.linalg.norm(dev, axis=2)
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-10)


def test_alpacaeval_subset_is_seeded_and_nested():
    n_x, K = 12, 6
    data = MultiArmData("toy", tuple(map(str, range(n_x))), tuple(f"q{i}" for i in range(n_x)),
                        tuple(f"m{k}" for k in range(K)),
                        tuple(tuple(f"a{i}-{k}" for k in range(K)) for i in range(n_x)),
                        np.linspace(0, 1, n_x * K).reshape(n_x, K), "ref",
                        tuple(f"r{i}" for i in range(n_x)), ("ds",) * n_x, 0)
    small, xs, arms = alpacaeval_subset(data, 3, 2, seed=4)
    big, xb, armb = alpacaeval_subset(data, 8, 4, seed=4)
    assert set(xs) <= set(xb) and set(arms) <= set(armb)
    assert small.arm_names[-1] == "reference:ref" and small.K == 3
    np.testing.assert_array_equal(small.p[:, :-1], data.p[np.ix_(xs, arms)])
    np.testing.assert_array_equal(small.p[:, -1], 0.5)
    assert small.arm_texts[0][-1] == data.reference_texts[xs[0]]
    all_arms, _, a = alpacaeval_subset(data, 3, None, seed=4)
    assert a.tolist() == list(range(K))


# ------------------------------------------------------------------------ cached builds

def _fake_shared_data(folder, n_train=6, n_eval=3):
    uf = folder / "ultrafeedback"
    uf.mkdir(parents=True)
    texts = []
    for name, n in (("uf_binarized_trl_seed42_train1000.jsonl", n_train),
                    ("uf_binarized_trl_seed42_eval200.jsonl", n_eval)):
        with open(uf / name, "w") as f:
            for i in range(n):
                row = {"prompt": f"{name} q{i}", "chosen": f"yes {i}", "rejected": f"no {i}",
                       "metadata": {"score_chosen": 8.0, "score_rejected": 2.0}}
                f.write(json.dumps(row) + "\n")
                texts += [compose(row["prompt"], row["chosen"]),
                          compose(row["prompt"], row["rejected"])]
    return texts


def test_ultrafeedback_bank_from_a_warm_cache_needs_no_model(tmp_path, monkeypatch):
    texts = _fake_shared_data(tmp_path / "data")
    monkeypatch.setenv("RLHF_TESTBED_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(shared_banks, "missing_llm_extra", lambda: "torch")
    cache_dir = tmp_path / "cache"
    with pytest.raises(FeaturesUnavailable, match="llm extra"):
        ultrafeedback_bank(cache_dir)
    from sim.real.embed import EmbeddingCache, TextEncoder

    cache = EmbeddingCache(cache_dir / "embeddings", TextEncoder().key)
    cache.add([text_sha256(t) for t in texts], toy_embed(texts))
    build = ultrafeedback_bank(cache_dir, L=1.0)
    assert build.embedded == 0 and build.texts == len(texts)
    assert build.bank.n_pairs == 9 and build.bank.max_feature_norm() <= 1.0
    assert FeatureBank.load(build.folder).n_pairs == 9


def test_missing_shared_data_is_a_reason_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_TESTBED_DATA", str(tmp_path))
    with pytest.raises(FeaturesUnavailable, match="not found"):
        ultrafeedback_bank(tmp_path / "cache")
    with pytest.raises(FeaturesUnavailable, match="not found"):
        shared_banks.alpacaeval_bank(tmp_path / "cache", n_contexts=2)


# ------------------------------------------------------------------------------- errors

def test_bad_inputs_raise_clear_errors(bank, pool):
    c = default_constants(D)
    with pytest.raises(ValueError, match="exceeds the pool"):
        run_pool_active("active-omd", pool.Z, pool.y, pool.n + 1, 0, eta=c.eta, lam=c.lam)
    with pytest.raises(ValueError, match="shape"):
        run_pool_active("active-omd", pool.Z, pool.y[:-1], 5, 0, eta=c.eta, lam=c.lam)
    with pytest.raises(ValueError, match="non-empty"):
        run_pool_active("active-omd", np.zeros((0, D)), np.zeros(0), 1, 0, eta=c.eta, lam=c.lam)
    with pytest.raises(ValueError, match="unknown active method"):
        run_pool_active("apo", pool.Z, pool.y, 5, 0, eta=c.eta, lam=c.lam)
    with pytest.raises(ValueError, match="0 or 1"):
        run_pool_active("active-omd", pool.Z, pool.y + 0.5, 5, 0, eta=c.eta, lam=c.lam)
    empty = FeatureBank(bank.responses, bank.features, bank.pairs.iloc[:0])
    with pytest.raises(ValueError, match="no pairs"):
        active_experiment(empty, budget=5)
    with pytest.raises(ValueError, match="no pairs"):
        passive_experiment(empty)
    with pytest.raises(ValueError, match="pool_size"):
        active_experiment(bank, budget=5, pool_size=61, repetitions=1)
    with pytest.raises(ValueError, match="d = "):
        passive_curves(pool.Z, pool.y, pool.Z[:, :3], pool.y, SETTINGS)
    with pytest.raises(ValueError, match="checkpoints"):
        passive_estimates(pool.Z, pool.y, SETTINGS, "omd", np.array([5, 3]))
    phi, phi_ref, p = toy_table()
    with pytest.raises(ValueError, match="phi_ref"):
        fit_reference_logistic(phi, phi_ref[:, :2], p)
    with pytest.raises(ValueError, match=r"p must have shape"):
        fit_reference_logistic(phi, phi_ref, p[:, :3])
    with pytest.raises(ValueError, match="probabilities"):
        judge_rewards(p * 2)
    with pytest.raises(ValueError, match="no split"):
        bank_pairs(bank, "test", 0)
    with pytest.raises(ValueError, match="n_contexts"):
        alpacaeval_subset(MultiArmData("t", ("0",), ("q",), ("a", "b"), (("x", "y"),),
                                       np.zeros((1, 2)), "r", ("r",), ("d",), 0), 2, None, 0)
