"""The estimator test kit: the project's estimators pass every check, and each check fails on
a reward model broken in the way that check is about. Also the hypothesis strategies."""

import math
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from numba import njit

from algorithms.estimators import omd_path, practical_constants
from algorithms.linalg import rank_one_update, sherman_morrison_update
from algorithms.models import OMD_MODEL, SGD_MODEL
from algorithms.protocol import MODEL_MLE, MODEL_OMD, RewardModel, fit_path
from algorithms.testing import (
    CHECKS,
    CheckSkipped,
    PathModel,
    check_error_decreases,
    check_estimator,
    check_extreme_margins,
    check_inverse_matches_matrix,
    check_label_swap_symmetry,
    check_no_state_leak,
    check_same_bits,
    check_shapes,
    check_stays_in_ball,
    estimator_checks,
    parametrize_with_checks,
    preference_stream,
)
from algorithms.testing import strategies as ps
from sim.core.links import dsigmoid, sigmoid

MLE_FREE = [1.0, np.inf, 1e-10, 100]
C = practical_constants(3, 1.0, 2.0)


def omd_fn(Z, y):
    return omd_path(Z, y, eta=C.eta, lam=C.lam, B=2.0)


# ------------------------------------------------------------------ a template and its breakages
# A projected one-pass SGD (step eta / sqrt(t)) with the OMD-style confidence matrix
# Hcal_{t+1} = Hcal_t + sigma'(z_t' theta_{t+1}) z_t z_t' and its inverse by Sherman-Morrison.
# Each flag below breaks it in one way; the template itself passes every check.


def _init(d, T, params):
    lam = params[1]
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d), np.empty(d), np.zeros(1))


_SHARED = {}


def _leaky_init(d, T, params):
    """Warm start from whatever the previous run left in module-level arrays."""
    if d not in _SHARED:
        _SHARED[d] = _init(d, T, params)
    return _SHARED[d]


def _make_update(flip=False, project=True, bias=0.0, stale=False, noise=False,
                 naive_loss=False):
    sign = -1.0 if flip else 1.0

    @njit(cache=False)
    def update(state, z, y, t, params, counters):
        theta, Hinv, H, u, acc = state
        w = np.dot(z, theta)
        if naive_loss:
            # a loss-adaptive step computed with the naive log loss: p rounds to 1 beyond
            # w ~ 37, and then (1 - y) log(1 - p) = 0 * (-inf) = NaN
            p = 1.0 / (1.0 + np.exp(-w))
            acc[0] += -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
            lr = params[0] / math.sqrt(t + acc[0])
        else:
            lr = params[0] / math.sqrt(t)
        c = sigmoid(w + bias) - y
        for j in range(theta.shape[0]):
            theta[j] -= sign * lr * c * z[j]
            if noise:
                theta[j] += 1e-3 * np.random.standard_normal()
        if project and params[3] != 0.0:
            nrm = math.sqrt(np.dot(theta, theta))
            if nrm > params[2]:
                theta *= params[2] / nrm
                counters[2] += 1
        s_new = dsigmoid(np.dot(z, theta))
        s_inv = dsigmoid(w) if stale else s_new
        sherman_morrison_update(Hinv, z, s_inv, u)
        rank_one_update(H, z, s_new)

    return update


@njit(cache=False)
def _estimate(state):
    return state[0]


@njit(cache=False)
def _inverse(state):
    return state[1]


@njit(cache=False)
def _matrix(state):
    return state[2]


@njit(cache=False)
def _diag_inverse(state):
    return np.diag(state[1])


def _model(name, init=_init, inverse=_inverse, **flags):
    return RewardModel(name, init, _make_update(**flags), _estimate, inverse, _matrix,
                       matrix_name="Hcal", projects=True)


