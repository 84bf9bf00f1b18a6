"""Passive data collection, the paper's Algorithm 2 and its baselines (ALGORITHMS.md 3.1).

The behaviour policy has chosen T queries; the learner makes one pass over them and outputs a
policy. The learners here return their state at a list of checkpoint rounds t (after t
samples), from which the output policy is computed (`algorithms.pessimism`):

- one-pass OMD (`omd_checkpoints`): theta_{t+1} and Hcal_{t+1}^{-1} of Algorithm 1, run by the
  compiled `algorithms.omd.omd_run` between checkpoints (O(d^2) per sample, nothing stored
  per sample);
- regularised MLE (`mle_checkpoints`): the MLE on the first t samples and
  V_t^{-1}, V_t = lambda I + sum_{i <= t} z_i z_i' (unweighted), the design of the pessimistic
  MLE of Zhu, Jordan and Jiao (2023). The MLE is refit at the checkpoints only (warm-started
  projected Newton): the passive output is computed once, at the end, and at the checkpoints
  for the learning curves, so fits between checkpoints would never be used;
- one-pass SGD (`sgd_checkpoints`), the first-order baseline, with greedy output.

The confidence radius of the pessimistic MLE (`zhu_radius`) is

    beta_Zhu = c_zhu sqrt(kappa^2 (d + log(1/delta)) + lambda B^2),

our reading, in unnormalised form (V_t is a sum, not a mean), of Lemma 3.1 of Zhu et al.
(2023), whose statement holds up to an unspecified absolute constant: c_zhu stands for it
(default 1).
"""

from __future__ import annotations

import math
import time

import numpy as np

from .first_order import sgd_run
from .mle import MLE_MAX_ITER, MLE_TOL, mle_newton
from .omd import omd_run


def omd_checkpoints(Z: np.ndarray, y: np.ndarray, checkpoints: np.ndarray, *, eta: float,
                    lam: float, B: float, project: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of one-pass OMD (Algorithm 1) over (Z, y), with its state at each checkpoint.

    Returns (thetas (n, d), Hinvs (n, d, d), seconds (n,)): row k holds theta_{t+1} and
    Hcal_{t+1}^{-1} after the first t = checkpoints[k] samples, and the cumulative seconds of
    the updates. The pass is the compiled `omd_run`, called once per checkpoint segment, so the
    iterates are bit-identical to `algorithms.estimators.omd_path`.
    """
    d = Z.shape[1]
    n = checkpoints.shape[0]
    theta = np.zeros(d)
    Hinv = np.eye(d) / lam
    thetas = np.empty((n, d))
    Hinvs = np.empty((n, d, d))
    seconds = np.empty(n)
    none = np.empty((0, d))
    Bv = B if project else math.inf
    start, elapsed = 0, 0.0
    for k, t in enumerate(checkpoints):
        t0 = time.perf_counter()
        omd_run(Z[start:t], y[start:t], theta, Hinv, eta, Bv, project, none)
        elapsed += time.perf_counter() - t0
        thetas[k], Hinvs[k], seconds[k] = theta, Hinv, elapsed
        start = t
    return thetas, Hinvs, seconds


def mle_checkpoints(Z: np.ndarray, y: np.ndarray, checkpoints: np.ndarray, *, lam: float,
                    B: float, tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER,
                    design: bool = True, iterations: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, int]:
    """The regularised MLE constrained to ||theta|| <= B on the first t samples, at each
    checkpoint t (warm-started from the previous checkpoint's fit).

    Returns (thetas (n, d), Vinvs (n, d, d), seconds (n,), failures): V_t^{-1} of the
    unweighted design V_t = lambda I + sum_{i <= t} z_i z_i', cumulative seconds of the fits
    and designs, and the number of fits that did not reach `tol` within max_iter iterations.
    design=False skips the designs (Vinvs is None, seconds time the fits only); an int array
    `iterations` (n,) receives the Newton iterations of each checkpoint's fit.
    """
    d = Z.shape[1]
    n = checkpoints.shape[0]
    thetas = np.empty((n, d))
    Vinvs = np.empty((n, d, d)) if design else None
    seconds = np.empty(n)
    theta = np.zeros(d)
    V = lam * np.eye(d)
    start, elapsed, failures = 0, 0.0, 0
    for k, t in enumerate(checkpoints):
        t0 = time.perf_counter()
        theta, its, ok = mle_newton(Z, y, int(t), lam, B, theta, tol, max_iter)
        if Vinvs is not None:
            seg = Z[start:t]
            V += seg.T @ seg
            Vinvs[k] = np.linalg.inv(V)
        elapsed += time.perf_counter() - t0
        failures += not ok
        if iterations is not None:
            iterations[k] = its
        thetas[k], seconds[k] = theta, elapsed
        start = t
    return thetas, Vinvs, seconds, failures


def sgd_checkpoints(Z: np.ndarray, y: np.ndarray, checkpoints: np.ndarray, *, lr: float,
                    inv_sqrt: bool, B: float, weight_decay: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One-pass SGD on the log loss (`algorithms.first_order.sgd_run`, projected on the
    B-ball), theta <- theta - lr_t ((sigma(z'theta) - y) z + weight_decay theta) with
    lr_t = lr / sqrt(t) when inv_sqrt, else lr; theta after each checkpoint's t samples and
    the cumulative seconds."""
    d = Z.shape[1]
    theta = np.zeros(d)
    thetas = np.empty((checkpoints.shape[0], d))
    seconds = np.empty(checkpoints.shape[0])
    none = np.empty((0, d))
    start, elapsed = 0, 0.0
    for k, t in enumerate(checkpoints):
        t0 = time.perf_counter()
        sgd_run(Z[start:t], y[start:t], theta, lr, float(weight_decay), inv_sqrt, B, start, none)
        elapsed += time.perf_counter() - t0
        thetas[k], seconds[k] = theta, elapsed
        start = t
    return thetas, seconds


def zhu_radius(kappa: float, d: int, delta: float, lam: float, B: float,
               c_zhu: float = 1.0) -> float:
    """beta_Zhu = c_zhu sqrt(kappa^2 (d + log(1/delta)) + lambda B^2) (module docstring: our
    unnormalised reading of Zhu, Jordan and Jiao 2023, Lemma 3.1; c_zhu the absolute constant)."""
    if not (math.isfinite(c_zhu) and c_zhu >= 0.0):
        raise ValueError(f"c_zhu must be finite and >= 0, got {c_zhu!r}")
    if not (0.0 < delta < 1.0):
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    return c_zhu * math.sqrt(kappa * kappa * (d + math.log(1.0 / delta)) + lam * B * B)
