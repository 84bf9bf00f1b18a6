"""Dueling-bandit baselines of the deployment stage: Dueling RL (Saha et al. 2023), Algorithm 4's
rule on the MLE, MaxInP, CoLSTIM and the uniform random pair, each against a direct numpy
version, with their defining behaviour and sublinear regret."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.confidence import Radius
from algorithms.constants import practical_constants
from algorithms.deployment_registry import DEPLOYMENT_STREAMS, run_deployment
from algorithms.dueling_baselines import (
    colstim_pair,
    maxinp_candidates,
    maxinp_pair,
    pairwise_widths,
    uniform_distinct_pair,
)
from algorithms.estimators import mle
from sim import (
    CommonRandomNumbers,
    context_cdf,
    random_directions_env,
    spawn_streams,
    uniform_pairs,
)

RADIUS = Radius("practical", c_beta=0.5)


@pytest.fixture(scope="module")
def env():
    return random_directions_env(8, 6, 3, B=1.5, seed=21)


def widths_matrix(P, Vinv):
    D = P[:, None, :] - P[None, :, :]
    return np.sqrt(np.maximum(np.einsum("ijd,de,ije->ij", D, Vinv, D), 0.0))


def replay(env, res, rule, explore=0, **kw):
    """Re-derive every round's pair with numpy from theta_t (the run's path) and V_t; the first
    `explore` rounds are the uniform random pairs of the common random numbers."""
    c = practical_constants(env.d, env.L, env.B)
    r = res.rounds
    crn = CommonRandomNumbers.draw(res.config["seed"], len(r))
    x = r["x"].to_numpy()
    Z = env.phi[x, r["a"]] - env.phi[x, r["a2"]]
    V = c.lam * np.eye(env.d)
    out = []
    for t in range(len(r)):
        theta = res.theta_path[t]
        beta = RADIUS.beta(t + 1, d=env.d, eta=c.eta, lam=c.lam, L=env.L, B=env.B)
        P = env.phi[x[t]]
        W = widths_matrix(P, np.linalg.inv(V))
        s = P @ theta
        if t < explore:
            u0, u1 = crn.arm_u[t]
            i = min(int(u0 * env.K), env.K - 1)
            j = min(int(u1 * (env.K - 1)), env.K - 2)
            j += j >= i
            out.append((i, j, W[i, j]))
        elif rule == "algorithm4-rule":
            a = int(np.argmax(s))
            b = int(np.argmax(s + 2 * beta * W[a]))
            out.append((a, b, W[a, b]))
        elif rule == "maxinp":
            keep = np.all(s[:, None] - s[None, :] + beta * W >= 0, axis=1)
            cand = np.flatnonzero(keep)
            if cand.size == 1:
                out.append((cand[0], cand[0], 0.0))
            else:
                sub = np.triu(W[np.ix_(cand, cand)], 1) - np.tril(np.ones((cand.size,) * 2))
                i, j = np.unravel_index(np.argmax(sub), sub.shape)
                out.append((cand[i], cand[j], W[cand[i], cand[j]]))
        elif rule == "colstim":
            eps = np.clip(kw["scale"] * kw["gumbel"][t], -kw["threshold"], kw["threshold"])
            width = np.sqrt(np.einsum("kd,de,ke->k", P, np.linalg.inv(V), P))
            a = int(np.argmax(s + eps * width))
            cc = beta if kw["c"] is None else kw["c"]
            b = int(np.argmax(s + cc * W[a]))
            out.append((a, b, W[a, b]))
        V = V + np.outer(Z[t], Z[t])
    return np.array(out)


def assert_same_pairs(res, ref):
    np.testing.assert_array_equal(res.rounds["a"], ref[:, 0].astype(int))
    np.testing.assert_array_equal(res.rounds["a2"], ref[:, 1].astype(int))
    np.testing.assert_allclose(res.rounds["width"], ref[:, 2], rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------------------ Dueling RL


def test_algorithm4_rule_on_the_mle_follows_algorithm4s_rule_with_V(env):
    res = run_deployment("algorithm4-rule-mle", env, 200, 1, radius=RADIUS, keep_path=True)
    assert_same_pairs(res, replay(env, res, "algorithm4-rule"))
    assert (res.records["confidence_matrix"] == "V").all()
    assert res.counters["unconverged_refits"] == 0


def test_dueling_rl_plays_the_widest_pair_of_potentially_optimal_arms_from_round_one(env):
    res = run_deployment("dueling-rl-mle", env, 200, 1, radius=RADIUS, keep_path=True)
    assert_same_pairs(res, replay(env, res, "maxinp", explore=0))
    assert res.config["options"]["explore_rounds"] == 0


@pytest.mark.parametrize("project, stop, tol", [(True, "exact", 1e-9), (False, "exact", 1e-9),
                                               (True, "statistical", 1e-6)])
def test_mle_baseline_refits_the_mle_every_round(env, project, stop, tol):
    c = practical_constants(env.d, env.L, env.B)
    res = run_deployment("dueling-rl-mle", env, 120, 2, radius=RADIUS, keep_path=True,
                         project=project, mle_stop=stop)
    r = res.rounds
    Z = env.phi[r["x"], r["a"]] - env.phi[r["x"], r["a2"]]
    y = r["y"].to_numpy(np.float64)
    for t in (1, 7, 60, 120):
        cold = mle(Z[:t], y[:t], lam=c.lam, B=env.B if project else None)
        np.testing.assert_allclose(res.theta_path[t], cold, rtol=tol * 100, atol=tol)
    assert res.counters["newton_iterations"] >= 120


# --------------------------------------------------------------------------- MaxInP


def test_maxinp_pairs_equal_a_direct_numpy_version_with_its_exploration_phase(env):
    res = run_deployment("maxinp-mle", env, 200, 3, radius=RADIUS, keep_path=True)
    tau = res.config["options"]["explore_rounds"]
    assert tau == 2 * env.d
    assert_same_pairs(res, replay(env, res, "maxinp", explore=tau))
    res0 = run_deployment("maxinp-mle", env, 50, 3, radius=RADIUS, keep_path=True,
                          explore_rounds=0)
    assert_same_pairs(res0, replay(env, res0, "maxinp", explore=0))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8), st.integers(1, 5))
def test_maxinp_candidate_set_contains_the_optimal_arm(seed, K, d):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(K, d))
    theta_star = rng.normal(size=d)
    s_star = P @ theta_star
    W = np.empty((K, K))
    D = np.empty(d)
    keep = np.empty(K, dtype=bool)
    A = rng.normal(size=(d, d))
    V = A @ A.T + 0.5 * np.eye(d)
    Vinv = np.linalg.inv(V)
    pairwise_widths(P, Vinv, W, D)
    # true theta, radius 0: exactly the optimal arms
    maxinp_candidates(s_star, W, 0.0, keep)
    np.testing.assert_array_equal(keep, s_star == s_star.max())
    # any theta_hat in the confidence set {||theta_hat - theta*||_V <= beta} keeps pi*
    beta = float(rng.uniform(0.1, 2.0))
    u = rng.normal(size=d)
    # theta_hat - theta* = r R^{-1} u/||u|| with V = R'R has V-norm r <= beta
    R = np.linalg.cholesky(V).T
    theta_hat = theta_star + beta * rng.uniform() * np.linalg.solve(R, u / np.linalg.norm(u))
    assert np.sqrt((theta_hat - theta_star) @ V @ (theta_hat - theta_star)) <= beta * (1 + 1e-12)
    maxinp_candidates(P @ theta_hat, W, beta, keep)
    assert keep[int(np.argmax(s_star))]


def test_maxinp_pair_kernel_picks_the_widest_pair_of_candidates():
    P = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [-5.0, 0.0]])
    theta = np.array([0.0, 1.0])
    s, W, keep, D = np.empty(4), np.empty((4, 4)), np.empty(4, dtype=bool), np.empty(2)
    # beta = 0: only arm 2 (score 3) survives
    assert maxinp_pair(P, theta, np.eye(2), 0.0, s, W, keep, D) == (2, 2, 0.0)
    # large beta: every arm survives; the widest pair is (1, 3), ||(1, 0) - (-5, 0)|| = 6
    i, j, w = maxinp_pair(P, theta, np.eye(2), 100.0, s, W, keep, D)
    assert keep.all() and (i, j) == (1, 3) and w == 6.0


# --------------------------------------------------------------------------- CoLSTIM


@pytest.mark.parametrize("c, scale, threshold", [(None, 1.0, None), (0.3, 0.5, 0.4)])
def test_colstim_pairs_equal_a_direct_numpy_version(env, c, scale, threshold):
    T = 150
    res = run_deployment("colstim-mle", env, T, 4, radius=RADIUS, keep_path=True,
                         c=c, gumbel_scale=scale, threshold=threshold)
    opts = res.config["options"]
    assert opts["threshold"] == (np.sqrt(env.d * np.log(T)) if threshold is None else threshold)
    gumbel = spawn_streams(4, DEPLOYMENT_STREAMS)["algorithm"].gumbel(size=(T, env.K))
    assert_same_pairs(res, replay(env, res, "colstim", explore=opts["explore_rounds"],
                                  gumbel=gumbel, scale=scale, c=c, threshold=opts["threshold"]))


def test_colstim_kernel_without_noise_or_exploration_plays_the_greedy_arm_twice():
    P = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.2]])
    theta = np.array([2.0, 1.0])
    s, D = np.empty(3), np.empty(2)
    g = np.array([5.0, 0.0, 0.0])
    inf = np.inf
    assert colstim_pair(P, theta, np.eye(2), 0.0, g, 0.0, inf, True, s, D)[:2] == (1, 1)
    # the noise moves the first arm; a large c sends the second arm far from it
    assert colstim_pair(P, theta, np.eye(2), 0.0, g, 1.0, inf, True, s, D)[:2] == (0, 1)
    assert colstim_pair(P, theta, np.eye(2), 10.0, g, 1.0, inf, True, s, D)[:2] == (0, 1)
    # clipped at 0.5, the perturbation cannot overcome a utility gap of 1
    assert colstim_pair(P, theta, np.eye(2), 0.0, g, 1.0, 0.5, True, s, D)[:2] == (1, 1)


def test_colstim_perturbation_shrinks_with_the_arm_width():
    """The paper's perturbation eps_i ||phi_i||_{V^-1}: once V is large it cannot move the first
    arm off the greedy one; the fixed perturbation (not the paper) still does."""
    P = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.2]])
    theta = np.array([2.0, 1.0])
    s, D = np.empty(3), np.empty(2)
    g = np.array([5.0, 0.0, 0.0])
    Vinv_large = np.eye(2) / 1e4
    assert colstim_pair(P, theta, Vinv_large, 0.0, g, 1.0, np.inf, True, s, D)[0] == 1
    assert colstim_pair(P, theta, Vinv_large, 0.0, g, 1.0, np.inf, False, s, D)[0] == 0


def test_colstim_noise_comes_from_the_algorithm_stream(env):
    crn = CommonRandomNumbers.draw(5, 100)
    a = run_deployment("colstim-mle", env, 100, 5, crn=crn, radius=RADIUS)
    b = run_deployment("colstim-mle", env, 100, 6, crn=crn, radius=RADIUS)
    np.testing.assert_array_equal(a.rounds["x"], b.rounds["x"])
    assert not np.array_equal(a.rounds["a"], b.rounds["a"])


@pytest.mark.parametrize("kw, match", [(dict(gumbel_scale=-1.0), "gumbel_scale must be"),
                                       (dict(c=float("nan")), "c must be"),
                                       (dict(c="wide"), "c must be"),
                                       (dict(threshold=0.0), "threshold must be"),
                                       (dict(perturbation="huge"), "perturbation must be")])
def test_colstim_bad_options(env, kw, match):
    with pytest.raises(ValueError, match=match):
        run_deployment("colstim-mle", env, 10, 0, **kw)


# ------------------------------------------------------------------------ random pair


def test_random_pair_uses_the_common_arm_uniforms(env):
    T = 300
    res = run_deployment("random-pair-omd", env, T, 7)
    crn = CommonRandomNumbers.draw(7, T)
    x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, crn.context_u, crn.arm_u)
    np.testing.assert_array_equal(res.rounds["x"], x)
    np.testing.assert_array_equal(res.rounds["a"], a)
    np.testing.assert_array_equal(res.rounds["a2"], a2)


def test_uniform_distinct_pair_covers_every_ordered_pair_equally():
    K, m = 4, 60
    grid = (np.arange(m) + 0.5) / m
    counts = np.zeros((K, K), dtype=int)
    for u0 in grid:
        for u1 in grid:
            i, j = uniform_distinct_pair(K, u0, u1)
            counts[i, j] += 1
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(K, dtype=bool)]
    assert off.min() == off.max() == m * m // (K * (K - 1))


# ------------------------------------------------------------- sublinear regret, theory radii

SINGLE = dict(n_x=1, K=32, d=5, B=2.0)


def _late_rate(name, T, seed, **kw):
    """(regret per round over the first half, over the second half)."""
    env = random_directions_env(SINGLE["n_x"], SINGLE["K"], SINGLE["d"], B=SINGLE["B"], seed=seed)
    r = run_deployment(name, env, T, seed, **kw).rounds["regret"].to_numpy()
    h = T // 2
    return r[:h].mean(), r[h:].mean()


@pytest.mark.parametrize("name", ["dueling-rl-mle", "algorithm4-rule-mle", "maxinp-mle",
                                  "colstim-mle"])
def test_baseline_regret_per_round_falls(name):
    first, second = _late_rate(name, 1200, 0)
    assert second < 0.75 * first


def test_fixed_colstim_perturbation_keeps_losing_where_the_papers_stops():
    _, fixed = _late_rate("colstim-mle", 1200, 0, perturbation="fixed")
    _, paper = _late_rate("colstim-mle", 1200, 0)
    assert paper < 0.5 * fixed


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dueling-rl-mle", "algorithm4-rule-mle", "maxinp-mle",
                                  "colstim-mle"])
def test_baseline_regret_is_sublinear_over_a_longer_horizon(name):
    T = 4000
    env = random_directions_env(SINGLE["n_x"], SINGLE["K"], SINGLE["d"], B=SINGLE["B"], seed=1)
    r = np.cumsum(run_deployment(name, env, T, 1).rounds["regret"].to_numpy())
    # regret of the last quarter against the first quarter of the rounds
    q = T // 4
    assert (r[-1] - r[-q - 1]) < 0.5 * r[q - 1]


def test_mle_baselines_take_their_papers_theory_radius(env):
    from algorithms.confidence import beta_glm

    res = run_deployment("maxinp-mle", env, 30, 0, radius=Radius("theory"))
    c = practical_constants(env.d, env.L, env.B)
    want = [beta_glm(float(t), env.d, env.kappa_global(), c.lam, env.L, env.B, 0.05)
            for t in res.rounds["t"]]
    np.testing.assert_allclose(res.rounds["beta"], want, rtol=1e-13)
    assert (res.records["radius"] == "theory").all()
