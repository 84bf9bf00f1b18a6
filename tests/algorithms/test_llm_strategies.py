"""LLM-practice pair strategies (paper Sec. 6.2) as deployment algorithms: candidate draws,
ranking, the four pair rules, a direct numpy replay of whole runs, and option checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.constants import practical_constants
from algorithms.deployment_registry import DEPLOYMENT_STREAMS, run_deployment
from algorithms.estimators import mle
from algorithms.llm_strategies import (
    STRATEGIES,
    CandidateStrategy,
    draw_candidates,
    rank_candidates,
    strategy_pair,
)
from sim import random_directions_env, spawn_streams


@pytest.fixture(scope="module")
def env():
    return random_directions_env(8, 7, 3, B=2.0, seed=31)


def softmax_candidates(s, u, tau):
    w = np.exp((s - s.max()) / tau)
    cdf = np.cumsum(w)
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(s) - 1)


def numpy_pair(strategy, s, cands, n, q):
    ranked = cands[np.lexsort((cands, -s[cands]))]
    best = ranked[0]
    if strategy == "best-worst":
        return best, ranked[-1]
    if strategy == "best-second":
        other = ranked[ranked != best]
        return best, (other[0] if other.size else best)
    if strategy == "quantile":
        return best, ranked[math.ceil(n / q) - 1]
    return cands[0], cands[1]


# ----------------------------------------------------------------------- kernels


def test_ranking_is_by_learned_reward_then_arm_index():
    scores = np.array([0.5, 2.0, 0.5, -1.0])
    cands = np.array([3, 2, 0, 1, 2, 0])
    out = np.empty(6, dtype=np.int64)
    rank_candidates(cands, scores, out)
    np.testing.assert_array_equal(out, [1, 0, 0, 2, 2, 3])


def test_the_four_pair_rules():
    ranked = np.array([4, 4, 1, 0, 3, 2, 5, 6])
    cands = np.array([3, 4, 0, 2, 4, 1, 5, 6])
    assert strategy_pair(STRATEGIES["best-worst"], cands, ranked, 1) == (4, 6)
    assert strategy_pair(STRATEGIES["best-second"], cands, ranked, 1) == (4, 1)
    assert strategy_pair(STRATEGIES["best-second"], cands, np.full(8, 2), 1) == (2, 2)
    # n = 8, q = 3: rank ceil(8/3) = 3, the third-ranked candidate
    assert CandidateStrategy("quantile", n=8, q=3).quantile_rank == 3
    assert strategy_pair(STRATEGIES["quantile"], cands, ranked, 3) == (4, 1)
    assert strategy_pair(STRATEGIES["random"], cands, ranked, 1) == (3, 4)


def test_softmax_draws_follow_the_softmax_probabilities():
    scores = np.array([1.0, 0.0, -0.5, 2.0])
    tau = 0.7
    u = np.random.default_rng(0).random(200_000)
    out = np.empty(u.size, dtype=np.int64)
    draw_candidates(scores, u, tau, 0, np.empty(4), out)
    p = np.exp(scores / tau) / np.exp(scores / tau).sum()
    freq = np.bincount(out, minlength=4) / u.size
    np.testing.assert_allclose(freq, p, atol=0.005)
    # uniform policy, and a tiny temperature that concentrates on the best arm
    draw_candidates(scores, u, tau, 1, np.empty(4), out)
    np.testing.assert_allclose(np.bincount(out, minlength=4) / u.size, 0.25, atol=0.005)
    draw_candidates(scores, u[:1000], 1e-3, 0, np.empty(4), out[:1000])
    assert np.all(out[:1000] == 3)


# -------------------------------------------------------------------- whole runs


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("options", [dict(), dict(n=5, tau=0.3), dict(policy="uniform", n=3)])
def test_runs_equal_a_direct_numpy_replay(env, strategy, options):
    T, seed = 150, 12
    if strategy == "quantile":
        options = {**options, "q": 2.5}
    res = run_deployment(f"llm-{strategy}-omd", env, T, seed, keep_path=True, **options)
    cs = CandidateStrategy(strategy, n=options.get("n", 16), q=options.get("q"),
                           tau=options.get("tau", 1.0), policy=options.get("policy", "softmax"))
    cand_u = spawn_streams(seed, DEPLOYMENT_STREAMS)["algorithm"].random((T, cs.n))
    r = res.rounds
    for t in range(T):
        s = env.phi[r["x"][t]] @ res.theta_path[t]
        if cs.policy == "uniform":
            cands = np.minimum((cand_u[t] * env.K).astype(int), env.K - 1)
        else:
            cands = softmax_candidates(s, cand_u[t], cs.tau)
        assert numpy_pair(strategy, s, cands, cs.n, cs.q) == (r["a"][t], r["a2"][t]), t


def test_mle_reward_model_is_the_mle_of_the_runs_data(env):
    c = practical_constants(env.d, env.L, env.B)
    res = run_deployment("llm-quantile-mle", env, 100, 3, keep_path=True)
    r = res.rounds
    Z = env.phi[r["x"], r["a"]] - env.phi[r["x"], r["a2"]]
    cold = mle(Z, r["y"].to_numpy(np.float64), lam=c.lam, B=env.B)
    np.testing.assert_allclose(res.theta, cold, rtol=1e-7, atol=1e-9)
    assert (res.records["reward_model"] == "mle").all()


def test_exploiting_strategies_have_less_regret_than_random_pairs(env):
    T = 2000
    reg = {s: run_deployment(f"llm-{s}-omd", env, T, 1, checkpoints=3).records["regret"].iloc[-1]
           for s in STRATEGIES}
    assert reg["best-second"] < 0.6 * reg["random"]
    assert reg["quantile"] < 0.6 * reg["random"]


# -------------------------------------------------------------------- bad options


@pytest.mark.parametrize("kwargs, match", [
    (dict(strategy="best-of-n"), "unknown strategy 'best-of-n'; known strategies: best-worst"),
    (dict(strategy="best-worst", n=1), "n \\(candidates per round\\) must be an int >= 2"),
    (dict(strategy="best-worst", n=4.0), "n \\(candidates per round\\) must be an int >= 2"),
    (dict(strategy="quantile", n=8, q=1.0), "q must satisfy 1 < q <= n = 8"),
    (dict(strategy="quantile", n=8, q=9), "q must satisfy 1 < q <= n = 8"),
    (dict(strategy="quantile", n=8, q=float("inf")), "q must be a finite number"),
    (dict(strategy="best-second", q=2.0), "q applies only to the quantile strategy"),
    (dict(strategy="random", tau=0.0), "tau \\(softmax temperature\\) must be finite and > 0"),
    (dict(strategy="random", tau=-1.0), "tau \\(softmax temperature\\) must be finite and > 0"),
    (dict(strategy="random", policy="greedy"), "unknown candidate policy 'greedy'"),
])
def test_bad_strategy_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CandidateStrategy(**kwargs)


@pytest.mark.parametrize("name, kwargs, match", [
    ("llm-quantile-omd", dict(n=4, q=5.0), "q must satisfy 1 < q <= n = 4"),
    ("llm-best-worst-mle", dict(n=1), "must be an int >= 2"),
    ("llm-random-omd", dict(tau=0.0), "tau"),
    ("llm-best-worst-omd", dict(q=2.0), "does not accept option\\(s\\) q"),
    ("llm-best-of-n-omd", dict(), "unknown deployment algorithm"),
])
def test_bad_options_surface_through_the_runner(env, name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_deployment(name, env, 10, 0, **kwargs)
