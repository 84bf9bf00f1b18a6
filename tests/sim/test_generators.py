"""Synthetic environment families: determinism under a seed, bounds, and the kappa target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import PreferenceEnv, kappa_env, random_directions_env, shared_offset_env

GENERATORS = {
    "random_directions": lambda seed, **kw: random_directions_env(6, 4, 3, seed=seed, **kw),
    "shared_offset": lambda seed, **kw: shared_offset_env(6, 4, 3, seed=seed, **kw),
    "kappa": lambda seed, **kw: kappa_env(50.0, 6, 4, 3, seed=seed, **kw),
}


def arrays(env: PreferenceEnv) -> tuple[np.ndarray, ...]:
    return env.phi, env.rho, env.theta_star


@pytest.mark.parametrize("family", GENERATORS)
def test_same_seed_gives_identical_arrays_and_different_seeds_differ(family):
    make = GENERATORS[family]
    first, again, other = make(123), make(123), make(124)
    assert all(np.array_equal(p, q) for p, q in zip(arrays(first), arrays(again)))
    assert first.B == again.B and first.name == again.name
    assert not np.array_equal(first.phi, other.phi)
    assert not np.array_equal(first.theta_star, other.theta_star)


@pytest.mark.parametrize("family", GENERATORS)
def test_seed_sequence_and_generator_seeds(family):
    make = GENERATORS[family]
    ss = np.random.SeedSequence(99)
    from_ss = make(ss)
    assert np.array_equal(make(np.random.SeedSequence(99)).phi, from_ss.phi)
    from_gen = make(np.random.Generator(np.random.PCG64(np.random.SeedSequence(99))))
    assert np.array_equal(from_gen.phi, from_ss.phi)
    assert np.array_equal(make(99).phi, from_ss.phi)
    rng = np.random.default_rng(5)
    assert not np.array_equal(make(rng).phi, make(rng).phi)  # a Generator is advanced


@pytest.mark.parametrize("L, B", [(1.0, 1.0), (0.3, 4.0), (7.5, 0.2)])
def test_random_directions_norms(L, B):
    env = random_directions_env(50, 8, 5, L=L, B=B, seed=1)
    norms = np.linalg.norm(env.phi, axis=2)
    assert np.all(norms <= L * (1 + 1e-12)) and np.all(norms > 0.5 * L * (1 - 1e-12))
    assert np.linalg.norm(env.theta_star) == pytest.approx(B, rel=1e-12)
    np.testing.assert_array_equal(env.rho, np.full(50, 1 / 50))
    assert (env.n_x, env.K, env.d, env.L, env.B) == (50, 8, 5, L, B)


def test_random_directions_are_spread_over_the_sphere():
    env = random_directions_env(2000, 2, 3, seed=2)
    u = env.phi / np.linalg.norm(env.phi, axis=2, keepdims=True)
    # E[u] = 0 and E[u u'] = I/3 for the uniform direction on the 2-sphere
    np.testing.assert_allclose(u.reshape(-1, 3).mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(np.cov(u.reshape(-1, 3).T, bias=True), np.eye(3) / 3, atol=0.02)


@pytest.mark.parametrize("offset_scale", [0.0, 0.7, 0.9])
def test_shared_offset_norms_and_structure(offset_scale):
    L = 2.0
    env = shared_offset_env(40, 6, 4, L=L, B=1.5, offset_scale=offset_scale, seed=3)
    norms = np.linalg.norm(env.phi, axis=2)
    assert np.all(norms <= L * (1 + 1e-12))
    assert np.linalg.norm(env.theta_star) == pytest.approx(1.5, rel=1e-12)
    centre = env.phi.mean(axis=1)
    spread = np.linalg.norm(env.phi - centre[:, None, :], axis=2)
    # ||c_x|| = s L and ||v(x, a)|| <= (1 - s) L bound the centre and the spread around it
    assert np.all(np.linalg.norm(centre, axis=1) >= (2 * offset_scale - 1) * L - 1e-12)
    assert np.all(spread <= 2 * (1 - offset_scale) * L + 1e-12)
    assert env.max_pair_norm() <= 2 * (1 - offset_scale) * L * (1 + 1e-12)


def centre_to_difference_ratios(env: PreferenceEnv) -> np.ndarray:
    """||mean_a phi(x, a)|| / max_{a, a'} ||phi(x, a) - phi(x, a')|| for every context x."""
    centres = np.linalg.norm(env.phi.mean(axis=1), axis=1)
    pairs = np.linalg.norm(env.phi[:, :, None, :] - env.phi[:, None, :, :], axis=-1)
    return centres / pairs.max(axis=(1, 2))


def test_shared_offset_mean_is_far_from_zero_relative_to_differences():
    ratios = centre_to_difference_ratios(shared_offset_env(40, 6, 4, seed=4))  # offset 0.7
    assert np.all(ratios > 1.0)
    assert np.median(ratios) > 1.4
    # without the offset the per-context centre is small against the differences
    plain = centre_to_difference_ratios(random_directions_env(40, 6, 4, seed=4))
    assert np.median(plain) < 0.3


def test_shared_offset_cancels_in_differences():
    """The offset c_x cancels in every BT margin: kappa depends on the variations only."""
    env = shared_offset_env(10, 5, 3, offset_scale=0.8, seed=6)
    centred = env.phi - env.phi.mean(axis=1, keepdims=True)
    shifted = PreferenceEnv(phi=centred, rho=env.rho, theta_star=env.theta_star, L=env.L, B=env.B)
    assert shifted.kappa_global() == pytest.approx(env.kappa_global(), rel=1e-12)
    assert shifted.kappa_instance() == pytest.approx(env.kappa_instance(), rel=1e-12)
    np.testing.assert_allclose(shifted.reward_gaps(), env.reward_gaps(), atol=1e-14)
    np.testing.assert_array_equal(shifted.optimal_arms(), env.optimal_arms())


@pytest.mark.parametrize("kappa", [4.000001, 5.0, 10.0, 100.0, 1e3, 1e4, 1e8])
def test_kappa_env_hits_the_requested_kappa(kappa):
    env = kappa_env(kappa, 20, 5, 4, L=1.0, seed=7)
    assert env.kappa_global() == pytest.approx(kappa, rel=1e-9)
    assert env.B == pytest.approx(math.acosh(kappa / 2 - 1) / env.max_pair_norm(), rel=1e-15)
    assert np.linalg.norm(env.theta_star) == pytest.approx(env.B, rel=1e-12)
    assert np.all(np.linalg.norm(env.phi, axis=2) <= 1.0 + 1e-12)
    assert 4.0 <= env.kappa_instance() <= env.kappa_global() * (1 + 1e-12)


def test_kappa_env_only_rescales_theta_across_kappas():
    low, high = kappa_env(10.0, 8, 4, 3, seed=11), kappa_env(1e4, 8, 4, 3, seed=11)
    assert np.array_equal(low.phi, high.phi)
    np.testing.assert_allclose(low.theta_star / low.B, high.theta_star / high.B, rtol=1e-14)
    assert high.B > low.B
    # same features and direction as the random-directions family at that seed
    plain = random_directions_env(8, 4, 3, seed=11)
    assert np.array_equal(plain.phi, low.phi)
    np.testing.assert_allclose(plain.theta_star, low.theta_star / low.B, rtol=1e-14)


@pytest.mark.parametrize("kappa", [4.0, 3.0, 0.0, -10.0, math.inf, math.nan])
def test_kappa_env_rejects_kappa_at_most_four(kappa):
    with pytest.raises(ValueError, match=r"kappa must be a finite number > 4"):
        kappa_env(kappa, 3, 3, 2, seed=0)


POSITIVE = r"{} must be a positive finite number"
OFFSET = r"offset_scale must lie in \[0, 1\)"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: random_directions_env(0, 3, 2, seed=0), r"n_x must be an int >= 1, got 0"),
        (lambda: random_directions_env(3, 1, 2, seed=0), r"K must be an int >= 2, got 1"),
        (lambda: random_directions_env(3, 3, 0, seed=0), r"d must be an int >= 1, got 0"),
        (lambda: random_directions_env(3.0, 3, 2, seed=0), r"n_x must be an int >= 1, got 3\.0"),
        (lambda: random_directions_env(3, True, 2, seed=0), r"K must be an int >= 2, got True"),
        (lambda: random_directions_env(3, 3, 2, L=0.0, seed=0), POSITIVE.format("L")),
        (lambda: random_directions_env(3, 3, 2, B=-1.0, seed=0), POSITIVE.format("B")),
        (lambda: random_directions_env(3, 3, 2, seed=-1), r"seed must be non-negative"),
        (lambda: random_directions_env(3, 3, 2, seed=1.5), r"seed must be a non-negative int"),
        (lambda: shared_offset_env(3, 2, 2, offset_scale=1.0, seed=0), OFFSET),
        (lambda: shared_offset_env(3, 2, 2, offset_scale=-0.1, seed=0), OFFSET),
        (lambda: shared_offset_env(3, 1, 2, seed=0), r"K must be an int >= 2"),
        (lambda: kappa_env(10.0, 3, 1, 2, seed=0), r"K must be an int >= 2"),
        (lambda: kappa_env(10.0, 3, 3, 2, L=math.inf, seed=0), POSITIVE.format("L")),
    ],
)
def test_generator_arguments_are_validated(call, message):
    with pytest.raises(ValueError, match=message):
        call()
