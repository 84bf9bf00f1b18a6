"""The estimators' public functions at the edges: extreme finite inputs are refused with the
reason, the corners of the accepted range give finite results (or a one-line ValueError), labels
of any numeric or boolean dtype are accepted and anything else is refused naming y, results are
copies, and the compiled kernels refuse mismatched shapes instead of reading other memory."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from algorithms.constants import practical_constants, theory_constants
from algorithms.estimators import cg_omd_path, implicit_omd_path, omd_path, sgd_path
from algorithms.omd import OnePassOMD
from sim import random_directions_env
from sim.core.validation import CONDITION_MAX, FEATURE_MAX, SCALE_MAX, SCALE_MIN

RNG = np.random.default_rng(0)
Z0 = RNG.standard_normal((25, 3)) / 3.0
Y0 = (RNG.random(25) < 0.5).astype(float)

ESTIMATORS = {
    "omd": lambda Z, y, s, lam, B: omd_path(Z, y, eta=s, lam=lam, B=B),
    "omd-practical": lambda Z, y, s, lam, B: omd_path(Z, y, eta=s, lam=lam, project=False),
    "implicit": lambda Z, y, s, lam, B: implicit_omd_path(Z, y, eta=s, lam=lam, B=B),
    "sgd": lambda Z, y, s, lam, B: sgd_path(Z, y, lr=s, lam=lam, B=B),
    "cg": lambda Z, y, s, lam, B: cg_omd_path(Z, y, eta=s, lam0=lam, batch_size=8),
}


EXTREMES = [
    ({"scale": 1e150}, r"Z\[\d+, \d+\] = \S+e\+1\d\d exceeds 1e\+20 in magnitude"),
    ({"scale": 1e308}, r"exceeds 1e\+20 in magnitude"),
    ({"lam": 1e-300}, r"(lam|lam0) = 1e-300 is outside \[1e-20, 1e\+20\]"),
    ({"B": 1e-300}, r"B = 1e-300 is outside"),
    ({"step": 1e300}, r"(eta|lr) = 1e\+300 is outside"),
]
# B only where the estimator takes one; sgd's ridge weight only multiplies (any lam >= 0 is safe)
CASES = [(name, bad, message) for name in ESTIMATORS for bad, message in EXTREMES
         if not ("B" in bad and name in ("omd-practical", "cg"))
         and not ("lam" in bad and name == "sgd")]


@pytest.mark.parametrize("name, bad, message", CASES)
def test_extreme_finite_inputs_are_refused_with_the_reason(name, bad, message):
    kw = {"scale": 1.0, "step": 1.0, "lam": 1.0, "B": 1.0, **bad}
    with pytest.raises(ValueError, match=message):
        ESTIMATORS[name](Z0 * kw["scale"], Y0, kw["step"], kw["lam"], kw["B"])


def test_the_corners_of_the_accepted_range_give_finite_results_or_a_reason():
    lo, hi = SCALE_MIN, SCALE_MAX
    reasons = ("diverged", "lose every digit")
    outcomes = {"finite": 0, "refused": 0}
    for zs, lam, step, B in itertools.product((lo, 1.0, FEATURE_MAX), (lo, hi), (lo, hi), (lo, hi)):
        Z = Z0 / np.abs(Z0).max() * zs
        for name, fn in ESTIMATORS.items():
            try:
                path = fn(Z, Y0, step, lam, B)
            except ValueError as e:
                assert any(r in str(e) for r in reasons), (name, zs, lam, step, B, e)
                outcomes["refused"] += 1
                continue
            assert np.all(np.isfinite(path)), (name, zs, lam, step, B)
            outcomes["finite"] += 1
    assert outcomes["finite"] >= 60 and outcomes["refused"] > 0


def test_conditioning_limit_names_the_row():
    Z = Z0.copy()
    Z[7] = [1e9, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\|\|Z\[7\]\|\|\^2 / lam = 1e\+18 exceeds 1e\+15"):
        omd_path(Z, Y0, eta=1.0, lam=1.0, B=1.0)
    assert CONDITION_MAX == 1e15
    omd_path(Z / 100.0, Y0, eta=1.0, lam=1.0, B=1.0)  # 1e14: accepted


@pytest.mark.parametrize("y", [
    Y0, Y0.astype(np.float32), Y0.astype(int), Y0.astype(np.uint8), Y0.astype(bool),
    Y0.astype(int).astype(object), [bool(v) for v in Y0], list(Y0.astype(int)),
], ids=["float64", "float32", "int", "uint8", "bool", "object-int", "list-bool", "list-int"])
def test_labels_in_any_numeric_or_boolean_dtype_are_accepted(y):
    np.testing.assert_array_equal(omd_path(Z0, y, eta=1.0, lam=1.0, B=1.0),
                                  omd_path(Z0, Y0, eta=1.0, lam=1.0, B=1.0))


@pytest.mark.parametrize("y, message", [
    (Y0.astype(int).astype(str), r"y must hold numeric or boolean labels in \{0, 1\}, got dtype <U"),
    (np.array(["0", "1"] * 12 + ["1"], dtype=object), r"y must hold labels in \{0, 1\}; entry 0 is '0' \(str"),
    (np.where(np.arange(25) == 4, 2.0, Y0), r"y must hold labels in \{0, 1\}; entry 4 is 2.0"),
    (np.where(np.arange(25) == 9, np.nan, Y0), r"entry 9 is nan"),
    (np.array([0, 1] * 12 + [None], dtype=object), r"entry 24 is None"),
    (Y0.astype(complex), r"y must hold numeric or boolean labels .* got dtype complex128"),
    (Y0[:-1], r"y must be a 1-D array with one label per row of Z \(25\)"),
])
def test_other_labels_are_refused_naming_y_and_the_entry(y, message):
    with pytest.raises(ValueError, match=message):
        omd_path(Z0, y, eta=1.0, lam=1.0, B=1.0)


def test_feature_problems_name_z():
    with pytest.raises(ValueError, match=r"^Z must be a real numeric array, got dtype complex128"):
        omd_path(Z0 + 0j, Y0, eta=1.0, lam=1.0, B=1.0)
    with pytest.raises(ValueError, match=r"^Z must be a 2-D array"):
        omd_path([[1.0, 2.0], [3.0]], [0, 1], eta=1.0, lam=1.0, B=1.0)
    with pytest.raises(ValueError, match=r"^Z must be a real numeric array, got dtype object"):
        omd_path(np.array([[1.0, None]], dtype=object), [0], eta=1.0, lam=1.0, B=1.0)


def test_one_pass_omd_update_returns_copies_and_fails_without_changing_its_state():
    model = OnePassOMD(3, eta=1.0, lam=1.0, B=1.0)
    iterates = [model.update(z, y) for z, y in zip(Z0[:5], Y0[:5])]
    assert len({tuple(t) for t in iterates}) == 5  # not five views of the final iterate
    np.testing.assert_array_equal(iterates[-1], model.theta)
    iterates[-1][:] = 99.0
    assert not np.any(model.theta == 99.0)
    before = (model.theta.copy(), model.Hinv.copy(), model.t)
    with pytest.raises(ValueError, match="y must hold labels"):
        model.update(Z0[:3], [0, 1, 2])
    np.testing.assert_array_equal(model.theta, before[0])
    np.testing.assert_array_equal(model.Hinv, before[1])
    assert model.t == before[2]
    path = omd_path(Z0[:5], Y0[:5], eta=1.0, lam=1.0, B=1.0)
    np.testing.assert_array_equal(np.array(iterates[:4]), path[1:5])


@pytest.mark.parametrize("call, message", [
    (lambda: sgd_path(Z0, Y0, lr=1.0, lam="x"), r"lam must be a number >= 0, got 'x'"),
    (lambda: sgd_path(Z0, Y0, lr=1.0, lam=None), r"lam must be a number >= 0, got None"),
    (lambda: omd_path(Z0, Y0, eta="1", lam=1.0, B=1.0), r"eta must be a positive number, got '1'"),
    (lambda: omd_path(Z0, Y0, eta=1.0, lam=1.0, B=1.0, project="False"),
     r"project must be True or False, got 'False'"),
    (lambda: OnePassOMD("a", eta=1.0, lam=1.0, B=1.0), r"d must be an integer >= 1, got 'a'"),
    (lambda: OnePassOMD(None, eta=1.0, lam=1.0, B=1.0), r"d must be an integer >= 1, got None"),
    (lambda: cg_omd_path(Z0, Y0, eta=1.0, batch_size="a"), r"batch_size must be an integer >= 1"),
    (lambda: cg_omd_path(Z0, Y0, eta=1.0, cg_iters=2.5), r"cg_iters must be an integer >= 1"),
    (lambda: practical_constants("a", 1.0, 1.0), r"dimension d must be an integer >= 1"),
    (lambda: practical_constants(3, "a", 1.0), r"L must be a positive number, got 'a'"),
    (lambda: practical_constants(3, 1e-300, 1.0), r"L = 1e-300 is outside"),
    (lambda: practical_constants(3, 1e200, 1.0), r"L = 1e\+200 is outside"),
    (lambda: practical_constants(3, 1e-15, 1.0), r"lam = \S+ is outside .*\(lam = .*L\^2\)"),
    (lambda: theory_constants(3, 1.0, 1e-300), r"B = 1e-300 is outside"),
    (lambda: theory_constants(3, 1e15, 1.0), r"lam = .* is outside .*84 sqrt\(2\)"),
])
def test_bad_arguments_are_value_errors_with_the_argument_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("name", ["passive-omd-pessimistic", "active-omd", "algorithm4"])
def test_string_booleans_are_refused_by_both_stages(name):
    from algorithms.registry import run

    env = random_directions_env(4, 3, 2, B=1.0, seed=0)
    with pytest.raises(ValueError, match=r"option project must be True or False, got 'False'"):
        run(name, env, T=20, seed=0, project="False")


KERNEL_CASES = r'''
import numpy as np
from algorithms.omd import omd_run, omd_update
from algorithms.implicit_omd import implicit_omd_run
from algorithms.first_order import sgd_run, cg_omd_run
from algorithms.linalg import (cg_dense, cg_ridge_lowrank, project_ball_eig, project_ball_metric,
                               project_ball_inverse_metric, rank_one_update,
                               sherman_morrison_update, symv)
d = 3
Z, y, th, H = np.ones((5, d)), np.ones(5), np.zeros(d), np.eye(d)
none = np.empty((0, d))
u, M = np.empty(d), np.empty((d, d))
CASES = {
    "omd_run short y": lambda: omd_run(Z, y[:2], th.copy(), H.copy(), 1.0, 1.0, True, none),
    "omd_run theta length": lambda: omd_run(Z, y, np.zeros(1), H.copy(), 1.0, 1.0, True, none),
    "omd_run Hinv shape": lambda: omd_run(Z, y, th.copy(), np.eye(2), 1.0, 1.0, True, none),
    "omd_run path rows": lambda: omd_run(Z, y, th.copy(), H.copy(), 1.0, 1.0, True, np.empty((2, d))),
    "omd_update z length": lambda: omd_update(th.copy(), H.copy(), np.ones(1), 1.0, 1.0, 1.0, True, u, M),
    "omd_update buffer": lambda: omd_update(th.copy(), H.copy(), np.ones(d), 1.0, 1.0, 1.0, True, u[:1], M),
    "implicit_omd_run short y": lambda: implicit_omd_run(Z, y[:1], th.copy(), H.copy(), 1.0, 1.0, True, none),
    "sgd_run short y": lambda: sgd_run(Z, y[:1], th.copy(), 1.0, 0.0, False, 1.0, 0, none),
    "sgd_run path columns": lambda: sgd_run(Z, y, th.copy(), 1.0, 0.0, False, 1.0, 0, np.empty((6, 1))),
    "cg_omd_run short y": lambda: cg_omd_run(Z, y[:1], th.copy(), 1.0, 0.8, 1.0, 2, 3, 0, none),
    "cg_omd_run batch 0": lambda: cg_omd_run(Z, y, th.copy(), 1.0, 0.8, 1.0, 0, 3, 0, none),
    "symv": lambda: symv(H, np.ones(2), np.empty(d)),
    "symv out": lambda: symv(H, np.ones(d), np.empty(1)),
    "rank_one_update": lambda: rank_one_update(H.copy(), np.ones(5), 1.0),
    "sherman_morrison_update": lambda: sherman_morrison_update(H.copy(), np.ones(d), 1.0, np.empty(2)),
    "project_ball_eig": lambda: project_ball_eig(np.ones(d) * 5, np.ones(2), H, 1.0, np.empty(d)),
    "project_ball_metric": lambda: project_ball_metric(np.ones(d) * 5, np.eye(2), 1.0, np.empty(d)),
    "project_ball_inverse_metric": lambda: project_ball_inverse_metric(np.ones(d) * 5, H, 1.0, np.empty(1)),
    "cg_dense": lambda: cg_dense(np.eye(2), np.ones(d), 3, 0.0),
    "cg_ridge_lowrank": lambda: cg_ridge_lowrank(1.0, Z, np.ones(2), np.ones(d), 3, 0.0),
}
for name, call in CASES.items():
    print(json.dumps({"start": name}), flush=True)
    try:
        call()
        outcome = "no error"
    except ValueError as e:
        outcome = "ValueError: " + str(e)
    except Exception as e:
        outcome = f"{type(e).__name__}: {e}"
    print(json.dumps({"case": name, "outcome": outcome}), flush=True)
'''


def test_compiled_kernels_refuse_mismatched_shapes_without_crashing():
    r = subprocess.run([sys.executable, "-c", "import json\n" + KERNEL_CASES],
                       capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    started = [line["start"] for line in lines if "start" in line]
    assert r.returncode == 0, (f"the interpreter died (exit {r.returncode}) in "
                               f"{started[-1] if started else '?'!r}: {r.stderr[-1500:]}")
    outcomes = {line["case"]: line["outcome"] for line in lines if "case" in line}
    wrong = {k: v for k, v in outcomes.items() if not v.startswith("ValueError: ")}
    assert len(outcomes) == 20 and not wrong, wrong
