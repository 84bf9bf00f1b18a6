import math

import numpy as np
import pytest

from algorithms.confidence import Radius, beta_practical, beta_theory


def test_theory_radius_matches_the_written_formula():
    t, d, eta, lam, L, B, delta = 100.0, 5, 3.3, 2.0, 1.0, 2.0, 0.05
    c = 7 * eta / 6
    Ct = (22 * eta * (3 * math.log(1 + 2 * t) + 2 + L * B) * math.log(2 * math.sqrt(1 + 2 * t) / delta)
          + 4 * eta + 2 * eta * math.sqrt(6 * c * d) * math.log(1 + 2 * t * L**2 / (d * lam))
          + 4 * lam * B**2)
    assert beta_theory(t, d, eta, lam, L, B, delta) == pytest.approx(math.sqrt(Ct), rel=1e-14)


def test_radii_grow_with_t_and_shrink_with_delta():
    ts = np.array([1.0, 10.0, 1e3, 1e6])
    r = Radius("theory", delta=0.05)
    b = r.beta(ts, d=4, eta=3.0, lam=1.0, L=1.0, B=1.0)
    assert np.all(np.diff(b) > 0)
    assert Radius("theory", delta=0.01).beta(10.0, d=4, eta=3.0, lam=1.0, L=1.0, B=1.0) > b[1]
    p = Radius("practical", c_beta=0.5, delta=0.1)
    assert p.beta(7.0, d=3, eta=0, lam=0, L=0, B=0) == pytest.approx(0.5 * math.sqrt(3 * math.log(71.0)))
    assert beta_practical(0.0, 3, 1.0, 0.1) == 0.0


@pytest.mark.parametrize("kw, match", [(dict(kind="bayes"), "unknown radius kind"),
                                       (dict(delta=1.0), "delta must be"),
                                       (dict(c_beta=-1.0), "c_beta must be")])
def test_bad_radius(kw, match):
    with pytest.raises(ValueError, match=match):
        Radius(**kw)


def test_calibrated_radius_has_the_practical_shape_and_records_its_mode():
    from algorithms.confidence import RADIUS_KINDS

    assert set(RADIUS_KINDS) == {"theory", "practical", "calibrated"}
    kw = dict(d=4, eta=1.0, lam=1.0, L=1.0, B=2.0)
    cal = Radius("calibrated", c_beta=1.3, t0=50)
    assert cal.beta(100.0, **kw) == Radius("practical", c_beta=1.3).beta(100.0, **kw)
    assert cal.t0 == 50 and cal.kind == "calibrated"
    with pytest.raises(ValueError, match="t0 must be"):
        Radius("calibrated", t0=-1)


def test_theory_radius_of_V_is_the_glm_radius_with_kappa():
    from algorithms.confidence import THEORY_GLM, beta_glm

    r = Radius("theory", delta=0.1)
    assert r.code_for("V") == THEORY_GLM and r.code_for("Hcal") == 0
    t, d, kappa, lam, L, B = 50.0, 3, 10.0, 1.0, 1.0, 2.0
    want = (kappa / 2) * math.sqrt(d / 2 * math.log(1 + 4 * t * L**2 / (d * lam))
                                   + math.log(1 / 0.1)) + math.sqrt(lam) * B
    assert beta_glm(t, d, kappa, lam, L, B, 0.1) == pytest.approx(want, rel=1e-14)
    assert r.beta(t, d=d, eta=1.0, lam=lam, L=L, B=B, matrix="V", kappa=kappa) == \
        pytest.approx(want, rel=1e-14)
    with pytest.raises(ValueError, match="needs kappa"):
        r.beta(t, d=d, eta=1.0, lam=lam, L=L, B=B, matrix="V")
