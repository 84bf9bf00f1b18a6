"""The pessimistic policy (Frank-Wolfe) against brute force, the LCB proxy and greedy."""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from algorithms.pessimism import (
    FW_TOL,
    greedy_policy,
    lcb_proxy_policy,
    pessimistic_policy,
    pessimistic_value,
    segment_argmax,
)


def random_problem(seed, n_x, K, d, beta, reference):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n_x, K, d))
    phi /= np.maximum(1.0, np.linalg.norm(phi, axis=2, keepdims=True))
    rho = rng.dirichlet(np.ones(n_x))
    theta = rng.normal(size=d)
    Z = rng.normal(size=(int(rng.integers(1, 30)), d))
    A = np.linalg.inv(0.5 * np.eye(d) + Z.T @ Z * rng.random())
    if reference == "zero":
        v = np.zeros(d)
    else:  # the mean feature of a random full-support policy: a point inside M
        mu = rng.dirichlet(np.ones(K), size=n_x)
        v = np.einsum("x,xa,xad->d", rho, mu, phi)
    return phi, rho, theta, A, beta, v


def values_on_grid(phi, rho, theta, A, beta, v, steps):
    """max of Jtilde over every product of per-context distributions from a simplex grid."""
    n_x, K, d = phi.shape
    simplex = np.array([c for c in itertools.product(range(steps + 1), repeat=K)
                        if sum(c) == steps], dtype=float) / steps
    per_context = np.einsum("ga,xad->xgd", simplex, phi) * rho[:, None, None]
    grids = np.meshgrid(*[np.arange(simplex.shape[0])] * n_x, indexing="ij")
    u = sum(per_context[x][grids[x].ravel()] for x in range(n_x)) - v
    vals = u @ theta - beta * np.sqrt(np.maximum(np.einsum("gd,de,ge->g", u, A, u), 0.0))
    return vals.max()


def deterministic_values(phi, rho, theta, A, beta, v):
    n_x, K, _ = phi.shape
    return np.array([pessimistic_value(phi, rho, np.array(pi), theta, A, beta, v)
                     for pi in itertools.product(range(K), repeat=n_x)])


@pytest.mark.parametrize("K, steps", [(2, 400), (3, 30)])
@pytest.mark.parametrize("reference", ["zero", "inside"])
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 3.0, 30.0])
@pytest.mark.parametrize("seed", range(3))
def test_frank_wolfe_beats_grid_and_every_deterministic_policy(K, steps, reference, beta, seed):
    phi, rho, theta, A, beta, v = random_problem(seed, 2, K, 3, beta, reference)
    sol = pessimistic_policy(phi, rho, theta, A, beta, v)
    tol = FW_TOL * (1.0 + abs(sol.value))
    assert sol.converged and sol.gap <= tol
    assert sol.value == pytest.approx(pessimistic_value(phi, rho, sol.policy, theta, A, beta, v),
                                      abs=1e-12)
    assert np.all(sol.policy >= 0) and np.allclose(sol.policy.sum(axis=1), 1.0, atol=1e-12)
    grid = values_on_grid(phi, rho, theta, A, beta, v, steps)
    assert sol.value >= grid - tol
    assert sol.value >= deterministic_values(phi, rho, theta, A, beta, v).max() - tol
    # the certificate is honest: the grid comes close to the optimum from below
    lipschitz = np.linalg.norm(theta) * 2 + beta * 2 * math.sqrt(np.linalg.eigvalsh(A).max())
    assert grid >= sol.value - lipschitz * 2.0 / steps


@pytest.mark.parametrize("seed", range(8))
def test_frank_wolfe_matches_a_general_solver(seed):
    rng = np.random.default_rng(100 + seed)
    n_x, K, d = int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
    phi, rho, theta, A, beta, v = random_problem(seed, n_x, K, d, float(rng.choice([0.5, 2.0])),
                                                 "inside" if seed % 2 else "zero")
    sol = pessimistic_policy(phi, rho, theta, A, beta, v)
    assert sol.converged

    def neg(w):
        pi = w.reshape(n_x, K)
        return -pessimistic_value(phi, rho, pi, theta, A, beta, v)

    cons = [{"type": "eq", "fun": (lambda w, x=x: w.reshape(n_x, K)[x].sum() - 1.0)}
            for x in range(n_x)]
    best = -np.inf
    for start in range(4):
        w0 = np.random.default_rng(start).dirichlet(np.ones(K), size=n_x).ravel()
        res = minimize(neg, w0, method="SLSQP", bounds=[(0, 1)] * (n_x * K), constraints=cons,
                       options={"ftol": 1e-13, "maxiter": 500})
        best = max(best, -res.fun)
    assert sol.value >= best - 1e-8


