"""Active data collection (Algorithm 3 and baselines): incremental pair norms, selection
rules and estimators against dense recomputation, the pool, and the seeded claim that active
selection needs fewer samples than random selection."""

import math

import numpy as np
import pytest

from algorithms.active import (
    ACTIVE_MLE,
    APO,
    active_mle_rounds,
    active_mle_segment,
    active_omd_rounds,
    active_omd_segment,
    difference_pool,
    feature_pool,
    omd_update_downdate,
    pair_sq_norms,
    pool_label,
    query_pool,
    query_pool_pair,
)
from algorithms.estimators import mle, practical_constants
from algorithms.omd import omd_update
from algorithms.training import run_training
from sim import pair_differences, random_directions_env
from sim.instances import informative_directions_env

from .dense_reference import dsig, omd_dense


def dense_sq_norms(env, A):
    px, pa, pb = query_pool(env.rho, env.K)
    Zp = env.phi[px, pa] - env.phi[px, pb]
    return np.einsum("pd,de,pe->p", Zp, A, Zp)


def test_pool_is_every_pair_of_every_context_with_mass():
    px, pa, pb = query_pool(np.array([0.5, 0.0, 0.5]), 4)
    assert len(px) == 2 * 6
    assert set(px) == {0, 2} and np.all(pa < pb)
    assert list(zip(px[:6], pa[:6], pb[:6])) == [(0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 1, 2),
                                                 (0, 1, 3), (0, 2, 3)]


def test_downdate_exposes_the_rank_one_change_of_the_omd_update():
    rng = np.random.default_rng(0)
    d = 4
    for project, B in ((False, np.inf), (True, 0.3)):
        theta, Hinv = rng.normal(size=d) * 0.1, np.eye(d) / 2.0
        u, M = np.empty(d), np.empty((d, d))
        for _ in range(50):
            z, y = rng.normal(size=d), float(rng.random() < 0.5)
            before, t_ref, H_ref = Hinv.copy(), theta.copy(), Hinv.copy()
            omd_update(t_ref, H_ref, z, y, 3.0, B, project, np.empty(d), np.empty((d, d)))
            c = omd_update_downdate(theta, Hinv, z, y, 3.0, B, project, u, M)
            assert theta.tobytes() == t_ref.tobytes() and Hinv.tobytes() == H_ref.tobytes()
            np.testing.assert_allclose(u, before @ z, rtol=1e-12)
            np.testing.assert_allclose(Hinv, before - c * np.outer(u, u), rtol=1e-12, atol=1e-15)


def run_kernel(env, T, seed, recompute=False, replacement=True, project=True):
    """Algorithm 3 through the compiled segment, returning the final state."""
    c = practical_constants(env.d, env.L, env.B)
    px, pa, pb = query_pool(env.rho, env.K)
    phiT = np.ascontiguousarray(env.phi.reshape(-1, env.d).T)
    ia, ib = px * env.K + pa, px * env.K + pb
    Hinv = np.eye(env.d) / c.lam
    s = np.empty(len(px))
    pair_sq_norms(env.phi, px, pa, pb, Hinv, s)
    state = dict(s=s, used=np.zeros(len(px), bool), nxt=np.array([int(np.argmax(s))]),
                 theta=np.zeros(env.d), Hinv=Hinv, theta_sum=np.zeros(env.d), acc=np.zeros(1),
                 sel=np.empty(T, np.int64), y=np.empty(T, np.int64), norms=np.empty(T))
    label_u = np.random.default_rng(seed).random(T)
    active_omd_segment(env.phi, phiT, px, pa, pb, ia, ib, state["s"], state["used"],
                       state["nxt"], state["theta"], state["Hinv"], state["theta_sum"],
                       state["acc"], c.eta, env.B if project else math.inf, project, replacement,
                       recompute, 1, c.lam, env.L, 0.05, 1.0, env.theta_star, label_u,
                       env.link_code, 0, T, state["sel"], state["y"], state["norms"])
    return state, (px, pa, pb), c


def test_incremental_pair_norms_equal_recomputation_after_many_rounds():
    env = random_directions_env(20, 5, 4, B=2.0, seed=1)
    state, _, _ = run_kernel(env, 3000, 0)
    exact = dense_sq_norms(env, state["Hinv"])
    assert np.all(np.abs(state["s"] - exact) <= 1e-9 * exact)
    # Hinv itself stayed the inverse of lambda I + sum sigma' z z'
    assert np.isfinite(state["Hinv"]).all()


