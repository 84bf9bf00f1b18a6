"""Algorithm 4 (deployment): the compiled loop against direct numpy versions, the instance bound
with its constant 3/2, regret that flattens on well-separated arms, records, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from algorithms.confidence import Radius
from algorithms.constants import practical_constants, theory_constants
from algorithms.deployment import algorithm4_pair, pair_width
from algorithms.deployment_registry import DEPLOYMENT_ALGORITHMS, run_deployment
from algorithms.regret import INSTANCE_BOUND_CONSTANT, instance_bound_violations
from sim import (
    CommonRandomNumbers,
    PreferenceEnv,
    context_cdf,
    draw_contexts,
    random_directions_env,
)

from .dense_reference import dsig, omd_dense


@pytest.fixture(scope="module")
def env():
    return random_directions_env(10, 6, 4, B=1.0, seed=0)


def run_z_y(env, res):
    r = res.rounds
    Z = env.phi[r["x"], r["a"]] - env.phi[r["x"], r["a2"]]
    return Z, r["y"].to_numpy(np.float64)


# --------------------------------------------------------------- compiled equals simple


@pytest.mark.parametrize("project, constants", [(True, "practical"), (False, "practical"),
                                                (True, "theory")])
def test_theta_path_equals_dense_omd_on_the_runs_own_data(env, project, constants):
    res = run_deployment("algorithm4", env, 300, 1, constants=constants, project=project,
                         keep_path=True)
    c = (theory_constants if constants == "theory" else practical_constants)(env.d, env.L, env.B)
    Z, y = run_z_y(env, res)
    dense = omd_dense(Z, y, c.eta, c.lam, env.B, project)
    np.testing.assert_allclose(res.theta_path, dense, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(res.theta, res.theta_path[-1])


def numpy_algorithm4_pairs(env, x, path, Z, radius, c):
    """Algorithm 4's selection rule written directly: Hcal_t as an explicit sum, a solve for
    the widths, argmax with numpy's first-index tie rule."""
    T, d = Z.shape
    Hcal = c.lam * np.eye(d)
    pairs, widths, betas = [], [], []
    for t in range(T):
        theta = path[t]
        beta = radius.beta(t + 1, d=d, eta=c.eta, lam=c.lam, L=env.L, B=env.B)
        P = env.phi[x[t]]
        a = int(np.argmax(P @ theta))
        D = P - P[a]
        w = np.sqrt(np.maximum(np.einsum("kd,kd->k", D, np.linalg.solve(Hcal, D.T).T), 0.0))
        a2 = int(np.argmax(P @ theta + 2.0 * beta * w))
        pairs.append((a, a2))
        widths.append(w[a2])
        betas.append(beta)
        Hcal = Hcal + dsig(Z[t] @ path[t + 1]) * np.outer(Z[t], Z[t])
    return np.array(pairs), np.array(widths), np.array(betas)


@pytest.mark.parametrize("radius", [Radius("practical", c_beta=0.5), Radius("theory")])
def test_arm_choices_equal_a_direct_numpy_selection_rule(env, radius):
    c = practical_constants(env.d, env.L, env.B)
    res = run_deployment("algorithm4", env, 250, 3, radius=radius, keep_path=True)
    r = res.rounds
    Z, y = run_z_y(env, res)
    pairs, widths, betas = numpy_algorithm4_pairs(env, r["x"].to_numpy(), res.theta_path, Z,
                                                  radius, c)
    np.testing.assert_array_equal(pairs[:, 0], r["a"])
    np.testing.assert_array_equal(pairs[:, 1], r["a2"])
    np.testing.assert_allclose(r["width"], widths, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r["beta"], betas, rtol=1e-14)
    # contexts from the common random numbers, labels from the Bradley-Terry oracle
    crn = CommonRandomNumbers.draw(3, 250)
    np.testing.assert_array_equal(r["x"], draw_contexts(context_cdf(env.rho), crn.context_u))
    np.testing.assert_array_equal(y, (crn.label_u < expit(Z @ env.theta_star)).astype(float))


