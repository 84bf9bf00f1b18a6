"""One-pass online-mirror-descent reward model: the paper's Algorithm 1 (ALGORITHMS.md 2.1).

State: theta_t (theta_1 = 0) and Hcal_t^{-1}, where Hcal_t = lambda I + sum_{i<t} sigma'(z_i'
theta_{i+1}) z_i z_i'. For each observation (z_t, y_t):

    1. Htilde_t     = Hcal_t + eta sigma'(z_t' theta_t) z_t z_t'
    2. theta'_{t+1} = theta_t - eta Htilde_t^{-1} g_t(theta_t),   g_t = (sigma(z_t'theta_t) - y_t) z_t
    3. theta_{t+1}  = argmin_{||u|| <= B} ||u - theta'_{t+1}||_{Htilde_t}        (optional)
    4. Hcal_{t+1}   = Hcal_t + sigma'(z_t' theta_{t+1}) z_t z_t'   (Hessian at the NEW point)

With u = Hcal_t^{-1} z_t and q = z_t' u, Sherman-Morrison gives Htilde_t^{-1} z_t =
u / (1 + eta s q) (s = sigma'(z_t' theta_t)), so step 2 is theta_t - eta (sigma - y) u / (1 + eta s q)
and step 4 is Hcal^{-1} -= s' u u' / (1 + s' q): one symmetric mat-vec and one rank-one update,
about 2 d^2 multiply-adds, nothing stored per sample. Step 3 costs an eigendecomposition of
Htilde_t^{-1} (O(d^3)) only in rounds where ||theta'_{t+1}|| > B; the paper's practical version
omits it (project=False).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import dsigmoid, sigmoid
from sim.core.validation import (
    CONDITION_MAX,
    FEATURE_MAX,
    check_conditioning,
    check_count,
    check_design,
    check_finite_result,
    check_positive,
)

from .linalg import (
    dot,
    project_ball_inverse_metric,
    rank_one_add,
    rank_one_add_combination,
    row_combination,
)

FUSE_MIN_D = 256
"""From this d on `omd_run` fuses the rank-one update with the next mat-vec (one pass over
Hinv per round instead of two; measured faster only once Hinv outgrows the cache)."""


@njit(cache=True, inline="always")
def omd_step(theta: np.ndarray, Hinv: np.ndarray, z: np.ndarray, y: float, eta: float,
             B: float, project: bool, u: np.ndarray, M: np.ndarray, w: float,
             u_ready: bool) -> tuple[bool, float]:
    """Steps 1-3 of Algorithm 1 without the shape checks, in place on theta; returns (whether
    the projection moved the iterate, c) with c = s' / (1 + s' q), s' = sigma'(z' theta_{t+1}),
    q = z'u: step 4 is Hinv -= c u u' (left to the caller, which may fuse it with the next
    round's mat-vec).

    w = z' theta_t. With u_ready, u already holds Hinv z (otherwise it is computed here); on
    return u = Hcal_t^{-1} z. Every inner product is a loop in index order (`linalg.dot`).
    """
    d = theta.shape[0]
    s = dsigmoid(w)
    c = sigmoid(w) - y
    if not u_ready:
        row_combination(Hinv, z, u)
    q = dot(z, u)
    denom = 1.0 + eta * s * q
    step = eta * c / denom
    w_new = 0.0
    tt = 0.0  # ||theta_{t+1}||^2 before the projection, summed as dot(theta, theta) would
    for i in range(d):
        v = theta[i] - step * u[i]
        theta[i] = v
        w_new += z[i] * v
        tt += v * v
    active = False
    if project:
        nrm = math.sqrt(tt)
        if nrm > B:
            # Htilde^{-1} = Hcal^{-1} - eta s u u' / (1 + eta s q)
            M[:, :] = Hinv
            rank_one_add(M, u, -eta * s / denom)
            tmp = theta.copy()
            project_ball_inverse_metric(tmp, M, B, theta)
            active = True
            w_new = dot(z, theta)
    s_new = dsigmoid(w_new)
    return active, s_new / (1.0 + s_new * q)


@njit(cache=True, inline="always")
def omd_update(theta: np.ndarray, Hinv: np.ndarray, z: np.ndarray, y: float, eta: float,
               B: float, project: bool, u: np.ndarray, M: np.ndarray) -> bool:
    """One step of Algorithm 1, in place on theta and Hinv = Hcal_t^{-1}.

    `u` (d,) and `M` (d, d) are work buffers (M is touched only when the projection is active);
    on return u = Hcal_t^{-1} z (the old inverse). Returns True when the projection of step 3
    moved the iterate. Mismatched shapes raise ValueError (never a read outside an array).
    """
    d = theta.shape[0]
    if (z.shape[0] != d or u.shape[0] != d or Hinv.shape[0] != d or Hinv.shape[1] != d
            or (project and (M.shape[0] != d or M.shape[1] != d))):
        raise ValueError("omd_update: theta, z, u (d,), Hinv and M (d, d) must agree in d")
    active, c = omd_step(theta, Hinv, z, y, eta, B, project, u, M, dot(z, theta), False)
    rank_one_add(Hinv, u, -c)
    return active


@njit(cache=True, inline="always")
def _omd_loop(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray, eta: float,
              B: float, project: bool, path_out: np.ndarray) -> tuple[int, bool]:
    """The loop of `omd_run`: (rounds with the projection active, whether every stored iterate
    is finite). The finiteness flag costs one subtraction per stored entry (x - x is 0 for a
    finite x and NaN for NaN or +-inf), in registers, instead of a second pass over the path.
    """
    d = theta.shape[0]
    T = Z.shape[0]
    if (Z.shape[1] != d or y.shape[0] != T or Hinv.shape[0] != d or Hinv.shape[1] != d
            or (path_out.shape[0] != 0 and (path_out.shape[0] != T + 1
                                            or path_out.shape[1] != d))):
        raise ValueError("omd_run: Z (T, d), y (T,), theta (d,), Hinv (d, d) and path_out "
                         "(0 or T + 1 rows, d columns) must agree in shape")
    u = np.empty(d)
    u_next = np.empty(d)
    M = np.empty((d, d)) if project else np.empty((0, 0))
    store = path_out.shape[0] > 0
    check = 0.0
    if store:
        for i in range(d):
            path_out[0, i] = theta[i]
            check += theta[i] - theta[i]
    n_active = 0
    if T == 0:
        return 0, check == 0.0
    fuse = d >= FUSE_MIN_D
    row_combination(Hinv, Z[0], u)
    for t in range(T):
        z = Z[t]
        active, c = omd_step(theta, Hinv, z, y[t], eta, B, project, u, M, dot(z, theta), True)
        if active:
            n_active += 1
        if fuse and t + 1 < T:
            rank_one_add_combination(Hinv, u, -c, Z[t + 1], u_next)
            for i in range(d):  # a copy, not a swap of the two arrays (no reference counting)
                u[i] = u_next[i]
        else:
            rank_one_add(Hinv, u, -c)
            if t + 1 < T:
                row_combination(Hinv, Z[t + 1], u)
        if store:
            for i in range(d):
                v = theta[i]
                path_out[t + 1, i] = v
                check += v - v
    return n_active, check == 0.0


@njit(cache=True)
def omd_run(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray, eta: float,
            B: float, project: bool, path_out: np.ndarray) -> int:
    """Algorithm 1 over the rows of Z from the state (theta, Hinv), updated in place.

    When path_out has T+1 rows, row 0 receives the starting theta and row t the iterate after
    t observations; pass an array with 0 rows to store nothing. Returns the number of rounds
    in which the projection was active. Mismatched shapes raise ValueError (checked once, not
    per round).

    From d >= FUSE_MIN_D on, step 4 of round t and the mat-vec u = Hcal_{t+1}^{-1} z_{t+1} of
    round t + 1 share one pass over Hinv (`linalg.rank_one_add_combination`, bit-identical to
    the two passes): Hinv then no longer fits in the cache and the pass is memory-bound.
    """
    return _omd_loop(Z, y, theta, Hinv, eta, B, project, path_out)[0]


@njit(cache=True)
def omd_run_path(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, Hinv: np.ndarray,
                 eta: float, B: float, project: bool, path_out: np.ndarray) -> tuple[int, bool]:
    """`omd_run` that also returns whether every iterate written to path_out is finite."""
    return _omd_loop(Z, y, theta, Hinv, eta, B, project, path_out)


@njit(cache=True)
def _design_scan(Z: np.ndarray, y: np.ndarray, feature_max: float) -> float:
    """One pass over (Z, y): max_t ||z_t||^2 when every entry of Z is finite with
    |z| <= feature_max and every label is 0 or 1; -1.0 otherwise."""
    T, d = Z.shape
    worst = 0.0
    for t in range(T):
        sq = 0.0
        big = 0.0
        for j in range(d):
            v = Z[t, j]
            a = abs(v)
            big = a if a > big else big
            sq += v * v
        # a NaN or infinite entry makes sq NaN or inf (|z| <= feature_max bounds sq far below)
        if not (big <= feature_max and sq <= 1.0e300 and (y[t] == 0.0 or y[t] == 1.0)):
            return -1.0
        worst = sq if sq > worst else worst
    return worst


def fast_check_design(Z, y) -> tuple[np.ndarray, np.ndarray, float]:
    """`check_design(Z, y)` with the same results and errors, plus max_t ||z_t||^2 (-1.0 when
    unknown) for `fast_check_conditioning`.

    A float64 C-contiguous Z with float64 labels (inputs the check returns unchanged) is
    scanned once by a compiled kernel; only when that scan finds something outside the
    limits, or for any other input, does the numpy check run (and raise its message).
    """
    if (isinstance(Z, np.ndarray) and isinstance(y, np.ndarray) and Z.ndim == 2
            and Z.dtype == np.float64 and Z.flags.c_contiguous and Z.shape[1] >= 1
            and y.ndim == 1 and y.dtype == np.float64 and y.flags.c_contiguous
            and y.shape[0] == Z.shape[0]):
        worst = _design_scan(Z, y, FEATURE_MAX)
        if worst >= 0.0:
            return Z, y, worst
    Z, yv = check_design(Z, y)
    return Z, yv, -1.0


def fast_check_conditioning(Z: np.ndarray, lam: float, worst: float) -> None:
    """`check_conditioning(Z, lam)`, skipped when the scanned max_t ||z_t||^2 (`worst`) is
    clearly within the limit (a ratio within 1e-9 of it goes to the exact check)."""
    if worst >= 0.0 and worst / lam <= CONDITION_MAX * (1.0 - 1e-9):
        return
    check_conditioning(Z, lam)


class OnePassOMD:
    """Stateful one-pass OMD reward model (Algorithm 1) for interactive use.

    Holds theta_t and Hcal_t^{-1}; `update` costs O(d^2) (plus O(d^3) in rounds where the
    projection is active) and stores nothing per sample.
    """

    def __init__(self, d: int, *, eta: float, lam: float, B: float | None = None,
                 project: bool = True) -> None:
        d = check_count("d", d, 1)
        self.eta = check_positive("eta", eta)
        self.lam = check_positive("lam", lam)
        if not isinstance(project, (bool, np.bool_)):
            raise ValueError(f"project must be True or False, got {project!r}")
        if project and B is None:
            raise ValueError("B is required when project=True")
        self.B = check_positive("B", B, allow_none=True)
        self.project = bool(project)
        self.theta = np.zeros(d)
        self.Hinv = np.eye(d) / self.lam
        self.t = 0
        self.n_projections = 0

    def update(self, Z, y) -> np.ndarray:
        """Feed one observation (z (d,), y) or a batch (Z (n, d), y (n,)); returns a copy of
        theta after the update (later updates do not change it)."""
        if np.ndim(Z) == 1:
            Z, y = np.asarray(Z)[None, :], np.atleast_1d(y)
        Z, yv = check_design(Z, y)
        if Z.shape[1] != self.theta.shape[0]:
            raise ValueError(f"feature dimension {Z.shape[1]} does not match the model's d = {self.theta.shape[0]}")
        check_conditioning(Z, self.lam)
        B = self.B if self.B is not None else math.inf
        theta, Hinv = self.theta.copy(), self.Hinv.copy()
        n = omd_run(Z, yv, theta, Hinv, self.eta, B, self.project, np.empty((0, Z.shape[1])))
        check_finite_result("OnePassOMD.update", theta[None, :])
        self.theta, self.Hinv = theta, Hinv
        self.n_projections += n
        self.t += Z.shape[0]
        return theta.copy()

    def hcal(self) -> np.ndarray:
        """Hcal_t (inverse of the maintained Hcal_t^{-1}; O(d^3))."""
        return np.linalg.inv(self.Hinv)

    def width(self, X) -> np.ndarray:
        """||x||_{Hcal_t^{-1}} for each row x of X (the confidence width of Lemma 1)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, self.Hinv, X), 0.0))