TEMPLATE = _model("template-sgd")
BROKEN = {
    # name: (model, the check it is about)
    "wrong-shape": (_model("diag-inverse", inverse=_diag_inverse), check_shapes),
    "global-rng": (_model("global-rng", noise=True), check_same_bits),
    "naive-loss": (_model("naive-log-loss", naive_loss=True), check_extreme_margins),
    "position-bias": (_model("position-bias", bias=0.2), check_label_swap_symmetry),
    "sign-flip": (_model("sign-flip", flip=True), check_error_decreases),
    "no-projection": (_model("no-projection", project=False), check_stays_in_ball),
    "stale-inverse": (_model("stale-inverse", stale=True), check_inverse_matches_matrix),
    "leaky-state": (_model("leaky-warm-start", init=_leaky_init), check_no_state_leak),
}


# ------------------------------------------------------------------ the project's estimators


@pytest.mark.parametrize("model, params, skipped", [
    (MODEL_OMD, None, set()),
    (MODEL_OMD, [C.eta, C.lam, 2.0, 0.0], {"check_stays_in_ball"}),
    (MODEL_MLE, None, set()),
    (MODEL_MLE, MLE_FREE, {"check_stays_in_ball"}),
    ("omd", None, set()),
    (OMD_MODEL, None, set()),
    (SGD_MODEL, None, set()),
    (TEMPLATE, None, set()),
    (omd_fn, None, {"check_stays_in_ball", "check_inverse_matches_matrix"}),
    (PathModel(omd_fn, "omd-path", B=2.0), None, {"check_inverse_matches_matrix"}),
], ids=["omd", "omd-unprojected", "mle", "mle-free", "omd-by-name", "omd-protocol",
        "sgd-protocol", "template", "path-function", "path-model"])
def test_project_estimators_pass_every_check(model, params, skipped):
    results = check_estimator(model, params=params)
    assert [r.check for r in results] == [c.__name__ for c in CHECKS]
    assert {r.check for r in results if r.status == "skipped"} == skipped
    assert all(r.status in ("passed", "skipped") for r in results)
    assert all("\n" not in r.message and r.message for r in results)


@parametrize_with_checks([MODEL_OMD, (MODEL_MLE, MLE_FREE), OMD_MODEL, SGD_MODEL])
def test_parametrized_checks(check):
    check()


def test_builtin_omd_is_fast_after_compilation():
    check_estimator(MODEL_OMD)
    t0 = time.perf_counter()
    results = check_estimator(MODEL_OMD)
    assert time.perf_counter() - t0 < 5.0
    assert sum(r.seconds for r in results) < 5.0


def test_protocol_omd_gives_the_builtin_results():
    a = {r.check: r.message for r in check_estimator(MODEL_OMD)}
    b = {r.check: r.message for r in check_estimator(OMD_MODEL)}
    assert a == b


# ------------------------------------------------------------------ each check can fail


@pytest.mark.parametrize("variant", list(BROKEN))
def test_each_check_fails_on_its_broken_model(variant):
    model, check = BROKEN[variant]
    check_name = check.__name__
    with pytest.raises(AssertionError) as info:
        check(model)
    msg = str(info.value)
    assert msg.startswith(f"{check_name} failed for {model.name!r}")
    assert "\n" not in msg


@pytest.mark.parametrize("variant", list(BROKEN))
def test_check_estimator_stops_at_the_first_failure(variant):
    model, check = BROKEN[variant]
    check_name = check.__name__
    results = check_estimator(model, raise_on_failure=False)
    failed = [r.check for r in results if r.status == "failed"]
    assert check_name in failed
    with pytest.raises(AssertionError, match=rf"^{failed[0]} failed for '{model.name}' \("):
        check_estimator(model)


def test_broken_models_fail_only_where_expected():
    """The breakages are specific: a model broken for one property passes the checks it has
    no reason to fail (the global RNG and the leaking state break determinism everywhere)."""
    expected = {
        "wrong-shape": {"check_shapes", "check_inverse_matches_matrix"},
        "global-rng": {"check_same_bits", "check_label_swap_symmetry", "check_no_state_leak"},
        "naive-loss": {"check_extreme_margins", "check_stays_in_ball"},  # NaN is not in a ball
        "position-bias": {"check_label_swap_symmetry"},
        "sign-flip": {"check_error_decreases"},
        "no-projection": {"check_stays_in_ball"},
        "stale-inverse": {"check_inverse_matches_matrix"},
        "leaky-state": {"check_same_bits", "check_label_swap_symmetry", "check_no_state_leak"},
    }
    for variant, (model, check) in BROKEN.items():
        failed = {r.check for r in check_estimator(model, raise_on_failure=False)
                  if r.status == "failed"}
        assert check.__name__ in failed, variant
        assert failed == expected[variant], (variant, failed)


