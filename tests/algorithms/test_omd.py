import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.estimators import OnePassOMD, omd_path, practical_constants, theory_constants
from algorithms.omd import FUSE_MIN_D, fast_check_conditioning, fast_check_design, omd_run

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


def _update_by_update(Z, y, eta, B, project):
    """omd_run's iterates rebuilt from single `omd_update` calls (no fused passes)."""
    from algorithms.omd import omd_update

    d = Z.shape[1]
    theta, Hinv = np.zeros(d), np.eye(d)
    u, M = np.empty(d), np.empty((d, d))
    path = [theta.copy()]
    for t in range(Z.shape[0]):
        omd_update(theta, Hinv, Z[t], y[t], eta, B, project, u, M)
        path.append(theta.copy())
    return np.array(path), Hinv


@pytest.mark.parametrize("d, project, B", [(3, False, math.inf), (3, True, 0.3),
                                           (FUSE_MIN_D, False, math.inf),
                                           (FUSE_MIN_D, True, 0.05)])
def test_run_is_bit_identical_to_single_updates_fused_or_not(d, project, B):
    Z, y = bt_data(4, 12, d, 2.0)
    Z /= math.sqrt(d)
    path = np.empty((13, d))
    Hinv = np.eye(d)
    omd_run(Z, y, np.zeros(d), Hinv, 2.0, B, project, path)
    ref_path, ref_Hinv = _update_by_update(Z, y, 2.0, B, project)
    assert np.array_equal(path, ref_path) and np.array_equal(Hinv, ref_Hinv)


def test_fast_checks_give_the_same_errors_and_arrays_as_the_numpy_checks():
    from sim.core.validation import check_conditioning, check_design

    Z, y = bt_data(0, 6, 3, 1.0)
    Zc, yc, worst = fast_check_design(Z, y)
    assert Zc is Z and yc is y and worst == pytest.approx(np.max(np.sum(Z * Z, axis=1)))
    bad = []
    for i, v in enumerate((np.nan, np.inf, -np.inf, 1e21)):
        Zb = Z.copy()
        Zb[i, i % 3] = v
        bad.append((Zb, y))
    bad.append((Z, np.where(np.arange(6) == 2, 0.5, y)))
    for Zb, yb in bad:
        with pytest.raises(ValueError) as fast:
            fast_check_design(Zb, yb)
        with pytest.raises(ValueError) as slow:
            check_design(Zb, yb)
        assert str(fast.value) == str(slow.value)
    tiny = 1e-20
    with pytest.raises(ValueError) as fast:
        fast_check_conditioning(Z, tiny, worst)
    with pytest.raises(ValueError) as slow:
        check_conditioning(Z, tiny)
    assert str(fast.value) == str(slow.value)
    fast_check_conditioning(Z, 1.0, worst)  # within the limit: no error


def test_the_finiteness_flag_of_the_stored_path():
    from algorithms.omd import omd_run_path

    Z, y = bt_data(1, 30, 2, 1.0)
    path = np.empty((31, 2))
    assert omd_run_path(Z, y, np.zeros(2), np.eye(2), 1.0, math.inf, False, path) == (0, True)
    start = np.array([0.0, np.nan])  # a non-finite iterate anywhere clears the flag
    assert not omd_run_path(Z, y, start, np.eye(2), 1.0, math.inf, False, path)[1]
    start = np.array([np.inf, 0.0])
    assert not omd_run_path(Z[:0], y[:0], start, np.eye(2), 1.0, math.inf, False,
                            np.empty((1, 2)))[1]