def test_optimum_at_the_reference_point_is_certified():
    # v = the mean feature of a policy; theta small in the Hcal norm against a large beta:
    # every policy has Jtilde <= 0 and v itself attains 0.
    phi, rho, theta, A, _, v = random_problem(7, 4, 3, 3, 0.0, "inside")
    beta = 10.0 * math.sqrt(theta @ np.linalg.solve(A, theta))
    sol = pessimistic_policy(phi, rho, theta, A, beta, v)
    assert sol.converged
    assert -FW_TOL <= sol.value <= 0.0
    assert deterministic_values(phi, rho, theta, A, beta, v).max() < 0.0


def test_zero_radius_gives_the_greedy_value():
    phi, rho, theta, A, _, v = random_problem(3, 5, 4, 3, 0.0, "zero")
    sol = pessimistic_policy(phi, rho, theta, A, 0.0, v)
    greedy = greedy_policy(phi, theta)
    assert sol.value == pytest.approx(pessimistic_value(phi, rho, greedy, theta, A, 0.0, v),
                                      abs=1e-12)


def test_larger_problems_converge():
    for seed in range(5):
        phi, rho, theta, A, beta, v = random_problem(seed, 60, 8, 6, 1.5, "inside")
        sol = pessimistic_policy(phi, rho, theta, A, beta, v)
        assert sol.converged and sol.gap <= FW_TOL * (1 + abs(sol.value))
        # at most about d + 1 contexts mix between arms at an optimum of a d-dim problem
        assert np.sum((sol.policy > 1e-9).sum(axis=1) > 1) <= 6 + 1


@pytest.mark.parametrize("seed", range(20))
def test_segment_line_search_is_the_argmax(seed):
    rng = np.random.default_rng(seed)
    d = 3
    u, D = rng.normal(size=d), rng.normal(size=d)
    if seed % 4 == 0:
        D = -u / rng.uniform(0.2, 2.0)  # the segment crosses the kink u + gamma D = 0
    M = rng.normal(size=(d, d))
    A = M @ M.T + 0.1 * np.eye(d)
    theta, beta, gmax = rng.normal(size=d), rng.uniform(0, 3), rng.uniform(0.1, 2.0)
    g = segment_argmax(theta @ D, u @ A @ u, u @ A @ D, D @ A @ D, beta, gmax)
    grid = np.linspace(0.0, gmax, 20001)
    def f(s):
        return (u + np.multiply.outer(s, D)) @ theta - beta * np.sqrt(
            np.einsum("...i,ij,...j->...", u + np.multiply.outer(s, D), A, u + np.multiply.outer(s, D)))
    assert 0.0 <= g <= gmax
    assert f(np.array(g)) >= f(grid).max() - 1e-12


def test_lcb_proxy_and_greedy_by_brute_force():
    rng = np.random.default_rng(4)
    n_x, K, d = 6, 5, 3
    phi = rng.normal(size=(n_x, K, d))
    theta = rng.normal(size=d)
    M = rng.normal(size=(d, d))
    A = M @ M.T + np.eye(d)
    v_x = rng.normal(size=(n_x, d))
    beta = 0.7
    lcb = lcb_proxy_policy(phi, theta, A, beta, v_x)
    for x in range(n_x):
        diff = phi[x] - v_x[x]
        scores = [phi[x, a] @ theta - beta * math.sqrt(diff[a] @ A @ diff[a]) for a in range(K)]
        assert lcb[x] == int(np.argmax(scores))
    np.testing.assert_array_equal(greedy_policy(phi, theta), np.argmax(phi @ theta, axis=1))
    # ties go to the lowest arm
    tied = np.zeros((2, 3, 2))
    np.testing.assert_array_equal(greedy_policy(tied, np.ones(2)), [0, 0])


def test_bad_inputs():
    phi, rho, theta, A, beta, v = random_problem(0, 2, 2, 2, 1.0, "zero")
    with pytest.raises(ValueError, match="beta must be"):
        pessimistic_policy(phi, rho, theta, A, -1.0, v)
    with pytest.raises(ValueError, match="theta must have shape"):
        pessimistic_policy(phi, rho, theta[:1], A, beta, v)
    with pytest.raises(ValueError, match="tol must be"):
        pessimistic_policy(phi, rho, theta, A, beta, v, tol=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        pessimistic_policy(phi, rho, theta, A * np.nan, beta, v)
