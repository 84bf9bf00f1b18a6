"""PreferenceEnv: validation, exact values against direct loops, kappa against brute force."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit

from sim import PreferenceEnv, random_directions_env


def small_env(**overrides) -> PreferenceEnv:
    """3 contexts, 4 arms, d = 2, norms well inside L = 1."""
    rng = np.random.default_rng(7)
    phi = rng.uniform(-0.5, 0.5, size=(3, 4, 2))
    fields = dict(
        phi=phi,
        rho=np.array([0.2, 0.5, 0.3]),
        theta_star=np.array([0.6, -0.8]),
        L=1.0,
        B=1.0,
    )
    fields.update(overrides)
    return PreferenceEnv(**fields)


def inv_dsigmoid_ref(w: float) -> float:
    """1 / sigma'(w) = 1 / (sigma(w) sigma(-w)), without the cancellation of 1 - sigma(w)."""
    return 1.0 / (expit(w) * expit(-w))


# ---------------------------------------------------------------- validation

GOOD_PHI = np.full((3, 4, 2), 0.1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"phi": np.zeros((3, 4))}, r"phi must be a 3-d array.*got shape \(3, 4\)"),
        ({"rho": np.full((3, 1), 1 / 3)}, r"rho must be a 1-d array.*got shape \(3, 1\)"),
        ({"theta_star": np.zeros((2, 1))}, r"theta_star must be a 1-d array"),
        ({"rho": np.full(4, 0.25)}, r"rho has length 4 but phi has n_x = 3"),
        ({"theta_star": np.zeros(3)}, r"theta_star has length 3 but phi has d = 2"),
        ({"phi": np.zeros((3, 1, 2))}, r"K >= 2 arms.*got K = 1"),
        ({"phi": np.zeros((0, 4, 2)), "rho": np.zeros(0)}, r"n_x >= 1 contexts"),
        ({"phi": np.zeros((3, 4, 0)), "theta_star": np.zeros(0)}, r"d >= 1 features"),
        ({"rho": np.array([0.5, -0.1, 0.6])}, r"rho\[1\] = -0.1 is negative"),
        ({"rho": np.array([0.25, 0.5, 0.125])}, r"rho sums to 0\.875, not 1.*not renormalised"),
        ({"rho": np.array([0.2, 0.5, 0.3 + 2e-9])}, r"rho sums to"),
        ({"theta_star": np.array([np.inf, 0.0])}, r"theta_star\[0\] = inf is not finite"),
        ({"rho": np.array([0.2, np.nan, 0.3])}, r"rho\[1\] = nan is not finite"),
        ({"L": 0.0}, r"L must be a positive finite number, got 0\.0"),
        ({"L": -1.0}, r"L must be a positive finite number"),
        ({"L": math.inf}, r"L must be a positive finite number, got inf"),
        ({"B": 0.0}, r"B must be a positive finite number"),
        ({"B": math.nan}, r"B must be a positive finite number, got nan"),
        ({"B": "1"}, r"B must be a positive finite number"),
        ({"theta_star": np.array([0.6, 0.81])}, r"\|\|theta_star\|\|_2 = 1\.00.* exceeds B = 1\.0"),
        ({"link": "cauchit"}, r"unknown link 'cauchit'; known links: logistic, probit"),
        ({"name": 3}, r"name must be a str"),
    ],
)
def test_validation_errors_name_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_env(**{"phi": GOOD_PHI, **overrides})


def test_nan_in_phi_names_its_index():
    phi = GOOD_PHI.copy()
    phi[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"phi\[1, 2, 0\] = nan is not finite"):
        small_env(phi=phi)


def test_feature_norm_above_L_names_context_arm_and_norm():
    phi = GOOD_PHI.copy()
    phi[2, 1] = [0.6, 0.8 + 1e-6]
    message = r"\|\|phi\[x=2, a=1\]\|\|_2 = 1\.000000.* exceeds L = 1\.0"
    with pytest.raises(ValueError, match=message):
        small_env(phi=phi)


def test_norms_on_the_boundary_are_accepted():
    phi = GOOD_PHI.copy()
    phi[0, 0] = [0.6, 0.8]
    env = small_env(phi=phi, theta_star=np.array([0.6, 0.8]))
    assert env.L == 1.0 and env.B == 1.0


