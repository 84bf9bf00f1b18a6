"""Seeded statistical checks: estimation error falls as samples grow. Each uses fixed seeds,
so the outcome is deterministic; the margins are wide (factor 2 over a 16x larger sample,
where theory predicts about 4)."""

import numpy as np
import pytest

from algorithms.estimators import mle, omd_path, practical_constants


def draw(seed, T, d, B):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=d)
    theta *= B / np.linalg.norm(theta)
    Z = rng.normal(size=(T, d)) / np.sqrt(d)
    y = (rng.random(T) < 1 / (1 + np.exp(-Z @ theta))).astype(float)
    return Z, y, theta


@pytest.mark.parametrize("estimator", ["omd", "mle"])
def test_estimation_error_falls_with_samples(estimator):
    d, B = 4, 2.0
    c = practical_constants(d, 1.0, B)
    errs = {}
    for T in (500, 8000):
        e = []
        for seed in range(5):
            Z, y, theta = draw(seed, 8000, d, B)
            if estimator == "omd":
                est = omd_path(Z[:T], y[:T], eta=c.eta, lam=c.lam, B=B)[-1]
            else:
                est = mle(Z[:T], y[:T], lam=c.lam)
            e.append(np.linalg.norm(est - theta))
        errs[T] = np.mean(e)
    assert errs[8000] < errs[500] / 2


def test_omd_and_mle_agree_at_large_samples():
    d, B = 3, 1.0
    Z, y, theta = draw(42, 20000, d, B)
    c = practical_constants(d, 1.0, B)
    a = omd_path(Z, y, eta=c.eta, lam=c.lam, B=B)[-1]
    b = mle(Z, y, lam=c.lam)
    assert np.linalg.norm(a - b) < 0.5 * np.linalg.norm(b - theta) + 0.05
