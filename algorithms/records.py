"""The records schema, as code, and the one result type of both stages.

Every run of every algorithm returns a `RunResult` whose `records` table has one row per
checkpoint (training) or per round or checkpoint (deployment), with the columns below in this
order and with these dtypes (`conform` enforces them, so they survive Parquet unchanged).
The configuration of the run (algorithm, stage, selector, model, output, constants, radius,
seed, options) is recorded once per row, by `conform`, from the run's config: no other code
writes these columns.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


class Column(NamedTuple):
    """A records column: name, pandas dtype and meaning."""

    name: str
    dtype: str
    meaning: str


CONFIG_COLUMNS: tuple[Column, ...] = (
    Column("algorithm", "str", "registered algorithm name"),
    Column("stage", "str", "passive, active or deployment"),
    Column("selector", "str", "query or pair selection rule (registry)"),
    Column("reward_model", "str", "reward model (omd, mle, sgd or a user model's name)"),
    Column("output", "str", "output rule (registry)"),
    Column("confidence_matrix", "str", "matrix M_t of the confidence set (Hcal, V, W, ...)"),
    Column("constants", "str", "practical, theory or given (eta and lambda)"),
    Column("eta", "float64", "OMD step constant eta of the run"),
    Column("lam", "float64", "regularisation lambda of the run"),
    Column("radius", "str", "kind of the confidence radius beta_t"),
    Column("delta", "float64", "failure probability of the confidence set"),
    Column("c_beta", "float64", "scale of the practical radius"),
    Column("seed", "int64", "the run's seed (-1 when given as a SeedSequence: see seed_key)"),
    Column("seed_key", "str", "entropy/spawn key of a SeedSequence seed ('' for an int seed)"),
    Column("T", "int64", "samples (training) or rounds (deployment) of the run"),
    Column("env", "str", "environment name"),
    Column("options", "str", "every option of the run, resolved, as sorted JSON"),
)
"""Columns that describe the run, identical on every row of a run."""

TRAINING_COLUMNS: tuple[Column, ...] = (
    Column("t", "int64", "samples seen at this checkpoint"),
    Column("subopt", "float64", "exact SubOpt of the output policy"),
    Column("err_l2", "float64", "||theta - theta*||_2 of the estimate behind the output"),
    Column("err_hcal", "float64", "||theta_c - theta*|| in the confidence matrix M_t"),
    Column("err_v", "float64", "||theta - theta*|| in V_t = lambda I + sum z z'"),
    Column("beta_theory", "float64", "OMD radius beta_{t+1}, theory reading"),
    Column("beta_practical", "float64", "OMD radius beta_{t+1}, practical form"),
    Column("beta", "float64", "radius of the algorithm's own confidence set"),
    Column("instance_bound", "float64", "instance bound of the output (NaN where none)"),
    Column("eval_loss", "float64", "held-out mean BT log loss"),
    Column("eval_acc", "float64", "held-out agreement with the labels"),
    Column("eval_acc_true", "float64", "held-out agreement with sign(z' theta*)"),
    Column("eval_acc_bayes", "float64",
           "held-out agreement of theta* itself with the labels: the ceiling of eval_acc"),
    Column("in_confidence_set", "boolean", "err_hcal <= beta (NA without a confidence set)"),
    Column("fw_gap", "float64", "Frank-Wolfe duality gap of a pessimistic output"),
    Column("wall_time", "float64", "cumulative seconds of the learner's updates"),
    Column("output_time", "float64", "seconds to compute the output policy"),
    Column("reference", "str", "reference vector v of the pessimistic objective"),
    Column("behaviour", "str", "source of the queries"),
)

DEPLOYMENT_COLUMNS: tuple[Column, ...] = (
    Column("t", "int64", "round"),
    Column("regret", "float64", "cumulative average-form regret"),
    Column("regret_weak", "float64", "cumulative weak regret"),
    Column("regret_strong", "float64", "cumulative strong regret"),
    Column("err_l2", "float64", "||theta_t - theta*||_2"),
    Column("err_hcal", "float64", "||theta_t - theta*||_{M_t}"),
    Column("beta", "float64", "beta_t"),
    Column("in_confidence_set", "bool", "theta* in C_s for all s <= t"),
    Column("instance_bound", "float64", "cumulative instance bound (NaN where none)"),
    Column("same_arm_rounds", "int64", "rounds s <= t with a'_s = a_s"),
    Column("wall_time", "float64", "seconds of loop time up to round t"),
    Column("wall_time_measured", "bool", "wall_time measured (not interpolated) at t"),
    Column("project", "bool", "the estimate is kept in the B-ball"),
)


def schema(stage: str) -> tuple[Column, ...]:
    """All columns of a stage's records, in order: the metrics, then the config columns."""
    metrics = DEPLOYMENT_COLUMNS if stage == "deployment" else TRAINING_COLUMNS
    return (CONFIG_COLUMNS[0], *metrics, *CONFIG_COLUMNS[1:])


