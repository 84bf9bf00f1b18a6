"""Deliberately broken and valid variants of the paper's algorithms, for the power of the
checks.

Every variant is an algorithm written the way a researcher would write one (through the open
protocol: a `RewardModel` of numba kernels, a `SelectionRule`, or an accounting step that
post-processes what the run reports), so the checks judge it only by what it outputs on the
environments, never by comparison with the project's own implementation.

Harmful variants (each a realistic defect; the checks must catch them):

    grad-sign          estimator update   the gradient's sign flipped: theta moves along +g
    label-flip         label model        the update reads 1 - y for y
    skip-projection    estimator update   step 3 of Algorithm 1 skipped while the model
                                          claims its estimate stays in the B-ball
    stale-inverse      estimator update   Hcal^{-1} downdated with sigma' at the old point
                                          while Hcal uses the new one: the inverse drifts
    tiny-step          estimator update   the step constant divided by 100 (a units bug):
                                          learning slows by a constant factor
    radius-x0.1        confidence radius  the confidence set ten times too small
    radius-x10         confidence radius  the confidence set ten times too large
    random-pairs       selection rule     an "active" learner that queries uniform pairs
    same-arm           selection rule     deployment shows the greedy arm twice (z_t = 0)
    regret-x2          accounting         each round's regret counted twice
    subopt-per-sample  accounting         SubOpt reported divided by the number of samples

Valid variants (the checks must pass them):

    omd-protocol       the one-pass OMD through the protocol (`algorithms.models.OMD_MODEL`)
    omd-eta-half       one-pass OMD with half the step constant (another valid step size)
    ties-high          Algorithm 4's rule breaking ties towards the highest arm index
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from algorithms.linalg import project_ball_inverse_metric
from algorithms.models import OMD_MODEL
from algorithms.protocol import RewardModel, state_estimate, state_inverse, state_matrix
from algorithms.registry import Algorithm, SelectionRule
from sim.core.links import dsigmoid, sigmoid

# defect flags in the parameter vector of the template model: params[4:]
GRAD_SIGN, LABEL_FLIP, SKIP_PROJECTION, STALE_INVERSE = 4, 5, 6, 7
N_PARAMS = 8


def _template_init(d: int, T: int, params: np.ndarray) -> tuple:
    lam = params[1]
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d), np.empty(d), np.empty((d, d)),
            np.empty(d))


@njit(cache=True)
def _template_update(state, z, y, t, params, counters):
    """Algorithm 1 with optional defects (flags in params[4:], 0 = off)."""
    theta, Hinv, H, u, M, tmp = state
    eta = params[0]
    d = theta.shape[0]
    yy = 1.0 - y if params[LABEL_FLIP] != 0.0 else y
    w = np.dot(z, theta)
    s = dsigmoid(w)
    c = sigmoid(w) - yy
    if params[GRAD_SIGN] != 0.0:
        c = -c
    for i in range(d):
        acc = 0.0
        for j in range(d):
            acc += Hinv[i, j] * z[j]
        u[i] = acc
    q = np.dot(z, u)
    denom = 1.0 + eta * s * q
    step = eta * c / denom
    for i in range(d):
        theta[i] -= step * u[i]
    if params[3] != 0.0 and params[SKIP_PROJECTION] == 0.0:
        nrm = math.sqrt(np.dot(theta, theta))
        if nrm > params[2]:
            M[:, :] = Hinv
            for i in range(d):
                for j in range(d):
                    M[i, j] -= eta * s / denom * u[i] * u[j]
            tmp[:] = theta
            project_ball_inverse_metric(tmp, M, params[2], theta)
            counters[2] += 1
    s_new = dsigmoid(np.dot(z, theta))
    s_inv = s if params[STALE_INVERSE] != 0.0 else s_new
    cinv = s_inv / (1.0 + s_inv * q)
    for i in range(d):
        for j in range(d):
            Hinv[i, j] -= cinv * u[i] * u[j]
            H[i, j] += s_new * z[i] * z[j]


def template_model(name: str, *, eta_scale: float = 1.0, **defects: bool) -> RewardModel:
    """A one-pass OMD model (Algorithm 1) with the named defects switched on."""
    flags = np.zeros(N_PARAMS - 4)
    for key, on in defects.items():
        idx = {"grad_sign": GRAD_SIGN, "label_flip": LABEL_FLIP,
               "skip_projection": SKIP_PROJECTION, "stale_inverse": STALE_INVERSE}[key] - 4
        flags[idx] = 1.0 if on else 0.0

    def params(eta: float, lam: float, B: float, L: float, project: bool) -> np.ndarray:
        return np.concatenate([[eta * eta_scale, lam, B, 1.0 if project else 0.0], flags])

    return RewardModel(name, _template_init, _template_update, state_estimate, state_inverse,
                       state_matrix,
                       params=params, matrix_name="Hcal", projects=True)


# ------------------------------------------------------------------------ selection rules


@njit(cache=True)
def _same_arm(phi_x, theta, Minv, beta, u):
    a = int(np.argmax(phi_x @ theta))
    return a, a


@njit(cache=True)
def _algorithm4_ties_high(phi_x, theta, Minv, beta, u):
    """Algorithm 4's pair with ties broken towards the highest index."""
    K = phi_x.shape[0]
    scores = phi_x @ theta
    a = 0
    for k in range(K):
        if scores[k] >= scores[a]:
            a = k
    best = -np.inf
    a2 = 0
    for k in range(K):
        diff = phi_x[k] - phi_x[a]
        width = math.sqrt(max(np.dot(diff, Minv @ diff), 0.0))
        val = scores[k] + 2.0 * beta * width
        if val >= best:
            best = val
            a2 = k
    return a, a2


