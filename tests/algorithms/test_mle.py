import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from algorithms.estimators import mle, mle_path

from .dense_reference import regularised_gradient, regularised_objective
from .test_omd import bt_data


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 60), st.integers(0, 2**32 - 1), st.floats(0.5, 10.0),
       st.floats(0.01, 5.0))
def test_unconstrained_mle_is_stationary(d, T, seed, scale, lam):
    Z, y = bt_data(seed, T, d, scale)
    theta = mle(Z, y, lam=lam)
    g = regularised_gradient(Z, y, lam, theta)
    assert np.linalg.norm(g) <= 1e-8 * (1.0 + np.abs(Z).sum())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(5, 60), st.integers(0, 2**32 - 1), st.floats(0.05, 2.0))
def test_constrained_mle_satisfies_kkt(d, T, seed, B):
    Z, y = bt_data(seed, T, d, 8.0)
    lam = 0.1
    theta = mle(Z, y, lam=lam, B=B)
    assert np.linalg.norm(theta) <= B * (1 + 1e-14)
    g = regularised_gradient(Z, y, lam, theta)
    free = mle(Z, y, lam=lam)
    if np.linalg.norm(free) <= B:
        np.testing.assert_allclose(theta, free, atol=1e-8)
    else:
        # KKT on the sphere: g = -mu theta with mu >= 0
        mu = -(g @ theta) / (theta @ theta)
        assert mu >= 0
        assert np.linalg.norm(g + mu * theta) <= 1e-7 * (1.0 + np.linalg.norm(g))
        assert np.linalg.norm(theta) == pytest.approx(B, rel=1e-9)


@pytest.mark.parametrize("B", [None, 0.7])
def test_mle_against_scipy(B):
    Z, y = bt_data(11, 200, 4, 5.0)
    lam = 0.5
    theta = mle(Z, y, lam=lam, B=B)
    cons = [] if B is None else [{"type": "ineq", "fun": lambda v: B**2 - v @ v}]
    res = minimize(lambda v: regularised_objective(Z, y, lam, v), np.zeros(4),
                   jac=lambda v: regularised_gradient(Z, y, lam, v), method="SLSQP",
                   constraints=cons, options={"ftol": 1e-14, "maxiter": 1000})
    assert regularised_objective(Z, y, lam, theta) <= res.fun + 1e-9
    np.testing.assert_allclose(theta, res.x, atol=1e-5)


def test_mle_path_equals_separate_fits_and_lazy_is_labelled():
    Z, y = bt_data(5, 40, 3, 2.0)
    path = mle_path(Z, y, lam=1.0)
    assert path.shape == (41, 3)
    np.testing.assert_array_equal(path[0], 0.0)
    for t in (1, 7, 23, 40):
        np.testing.assert_allclose(path[t], mle(Z[:t], y[:t], lam=1.0), atol=1e-9)
    lazy = mle_path(Z, y, lam=1.0, refit="lazy")
    for t in (1, 2, 4, 8, 16, 32):
        np.testing.assert_allclose(lazy[t], path[t], atol=1e-9)
    np.testing.assert_array_equal(lazy[33], lazy[32])
    np.testing.assert_array_equal(lazy[40], lazy[32])
    with pytest.raises(ValueError, match="refit must be"):
        mle_path(Z, y, lam=1.0, refit="sometimes")


def test_mle_bad_input():
    Z, y = bt_data(0, 10, 2, 1.0)
    with pytest.raises(ValueError, match="lam must be"):
        mle(Z, y, lam=-1.0)
    with pytest.raises(ValueError, match="theta0 must be"):
        mle(Z, y, lam=1.0, theta0=np.zeros(3))
    with pytest.raises(ValueError, match="B must be"):
        mle(Z, y, lam=1.0, B=0.0)


def test_separable_data_with_large_margins_stay_finite():
    Z = np.array([[60.0, 0.0], [-60.0, 0.0]] * 5)
    y = np.array([1.0, 0.0] * 5)
    theta = mle(Z, y, lam=1e-3)
    assert np.all(np.isfinite(theta))
    assert np.linalg.norm(regularised_gradient(Z, y, 1e-3, theta)) < 1e-8



@pytest.mark.slow
def test_refits_of_an_active_run_all_converge():
    """Regression: on this run the constrained refit at t = 5006 once stalled in the line search
    (the predicted decrease of the last Newton steps was below the rounding noise of the summed
    loss) and ran to max_iter. Every refit must now reach the tolerance."""
    from algorithms.training import run_training
    from sim.generators import random_directions_env

    env = random_directions_env(50, 10, 10, L=1.0, B=2.0, seed=20250211)
    res = run_training("active-mle", env, 5100, 0, checkpoints=3, n_eval=0)
    assert res.info["mle_failures"] == 0


def _mle_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=d)
    Z = rng.normal(size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-Z @ theta))).astype(float)
    return Z, y


@pytest.mark.parametrize("n", [5, 1024, 3000, 9000])
def test_chunked_gradient_and_hessian_equal_the_dense_sums(n):
    from algorithms.mle import grad_hess

    d = 4
    Z, y = _mle_data(n, d, seed=n)
    theta = np.linspace(-0.5, 0.5, d)
    G, H = np.empty(d), np.empty((d, d))
    grad_hess(Z, y, n, 0.7, theta, G, H)
    p = 1 / (1 + np.exp(-Z @ theta))
    np.testing.assert_allclose(G, Z.T @ (p - y) + 0.7 * theta, rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(H, (Z * (p * (1 - p))[:, None]).T @ Z + 0.7 * np.eye(d),
                               rtol=1e-11, atol=1e-10)
    assert np.array_equal(H, H.T)


def test_chunked_sums_do_not_depend_on_the_number_of_threads():
    import numba

    from algorithms.mle import grad_hess

    Z, y = _mle_data(9000, 3)
    out = []
    for k in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(k)
        G, H = np.empty(3), np.empty((3, 3))
        grad_hess(Z, y, 9000, 1.0, np.ones(3) * 0.1, G, H)
        out.append((G.copy(), H.copy()))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])


def test_statistical_stopping_rule_is_within_a_small_fraction_of_the_statistical_error():
    from algorithms.mle import MLE_STAT_RTOL

    Z, y = _mle_data(4000, 5, seed=3)
    exact = mle_path(Z, y, lam=1.0)
    fast = mle_path(Z, y, lam=1.0, tol=-MLE_STAT_RTOL)
    # statistical error of the fit is O(sqrt(d / t)) in each coordinate; the optimisation
    # error of the fast rule is orders of magnitude below it
    gap = np.abs(fast - exact).max(axis=1)
    assert gap[100:].max() < 1e-4
    assert gap.max() < 1e-3


def test_mle_path_raises_on_newton_non_convergence():
    Z, y = _mle_data(50, 3)
    with pytest.raises(RuntimeError, match="did not converge"):
        mle_path(Z, y, lam=1.0, max_iter=1)
    with pytest.raises(ValueError, match="tol must be"):
        mle_path(Z, y, lam=1.0, tol=0.0)