def test_selection_kernel_on_a_hand_built_context():
    # three arms on a line, theta favours arm 2; a wide confidence set sends the second arm
    # to the far end, a zero radius keeps it on the greedy arm (z = 0)
    phi_x = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
    theta = np.array([1.0, 0.0])
    Minv = np.eye(2)
    s, D = np.empty(3), np.empty(2)
    assert algorithm4_pair(phi_x, theta, Minv, 10.0, s, D) == (2, 0, 1.0)
    assert algorithm4_pair(phi_x, theta, Minv, 0.0, s, D) == (2, 2, 0.0)
    # at beta = 0.5 all three arms tie (0 + 2(0.5)(1) = 0.5 + 2(0.5)(0.5) = 1 + 0): the
    # lowest index wins
    assert algorithm4_pair(phi_x, theta, Minv, 0.5, s, D)[1] == 0
    np.testing.assert_array_equal(s, [0.0, 0.5, 1.0])
    assert pair_width(phi_x, 0, 2, 4.0 * np.eye(2), D) == 2.0


def test_a_round_with_equal_arms_leaves_the_model_unchanged(env):
    res = run_deployment("algorithm4", env, 400, 0, radius=Radius("practical", c_beta=0.2),
                         keep_path=True)
    same = np.flatnonzero(res.rounds["a"] == res.rounds["a2"])
    assert same.size > 0
    assert np.all(res.rounds["width"].to_numpy()[same] == 0.0)
    np.testing.assert_array_equal(res.records["same_arm_rounds"],
                                  np.cumsum(res.rounds["a"] == res.rounds["a2"]))
    for i in same:
        np.testing.assert_array_equal(res.theta_path[i + 1], res.theta_path[i])


# --------------------------------------------------------------------- instance bound


def test_the_constant_is_three_halves():
    # g <= beta ||phi* - phi_t|| and g' <= 3 beta ||z|| - beta ||phi* - phi_t||: (g + g') / 2
    assert INSTANCE_BOUND_CONSTANT == 3 / 2


def _round_ratio(phi_x, theta_t, theta_star, Minv, beta):
    """(g + g') / (2 beta ||z||) of Algorithm 4's pair in one context, or None when z = 0 or
    theta* is outside the set."""
    from algorithms.deployment import algorithm4_pair

    e = theta_star - theta_t
    if e @ np.linalg.solve(Minv, e) > beta ** 2 * (1 + 1e-12):
        return None
    K, d = phi_x.shape
    a, a2, width = algorithm4_pair(phi_x, theta_t, Minv, beta, np.empty(K), np.empty(d))
    if width <= 1e-12:
        return None
    r = phi_x @ theta_star
    return (2 * r.max() - r[a] - r[a2]) / (2 * beta * width)


def test_the_tightness_family_approaches_three_halves():
    # d = 1, theta_t = 0, theta* = beta = 1, arms 0 (greedy), s (optimal), -w (widest)
    for s, w in ((0.5, 1.0), (0.9, 1.0), (0.999, 1.0)):
        phi = np.array([[0.0], [s], [-w]])
        ratio = _round_ratio(phi, np.zeros(1), np.ones(1), np.eye(1), 1.0)
        assert ratio == pytest.approx(0.5 + s / w)
    assert ratio > 1.49


def test_no_adversarial_instance_exceeds_three_halves():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(4000):
        K, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        phi = rng.normal(size=(K, d))
        A = rng.normal(size=(d, d))
        M = A @ A.T + 0.1 * np.eye(d)
        beta = float(rng.uniform(0.1, 2.0))
        theta_t = rng.normal(size=d)
        e = rng.normal(size=d)
        e *= beta * rng.uniform(0.5, 1.0) / np.sqrt(e @ M @ e)  # theta* on or inside the set
        ratio = _round_ratio(phi, theta_t, theta_t + e, np.linalg.inv(M), beta)
        if ratio is not None:
            worst = max(worst, ratio)
    assert 1.0 < worst <= 1.5 + 1e-9


