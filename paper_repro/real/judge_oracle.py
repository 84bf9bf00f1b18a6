"""Preference oracles on a multi-arm table judged against a fixed reference (AlpacaEval).

The table gives p[x, a] = P(judge prefers arm a's answer to instruction x over the reference
answer ref(x)). Two oracles for the deployment stage (ALGORITHMS.md 3.3):

judge (our reading: Bradley-Terry through the common reference)
    r(x, a) = logit(clip(p[x, a], eps, 1 - eps)), eps = JUDGE_CLIP. If the judge follows BT
    with rewards r and r(x, ref) = 0, then p[x, a] = sigma(r(x, a)), and two arms compare as
    P(a beats a') = sigma(r(x, a) - r(x, a')). The clip bounds |r| by logit(1 - eps) ~ 9.2
    (the table has p = 0 and p within 1e-7 of 1). The rewards are not linear in the features:
    the learner is misspecified.

semi-synthetic
    theta fitted on all (x, a) of the table by regularised logistic regression with soft
    labels of the judge probabilities against the reference,
        theta = argmin_theta  sum_{x, a} CE(p[x, a], sigma((phi(x, a) - phi_ref(x))' theta))
                              + (lam / 2) ||theta||^2,
    CE(p, q) = -p log q - (1 - p) log(1 - q); rewards r = phi' theta are exactly linear and
    sigma(r(x, a) - phi_ref(x)' theta) is the fitted probability of beating the reference.
"""

from __future__ import annotations

import math

import numpy as np

from algorithms.mle import MLE_MAX_ITER, MLE_TOL, mle_newton
from sim.environment import PreferenceEnv

JUDGE_CLIP = 1e-4
"""eps of the judge rewards logit(clip(p, eps, 1 - eps))."""


def _check_probabilities(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"p must be a non-empty (n_x, K) array of probabilities, got shape "
                         f"{p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError("p must hold finite probabilities in [0, 1]")
    return p


def judge_rewards(p, clip: float = JUDGE_CLIP) -> np.ndarray:
    """r = logit(clip(p, clip, 1 - clip)), shape (n_x, K)."""
    p = _check_probabilities(p)
    if not (isinstance(clip, (int, float)) and 0.0 < clip < 0.5):
        raise ValueError(f"clip must be a number in (0, 1/2), got {clip!r}")
    q = np.clip(p, clip, 1.0 - clip)
    return np.log(q) - np.log1p(-q)


def _reference_design(phi, phi_ref, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    phi = np.asarray(phi, dtype=np.float64)
    phi_ref = np.asarray(phi_ref, dtype=np.float64)
    p = _check_probabilities(p)
    if phi.ndim != 3:
        raise ValueError(f"phi must be an (n_x, K, d) array, got shape {phi.shape}")
    n_x, K, d = phi.shape
    if phi_ref.shape != (n_x, d):
        raise ValueError(f"phi_ref must have shape (n_x, d) = {(n_x, d)}, got {phi_ref.shape}")
    if p.shape != (n_x, K):
        raise ValueError(f"p must have shape (n_x, K) = {(n_x, K)}, got {p.shape}")
    if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(phi_ref))):
        raise ValueError("phi and phi_ref must be finite")
    Zr = np.ascontiguousarray((phi - phi_ref[:, None, :]).reshape(n_x * K, d))
    return Zr, np.ascontiguousarray(p.reshape(-1)), phi


def fit_reference_logistic(phi, phi_ref, p, *, lam: float = 1.0, tol: float = MLE_TOL,
                           max_iter: int = MLE_MAX_ITER) -> np.ndarray:
    """theta of the semi-synthetic oracle (module docstring), by Newton's method on the soft-
    label log loss (`algorithms.mle.mle_newton`, whose loss softplus(w) - y w is the cross-
    entropy for any y in [0, 1]). phi (n_x, K, d), phi_ref (n_x, d), p (n_x, K)."""
    Zr, target, _ = _reference_design(phi, phi_ref, p)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not (
            math.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    theta, _, ok = mle_newton(Zr, target, Zr.shape[0], float(lam), math.inf,
                              np.zeros(Zr.shape[1]), float(tol), int(max_iter))
    if not ok:
        raise RuntimeError(f"the reference logistic fit did not converge in {max_iter} Newton "
                           "iterations")
    return theta


def reference_fit_gradient(theta, phi, phi_ref, p, *, lam: float = 1.0) -> np.ndarray:
    """Gradient of the fit's objective at theta: sum (sigma(w) - p) z + lam theta,
    z = phi(x, a) - phi_ref(x), w = z'theta (zero at the fitted theta)."""
    Zr, target, _ = _reference_design(phi, phi_ref, p)
    w = Zr @ np.asarray(theta, dtype=np.float64)
    sig = np.exp(-np.logaddexp(0.0, -w))
    return Zr.T @ (sig - target) + lam * np.asarray(theta, dtype=np.float64)


def reference_win_probability(phi, phi_ref, theta) -> np.ndarray:
    """sigma((phi(x, a) - phi_ref(x))' theta), shape (n_x, K): the linear model's probability
    that arm a beats the reference."""
    phi = np.asarray(phi, dtype=np.float64)
    ref = np.asarray(phi_ref, dtype=np.float64)
    w = (phi - ref[:, None, :]) @ np.asarray(theta, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -w))


def semi_synthetic_env(phi, theta, L: float, *, name: str = "semi-synthetic") -> PreferenceEnv:
    """PreferenceEnv(phi, uniform rho, theta, L, B = ||theta||): rewards exactly linear."""
    phi = np.asarray(phi, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    B = float(np.linalg.norm(theta))
    if B == 0.0:
        raise ValueError("theta is zero: the semi-synthetic environment needs B = ||theta|| > 0")
    n_x = phi.shape[0] if phi.ndim == 3 else 0
    if n_x == 0:
        raise ValueError(f"phi must be an (n_x, K, d) array with n_x >= 1, got shape {phi.shape}")
    return PreferenceEnv(phi, np.full(n_x, 1.0 / n_x), theta, L, B, name=name)
