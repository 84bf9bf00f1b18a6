"""The feedback oracle: context sampling and Bradley-Terry / probit labels from uniforms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm

from sim import (
    LINK_CODES,
    bt_label,
    bt_labels,
    context_cdf,
    draw_contexts,
    link_code_of,
    preference_probability,
    random_directions_env,
)
from sim.core.links import sigmoid

W_GRID = np.concatenate([np.linspace(-60.0, 60.0, 241), [-1e-300, 0.0, 1e-300, -745.0, 745.0]])


# ------------------------------------------------------------------ contexts


def test_context_cdf_ends_at_one_and_skips_trailing_zero_mass():
    rho = np.array([0.0, 0.1] + [0.1] * 8 + [0.1, 0.0, 0.0])
    cdf = context_cdf(rho)
    assert cdf.shape == rho.shape
    assert np.all(np.diff(cdf) >= 0.0)
    assert cdf[10] == 1.0 and cdf[-1] == 1.0
    np.testing.assert_allclose(cdf[:10], np.cumsum(rho)[:10], rtol=1e-15)


@pytest.mark.parametrize(
    "rho, message",
    [
        (np.array([0.5, -0.1, 0.6]), r"rho\[1\] = -0.1 is negative"),
        (np.array([0.5, 0.4]), r"rho sums to 0\.9, not 1"),
        (np.array([0.5, np.nan]), r"non-finite"),
        (np.zeros((2, 2)), r"non-empty 1-d array"),
    ],
)
def test_context_cdf_rejects_bad_distributions(rho, message):
    with pytest.raises(ValueError, match=message):
        context_cdf(rho)


def test_draw_contexts_is_the_first_index_with_cdf_above_u():
    rho = np.array([0.0, 0.25, 0.0, 0.5, 0.25, 0.0])
    cdf = context_cdf(rho)
    edges = [0.0, 0.25, 0.75, np.nextafter(1.0, 0.0)]
    u = np.concatenate([np.random.default_rng(0).random(10_000), edges])
    x = draw_contexts(cdf, u)
    assert x.dtype == np.int64
    np.testing.assert_array_equal(x, np.searchsorted(cdf, u, side="right"))
    assert set(np.unique(x)) == {1, 3, 4}  # contexts of zero mass are never drawn
    assert list(x[-4:]) == [1, 3, 4, 4]


def test_draw_contexts_frequencies_match_rho():
    """Pearson chi-square with a fixed seed: deterministic, threshold far in the tail."""
    rng = np.random.default_rng(20250201)
    rho = rng.dirichlet(np.ones(12))
    n = 200_000
    x = draw_contexts(context_cdf(rho), rng.random(n))
    counts = np.bincount(x, minlength=12)
    chi2 = float(np.sum((counts - n * rho) ** 2 / (n * rho)))
    assert chi2 < 60.0  # the 1e-8 upper quantile of chi-square with 11 degrees of freedom is ~ 62
    np.testing.assert_allclose(counts / n, rho, atol=0.005)


# -------------------------------------------------------------------- labels


def test_bt_label_is_u_below_sigmoid_on_a_wide_grid():
    rng = np.random.default_rng(1)
    for w in W_GRID:
        p = sigmoid(w)
        assert p == pytest.approx(expit(w), rel=1e-15, abs=1e-300)
        assert preference_probability(w, LINK_CODES["logistic"]) == p
        edges = [0.0, p, np.nextafter(p, 0.0), np.nextafter(1.0, 0.0)]
        for u in np.concatenate([rng.random(20), edges]):
            assert bt_label(w, u, 0) == int(u < p)


def test_extreme_margins_give_the_certain_label():
    assert all(bt_label(60.0, u, 0) == 1 for u in np.linspace(0.0, np.nextafter(1.0, 0.0), 101))
    assert all(bt_label(-60.0, u, 0) == 0 for u in np.linspace(1e-20, np.nextafter(1.0, 0.0), 101))


def test_probit_probability_matches_the_normal_cdf():
    for w in W_GRID[np.abs(W_GRID) <= 35.0]:
        expected = norm.cdf(w)
        got = preference_probability(w, LINK_CODES["probit"])
        # Phi(w) ~ e^{-w^2/2}: a relative rounding of w alone moves it by ~ w^2 eps
        assert got == pytest.approx(expected, rel=1e-15 * max(10.0, w * w), abs=1e-300)
        assert bt_label(w, 0.5 * expected, 1) == 1
        assert bt_label(w, expected, 1) == int(expected < got)


@pytest.mark.parametrize("link", ["logistic", "probit"])
@pytest.mark.parametrize("w", [-4.0, -1.0, 0.0, 0.3, 2.0, 6.0])
def test_empirical_label_frequency_matches_the_link(link, w):
    """One query of margin w repeated n times (phi = [1], [0]; theta* = [w]), seeded uniforms."""
    code = link_code_of(link)
    n = 100_000
    phi = np.array([[[1.0], [0.0]]])
    zeros, ones = np.zeros(n, np.int64), np.ones(n, np.int64)
    u = np.random.default_rng(42).random(n)
    y = bt_labels(phi, np.array([w]), zeros, zeros, ones, u, code)
    p = expit(w) if link == "logistic" else norm.cdf(w)
    assert abs(y.mean() - p) <= 5.0 * np.sqrt(p * (1.0 - p) / n) + 1e-12
    assert np.array_equal(y[:200], [bt_label(w, ui, code) for ui in u[:200]])


def test_bt_labels_matches_scalar_labels_for_both_links():
    env = random_directions_env(8, 5, 4, B=3.0, seed=9)
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.integers(0, 8, n)
    a = rng.integers(0, 5, n)
    a2 = rng.integers(0, 5, n)
    u = rng.random(n)
    r = env.rewards()
    for code in LINK_CODES.values():
        y = bt_labels(env.phi, env.theta_star, x, a, a2, u, code)
        assert y.dtype == np.int64 and y.shape == (n,)
        w = np.einsum("nd,d->n", env.phi[x, a] - env.phi[x, a2], env.theta_star)
        expected = np.array([bt_label(wi, ui, code) for wi, ui in zip(w, u)])
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_allclose(w, r[x, a] - r[x, a2], atol=1e-14)
    same = bt_labels(env.phi, env.theta_star, x, a, a, u, 0)
    np.testing.assert_array_equal(same, (u < 0.5).astype(np.int64))


def test_bt_labels_frequency_matches_sigmoid_per_query():
    env = random_directions_env(1, 2, 2, B=1.0, seed=5)
    n = 200_000
    u = np.random.default_rng(8).random(n)
    zeros, ones = np.zeros(n, np.int64), np.ones(n, np.int64)
    y = bt_labels(env.phi, env.theta_star, zeros, zeros, ones, u, 0)
    p = expit(env.rewards()[0, 0] - env.rewards()[0, 1])
    assert abs(y.mean() - p) <= 5.0 * np.sqrt(p * (1.0 - p) / n)


def test_bad_links_and_queries_raise():
    with pytest.raises(ValueError, match=r"unknown link 'cauchit'; known links: logistic, probit"):
        link_code_of("cauchit")
    with pytest.raises(ValueError, match=r"unknown link code"):
        preference_probability(0.0, 2)
    with pytest.raises(ValueError, match=r"unknown link code"):
        bt_label(0.0, 0.5, -1)
    env = random_directions_env(2, 3, 2, seed=0)
    i = np.zeros(4, np.int64)
    u = np.full(4, 0.5)
    with pytest.raises(ValueError, match=r"unknown link code"):
        bt_labels(env.phi, env.theta_star, i[:0], i[:0], i[:0], u[:0], 5)
    with pytest.raises(ValueError, match=r"same length"):
        bt_labels(env.phi, env.theta_star, i, i, i[:3], u, 0)
    with pytest.raises(ValueError, match=r"a\[0\] = 3 is not an arm index in 0..2"):
        bt_labels(env.phi, env.theta_star, i, i + 3, i, u, 0)
    with pytest.raises(ValueError, match=r"x\[0\] = 2 is not a context index in 0..1"):
        bt_labels(env.phi, env.theta_star, i + 2, i, i, u, 0)