@pytest.mark.parametrize("name, seed", [("algorithm4", 0), ("algorithm4", 1),
                                        ("algorithm4", 2), ("algorithm4-rule-mle", 0)])
def test_instance_bound_holds_while_theta_star_is_covered_and_a_tenth_of_it_fails(name, seed):
    env = random_directions_env(10, 6, 4, B=1.0, seed=seed)
    res = run_deployment(name, env, 2000, seed, radius=Radius("practical", c_beta=1.0))
    assert res.records["in_confidence_set"].iloc[-1]  # the event held on every round
    check = res.instance_bound_check()
    assert check.rounds_checked == 2000 and check.holds
    assert check.max_ratio <= INSTANCE_BOUND_CONSTANT
    wrong = res.instance_bound_check(INSTANCE_BOUND_CONSTANT / 10)
    assert not wrong.holds and wrong.violations.size > 10
    rec = res.records
    assert rec["regret"].iloc[-1] <= rec["instance_bound"].iloc[-1]


def test_instance_bound_under_the_theory_radius(env):
    res = run_deployment("algorithm4", env, 1500, 4, radius=Radius("theory"))
    assert res.records["in_confidence_set"].all()
    assert res.instance_bound_check().holds
    assert (res.records["radius"] == "theory").all()


def test_instance_bound_is_checked_only_where_theta_star_is_covered(env):
    res = run_deployment("algorithm4", env, 1500, 0, radius=Radius("practical", c_beta=0.2))
    r = res.rounds
    check = res.instance_bound_check()
    assert 0 < check.rounds_checked < len(r)
    assert check.rounds_checked == int(r["in_set"].sum()) and check.holds


def test_instance_bound_violations_on_hand_made_arrays():
    regret = np.array([0.1, 1.0, 0.5, 0.0])
    beta = np.array([1.0, 1.0, 1.0, 2.0])
    width = np.array([0.1, 0.2, 0.1, 0.0])
    in_set = np.array([True, True, False, True])
    check = instance_bound_violations(regret, beta, width, in_set)
    # round 1: 1.0 > 1.5 * 0.2 = 0.3; round 2 is outside the set; round 3: 0 <= 0
    np.testing.assert_array_equal(check.violations, [1])
    assert check.rounds_checked == 3 and not check.holds
    assert check.max_ratio == pytest.approx(5.0)
    with pytest.raises(ValueError, match="width must have shape"):
        instance_bound_violations(regret, beta, width[:3], in_set)
    with pytest.raises(ValueError, match="constant must be"):
        instance_bound_violations(regret, beta, width, in_set, constant=-1.0)


# ----------------------------------------------------------------------- records


def test_records_are_the_running_sums_of_the_per_round_trace(env):
    res = run_deployment("algorithm4", env, 500, 8, radius=Radius("practical", c_beta=0.5))
    rec, r = res.records, res.rounds
    np.testing.assert_array_equal(rec["regret"], np.cumsum(r["regret"]))
    np.testing.assert_array_equal(rec["regret_weak"], np.cumsum(r["regret_weak"]))
    np.testing.assert_array_equal(rec["regret_strong"], np.cumsum(r["regret_strong"]))
    np.testing.assert_allclose(rec["instance_bound"],
                               np.cumsum(INSTANCE_BOUND_CONSTANT * r["beta"] * r["width"]),
                               rtol=1e-12)
    np.testing.assert_array_equal(rec["in_confidence_set"], np.minimum.accumulate(r["in_set"]))
    np.testing.assert_array_equal(rec["err_hcal"], r["err_hcal"])
    # err columns describe theta_t, the estimate that chose round t's pair
    path = run_deployment("algorithm4", env, 500, 8, radius=Radius("practical", c_beta=0.5),
                          keep_path=True).theta_path
    np.testing.assert_allclose(rec["err_l2"], np.linalg.norm(path[:-1] - env.theta_star, axis=1),
                               rtol=1e-12)
    for col, value in [("constants", "practical"), ("radius", "practical"), ("c_beta", 0.5),
                       ("reward_model", "omd"), ("confidence_matrix", "Hcal"), ("project", True)]:
        assert (rec[col] == value).all(), col
    measured = rec[rec["wall_time_measured"]]
    assert measured["t"].iloc[-1] == 500 and len(measured) >= 10


