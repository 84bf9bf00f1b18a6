"""The Plackett-Luce confidence radius (reading: Lemma 1 with t -> (m - 1) t) and its use by
the K-wise stages."""

import math

import numpy as np
import pytest

from algorithms.confidence import Radius, beta_theory
from algorithms.kwise_stages import kwise_deployment, kwise_passive
from algorithms.pl_confidence import PLRadius, beta_kwise, beta_pl, beta_pl_practical
from sim import random_directions_env

KW = dict(d=4, eta=1.0, lam=1.0, L=1.0, B=2.0)


def _lemma1(t, d, eta, lam, L, B, delta):
    """Lemma 1's C_t written out independently (ALGORITHMS.md 2.2)."""
    c = 7 * eta / 6
    C = (22 * eta * (3 * math.log(1 + 2 * t) + 2 + L * B) * math.log(2 * math.sqrt(1 + 2 * t)
                                                                       / delta)
         + 4 * eta + 2 * eta * math.sqrt(6 * c * d) * math.log(1 + 2 * t * L * L / (d * lam))
         + 4 * lam * B * B)
    return math.sqrt(C)


@pytest.mark.parametrize("t", [1.0, 17.0, 1e4])
@pytest.mark.parametrize("n_stages", [1, 3, 9])
def test_pl_radius_is_lemma1_at_stage_count(t, n_stages):
    got = beta_pl(t, n_stages, 4, 1.0, 1.0, 1.0, 2.0, 0.05)
    assert got == pytest.approx(_lemma1(n_stages * t, 4, 1.0, 1.0, 1.0, 2.0, 0.05), rel=1e-12)
    assert beta_pl_practical(t, n_stages, 4, 2.0, 0.05) == pytest.approx(
        2.0 * math.sqrt(4 * math.log(1 + n_stages * t / 0.05)), rel=1e-12)


def test_m2_is_the_pairwise_radius_and_radius_grows_with_m():
    r = PLRadius("pl-theory")
    ts = np.array([1.0, 10.0, 100.0])
    np.testing.assert_array_equal(r.beta(ts, **KW, n_stages=1),
                                  np.array([beta_theory(t, 4, 1.0, 1.0, 1.0, 2.0, 0.05)
                                            for t in ts]))
    assert np.all(r.beta(ts, **KW, n_stages=4) > r.beta(ts, **KW, n_stages=1))
    assert isinstance(r.beta(3.0, **KW), float)
    # the pairwise codes pass through unchanged
    assert beta_kwise(5.0, 0, 7, 4, 1.0, 1.0, 1.0, 2.0, 0.05, 1.0) == beta_theory(
        5.0, 4, 1.0, 1.0, 1.0, 2.0, 0.05)


def test_validation():
    with pytest.raises(ValueError, match="unknown PL radius kind"):
        PLRadius("theory")
    with pytest.raises(ValueError, match="delta"):
        PLRadius(delta=1.5)
    with pytest.raises(ValueError, match="n_stages"):
        PLRadius().beta(1.0, **KW, n_stages=0)


def test_stages_take_the_pl_radius():
    env = random_directions_env(6, 5, 3, L=1.0, B=1.5, seed=0)
    pl = kwise_passive(env, 200, 3, 1, output="greedy", radius=PLRadius(), checkpoints=3)
    pair = kwise_passive(env, 200, 3, 1, output="greedy", radius=Radius("theory"),
                         checkpoints=3)
    np.testing.assert_array_equal(pl.theta, pair.theta)  # the estimate does not see the radius
    t = pl.records["t"].to_numpy() + 1.0
    np.testing.assert_allclose(pl.records["beta"], [_lemma1(2 * s, 3, 1.0, 1.0, 1.0, 1.5, 0.05)
                                                     for s in t], rtol=1e-12)
    assert pl.records["radius"].iloc[0] == "pl-theory"
    # at m = 2 the PL radius is Lemma 1: deployment is bit for bit the pairwise-theory run
    a = kwise_deployment(env, 150, 2, 3, radius=PLRadius(), checkpoints=2)
    b = kwise_deployment(env, 150, 2, 3, radius=Radius("theory"), checkpoints=2)
    assert a.theta.tobytes() == b.theta.tobytes()
    assert a.records["regret"].tolist() == b.records["regret"].tolist()
    c = kwise_deployment(env, 150, 3, 3, radius=PLRadius(), checkpoints=2)
    assert np.isfinite(c.records["regret"]).all()
