"""One conformance suite over every registered training algorithm: deterministic under a
seed, blind to theta*, finite, SubOpt >= 0, inside the B-ball where it projects; and the
input checks of `run_training`."""

import numpy as np
import pandas as pd
import pytest

from algorithms.confidence import Radius
from algorithms.training import TRAINING_ALGORITHMS, run_training
from sim import CommonRandomNumbers, PreferenceEnv, random_directions_env

ALGORITHMS = sorted(TRAINING_ALGORITHMS)
T = 150


def small_env(theta_star=None):
    env = random_directions_env(6, 4, 3, L=1.0, B=1.0, seed=3)
    if theta_star is None:
        return env
    return PreferenceEnv(phi=env.phi, rho=env.rho, theta_star=theta_star, L=env.L, B=env.B)


def config(algorithm):
    """A non-default configuration where the algorithm accepts it."""
    if TRAINING_ALGORITHMS[algorithm].stage == "passive":
        return dict(constants="theory", reference="behaviour", behaviour="skewed")
    return dict(radius=Radius("theory"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("use_config", [False, True])
def test_same_seed_same_records_and_bits(algorithm, use_config):
    env = small_env()
    kw = config(algorithm) if use_config else {}
    a = run_training(algorithm, env, T, 11, checkpoints=6, n_eval=300, **kw)
    b = run_training(algorithm, env, T, 11, checkpoints=6, n_eval=300, **kw)
    timing = ["wall_time", "output_time"]
    pd.testing.assert_frame_equal(a.records.drop(columns=timing), b.records.drop(columns=timing))
    assert a.theta.tobytes() == b.theta.tobytes()
    assert np.asarray(a.policy).tobytes() == np.asarray(b.policy).tobytes()
    for qa, qb in zip(a.queries, b.queries):
        np.testing.assert_array_equal(qa, qb)
    c = run_training(algorithm, env, T, 12, checkpoints=6, n_eval=300, **kw)
    assert not np.array_equal(a.queries[3], c.queries[3]) or not np.array_equal(
        a.queries[0], c.queries[0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_never_reads_theta_star(algorithm):
    """Two environments that differ only in theta*; label uniforms in {0, 1 - 1e-16} make
    every label independent of theta* (y = 1 for u = 0, y = 0 for u = 1 - 1e-16, at the
    moderate margins |w| <= 2 of this environment). The learner must then produce the same
    bits in both."""
    rng = np.random.default_rng(0)
    crn = CommonRandomNumbers(context_u=rng.random(T),
                              label_u=np.where(rng.random(T) < 0.5, 0.0, 1.0 - 1e-16),
                              arm_u=rng.random((T, 2)))
    env_a = small_env(np.array([0.6, -0.5, 0.2]))
    env_b = small_env(np.array([-0.1, 0.3, 0.9]))
    kw = dict(checkpoints=5, n_eval=50, crn=crn)
    for reference in ("zero", "behaviour"):
        if TRAINING_ALGORITHMS[algorithm].stage == "passive":
            kw["reference"] = reference
        a = run_training(algorithm, env_a, T, 0, **kw)
        b = run_training(algorithm, env_b, T, 0, **kw)
        assert a.theta.tobytes() == b.theta.tobytes()
        assert np.asarray(a.policy).tobytes() == np.asarray(b.policy).tobytes()
        np.testing.assert_array_equal(a.queries[3], b.queries[3])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_outputs_are_finite_nonnegative_and_in_the_ball(algorithm):
    env = random_directions_env(8, 5, 4, L=1.0, B=3.0, seed=9)  # large margins too
    res = run_training(algorithm, env, 400, 4, checkpoints=8, n_eval=500)
    rec = res.records
    assert np.all(np.isfinite(res.theta))
    assert np.all(np.isfinite(np.asarray(res.policy, dtype=float)))
    for col in ("subopt", "err_l2", "err_v", "beta_theory", "beta_practical", "eval_loss",
                "eval_acc", "eval_acc_true", "wall_time"):
        assert np.all(np.isfinite(rec[col])), col
    assert np.all(rec["subopt"] >= 0.0)
    has_set = rec["beta"].notna()
    np.testing.assert_array_equal(rec.loc[has_set, "in_confidence_set"].astype(bool),
                                  rec.loc[has_set, "err_hcal"] <= rec.loc[has_set, "beta"])
    assert rec.loc[~has_set, "in_confidence_set"].isna().all()
    assert np.all(rec["wall_time"] >= 0.0) and np.all(np.diff(rec["wall_time"]) >= 0.0)
    assert np.all(rec["output_time"] >= 0.0)
    assert list(rec["t"]) == sorted(rec["t"]) and rec["t"].iloc[-1] == 400
    assert set(rec["algorithm"]) == {algorithm}
    assert rec["subopt"].iloc[-1] == pytest.approx(env.suboptimality(res.policy))
    if TRAINING_ALGORITHMS[algorithm].projects:
        assert np.linalg.norm(res.theta) <= env.B * (1 + 1e-12)
    columns = {"algorithm", "stage", "t", "subopt", "err_l2", "err_hcal", "err_v",
               "beta_theory", "beta_practical", "beta", "instance_bound", "eval_loss",
               "eval_acc", "eval_acc_true", "in_confidence_set", "fw_gap", "wall_time",
               "output_time",
               "constants", "radius", "reference", "behaviour", "seed", "T", "env"}
    assert columns <= set(rec.columns)


def test_unknown_names_and_bad_inputs():
    env = small_env()
    with pytest.raises(ValueError, match="unknown training algorithm 'passive-omd'; known: "
                                         "passive-omd-pessimistic"):
        run_training("passive-omd", env, 10, 0)
    for bad_T in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="T must be an int >= 1"):
            run_training("active-omd", env, bad_T, 0)
    with pytest.raises(ValueError, match="does not accept option"):
        run_training("active-omd", env, 10, 0, c_zhu=2.0)
    with pytest.raises(ValueError, match="unknown reference"):
        run_training("passive-omd-pessimistic", env, 10, 0, reference="greedy")
    with pytest.raises(ValueError, match="unknown behaviour"):
        run_training("passive-omd-pessimistic", env, 10, 0, behaviour="expert")
    with pytest.raises(ValueError, match="behaviour applies to passive algorithms only"):
        run_training("apo", env, 10, 0, behaviour="skewed")
    with pytest.raises(ValueError, match="constants must be"):
        run_training("passive-omd-greedy", env, 10, 0, constants="paper")
    with pytest.raises(ValueError, match="checkpoints must increase"):
        run_training("passive-omd-greedy", env, 10, 0, checkpoints=np.array([5, 3]))
    with pytest.raises(ValueError, match="seed must be"):
        run_training("passive-omd-greedy", env, 10, -1)
    with pytest.raises(ValueError, match="crn must be"):
        run_training("passive-omd-greedy", env, 10, 0, crn=CommonRandomNumbers.draw(0, 5))
    with pytest.raises(ValueError, match="pair_norms must be"):
        run_training("active-omd", env, 10, 0, pair_norms="lazy")


def test_bayes_ceiling_is_theta_stars_own_held_out_accuracy():
    from algorithms.training_metrics import draw_eval_set
    from sim.core.links import pair_log_loss_accuracy

    env = small_env()
    rec = run_training("passive-omd-greedy", env, 200, 4, n_eval=500, checkpoints=3).records
    ev = draw_eval_set(env, 4, 500)
    direct = pair_log_loss_accuracy(ev.Z, ev.y, env.theta_star)[1]
    assert np.all(rec["eval_acc_bayes"] == direct)
    # a learner's held-out accuracy is not bounded by it on a finite set, but theta* is the
    # population optimum: over the population the ceiling is E[max(p, 1 - p)]
    assert 0.5 < direct < 1.0
