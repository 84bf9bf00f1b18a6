"""Public functional API of the reward-model estimators (ALGORITHMS.md section 2).

Every function takes Z, a (T, d) array of feature differences z_t = phi(x_t, a_t) -
phi(x_t, a'_t), and y, a (T,) array of labels in {0, 1} (1: the first arm preferred), and
returns float64 arrays. `*_path` functions return the (T+1, d) iterates theta_1 = 0, ...,
theta_{T+1}.

    omd_path           one-pass OMD, the paper's Algorithm 1 (project=False: practical version)
    mle                regularised MLE, optionally constrained to the B-ball
    mle_path           MLE refit after every observation (refit="lazy": labelled shortcut)
    implicit_omd_path  implicit OMD (ECOLog-style)
    sgd_path           one-pass SGD on the log loss
    cg_omd_path        the practical CG + Hessian-vector-product update (Algorithm 5)
"""

from collections.abc import Callable

import numpy as np

from .constants import OMDConstants, practical_constants, theory_constants
from .first_order import cg_omd_path, sgd_path
from .implicit_omd import implicit_omd_path
from .mle import mle, mle_path
from .omd import OnePassOMD, omd_path

ESTIMATORS: dict[str, Callable[..., np.ndarray]] = {
    "omd": omd_path,
    "mle": mle_path,
    "implicit_omd": implicit_omd_path,
    "sgd": sgd_path,
    "cg_omd": cg_omd_path,
}


def estimator_path(name: str, Z, y, **params) -> np.ndarray:
    """Dispatch to a registered `*_path` estimator by name (see ESTIMATORS)."""
    try:
        fn = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}") from None
    return fn(Z, y, **params)


__all__ = [
    "ESTIMATORS", "OMDConstants", "OnePassOMD", "cg_omd_path", "estimator_path",
    "implicit_omd_path", "mle", "mle_path", "omd_path", "practical_constants", "sgd_path",
    "theory_constants",
]
