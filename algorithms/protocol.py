"""The reward-model protocol: a reward model is four numba kernels over explicit state.

Every stage loop of the project (`algorithms.deployment_loop`, the training loops of
`algorithms.model_loops`) calls a reward model only through the four functions below, so a
researcher's own model runs in the same compiled loops as the built-in ones, without editing
them:

    state = init(d, T, params)                      plain Python, once per run: a tuple of arrays
    update(state, z, y, t, params, counters)        in place, after observation t = 1, 2, ...
    estimate(state)   -> (d,)   float64             theta_{t+1}, the current estimate
    inverse(state)    -> (d, d) float64             M_t^{-1}, the inverse confidence matrix
    matrix(state)     -> (d, d) float64             M_t itself (for ||theta - theta*||_{M_t})

`params` is a float64 vector (the model's constants, built by `RewardModel.params` from the
run's eta, lambda and bounds); `counters` an int64 vector of COUNTERS that the update may
increment. `estimate`, `inverse` and `matrix` return C-contiguous float64 arrays; they may be
views of the state. The confidence set of the stage algorithms is
C_t = {theta : ||theta - estimate||_{matrix} <= beta_t}, and their widths are measured in
`inverse`.

Built-in models are integer codes (MODEL_OMD, MODEL_MLE) so that the loops that run them are
compiled once and cached on disk; a user model is a `RewardModel` of numba dispatchers, and a
loop that runs it is compiled once per process (a few seconds) and then runs at the same speed.
The calls below (`model_update`, ...) dispatch on the argument's type at compile time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from sim.core.links import dsigmoid

from .linalg import dot, rank_one_update, sherman_morrison_update
from .mle import mle_newton
from .omd import omd_update

COUNTERS: tuple[str, ...] = ("newton_iterations", "unconverged_refits", "projections")
"""Counters a model update may increment, in this order."""

MODEL_OMD = 0
"""Built-in one-pass OMD (Algorithm 1): matrix Hcal_t, params (eta, lam, B, project)."""
MODEL_MLE = 1
"""Built-in regularised MLE refit every round by warm-started Newton: matrix V_t (unweighted),
params (lam, B, tol, max_iter); B = inf when unconstrained."""
BUILTIN_MODELS: dict[str, int] = {"omd": MODEL_OMD, "mle": MODEL_MLE}


class RewardModel(NamedTuple):
    """A reward model as numba kernels over explicit state (module docstring).

    init(d, T, params) -> state; update(state, z, y, t, params, counters); estimate(state);
    inverse(state); matrix(state). `params(eta, lam, B, L, project)` returns the float64
    parameter vector of a run (default: [eta, lam, B, 1.0 if project else 0.0]).
    """

    name: str
    init: Callable[..., tuple]
    update: Any
    estimate: Any
    inverse: Any
    matrix: Any
    params: Callable[..., np.ndarray] | None = None
    matrix_name: str = "M"
    """How tables name the confidence matrix (e.g. "Hcal", "V")."""
    projects: bool = False
    """Whether the estimate stays in the B-ball when params say project (checked by the kit)."""

    def make_params(self, eta: float, lam: float, B: float, L: float, project: bool) -> np.ndarray:
        """The model's float64 parameter vector for a run."""
        if self.params is None:
            return np.array([eta, lam, B, 1.0 if project else 0.0])
        return np.ascontiguousarray(self.params(eta, lam, B, L, project), dtype=np.float64)


# ------------------------------------------------------------------ built-in state layout
# Both built-ins share one state tuple (theta, Minv, M, Zh, yh, u, Mbuf) so that one cached
# loop serves both: Zh (T, d) and yh (T,) hold the MLE's past data ((0, d), (0,) for OMD).


def builtin_init(code: int, d: int, T: int, lam: float) -> tuple:
    """Initial state of a built-in model: theta = 0, M = lambda I."""
    keep = code == MODEL_MLE
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d),
            np.zeros((T, d)) if keep else np.zeros((0, d)),
            np.zeros(T) if keep else np.zeros(0), np.empty(d), np.empty((d, d)))


