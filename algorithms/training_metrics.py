"""Checkpoint metrics of training runs: computed after the learner, from its saved state.

These functions read theta* (they are the environment's side of the comparison): the
suboptimality of the output policy, estimation errors, coverage of the confidence set, the
instance bounds and the held-out evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.core.links import pair_log_loss_accuracy, sign_agreement
from sim.core.seeding import CRN_STREAMS, SeedLike, spawn_streams
from sim.environment import PreferenceEnv
from sim.feedback import bt_labels, context_cdf
from sim.queries import pair_differences, uniform_pairs

from .confidence import Radius

if TYPE_CHECKING:
    from .training_runners import LearnerOutput, RunConfig

EVAL_STREAM = "eval"
"""Name of the held-out evaluation stream, spawned after the common-random-number streams."""


@dataclass(frozen=True)
class EvalSet:
    """Held-out pairs: feature differences Z (n, d), labels y (n,) and true margins Z theta*."""

    Z: np.ndarray
    y: np.ndarray
    margin_true: np.ndarray


def draw_eval_set(env: PreferenceEnv, seed: SeedLike, n: int) -> EvalSet:
    """n fresh uniform pairs with Bradley-Terry labels, from the stream "eval" of
    spawn_streams(seed, CRN_STREAMS + ("eval",)): context uniforms, arm uniforms, then label
    uniforms, in this order. The training streams are untouched."""
    rng = spawn_streams(seed, (*CRN_STREAMS, EVAL_STREAM))[EVAL_STREAM]
    context_u = rng.random(n)
    arm_u = rng.random((n, 2))
    label_u = rng.random(n)
    x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, context_u, arm_u)
    y = bt_labels(env.phi, env.theta_star, x, a, a2, label_u, env.link_code)
    Z = pair_differences(env.phi, x, a, a2)
    return EvalSet(Z, y.astype(np.float64), Z @ env.theta_star)


def eval_metrics(ev: EvalSet | None, theta: np.ndarray) -> tuple[float, float, float]:
    """(mean BT log loss, agreement of sign(z'theta) with the label, agreement of sign(z'theta)
    with sign(z'theta*)) on the held-out pairs (`sim.core.links.pair_log_loss_accuracy` and
    `sign_agreement`: a zero margin on either side counts 1/2); NaN without an evaluation
    set."""
    if ev is None or ev.y.shape[0] == 0:
        return math.nan, math.nan, math.nan
    loss, acc = pair_log_loss_accuracy(ev.Z, ev.y, theta)
    return loss, acc, sign_agreement(ev.Z @ theta, ev.margin_true)


def metric_norm(e: np.ndarray, Ainv_metric: np.ndarray) -> float:
    """||e||_M for M = A^{-1}, given A: sqrt(e' A^{-1} e) by a solve."""
    return math.sqrt(max(float(e @ np.linalg.solve(Ainv_metric, e)), 0.0))


def inverse_norm(e: np.ndarray, A: np.ndarray) -> float:
    """||e||_A = sqrt(e' A e)."""
    return math.sqrt(max(float(e @ A @ e), 0.0))


def unweighted_designs(Z: np.ndarray, checkpoints: np.ndarray, lam: float) -> np.ndarray:
    """V_t = lambda I + sum_{i <= t} z_i z_i' at each checkpoint t, shape (n, d, d)."""
    d = Z.shape[1]
    V = lam * np.eye(d)
    out = np.empty((checkpoints.shape[0], d, d))
    start = 0
    for k, t in enumerate(checkpoints):
        seg = Z[start:t]
        V = V + seg.T @ seg
        out[k] = V
        start = t
    return out


def checkpoint_records(algorithm: str, stage: str, env: PreferenceEnv, cfg: RunConfig,
                       out: LearnerOutput, ev: EvalSet | None) -> pd.DataFrame:
    """One row of metrics per checkpoint of a run (`algorithms.training` documents the
    columns), from the runner's `LearnerOutput` and its `RunConfig`."""
    theta_star = env.theta_star
    c = cfg.constants
    ts = cfg.checkpoints
    beta_th = np.atleast_1d(Radius("theory", cfg.radius.delta).beta(
        ts + 1.0, d=env.d, eta=c.eta, lam=c.lam, L=env.L, B=env.B))
    beta_pr = np.atleast_1d(Radius("practical", cfg.radius.delta, cfg.radius.c_beta).beta(
        ts + 1.0, d=env.d, eta=c.eta, lam=c.lam, L=env.L, B=env.B))
    x, a, a2, _ = out.queries
    Vs = unweighted_designs(pair_differences(env.phi, x, a, a2), ts, c.lam)
    pi_star_gap = None
    if out.passive_bound:
        pi_star = env.optimal_arms()
        pi_star_gap = env.mean_feature(pi_star) - cfg.v
    # the label noise caps eval_acc: theta* itself reaches only this on the same pairs
    acc_bayes = eval_metrics(ev, theta_star)[1]
    rows = []
    for k, t in enumerate(ts):
        theta = out.thetas[k]
        e = theta - theta_star
        beta = float(out.betas[k])
        err_conf = math.nan
        inside: bool | pd.api.typing.NAType = pd.NA
        if out.conf_inv is not None and out.conf_thetas is not None:
            err_conf = metric_norm(out.conf_thetas[k] - theta_star, out.conf_inv[k])
            if math.isfinite(beta):
                inside = bool(err_conf <= beta)
        if pi_star_gap is not None and out.conf_inv is not None:
            bound = 2.0 * beta * inverse_norm(pi_star_gap, out.conf_inv[k])
        elif out.active_bound is not None:
            bound = float(out.active_bound[k])
        else:
            bound = math.nan
        loss, acc, acc_true = eval_metrics(ev, theta)
        rows.append(dict(
            algorithm=algorithm, stage=stage, t=int(t),
            subopt=env.suboptimality(out.policies[k]),
            err_l2=float(np.linalg.norm(e)), err_hcal=err_conf,
            err_v=math.sqrt(max(float(e @ Vs[k] @ e), 0.0)),
            beta_theory=float(beta_th[k]), beta_practical=float(beta_pr[k]), beta=beta,
            instance_bound=bound, eval_loss=loss, eval_acc=acc, eval_acc_true=acc_true,
            eval_acc_bayes=acc_bayes,
            in_confidence_set=inside,
            fw_gap=math.nan if out.fw_gaps is None else float(out.fw_gaps[k]),
            wall_time=float(out.seconds[k]), output_time=float(out.output_seconds[k])))
    df = pd.DataFrame(rows)
    df["in_confidence_set"] = df["in_confidence_set"].astype("boolean")
    return df
