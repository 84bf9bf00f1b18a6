"""A conformance kit for reward models: eight properties every estimator of the linear
Bradley-Terry model should have, each a named check that raises AssertionError on failure.

A reward model is any of

    a `RewardModel` of the open protocol (`algorithms.protocol`),
    a built-in code (MODEL_OMD, MODEL_MLE, or their names "omd", "mle"),
    a path function f(Z, y) -> (T + 1, d) iterates (plain, or wrapped in `PathModel` to declare
    the radius B of the ball it stays in).

    check_estimator(model)                 runs every check, returns a list of CheckResult and
                                           raises AssertionError at the first failure
    estimator_checks(model)                yields (check name, callable) pairs, to parametrize
    parametrize_with_checks([...])         a pytest parametrize mark over models x checks

The checks and the property each tests (T observations (z_t, y_t), iterates theta_1, ...,
theta_{T+1}, confidence matrix M_t and its inverse):

    check_shapes                 path (T + 1, d) float64; estimate (d,), inverse and matrix
                                 (d, d), float64, C-contiguous; the initial state finite
    check_same_bits              the same stream twice, a copy of it, or fed in chunks: the
                                 same bits
    check_extreme_margins        margins z_t' theta_t = +-60 (large ||z||, labels opposing a
                                 strongly learned direction): everything stays finite
    check_label_swap_symmetry    (z, y) -> (-z, 1 - y) leaves the BT likelihood unchanged, so
                                 the path too (relative 1e-9)
    check_error_decreases        ||theta_T - theta*|| clearly smaller at large T than at small
                                 T on a well-specified environment
    check_stays_in_ball          ||theta_t|| <= B (1 + 1e-9) when the model claims to project
    check_inverse_matches_matrix inverse(state) @ matrix(state) = I to rounding
    check_no_state_leak          a run after runs on other data (another theta*, another d)
                                 gives the bits of the first run

Data come from seeded numpy draws of the kit's canonical configuration (d = 3, L = 1, B = 2,
20 contexts, 5 arms), so a check's verdict depends only on the model. Parameter vectors are
built from (eta, lambda, B, L, project) with the practical constants eta = (1/2) log 2 + BL + 1,
lambda = 4 L^2 (`algorithms.constants.practical_constants`), unless the caller passes its own.
"""

from __future__ import annotations

import functools
import math
import time
import unittest
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import (
    CommonRandomNumbers,
    PreferenceEnv,
    bt_labels,
    context_cdf,
    pair_differences,
    random_directions_env,
    uniform_pairs,
)
from sim.core.validation import check_design

from ..constants import practical_constants
from ..protocol import (
    BUILTIN_MODELS,
    COUNTERS,
    MODEL_MLE,
    MODEL_OMD,
    RewardModel,
    fit_path,
    init_state,
    model_handle,
    model_stream,
)

CANONICAL_D = 3
"""Dimension of the kit's canonical environment."""
CANONICAL_L = 1.0
"""Feature-norm bound L of the canonical environment (so ||z|| <= 2L = 2)."""
CANONICAL_B = 2.0
"""||theta*|| of the canonical environment, and the radius B of the default parameters."""
EXTREME_MARGIN = 60.0
"""|z' theta| reached by the streams of check_extreme_margins."""
SYMMETRY_RTOL = 1e-9
"""Tolerance of check_label_swap_symmetry, relative to max(1, max |entry|)."""
BALL_RTOL = 1e-9
"""Slack of check_stays_in_ball: ||theta_t|| <= B (1 + BALL_RTOL)."""
INVERSE_RTOL = 1e-8
"""Tolerance of check_inverse_matches_matrix: ||inverse M - I||_2 <= INVERSE_RTOL cond(M)."""
ERROR_RATIO = 0.7
"""check_error_decreases: mean error at the large T <= ERROR_RATIO x mean error at the small T."""
BALL_CHECK_B = 0.5
"""Radius used by check_stays_in_ball with kit-built parameters (the data push towards 2)."""
MLE_TOL = 1e-10
MLE_MAX_ITER = 100

_SIZES = {
    True: dict(dims=(1, 3), T_shape=40, T_bits=300, T_sym=300, T_inv=300, T_ball=300,
               T_learn=200, T_shock=120, T_small=200, T_large=2000, seeds=3),
    False: dict(dims=(1, 2, 5), T_shape=200, T_bits=2000, T_sym=2000, T_inv=2000, T_ball=2000,
                T_learn=500, T_shock=300, T_small=200, T_large=10000, seeds=5),
}


