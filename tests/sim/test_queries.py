import numpy as np
import pytest

from sim import context_cdf, pair_differences, random_directions_env, uniform_pairs


def test_uniform_pairs_are_distinct_and_cover_all_ordered_pairs():
    K = 4
    rng = np.random.default_rng(0)
    n = 60_000
    x, a, a2 = uniform_pairs(context_cdf(np.array([0.2, 0.8])), K, rng.random(n), rng.random((n, 2)))
    assert np.all(a != a2)
    assert a.min() == 0 and a.max() == K - 1 and a2.min() == 0 and a2.max() == K - 1
    counts = np.zeros((K, K))
    np.add.at(counts, (a, a2), 1)
    expected = n / (K * (K - 1))
    off = counts[~np.eye(K, dtype=bool)]
    assert np.all(np.abs(off - expected) < 6 * np.sqrt(expected))  # fixed seed: deterministic
    assert abs(np.mean(x == 1) - 0.8) < 0.01


def test_uniform_pairs_edge_uniforms_stay_in_range():
    K = 3
    u = np.array([0.0, 1.0 - 1e-16])
    arm_u = np.array([[0.0, 0.0], [1.0 - 1e-16, 1.0 - 1e-16]])
    x, a, a2 = uniform_pairs(context_cdf(np.array([0.5, 0.5])), K, u, arm_u)
    assert list(x) == [0, 1]
    assert list(a) == [0, 2] and list(a2) == [1, 1]


def test_pair_differences_equal_direct_indexing():
    env = random_directions_env(5, 4, 3, seed=1)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, 20)
    a = rng.integers(0, 4, 20)
    a2 = (a + 1) % 4
    np.testing.assert_array_equal(pair_differences(env.phi, x, a, a2),
                                  env.phi[x, a] - env.phi[x, a2])


def test_log_checkpoints():
    from sim.core.checkpoints import log_checkpoints

    c = log_checkpoints(10**6, 20)
    assert c[0] == 1 and c[-1] == 10**6 and np.all(np.diff(c) > 0) and 15 <= len(c) <= 21
    np.testing.assert_array_equal(log_checkpoints(5, 20), [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="T must be"):
        log_checkpoints(0)
