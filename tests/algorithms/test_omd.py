import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.estimators import OnePassOMD, omd_path, practical_constants, theory_constants
from algorithms.omd import omd_run

from .dense_reference import omd_dense


def bt_data(seed, T, d, scale):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(T, d))
    theta = rng.normal(size=d)
    theta *= scale / np.linalg.norm(theta)
    y = (rng.random(T) < 1.0 / (1.0 + np.exp(-Z @ theta))).astype(float)
    return Z, y


def rel_err(a, b):
    return np.abs(a - b).max() / max(1.0, np.abs(b).max())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1),
       st.floats(0.2, 8.0), st.floats(0.05, 3.0), st.floats(0.1, 5.0), st.booleans())
def test_compiled_omd_equals_dense_reference(d, T, seed, scale, B, lam, project):
    Z, y = bt_data(seed, T, d, scale)
    eta = 0.5 * math.log(2) + B + 1
    fast = omd_path(Z, y, eta=eta, lam=lam, B=B, project=project)
    slow = omd_dense(Z, y, eta, lam, B, project)
    assert fast.shape == (T + 1, d)
    assert rel_err(fast, slow) <= 1e-9
    if project:
        assert np.all(np.linalg.norm(fast, axis=1) <= B * (1 + 1e-14))


def test_projection_active_and_inactive_cases_both_exercised():
    Z, y = bt_data(0, 300, 4, 6.0)
    d = 4
    n_small = omd_run(Z, y, np.zeros(d), np.eye(d), 3.0, 0.5, True, np.empty((0, d)))
    n_large = omd_run(Z, y, np.zeros(d), np.eye(d), 3.0, 1e6, True, np.empty((0, d)))
    assert n_small > 0 and n_large == 0
    slow = omd_dense(Z, y, 3.0, 1.0, 0.5, True)
    assert rel_err(omd_path(Z, y, eta=3.0, lam=1.0, B=0.5), slow) <= 1e-9


def test_without_projection_iterates_can_leave_the_ball():
    Z, y = bt_data(1, 400, 3, 6.0)
    free = omd_path(Z, y, eta=3.0, lam=1.0, project=False)
    assert np.linalg.norm(free, axis=1).max() > 1.0
    assert np.linalg.norm(omd_path(Z, y, eta=3.0, lam=1.0, B=1.0), axis=1).max() <= 1.0 + 1e-14


def test_class_and_function_agree_and_hinv_is_exact():
    Z, y = bt_data(2, 120, 5, 2.0)
    model = OnePassOMD(5, eta=2.5, lam=0.7, B=1.5)
    for t in range(60):
        model.update(Z[t], y[t])
    model.update(Z[60:], y[60:])
    path = omd_path(Z, y, eta=2.5, lam=0.7, B=1.5)
    np.testing.assert_array_equal(model.theta, path[-1])
    # Hcal_{T+1} = lam I + sum sigma'(z_t' theta_{t+1}) z_t z_t'
    w = np.einsum("td,td->t", Z, path[1:])
    s = np.exp(-np.abs(w)) / (1 + np.exp(-np.abs(w))) ** 2
    Hcal = 0.7 * np.eye(5) + (Z.T * s) @ Z
    np.testing.assert_allclose(model.hcal(), Hcal, rtol=1e-9)
    np.testing.assert_allclose(model.width(Z[:3]) ** 2,
                               np.einsum("ij,jk,ik->i", Z[:3], np.linalg.inv(Hcal), Z[:3]), rtol=1e-9)


def test_same_input_same_bits():
    Z, y = bt_data(3, 500, 6, 3.0)
    a = omd_path(Z, y, eta=3.0, lam=1.0, B=1.0)
    b = omd_path(Z.copy(), y.copy(), eta=3.0, lam=1.0, B=1.0)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("margin", [30.0, 60.0, 200.0])
def test_large_margins_give_finite_updates(margin):
    d = 3
    z = np.zeros(d)
    z[0] = margin
    Z = np.tile(z, (20, 1))
    Z[1::2] *= -1
    y = np.tile([0.0, 1.0], 10)  # every label contradicts a large positive theta[0]
    path = omd_path(Z, y, eta=3.0, lam=1.0, project=False)
    path_p = omd_path(Z, y, eta=3.0, lam=1.0, B=1.0)
    assert np.all(np.isfinite(path)) and np.all(np.isfinite(path_p))


def test_theory_constants_match_the_formulas():
    c = theory_constants(5, 1.0, 2.0)
    assert c.eta == pytest.approx(0.5 * math.log(2) + 3.0)
    assert c.lam == pytest.approx(84 * math.sqrt(2) * c.eta * 7.0)
    assert 2.7e3 < c.lam < 2.9e3  # "about 2.8e3 at d=5, B=2, L=1"
    p = practical_constants(5, 1.0, 2.0)
    assert p.eta == 1.0 and p.lam == 1.0 and p.kind == "practical"
    with pytest.raises(ValueError, match="L must be"):
        theory_constants(3, 0.0, 1.0)
    with pytest.raises(ValueError, match="dimension d"):
        theory_constants(0, 1.0, 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=-1.0, lam=1.0, B=1.0), "eta must be"),
    (dict(eta=1.0, lam=0.0, B=1.0), "lam must be"),
    (dict(eta=1.0, lam=1.0, B=float("nan")), "B must be"),
    (dict(eta=1.0, lam=1.0), "B is required"),
])
def test_bad_parameters_raise(kwargs, match):
    Z, y = bt_data(0, 5, 2, 1.0)
    with pytest.raises(ValueError, match=match):
        omd_path(Z, y, **kwargs)


def test_bad_data_raises():
    Z, y = bt_data(0, 5, 2, 1.0)
    kw = dict(eta=1.0, lam=1.0, B=1.0)
    with pytest.raises(ValueError, match="2-D array"):
        omd_path(Z[:, 0], y, **kw)
    Zn = Z.copy()
    Zn[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3, column 1"):
        omd_path(Zn, y, **kw)
    with pytest.raises(ValueError, match="one label per row"):
        omd_path(Z, y[:-1], **kw)
    with pytest.raises(ValueError, match="labels in"):
        omd_path(Z, y + 0.5, **kw)
    model = OnePassOMD(3, eta=1.0, lam=1.0, B=1.0)
    with pytest.raises(ValueError, match="does not match"):
        model.update(Z, y)