def seed_fields(seed: Any) -> tuple[int, str]:
    """(seed, seed_key) columns of a seed: an int, or a SeedSequence recorded by its key."""
    if isinstance(seed, np.random.SeedSequence):
        key = str(seed.entropy) + ("/" + "/".join(map(str, seed.spawn_key))
                                   if seed.spawn_key else "")
        return -1, key
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return int(seed), ""
    return -1, str(seed)


def options_json(options: dict) -> str:
    """Canonical JSON of resolved options (sorted keys; arrays as lists, other objects by repr)."""
    def plain(v: Any) -> Any:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            return float(v)
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, np.ndarray):
            return {"array_shape": list(v.shape), "sha": _array_digest(v)}
        return repr(v)
    return json.dumps({k: plain(v) for k, v in sorted(options.items())}, sort_keys=True)


def _array_digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def conform(df: pd.DataFrame, stage: str, config: dict) -> pd.DataFrame:
    """The records of one run in the schema of its stage: config columns filled from `config`
    (keys as the column names), columns ordered, dtypes set. ValueError for a missing metric."""
    out = df.copy()
    for col in CONFIG_COLUMNS:
        if col.name in config:
            out[col.name] = config[col.name]
    cols = schema(stage)
    missing = [c.name for c in cols if c.name not in out.columns]
    if missing:
        raise ValueError(f"{stage} records lack column(s) {', '.join(missing)}")
    extra = [c for c in out.columns if c not in {k.name for k in cols}]
    out = out[[c.name for c in cols] + extra]
    return out.astype({c.name: c.dtype for c in cols})


@dataclass(frozen=True, eq=False)
class RunResult:
    """What one run of any algorithm produced.

    records: the tidy table (`schema(stage)`); theta: the final estimate behind the output;
    config: everything that determines the run; counters: Newton iterations, unconverged
    refits, active projections; policy (training): the final output policy, (n_x,) arms or
    (n_x, K) probabilities; queries (training): (x, a, a2, y) of the T rounds; rounds
    (deployment, every round recorded): the per-round trace; theta_path (deployment with
    keep_path=True): (T + 1, d) iterates; info: per-algorithm extras (widths, pool size, ...).
    """

    algorithm: str
    stage: str
    records: pd.DataFrame
    theta: np.ndarray
    config: dict
    counters: dict = field(default_factory=dict)
    policy: np.ndarray | None = None
    queries: tuple | None = None
    rounds: pd.DataFrame | None = None
    theta_path: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def instance_bound_check(self, constant: float | None = None):
        """Deployment: regret_t <= constant beta_t ||z_t|| on every round with theta* in C_t
        (`algorithms.regret.instance_bound_violations`; needs the per-round trace)."""
        from .regret import INSTANCE_BOUND_CONSTANT, instance_bound_violations

        if self.stage != "deployment":
            raise ValueError("the per-round instance bound check is a deployment-stage check")
        if self.rounds is None:
            raise ValueError("the per-round trace is kept only when checkpoints=None")
        r = self.rounds
        return instance_bound_violations(
            r["regret"], r["beta"], r["width"], r["in_set"],
            constant=INSTANCE_BOUND_CONSTANT if constant is None else constant)


__all__ = ["CONFIG_COLUMNS", "Column", "DEPLOYMENT_COLUMNS", "RunResult", "TRAINING_COLUMNS",
           "conform", "options_json", "schema", "seed_fields"]
