"""No input to a public function of sim crashes the interpreter or reads outside an array:
out-of-range, negative and mismatched indices, bad sizes and non-uniform uniforms all raise
ValueError before compiled code runs. The bad calls run in a subprocess, so that a crash is
reported as a failure naming the call instead of killing the test run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sim import (
    bt_labels,
    context_cdf,
    draw_contexts,
    pair_differences,
    random_directions_env,
    skewed_pairs,
    uniform_pairs,
)

CASES = r'''
import numpy as np
from sim import (bt_labels, behaviour_reference, context_cdf, draw_contexts, pair_differences,
                 random_directions_env, skewed_pairs, uniform_pairs, optimal_arm_mask)

env = random_directions_env(3, 4, 2, seed=0)
phi, th, cdf = env.phi, env.theta_star, context_cdf(env.rho)
i3 = np.array([0, 1, 2])
z3 = np.zeros(3, dtype=np.int64)
u3 = np.full(3, 0.5)
au = np.full((3, 2), 0.5)
mask = optimal_arm_mask(env)
CASES = {
    "pair_differences x out of range": lambda: pair_differences(phi, np.array([0, 10**9, 1]), z3, z3 + 1),
    "pair_differences x negative": lambda: pair_differences(phi, np.array([-1, 0, 1]), z3, z3 + 1),
    "pair_differences a out of range": lambda: pair_differences(phi, i3, np.array([0, 4, 1]), z3),
    "pair_differences a2 negative": lambda: pair_differences(phi, i3, z3, np.array([0, -5, 1])),
    "pair_differences mismatched lengths": lambda: pair_differences(phi, i3, z3[:2], z3),
    "pair_differences float indices": lambda: pair_differences(phi, i3 + 0.5, z3, z3),
    "pair_differences 2-d indices": lambda: pair_differences(phi, i3[None, :], z3, z3),
    "pair_differences phi 2-d": lambda: pair_differences(phi[0], i3, z3, z3),
    "pair_differences phi strings": lambda: pair_differences(np.full((2, 2, 2), "a"), z3, z3, z3),
    "uniform_pairs K = 1": lambda: uniform_pairs(cdf, 1, u3, au),
    "uniform_pairs K = 0": lambda: uniform_pairs(cdf, 0, u3, au),
    "uniform_pairs K = -3": lambda: uniform_pairs(cdf, -3, u3, au),
    "uniform_pairs K = 2.5": lambda: uniform_pairs(cdf, 2.5, u3, au),
    "uniform_pairs NaN arm uniform": lambda: uniform_pairs(cdf, 4, u3, np.array([[0.1, np.nan]] * 3)),
    "uniform_pairs NaN context uniform": lambda: uniform_pairs(cdf, 4, np.array([np.nan, 0.1, 0.2]), au),
    "uniform_pairs uniform = 1": lambda: uniform_pairs(cdf, 4, u3, np.ones((3, 2))),
    "uniform_pairs negative uniform": lambda: uniform_pairs(cdf, 4, u3 - 1.0, au),
    "uniform_pairs arm_u shape": lambda: uniform_pairs(cdf, 4, u3, au[:2]),
    "uniform_pairs arm_u 1-d": lambda: uniform_pairs(cdf, 4, u3, u3),
    "uniform_pairs empty cdf": lambda: uniform_pairs(np.array([]), 4, u3, au),
    "uniform_pairs cdf not ending at 1": lambda: uniform_pairs(np.array([0.2, 0.5]), 4, u3, au),
    "uniform_pairs decreasing cdf": lambda: uniform_pairs(np.array([0.6, 0.2, 1.0]), 4, u3, au),
    "draw_contexts NaN uniform": lambda: draw_contexts(cdf, np.array([np.nan])),
    "draw_contexts empty cdf": lambda: draw_contexts(np.array([]), u3),
    "draw_contexts NaN cdf": lambda: draw_contexts(np.array([np.nan, 1.0]), u3),
    "bt_labels x out of range": lambda: bt_labels(phi, th, np.array([0, 3, 1]), z3, z3 + 1, u3, 0),
    "bt_labels a negative": lambda: bt_labels(phi, th, i3, np.array([0, -1, 1]), z3, u3, 0),
    "bt_labels mismatched u": lambda: bt_labels(phi, th, i3, z3, z3 + 1, u3[:2], 0),
    "bt_labels theta length": lambda: bt_labels(phi, th[:1], i3, z3, z3 + 1, u3, 0),
    "bt_labels NaN uniform": lambda: bt_labels(phi, th, i3, z3, z3 + 1, np.array([0.1, np.nan, 0.2]), 0),
    "bt_labels link code": lambda: bt_labels(phi, th, i3, z3, z3 + 1, u3, 7),
    "bt_labels link code bool": lambda: bt_labels(phi, th, i3, z3, z3 + 1, u3, True),
    "skewed_pairs cdf longer than mask": lambda: skewed_pairs(np.array([0.2, 0.4, 0.6, 0.8, 1.0]), mask, 0.1, u3, au),
    "skewed_pairs mask not bool": lambda: skewed_pairs(cdf, mask.astype(int), 0.1, u3, au),
    "skewed_pairs one arm": lambda: skewed_pairs(cdf, mask[:, :1], 0.1, u3, au),
    "skewed_pairs eps > 1": lambda: skewed_pairs(cdf, mask, 1.5, u3, au),
    "skewed_pairs NaN uniform": lambda: skewed_pairs(cdf, mask, 0.1, u3, np.full((3, 2), np.nan)),
    "behaviour_reference marginal shape": lambda: behaviour_reference(env, np.ones((2, 4))),
    "policy arm out of range": lambda: env.value(np.array([0, 9, 1])),
    "policy negative arm": lambda: env.value(np.array([0, -1, 1])),
    "policy wrong length": lambda: env.suboptimality(np.array([0, 1])),
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
x, a, a2 = uniform_pairs(cdf, 4, u3, au)
print(json.dumps({"case": "valid call afterwards", "outcome": str(pair_differences(phi, x, a, a2).shape)}))
'''


def run_cases(script: str) -> dict[str, str]:
    """Run the cases in a fresh interpreter; a crash fails naming the case that caused it."""
    r = subprocess.run([sys.executable, "-c", "import json\n" + script], capture_output=True,
                       text=True, timeout=300)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    started = [line["start"] for line in lines if "start" in line]
    assert r.returncode == 0, (f"the interpreter died (exit {r.returncode}) in case "
                               f"{started[-1] if started else '?'!r}: {r.stderr[-1500:]}")
    return {line["case"]: line["outcome"] for line in lines if "case" in line}


def test_public_functions_reject_bad_indices_and_sizes_without_crashing():
    outcomes = run_cases(CASES)
    assert outcomes.pop("valid call afterwards") == "(3, 2)"
    wrong = {k: v for k, v in outcomes.items() if not v.startswith("ValueError: ")}
    assert not wrong, wrong
    assert len(outcomes) >= 40


def test_messages_name_the_argument_and_entry():
    env = random_directions_env(3, 4, 2, seed=0)
    i = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"x\[1\] = 1000000000 is not a context index in 0..2"):
        pair_differences(env.phi, np.array([0, 10**9, 1]), i * 0, i * 0 + 1)
    with pytest.raises(ValueError, match=r"a2\[1\] = -5 is not an arm index in 0..3"):
        pair_differences(env.phi, i, i * 0, np.array([0, -5, 1]))
    with pytest.raises(ValueError, match=r"x, a and a2 must have the same length"):
        pair_differences(env.phi, i, i[:2], i)
    with pytest.raises(ValueError, match=r"K must be an integer >= 2, got 1"):
        uniform_pairs(context_cdf(env.rho), 1, np.full(3, 0.5), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"arm_u\[0, 1\] = nan is not a uniform in \[0, 1\)"):
        uniform_pairs(context_cdf(env.rho), 4, np.full(3, 0.5), np.array([[0.1, np.nan]] * 3))
    with pytest.raises(ValueError, match=r"u\[0\] = nan"):
        draw_contexts(context_cdf(env.rho), np.array([np.nan]))
    with pytest.raises(ValueError, match=r"theta_star has length 1, but phi has d = 2"):
        bt_labels(env.phi, env.theta_star[:1], i, i * 0, i * 0 + 1, np.full(3, 0.5), 0)
    with pytest.raises(ValueError, match=r"avoid must be a \(n_x, K\) array with n_x = len\(cdf\)"):
        skewed_pairs(np.array([0.5, 1.0]), np.zeros((3, 4), bool), 0.1, np.full(3, 0.5),
                     np.full((3, 2), 0.5))


def test_the_checked_functions_give_the_kernels_results():
    from sim.feedback import bt_labels_kernel, draw_contexts_kernel
    from sim.queries import pair_differences_kernel, uniform_pairs_kernel

    env = random_directions_env(5, 4, 3, seed=2)
    rng = np.random.default_rng(0)
    cdf, cu, au, lu = context_cdf(env.rho), rng.random(50), rng.random((50, 2)), rng.random(50)
    x, a, a2 = uniform_pairs(cdf, env.K, cu, au)
    for got, want in zip((x, a, a2), uniform_pairs_kernel(cdf, env.K, cu, au)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(draw_contexts(cdf, cu), draw_contexts_kernel(cdf, cu))
    np.testing.assert_array_equal(pair_differences(env.phi, x, a, a2),
                                  pair_differences_kernel(env.phi, x, a, a2))
    np.testing.assert_array_equal(
        bt_labels(env.phi, env.theta_star, x, a, a2, lu, 0),
        bt_labels_kernel(env.phi, env.theta_star, x, a, a2, lu, 0))
    # lists and other integer dtypes are accepted
    np.testing.assert_array_equal(pair_differences(env.phi, list(x), a.astype(np.int32), a2),
                                  pair_differences_kernel(env.phi, x, a, a2))


JUNK = [None, "a", [1, "b"], {"x": 1}, 1 + 2j, np.array([1 + 1j]), float("nan"), -1, 1e308,
        object()]


def test_junk_arguments_raise_value_errors_never_type_errors_or_warnings():
    import warnings

    from sim import (
        CommonRandomNumbers,
        PreferenceEnv,
        behaviour_queries,
        behaviour_reference,
        kappa_env,
        log_checkpoints,
    )

    env = random_directions_env(3, 4, 2, seed=0)
    one = np.zeros(1, dtype=np.int64)
    calls = {
        "context_cdf": lambda v: context_cdf(v),
        "PreferenceEnv phi": lambda v: PreferenceEnv(v, env.rho, env.theta_star, 1.0, 1.0),
        "PreferenceEnv L": lambda v: PreferenceEnv(env.phi, env.rho, env.theta_star, v, 1.0),
        "random_directions_env L": lambda v: random_directions_env(3, 3, 2, L=v, seed=0),
        "kappa_env kappa": lambda v: kappa_env(v, 3, 3, 2, seed=0),
        "kappa_instance": lambda v: env.kappa_instance(v),
        "CommonRandomNumbers": lambda v: CommonRandomNumbers(v, v, v),
        "log_checkpoints T": lambda v: log_checkpoints(v),
        "log_checkpoints n": lambda v: log_checkpoints(10, v),
        "behaviour_queries crn": lambda v: behaviour_queries(env, "uniform", v),
        "behaviour_reference": lambda v: behaviour_reference(env, v),
        "uniform_pairs K": lambda v: uniform_pairs(np.array([1.0]), v, np.full(2, 0.5),
                                                   np.full((2, 2), 0.5)),
        "uniform_pairs u": lambda v: uniform_pairs(np.array([1.0]), 3, v, np.full((2, 2), 0.5)),
        "pair_differences phi": lambda v: pair_differences(v, one, one, one),
        "bt_labels u": lambda v: bt_labels(env.phi, env.theta_star, one, one, one + 1, v, 0),
        "draw_contexts": lambda v: draw_contexts(v, np.full(2, 0.5)),
    }
    wrong = {}
    for name, call in calls.items():
        for v in JUNK:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    call(v)
                except ValueError:
                    continue
                except Exception as e:  # a TypeError, a warning turned error, ...
                    wrong[(name, repr(v)[:20])] = f"{type(e).__name__}: {e}"
    assert not wrong, wrong
    with pytest.raises(ValueError, match=r"phi must be a float array .*: phi must be real"):
        PreferenceEnv(env.phi + 1j, env.rho, env.theta_star, 1.0, 1.0)