def test_regret_flattens_on_well_separated_arms():
    # two arms per context far apart in reward: once the confidence widths fall below the gap,
    # the second arm equals the first and no more regret accrues
    rng = np.random.default_rng(0)
    n_x, d = 6, 3
    theta = np.array([2.0, 0.0, 0.0])
    phi = np.zeros((n_x, 3, d))
    for x in range(n_x):
        base = 0.2 * rng.normal(size=d)
        base[0] = 0.0
        phi[x, 0] = base + np.array([0.8, 0, 0])
        phi[x, 1] = base - np.array([0.2, 0, 0])
        phi[x, 2] = base - np.array([0.7, 0, 0])
    phi /= max(1.0, np.linalg.norm(phi, axis=2).max())
    env = PreferenceEnv(phi, np.full(n_x, 1 / n_x), theta, 1.0, 2.0)
    T = 6000
    for c_beta in (0.3, 1.0):
        rec = run_deployment("algorithm4", env, T, 2,
                             radius=Radius("practical", c_beta=c_beta)).records
        first = rec["regret"].iloc[T // 2 - 1]
        second = rec["regret"].iloc[-1] - first
        assert second < 0.25 * first, (c_beta, first, second)


def test_theory_constants_are_used_and_labelled(env):
    res = run_deployment("algorithm4", env, 20, 0, constants="theory")
    c = theory_constants(env.d, env.L, env.B)
    assert res.config["lam"] == c.lam and res.config["eta"] == c.eta
    assert (res.records["constants"] == "theory").all()
    # at t = 1 theta_1 = 0 and Hcal_1 = lambda I: err_hcal = sqrt(lambda) ||theta*||
    assert res.records["err_hcal"].iloc[0] == pytest.approx(math.sqrt(c.lam) * env.B, rel=1e-12)


# ---------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("T", [0, -3, 2.5, True, "10"])
def test_bad_horizon(env, T):
    with pytest.raises(ValueError, match="T \\(number of rounds\\) must be an int >= 1"):
        run_deployment("algorithm4", env, T, 0)


def test_unknown_algorithm_lists_the_known_ones(env):
    with pytest.raises(ValueError, match="unknown deployment algorithm 'ucb'.*algorithm4.*"
                                         "llm-quantile-omd"):
        run_deployment("ucb", env, 10, 0)


def test_fewer_than_two_arms_is_rejected_by_the_environment():
    with pytest.raises(ValueError, match="K >= 2"):
        PreferenceEnv(np.ones((3, 1, 2)) * 0.1, np.full(3, 1 / 3), np.zeros(2), 1.0, 1.0)
    with pytest.raises(ValueError, match="K must be an int >= 2"):
        random_directions_env(3, 1, 2, seed=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(constants="paper"), "constants must be one of"),
    (dict(radius="theory"), "radius must be an algorithms.confidence.Radius"),
    (dict(checkpoints=0), "checkpoints must be None"),
    (dict(checkpoints=2.0), "checkpoints must be None"),
    (dict(project="yes"), "project must be True or False"),
    (dict(keep_path=1), "keep_path must be True or False"),
    (dict(crn=CommonRandomNumbers.draw(0, 7)), "crn must be a CommonRandomNumbers with T = 10"),
])
def test_bad_run_options(env, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_deployment("algorithm4", env, 10, 0, **kwargs)


def test_bad_seed_and_env(env):
    with pytest.raises(ValueError, match="seed must be non-negative"):
        run_deployment("algorithm4", env, 10, -1)
    with pytest.raises(ValueError, match="env must be a sim.PreferenceEnv"):
        run_deployment("algorithm4", env.phi, 10, 0)


@pytest.mark.parametrize("name", [n for n, a in DEPLOYMENT_ALGORITHMS.items() if a.model == "mle"])
def test_mle_baselines_take_every_radius_mode_with_their_own_theory_radius(env, name):
    theory = run_deployment(name, env, 10, 0, radius=Radius("theory"))
    practical = run_deployment(name, env, 10, 0, radius=Radius("practical"))
    calibrated = run_deployment(name, env, 10, 0, radius=Radius("calibrated", c_beta=1.0))
    np.testing.assert_array_equal(practical.rounds["beta"], calibrated.rounds["beta"])
    assert (calibrated.records["radius"] == "calibrated").all()
    # the kappa-carrying radius of the baselines' papers is wider than the practical one here
    assert (theory.rounds["beta"] > practical.rounds["beta"]).all()


def test_per_round_trace_is_needed_for_the_bound_check(env):
    res = run_deployment("algorithm4", env, 50, 0, checkpoints=5)
    with pytest.raises(ValueError, match="only when checkpoints=None"):
        res.instance_bound_check()
    assert isinstance(res.records, pd.DataFrame) and len(res.records) == 5


def test_oracle_rewards_table_drives_labels_and_regret():
    from algorithms.deployment_registry import run_deployment
    from sim.generators import random_directions_env

    env = random_directions_env(6, 5, 3, seed=3)
    base = run_deployment("algorithm4", env, 300, 1)
    same = run_deployment("algorithm4", env, 300, 1, oracle_rewards=env.rewards())
    np.testing.assert_array_equal(base.rounds["y"], same.rounds["y"])
    np.testing.assert_array_equal(base.theta, same.theta)
    flipped = run_deployment("algorithm4", env, 300, 1, oracle_rewards=-env.rewards())
    # the labels now follow the negated rewards: the learner's estimate turns around
    assert np.dot(flipped.theta, env.theta_star) < 0 < np.dot(base.theta, env.theta_star)
    with pytest.raises(ValueError, match="oracle_rewards must be"):
        run_deployment("algorithm4", env, 10, 1, oracle_rewards=np.zeros((2, 2)))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 24), st.integers(1, 12), st.integers(0, 2**32 - 1),
       st.floats(0.0, 5.0), st.booleans())
