"""Cell configs build the environments they name, the purpose-built instances included."""

import numpy as np
import pytest

from paper_repro.cells import GENERATORS, EnvConfig, build_env
from sim.instances import informative_directions_env, poor_coverage_env


def test_instances_by_name_are_the_library_instances():
    a = build_env(EnvConfig(generator="poor_coverage"))
    b = poor_coverage_env()
    assert np.array_equal(a.phi, b.phi) and np.array_equal(a.theta_star, b.theta_star)
    a = build_env(EnvConfig(generator="informative_directions", n_x=40, K=3, d=4, env_seed=2))
    b = informative_directions_env(n_fill=36, d=4, K=3, seed=2)
    assert np.array_equal(a.phi, b.phi) and a.B == b.B


def test_every_generator_builds_and_bad_ones_are_named():
    for g in GENERATORS:
        kw = dict(kappa=10.0) if g == "kappa" else {}
        assert build_env(EnvConfig(generator=g, n_x=8, K=3, d=4, **kw)).d >= 3
    with pytest.raises(ValueError, match="unknown generator 'nope'"):
        build_env(EnvConfig(generator="nope"))
    with pytest.raises(ValueError, match="needs n_x > d"):
        build_env(EnvConfig(generator="informative_directions", n_x=4, d=4))
