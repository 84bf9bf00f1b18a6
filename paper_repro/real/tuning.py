"""Constants of the passive learners chosen on a validation split, never on the eval split.

Each learner of `passive_training` (one-pass OMD, the full MLE, one-pass SGD) is trained once
on the training pairs without the validation pairs, in a seeded order, for every value of a
small grid; the value with the lowest mean Bradley-Terry log loss on the validation pairs is
kept (a proper scoring rule: accuracy moves in steps of 1/n and ties often); a tie keeps the
first value in grid order. The grids:

    lambda (OMD's Hcal_1 = lambda I; the MLE's ridge)   LAM_GRID
    eta (OMD's step)                                    ETA_FACTORS x the practical eta
                                                        (1/2) log 2 + B L + 1
    SGD's constant step                                 SGD_LR_GRID

(QUICK_* with --quick.) The reported runs then train on all training pairs, validation
included, with the chosen values; the active methods use the values chosen for their reward
model (OMD: eta and lambda; MLE: lambda).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.constants import theory_eta
from sim.core.links import pair_log_loss_accuracy

from .passive_training import PassiveSettings, passive_estimates

LAM_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 4.0, 16.0, 64.0)
ETA_FACTORS: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)
SGD_LR_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
QUICK_LAM_GRID: tuple[float, ...] = (0.1, 1.0, 4.0)
QUICK_ETA_FACTORS: tuple[float, ...] = (1.0,)
QUICK_SGD_LR_GRID: tuple[float, ...] = (0.3, 1.0, 3.0)

RULE = ("lowest mean log loss on the validation pairs (ties: the first value in grid order); "
        "each learner trained once per value on the training pairs without the validation "
        "pairs; the eval pairs are not used")


@dataclass(frozen=True)
class Grid:
    lam: tuple[float, ...]
    eta: tuple[float, ...]
    sgd_lr: tuple[float, ...]

    def points(self, method: str) -> list[dict[str, float]]:
        if method == "omd":
            return [{"eta": e, "lam": lam} for e, lam in itertools.product(self.eta, self.lam)]
        if method == "mle":
            return [{"lam": lam} for lam in self.lam]
        return [{"sgd_lr": lr} for lr in self.sgd_lr]


def default_grid(quick: bool = False, L: float = 1.0, B: float = 2.0) -> Grid:
    """The grids of the module docstring (eta relative to the practical eta of L and B)."""
    eta0 = theory_eta(L, B)
    factors = QUICK_ETA_FACTORS if quick else ETA_FACTORS
    return Grid(QUICK_LAM_GRID if quick else LAM_GRID, tuple(eta0 * f for f in factors),
                QUICK_SGD_LR_GRID if quick else SGD_LR_GRID)


def at_edge(grid: Grid, method: str, settings: PassiveSettings) -> list[str]:
    """The constants of a choice that sit at an end of their grid (a wider grid might do
    better there), e.g. ['lambda = 64 (the largest)']."""
    values = {"omd": (("eta", grid.eta, settings.eta), ("lambda", grid.lam, settings.lam)),
              "mle": (("lambda", grid.lam, settings.lam),),
              "sgd": (("step", grid.sgd_lr, settings.sgd_lr),)}[method]
    out = []
    for name, axis, v in values:
        if len(axis) > 1 and v in (min(axis), max(axis)):
            out.append(f"{name} = {v:.3g} (the {'largest' if v == max(axis) else 'smallest'})")
    return out


def settings_of(method: str, point: dict[str, float]) -> PassiveSettings:
    """The PassiveSettings of one grid point (values a method does not read are set to 1)."""
    return PassiveSettings(eta=point.get("eta", 1.0), lam=point.get("lam", 1.0),
                           sgd_lr=point.get("sgd_lr", 1.0))


def tune(Z_fit: np.ndarray, y_fit: np.ndarray, Z_val: np.ndarray, y_val: np.ndarray,
         grid: Grid, methods: tuple[str, ...] = ("omd", "mle", "sgd")
         ) -> tuple[dict[str, PassiveSettings], pd.DataFrame]:
    """(chosen settings per method, one row per (method, grid point) with the validation log
    loss and accuracy and a `chosen` flag), by RULE. Z_fit, y_fit in the order of training."""
    T = np.array([Z_fit.shape[0]], dtype=np.int64)
    rows, chosen = [], {}
    for method in methods:
        best, best_loss = None, np.inf
        for point in grid.points(method):
            settings = settings_of(method, point)
            thetas, seconds = passive_estimates(Z_fit, y_fit, settings, method, T)
            loss, acc = pair_log_loss_accuracy(Z_val, y_val, thetas[-1])
            rows.append({"method": method, **point, "validation_loss": loss,
                         "validation_acc": acc, "seconds": float(seconds[-1])})
            if loss < best_loss:
                best, best_loss = point, loss
        assert best is not None
        chosen[method] = settings_of(method, best)
        for row in rows:
            if row["method"] == method:
                row["chosen"] = all(row.get(k) == v for k, v in best.items())
    table = pd.DataFrame(rows)
    for col in ("eta", "lam", "sgd_lr"):
        if col not in table.columns:
            table[col] = np.nan
    return chosen, table[["method", "eta", "lam", "sgd_lr", "validation_loss", "validation_acc",
                          "seconds", "chosen"]]