def test_rho_within_tolerance_is_kept_as_given():
    rho = np.array([0.2, 0.5, 0.3 + 5e-10])
    env = small_env(rho=rho)
    assert np.array_equal(env.rho, rho)


def test_arrays_are_copied_contiguous_float64_and_read_only():
    phi = np.asfortranarray(np.full((3, 4, 2), 0.1, dtype=np.float32))
    rho = [0.25, 0.25, 0.5]
    env = small_env(phi=phi, rho=rho, theta_star=[1, 0])
    for arr in (env.phi, env.rho, env.theta_star):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous
        with pytest.raises(ValueError):
            arr[0] = 0.0
    assert phi.flags.writeable  # the caller's array is untouched
    assert (env.n_x, env.K, env.d) == (3, 4, 2)


def test_link_is_kept():
    assert small_env(link="probit").link == "probit"
    assert small_env().link == "logistic"


# ---------------------------------------------------------- exact quantities


def loop_value_and_mean(env: PreferenceEnv, probs: np.ndarray) -> tuple[float, np.ndarray]:
    value, mean = 0.0, np.zeros(env.d)
    for x in range(env.n_x):
        for a in range(env.K):
            r = sum(env.phi[x, a, j] * env.theta_star[j] for j in range(env.d))
            value += env.rho[x] * probs[x, a] * r
            mean += env.rho[x] * probs[x, a] * env.phi[x, a]
    return value, mean


def one_hot(arms: np.ndarray, K: int) -> np.ndarray:
    return np.eye(K)[arms]


def test_rewards_and_optimal_arms_against_loops():
    env = random_directions_env(5, 6, 3, B=2.0, seed=3)
    r = env.rewards()
    assert r.shape == (5, 6)
    for x in range(5):
        for a in range(6):
            assert r[x, a] == pytest.approx(float(np.dot(env.phi[x, a], env.theta_star)), abs=1e-15)
        assert env.optimal_arms()[x] == max(range(6), key=lambda a: r[x, a])
        assert env.reward_gaps()[x] == pytest.approx(
            max(abs(r[x, a] - r[x, b]) for a in range(6) for b in range(6)), abs=1e-15
        )
    assert env.optimal_arms().dtype == np.int64


