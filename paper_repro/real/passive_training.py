"""Passive one-pass training over real labelled pairs (ALGORITHMS.md 3.1 and 5, the paper's
Fig. 2): the reward model sees the training pairs once, in a seeded random order.

Methods (`PASSIVE_METHODS`):

    sgd   one-pass SGD on the log loss, theta <- theta - lr ((sigma(z'theta) - y) z + lam_sgd theta)
          (`algorithms.passive.sgd_checkpoints`): what the paper's released code calls "MLE"
    mle   the full regularised MLE argmin sum_{i<=t} l_i + (lam/2)||theta||^2, refit by
          warm-started Newton at the checkpoints only (`algorithms.passive.mle_checkpoints`)
    omd   one-pass OMD, the paper's Algorithm 1 (`algorithms.passive.omd_checkpoints`),
          practical version (no projection) unless B is given; the last iterate theta_{t+1}
          is evaluated

These are the passive learners of the synthetic stage, run on the real pairs. At log-spaced
checkpoints t: train loss and accuracy of the current estimate on the first t training pairs
(the pairs seen so far), eval loss and accuracy on all held-out pairs
(`sim.core.links.pair_log_loss_accuracy`), and the learner's cumulative wall time (metrics
excluded; for "mle" the time of the checkpoint refits, not of a refit after every pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.passive import mle_checkpoints, omd_checkpoints, sgd_checkpoints
from sim.core.checkpoints import log_checkpoints
from sim.core.links import pair_log_loss_accuracy

PASSIVE_METHODS: tuple[str, ...] = ("sgd", "mle", "omd")
"""Methods of `passive_curves`."""

METHOD_LABELS: dict[str, str] = {"sgd": "SGD (the released code's \"MLE\")", "mle": "full MLE",
                                 "omd": "one-pass OMD"}
"""Legend label of each method."""


@dataclass(frozen=True)
class PassiveSettings:
    """Step sizes and regularisers of the passive methods."""

    eta: float
    """OMD step size (practical constants: (1/2) log 2 + B L + 1)."""
    lam: float
    """OMD Hcal_1 = lam I, and the MLE's ridge (practical constants: 4 L^2)."""
    sgd_lr: float = 1.0
    """SGD constant step size."""
    sgd_lam: float = 0.0
    """SGD weight decay."""
    B: float | None = None
    """None: practical OMD (no projection) and unconstrained MLE; a number: both on the B-ball."""

    def __post_init__(self) -> None:
        for name in ("eta", "lam", "sgd_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.sgd_lam) and self.sgd_lam >= 0):
            raise ValueError(f"sgd_lam must be finite and >= 0, got {self.sgd_lam!r}")
        if self.B is not None and not (math.isfinite(self.B) and self.B > 0):
            raise ValueError(f"B must be None or finite and > 0, got {self.B!r}")


def _check_pairs(name: str, Z, y, d: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] == 0 or Z.shape[1] == 0:
        raise ValueError(f"{name} pairs must be a non-empty (n, d) array, got shape {Z.shape}")
    if y.shape != (Z.shape[0],):
        raise ValueError(f"{name} labels must have shape ({Z.shape[0]},), got {y.shape}")
    if d is not None and Z.shape[1] != d:
        raise ValueError(f"{name} pairs have d = {Z.shape[1]}, the training pairs d = {d}")
    if not np.all(np.isfinite(Z)):
        raise ValueError(f"{name} pairs have non-finite entries")
    if not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError(f"{name} labels must be 0 or 1")
    return Z, y


def warm_up(d: int, settings: PassiveSettings) -> None:
    """Load (or compile) the learners on two pairs, so that timings exclude compilation."""
    Z, y = np.eye(2, d), np.array([1.0, 0.0])
    _estimates(Z, y, settings, "omd", np.array([2]))
    _estimates(Z, y, settings, "sgd", np.array([2]))
    _estimates(Z, y, settings, "mle", np.array([2]))


def _estimates(Z: np.ndarray, y: np.ndarray, settings: PassiveSettings, method: str,
               ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    B = math.inf if settings.B is None else float(settings.B)
    if method == "omd":
        thetas, _, seconds = omd_checkpoints(Z, y, ts, eta=settings.eta, lam=settings.lam, B=B,
                                             project=settings.B is not None)
    elif method == "sgd":
        thetas, seconds = sgd_checkpoints(Z, y, ts, lr=settings.sgd_lr, inv_sqrt=False, B=B,
                                          weight_decay=settings.sgd_lam)
    else:
        thetas, _, seconds, _ = mle_checkpoints(Z, y, ts, lam=settings.lam, B=B, design=False)
    return thetas, seconds


def passive_estimates(Z, y, settings: PassiveSettings, method: str, checkpoints: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(thetas (n, d), cumulative learner seconds (n,)) of one method after the first t pairs
    of (Z, y), for each t of the increasing `checkpoints`: the synthetic stage's passive
    learners (`algorithms.passive`); the one-pass methods run segment by segment from one
    checkpoint to the next (the same arithmetic as one run over all pairs), the MLE is refit
    at each checkpoint, warm-started from the previous one."""
    if method not in PASSIVE_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(PASSIVE_METHODS)}")
    Z, y = _check_pairs("training", Z, y)
    ts = np.asarray(checkpoints, dtype=np.int64)
    if ts.ndim != 1 or ts.size == 0 or ts[0] < 1 or ts[-1] > Z.shape[0] or np.any(np.diff(ts) <= 0):
        raise ValueError(f"checkpoints must increase within 1..{Z.shape[0]}, got {checkpoints!r}")
    warm_up(Z.shape[1], settings)
    return _estimates(Z, y, settings, method, ts)


def passive_curves(Z, y, Z_eval, y_eval, settings: PassiveSettings, *,
                   checkpoints: int = 15, methods: tuple[str, ...] = PASSIVE_METHODS
                   ) -> pd.DataFrame:
    """One pass over the training pairs (Z, y) in their given order by each method; one row per
    (method, checkpoint) with columns method, t, train_loss, train_acc, eval_loss, eval_acc,
    wall_time, theta_norm (see the module docstring)."""
    Z, y = _check_pairs("training", Z, y)
    Z_eval, y_eval = _check_pairs("eval", Z_eval, y_eval, Z.shape[1])
    unknown = [m for m in methods if m not in PASSIVE_METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be among {', '.join(PASSIVE_METHODS)}, got {methods!r}")
    ts = log_checkpoints(Z.shape[0], checkpoints)
    rows = []
    for method in methods:
        thetas, seconds = passive_estimates(Z, y, settings, method, ts)
        for t, theta, sec in zip(ts, thetas, seconds):
            t = int(t)
            train_loss, train_acc = pair_log_loss_accuracy(Z[:t], y[:t], theta)
            eval_loss, eval_acc = pair_log_loss_accuracy(Z_eval, y_eval, theta)
            rows.append(dict(method=method, t=t, train_loss=train_loss, train_acc=train_acc,
                             eval_loss=eval_loss, eval_acc=eval_acc, wall_time=float(sec),
                             theta_norm=float(np.linalg.norm(theta))))
    return pd.DataFrame(rows)
