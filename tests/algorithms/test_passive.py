"""Passive data collection (Algorithm 2 and baselines): estimators against the dense
references, the pessimism guarantee on the confidence event, and seeded claims."""

import math

import numpy as np
import pytest

from algorithms.confidence import Radius
from algorithms.estimators import mle, omd_path, practical_constants
from algorithms.passive import (
    mle_checkpoints,
    omd_checkpoints,
    sgd_checkpoints,
    zhu_radius,
)
from algorithms.training import run_training
from sim import CommonRandomNumbers, pair_differences, random_directions_env
from sim.behaviour import LoggedData, behaviour_queries
from sim.instances import poor_coverage_env

from .dense_reference import omd_dense, regularised_gradient, sgd_dense


def data(env, T, seed, behaviour="uniform"):
    x, a, a2, y = behaviour_queries(env, behaviour, CommonRandomNumbers.draw(seed, T))
    return pair_differences(env.phi, x, a, a2), y.astype(float)


def rel_err(a, b):
    return np.abs(a - b).max() / max(1.0, np.abs(b).max())


@pytest.mark.parametrize("project", [True, False])
def test_omd_checkpoints_equal_the_dense_reference(project):
    env = random_directions_env(6, 4, 3, B=3.0, seed=0)
    Z, y = data(env, 400, 1)
    c = practical_constants(env.d, env.L, env.B)
    ck = np.array([1, 7, 50, 400])
    thetas, Hinvs, seconds = omd_checkpoints(Z, y, ck, eta=c.eta, lam=c.lam, B=0.5,
                                             project=project)
    path = omd_dense(Z, y, c.eta, c.lam, 0.5, project)
    assert rel_err(thetas, path[ck]) <= 1e-9
    fast = omd_path(Z, y, eta=c.eta, lam=c.lam, B=0.5, project=project)
    assert thetas.tobytes() == fast[ck].tobytes()
    for k, t in enumerate(ck):
        w = np.einsum("td,td->t", Z[:t], path[1:t + 1])
        s = np.exp(-np.abs(w)) / (1 + np.exp(-np.abs(w))) ** 2
        Hcal = c.lam * np.eye(3) + (Z[:t].T * s) @ Z[:t]
        np.testing.assert_allclose(Hinvs[k], np.linalg.inv(Hcal), rtol=1e-8, atol=1e-12)
    assert np.all(np.diff(seconds) >= 0)


def test_run_training_theta_is_the_one_pass_omd_iterate():
    env = random_directions_env(5, 4, 3, B=2.0, seed=3)
    T = 300
    res = run_training("passive-omd-greedy", env, T, 7, checkpoints=4)
    Z, y = data(env, T, 7)
    c = practical_constants(env.d, env.L, env.B)
    assert rel_err(res.theta, omd_dense(Z, y, c.eta, c.lam, env.B, True)[-1]) <= 1e-9
    np.testing.assert_array_equal(res.policy, np.argmax(env.phi @ res.theta, axis=1))


def test_mle_checkpoints_satisfy_kkt_and_use_the_unweighted_design():
    env = random_directions_env(6, 4, 3, B=1.0, seed=2)
    Z, y = data(env, 300, 4)
    lam, B = 1.0, 0.6
    ck = np.array([3, 40, 300])
    thetas, Vinvs, _, failures = mle_checkpoints(Z, y, ck, lam=lam, B=B)
    assert failures == 0
    for k, t in enumerate(ck):
        np.testing.assert_allclose(thetas[k], mle(Z[:t], y[:t], lam=lam, B=B), atol=1e-8)
        g = regularised_gradient(Z[:t], y[:t], lam, thetas[k])
        if np.linalg.norm(thetas[k]) < B * (1 - 1e-9):
            assert np.linalg.norm(g) <= 1e-7 * (1 + t)
        else:  # on the sphere: g = -mu theta, mu >= 0
            mu = -(g @ thetas[k]) / (thetas[k] @ thetas[k])
            assert mu >= 0 and np.linalg.norm(g + mu * thetas[k]) <= 1e-7 * (1 + t)
        V = lam * np.eye(3) + Z[:t].T @ Z[:t]
        np.testing.assert_allclose(Vinvs[k] @ V, np.eye(3), atol=1e-10)


def test_sgd_checkpoints_equal_the_dense_reference():
    env = random_directions_env(6, 4, 3, B=50.0, seed=2)
    Z, y = data(env, 200, 5)
    ck = np.array([1, 20, 200])
    thetas, _ = sgd_checkpoints(Z, y, ck, lr=0.7, inv_sqrt=True, B=50.0)
    assert rel_err(thetas, sgd_dense(Z, y, 0.7, 0.0, True)[ck]) <= 1e-12


def test_sgd_checkpoints_weight_decay_equals_the_dense_reference():
    env = random_directions_env(6, 4, 3, B=50.0, seed=2)
    Z, y = data(env, 200, 5)
    ck = np.array([1, 20, 200])
    thetas, _ = sgd_checkpoints(Z, y, ck, lr=0.7, inv_sqrt=False, B=50.0, weight_decay=0.05)
    assert rel_err(thetas, sgd_dense(Z, y, 0.7, 0.05, False)[ck]) <= 1e-12
    plain, _ = sgd_checkpoints(Z, y, ck, lr=0.7, inv_sqrt=False, B=50.0)
    assert rel_err(plain, sgd_dense(Z, y, 0.7, 0.0, False)[ck]) <= 1e-12