def omd_path(Z, y, *, eta: float, lam: float, B: float | None = None,
             project: bool = True) -> np.ndarray:
    """Iterates of one-pass OMD (Algorithm 1) over (Z, y).

    Z is (T, d) feature differences z_t = phi(x_t, a_t) - phi(x_t, a'_t), y (T,) labels in {0, 1}
    (1: the first arm preferred). Returns the (T+1, d) float64 array theta_1 = 0, theta_2, ...,
    theta_{T+1}. With project=True every iterate lies in {||theta|| <= B} (step 3, exact
    projection in the Htilde_t norm); project=False is the paper's practical version.
    """
    Z, yv, worst = fast_check_design(Z, y)
    eta = check_positive("eta", eta)
    lam = check_positive("lam", lam)
    if not isinstance(project, (bool, np.bool_)):
        raise ValueError(f"project must be True or False, got {project!r}")
    if project and B is None:
        raise ValueError("B is required when project=True")
    Bv = check_positive("B", B, allow_none=True)
    fast_check_conditioning(Z, lam, worst)
    d = Z.shape[1]
    path = np.empty((Z.shape[0] + 1, d))
    _, finite = omd_run_path(Z, yv, np.zeros(d), np.eye(d) / lam, eta,
                             math.inf if Bv is None else Bv, bool(project), path)
    return path if finite else check_finite_result("omd_path", path)
