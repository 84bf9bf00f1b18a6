"""m-wise queries, Plackett-Luce rankings from uniforms, and the m-wise kappa."""

import itertools
import math

import numpy as np
import pytest

from sim import bt_label, bt_labels, context_cdf, random_directions_env, uniform_pairs
from sim.rankings import (
    RankingRandomNumbers,
    implied_pairs,
    kappa_mwise_global,
    kappa_mwise_instance,
    pl_probability,
    pl_rank,
    pl_rankings,
    ranking_to_pairs,
    subset_features,
    uniform_subsets,
)


@pytest.fixture(scope="module")
def env():
    return random_directions_env(n_x=12, K=7, d=4, L=1.0, B=2.5, seed=4)


def test_two_items_are_the_bt_label_bit_for_bit():
    rng = np.random.default_rng(0)
    out = np.empty(2, dtype=np.int64)
    for w, u in zip(rng.normal(scale=8.0, size=2000), rng.random(2000), strict=True):
        r = np.array([w, 0.0])
        pl_rank(r, np.array([u]), 1, np.empty((0, 1)), np.empty(1), out)
        assert (out[0] == 0) == (bt_label(w - 0.0, u, 0) == 1)
        assert sorted(out) == [0, 1]


def test_m2_queries_and_rankings_equal_the_pairwise_oracle(env):
    rr = RankingRandomNumbers.draw(7, 3000, 2)
    crn = rr.pairwise()
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    x2, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, crn.context_u, crn.arm_u)
    assert np.array_equal(x, x2) and np.array_equal(S[:, 0], a) and np.array_equal(S[:, 1], a2)
    R = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, False)
    y = bt_labels(env.phi, env.theta_star, x, a, a2, crn.label_u, 0)
    assert np.array_equal(R[:, 0] == 0, y == 1)


def test_pairwise_part_of_the_uniforms_is_the_pairwise_draw():
    from sim import CommonRandomNumbers

    for m in (2, 3, 6):
        rr = RankingRandomNumbers.draw(11, 50, m)
        crn = CommonRandomNumbers.draw(11, 50)
        p = rr.pairwise()
        for f in ("context_u", "label_u", "arm_u"):
            assert getattr(p, f).tobytes() == getattr(crn, f).tobytes()
        assert rr.arm_u.shape == (50, m) and rr.label_u.shape == (50, m - 1)


def test_subsets_are_distinct_and_uniform(env):
    rr = RankingRandomNumbers.draw(3, 40000, 3)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    assert all(len(set(row)) == 3 for row in S[:2000])
    counts = np.bincount(S[:, 2], minlength=env.K) / S.shape[0]
    assert np.abs(counts - 1.0 / env.K).max() < 0.01


@pytest.mark.parametrize("top1", [False, True])
def test_rankings_follow_plackett_luce_in_distribution(top1):
    r = np.array([0.8, -0.3, 0.1])
    n = 60000
    u = np.random.default_rng(5).random((n, 2))
    out = np.empty(3, dtype=np.int64)
    counts: dict = {}
    for i in range(n):
        pl_rank(r, u[i], 1 if top1 else 2, np.empty((0, 1)), np.empty(1), out)
        key = int(out[0]) if top1 else tuple(out)
        counts[key] = counts.get(key, 0) + 1
    keys = range(3) if top1 else itertools.permutations(range(3))
    for key in keys:
        rank = [key] + [k for k in range(3) if k != key] if top1 else list(key)
        p = pl_probability(r, np.array(rank), 1 if top1 else None)
        got = counts.get(key, 0) / n
        assert abs(got - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-3


def test_environment_rankings_use_features_and_are_permutations(env):
    rr = RankingRandomNumbers.draw(2, 500, 5)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    R = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, False)
    assert np.all(np.sort(R, axis=1) == np.arange(5))
    F = subset_features(env.phi, x, S)
    assert np.array_equal(F[3, 1], env.phi[x[3], S[3, 1]])


def test_breaking_counts_and_m2_identity():
    S = np.array([[4, 1, 2]])
    R = np.array([[2, 0, 1]])  # arm 2 first, then 4, then 1
    rows, a, b = ranking_to_pairs(S, R)
    assert len(rows) == implied_pairs(3) == 3
    assert {(int(p), int(q)) for p, q in zip(a, b, strict=True)} == {(2, 4), (2, 1), (4, 1)}
    rows, a, b = ranking_to_pairs(S, R, top1=True)
    assert len(rows) == implied_pairs(3, top1=True) == 2 and set(a) == {2}


def test_kappa_reduces_to_pairs_at_m2(env):
    assert kappa_mwise_instance(env.phi, env.theta_star, 2) == pytest.approx(
        env.kappa_instance(), rel=1e-12)
    k, exact = kappa_mwise_global(env.phi, env.B, 2)
    assert exact and k == pytest.approx(env.kappa_global(), rel=1e-12)


def test_kappa_instance_is_the_brute_force_maximum(env):
    theta = env.theta_star
    for m in (3, 4):
        best = 0.0
        for x in range(env.n_x):
            r = env.phi[x] @ theta
            for S in itertools.combinations(range(env.K), m):
                p = np.exp(r[list(S)] - r[list(S)].max())
                p /= p.sum()
                q = np.sort(p)
                best = max(best, 1.0 / (q[0] * q[1]))
        assert kappa_mwise_instance(env.phi, theta, m) == pytest.approx(best, rel=1e-10)
    k3, exact = kappa_mwise_global(env.phi, env.B, 3, n_directions=32)
    assert not exact and k3 >= kappa_mwise_instance(env.phi, theta, 3)
    assert k3 >= env.kappa_global() * (1 - 1e-12)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="m must be"):
        RankingRandomNumbers.draw(0, 5, 1)
    with pytest.raises(ValueError, match="label_u"):
        RankingRandomNumbers(np.zeros(3), np.zeros((3, 3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="exceeds"):
        kappa_mwise_instance(np.zeros((2, 3, 2)), np.zeros(2), 4)