def test_incremental_and_recomputed_selection_agree():
    env = random_directions_env(10, 4, 3, B=2.0, seed=2)
    inc, _, _ = run_kernel(env, 500, 1)
    rec, _, _ = run_kernel(env, 500, 1, recompute=True)
    np.testing.assert_array_equal(inc["sel"], rec["sel"])
    np.testing.assert_allclose(inc["theta"], rec["theta"], rtol=1e-10, atol=1e-12)


def test_active_omd_equals_the_dense_algorithm():
    """Each selected pair maximises ||z||_{Hcal_t^{-1}} for the dense Hcal_t, and theta_bar is
    the mean of the dense OMD iterates on the selected data."""
    env = random_directions_env(6, 4, 3, B=2.0, seed=4)
    T = 120
    res = run_training("active-omd", env, T, 3, checkpoints=3, n_eval=0)
    x, a, a2, y = res.queries
    Z = pair_differences(env.phi, x, a, a2)
    c = practical_constants(env.d, env.L, env.B)
    path = omd_dense(Z, y.astype(float), c.eta, c.lam, env.B, True)
    assert np.abs(res.theta - path.mean(axis=0)).max() <= 1e-9
    Hcal = c.lam * np.eye(env.d)
    for t in range(T):
        norms = dense_sq_norms(env, np.linalg.inv(Hcal))
        assert Z[t] @ np.linalg.solve(Hcal, Z[t]) >= norms.max() * (1 - 1e-9)
        Hcal += dsig(Z[t] @ path[t + 1]) * np.outer(Z[t], Z[t])


def test_pool_label_reads_the_table_or_the_oracle():
    env = random_directions_env(3, 3, 2, seed=0)
    fp = feature_pool(env.phi, *query_pool(env.rho, env.K))
    z, z2 = np.empty(env.d), np.empty(env.d)
    table = np.arange(fp.px.shape[0]) % 2.0
    u = np.array([0.3, 0.9])
    for p in range(fp.px.shape[0]):
        assert pool_label(fp.phi, fp.px, fp.pa, fp.pb, p, table, np.empty(0), np.empty(0), 0,
                          0, z) == table[p]
        np.testing.assert_array_equal(z, env.phi[fp.px[p], fp.pa[p]] - env.phi[fp.px[p], fp.pb[p]])
        y = pool_label(fp.phi, fp.px, fp.pa, fp.pb, p, np.empty(0), env.theta_star, u, 1,
                       env.link_code, z)
        assert y == query_pool_pair(env.phi, fp.px[p], fp.pa[p], fp.pb[p], env.theta_star, u[1],
                                    env.link_code, z2)
        assert y == float(u[1] < 1.0 / (1.0 + math.exp(-z2 @ env.theta_star)))


def _state(fp, lam, d, n_state):
    s = np.empty(fp.px.shape[0])
    pair_sq_norms(fp.phi, fp.px, fp.pa, fp.pb, np.eye(d) / lam, s)
    state_i = np.zeros(n_state, dtype=np.int64)
    state_i[0] = int(np.argmax(s))
    return s, np.zeros(s.shape[0], np.bool_), state_i


def _pair_rows(fp, sel):
    return fp.phi[fp.px[sel], fp.pa[sel]] - fp.phi[fp.px[sel], fp.pb[sel]]