def test_block_selection_is_bit_identical_to_the_per_arm_kernel(K, d, seed, beta, ties):
    from algorithms.deployment import algorithm4_pair_block

    rng = np.random.default_rng(seed)
    phi_x = rng.normal(size=(K, d))
    if ties:  # repeated arms: equal scores and zero widths
        phi_x[K // 2:] = phi_x[: K - K // 2]
    theta = rng.normal(size=d)
    A = rng.normal(size=(d, d))
    Minv = A @ A.T / d + 0.1 * np.eye(d)
    s1, s2 = np.empty(K), np.empty(K)
    ref = algorithm4_pair(phi_x, theta, Minv, beta, s1, np.empty(d))
    got = algorithm4_pair_block(phi_x, theta, Minv, beta, s2, np.empty(d),
                                np.empty((2 * d + 1, K)))
    assert got == ref and np.array_equal(s1, s2)
    # and against numpy: the rule of ALGORITHMS.md 3.3
    scores = phi_x @ theta
    assert scores[got[0]] == pytest.approx(scores.max(), rel=1e-12, abs=1e-12)
    D = phi_x - phi_x[got[0]]
    w = np.sqrt(np.maximum(np.einsum("kd,de,ke->k", D, Minv, D), 0.0))
    assert (scores + 2 * beta * w)[got[1]] == pytest.approx(np.max(scores + 2 * beta * w),
                                                             rel=1e-12, abs=1e-12)


def test_error_norms_against_numpy():
    from algorithms.deployment_loop import _error_norms

    rng = np.random.default_rng(3)
    d = 7
    A = rng.normal(size=(d, d))
    M = A @ A.T + np.eye(d)
    theta, star = rng.normal(size=d), rng.normal(size=d)
    l2, m = _error_norms(theta, star, M, np.empty(d), np.empty(d))
    e = theta - star
    assert l2 == pytest.approx(np.linalg.norm(e), rel=1e-13)
    assert m == pytest.approx(np.sqrt(e @ M @ e), rel=1e-12)
