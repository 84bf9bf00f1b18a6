import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from sim.core.links import (
    bt_loss,
    bt_probability,
    dsigmoid,
    inv_dsigmoid,
    log_loss_grad,
    log_loss_hessian,
    log_loss_sum,
    pair_log_loss_accuracy,
    sigmoid,
    sign_agreement,
    softplus,
)

finite_w = st.floats(-700, 700, allow_nan=False)


@given(finite_w)
def test_sigmoid_matches_expit_and_symmetry(w):
    assert sigmoid(w) == pytest.approx(expit(w), rel=1e-14, abs=1e-300)
    assert sigmoid(w) + sigmoid(-w) == pytest.approx(1.0, rel=1e-15)
    assert dsigmoid(w) == pytest.approx(expit(w) * expit(-w), rel=1e-12, abs=1e-300)


@given(st.floats(-60, 60, allow_nan=False))
def test_inv_dsigmoid_is_reciprocal(w):
    assert inv_dsigmoid(w) * dsigmoid(w) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("w", [-800.0, -60.0, -30.0, 0.0, 30.0, 60.0, 800.0])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_large_margins_stay_finite(w, y):
    vals = [sigmoid(w), dsigmoid(w), softplus(w), bt_loss(w, y), inv_dsigmoid(min(abs(w), 60.0))]
    assert all(math.isfinite(v) for v in vals)
    assert bt_loss(w, y) >= 0.0
    # the loss of a confident wrong answer is the margin itself (up to e^{-|w|})
    if (w > 0) != (y == 1.0) and w != 0.0:
        assert bt_loss(w, y) == pytest.approx(abs(w), rel=1e-12)


def test_bt_probability_vectorised():
    w = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    assert np.allclose(bt_probability(w), expit(w), rtol=1e-15, atol=0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**32 - 1), st.floats(0.1, 20.0))
def test_gradient_and_hessian_against_finite_differences(d, n, seed, scale):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    y = rng.integers(0, 2, n).astype(float)
    theta = rng.normal(size=d) * scale / np.sqrt(d)
    g = log_loss_grad(Z, y, theta)
    H = log_loss_hessian(Z, y, theta)
    h = 1e-6
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        fd = (log_loss_sum(Z, y, theta + e) - log_loss_sum(Z, y, theta - e)) / (2 * h)
        assert fd == pytest.approx(g[j], rel=1e-5, abs=1e-6 * max(1.0, n))
        fdg = (log_loss_grad(Z, y, theta + e) - log_loss_grad(Z, y, theta - e)) / (2 * h)
        np.testing.assert_allclose(fdg, H[:, j], rtol=1e-5, atol=1e-7 * max(1.0, n))
    np.testing.assert_allclose(H, H.T, atol=0)


def dense_loss_accuracy(Z, y, theta):
    """Row by row in Python floats: mean of log(1 + e^w) - y w, and of 1[(w > 0) = (y = 1)]
    with 1/2 for w = 0."""
    losses, hits = [], []
    for z, label in zip(Z, y):
        w = float(sum(zi * ti for zi, ti in zip(z, theta)))
        losses.append(math.log1p(math.exp(-abs(w))) + max(w, 0.0) - label * w)
        hits.append(0.5 if w == 0.0 else float((w > 0.0) == (label == 1.0)))
    return float(np.mean(losses)), float(np.mean(hits))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 30), st.integers(0, 2**32 - 1), st.floats(0.0, 40.0))
def test_pair_log_loss_accuracy_against_the_dense_formula(d, n, seed, scale):
    """Integer-valued rows and theta make many margins exactly 0 (counted 1/2)."""
    rng = np.random.default_rng(seed)
    Z = rng.integers(-1, 2, size=(n, d)).astype(float)
    y = rng.integers(0, 2, n).astype(float)
    theta = np.round(rng.normal(size=d) * scale)
    loss, acc = pair_log_loss_accuracy(Z, y, theta)
    ref_loss, ref_acc = dense_loss_accuracy(Z, y, theta)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    assert acc == ref_acc


def test_pair_log_loss_accuracy_zero_margins_and_empty_input():
    Z = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    loss, acc = pair_log_loss_accuracy(Z, np.array([1.0, 0.0, 1.0, 0.0]), np.array([2.0, 0.0]))
    assert acc == (1.0 + 0.5 + 0.0 + 0.5) / 4
    assert loss == pytest.approx(np.mean([math.log1p(math.exp(-2)), math.log(2),
                                          math.log1p(math.exp(2)), math.log(2)]), rel=1e-15)
    assert pair_log_loss_accuracy(Z, np.ones(4), np.zeros(2)) == (pytest.approx(math.log(2)), 0.5)
    assert all(math.isnan(v) for v in pair_log_loss_accuracy(np.zeros((0, 2)), np.zeros(0),
                                                             np.zeros(2)))


def test_sign_agreement_counts_a_zero_on_either_side_as_half():
    w = np.array([1.0, -2.0, 0.0, 3.0, -1.0, 0.0])
    target = np.array([2.0, -1.0, 5.0, 0.0, 1.0, 0.0])
    assert sign_agreement(w, target) == (1 + 1 + 0.5 + 0.5 + 0 + 0.5) / 6
    assert math.isnan(sign_agreement(np.zeros(0), np.zeros(0)))