@njit(cache=True, inline="always")
def builtin_update(code: int, state: tuple, z: np.ndarray, y: float, t: int,
                   params: np.ndarray, counters: np.ndarray) -> None:
    """Observation t of a built-in model, in place.

    OMD (params eta, lam, B, project): `algorithms.omd.omd_update`, then
    Hcal_{t+1} = Hcal_t + sigma'(z_t' theta_{t+1}) z_t z_t' for the accounting copy of Hcal.
    MLE (params lam, B, tol, max_iter): append (z_t, y_t), refit by warm-started projected
    Newton on the t observations, V_{t+1} = V_t + z_t z_t' (and its inverse by Sherman-Morrison).
    """
    theta, Minv, M, Zh, yh, u, Mbuf = state
    if code == MODEL_OMD:
        project = params[3] != 0.0
        B = params[2] if project else np.inf
        if omd_update(theta, Minv, z, y, params[0], B, project, u, Mbuf):
            counters[2] += 1
        rank_one_update(M, z, dsigmoid(dot(z, theta)))
    else:
        i = t - 1
        Zh[i, :] = z
        yh[i] = y
        fit, its, ok = mle_newton(Zh, yh, t, params[0], params[1], theta, params[2],
                                  int(params[3]))
        theta[:] = fit
        counters[0] += its
        if not ok:
            counters[1] += 1
        sherman_morrison_update(Minv, z, 1.0, u)
        rank_one_update(M, z, 1.0)


# ------------------------------------------------- accessors of the common state layout


@njit(cache=True)
def state_estimate(state):
    """estimate(state) of a model whose state begins (theta, Minv, M, ...)."""
    return state[0]


@njit(cache=True)
def state_inverse(state):
    """inverse(state) of a model whose state begins (theta, Minv, M, ...)."""
    return state[1]


@njit(cache=True)
def state_matrix(state):
    """matrix(state) of a model whose state begins (theta, Minv, M, ...)."""
    return state[2]


# --------------------------------------------------------------- type-dispatched calls


def model_update(model, state, z, y, t, params, counters):  # pragma: no cover - numba only
    """update(state, z, y, t, params, counters) of a built-in code or a RewardModel."""
    raise NotImplementedError("model_update is called from compiled loops only")


def model_estimate(model, state):  # pragma: no cover - numba only
    raise NotImplementedError("model_estimate is called from compiled loops only")


def model_inverse(model, state):  # pragma: no cover - numba only
    raise NotImplementedError("model_inverse is called from compiled loops only")


def model_matrix(model, state):  # pragma: no cover - numba only
    raise NotImplementedError("model_matrix is called from compiled loops only")


# Each protocol call has two overloads: the built-in codes' implementation is cached on disk;
# the user-kernel one is not, because its types name functions of this process only, and an
# on-disk index entry for a function that no longer exists breaks later saves of that index.


@overload(model_update, inline="always", jit_options={"cache": True})  # type: ignore[typeddict-unknown-key]
def _model_update_builtin(model, state, z, y, t, params, counters):
    if isinstance(model, types.Integer):
        def builtin(model, state, z, y, t, params, counters):
            builtin_update(model, state, z, y, t, params, counters)
        return builtin
    return None


@overload(model_update, inline="always")
def _model_update_user(model, state, z, y, t, params, counters):
    if isinstance(model, types.Integer):
        return None

    def user(model, state, z, y, t, params, counters):
        model.update(state, z, y, t, params, counters)
    return user


def _accessor_overloads(fn, index: int, method: str) -> None:
    """The cached built-in overload (state[index]) and the per-process user one
    (model.<method>(state)) of one accessor."""
    @overload(fn, jit_options={"cache": True})  # type: ignore[typeddict-unknown-key]
    def builtin(model, state):
        if isinstance(model, types.Integer):
            return lambda model, state: state[index]
        return None

    @overload(fn)
    def user(model, state):
        if isinstance(model, types.Integer):
            return None
        if method == "estimate":
            return lambda model, state: model.estimate(state)
        if method == "inverse":
            return lambda model, state: model.inverse(state)
        return lambda model, state: model.matrix(state)


_accessor_overloads(model_estimate, 0, "estimate")
_accessor_overloads(model_inverse, 1, "inverse")
_accessor_overloads(model_matrix, 2, "matrix")


# ------------------------------------------------------------ loops over built-in or user kernels