def test_mle_checkpoints_without_designs_and_with_iteration_counts():
    """design=False gives the same fits (no V_t); `iterations` receives each fit's Newton
    iterations, as counted by a separate refit from the same warm start."""
    from algorithms.mle import MLE_MAX_ITER, MLE_TOL, mle_newton

    env = random_directions_env(6, 4, 3, B=1.0, seed=2)
    Z, y = data(env, 300, 4)
    ck = np.array([3, 40, 300])
    full, Vinvs, _, fails = mle_checkpoints(Z, y, ck, lam=1.0, B=0.6)
    its = np.zeros(3, dtype=np.int64)
    fits, none, seconds, fails2 = mle_checkpoints(Z, y, ck, lam=1.0, B=0.6, design=False,
                                                  iterations=its)
    assert none is None and fails == fails2 == 0 and np.all(np.diff(seconds) >= 0)
    assert fits.tobytes() == full.tobytes() and Vinvs.shape == (3, 3, 3)
    prev = np.zeros(3)
    for k, t in enumerate(ck):
        fit, n_its, _ = mle_newton(Z, y, int(t), 1.0, 0.6, prev, MLE_TOL, MLE_MAX_ITER)
        assert its[k] == n_its >= 1
        prev = fit


def test_zhu_radius_formula():
    assert zhu_radius(10.0, 4, 0.05, 2.0, 1.5, c_zhu=0.5) == pytest.approx(
        0.5 * math.sqrt(100 * (4 + math.log(20)) + 2.0 * 1.5**2))
    with pytest.raises(ValueError, match="c_zhu"):
        zhu_radius(10.0, 4, 0.05, 2.0, 1.5, c_zhu=-1.0)


@pytest.mark.parametrize("algorithm", ["passive-omd-pessimistic", "passive-mle-pessimistic-zhu"])
@pytest.mark.parametrize("reference", ["zero", "behaviour"])
def test_pessimism_bound_holds_on_the_confidence_event(algorithm, reference):
    """On theta* in C: SubOpt(pi_hat) <= 2 beta ||m(pi*) - v|| + (Frank-Wolfe gap), exactly."""
    env = random_directions_env(8, 4, 3, B=1.5, seed=11)
    checked = 0
    for seed in range(3):
        for behaviour in ("uniform", "skewed"):
            rec = run_training(algorithm, env, 500, seed, behaviour=behaviour,
                               reference=reference, checkpoints=8, n_eval=0,
                               radius=Radius("practical", c_beta=1.0)).records
            on = rec[rec["in_confidence_set"].astype(bool)]
            assert np.all(on["subopt"] <= on["instance_bound"] + on["fw_gap"] + 1e-12)
            checked += len(on)
    assert checked > 20


def test_pessimism_beats_greedy_under_poor_coverage():
    env = poor_coverage_env()
    mean = {}
    for algorithm in ("passive-omd-pessimistic", "passive-omd-lcb-proxy", "passive-omd-greedy"):
        mean[algorithm] = np.mean([
            run_training(algorithm, env, 200, seed, behaviour="skewed", reference="zero",
                         checkpoints=1, n_eval=0).records["subopt"].iloc[-1]
            for seed in range(20)])
    assert mean["passive-omd-greedy"] > 0.05
    assert mean["passive-omd-pessimistic"] < 0.5 * mean["passive-omd-greedy"]
    assert mean["passive-omd-lcb-proxy"] < 0.5 * mean["passive-omd-greedy"]


def test_logged_data_gives_the_same_run_as_the_behaviour_that_logged_it():
    env = random_directions_env(5, 4, 3, seed=8)
    T = 200
    x, a, a2, y = behaviour_queries(env, "uniform", CommonRandomNumbers.draw(9, T))
    logged = LoggedData(x, a, a2, y)
    for algorithm in ("passive-omd-pessimistic", "passive-mle-greedy", "passive-sgd-greedy"):
        direct = run_training(algorithm, env, T, 9, n_eval=0)
        replay = run_training(algorithm, env, T, 123, behaviour=logged, n_eval=0)
        assert direct.theta.tobytes() == replay.theta.tobytes()
        assert replay.records["behaviour"].iloc[0] == "logged"
    with pytest.raises(ValueError, match="mismatched logged data"):
        run_training("passive-omd-greedy", env, T + 1, 0, behaviour=logged)
    with pytest.raises(ValueError, match="mismatched logged data"):
        run_training("passive-omd-greedy", random_directions_env(2, 4, 3, seed=0), T, 0,
                     behaviour=logged)


def test_records_carry_the_configuration():
    env = random_directions_env(4, 3, 2, seed=1)
    res = run_training("passive-omd-pessimistic", env, 50, 2, constants="theory",
                       radius=Radius("theory", delta=0.1), behaviour="skewed",
                       reference="behaviour", checkpoints=np.array([5, 20]), skew_eps=0.2)
    rec = res.records
    assert list(rec["t"]) == [5, 20, 50]  # T is appended
    assert set(rec["constants"]) == {"theory"} and set(rec["radius"]) == {"theory"}
    assert set(rec["reference"]) == {"behaviour"} and set(rec["behaviour"]) == {"skewed"}
    np.testing.assert_allclose(rec["beta"], rec["beta_theory"])
    assert res.policy.shape == (4, 3)
