"""Seeded families of synthetic preference environments.

Each generator takes `seed` as an int, a numpy SeedSequence or a numpy Generator (used as
is, and advanced) and draws, in this order, the features and then the direction of theta*.
The same seed gives bit-identical environments. Contexts are uniform: rho_x = 1 / n_x.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .core.seeding import SeedLike, as_generator
from .core.validation import SCALE_MAX as _B_MAX
from .core.validation import check_positive
from .environment import PreferenceEnv


def _check_count(field: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{field} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_sizes(n_x: object, K: object, d: object) -> tuple[int, int, int]:
    return _check_count("n_x", n_x), _check_count("K", K, 2), _check_count("d", d)


def _check_positive(field: str, value: object) -> float:
    """A positive number in the scale range of sim.core.validation."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a positive finite number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{field} must be a positive finite number, got {value!r}")
    return check_positive(field, v)


def _unit_vectors(rng: np.random.Generator, shape: tuple[int, ...], d: int) -> np.ndarray:
    """Independent directions uniform on the unit sphere of R^d (normalised Gaussians)."""
    g = rng.standard_normal((*shape, d))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def _radii(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent radii uniform on (0.5, 1]."""
    return 1.0 - 0.5 * rng.random(shape)


def _random_direction_features(
    rng: np.random.Generator, n_x: int, K: int, d: int, L: float
) -> np.ndarray:
    """phi(x, a) = L r u, u uniform on the unit sphere, r ~ U(0.5, 1]."""
    u = _unit_vectors(rng, (n_x, K), d)
    r = _radii(rng, (n_x, K))
    return L * r[..., None] * u


def random_directions_env(
    n_x: int,
    K: int,
    d: int,
    *,
    L: float = 1.0,
    B: float = 1.0,
    seed: SeedLike | np.random.Generator,
) -> PreferenceEnv:
    """phi(x, a) = L r(x, a) u(x, a), theta* = B v, rho uniform.

    u(x, a) and v are independent and uniform on the unit sphere of R^d, r(x, a) ~ U(0.5, 1],
    so L/2 < ||phi(x, a)|| <= L and ||theta*|| = B.
    """
    n_x, K, d = _check_sizes(n_x, K, d)
    L = _check_positive("L", L)
    B = _check_positive("B", B)
    rng = as_generator(seed)
    phi = _random_direction_features(rng, n_x, K, d, L)
    theta_star = B * _unit_vectors(rng, (), d)
    return PreferenceEnv(
        phi=phi,
        rho=np.full(n_x, 1.0 / n_x),
        theta_star=theta_star,
        L=L,
        B=B,
        name=f"random_directions(n_x={n_x}, K={K}, d={d}, L={L:g}, B={B:g})",
    )


def shared_offset_env(
    n_x: int,
    K: int,
    d: int,
    *,
    L: float = 1.0,
    B: float = 1.0,
    offset_scale: float = 0.7,
    seed: SeedLike | np.random.Generator,
) -> PreferenceEnv:
    """phi(x, a) = c_x + v(x, a): a large per-context offset plus small per-arm variations.

    c_x = s L u_x with s = offset_scale and u_x uniform on the sphere; v(x, a) = (1 - s) L r u
    with r ~ U(0.5, 1] and u uniform on the sphere, so ||phi(x, a)|| <= s L + (1 - s) L = L.
    theta* = B v with v uniform on the sphere.

    Bradley-Terry sees only differences phi(x, a) - phi(x, a') = v(x, a) - v(x, a'): the
    offset c_x shifts every reward of context x by c_x' theta* and is not identified by
    preference data. The family probes whether a learner or a policy depends on the
    unidentified offset (for instance through the reference vector v of the pessimistic
    objective, ALGORITHMS.md section 3.1).
    """
    n_x, K, d = _check_sizes(n_x, K, d)
    L = _check_positive("L", L)
    B = _check_positive("B", B)
    if isinstance(offset_scale, bool) or not isinstance(offset_scale, numbers.Real):
        raise ValueError(f"offset_scale must be a number in [0, 1), got {offset_scale!r}")
    s = float(offset_scale)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"offset_scale must lie in [0, 1), got {offset_scale!r}")
    rng = as_generator(seed)
    offsets = s * L * _unit_vectors(rng, (n_x,), d)
    variations = (1.0 - s) * L * _radii(rng, (n_x, K))[..., None] * _unit_vectors(rng, (n_x, K), d)
    phi = offsets[:, None, :] + variations
    theta_star = B * _unit_vectors(rng, (), d)
    return PreferenceEnv(
        phi=phi,
        rho=np.full(n_x, 1.0 / n_x),
        theta_star=theta_star,
        L=L,
        B=B,
        name=(
            f"shared_offset(n_x={n_x}, K={K}, d={d}, L={L:g}, B={B:g}, offset_scale={s:g})"
        ),
    )


def kappa_env(
    kappa: float,
    n_x: int,
    K: int,
    d: int,
    *,
    L: float = 1.0,
    seed: SeedLike | np.random.Generator,
) -> PreferenceEnv:
    """Random-direction features (as `random_directions_env`) with B set so kappa_global = kappa.

    With M = max over x, a != a' of ||phi(x, a) - phi(x, a')||, kappa_global = 2 + 2 cosh(B M),
    so B = arccosh(kappa / 2 - 1) / M, and theta* = B v with v uniform on the sphere.
    kappa must exceed 4 = 1/sigma'(0), the smallest possible value. Through B L the family
    spans kappa from just above 4 to 1e4 and beyond (B M = arccosh(kappa/2 - 1) is about
    9.2 at kappa = 1e4). Features and the direction of theta* depend only on the seed and
    the sizes, not on kappa: the same seed at two kappas differs only in the scale of theta*.
    """
    if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real):
        raise ValueError(f"kappa must be a finite number > 4, got {kappa!r}")
    k = float(kappa)
    if not (math.isfinite(k) and k > 4.0):
        raise ValueError(
            f"kappa must be a finite number > 4 (1/sigma'(0) = 4 is the smallest kappa),"
            f" got {kappa!r}"
        )
    n_x, K, d = _check_sizes(n_x, K, d)
    L = _check_positive("L", L)
    rng = as_generator(seed)
    phi = _random_direction_features(rng, n_x, K, d, L)
    direction = _unit_vectors(rng, (), d)
    features_only = PreferenceEnv(
        phi=phi, rho=np.full(n_x, 1.0 / n_x), theta_star=np.zeros(d), L=L, B=1.0
    )
    M = features_only.max_pair_norm()
    if M == 0.0:
        raise ValueError("all arms of every context share one feature vector: kappa is 4")
    B = math.acosh(k / 2.0 - 1.0) / M
    if not math.isfinite(B) or B > _B_MAX:
        raise ValueError(f"the largest feature difference ||phi(x, a) - phi(x, a')|| = {M:g} is "
                         f"too small for kappa = {k:g}: B = arccosh(kappa/2 - 1) / {M:g} = {B:g} "
                         f"exceeds {_B_MAX:g}; use a larger L")
    return PreferenceEnv(
        phi=features_only.phi,
        rho=features_only.rho,
        theta_star=B * direction,
        L=L,
        B=B,
        name=f"kappa_env(kappa={k:g}, n_x={n_x}, K={K}, d={d}, L={L:g})",
    )
