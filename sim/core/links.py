"""Numerically stable Bradley-Terry (logistic) link, loss, gradient and Hessian.

ALGORITHMS.md section 1: for a feature difference z and label y in {0, 1},

    sigma(w)   = 1 / (1 + exp(-w)),                 w = z' theta
    l(theta)   = -y log sigma(w) - (1 - y) log(1 - sigma(w)) = softplus(w) - y w
    grad l     = (sigma(w) - y) z
    Hess l     = sigma'(w) z z',                     sigma'(w) = sigma(w) sigma(-w)

Every function stays finite for any finite margin w (the tests go to |w| = 60 and beyond);
no exp() of a positive argument is ever taken.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def sigmoid(w: float) -> float:
    """sigma(w) = 1 / (1 + e^{-w}), evaluated without overflow."""
    if w >= 0.0:
        return 1.0 / (1.0 + math.exp(-w))
    e = math.exp(w)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def dsigmoid(w: float) -> float:
    """sigma'(w) = sigma(w) (1 - sigma(w)) = e^{-|w|} / (1 + e^{-|w|})^2, without cancellation."""
    e = math.exp(-abs(w))
    return e / ((1.0 + e) * (1.0 + e))


@njit(cache=True, inline="always")
def inv_dsigmoid(w: float) -> float:
    """1 / sigma'(w) = 2 + e^{w} + e^{-w}; the kappa of a margin w (inf beyond |w| ~ 709)."""
    a = abs(w)
    if a > 709.0:
        return math.inf
    return 2.0 + math.exp(a) + math.exp(-a)


@njit(cache=True, inline="always")
def softplus(w: float) -> float:
    """log(1 + e^w) = max(w, 0) + log1p(e^{-|w|})."""
    return max(w, 0.0) + math.log1p(math.exp(-abs(w)))


@njit(cache=True, inline="always")
def bt_loss(w: float, y: float) -> float:
    """Bradley-Terry log loss at margin w = z' theta and label y: softplus(w) - y w."""
    return softplus(w) - y * w


@njit(cache=True)
def log_loss_sum(Z: np.ndarray, y: np.ndarray, theta: np.ndarray) -> float:
    """sum_i l_i(theta) over the rows of Z (no regulariser)."""
    total = 0.0
    for i in range(Z.shape[0]):
        total += bt_loss(np.dot(Z[i], theta), y[i])
    return total


@njit(cache=True)
def log_loss_grad(Z: np.ndarray, y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """sum_i (sigma(z_i' theta) - y_i) z_i."""
    d = Z.shape[1]
    g = np.zeros(d)
    for i in range(Z.shape[0]):
        c = sigmoid(np.dot(Z[i], theta)) - y[i]
        for j in range(d):
            g[j] += c * Z[i, j]
    return g


@njit(cache=True)
def log_loss_hessian(Z: np.ndarray, y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """sum_i sigma'(z_i' theta) z_i z_i' (the labels do not enter)."""
    d = Z.shape[1]
    H = np.zeros((d, d))
    for i in range(Z.shape[0]):
        s = dsigmoid(np.dot(Z[i], theta))
        for j in range(d):
            c = s * Z[i, j]
            for k in range(d):
                H[j, k] += c * Z[i, k]
    return H


def bt_probability(w: np.ndarray) -> np.ndarray:
    """Vectorised sigma(w) for numpy arrays (Python side)."""
    w = np.asarray(w, dtype=np.float64)
    out = np.empty_like(w)
    pos = w >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-w[pos]))
    e = np.exp(w[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sign_agreement(w: np.ndarray, target: np.ndarray) -> float:
    """Mean of score_i = 1[sign(w_i) = sign(target_i)], with score_i = 1/2 when w_i = 0 or
    target_i = 0 (the expected score of a fair coin): the pairwise accuracy of margins w
    against target signs. NaN for no entries."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape[0] == 0:
        return math.nan
    pred = np.sign(w)
    tgt = np.sign(np.asarray(target, dtype=np.float64))
    score = np.where((pred == 0) | (tgt == 0), 0.5, (pred == tgt).astype(np.float64))
    return float(score.mean())


def pair_log_loss_accuracy(Z: np.ndarray, y: np.ndarray, theta: np.ndarray
                           ) -> tuple[float, float]:
    """(mean Bradley-Terry log loss, pairwise accuracy) of theta on labelled pairs (Z, y).

    With w_i = z_i' theta:

        loss = (1/n) sum_i [log(1 + e^{w_i}) - y_i w_i]            (softplus(w) - y w)
        acc  = (1/n) sum_i [1[sign(w_i) = 2 y_i - 1] if w_i != 0 else 1/2]

    so theta = 0 scores exactly log 2 and 1/2 (`sign_agreement`). NaN, NaN for no pairs.
    This is the one held-out loss and accuracy of the project (synthetic and real data).
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if Z.shape[0] == 0:
        return math.nan, math.nan
    w = Z @ theta
    loss = float(np.mean(np.logaddexp(0.0, w) - y * w))
    return loss, sign_agreement(w, np.where(y == 1.0, 1.0, -1.0))