def test_path_function_without_the_initial_row_fails_shapes():
    def no_initial_row(Z, y):
        return omd_fn(Z, y)[1:]

    with pytest.raises(AssertionError, match=r"^check_shapes failed for 'no_initial_row' "
                                             r".*path at d = 1, T = 40 has shape \(40, 1\)"):
        check_shapes(no_initial_row)


def test_float32_path_fails_shapes():
    with pytest.raises(AssertionError, match="dtype float32, expected float64"):
        check_shapes(lambda Z, y: omd_fn(Z, y).astype(np.float32))


def test_path_function_leaving_its_declared_ball_fails():
    free = PathModel(lambda Z, y: omd_path(Z, y, eta=C.eta, lam=C.lam, project=False),
                     "free-omd", B=0.5)
    with pytest.raises(AssertionError, match=r"check_stays_in_ball failed .* > B = 0.5"):
        check_stays_in_ball(free)


def test_asymmetric_path_function_fails_symmetry():
    with pytest.raises(AssertionError, match="check_label_swap_symmetry failed"):
        check_label_swap_symmetry(lambda Z, y: omd_fn(np.abs(Z), y))


def test_a_model_that_raises_is_reported_as_a_failure():
    def broken(Z, y):
        raise ZeroDivisionError("boom")

    with pytest.raises(AssertionError, match=r"the model raised ZeroDivisionError: boom"):
        check_same_bits(broken)


def test_skips_are_unittest_skips_with_a_reason():
    assert issubclass(CheckSkipped, __import__("unittest").SkipTest)
    with pytest.raises(CheckSkipped, match="B = inf"):
        check_stays_in_ball(MODEL_MLE, params=MLE_FREE)
    with pytest.raises(CheckSkipped, match="no inverse or matrix"):
        check_inverse_matches_matrix(omd_fn)
    unprojected = OMD_MODEL._replace(projects=False)
    with pytest.raises(CheckSkipped, match="does not claim to project"):
        check_stays_in_ball(unprojected)


def test_params_as_a_builder_and_as_a_fixed_vector():
    def builder(eta, lam, B, L, project):
        return [eta, 2.0 * lam, B, 1.0 if project else 0.0]

    assert all(r.status == "passed" for r in check_estimator(OMD_MODEL, params=builder))
    fixed = [C.eta, C.lam, 0.7, 1.0]
    assert check_stays_in_ball(OMD_MODEL, params=fixed).startswith("B = 0.7:")
    with pytest.raises(CheckSkipped, match="custom parameter layout"):
        check_stays_in_ball(OMD_MODEL._replace(params=builder), params=fixed)


def test_estimator_checks_yields_named_callables():
    pairs = list(estimator_checks(MODEL_OMD, name="mine"))
    assert [n for n, _ in pairs] == [c.__name__ for c in CHECKS]
    assert all(isinstance(run(), str) for _, run in pairs if _ != "check_stays_in_ball")
    assert check_estimator(MODEL_OMD, name="mine")[0].passed


def test_unknown_models_are_rejected():
    with pytest.raises(ValueError, match="unknown built-in model code 7"):
        check_estimator(7)
    with pytest.raises(TypeError, match="a model is a RewardModel"):
        check_estimator(object())


def test_every_check_is_documented_with_a_public_signature():
    import inspect

    assert [c.__name__ for c in CHECKS] == [
        "check_shapes", "check_same_bits", "check_extreme_margins", "check_label_swap_symmetry",
        "check_error_decreases", "check_stays_in_ball", "check_inverse_matches_matrix",
        "check_no_state_leak"]
    for c in CHECKS:
        assert c.__doc__ and len(c.__doc__.split()) > 30
        assert list(inspect.signature(c).parameters) == ["model", "params", "quick"]


def test_quick_false_runs_longer_streams():
    results = check_estimator(MODEL_OMD, quick=False)
    assert all(r.status == "passed" for r in results)
    assert "T = 10000" in results[4].message and "5 seeds" in results[4].message


