import math

import numpy as np
import pytest

from theory_checks.bounds import (
    TABLE1,
    closed_form,
    elliptic_potential_bound,
    instance_active,
    instance_deployment,
    instance_passive,
    kappa_upper_bound,
)


def test_closed_forms_scale_as_table_1():
    kw = dict(d=5, delta=0.05, lam=1.0)
    # deployment: paper ~ sqrt(kappa), Saha ~ kappa; both ~ sqrt(T) up to logs
    r = closed_form("deploy", "saha", T=1e4, kappa=100, **kw) / closed_form("deploy", "paper", T=1e4, kappa=100, **kw)
    assert r == pytest.approx(10.0)
    a1 = closed_form("active", "paper", T=1e3, kappa=9, **kw)
    a2 = closed_form("active", "paper", T=1e5, kappa=9, **kw)
    assert a2 < a1 / 5  # ~T^{-1/2} times slowly growing logs
    p = closed_form("passive", "paper", T=1e3, kappa=9, phi_norm=0.2, **kw)
    z = closed_form("passive", "zhu", T=1e3, kappa=9, phi_norm=0.2, **kw)
    assert p > 0 and z > 0
    assert set(TABLE1) == {("passive", "zhu"), ("passive", "paper"), ("active", "apo"),
                           ("active", "paper"), ("deploy", "saha"), ("deploy", "paper")}


def test_closed_form_bad_input():
    with pytest.raises(ValueError, match="unknown"):
        closed_form("deploy", "ucb", d=2, T=10, kappa=4)
    with pytest.raises(ValueError, match="phi_norm"):
        closed_form("passive", "paper", d=2, T=10, kappa=4)
    with pytest.raises(ValueError, match="need T >= 1"):
        closed_form("deploy", "paper", d=2, T=0, kappa=4)


def test_elliptic_potential_holds_on_random_sequences():
    rng = np.random.default_rng(0)
    d, L, T = 4, 1.0, 2000
    lam = 4 * L**2
    V = lam * np.eye(d)
    total = 0.0
    for _ in range(T):
        z = rng.normal(size=d)
        z *= 2 * L * rng.uniform() / np.linalg.norm(z)
        total += math.sqrt(z @ np.linalg.solve(V, z))
        V += np.outer(z, z)
    assert total <= elliptic_potential_bound(T, d, L, lam)


def test_instance_forms():
    assert instance_passive(2.0, 0.25) == 1.0
    assert instance_active(np.array([1.0, 3.0]), np.array([0.5, 0.5])) == 1.0
    np.testing.assert_allclose(instance_deployment(np.ones(3), np.array([1.0, 2.0, 3.0])), [1.5, 4.5, 9.0])
    assert kappa_upper_bound(1.0, 1.0) == pytest.approx(3 + math.e**2)