def test_value_and_mean_feature_against_loops():
    env = random_directions_env(7, 4, 3, L=2.0, B=1.5, seed=11)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=7)
    value, mean = loop_value_and_mean(env, probs)
    assert env.value(probs) == pytest.approx(value, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(env.mean_feature(probs), mean, rtol=1e-13, atol=1e-15)
    arms = rng.integers(0, 4, size=7)
    value, mean = loop_value_and_mean(env, one_hot(arms, 4))
    assert env.value(arms) == pytest.approx(value, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(env.mean_feature(arms), mean, rtol=1e-13, atol=1e-15)
    # J(pi) = m(pi)' theta*
    assert env.value(probs) == pytest.approx(env.mean_feature(probs) @ env.theta_star, rel=1e-12)


def test_one_hot_stochastic_policy_equals_deterministic():
    env = random_directions_env(9, 5, 4, seed=2)
    arms = np.random.default_rng(1).integers(0, 5, size=9)
    probs = one_hot(arms, 5)
    assert env.value(probs) == env.value(arms)
    assert np.array_equal(env.mean_feature(probs), env.mean_feature(arms))
    assert env.suboptimality(probs) == env.suboptimality(arms)


def test_suboptimality_is_zero_at_the_optimum_and_positive_elsewhere():
    env = random_directions_env(6, 5, 3, B=3.0, seed=4)
    opt = env.optimal_arms()
    assert env.suboptimality(opt) == 0.0
    assert env.suboptimality(one_hot(opt, 5)) == 0.0
    rng = np.random.default_rng(5)
    for _ in range(50):
        arms = rng.integers(0, 5, size=6)
        probs = rng.dirichlet(np.ones(5), size=6)
        for pi in (arms, probs):
            sub = env.suboptimality(pi)
            assert sub >= 0.0
            assert sub == pytest.approx(env.value(opt) - env.value(pi), abs=1e-13)
    worst = np.argmin(env.rewards(), axis=1)
    assert env.suboptimality(worst) == pytest.approx(env.rho @ env.reward_gaps(), rel=1e-12)
    assert env.suboptimality(worst) > 0.0


def test_suboptimality_is_exactly_zero_for_a_mixture_of_tied_optimal_arms():
    phi = np.zeros((2, 3, 2))
    phi[:, 0] = [0.5, 0.0]
    phi[:, 1] = [0.5, 0.0]
    phi[:, 2] = [0.0, 0.5]
    env = PreferenceEnv(phi=phi, rho=[0.5, 0.5], theta_star=[1.0, 0.0], L=1.0, B=1.0)
    probs = np.array([[0.3, 0.7, 0.0], [0.9, 0.1, 0.0]])
    assert env.suboptimality(probs) == 0.0


@pytest.mark.parametrize(
    "policy, message",
    [
        (np.array([0, 1]), r"deterministic policy has length 2, expected n_x = 3"),
        (np.array([0.0, 1.0, 2.0]), r"integer array of arms, got dtype float64"),
        (np.array([True, False, True]), r"integer array of arms, got dtype bool"),
        (np.array([0, 4, 1]), r"policy\[1\] = 4 is not an arm in 0\.\.3"),
        (np.array([0, -1, 1]), r"policy\[1\] = -1 is not an arm"),
        (np.full((3, 3), 1 / 3), r"stochastic policy has shape \(3, 3\), expected .*\(3, 4\)"),
        (
            np.array([[1.0, 0, 0, 0], [0.5, 0.6, 0, -0.1], [0.25] * 4]),
            r"policy\[1, 3\] = -0.1 is negative",
        ),
        (np.array([[1.0, 0, 0, 0], [0.5, 0.6, 0, 0], [0.25] * 4]), r"policy row 1 sums to 1\.1"),
        (
            np.array([[1.0, 0, 0, 0], [np.nan, 0, 0, 0], [0.25] * 4]),
            r"policy\[1, 0\] = nan is not finite",
        ),
        (np.zeros((3, 4, 1)), r"policy must be \(n_x,\) arms or \(n_x, K\) probabilities"),
    ],
)
def test_bad_policies_raise(policy, message):
    env = small_env()
    for method in (env.value, env.mean_feature, env.suboptimality):
        with pytest.raises(ValueError, match=message):
            method(policy)


# --------------------------------------------------------------------- kappa


def brute_force_kappa_global(env: PreferenceEnv) -> float:
    best = 0.0
    for x in range(env.n_x):
        for a in range(env.K):
            for b in range(env.K):
                if a != b:
                    z = env.phi[x, a] - env.phi[x, b]
                    best = max(best, inv_dsigmoid_ref(env.B * np.linalg.norm(z)))
    return best


def brute_force_kappa_instance(env: PreferenceEnv, theta: np.ndarray) -> float:
    best = 0.0
    for x in range(env.n_x):
        for a in range(env.K):
            for b in range(env.K):
                if a != b:
                    best = max(best, inv_dsigmoid_ref((env.phi[x, a] - env.phi[x, b]) @ theta))
    return best


def test_max_pair_norm_against_brute_force():
    env = random_directions_env(6, 5, 4, seed=21)
    brute = max(
        np.linalg.norm(env.phi[x, a] - env.phi[x, b])
        for x in range(6)
        for a in range(5)
        for b in range(5)
    )
    assert env.max_pair_norm() == pytest.approx(brute, rel=1e-15)


@pytest.mark.parametrize("B", [0.3, 1.0, 2.5, 5.0])
def test_kappa_global_against_brute_force_triple_loop(B):
    env = random_directions_env(5, 4, 3, B=B, seed=8)
    assert env.kappa_global() == pytest.approx(brute_force_kappa_global(env), rel=1e-12)


def test_kappa_global_against_maximisation_over_the_ball():
    """Grid over the disc and constrained optimisation, both over theta with ||theta|| <= B."""
    env = random_directions_env(2, 3, 2, L=1.0, B=1.7, seed=13)
    radii = np.linspace(0.0, env.B, 41)
    angles = np.linspace(0.0, 2.0 * np.pi, 3601)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    thetas = (radii[:, None, None] * directions[None]).reshape(-1, 2)
    grid_best = 0.0
    numeric_best = 0.0
    constraint = {"type": "ineq", "fun": lambda t: env.B**2 - t @ t}
    for x in range(env.n_x):
        for a in range(env.K):
            for b in range(a + 1, env.K):
                z = env.phi[x, a] - env.phi[x, b]
                w = thetas @ z
                grid_best = max(grid_best, float(np.max(2.0 + np.exp(w) + np.exp(-w))))
                for start in ([0.1, 0.0], [0.0, -0.1], [-0.5, 0.5]):
                    res = minimize(
                        lambda t, z=z: -np.log(inv_dsigmoid_ref(t @ z)),
                        np.array(start),
                        method="SLSQP",
                        constraints=[constraint],
                        options={"ftol": 1e-14, "maxiter": 500},
                    )
                    assert np.linalg.norm(res.x) <= env.B * (1 + 1e-8)
                    numeric_best = max(numeric_best, inv_dsigmoid_ref(res.x @ z))
    kappa = env.kappa_global()
    assert grid_best <= kappa * (1 + 1e-12)
    assert grid_best == pytest.approx(kappa, rel=1e-5)
    assert numeric_best <= kappa * (1 + 1e-8)
    assert numeric_best == pytest.approx(kappa, rel=1e-7)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    n_x=st.integers(1, 4),
    K=st.integers(2, 5),
    d=st.integers(1, 4),
    L=st.floats(0.05, 5.0),
    B=st.floats(0.05, 5.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_kappa_bounds_hold_on_random_envs(n_x, K, d, L, B, seed):
    env = random_directions_env(n_x, K, d, L=L, B=B, seed=seed)
    kappa = env.kappa_global()
    assert 4.0 <= kappa <= 3.0 + math.exp(2.0 * B * L)
    assert env.kappa_global() == pytest.approx(brute_force_kappa_global(env), rel=1e-12)
    instance = env.kappa_instance()
    assert 4.0 <= instance <= kappa * (1 + 1e-12)
    assert instance == pytest.approx(brute_force_kappa_instance(env, env.theta_star), rel=1e-9)


def test_kappa_instance_at_a_given_theta():
    env = random_directions_env(4, 5, 3, B=3.0, seed=17)
    theta = np.array([1.0, -2.0, 0.5])
    expected = brute_force_kappa_instance(env, theta)
    assert env.kappa_instance(theta) == pytest.approx(expected, rel=1e-9)
    assert env.kappa_instance(np.zeros(3)) == 4.0
    with pytest.raises(ValueError, match=r"theta has length 2, expected d = 3"):
        env.kappa_instance(np.zeros(2))
    with pytest.raises(ValueError, match=r"theta\[1\] = nan is not finite"):
        env.kappa_instance(np.array([0.0, np.nan, 0.0]))


def test_kappa_is_four_when_arms_coincide():
    env = small_env(phi=np.full((3, 4, 2), 0.3))
    assert env.max_pair_norm() == 0.0
    assert env.kappa_global() == 4.0
    assert env.kappa_instance() == 4.0


def test_pair_computations_scale_to_a_million_pairs():
    env = random_directions_env(10_000, 10, 8, seed=0)
    z_norms = np.linalg.norm(env.phi[:, :, None, :] - env.phi[:, None, :, :], axis=-1)
    assert env.max_pair_norm() == pytest.approx(float(z_norms.max()), rel=1e-14)


def test_pickled_copy_is_equal_validated_and_read_only():
    env = random_directions_env(4, 3, 2, B=2.0, seed=1)
    copy = pickle.loads(pickle.dumps(env))
    assert all(np.array_equal(p, q) for p, q in zip(
        (env.phi, env.rho, env.theta_star), (copy.phi, copy.rho, copy.theta_star)
    ))
    assert (copy.L, copy.B, copy.name, copy.link) == (env.L, env.B, env.name, env.link)
    assert copy.kappa_global() == env.kappa_global()
    assert not copy.phi.flags.writeable
