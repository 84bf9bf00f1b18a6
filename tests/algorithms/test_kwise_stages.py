"""The three stages with m-wise queries: m = 2 reproduces the pairwise algorithms, the
selection criterion, greedy against exhaustive construction, m-wise runs."""

import itertools

import numpy as np
import pytest

from algorithms.kwise_stages import (
    exhaustive_subset,
    expected_info_constant,
    greedy_subset,
    greedy_vs_exhaustive,
    kwise_active,
    kwise_deployment,
    kwise_passive,
    subset_criterion,
)
from algorithms.registry import run
from sim import random_directions_env


@pytest.fixture(scope="module")
def env():
    return random_directions_env(n_x=8, K=6, d=4, L=1.0, B=2.0, seed=3)


def test_m2_passive_is_algorithm2(env):
    a = kwise_passive(env, 600, 2, 5, checkpoints=4)
    b = run("passive-omd-pessimistic", env, 600, 5, checkpoints=4, n_eval=0)
    assert a.theta.tobytes() == b.theta.tobytes()
    assert np.array_equal(a.policy, b.policy)
    assert a.records["subopt"].iloc[-1] == b.records["subopt"].iloc[-1]


def test_m2_active_is_algorithm3(env):
    a = kwise_active(env, 400, 2, 5, checkpoints=4)
    b = run("active-omd", env, 400, 5, checkpoints=4, n_eval=0, pair_norms="recompute")
    assert a.theta.tobytes() == b.theta.tobytes()
    assert a.records["subopt"].iloc[-1] == b.records["subopt"].iloc[-1]


def test_m2_deployment_is_algorithm4(env):
    a = kwise_deployment(env, 600, 2, 5, checkpoints=4)
    b = run("algorithm4", env, 600, 5, checkpoints=4)
    assert a.theta.tobytes() == b.theta.tobytes()
    np.testing.assert_allclose(a.records["regret"].iloc[-1], b.records["regret"].iloc[-1],
                               rtol=1e-12)


def test_expected_information_constant():
    assert expected_info_constant(2) == 0.25
    # c_m P_S is E[Hessian at theta = 0] of a PL ranking: Monte Carlo check at m = 4
    rng = np.random.default_rng(0)
    F = rng.normal(size=(4, 3))
    P = sum(np.outer(F[i] - F[j], F[i] - F[j]) for i, j in itertools.combinations(range(4), 2))
    H = np.zeros((3, 3))
    perms = list(itertools.permutations(range(4)))
    for p in perms:
        Fo = F[list(p)]
        for j in range(3):
            rest = Fo[j:]
            mu = rest.mean(axis=0)
            H += (rest - mu).T @ (rest - mu) / rest.shape[0]
    np.testing.assert_allclose(H / len(perms), expected_info_constant(4) * P, atol=1e-12)


def test_criterion_is_the_logdet_of_the_information_gain():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(6, 3))
    A = rng.normal(size=(3, 3))
    Hinv = np.linalg.inv(A @ A.T + np.eye(3))
    W = phi @ Hinv @ phi.T
    S = np.array([0, 2, 5])
    c = expected_info_constant(3)
    P = sum(np.outer(phi[i] - phi[j], phi[i] - phi[j]) for i, j in itertools.combinations(S, 2))
    expect = np.linalg.slogdet(np.eye(3) + c * Hinv @ P)[1]
    assert subset_criterion(W, S, 3, c) == pytest.approx(expect, rel=1e-12)


def test_greedy_never_beats_exhaustive_and_is_exact_for_pairs(env):
    rng = np.random.default_rng(2)
    for _ in range(5):
        A = rng.normal(size=(4, 4))
        W = env.phi[0] @ np.linalg.inv(A @ A.T + np.eye(4)) @ env.phi[0].T
        S = np.empty(4, dtype=np.int64)
        for m in (2, 3, 4):
            c = expected_info_constant(m)
            g = greedy_subset(W, m, c, S)
            e = exhaustive_subset(W, m, c, S)
            assert g <= e + 1e-12
            if m == 2:
                assert g == pytest.approx(e, rel=1e-12)
    table = greedy_vs_exhaustive(env, 3, np.eye(4)[None] / 4.0)
    assert (table["ratio"] <= 1 + 1e-12).all() and len(table) == env.n_x


@pytest.mark.parametrize("m", [3, 5])
def test_mwise_runs_learn_and_record(env, m):
    p = kwise_passive(env, 800, m, 1, checkpoints=4)
    assert p.records["err_l2"].iloc[-1] < p.records["err_l2"].iloc[0]
    assert p.records["pairs"].iloc[-1] == 800 * m * (m - 1) // 2
    for est in ("mle", "breaking"):
        r = kwise_passive(env, 300, m, 1, estimator=est, output="greedy", checkpoints=3)
        assert np.isfinite(r.records["err_l2"]).all()
    a = kwise_active(env, 150, m, 1, checkpoints=3)
    r = kwise_active(env, 150, m, 1, construction="random", checkpoints=3)
    assert len(set(map(tuple, a.queries[1][:20]))) >= 1 and (a.queries[1] >= 0).all()
    assert np.isfinite(a.records["criterion"]).all() and np.isnan(r.records["criterion"]).all()
    d = kwise_deployment(env, 300, m, 1, checkpoints=3)
    b = kwise_deployment(env, 300, m, 1, rule="best-of-n", checkpoints=3)
    for res in (d, b):
        reg = res.records["regret"].to_numpy()
        assert np.all(np.diff(reg) >= -1e-12) and reg[-1] >= res.records["regret_weak"].iloc[-1]


def test_same_seed_same_bits(env):
    a = kwise_deployment(env, 200, 3, 9, checkpoints=2)
    b = kwise_deployment(env, 200, 3, 9, checkpoints=2)
    assert a.theta.tobytes() == b.theta.tobytes()


def test_bad_input_raises(env):
    with pytest.raises(ValueError, match="m must be"):
        kwise_passive(env, 10, 7, 0)
    with pytest.raises(ValueError, match="pessimistic"):
        kwise_passive(env, 10, 3, 0, estimator="mle")
    with pytest.raises(ValueError, match="construction"):
        kwise_active(env, 10, 3, 0, construction="best")
    with pytest.raises(ValueError, match="n_candidates"):
        kwise_deployment(env, 10, 3, 0, rule="best-of-n", n_candidates=2)
