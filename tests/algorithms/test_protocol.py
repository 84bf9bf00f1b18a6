"""The reward-model protocol: built-in codes and protocol-form models run the same arithmetic
as the built-in estimators, in the same compiled stage loops."""

import numpy as np
import pytest

from algorithms.estimators import mle, omd_path
from algorithms.models import OMD_MODEL, SGD_MODEL
from algorithms.protocol import MODEL_MLE, MODEL_OMD, RewardModel, fit_path
from algorithms.registry import Algorithm, run
from algorithms.training import run_training
from sim import random_directions_env


def stream(seed, T=400, d=5, scale=0.5):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(T, d)) * scale
    theta = rng.normal(size=d)
    y = (rng.random(T) < 1.0 / (1.0 + np.exp(-Z @ theta))).astype(np.float64)
    return Z, y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("project", [True, False])
def test_omd_through_the_protocol_is_bit_identical_to_omd_path(seed, project):
    Z, y = stream(seed, scale=1.5)  # large enough for the projection to act
    eta, lam, B = 1.3, 0.7, 0.8
    ref = omd_path(Z, y, eta=eta, lam=lam, B=B, project=project)
    for model in (MODEL_OMD, OMD_MODEL):
        params = np.array([eta, lam, B, 1.0 if project else 0.0])
        path, _, counters = fit_path(model, Z, y, params)
        np.testing.assert_array_equal(path, ref)
        if project:
            assert counters[2] > 0  # the projection was active in some rounds


def test_builtin_mle_code_refits_to_the_mle_of_the_data_seen():
    Z, y = stream(7, T=60)
    lam, B = 1.0, 3.0
    path, state, counters = fit_path(MODEL_MLE, Z, y, np.array([lam, B, 1e-10, 100.0]))
    for t in (1, 10, 60):
        np.testing.assert_allclose(path[t], mle(Z[:t], y[:t], lam=lam, B=B), atol=1e-8)
    assert counters[0] > 0 and counters[1] == 0
    V = lam * np.eye(Z.shape[1]) + Z.T @ Z
    np.testing.assert_allclose(state[2], V, rtol=1e-12)
    np.testing.assert_allclose(state[1] @ V, np.eye(Z.shape[1]), atol=1e-9)


def test_sgd_model_keeps_its_design_matrix_and_inverse():
    Z, y = stream(3)
    path, state, _ = fit_path(SGD_MODEL, Z, y, np.array([0.5, 2.0, 1.0, 1.0]))
    V = 2.0 * np.eye(Z.shape[1]) + Z.T @ Z
    np.testing.assert_allclose(state[2], V, rtol=1e-12)
    np.testing.assert_allclose(state[1] @ V, np.eye(Z.shape[1]), atol=1e-9)
    assert np.all(np.linalg.norm(path, axis=1) <= 1.0 + 1e-12)


def test_init_must_return_a_tuple():
    bad = OMD_MODEL._replace(init=lambda d, T, p: np.zeros(d))
    with pytest.raises(ValueError, match="init must return a non-empty tuple"):
        fit_path(bad, *stream(0, T=5), np.array([1.0, 1.0, 1.0, 0.0]))


def _records_equal(a, b, drop=("algorithm", "reward_model", "wall_time", "output_time",
                               "wall_time_measured", "options")):
    cols = [c for c in a.columns if c not in drop]
    for c in cols:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=c)
        else:
            assert list(a[c].astype(str)) == list(b[c].astype(str)), c


@pytest.fixture(scope="module")
def env():
    return random_directions_env(n_x=8, K=6, d=4, B=2.0, seed=11)


def test_protocol_omd_in_the_deployment_loop_equals_algorithm4(env):
    copy = Algorithm("a4-protocol-copy", "deployment", "algorithm4", OMD_MODEL, "greedy")
    a = run("algorithm4", env, 500, 3)
    b = run(copy, env, 500, 3)
    _records_equal(a.records, b.records)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.rounds[["a", "a2", "y"]].equals(b.rounds[["a", "a2", "y"]])
    assert a.counters == b.counters


@pytest.mark.parametrize("builtin, stage, selector, output, kw", [
    ("passive-omd-pessimistic", "passive", "behaviour", "pessimistic", dict(behaviour="skewed")),
    ("passive-omd-greedy", "passive", "behaviour", "greedy", {}),
    ("random-omd", "active", "uniform", "average", {}),
])
def test_protocol_omd_in_the_training_loops_equals_the_builtin(env, builtin, stage, selector,
                                                              output, kw):
    copy = Algorithm(f"{builtin}-copy", stage, selector, OMD_MODEL, output)
    a = run_training(builtin, env, 600, 5, checkpoints=6, n_eval=300, **kw)
    b = run_training(copy, env, 600, 5, checkpoints=6, n_eval=300, **kw)
    _records_equal(a.records, b.records)
    np.testing.assert_array_equal(a.theta, b.theta)


def test_protocol_omd_max_norm_selection_equals_algorithm3_recomputed(env):
    copy = Algorithm("active-omd-copy", "active", "max-norm", OMD_MODEL, "average")
    a = run_training("active-omd", env, 300, 2, checkpoints=5, n_eval=200,
                     pair_norms="recompute")
    b = run_training(copy, env, 300, 2, checkpoints=5, n_eval=200)
    for qa, qb in zip(a.queries, b.queries):
        np.testing.assert_array_equal(qa, qb)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_allclose(a.records["instance_bound"], b.records["instance_bound"],
                               rtol=1e-12)


def test_user_rule_returning_arms_out_of_range_is_an_error(env):
    from numba import njit

    from algorithms.registry import SelectionRule

    @njit
    def bad(phi_x, theta, Minv, beta, u):
        return 0, phi_x.shape[0]

    alg = Algorithm("bad-rule", "deployment", SelectionRule("bad", bad), OMD_MODEL, "greedy")
    with pytest.raises(ValueError, match="returned arms .* outside 0..5 in round 1"):
        run(alg, env, 20, 0)


def test_a_reward_model_is_a_typed_tuple():
    assert isinstance(OMD_MODEL, RewardModel)
    p = OMD_MODEL.make_params(1.0, 2.0, 3.0, 1.0, False)
    assert p.dtype == np.float64 and list(p) == [1.0, 2.0, 3.0, 0.0]
