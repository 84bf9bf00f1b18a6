"""The hand-written floor loops do the arithmetic of the library kernels they stand beside
(equal results up to rounding), and the throughput table shows them at every d. No timing is
asserted."""

import math

import numpy as np

from algorithms.active import feature_pool, query_pool
from algorithms.omd import omd_run
from algorithms.registry import run
from paper_repro.timing import TimingConfig, update_throughput
from paper_repro.timing_floor import hand_active_loop, hand_algorithm4_loop, hand_omd_loop
from sim.generators import random_directions_env


def test_hand_omd_loop_is_the_library_update():
    rng = np.random.default_rng(0)
    d, T = 6, 400
    Z = rng.normal(size=(T, d)) / np.sqrt(d)
    y = (rng.random(T) < 0.5).astype(np.float64)
    th1, H1 = np.zeros(d), np.eye(d) / 2.0
    th2, H2 = np.zeros(d), np.eye(d) / 2.0
    omd_run(Z, y, th1, H1, 1.5, math.inf, False, np.empty((0, d)))
    hand_omd_loop(Z, y, th2, H2, 1.5, np.empty(d))
    np.testing.assert_allclose(th2, th1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H2, H1, rtol=1e-10, atol=1e-12)


def test_hand_algorithm4_loop_plays_the_registry_pairs():
    from algorithms.constants import practical_constants
    from sim.core.seeding import CommonRandomNumbers
    from sim.feedback import context_cdf, draw_contexts

    env = random_directions_env(20, 8, 5, L=1.0, B=2.0, seed=1)
    T = 300
    res = run("algorithm4", env, T, 7, project=False)
    crn = CommonRandomNumbers.draw(7, T)
    x = draw_contexts(context_cdf(env.rho), crn.context_u)
    c = practical_constants(env.d, env.L, env.B)
    total = hand_algorithm4_loop(env.phi, x, np.ascontiguousarray(env.rewards()), crn.label_u,
                                 c.eta, c.lam, 1.0, 0.05)
    assert total == float(res.rounds["a2"].sum())


def test_hand_active_loop_selects_like_algorithm3():
    from algorithms.active import active_omd_segment, pair_sq_norms

    env = random_directions_env(15, 5, 4, L=1.0, B=2.0, seed=2)
    pool = feature_pool(env.phi, *query_pool(env.rho, env.K))
    P, T, d = pool.px.shape[0], 200, env.d
    label_u = np.random.default_rng(3).random(T)
    s = np.empty(P)
    pair_sq_norms(pool.phi, pool.px, pool.pa, pool.pb, np.eye(d), s)
    s_hand = s.copy()
    sel = np.empty(T, np.int64)
    active_omd_segment(pool.phi, pool.phiT, pool.px, pool.pa, pool.pb, pool.ia, pool.ib, s,
                       np.zeros(P, np.bool_), np.array([int(np.argmax(s))]), np.zeros(d),
                       np.eye(d), np.zeros(d), np.zeros(1), 1.0, math.inf, False, True, False,
                       1, 1.0, 1.0, 0.05, 1.0, env.theta_star, label_u, env.link_code, 0, T,
                       sel, np.empty(T, np.int64), np.empty(T))
    total = hand_active_loop(pool.phiT, pool.ia, pool.ib, s_hand, env.theta_star, label_u,
                             1.0, 1.0)
    assert total == float(sel.sum())


def test_throughput_table_has_the_hand_loop_and_its_ratio_at_every_d():
    df = update_throughput(TimingConfig(dims=(3, 5), updates_budget=2e3))
    assert {"hand_updates_per_s", "hand_ratio", "hand_ratio_cpu", "floor_ratio",
            "cpu_seconds"} <= set(df.columns)
    for _, g in df.groupby("d"):
        assert set(g["mode"]) == {"no projection", "projection inactive", "projection active",
                                  "omd_run, path into a reused array",
                                  "omd_path (checked, path stored)", "hand-written loop",
                                  "arithmetic floor"}
        hand = g[g["mode"] == "hand-written loop"]
        np.testing.assert_allclose(hand["hand_ratio"], 1.0)
    np.testing.assert_allclose(df["hand_ratio"], df["updates_per_s"] / df["hand_updates_per_s"])
    assert (df["updates_per_s"] > 0).all()
