"""Hypothesis strategies for preference data, for property tests of reward models.

    environments()      small PreferenceEnv with ||phi(x, a)|| <= L and ||theta*|| <= B
    streams()           (Z, y) drawn from an environment with a seed (uniform queries, BT labels)
    design_matrices()   raw (Z, y): rows with ||z|| <= 2L, labels in {0, 1}
    margins()           margins w = z' theta in [-60, 60], the extremes +-60 included
    margin_streams()    (theta, Z, y) whose margins Z theta are drawn by margins()

Every strategy returns float64 arrays that pass the estimators' input validation. Arguments
given as plain values are fixed; arguments given as strategies are drawn. Environments and
streams are built from a drawn integer seed with numpy, so examples are cheap, reproducible and
shrink towards small sizes and seed 0. This module needs the optional `hypothesis` package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim import PreferenceEnv

from .estimator_checks import EXTREME_MARGIN, preference_stream

SEEDS = st.integers(0, 2**32 - 1)
"""Seeds for the numpy draws behind environments and streams."""

# default ranges (strategies are immutable, so sharing them between calls is safe)
_N_X, _K, _D_ENV = st.integers(1, 4), st.integers(2, 5), st.integers(1, 4)
_BOUND = st.floats(0.1, 3.0)
_T_STREAM, _D_DESIGN, _T_DESIGN = st.integers(1, 200), st.integers(1, 5), st.integers(1, 50)
_T_MARGIN, _THETA_NORM, _NOISE = st.integers(1, 40), st.floats(0.5, 3.0), st.floats(0.0, 1.0)

_SHRINK = 1.0 - 2.0**-50
"""Scale applied at the bound itself, so rounding never puts a norm above L or B."""

# margins at which naive forms of the logistic link fail: 1 - sigma(w) rounds to 0 near 36.7,
# sigma(w) to 1 in float64 beyond ~36.7, exp(w) is ~1e26 at 60
_SPECIAL_MARGINS = (0.0, 1e-300, 1.0, 20.0, 36.7, 37.0, 40.0, 60.0)


def _strategy(value: Any) -> st.SearchStrategy:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _scaled_directions(rng: np.random.Generator, shape: tuple[int, ...], d: int,
                       bound: float, on_bound: bool) -> np.ndarray:
    """Vectors u r bound with u uniform on the sphere and r ~ U(0, 1] (r = 1 when on_bound),
    each of norm <= bound exactly (rounding included)."""
    g = rng.standard_normal((*shape, d))
    n = np.linalg.norm(g, axis=-1, keepdims=True)
    n = np.where(n > 0.0, n, 1.0)
    r = np.ones((*shape, 1)) if on_bound else 1.0 - rng.random((*shape, 1))
    v = g / n * (r * bound * _SHRINK)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(norms > bound, v * (bound / norms) * _SHRINK, v)


@st.composite
def environments(draw: st.DrawFn, *, n_x: Any = _N_X, K: Any = _K, d: Any = _D_ENV,
                 L: Any = _BOUND, B: Any = _BOUND, link: Any = "logistic",
                 seed: Any = SEEDS) -> PreferenceEnv:
    """A small PreferenceEnv whose declared bounds hold: ||phi(x, a)||_2 <= L for every
    context and arm, ||theta*||_2 <= B.

    Draws n_x contexts, K >= 2 arms and dimension d (defaults 1-4, 2-5, 1-4), the bounds L and
    B (0.1-3), and a seed; features are L r u (u uniform on the sphere, r ~ U(0, 1]), theta*
    is B r v likewise, and the context distribution rho is a random point of the simplex.
    Whether the features and theta* sit exactly on their bounds is drawn too (the case where a
    bound is tight). `link`: "logistic" (Bradley-Terry) or "probit" (misspecified), or a
    strategy of them.
    """
    n_x_, K_, d_ = draw(_strategy(n_x)), draw(_strategy(K)), draw(_strategy(d))
    L_, B_ = float(draw(_strategy(L))), float(draw(_strategy(B)))
    link_ = draw(_strategy(link))
    phi_on_bound, theta_on_bound = draw(st.booleans()), draw(st.booleans())
    rng = np.random.default_rng(draw(_strategy(seed)))
    phi = _scaled_directions(rng, (n_x_, K_), d_, L_, phi_on_bound)
    theta = _scaled_directions(rng, (), d_, B_, theta_on_bound)
    rho = rng.dirichlet(np.ones(n_x_))
    rho /= rho.sum()
    return PreferenceEnv(phi=phi, rho=rho, theta_star=theta, L=L_, B=B_,
                         name=f"hypothesis(n_x={n_x_}, K={K_}, d={d_}, L={L_:g}, B={B_:g})",
                         link=link_)


@st.composite
def streams(draw: st.DrawFn, envs: Any = None, *, T: Any = _T_STREAM,
            seed: Any = SEEDS, with_env: bool = False) -> tuple:
    """(Z, y) of T uniform random queries on a drawn environment with Bradley-Terry labels.

    Draws an environment from `envs` (default `environments()`), a length T (default 1-200)
    and a seed, and returns `preference_stream(env, T, seed)`: Z (T, d) float64 feature
    differences with ||z_t|| <= 2L, y (T,) float64 in {0, 1} with P(y_t = 1) =
    sigma(z_t' theta*) (the environment's link). with_env=True returns (env, Z, y), for
    properties that need theta*.
    """
    env = draw(environments() if envs is None else _strategy(envs))
    T_ = draw(_strategy(T))
    Z, y = preference_stream(env, T_, draw(_strategy(seed)))
    return (env, Z, y) if with_env else (Z, y)


@st.composite
def design_matrices(draw: st.DrawFn, *, d: Any = _D_DESIGN, T: Any = _T_DESIGN,
                    L: Any = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Raw (Z, y): Z (T, d) float64 with every row of norm ||z_t||_2 <= 2L, y (T,) float64 in
    {0, 1}, with no environment behind them.

    Entries are drawn by hypothesis in [-2L, 2L] (so zeros, repeated rows, exact bounds and
    tiny values all occur) and rows longer than 2L are scaled back onto the sphere of radius
    2L; labels are arbitrary, so the data need not come from any theta.
    """
    d_, T_, L_ = draw(_strategy(d)), draw(_strategy(T)), float(draw(_strategy(L)))
    bound = 2.0 * L_
    Z = draw(hnp.arrays(np.float64, (T_, d_),
                        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                                           allow_subnormal=False)))
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z = np.where(norms > bound, Z * (bound / np.where(norms > 0, norms, 1.0)) * _SHRINK, Z)
    y = draw(hnp.arrays(np.float64, (T_,), elements=st.sampled_from([0.0, 1.0])))
    return np.ascontiguousarray(Z), y


