"""One conformance suite over every registered deployment algorithm: determinism under a seed,
no access to theta* by the learner, finite outputs, regret in range, and the B-ball."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algorithms.deployment_registry import DEPLOYMENT_ALGORITHMS, run_deployment
from sim import CommonRandomNumbers, PreferenceEnv, log_checkpoints, random_directions_env

NAMES = list(DEPLOYMENT_ALGORITHMS)
T = 150


@pytest.fixture(scope="module")
def env():
    return random_directions_env(8, 5, 3, B=1.5, seed=11)


def metric_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_time"])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_records_and_bits(name, env):
    a = run_deployment(name, env, T, 5, keep_path=True)
    b = run_deployment(name, env, T, 5, keep_path=True)
    pd.testing.assert_frame_equal(metric_columns(a.records), metric_columns(b.records))
    pd.testing.assert_frame_equal(a.rounds, b.rounds)
    assert a.theta.tobytes() == b.theta.tobytes()
    assert a.theta_path.tobytes() == b.theta_path.tobytes()
    c = run_deployment(name, env, T, 6)
    assert not np.array_equal(a.rounds["x"], c.rounds["x"])  # the seed does reach the run


@pytest.mark.parametrize("name", NAMES)
def test_learner_never_reads_theta_star(name, env):
    # Label uniforms 0 and the largest double below 1 give y = 1 and y = 0 whatever the margin
    # (for |margin| < 36), so two environments that differ only in theta* produce the same
    # labels; a learner that reads theta* would then choose differently.
    rng = np.random.default_rng(3)
    crn = CommonRandomNumbers(context_u=rng.random(T),
                              label_u=np.where(rng.random(T) < 0.5, 0.0, 1.0 - 1e-16),
                              arm_u=rng.random((T, 2)))
    other_theta = -0.7 * env.theta_star[::-1]
    env2 = PreferenceEnv(env.phi, env.rho, other_theta, env.L, env.B)
    r1 = run_deployment(name, env, T, 9, crn=crn, keep_path=True)
    r2 = run_deployment(name, env2, T, 9, crn=crn, keep_path=True)
    for col in ("x", "a", "a2", "y"):
        np.testing.assert_array_equal(r1.rounds[col], r2.rounds[col])
    assert r1.theta_path.tobytes() == r2.theta_path.tobytes()
    # ... while the accounting, which does read theta*, differs
    assert not np.allclose(r1.records["err_l2"], r2.records["err_l2"])


@pytest.mark.parametrize("name", NAMES)
def test_outputs_finite_regret_in_range_and_iterates_in_ball(name, env):
    res = run_deployment(name, env, T, 2, keep_path=True)
    rec = res.records
    assert len(rec) == T and (rec["algorithm"] == name).all()
    np.testing.assert_array_equal(rec["t"], np.arange(1, T + 1))
    for col in ("regret", "regret_weak", "regret_strong", "err_l2", "err_hcal", "beta",
                "wall_time"):
        assert np.all(np.isfinite(rec[col])), col
    assert np.all(np.isfinite(res.theta)) and np.all(np.isfinite(res.theta_path))
    r = res.rounds
    gaps = env.reward_gaps()[r["x"]]
    assert np.all(r["regret"] >= 0.0) and np.all(r["regret"] <= gaps)
    assert np.all(r["regret_weak"] <= r["regret"]) and np.all(r["regret"] <= r["regret_strong"])
    assert np.all(r["regret_strong"] <= gaps)
    assert np.all(np.diff(rec["regret"]) >= 0.0)
    assert np.all(np.diff(rec["wall_time"]) >= 0.0)
    # project=True (the default) keeps every iterate in the B-ball
    assert np.linalg.norm(res.theta_path, axis=1).max() <= env.B * (1 + 1e-12)
    if res.config["rule"] == "algorithm4":
        assert np.all(np.isfinite(rec["instance_bound"]))
    else:
        assert rec["instance_bound"].isna().all()


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_records_equal_the_per_round_records_at_those_rounds(name, env):
    full = run_deployment(name, env, T, 4)
    ck = run_deployment(name, env, T, 4, checkpoints=6)
    assert ck.rounds is None
    np.testing.assert_array_equal(ck.records["t"], log_checkpoints(T, 6))
    at = full.records.set_index("t").loc[ck.records["t"]].reset_index()
    cols = ["t", "regret", "regret_weak", "regret_strong", "err_l2", "err_hcal", "beta",
            "in_confidence_set", "instance_bound", "same_arm_rounds"]
    pd.testing.assert_frame_equal(ck.records[cols], at[cols])
    assert ck.theta.tobytes() == full.theta.tobytes()
    assert ck.records["wall_time_measured"].all()


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_rejected_with_the_accepted_ones(name, env):
    with pytest.raises(ValueError, match="does not accept option.*accepted: .*project"):
        run_deployment(name, env, 5, 0, not_an_option=1)


def test_registry_entries_are_runners(env):
    runner = DEPLOYMENT_ALGORITHMS["llm-quantile-omd"]
    a = runner(env, 40, 3, q=2.0)
    b = run_deployment("llm-quantile-omd", env, 40, 3, q=2.0)
    assert a.algorithm == "llm-quantile-omd" and a.config["options"]["q"] == 2.0
    pd.testing.assert_frame_equal(metric_columns(a.records), metric_columns(b.records))
    assert {s.split("-")[0] for s in NAMES} >= {"algorithm4", "dueling", "maxinp", "colstim",
                                                "random", "llm"}