# ------------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One variant of the power suite.

    stages: the stages it is run in ("passive", "active", "deployment"); for each, `algorithm`
    gives the Algorithm run there. radius_scale multiplies the (calibrated) radius the run is
    given (a radius defect); report transforms what the run reports (an accounting defect).
    """

    name: str
    harmful: bool
    area: str
    defect: str
    algorithms: dict[str, Algorithm]
    radius_scale: float = 1.0
    report: Callable | None = None
    report_stage: str = ""
    options: dict = field(default_factory=dict)

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(self.algorithms)


def _stages(name: str, model: RewardModel, stages=("passive", "active", "deployment")
            ) -> dict[str, Algorithm]:
    make = {"passive": lambda: Algorithm(f"{name}-passive", "passive", "behaviour", model,
                                         "pessimistic"),
            "active": lambda: Algorithm(f"{name}-active", "active", "max-norm", model,
                                        "average"),
            "deployment": lambda: Algorithm(f"{name}-deployment", "deployment", "algorithm4",
                                            model, "greedy")}
    return {s: make[s]() for s in stages}


def regret_twice(records, rounds):
    """Accounting defect: each round's regret counted twice."""
    records = records.copy()
    for col in ("regret", "regret_weak", "regret_strong"):
        records[col] = 2.0 * records[col]
    if rounds is not None:
        rounds = rounds.copy()
        rounds["regret"] = 2.0 * rounds["regret"]
    return records, rounds


def subopt_per_sample(records, rounds):
    """Accounting defect: SubOpt divided by the number of samples."""
    records = records.copy()
    records["subopt"] = records["subopt"] / records["t"]
    return records, rounds


def variants() -> list[Variant]:
    """Every variant of the power suite, harmful first."""
    copy = OMD_MODEL
    out = [
        Variant("grad-sign", True, "estimator update", "gradient sign flipped",
                _stages("grad-sign", template_model("grad-sign", grad_sign=True))),
        Variant("label-flip", True, "label model", "the update reads 1 - y",
                _stages("label-flip", template_model("label-flip", label_flip=True))),
        Variant("skip-projection", True, "estimator update",
                "projection skipped, the ball still claimed",
                _stages("skip-projection", template_model("skip-projection",
                                                          skip_projection=True))),
        Variant("stale-inverse", True, "estimator update",
                "inverse downdated at the old point, matrix at the new one",
                _stages("stale-inverse", template_model("stale-inverse", stale_inverse=True))),
        Variant("tiny-step", True, "estimator update", "step constant / 100",
                _stages("tiny-step", template_model("tiny-step", eta_scale=0.01))),
        Variant("radius-x0.1", True, "confidence radius", "radius ten times too small",
                _stages("radius-x0.1", copy), radius_scale=0.1),
        Variant("radius-x10", True, "confidence radius", "radius ten times too large",
                _stages("radius-x10", copy), radius_scale=10.0),
        Variant("random-pairs", True, "selection rule",
                "an active learner that queries uniform pairs",
                {"active": Algorithm("random-pairs-active", "active", "uniform", copy,
                                     "average")}),
        Variant("same-arm", True, "selection rule", "the greedy arm shown twice",
                {"deployment": Algorithm("same-arm-deployment", "deployment",
                                         SelectionRule("same-arm", _same_arm), copy, "greedy")}),
        Variant("regret-x2", True, "accounting", "regret counted twice",
                _stages("regret-x2", copy, ("deployment",)), report=regret_twice,
                report_stage="deployment"),
        Variant("subopt-per-sample", True, "accounting", "SubOpt divided by the samples",
                _stages("subopt-per-sample", copy, ("passive",)), report=subopt_per_sample,
                report_stage="passive"),
        Variant("omd-protocol", False, "valid", "one-pass OMD through the protocol",
                _stages("omd-protocol", copy)),
        Variant("omd-eta-half", False, "valid", "half the step constant",
                _stages("omd-eta-half", template_model("omd-eta-half", eta_scale=0.5))),
        Variant("ties-high", False, "valid", "Algorithm 4's rule, ties to the highest index",
                {"deployment": Algorithm("ties-high-deployment", "deployment",
                                         SelectionRule("ties-high", _algorithm4_ties_high),
                                         copy, "greedy")}),
    ]
    return out


__all__ = ["Variant", "template_model", "variants"]