def margins(*, max_abs: float = EXTREME_MARGIN) -> st.SearchStrategy[float]:
    """Margins w = z' theta in [-max_abs, max_abs] (default 60), the extremes included.

    Mixes floats drawn over the whole interval with the values where naive forms of the
    logistic link break (0, 1e-300, 36.7 and 37 where sigma(w) rounds to 1, 40, and +-max_abs
    itself), with both signs.
    """
    special = sorted({s * v for v in _SPECIAL_MARGINS if v <= max_abs for s in (1.0, -1.0)}
                     | {max_abs, -max_abs})
    return st.one_of(st.sampled_from(special),
                     st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False))


@st.composite
def margin_streams(draw: st.DrawFn, *, d: Any = _D_ENV, T: Any = _T_MARGIN,
                   theta_norm: Any = _THETA_NORM, max_abs: float = EXTREME_MARGIN,
                   noise: Any = _NOISE, seed: Any = SEEDS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta, Z, y) with prescribed margins: z_t' theta = w_t (to rounding), w_t ~ margins().

    theta is a direction uniform on the sphere times `theta_norm`; z_t = w_t theta / ||theta||^2
    plus a component orthogonal to theta of norm up to `noise`, so ||z_t|| reaches
    max_abs / ||theta|| + noise (120 + 1 with the defaults). Labels are arbitrary in {0, 1}:
    they agree with or oppose the margin, which is the case that stresses an estimator (a label
    opposing w = 60 has likelihood e^{-60}).
    """
    d_, T_ = draw(_strategy(d)), draw(_strategy(T))
    r, nz = float(draw(_strategy(theta_norm))), float(draw(_strategy(noise)))
    w = np.array(draw(st.lists(margins(max_abs=max_abs), min_size=T_, max_size=T_)))
    y = draw(hnp.arrays(np.float64, (T_,), elements=st.sampled_from([0.0, 1.0])))
    rng = np.random.default_rng(draw(_strategy(seed)))
    g = rng.standard_normal(d_)
    u = g / np.linalg.norm(g) if np.linalg.norm(g) > 0 else np.eye(d_)[0]
    theta = r * u
    Z = np.outer(w / r, u)
    if d_ > 1:
        N = rng.standard_normal((T_, d_))
        N -= np.outer(N @ u, u)
        N -= np.outer(N @ u, u)  # twice: orthogonal to theta to rounding
        nn = np.linalg.norm(N, axis=1, keepdims=True)
        Z += np.where(nn > 1e-8, N / np.where(nn > 1e-8, nn, 1.0), 0.0) * (nz * rng.random((T_, 1)))
    return theta, np.ascontiguousarray(Z), y


__all__ = ["SEEDS", "design_matrices", "environments", "margin_streams", "margins", "streams"]
