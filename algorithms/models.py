"""Reward models written against the open protocol (`algorithms.protocol`), as a researcher
would write their own: the one-pass OMD of Algorithm 1 and one-pass SGD.

`OMD_MODEL` performs the same arithmetic as the built-in one-pass OMD (`algorithms.omd`) and
gives the same iterates bit for bit; it is the template to copy for a new estimator, and the
timing spec measures its speed against the built-in code path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import dsigmoid, sigmoid

from .linalg import dot, rank_one_update
from .omd import omd_update
from .protocol import RewardModel, state_estimate, state_inverse, state_matrix


def _omd_init(d: int, T: int, params: np.ndarray) -> tuple:
    lam = params[1]
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d), np.empty(d), np.empty((d, d)))


@njit(cache=True)
def _omd_update(state, z, y, t, params, counters):
    theta, Hinv, H, u, Mbuf = state
    project = params[3] != 0.0
    B = params[2] if project else np.inf
    if omd_update(theta, Hinv, z, y, params[0], B, project, u, Mbuf):
        counters[2] += 1
    # the loop `dot`, as the built-in path: a BLAS ddot may sum in another order (it does
    # with AVX-512), and the copy must give the built-in bits on every machine
    rank_one_update(H, z, dsigmoid(dot(z, theta)))


OMD_MODEL = RewardModel("omd-protocol", _omd_init, _omd_update, state_estimate, state_inverse,
                        state_matrix,
                        matrix_name="Hcal", projects=True)
"""One-pass OMD (Algorithm 1) through the protocol: params (eta, lam, B, project); state
(theta, Hcal^{-1}, Hcal, work vector, work matrix)."""


def _sgd_init(d: int, T: int, params: np.ndarray) -> tuple:
    lam = params[1]
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d), np.empty(d))


@njit(cache=True)
def _sgd_update(state, z, y, t, params, counters):
    theta, Vinv, V, u = state
    lr = params[0] / math.sqrt(t)
    c = sigmoid(np.dot(z, theta)) - y
    for j in range(theta.shape[0]):
        theta[j] -= lr * c * z[j]
    if params[3] != 0.0:
        nrm = math.sqrt(np.dot(theta, theta))
        if nrm > params[2]:
            theta *= params[2] / nrm
            counters[2] += 1
    # the unweighted design matrix V_t and its inverse (Sherman-Morrison), as widths
    d = theta.shape[0]
    for j in range(d):
        acc = 0.0
        for k in range(d):
            acc += Vinv[j, k] * z[k]
        u[j] = acc
    q = np.dot(z, u)
    rank_one_update(Vinv, u, -1.0 / (1.0 + q))
    rank_one_update(V, z, 1.0)


SGD_MODEL = RewardModel("sgd-protocol", _sgd_init, _sgd_update, state_estimate, state_inverse,
                        state_matrix,
                        matrix_name="V", projects=True)
"""Projected one-pass SGD with step eta / sqrt(t) (params (eta, lam, B, project)); its
confidence matrix is the unweighted V_t = lambda I + sum z z'."""

__all__ = ["OMD_MODEL", "SGD_MODEL"]
