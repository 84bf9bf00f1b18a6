"""The variants of the power suite: the template without defects is Algorithm 1, and each
defect changes what it says it changes."""

import numpy as np
import pytest

from algorithms.estimators import omd_path
from algorithms.protocol import fit_path
from theory_checks.variants import template_model, variants


def stream(seed=0, T=300, d=4):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(T, d)) * 0.8
    theta = rng.normal(size=d)
    y = (rng.random(T) < 1 / (1 + np.exp(-Z @ theta))).astype(float)
    return Z, y


def params(model, project=True, B=0.7):
    return model.make_params(1.3, 2.0, B, 1.0, project)


@pytest.mark.parametrize("project", [True, False])
def test_template_without_defects_is_algorithm_1(project):
    Z, y = stream()
    m = template_model("clean")
    path, state, counters = fit_path(m, Z, y, params(m, project))
    ref = omd_path(Z, y, eta=1.3, lam=2.0, B=0.7, project=project)
    np.testing.assert_allclose(path, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state[1] @ state[2], np.eye(4), atol=1e-10)
    assert (counters[2] > 0) == project


def test_each_defect_does_what_it_says():
    Z, y = stream(1)
    clean = fit_path(template_model("c"), Z, y, params(template_model("c")))[0]
    flipped = fit_path(template_model("g", grad_sign=True), Z, y,
                       params(template_model("g", grad_sign=True)))[0]
    assert np.linalg.norm(flipped[-1] + clean[-1]) < np.linalg.norm(flipped[-1] - clean[-1])
    m = template_model("s", skip_projection=True)
    assert np.linalg.norm(fit_path(m, Z, y, params(m))[0], axis=1).max() > 0.7
    m = template_model("i", stale_inverse=True)
    _, st, _ = fit_path(m, Z, y, params(m))
    assert np.abs(st[1] @ st[2] - np.eye(4)).max() > 1e-6
    m = template_model("l", label_flip=True)
    np.testing.assert_allclose(fit_path(m, Z, y, params(m))[0],
                               fit_path(template_model("c"), Z, 1 - y,
                                        params(template_model("c")))[0], rtol=1e-12)


def test_the_suite_has_the_required_variants():
    vs = variants()
    harmful = [v for v in vs if v.harmful]
    valid = [v for v in vs if not v.harmful]
    assert len(harmful) >= 10 and len(valid) >= 2
    assert {v.area for v in harmful} >= {"estimator update", "confidence radius",
                                         "selection rule", "label model", "accounting"}
    assert len({v.name for v in vs}) == len(vs)