def test_label_table_rounds_equal_the_oracle_segments_and_the_dense_algorithm():
    """Without replacement, the label-table path of `active_omd_rounds` / `active_mle_rounds`
    fed the labels that the oracle path drew gives the same run bit for bit, and the runs are
    the dense Algorithm 3 and the dense MLE."""
    env = random_directions_env(5, 4, 3, B=2.0, seed=3)
    T, d = 30, env.d
    c = practical_constants(d, env.L, env.B)
    fp = feature_pool(env.phi, *query_pool(env.rho, env.K))
    head = (fp.phi, fp.phiT, fp.px, fp.pa, fp.pb, fp.ia, fp.ib)
    label_u = np.random.default_rng(0).random(T)
    omd_rest = (c.eta, env.B, True, False, False, 1, c.lam, env.L, 0.05, 1.0)
    mle_rest = (False, c.lam, env.B, 1e-10, 100, 1.0, 1, c.eta, env.L, 0.05, 1.0)
    for kernel in ("omd", ACTIVE_MLE, APO):
        runs = []
        for use_table in (False, True):
            s, used, state_i = _state(fp, c.lam, d, 1 if kernel == "omd" else 3)
            theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / c.lam, np.zeros(d)
            sel, y, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
            tail = (0, T, sel, y, norms)
            labels = np.zeros(fp.px.shape[0])
            if use_table:
                labels[runs[0][0]] = runs[0][1]
            if kernel == "omd":
                args = (*head, s, used, state_i, theta, Hinv, theta_sum, np.zeros(1), *omd_rest)
                if use_table:
                    active_omd_rounds(*args, labels, np.empty(0), np.empty(0), 0, *tail)
                else:
                    active_omd_segment(*args, env.theta_star, label_u, env.link_code, *tail)
            else:
                args = (*head, s, used, state_i, theta, Hinv, np.zeros(1), np.empty((T, d)),
                        np.empty(T), kernel, *mle_rest)
                if use_table:
                    active_mle_rounds(*args, labels, np.empty(0), np.empty(0), 0, *tail)
                else:
                    active_mle_segment(*args, env.theta_star, label_u, env.link_code, *tail)
            runs.append((sel, y, theta, theta_sum, norms, state_i[:2].copy()))
        for a, b in zip(*runs):
            assert a.tobytes() == b.tobytes()
        sel, y, theta, theta_sum = runs[0][:4]
        assert len(set(sel.tolist())) == T
        Z = _pair_rows(fp, sel)
        if kernel == "omd":
            path = omd_dense(Z, y.astype(float), c.eta, c.lam, env.B, True)
            np.testing.assert_allclose(theta_sum / (T + 1.0), path.mean(axis=0), atol=1e-9)
        else:
            np.testing.assert_allclose(theta, mle(Z, y.astype(float), lam=c.lam, B=env.B),
                                       atol=1e-8)


def test_a_third_state_entry_counts_the_newton_iterations():
    env = random_directions_env(4, 3, 2, B=1.5, seed=1)
    T, d = 10, env.d
    fp = feature_pool(env.phi, *query_pool(env.rho, env.K))
    labels = (np.arange(fp.px.shape[0]) % 3 == 0).astype(float)
    counts = []
    for n_state in (2, 3):
        s, used, state_i = _state(fp, 1.0, d, n_state)
        active_mle_rounds(fp.phi, fp.phiT, fp.px, fp.pa, fp.pb, fp.ia, fp.ib, s, used, state_i,
                          np.zeros(d), np.eye(d), np.zeros(1), np.empty((T, d)), np.empty(T),
                          ACTIVE_MLE, False, 1.0, env.B, 1e-10, 100, 1.0, 1, 1.0, env.L, 0.05,
                          1.0, labels, np.empty(0), np.empty(0), 0, 0, T, np.empty(T, np.int64),
                          np.empty(T, np.int64), np.empty(T))
        counts.append(state_i.copy())
    assert counts[0].tolist() == counts[1][:2].tolist() and counts[1][2] >= T


def test_difference_pool_runs_the_same_selection_as_the_feature_pool():
    """A pool given as difference rows z_p (phi[p, 0] = z_p, phi[p, 1] = 0) and the same pool
    over the feature table select the same pairs (labels from one table)."""
    env = random_directions_env(6, 4, 3, B=2.0, seed=5)
    T, d = 25, env.d
    c = practical_constants(d, env.L, env.B)
    fp = feature_pool(env.phi, *query_pool(env.rho, env.K))
    Zp = pair_differences(env.phi, fp.px, fp.pa, fp.pb)
    dp = difference_pool(Zp)
    labels = (np.random.default_rng(1).random(Zp.shape[0]) < 0.5).astype(float)
    out = []
    for pool in (fp, dp):
        s, used, state_i = _state(pool, c.lam, d, 1)
        theta, Hinv, theta_sum = np.zeros(d), np.eye(d) / c.lam, np.zeros(d)
        sel, y, norms = np.empty(T, np.int64), np.empty(T, np.int64), np.empty(T)
        active_omd_rounds(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib, s,
                          used, state_i, theta, Hinv, theta_sum, np.zeros(1), c.eta, env.B, True,
                          False, False, 1, c.lam, env.L, 0.05, 1.0, labels, np.empty(0),
                          np.empty(0), 0, 0, T, sel, y, norms)
        out.append((sel, theta, norms, s))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_allclose(out[0][2], out[1][2], rtol=1e-12)
    left = np.isfinite(out[0][3])
    np.testing.assert_allclose(out[0][3][left], out[1][3][left], rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["apo", "apo-weighted", "active-mle"])
