import numpy as np
import pytest

from sim import CommonRandomNumbers, PreferenceEnv, bt_labels, random_directions_env
from sim.behaviour import (
    LoggedData,
    behaviour_marginal,
    behaviour_queries,
    behaviour_reference,
    optimal_arm_mask,
    skewed_pairs,
)
from sim.feedback import context_cdf


def arm_frequencies(env, x, a, a2):
    counts = np.zeros((env.n_x, env.K))
    np.add.at(counts, (x, a), 1.0)
    np.add.at(counts, (x, a2), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("behaviour, eps", [("uniform", 0.05), ("skewed", 0.05), ("skewed", 0.3)])
def test_marginal_matches_the_drawn_pairs(behaviour, eps):
    env = random_directions_env(3, 5, 2, seed=0)
    crn = CommonRandomNumbers.draw(1, 60_000)
    x, a, a2, y = behaviour_queries(env, behaviour, crn, eps)
    assert np.all(a != a2) and a.min() >= 0 and a2.max() < env.K
    mu = behaviour_marginal(env, behaviour, eps)
    np.testing.assert_allclose(mu.sum(axis=1), 1.0)
    assert np.abs(arm_frequencies(env, x, a, a2) - mu).max() < 0.01  # fixed seed
    np.testing.assert_array_equal(
        y, bt_labels(env.phi, env.theta_star, x, a, a2, crn.label_u, env.link_code))


def test_skewed_pairs_rarely_involve_the_optimal_arm():
    env = random_directions_env(4, 6, 3, seed=2)
    crn = CommonRandomNumbers.draw(3, 40_000)
    best = env.optimal_arms()
    for eps, expected in ((0.0, 0.0), (0.1, 0.1 * 2 / 6), (1.0, 2 / 6)):
        x, a, a2, _ = behaviour_queries(env, "skewed", crn, eps)
        involved = np.mean((a == best[x]) | (a2 == best[x]))
        assert abs(involved - expected) < 0.01
    x, a, a2, _ = behaviour_queries(env, "uniform", crn)
    assert abs(np.mean((a == best[x]) | (a2 == best[x])) - 2 / 6) < 0.01


def test_contexts_without_two_non_optimal_arms_fall_back_to_uniform():
    env = random_directions_env(2, 2, 2, seed=0)  # K = 2: every pair involves the optimal arm
    mu = behaviour_marginal(env, "skewed", 0.05)
    np.testing.assert_array_equal(mu, 0.5)
    u = np.array([0.3, 0.9])
    x, a, a2 = skewed_pairs(context_cdf(env.rho), optimal_arm_mask(env), 0.05, u,
                            np.array([[0.7, 0.2], [0.2, 0.7]]))
    assert list(a) == [1, 0] and list(a2) == [0, 1]


def test_ties_count_every_optimal_arm():
    phi = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]])
    env = PreferenceEnv(phi=phi, rho=np.ones(1), theta_star=np.array([1.0, 0.0]), L=1, B=1)
    np.testing.assert_array_equal(optimal_arm_mask(env), [[True, True, False, False]])
    crn = CommonRandomNumbers.draw(0, 2000)
    x, a, a2, _ = behaviour_queries(env, "skewed", crn, 0.0)
    assert set(a) | set(a2) == {2, 3}


def test_reference_vectors():
    env = random_directions_env(3, 4, 2, seed=5)
    v, v_x = behaviour_reference(env, behaviour_marginal(env, "uniform"))
    np.testing.assert_allclose(v_x, env.phi.mean(axis=1))
    np.testing.assert_allclose(v, env.rho @ env.phi.mean(axis=1))
    mu = behaviour_marginal(env, "skewed", 0.2)
    v, _ = behaviour_reference(env, mu)
    np.testing.assert_allclose(v, env.mean_feature(mu))


def test_logged_data_round_trip_and_marginal():
    env = random_directions_env(2, 3, 2, seed=1)
    logged = LoggedData(x=[0, 0, 1], a=[0, 1, 2], a2=[1, 2, 0], y=[1, 0, 1])
    crn = CommonRandomNumbers.draw(0, 2)
    x, a, a2, y = behaviour_queries(env, logged, crn)
    assert list(x) == [0, 0] and list(a) == [0, 1] and list(y) == [1, 0]
    mu = behaviour_marginal(env, logged)
    np.testing.assert_allclose(mu, [[0.25, 0.5, 0.25], [0.5, 0.0, 0.5]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=[0, 1], a=[0], a2=[1], y=[1]), "lengths differ"),
    (dict(x=[5], a=[0], a2=[1], y=[1]), r"x\[0\] = 5 is not a context"),
    (dict(x=[0], a=[0], a2=[3], y=[1]), r"a2\[0\] = 3 is not an arm"),
    (dict(x=[0], a=[1], a2=[1], y=[1]), "two distinct arms"),
    (dict(x=[0], a=[0], a2=[1], y=[2]), r"y\[0\] = 2 is not a label"),
    (dict(x=[0.5], a=[0], a2=[1], y=[1]), "must hold integers"),
    (dict(x=[[0]], a=[0], a2=[1], y=[1]), "must be 1-d"),
])
def test_mismatched_logged_data(kwargs, match):
    env = random_directions_env(2, 3, 2, seed=1)
    with pytest.raises(ValueError, match="mismatched logged data") as info:
        LoggedData(**kwargs).validate(env)
    assert info.match(match)


def test_logged_data_too_short_and_unknown_behaviour():
    env = random_directions_env(2, 3, 2, seed=1)
    logged = LoggedData(x=[0], a=[0], a2=[1], y=[1])
    with pytest.raises(ValueError, match="only 1 samples are logged"):
        behaviour_queries(env, logged, CommonRandomNumbers.draw(0, 5))
    with pytest.raises(ValueError, match="unknown behaviour 'greedy'"):
        behaviour_queries(env, "greedy", CommonRandomNumbers.draw(0, 5))
    with pytest.raises(ValueError, match="skew eps"):
        behaviour_marginal(env, "skewed", 1.5)