class KernelLoop:
    """A compiled loop that runs built-in codes from the on-disk cache and user kernels from a
    per-process compilation.

    A loop specialised on a user's numba functions cannot be cached on disk (its type names
    the functions of this process), so the same Python loop is compiled twice: `cached` for
    calls whose arguments are plain arrays and codes, `per_process` for calls that carry user
    kernels. Calling the loop picks the right one.
    """

    def __init__(self, fn: Callable) -> None:
        self.py_func = fn
        self.cached = njit(cache=True)(fn)
        self.per_process = njit(cache=False)(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    def __call__(self, *args):
        if any(isinstance(a, KERNEL_TYPES) for a in args):
            return self.per_process(*args)
        return self.cached(*args)


def kernel_loop(fn: Callable) -> KernelLoop:
    """Decorator: `KernelLoop(fn)`."""
    return KernelLoop(fn)


# ------------------------------------------------------------------ a stream through a model


@kernel_loop
def model_stream(model, state, Z: np.ndarray, y: np.ndarray, t0: int, params: np.ndarray,
                 counters: np.ndarray, path_out: np.ndarray) -> None:
    """Feed rows of (Z, y) as observations t0 + 1, t0 + 2, ... to a model, in place.

    When path_out has len(Z) + 1 rows, row 0 receives the starting estimate and row i the
    estimate after i observations; pass 0 rows to store nothing.
    """
    store = path_out.shape[0] > 0
    if store:
        path_out[0, :] = model_estimate(model, state)
    for i in range(Z.shape[0]):
        model_update(model, state, Z[i], y[i], t0 + i + 1, params, counters)
        if store:
            path_out[i + 1, :] = model_estimate(model, state)


def user_model_handle(model: RewardModel) -> NamedTuple:
    """The numba-typed handle of a user model's kernels (what the compiled loops receive)."""
    return _Kernels(model.update, model.estimate, model.inverse, model.matrix)


class _Kernels(NamedTuple):
    update: Any
    estimate: Any
    inverse: Any
    matrix: Any


KERNEL_TYPES: tuple[type, ...] = (_Kernels,)
"""Types of loop arguments that carry user kernels (`KernelLoop`); extended by the registry."""


def model_handle(model: int | RewardModel) -> Any:
    """What a loop takes as its `model` argument: the code of a built-in, or a user model's
    kernels."""
    if isinstance(model, RewardModel):
        return user_model_handle(model)
    return int(model)


def init_state(model: int | RewardModel, d: int, T: int, params: np.ndarray,
               lam: float) -> tuple:
    """A model's initial state for a run of T observations in dimension d."""
    if isinstance(model, RewardModel):
        state = model.init(d, T, params)
        if not isinstance(state, tuple) or not state:
            raise ValueError(f"reward model {model.name!r}: init must return a non-empty tuple "
                             f"of arrays, got {type(state).__name__}")
        return state
    return builtin_init(int(model), d, T, lam)


def fit_path(model: int | RewardModel, Z: np.ndarray, y: np.ndarray, params: np.ndarray
             ) -> tuple[np.ndarray, tuple, np.ndarray]:
    """Run a model over (Z, y) from its initial state: (path (T + 1, d), final state, counters).

    Z (T, d) float64 and y (T,) float64 in {0, 1}, validated. The path holds the estimate before
    any data (row 0) and after each observation.
    """
    from sim.core.validation import check_design

    Z, yv = check_design(Z, y)
    T, d = Z.shape
    params = np.ascontiguousarray(params, dtype=np.float64)
    lam = float(params[0] if model == MODEL_MLE else params[1]) if not isinstance(
        model, RewardModel) else 1.0
    state = init_state(model, d, T, params, lam)
    counters = np.zeros(len(COUNTERS), dtype=np.int64)
    path = np.empty((T + 1, d))
    model_stream(model_handle(model), state, Z, yv, 0, params, counters, path)
    return path, state, counters


__all__ = ["BUILTIN_MODELS", "COUNTERS", "MODEL_MLE", "MODEL_OMD", "RewardModel", "fit_path",
           "init_state", "model_estimate", "model_handle", "model_inverse", "model_matrix",
           "model_stream", "model_update"]