def test_importing_algorithms_does_not_import_hypothesis():
    code = ("import sys, algorithms, algorithms.estimators, algorithms.testing; "
            "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
            "algorithms.testing.strategies; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ the strategies


@settings(max_examples=40)
@given(ps.environments())
def test_environments_honour_their_declared_bounds(env):
    assert np.linalg.norm(env.phi, axis=2).max() <= env.L
    assert np.linalg.norm(env.theta_star) <= env.B
    assert 1 <= env.d <= 4 and env.K >= 2


@settings(max_examples=10)
@given(ps.environments(d=3, L=2.0, B=st.just(0.5), link=st.sampled_from(["logistic", "probit"])))
def test_environment_arguments_fix_or_draw(env):
    assert env.d == 3 and env.L == 2.0 and env.B == 0.5 and env.link in ("logistic", "probit")


@settings(max_examples=30)
@given(ps.streams(with_env=True))
def test_streams_are_valid_data_of_their_environment(sample):
    env, Z, y = sample
    assert Z.dtype == np.float64 and y.dtype == np.float64
    assert Z.shape == (y.shape[0], env.d) and 1 <= y.shape[0] <= 200
    assert np.all(np.linalg.norm(Z, axis=1) <= 2 * env.L * (1 + 1e-12))
    assert set(np.unique(y)) <= {0.0, 1.0}
    path, _, _ = fit_path(MODEL_OMD, Z, y, [C.eta, C.lam, env.B, 1.0])
    assert np.all(np.linalg.norm(path, axis=1) <= env.B * (1 + 1e-9))


def test_streams_are_reproducible_from_the_seed():
    env = find(ps.environments(d=2), lambda e: True)
    a = preference_stream(env, 50, 3)
    b = preference_stream(env, 50, 3)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()


@settings(max_examples=50)
@given(st.floats(0.1, 4.0).flatmap(lambda L: st.tuples(st.just(L), ps.design_matrices(L=L))))
def test_design_matrices_are_bounded(sample):
    L, (Z, y) = sample
    assert Z.ndim == 2 and Z.flags.c_contiguous and Z.dtype == np.float64
    assert np.all(np.linalg.norm(Z, axis=1) <= 2 * L)
    assert y.shape == (Z.shape[0],) and set(np.unique(y)) <= {0.0, 1.0}


def test_margins_reach_the_extremes():
    assert find(ps.margins(), lambda w: w == 60.0) == 60.0
    assert find(ps.margins(), lambda w: w == -60.0) == -60.0
    assert find(ps.margins(), lambda w: 37 < abs(w) < 60) is not None


@settings(max_examples=50)
@given(ps.margins(max_abs=40.0))
def test_margins_stay_in_range(w):
    assert -40.0 <= w <= 40.0


@settings(max_examples=40)
@given(ps.margin_streams())
def test_margin_streams_have_their_margins_and_the_estimators_stay_finite(sample):
    theta, Z, y = sample
    w = Z @ theta
    assert np.all(np.abs(w) <= 60.0 * (1 + 1e-12))
    for model, params in ((MODEL_OMD, [C.eta, C.lam, 2.0, 1.0]), (SGD_MODEL, None),
                          (MODEL_MLE, MLE_FREE)):
        p = SGD_MODEL.make_params(C.eta, C.lam, 2.0, 1.0, True) if params is None else params
        path, state, _ = fit_path(model, Z, y, p)
        assert np.all(np.isfinite(path))
        flipped, _, _ = fit_path(model, -Z, 1.0 - y, p)
        np.testing.assert_allclose(flipped, path, rtol=0, atol=1e-9 * max(1.0, np.abs(path).max()))


def test_margin_streams_prescribe_the_margins():
    theta, Z, y = find(ps.margin_streams(d=3, T=5, noise=0.5),
                       lambda s: np.abs(s[1] @ s[0]).max() > 59.999)
    np.testing.assert_allclose(np.abs(Z @ theta).max(), 60.0, rtol=1e-12)
    assert np.linalg.norm(Z, axis=1).max() > 60.0 / 3.0
