"""Features at the edge of double precision: the largest pair difference is computed without
underflow, and kappa_env says what is wrong when it cannot reach a kappa."""

from __future__ import annotations

import numpy as np
import pytest

from sim import PreferenceEnv, kappa_env, random_directions_env


@pytest.mark.parametrize("scale", [1e-160, 1e-200, 1e-300])
def test_max_pair_norm_of_tiny_features_does_not_underflow(scale):
    env = random_directions_env(4, 3, 2, seed=0)
    tiny = PreferenceEnv(env.phi * scale, env.rho, env.theta_star * 0, L=scale, B=1.0)
    assert tiny.max_pair_norm() == pytest.approx(env.max_pair_norm() * scale, rel=1e-12)
    assert tiny.max_pair_norm() > 0.0


def test_normal_features_keep_the_direct_computation():
    env = random_directions_env(6, 5, 4, seed=3)
    z = env.phi[:, :, None, :] - env.phi[:, None, :, :]
    assert env.max_pair_norm() == float(np.sqrt((z**2).sum(-1).max()))


def test_kappa_env_names_tiny_features_correctly():
    with pytest.raises(ValueError, match=r"L = 1e-200 is outside \[1e-20, 1e\+20\]"):
        kappa_env(50.0, 3, 3, 2, L=1e-200, seed=0)
    with pytest.raises(ValueError, match=r"is too small for kappa = 50.*use a larger L"):
        kappa_env(50.0, 3, 3, 2, L=1e-20, seed=0)
    env = kappa_env(50.0, 3, 3, 2, L=1e-10, seed=0)
    assert env.kappa_global() == pytest.approx(50.0, rel=1e-9)


def test_identical_arms_have_pair_norm_zero_and_kappa_four():
    phi = np.ones((2, 3, 2)) * 0.5
    env = PreferenceEnv(phi, np.full(2, 0.5), np.zeros(2), L=1.0, B=1.0)
    assert env.max_pair_norm() == 0.0 and env.kappa_global() == 4.0
