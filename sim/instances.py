"""Purpose-built instances on which the theory predicts a difference between algorithms.

    informative_directions_env   active selection: most contexts carry almost no information,
                                 a few carry all of it along one coordinate each; maximum-norm
                                 selection finds them, uniform pairs hit them rarely
    poor_coverage_env            passive: the behaviour policy rarely shows the optimal arms
                                 (use behaviour="skewed"); pessimism beats greedy

Each is a deterministic `PreferenceEnv` (its seed fixes the filler contexts); the docstrings
say why the predicted order should appear.
"""

from __future__ import annotations

import numpy as np

from .environment import PreferenceEnv


def informative_directions_env(n_fill: int = 36, d: int = 4, K: int = 3, *,
                               seed: int = 0) -> PreferenceEnv:
    """n_fill contexts whose arms are nearly identical (pairs carry almost no information and
    almost no regret) and d contexts whose first two arms differ by 1.8 along one coordinate
    each. Uniform pairs hit an informative context d / (n_fill + d) of the time; the
    maximum-norm rule (Algorithm 3) picks them, so it reaches a small SubOpt with several
    times fewer samples."""
    if n_fill < 1 or d < 2 or K < 2:
        raise ValueError(f"need n_fill >= 1, d >= 2 and K >= 2, got {n_fill}, {d}, {K}")
    rng = np.random.default_rng(seed)
    phi = np.zeros((n_fill + d, K, d))
    base = rng.normal(size=(n_fill, d))
    base *= 0.5 / np.linalg.norm(base, axis=1, keepdims=True)
    phi[:n_fill] = base[:, None, :] + 1e-3 * rng.normal(size=(n_fill, K, d))
    for j in range(d):
        phi[n_fill + j, 0, j], phi[n_fill + j, 1, j] = 0.9, -0.9
    theta = np.resize(np.array([0.3, -0.5, 0.8, -0.2]), d)
    B = 1.1
    theta *= min(1.0, B / float(np.linalg.norm(theta)))
    return PreferenceEnv(phi=phi, rho=np.full(n_fill + d, 1.0 / (n_fill + d)),
                         theta_star=theta, L=1.0, B=B, name="informative directions")


def poor_coverage_env() -> PreferenceEnv:
    """Per context: an optimal arm (0.9 e_j), a trap (e_j + 0.7 e_3) whose advantage over the
    optimal arm lies along e_3, and a third arm (0.7 e_3). The skewed behaviour mostly pairs
    the trap with the third arm, which covers e_j only: e_3 is learnt from the rare pairs with
    the optimal arm, and an estimate shrunk towards 0 along e_3 overrates the trap."""
    phi = np.array([[[0.9, 0, 0], [1.0, 0, 0.7], [0, 0, 0.7]],
                    [[0, 0.9, 0], [0, 1.0, 0.7], [0, 0, 0.7]]])
    return PreferenceEnv(phi=phi, rho=np.array([0.5, 0.5]), theta_star=np.array([1.0, 1.0, -0.5]),
                         L=1.25, B=1.5, name="poor coverage")


__all__ = ["informative_directions_env", "poor_coverage_env"]
