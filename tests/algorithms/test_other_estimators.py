import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.estimators import cg_omd_path, estimator_path, implicit_omd_path, omd_path, sgd_path

from .dense_reference import cg_omd_dense, implicit_omd_dense, sgd_dense
from .test_omd import bt_data, rel_err


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 30), st.integers(0, 2**32 - 1), st.floats(0.2, 8.0),
       st.floats(0.1, 5.0))
def test_implicit_omd_equals_full_dimensional_newton(d, T, seed, scale, lam):
    Z, y = bt_data(seed, T, d, scale)
    fast = implicit_omd_path(Z, y, eta=2.0, lam=lam)
    assert rel_err(fast, implicit_omd_dense(Z, y, 2.0, lam)) <= 1e-9


def test_implicit_omd_respects_ball():
    Z, y = bt_data(3, 300, 3, 8.0)
    path = implicit_omd_path(Z, y, eta=3.0, lam=1.0, B=0.8)
    assert np.linalg.norm(path, axis=1).max() <= 0.8 * (1 + 1e-14)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 30), st.integers(0, 2**32 - 1),
       st.floats(1e-3, 1.0), st.floats(0.0, 0.5), st.booleans())
def test_sgd_equals_dense_loop(d, T, seed, lr, lam, inv_sqrt):
    Z, y = bt_data(seed, T, d, 2.0)
    fast = sgd_path(Z, y, lr=lr, lam=lam, schedule="inv_sqrt" if inv_sqrt else "constant")
    assert rel_err(fast, sgd_dense(Z, y, lr, lam, inv_sqrt)) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_cg_update_with_enough_steps_equals_direct_solve(d, T, seed, batch):
    Z, y = bt_data(seed, T, d, 2.0)
    fast = cg_omd_path(Z, y, eta=2.0, lam0=0.8, ramp=5.0, batch_size=batch, cg_iters=3 * d)
    assert rel_err(fast, cg_omd_dense(Z, y, 2.0, 0.8, 5.0, batch)) <= 1e-8


def test_cg_update_with_few_steps_is_an_approximation():
    Z, y = bt_data(0, 256, 12, 2.0)
    exact = cg_omd_dense(Z, y, 2.0, 0.8, 4.0, 64)
    approx = cg_omd_path(Z, y, eta=2.0, lam0=0.8, ramp=4.0, batch_size=64, cg_iters=3)
    assert approx.shape == exact.shape == (5, 12)
    assert 0 < rel_err(approx, exact) < 1.0


@pytest.mark.parametrize("name, kw, match", [
    ("sgd", dict(lr=0.1, schedule="cosine"), "schedule must be"),
    ("sgd", dict(lr=0.0), "lr must be"),
    ("cg_omd", dict(eta=1.0, batch_size=0), "batch_size must be"),
    ("cg_omd", dict(eta=1.0, cg_iters=1.5), "cg_iters must be"),
    ("newton", dict(), "unknown estimator 'newton'"),
])
def test_bad_parameters(name, kw, match):
    Z, y = bt_data(0, 5, 2, 1.0)
    with pytest.raises(ValueError, match=match):
        estimator_path(name, Z, y, **kw)


def test_registry_dispatch_matches_direct_call():
    Z, y = bt_data(1, 50, 3, 1.0)
    np.testing.assert_array_equal(estimator_path("omd", Z, y, eta=2.0, lam=1.0, B=1.0),
                                  omd_path(Z, y, eta=2.0, lam=1.0, B=1.0))
