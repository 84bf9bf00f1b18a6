import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from algorithms.linalg import (
    cg_dense,
    cg_ridge_lowrank,
    dot,
    project_ball_inverse_metric,
    project_ball_metric,
    rank_one_add,
    rank_one_add_combination,
    row_combination,
    sherman_morrison_update,
)


def spd(rng, d, cond=1e3):
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    ev = np.exp(rng.uniform(0, np.log(cond), d))
    return (Q * ev) @ Q.T


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**32 - 1), st.floats(0.0, 5.0))
def test_sherman_morrison_against_inverse(d, seed, s):
    rng = np.random.default_rng(seed)
    A = spd(rng, d, 100.0)
    z = rng.normal(size=d)
    Ainv = np.linalg.inv(A)
    u = np.empty(d)
    q = sherman_morrison_update(Ainv, z, s, u)
    np.testing.assert_allclose(Ainv, np.linalg.inv(A + s * np.outer(z, z)), rtol=1e-9, atol=1e-12)
    assert q == pytest.approx(z @ np.linalg.solve(A, z), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**32 - 1), st.floats(0.05, 5.0), st.floats(0.1, 20.0))
def test_projection_satisfies_kkt(d, seed, B, radius):
    rng = np.random.default_rng(seed)
    H = spd(rng, d, 1e4)
    theta = rng.normal(size=d)
    theta *= radius / np.linalg.norm(theta)
    u = np.empty(d)
    mu = project_ball_metric(theta, H, B, u)
    assert np.linalg.norm(u) <= B
    assert mu >= 0.0
    if np.linalg.norm(theta) <= B:
        np.testing.assert_array_equal(u, theta)
        assert mu == 0.0
    else:
        # stationarity H (u - theta) + mu u = 0 and complementary slackness ||u|| = B
        resid = H @ (u - theta) + mu * u
        assert np.linalg.norm(resid) <= 1e-9 * (np.linalg.norm(H @ theta) + mu * B)
        assert np.linalg.norm(u) == pytest.approx(B, rel=1e-12)
    # the inverse-metric form gives the same point
    u2 = np.empty(d)
    project_ball_inverse_metric(theta, np.linalg.inv(H), B, u2)
    np.testing.assert_allclose(u2, u, rtol=1e-7, atol=1e-9 * B)


@pytest.mark.parametrize("seed", range(5))
def test_projection_against_scipy_constrained_solver(seed):
    rng = np.random.default_rng(seed)
    d, B = 5, 1.0
    H = spd(rng, d, 50.0)
    theta = rng.normal(size=d) * 3
    u = np.empty(d)
    project_ball_metric(theta, H, B, u)
    res = minimize(lambda v: (v - theta) @ H @ (v - theta), np.zeros(d),
                   jac=lambda v: 2 * H @ (v - theta), method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda v: B**2 - v @ v,
                                 "jac": lambda v: -2 * v}],
                   options={"ftol": 1e-12, "maxiter": 500})
    assert abs(np.linalg.norm(res.x) - B) < 1e-6  # the constraint binds at the optimum
    def obj(v):
        return (v - theta) @ H @ (v - theta)
    assert obj(u) <= obj(res.x) * (1 + 1e-9)
    np.testing.assert_allclose(u, res.x, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_cg_dense_against_solve(d, seed):
    rng = np.random.default_rng(seed)
    A = spd(rng, d, 100.0)
    b = rng.normal(size=d)
    x = cg_dense(A, b, 4 * d, 1e-14)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10), st.integers(1, 12), st.integers(0, 2**32 - 1), st.floats(1e-3, 10.0))
def test_cg_hessian_vector_products_against_solve(d, m, seed, lam):
    rng = np.random.default_rng(seed)
    Zb = rng.normal(size=(m, d))
    wts = rng.uniform(0.0, 1.0, m)
    b = rng.normal(size=d)
    A = lam * np.eye(d) + (Zb.T * wts) @ Zb
    x = cg_ridge_lowrank(lam, Zb, wts, b, 4 * d, 1e-14)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-7, atol=1e-9)


def test_cg_with_beta_one_would_be_wrong():
    """The released code's beta = 1 differs from the correct recurrence: guard the formula."""
    rng = np.random.default_rng(0)
    A = spd(rng, 6, 1e3)
    b = rng.normal(size=6)
    exact = np.linalg.solve(A, b)
    x, r = np.zeros(6), b.copy()
    p = r.copy()
    for _ in range(6):
        Ap = A @ p
        alpha = (r @ r) / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        p = r + p  # beta = 1
    assert np.linalg.norm(x - exact) > 1e-3 * np.linalg.norm(exact)
    assert np.linalg.norm(cg_dense(A, b, 6, 0.0) - exact) < 1e-6 * np.linalg.norm(exact)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1), st.floats(-3.0, 3.0))
def test_loop_kernels_against_numpy(d, seed, c):
    rng = np.random.default_rng(seed)
    A = spd(rng, d, 100.0)
    u, x = rng.normal(size=d), rng.normal(size=d)
    assert dot(u, x) == pytest.approx(float(u @ x), rel=1e-12, abs=1e-12)
    A1 = A.copy()
    rank_one_add(A1, u, c)
    np.testing.assert_allclose(A1, A + c * np.outer(u, u), rtol=1e-12, atol=1e-12)
    out = np.empty(d)
    row_combination(A1, x, out)
    np.testing.assert_allclose(out, A1.T @ x, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_fused_rank_one_and_combination_is_bit_identical_to_the_two_passes(d, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    u, x = rng.normal(size=d), rng.normal(size=d)
    c = float(rng.normal())
    A1, A2 = A.copy(), A.copy()
    out1, out2 = np.empty(d), np.empty(d)
    rank_one_add(A1, u, c)
    row_combination(A1, x, out1)
    rank_one_add_combination(A2, u, c, x, out2)
    assert np.array_equal(A1, A2) and np.array_equal(out1, out2)
    np.testing.assert_allclose(out2, (A + c * np.outer(u, u)).T @ x, rtol=1e-10, atol=1e-10)
