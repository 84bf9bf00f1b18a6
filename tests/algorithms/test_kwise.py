"""Plackett-Luce estimators: one-pass OMD, PL MLE and pairwise breaking against dense
references, the m = 2 reduction to the pairwise kernels, the pairwise kit at m = 2, and the
ranking conformance set."""

import numpy as np
import pytest

from algorithms.estimators import omd_path
from algorithms.kwise_checks import check_ranking_estimator, ranking_stream
from algorithms.mle import mle
from algorithms.pl_mle import breaking_mle, pairwise_breaking, pl_mle
from algorithms.pl_omd import PL_PAIR_MODEL, PLOnePassOMD, pl_omd_path
from algorithms.testing import check_estimator
from sim import bt_labels, context_cdf, pair_differences, random_directions_env, uniform_pairs
from sim.rankings import RankingRandomNumbers, pl_rankings, subset_features, uniform_subsets

from .kwise_reference import pl_mle_dense, pl_omd_dense


def _random(m, T=150, d=4, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    F = scale * rng.normal(size=(T, m, d))
    R = np.array([rng.permutation(m) for _ in range(T)])
    return F, R


@pytest.mark.parametrize("m", [2, 3, 4, 7])
@pytest.mark.parametrize("top1", [False, True])
@pytest.mark.parametrize("B", [None, 0.6])
def test_pl_omd_matches_dense_reference_iterate_by_iterate(m, top1, B):
    F, R = _random(m, seed=m)
    path = pl_omd_path(F, R, eta=1.5, lam=0.5, B=B, project=B is not None, top1=top1,
                       pairwise=False)
    ref, _ = pl_omd_dense(F, R, 1.5, 0.5, B, 1 if top1 else None)
    np.testing.assert_allclose(path, ref, rtol=0, atol=1e-11)
    if B is not None:
        assert np.linalg.norm(path, axis=1).max() <= B * (1 + 1e-12)


def test_pl_omd_hcal_and_inverse_match_dense():
    F, R = _random(4, seed=9)
    model = PLOnePassOMD(4, eta=1.5, lam=0.5, B=0.8)
    model.update(F, R)
    _, Hcal = pl_omd_dense(F, R, 1.5, 0.5, 0.8)
    np.testing.assert_allclose(model.H, Hcal, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(model.Hinv @ model.H, np.eye(4), atol=1e-10)


def test_m2_is_the_pairwise_one_pass_omd_bit_for_bit():
    env = random_directions_env(n_x=15, K=6, d=5, L=1.0, B=2.0, seed=1)
    rr = RankingRandomNumbers.draw(2, 2000, 2)
    x, S = uniform_subsets(context_cdf(env.rho), env.K, rr.context_u, rr.arm_u)
    R = pl_rankings(env.phi, env.theta_star, x, S, rr.label_u, False)
    crn = rr.pairwise()
    x2, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, crn.context_u, crn.arm_u)
    y = bt_labels(env.phi, env.theta_star, x2, a, a2, crn.label_u, 0)
    Z = pair_differences(env.phi, x2, a, a2)
    F = subset_features(env.phi, x, S)
    for project, B in ((True, 0.5), (True, 2.0), (False, None)):
        ref = omd_path(Z, y, eta=2.0, lam=1.0, B=B, project=project)
        got = pl_omd_path(F, R, eta=2.0, lam=1.0, B=B, project=project)
        assert got.tobytes() == ref.tobytes()
        general = pl_omd_path(F, R, eta=2.0, lam=1.0, B=B, project=project, pairwise=False)
        np.testing.assert_allclose(general, ref, rtol=0, atol=1e-12)


def test_pairwise_kit_passes_on_the_pl_arithmetic_at_m2():
    results = check_estimator(PL_PAIR_MODEL)
    assert {r.status for r in results} == {"passed"}


@pytest.mark.parametrize("m", [3, 5])
def test_ranking_conformance_set(m):
    def omd(F, R):
        return pl_omd_path(F, R, eta=2.0, lam=1.0, B=3.0)

    out = check_ranking_estimator(omd, m=m, B=3.0)
    assert len(out) == 6


def test_ranking_conformance_set_catches_a_broken_estimator():
    def wrong_sign(F, R):
        return pl_omd_path(F, R[:, ::-1], eta=2.0, lam=1.0, B=3.0)

    def order_dependent(F, R):  # reads the items as if shown in ranking order
        return pl_omd_path(F, np.tile(np.arange(F.shape[1]), (F.shape[0], 1)), eta=2.0,
                           lam=1.0, B=3.0)

    with pytest.raises(AssertionError, match="error_decreases"):
        check_ranking_estimator(wrong_sign, m=3)
    with pytest.raises(AssertionError, match="order_invariance"):
        check_ranking_estimator(order_dependent, m=3)


@pytest.mark.parametrize("m", [2, 3, 5])
@pytest.mark.parametrize("top1", [False, True])
def test_pl_mle_matches_dense_newton(m, top1):
    F, R = _random(m, T=120, d=3, seed=20 + m)
    np.testing.assert_allclose(pl_mle(F, R, lam=0.7, top1=top1),
                               pl_mle_dense(F, R, 0.7, 1 if top1 else None), atol=1e-9)


def test_pl_mle_and_breaking_at_m2_are_the_bt_mle():
    F, R = _random(2, T=300, d=3, seed=3)
    Z, y = F[:, 0] - F[:, 1], (R[:, 0] == 0).astype(float)
    Zb, yb, rows = pairwise_breaking(F, R)
    assert Zb.tobytes() == Z.tobytes() and yb.tobytes() == y.tobytes()
    np.testing.assert_allclose(pl_mle(F, R, lam=0.5), mle(Z, y, lam=0.5), atol=1e-9)
    assert breaking_mle(F, R, lam=0.5).tobytes() == mle(Z, y, lam=0.5).tobytes()


def test_breaking_pairs_and_pl_mle_is_consistent():
    F, R, theta = ranking_stream(4, 4000, 3)
    Z, y, rows = pairwise_breaking(F, R)
    assert Z.shape[0] == 6 * 4000 and np.all(np.diff(rows) >= 0)
    err_pl = np.linalg.norm(pl_mle(F, R, lam=1.0) - theta)
    assert err_pl < 0.3


def test_bad_input_raises():
    F, R = _random(3, T=5)
    with pytest.raises(ValueError, match="permutation"):
        pl_omd_path(F, np.zeros((5, 3), dtype=int), eta=1.0, lam=1.0, B=1.0)
    with pytest.raises(ValueError, match="shape"):
        pl_omd_path(F[:, :1], R[:, :1], eta=1.0, lam=1.0, B=1.0)
    bad = F.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        pl_mle(bad, R, lam=1.0)
    with pytest.raises(ValueError, match="B is required"):
        pl_omd_path(F, R, eta=1.0, lam=1.0)


@pytest.mark.slow
def test_pl_omd_stays_in_its_buffers_when_m_exceeds_d(tmp_path):
    """With bounds checking on (a fresh compilation), m - 1 > d runs without an index error:
    the small solve's right-hand side used to be written past a d-row buffer."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from algorithms.pl_omd import pl_omd_path\n"
            "rng = np.random.default_rng(0)\n"
            "F = rng.normal(size=(20, 10, 3))\n"
            "R = np.array([rng.permutation(10) for _ in range(20)])\n"
            "for top1 in (False, True):\n"
            "    pl_omd_path(F, R, eta=1.5, lam=0.5, B=0.5, project=True, top1=top1,"
            " pairwise=False)\n")
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert res.returncode == 0, res.stderr[-2000:]