def test_mle_based_selection_rules_against_dense_recomputation(algorithm):
    env = random_directions_env(5, 4, 3, B=1.5, seed=6)
    T = 60
    res = run_training(algorithm, env, T, 5, checkpoints=2, n_eval=0)
    x, a, a2, y = res.queries
    Z, yf = pair_differences(env.phi, x, a, a2), y.astype(float)
    lam = practical_constants(env.d, env.L, env.B).lam
    np.testing.assert_allclose(res.theta, mle(Z, yf, lam=lam, B=env.B), atol=1e-8)
    M = lam * np.eye(env.d)
    prev = np.zeros(env.d)
    for t in range(T):
        norms = dense_sq_norms(env, np.linalg.inv(M))
        assert Z[t] @ np.linalg.solve(M, Z[t]) >= norms.max() * (1 - 1e-8)
        fit = mle(Z[:t + 1], yf[:t + 1], lam=lam, B=env.B, theta0=prev)
        prev = fit
        if algorithm == "apo":
            M = M + np.outer(Z[t], Z[t])
        elif algorithm == "active-mle":
            M = M + dsig(Z[t] @ fit) * np.outer(Z[t], Z[t])
        else:
            w = np.array([dsig(z @ fit) for z in Z[:t + 1]])
            M = lam * np.eye(env.d) + (Z[:t + 1].T * w) @ Z[:t + 1]


def test_random_selection_baselines_against_the_references():
    env = random_directions_env(5, 4, 3, B=1.5, seed=7)
    T = 200
    c = practical_constants(env.d, env.L, env.B)
    res = run_training("random-omd", env, T, 2, checkpoints=3, n_eval=0)
    passive = run_training("passive-omd-greedy", env, T, 2, checkpoints=3, n_eval=0)
    for q, p in zip(res.queries, passive.queries):  # the same uniform pairs and labels
        np.testing.assert_array_equal(q, p)
    x, a, a2, y = res.queries
    Z, yf = pair_differences(env.phi, x, a, a2), y.astype(float)
    path = omd_dense(Z, yf, c.eta, c.lam, env.B, True)
    assert np.abs(res.theta - path.mean(axis=0)).max() <= 1e-9
    res = run_training("random-mle", env, T, 2, checkpoints=3, n_eval=0)
    np.testing.assert_allclose(res.theta, mle(Z, yf, lam=c.lam, B=env.B), atol=1e-8)


def test_without_replacement_each_pair_is_used_once():
    env = random_directions_env(3, 3, 2, seed=0)  # 9 pairs
    for algorithm in ("active-omd", "apo", "apo-weighted", "active-mle"):
        res = run_training(algorithm, env, 9, 0, replacement=False, n_eval=0)
        x, a, a2, _ = res.queries
        assert len(set(zip(x, a, a2))) == 9
        with pytest.raises(ValueError, match="exceeds the pool of 9 pairs"):
            run_training(algorithm, env, 10, 0, replacement=False)
    # with replacement the budget may exceed the pool
    res = run_training("active-omd", env, 30, 0, n_eval=0)
    assert len(set(zip(*res.queries[:3]))) <= 9


def test_custom_and_empty_pools():
    env = random_directions_env(3, 3, 2, seed=0)
    pool = np.array([[0, 0, 1], [2, 2, 0]])
    res = run_training("active-omd", env, 10, 0, pool=pool, n_eval=0)
    assert set(zip(*res.queries[:3])) <= {(0, 0, 1), (2, 2, 0)}
    with pytest.raises(ValueError, match="the query pool is empty"):
        run_training("active-omd", env, 10, 0, pool=np.zeros((0, 3), dtype=int))
    with pytest.raises(ValueError, match="two identical arms"):
        run_training("apo", env, 10, 0, pool=np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="context outside"):
        run_training("apo", env, 10, 0, pool=np.array([[3, 0, 1]]))


def samples_to_reach(algorithm, env, level, ts, seeds):
    curves = np.array([run_training(algorithm, env, ts[-1], s, checkpoints=np.array(ts),
                                    n_eval=0).records["subopt"].to_numpy() for s in seeds])
    mean = curves.mean(axis=0)
    hit = np.flatnonzero(mean <= level)
    return ts[hit[0]] if hit.size else math.inf


def test_active_selection_needs_fewer_samples_than_random():
    env = informative_directions_env()
    ts = [25, 50, 100, 200, 400, 800]
    level = 0.005
    n_active = samples_to_reach("active-omd", env, level, ts, range(10))
    n_random = samples_to_reach("random-omd", env, level, ts, range(10))
    assert n_active <= 100
    assert n_random >= 4 * n_active