class CheckSkipped(unittest.SkipTest):
    """A check does not apply to the model (pytest reports it as skipped)."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: status "passed", "failed" or "skipped", wall time, a one-line
    message (what was measured, or why it failed or was skipped)."""

    check: str
    status: str
    seconds: float
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class PathModel:
    """A path function f(Z, y) -> (T + 1, d) iterates as a model for the kit.

    `B`: the radius of the ball the iterates are claimed to stay in (None: no claim, and
    check_stays_in_ball is skipped). A path function has no inverse or matrix, so the checks
    of those are skipped.
    """

    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    name: str = ""
    B: float | None = None


# ------------------------------------------------------------------ data


def preference_stream(env: PreferenceEnv, T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(Z, y) of T uniform random queries on `env` with Bradley-Terry labels, from `seed`.

    The uniforms are `CommonRandomNumbers.draw(seed, T)`: contexts x_t ~ rho, an ordered pair
    of distinct arms (a_t, a'_t) uniform, z_t = phi(x_t, a_t) - phi(x_t, a'_t) and
    y_t = 1[u_t < P(y = 1 | z_t' theta*)] (the environment's link). Z (T, d), y (T,) float64.
    """
    crn = CommonRandomNumbers.draw(seed, T)
    x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, crn.context_u, crn.arm_u)
    y = bt_labels(env.phi, env.theta_star, x, a, a2, crn.label_u, env.link_code)
    return pair_differences(env.phi, x, a, a2), y.astype(np.float64)


def canonical_env(d: int = CANONICAL_D, *, B: float = CANONICAL_B, seed: int = 0
                  ) -> PreferenceEnv:
    """The kit's environment: `random_directions_env(20, 5, d, L=1, B=B, seed)`."""
    return random_directions_env(20, 5, d, L=CANONICAL_L, B=B, seed=seed)


# ------------------------------------------------------------------ a model, adapted


@dataclass
class _Subject:
    """A model of any accepted kind behind one interface: params, fit, init, step, read."""

    name: str
    kind: str  # "builtin", "protocol" or "path"
    model: Any
    params_spec: Any = None
    ball_B: float | None = None  # PathModel only

    @property
    def has_state(self) -> bool:
        return self.kind != "path"

    # -------------------------------------------------------------- parameters
    def params(self, d: int, L: float, B: float, project: bool = True) -> Any:
        """The parameter vector for a run with bounds (L, B): the caller's, or built."""
        if self.kind == "path":
            return None
        spec = self.params_spec
        if spec is not None and not callable(spec):
            return np.ascontiguousarray(spec, dtype=np.float64)
        c = practical_constants(d, L, B)
        if callable(spec):
            out = spec(c.eta, c.lam, B, L, project)
        elif self.kind == "protocol":
            out = self.model.make_params(c.eta, c.lam, B, L, project)
        elif self.model == MODEL_OMD:
            out = [c.eta, c.lam, B, 1.0 if project else 0.0]
        else:
            out = [c.lam, B if project else math.inf, MLE_TOL, MLE_MAX_ITER]
        return np.ascontiguousarray(out, dtype=np.float64)

    def ball(self, params: Any, requested_B: float) -> tuple[float | None, str]:
        """(radius the iterates must stay in, or None with the reason)."""
        if self.kind == "path":
            if self.ball_B is None:
                return None, "a plain path function declares no ball (wrap it in PathModel(B=...))"
            return float(self.ball_B), ""
        fixed = self.params_spec is not None and not callable(self.params_spec)
        if self.kind == "builtin":
            if self.model == MODEL_OMD:
                return (float(params[2]), "") if params[3] != 0.0 else (
                    None, "params say project = 0")
            B = float(params[1])
            return (B, "") if math.isfinite(B) else (None, "params say B = inf (unconstrained)")
        if not self.model.projects:
            return None, "the model does not claim to project (RewardModel.projects = False)"
        if fixed and self.model.params is None:
            return (float(params[2]), "") if params[3] != 0.0 else (
                None, "params say project = 0")
        if fixed:
            return None, "B cannot be read from a fixed vector of a custom parameter layout"
        return float(requested_B), ""

    # -------------------------------------------------------------- runs
    def fit(self, Z: np.ndarray, y: np.ndarray, params: Any) -> tuple[np.ndarray, Any]:
        """(path, final state or None) of a run from the initial state."""
        if self.kind == "path":
            Zc, yc = check_design(Z, y)
            out = self.model.fn(Zc, yc)
            if not isinstance(out, np.ndarray):
                raise AssertionError(f"the path function returned {type(out).__name__}, "
                                     f"not a numpy array")
            return out, None
        path, state, _ = fit_path(self.model, Z, y, params)
        return path, state

    def init(self, d: int, T: int, params: Any) -> tuple:
        lam = 1.0
        if self.kind == "builtin":
            lam = float(params[0] if self.model == MODEL_MLE else params[1])
        return init_state(self.model, d, T, params, lam)

    def estimate(self, state: tuple) -> np.ndarray:
        return state[0] if self.kind == "builtin" else self.model.estimate(state)

    def inverse(self, state: tuple) -> np.ndarray:
        return state[1] if self.kind == "builtin" else self.model.inverse(state)

    def matrix(self, state: tuple) -> np.ndarray:
        return state[2] if self.kind == "builtin" else self.model.matrix(state)

    def trace(self, Z: np.ndarray, y: np.ndarray, params: Any, cuts: Sequence[int],
              visit: Callable[[int, tuple], None]) -> np.ndarray:
        """Feed (Z, y) in segments ending at `cuts` (as the stage loops do between
        checkpoints), call visit(t, state) after each, return the assembled path."""
        Z, yv = check_design(Z, y)
        T, d = Z.shape
        state = self.init(d, T, params)
        visit(0, state)
        counters = np.zeros(len(COUNTERS), dtype=np.int64)
        handle = model_handle(self.model)
        path = np.empty((T + 1, d))
        start = 0
        for cut in cuts:
            seg = np.empty((cut - start + 1, d))
            model_stream(handle, state, Z[start:cut], yv[start:cut], start, params, counters,
                         seg)
            path[start:cut + 1] = seg
            visit(cut, state)
            start = cut
        return path


def _subject(model: Any, params: Any = None, name: str | None = None) -> _Subject:
    if isinstance(model, _Subject):
        return model
    if isinstance(model, RewardModel):
        return _Subject(str(name or model.name), "protocol", model, params)
    if isinstance(model, PathModel):
        return _Subject(str(name or model.name or getattr(model.fn, "__name__", "path-function")),
                        "path", model, None, model.B)
    if isinstance(model, str) and model in BUILTIN_MODELS:
        model = BUILTIN_MODELS[model]
    if isinstance(model, (int, np.integer)) and not isinstance(model, bool):
        code = int(model)
        if code not in BUILTIN_MODELS.values():
            raise ValueError(f"unknown built-in model code {code}; known: {BUILTIN_MODELS}")
        label = {v: k for k, v in BUILTIN_MODELS.items()}[code]
        return _Subject(name or f"builtin-{label}", "builtin", code, params)
    if callable(model):
        pm = PathModel(model, str(name or getattr(model, "__name__", "path-function")))
        return _Subject(pm.name, "path", pm)
    raise TypeError(f"a model is a RewardModel, a built-in code {BUILTIN_MODELS}, a PathModel "
                    f"or a path function f(Z, y); got {type(model).__name__}")


# ------------------------------------------------------------------ helpers


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fail(detail: str) -> None:
    raise AssertionError(detail)


def _expect_array(label: str, arr: Any, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        _fail(f"{label} is a {type(arr).__name__}, not a numpy array")
    if arr.dtype != np.float64:
        _fail(f"{label} has dtype {arr.dtype}, expected float64")
    if arr.shape != shape:
        _fail(f"{label} has shape {arr.shape}, expected {shape}")
    return arr


def _expect_c(label: str, arr: np.ndarray) -> None:
    if not arr.flags.c_contiguous:
        _fail(f"{label} is not C-contiguous")


def _first_nonfinite(arr: np.ndarray) -> tuple[int, ...] | None:
    bad = ~np.isfinite(arr)
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None


def _first_diff_row(a: np.ndarray, b: np.ndarray) -> int:
    rows = np.flatnonzero(np.any(a.reshape(a.shape[0], -1) != b.reshape(b.shape[0], -1),
                                 axis=1))
    return int(rows[0]) if rows.size else -1


def _same_bits(label: str, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        _fail(f"{label}: shapes {a.shape} and {b.shape}")
    if a.tobytes() != b.tobytes():
        i = _first_diff_row(a, b)
        where = f" from row {i}" if a.ndim == 2 and a.shape[0] > 1 and i >= 0 else ""
        diff = np.nanmax(np.abs(a - b)) if a.size else 0.0
        _fail(f"{label} differ{where} (max |difference| = {diff:.3g})")


# ------------------------------------------------------------------ registry

CHECKS: list[Callable[..., str]] = []
"""The check functions, in the order check_estimator runs them."""


def _check(fn: Callable[[_Subject, dict], str]) -> Callable[..., str]:
    """Register a check: the public function takes (model, *, params, quick), adapts the
    model, and turns any exception into a one-line AssertionError naming the property."""
    prop = (fn.__doc__ or fn.__name__).strip().splitlines()[0].rstrip(".")

    @functools.wraps(fn)
    def check(model: Any, *, params: Any = None, quick: bool = True) -> str:
        subj = _subject(model, params)
        try:
            return fn(subj, _SIZES[bool(quick)])
        except CheckSkipped:
            raise
        except AssertionError as exc:
            raise AssertionError(_one_line(f"{fn.__name__} failed for {subj.name!r} ({prop}): "
                                           f"{exc}")) from exc
        except Exception as exc:  # the model itself raised
            raise AssertionError(_one_line(f"{fn.__name__} failed for {subj.name!r} ({prop}): "
                                           f"the model raised {type(exc).__name__}: {exc}")
                                 ) from exc

    del check.__wrapped__  # the public signature is (model, *, params, quick)
    check.__annotations__ = {"model": Any, "params": Any, "quick": bool, "return": str}
    check.property = prop  # type: ignore[attr-defined]
    CHECKS.append(check)
    return check


# ------------------------------------------------------------------ the checks


@_check
def check_shapes(subj: _Subject, sz: dict) -> str:
    """Outputs have the documented shapes and dtypes.

    The path of T observations is a (T + 1, d) float64 array (row 0 the estimate before any
    data); estimate(state) is (d,), inverse(state) and matrix(state) are (d, d), all float64
    and C-contiguous, as the compiled loops require (they copy estimates into (d,) rows and
    take widths ||x||_{M^{-1}} = sqrt(x' inverse x)); the initial state is finite. Tried in
    several dimensions d, so a model that hard-codes d fails.
    """
    for d in sz["dims"]:
        T = sz["T_shape"]
        Z, y = preference_stream(canonical_env(d, seed=11), T, seed=12)
        params = subj.params(d, CANONICAL_L, CANONICAL_B)
        if subj.has_state:
            state = subj.init(d, T, params)
            for label, arr, shape in (("estimate", subj.estimate(state), (d,)),
                                      ("inverse", subj.inverse(state), (d, d)),
                                      ("matrix", subj.matrix(state), (d, d))):
                _expect_array(f"{label}(initial state) at d = {d}", arr, shape)
                _expect_c(f"{label}(initial state) at d = {d}", arr)
                bad = _first_nonfinite(arr)
                if bad is not None:
                    _fail(f"{label}(initial state) at d = {d} has {arr[bad]} at {bad}")
        path, state = subj.fit(Z, y, params)
        _expect_array(f"path at d = {d}, T = {T}", path, (T + 1, d))
        if not np.all(np.isfinite(path[0])):
            _fail(f"the initial estimate (path row 0) at d = {d} is not finite: {path[0]}")
        if state is not None:
            for label, arr, shape in (("estimate", subj.estimate(state), (d,)),
                                      ("inverse", subj.inverse(state), (d, d)),
                                      ("matrix", subj.matrix(state), (d, d))):
                _expect_array(f"{label}(state after {T} observations) at d = {d}", arr, shape)
                _expect_c(f"{label}(state after {T} observations) at d = {d}", arr)
    extra = "" if subj.has_state else " (path function: no state to inspect)"
    return f"d in {tuple(sz['dims'])}: path (T + 1, d) float64{extra}"


@_check
def check_same_bits(subj: _Subject, sz: dict) -> str:
    """The same stream gives the same bits.

    Two runs on one (Z, y), a run on copies of Z and y, and (for stateful models) a run fed in
    three segments with the right observation indices t0 + 1, ... (as the stage loops feed
    data between checkpoints) must give bit-identical paths and final inverse and matrix: an
    estimator is a deterministic function of its data, which is what makes common random
    numbers and cached results meaningful.
    """
    T = sz["T_bits"]
    Z, y = preference_stream(canonical_env(seed=21), T, seed=22)
    params = subj.params(CANONICAL_D, CANONICAL_L, CANONICAL_B)
    p1, s1 = subj.fit(Z, y, params)
    p2, s2 = subj.fit(Z, y, params)
    _same_bits("two runs on the same stream: paths", p1, p2)
    p3, s3 = subj.fit(Z.copy(), y.copy(), params)
    _same_bits("a run on a copied stream: paths", p1, p3)
    if subj.has_state:
        for label, get in (("inverse", subj.inverse), ("matrix", subj.matrix)):
            _same_bits(f"two runs on the same stream: final {label}s", np.asarray(get(s1)),
                       np.asarray(get(s2)))
        finals: dict[str, np.ndarray] = {}

        def visit(t: int, state: tuple) -> None:
            if t == T:
                finals["inverse"] = np.array(subj.inverse(state))
                finals["matrix"] = np.array(subj.matrix(state))

        p4 = subj.trace(Z, y, params, [T // 3, 2 * T // 3, T], visit)
        _same_bits("a run fed in three segments: paths", p1, p4)
        for label in ("inverse", "matrix"):
            _same_bits(f"a run fed in three segments: final {label}s",
                       np.asarray(getattr(subj, label)(s1)), finals[label])
    return f"T = {T}: identical bits over repeated, copied" + (
        " and segmented runs" if subj.has_state else " runs")


def _shock_stream(subj: _Subject, params: Any, sz: dict, B_env: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stream that drives the margins to +-EXTREME_MARGIN at the model's own estimate.

    Phase 1: T_learn noise-free labels y = 1[z' theta* > 0] on the canonical environment (the
    model learns a direction strongly); phase 2: T_shock rows z = +-(60 / ||theta_A||) u at the
    learned theta_A = ||theta_A|| u (margin +-60 at theta_A), labels cycling through opposing
    and agreeing, plus random directions of the same norm; phase 3: phase 1 again.
    """
    env = canonical_env(B=B_env, seed=seed)
    Z1, _ = preference_stream(env, sz["T_learn"], seed=seed + 1)
    y1 = (Z1 @ env.theta_star > 0).astype(np.float64)
    path1, _ = subj.fit(Z1, y1, params)
    theta_a = np.asarray(path1[-1], dtype=np.float64)
    r = float(np.linalg.norm(theta_a)) if np.all(np.isfinite(theta_a)) else 0.0
    if r < 1e-12:
        u, r = env.theta_star / np.linalg.norm(env.theta_star), 0.25
    else:
        u = theta_a / r
    scale = EXTREME_MARGIN / max(r, 0.25)
    rng = np.random.default_rng(seed + 2)
    n = sz["T_shock"]
    Z2 = np.empty((n, env.d))
    y2 = np.empty(n)
    for i in range(n):
        k = i % 6
        if k < 4:
            Z2[i] = (1.0 if k in (0, 2) else -1.0) * scale * u
            y2[i] = (0.0, 1.0, 1.0, 0.0)[k]  # opposing, opposing, agreeing, agreeing
        else:
            g = rng.standard_normal(env.d)
            Z2[i] = scale * g / np.linalg.norm(g)
            w = float(Z2[i] @ theta_a)
            y2[i] = float(rng.random() < 0.5) if k == 4 else float(w < 0.0)
    return np.vstack([Z1, Z2, Z1]), np.concatenate([y1, y2, y1])


@_check
def check_extreme_margins(subj: _Subject, sz: dict) -> str:
    """Iterates, inverse and matrix stay finite at margins z' theta = +-60.

    The log loss l(w) = softplus(w) - y w and sigma'(w) = e^{-|w|} / (1 + e^{-|w|})^2 are
    finite for every finite w, but naive forms are not: 1 - sigma(w) rounds to 0 beyond
    w ~ 37, exp overflows beyond 709, and 0 * log 0 is NaN. The stream first teaches the model
    a direction with noise-free labels, then feeds z of norm 60 / ||theta_A|| along and across
    the learned theta_A (labels opposing and agreeing), then the first data again; every
    iterate, and for stateful models the inverse and matrix after every observation, must be
    finite.
    """
    params = subj.params(CANONICAL_D, CANONICAL_L, CANONICAL_B)
    Z, y = _shock_stream(subj, params, sz, CANONICAL_B, seed=31)
    T = Z.shape[0]
    if subj.has_state:
        prev = [np.zeros(Z.shape[1])]

        def visit(t: int, state: tuple) -> None:
            est = np.array(subj.estimate(state))
            if t > 0 and not np.all(np.isfinite(est)):
                _fail(f"iterate theta_{t + 1} is {est} after observation {t} with margin "
                      f"z' theta = {float(Z[t - 1] @ prev[0]):.3g}, y = {y[t - 1]:g}")
            if t > 0:
                for label in ("inverse", "matrix"):
                    arr = np.asarray(getattr(subj, label)(state))
                    bad = _first_nonfinite(arr)
                    if bad is not None:
                        _fail(f"{label} after observation {t} has {arr[bad]} at {bad} "
                              f"(margin z' theta = {float(Z[t - 1] @ prev[0]):.3g}, "
                              f"y = {y[t - 1]:g})")
            prev[0] = est

        path = subj.trace(Z, y, params, list(range(1, T + 1)), visit)
    else:
        path, _ = subj.fit(Z, y, params)
        _expect_array("path", path, (T + 1, Z.shape[1]))
    bad = _first_nonfinite(path)
    if bad is not None:
        t = bad[0]
        w = float(Z[t - 1] @ path[t - 1]) if t > 0 else float("nan")
        _fail(f"iterate theta_{t + 1} (path row {t}) is {path[t]} after observation {t} "
              f"with margin z' theta = {w:.3g}, y = {y[t - 1] if t > 0 else '-'}")
    margins = np.einsum("td,td->t", Z, path[:-1])
    return (f"T = {T}, max |z_t' theta_t| = {np.abs(margins).max():.3g}: all finite"
            + ("" if subj.has_state else " (iterates only)"))


@_check
def check_label_swap_symmetry(subj: _Subject, sz: dict) -> str:
    """The path is invariant under (z, y) -> (-z, 1 - y), to relative 1e-9.

    Swapping the two arms of a query negates z and flips the label; the Bradley-Terry
    likelihood P(y | z, theta) = sigma(z' theta)^y (1 - sigma(z' theta))^{1 - y} is unchanged
    because 1 - sigma(w) = sigma(-w), so an estimator of theta must not see the difference:
    the paths, and the final inverse and matrix (z z' is unchanged), must agree up to rounding,
    |a - b| <= 1e-9 max(1, max |a|).
    """
    T = sz["T_sym"]
    Z, y = preference_stream(canonical_env(seed=41), T, seed=42)
    params = subj.params(CANONICAL_D, CANONICAL_L, CANONICAL_B)
    p1, s1 = subj.fit(Z, y, params)
    p2, s2 = subj.fit(-Z, 1.0 - y, params)
    pairs = [("path", p1, p2)]
    if subj.has_state:
        pairs += [(label, np.asarray(getattr(subj, label)(s1)),
                   np.asarray(getattr(subj, label)(s2))) for label in ("inverse", "matrix")]
    worst = 0.0
    for label, a, b in pairs:
        if a.shape != b.shape:
            _fail(f"{label} shapes {a.shape} and {b.shape}")
        scale = max(1.0, float(np.nanmax(np.abs(a))) if a.size else 1.0)
        diff = np.abs(a - b) / scale
        if not np.all(np.isfinite(diff)):
            _fail(f"{label} is not finite in one of the runs")
        rel = float(diff.max()) if diff.size else 0.0
        worst = max(worst, rel)
        if rel > SYMMETRY_RTOL:
            where = ""
            if label == "path":
                row = int(np.flatnonzero(diff.max(axis=1) > SYMMETRY_RTOL)[0])
                where = f" from row {row}"
            _fail(f"{label} on (-Z, 1 - y) differs{where} by {rel:.3g} relative "
                  f"(tolerance {SYMMETRY_RTOL:g})")
    return f"T = {T}: max relative difference {worst:.2g}"


@_check
def check_error_decreases(subj: _Subject, sz: dict) -> str:
    """The estimation error falls with T on a well-specified environment.

    On logistic Bradley-Terry data from the canonical environment (||theta*|| = B = 2, ||z||
    <= 2), a consistent estimator has ||theta_T - theta*|| -> 0 (about sqrt(d / T) for the MLE
    and for one-pass OMD); the mean error over a few seeds at the large T must be at most
    0.7 x the mean error at the small T (T = 200 vs 2000 over 3 seeds, quick; 200 vs 10000
    over 5 seeds otherwise). A wrong sign or a wrong scale of the gradient fails this.
    """
    Ts, Tl = sz["T_small"], sz["T_large"]
    small, large = [], []
    for s in range(sz["seeds"]):
        env = canonical_env(seed=1000 + s)
        Z, y = preference_stream(env, Tl, seed=2000 + s)
        params = subj.params(env.d, env.L, env.B)
        path, _ = subj.fit(Z, y, params)
        _expect_array("path", path, (Tl + 1, env.d))
        small.append(float(np.linalg.norm(path[Ts] - env.theta_star)))
        large.append(float(np.linalg.norm(path[Tl] - env.theta_star)))
    ms, ml = float(np.mean(small)), float(np.mean(large))
    if not (math.isfinite(ms) and math.isfinite(ml)):
        _fail(f"the error is not finite (mean at T = {Ts}: {ms}, at T = {Tl}: {ml})")
    if not ml <= ERROR_RATIO * ms:
        _fail(f"mean ||theta_T - theta*|| over {sz['seeds']} seeds is {ml:.3g} at T = {Tl} "
              f"vs {ms:.3g} at T = {Ts} (required <= {ERROR_RATIO} x)")
    return f"mean error {ms:.3g} at T = {Ts} -> {ml:.3g} at T = {Tl} ({sz['seeds']} seeds)"


@_check
def check_stays_in_ball(subj: _Subject, sz: dict) -> str:
    """Every iterate lies in the ball the model claims: ||theta_t|| <= B (1 + 1e-9).

    Applies when the model says it projects (a RewardModel with projects=True and params that
    say project, MODEL_OMD with project = 1, MODEL_MLE with a finite B, a PathModel with B).
    With kit-built parameters the ball has radius 0.5 while theta* has norm 2, so the data
    push every consistent estimator to the boundary; the margin stream of
    check_extreme_margins is run as well. The paper's confidence sets and the kappa of
    Definition 2 are taken over this ball, so an iterate outside it voids the guarantees.
    """
    params = subj.params(CANONICAL_D, CANONICAL_L, BALL_CHECK_B, project=True)
    B, why = subj.ball(params, BALL_CHECK_B)
    if B is None:
        raise CheckSkipped(f"check_stays_in_ball skipped for {subj.name!r}: {why}")
    B_env = 4.0 * B if B <= CANONICAL_B else B + 6.0
    Z1, y1 = preference_stream(canonical_env(B=B_env, seed=51), sz["T_ball"], seed=52)
    Z2, y2 = _shock_stream(subj, params, sz, B_env, seed=53)
    top = 0.0
    for label, Z, y in (("uniform stream", Z1, y1), ("margin stream", Z2, y2)):
        path, _ = subj.fit(Z, y, params)
        _expect_array(f"path ({label})", path, (Z.shape[0] + 1, Z.shape[1]))
        norms = np.linalg.norm(path, axis=1)
        over = np.flatnonzero(~(norms <= B * (1.0 + BALL_RTOL)))
        if over.size:
            t = int(over[0])
            _fail(f"{label}: ||theta_{t + 1}|| = {norms[t]:.6g} > B = {B:g} after "
                  f"observation {t} ({over.size} of {norms.size} iterates outside)")
        top = max(top, float(norms.max()))
    return f"B = {B:g}: max ||theta_t|| / B = {top / B:.6f}"


@_check
def check_inverse_matches_matrix(subj: _Subject, sz: dict) -> str:
    """inverse(state) stays the inverse of matrix(state): ||inverse M - I||_2 <= 1e-8 cond(M).

    The stage algorithms measure widths ||x||_{M_t^{-1}} with `inverse` and confidence sets
    ||theta - theta_hat||_{M_t} with `matrix`; a rank-one (Sherman-Morrison) update of the
    inverse that uses another weight than the matrix update (for instance sigma' at the old
    point theta_t for one and at theta_{t+1} for the other) makes them disagree. Checked at
    the initial state and after T/4, T/2 and T observations of a uniform stream.
    """
    if not subj.has_state:
        raise CheckSkipped(f"check_inverse_matches_matrix skipped for {subj.name!r}: a path "
                           f"function has no inverse or matrix")
    T = sz["T_inv"]
    Z, y = preference_stream(canonical_env(seed=61), T, seed=62)
    params = subj.params(CANONICAL_D, CANONICAL_L, CANONICAL_B)
    d = Z.shape[1]
    worst = [0.0]

    def visit(t: int, state: tuple) -> None:
        inv = _expect_array(f"inverse after {t} observations", subj.inverse(state), (d, d))
        mat = _expect_array(f"matrix after {t} observations", subj.matrix(state), (d, d))
        if not (np.all(np.isfinite(inv)) and np.all(np.isfinite(mat))):
            _fail(f"inverse or matrix after {t} observations is not finite")
        err = float(np.linalg.norm(inv @ mat - np.eye(d), 2))
        cond = float(np.linalg.cond(mat))
        tol = INVERSE_RTOL * max(1.0, cond) if math.isfinite(cond) else math.inf
        if not err <= tol:
            _fail(f"||inverse M - I||_2 = {err:.3g} after {t} observations "
                  f"(tolerance {tol:.3g}, cond(M) = {cond:.3g})")
        worst[0] = max(worst[0], err)

    subj.trace(Z, y, params, [T // 4, T // 2, T], visit)
    return f"T = {T}: max ||inverse M - I||_2 = {worst[0]:.2g}"


@_check
def check_no_state_leak(subj: _Subject, sz: dict) -> str:
    """A run depends on its own (Z, y) only: runs on other data in between change nothing.

    An estimator receives (Z, y) and its parameters, never theta*: two environments with
    different theta* that produce the same (Z, y) give the same path by construction of
    `fit_path`. What can still break this is state outside the run (module-level caches,
    arrays shared between runs, a global random generator). So: a run on a stream, then runs
    on a stream from an environment with the same features and another theta* and on a
    stream of another dimension, then the first stream again: the first and last paths (and
    final inverse and matrix) must be bit-identical.
    """
    T = sz["T_bits"]
    env1 = canonical_env(seed=71)
    other = np.roll(env1.theta_star, 1) * -1.0
    env2 = PreferenceEnv(env1.phi, env1.rho, other, env1.L, env1.B, name="other-theta")
    Z1, y1 = preference_stream(env1, T, seed=72)
    Z2, y2 = preference_stream(env2, T + 37, seed=73)
    Z3, y3 = preference_stream(canonical_env(2, seed=74), T // 2, seed=75)
    params = subj.params(CANONICAL_D, CANONICAL_L, CANONICAL_B)
    first, s_first = subj.fit(Z1, y1, params)
    snap = {}
    if subj.has_state:
        snap = {k: np.array(getattr(subj, k)(s_first)) for k in ("inverse", "matrix")}
    subj.fit(Z2, y2, params)
    subj.fit(Z3, y3, subj.params(2, CANONICAL_L, CANONICAL_B))
    again, s_again = subj.fit(Z1, y1, params)
    _same_bits("the path after runs on other data and the first path", first, again)
    for k, v in snap.items():
        _same_bits(f"the final {k} after runs on other data and the first one", v,
                   np.asarray(getattr(subj, k)(s_again)))
    return f"T = {T}: identical after runs on another theta* and d = 2"


# ------------------------------------------------------------------ drivers


def estimator_checks(model: Any, *, params: Any = None, name: str | None = None,
                     quick: bool = True) -> Iterator[tuple[str, Callable[[], str]]]:
    """Yield (check name, callable) pairs for a model; calling one runs that check.

    The callable returns a one-line summary, raises AssertionError naming the property on
    failure and `CheckSkipped` (a unittest.SkipTest, which pytest reports as a skip) when the
    check does not apply. `params`: None (built from the practical constants), a fixed float64
    vector, or a callable (eta, lam, B, L, project) -> vector.
    """
    subj = _subject(model, params, name)
    for check in CHECKS:
        yield check.__name__, functools.partial(check, subj, params=params, quick=quick)


def check_estimator(model: Any, *, params: Any = None, name: str | None = None,
                    quick: bool = True, raise_on_failure: bool = True) -> list[CheckResult]:
    """Run every check on a model; return one CheckResult per check, in order.

    With raise_on_failure=True (the default), the first failure raises AssertionError with a
    one-line message naming the check, the model and the property; otherwise every check runs
    and failures are reported in the results. `params` as in `estimator_checks`; quick=False
    runs longer streams, more dimensions and more seeds.
    """
    results: list[CheckResult] = []
    for check_name, run in estimator_checks(model, params=params, name=name, quick=quick):
        t0 = time.perf_counter()
        try:
            msg, status = run(), "passed"
        except CheckSkipped as exc:
            msg, status = _one_line(str(exc)), "skipped"
        except AssertionError as exc:
            if raise_on_failure:
                raise
            msg, status = str(exc), "failed"
        results.append(CheckResult(check_name, status, time.perf_counter() - t0, msg))
    return results


def parametrize_with_checks(models: Sequence[Any], *, quick: bool = True) -> Any:
    """A pytest mark that parametrizes a test over every (model, check) pair.

    `models`: models, or (model, params) pairs. Use as

        @parametrize_with_checks([MODEL_OMD, (MODEL_MLE, [1.0, np.inf, 1e-10, 100])])
        def test_my_models(check):
            check()
    """
    import pytest

    cases, ids = [], []
    for item in models:
        model, params = item if type(item) is tuple else (item, None)
        subj = _subject(model, params)
        for check_name, run in estimator_checks(subj, params=params, quick=quick):
            cases.append(run)
            ids.append(f"{subj.name}-{check_name}")
    return pytest.mark.parametrize("check", cases, ids=ids)


__all__ = [
    "CHECKS", "CheckResult", "CheckSkipped", "PathModel", "canonical_env", "check_error_decreases",
    "check_estimator", "check_extreme_margins", "check_inverse_matches_matrix",
    "check_label_swap_symmetry", "check_no_state_leak", "check_same_bits", "check_shapes",
    "check_stays_in_ball", "estimator_checks", "parametrize_with_checks", "preference_stream",
]
