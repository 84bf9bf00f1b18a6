"""One-pass OMD for Plackett-Luce rankings (ALGORITHMS.md section 7; Algorithm 1 with the
multinomial-logit loss of each ranking, in the form of Zhang and Sugiyama 2023).

A ranking of m items is given by their features F (m, d) in the order shown and the ranking
rank (m,) (rank[j] = index in F of the item at place j). With Fo = F[rank] (best first),
G_k = Fo_k - Fo_{m-1} (k < m - 1) and utilities r_k = G_k' theta (utilities are defined up to
a shift), the negative log-likelihood of its first n_s stages (n_s = m - 1: full ranking;
n_s = 1: top-1 choice) is

    l(theta) = sum_{j < n_s} [ log sum_{k >= j} exp(r_k) - r_j ],

with gradient and Hessian (p^(j) the softmax of r over places k >= j)

    grad l = G' b,    b_k = sum_{j <= min(k, n_s - 1)} p^(j)_k - 1[k < n_s],
    Hess l = G' A G,  A = sum_{j < n_s} (diag(p^(j)) - p^(j) p^(j)')      ((m-1) x (m-1), PSD)

(the covariance of the features under each stage's softmax, of rank <= m - 1). Algorithm 1:

    1. Htilde_t     = Hcal_t + eta Hess l_t(theta_t)
    2. theta'_{t+1} = theta_t - eta Htilde_t^{-1} grad l_t(theta_t)
    3. theta_{t+1}  = argmin_{||u|| <= B} ||u - theta'_{t+1}||_{Htilde_t}          (optional)
    4. Hcal_{t+1}   = Hcal_t + Hess l_t(theta_{t+1})           (Hessian at the NEW point)

Low-rank (Woodbury) updates. With U = G Hcal_t^{-1} ((m-1) x d: m - 1 symmetric mat-vecs) and
C = G Hcal_t^{-1} G' = U G',

    (Hcal + G' A G)^{-1} = Hcal^{-1} - U' X U,   X = (I + A C)^{-1} A,

so step 2 is theta_t - eta U' (b - s), s solving (I + eta A C) s = eta A C b (an (m-1)-system),
and step 4 is Hcal^{-1} -= U' X' U with X' from A at theta_{t+1} (one rank-(m-1) update):
O(m d^2 + m^3) per ranking, nothing stored per ranking. Step 3 forms Htilde^{-1} and uses the
exact projection of `algorithms.linalg.project_ball_inverse_metric` only in rounds where
||theta'_{t+1}|| > B. The exponentials are taken once per point (m of them, shifted by the
largest utility), the stage sums as suffix sums; a stage whose sum underflows is recomputed
with its own shift.

m = 2. With pairwise=True (the default) a query of two items runs the pairwise kernel
`algorithms.omd.omd_update` on z = F[0] - F[1], y = 1[rank[0] == 0]: the iterates are those
of `algorithms.estimators.omd_path` bit for bit. pairwise=False runs the general formulas
(equal to rounding; the tests compare both).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.core.links import dsigmoid
from sim.core.validation import check_positive

from .linalg import dot, project_ball_inverse_metric, rank_one_update
from .omd import omd_update
from .protocol import RewardModel, state_estimate, state_inverse, state_matrix

UNDERFLOW = 1e-280
"""A stage sum below this is recomputed with the stage's own largest utility."""


@njit(cache=True)
def pl_workspace(m: int, d: int) -> tuple:
    """Work buffers of `pl_omd_update` for queries of up to m items in dimension d. The last,
    W, is both the d x (m - 1) buffer of the low-rank downdate and the (m - 1)-vector right-hand
    side of the small solve, hence max(d, m - 1) rows."""
    k = max(m - 1, 1)
    return (np.empty((k, d)), np.empty((k, d)), np.empty((k, k)), np.empty((k, k)),
            np.empty((k, k)), np.empty((k, k)), np.empty(m), np.empty(m), np.empty(k),
            np.empty(k), np.empty((d, d)), np.empty(d), np.empty((max(d, k), k)))


@njit(cache=True, inline="always")
def _stage_weights(r: np.ndarray, e: np.ndarray, n: int, n_s: int, b: np.ndarray,
                   A: np.ndarray) -> None:
    """b and A of the module docstring from utilities r (n items, r[n-1] = 0), first n_s
    stages. e (n,) is a work vector."""
    k1 = n - 1
    c = r[0]
    for k in range(1, n):
        if r[k] > c:
            c = r[k]
    for k in range(n):
        e[k] = math.exp(r[k] - c)
    for i in range(k1):
        b[i] = -1.0 if i < n_s else 0.0
        for j in range(k1):
            A[i, j] = 0.0
    for j in range(n_s):
        tot = 0.0
        for k in range(j, n):
            tot += e[k]
        if tot < UNDERFLOW:  # recompute this stage with its own shift
            cj = r[j]
            for k in range(j + 1, n):
                if r[k] > cj:
                    cj = r[k]
            tot = 0.0
            for k in range(j, n):
                tot += math.exp(r[k] - cj)
            inv = 1.0 / tot
            for k in range(j, k1):
                pk = math.exp(r[k] - cj) * inv
                b[k] += pk
                A[k, k] += pk
                for q in range(j, k1):
                    A[k, q] -= pk * math.exp(r[q] - cj) * inv
            continue
        inv = 1.0 / tot
        for k in range(j, k1):
            pk = e[k] * inv
            b[k] += pk
            A[k, k] += pk
            for q in range(j, k1):
                A[k, q] -= pk * (e[q] * inv)


@njit(cache=True, inline="always")
def _solve_small(N: np.ndarray, R: np.ndarray, n: int, nrhs: int) -> None:
    """R[:n, :nrhs] <- N[:n, :n]^{-1} R[:n, :nrhs] by Gaussian elimination with partial
    pivoting (N is overwritten)."""
    for col in range(n):
        piv = col
        big = abs(N[col, col])
        for i in range(col + 1, n):
            if abs(N[i, col]) > big:
                big = abs(N[i, col])
                piv = i
        if piv != col:
            for j in range(n):
                tmp = N[col, j]
                N[col, j] = N[piv, j]
                N[piv, j] = tmp
            for j in range(nrhs):
                tmp = R[col, j]
                R[col, j] = R[piv, j]
                R[piv, j] = tmp
        inv = 1.0 / N[col, col]
        for i in range(col + 1, n):
            f = N[i, col] * inv
            if f != 0.0:
                for j in range(col, n):
                    N[i, j] -= f * N[col, j]
                for j in range(nrhs):
                    R[i, j] -= f * R[col, j]
    for col in range(n - 1, -1, -1):
        inv = 1.0 / N[col, col]
        for j in range(nrhs):
            acc = R[col, j]
            for k in range(col + 1, n):
                acc -= N[col, k] * R[k, j]
            R[col, j] = acc * inv


@njit(cache=True, inline="always")
def _woodbury_X(A: np.ndarray, C: np.ndarray, scale: float, k1: int, N: np.ndarray,
                X: np.ndarray) -> None:
    """X = (I + scale A C)^{-1} (scale A), symmetrised (it is symmetric in exact arithmetic)."""
    for i in range(k1):
        for j in range(k1):
            acc = 0.0
            for q in range(k1):
                acc += A[i, q] * C[q, j]
            N[i, j] = scale * acc + (1.0 if i == j else 0.0)
            X[i, j] = scale * A[i, j]
    _solve_small(N, X, k1, k1)
    for i in range(k1):
        for j in range(i + 1, k1):
            v = 0.5 * (X[i, j] + X[j, i])
            X[i, j] = v
            X[j, i] = v


@njit(cache=True, inline="always")
def add_stage_hessian(H: np.ndarray, G: np.ndarray, A: np.ndarray, k1: int, d: int) -> None:
    """H += G' A G for G (k1, d) and A (k1, k1): a ranking's Hessian in feature space."""
    for k in range(k1):
        for q in range(k1):
            a = A[k, q]
            if a != 0.0:
                for i in range(d):
                    gi = a * G[k, i]
                    for j in range(d):
                        H[i, j] += gi * G[q, j]


@njit(cache=True, inline="always")
def _lowrank_downdate(Hinv: np.ndarray, U: np.ndarray, X: np.ndarray, k1: int,
                      W: np.ndarray) -> None:
    """Hinv -= U' X U for U (k1, d), X (k1, k1) symmetric; W (d, k1) a work buffer."""
    d = Hinv.shape[0]
    for i in range(d):
        for a in range(k1):
            acc = 0.0
            for q in range(k1):
                acc += U[q, i] * X[q, a]
            W[i, a] = acc
    for i in range(d):
        for a in range(k1):
            wa = W[i, a]
            for j in range(d):
                Hinv[i, j] -= wa * U[a, j]


@njit(cache=True, inline="always")
def pl_omd_update(theta: np.ndarray, Hinv: np.ndarray, F: np.ndarray, rank: np.ndarray,
                  n_stages: int, eta: float, B: float, project: bool, pairwise: bool,
                  ws: tuple, H: np.ndarray) -> bool:
    """One step of one-pass OMD on a ranking (module docstring), in place on theta and
    Hinv = Hcal_t^{-1}; when H has d rows it receives Hcal_{t+1} = Hcal_t + Hess l_t(theta_{t+1})
    as well. ws: `pl_workspace(m, d)` (or larger). Returns True when the projection moved the
    iterate. A query of one item (m = 1) carries no information and changes nothing."""
    n = F.shape[0]
    d = theta.shape[0]
    if n < 2:
        return False
    G, U, C, A, N, X, r, e, b, s, M, u, W = ws
    keep_H = H.shape[0] > 0
    if n == 2 and pairwise:
        for i in range(d):
            u[i] = F[0, i] - F[1, i]
        y = 1.0 if rank[0] == 0 else 0.0
        z = G[0]
        for i in range(d):
            z[i] = u[i]
        active = omd_update(theta, Hinv, z, y, eta, B, project, u, M)
        if keep_H:
            rank_one_update(H, z, dsigmoid(dot(z, theta)))
        return active
    k1 = n - 1
    n_s = min(n_stages, k1)
    last = rank[k1]
    for k in range(k1):
        src = rank[k]
        for i in range(d):
            G[k, i] = F[src, i] - F[last, i]
    for k in range(k1):  # U_k = Hinv G_k as a combination of rows (Hinv symmetric)
        for i in range(d):
            U[k, i] = 0.0
        for j in range(d):
            gkj = G[k, j]
            for i in range(d):
                U[k, i] += gkj * Hinv[j, i]
    for k in range(k1):
        for q in range(k, k1):
            acc = 0.0
            for i in range(d):
                acc += G[k, i] * U[q, i]
            C[k, q] = acc
            C[q, k] = acc
    # ---- at theta_t: gradient coefficients b and stage weights A
    for k in range(k1):
        acc = 0.0
        for i in range(d):
            acc += G[k, i] * theta[i]
        r[k] = acc
    r[k1] = 0.0
    _stage_weights(r, e, n, n_s, b, A)
    # s solves (I + eta A C) s = eta A C b; the step is Htilde^{-1} g = U'(b - s)
    for k in range(k1):
        acc = 0.0
        for q in range(k1):
            acc += C[k, q] * b[q]
        e[k] = acc
    for k in range(k1):
        acc = 0.0
        for q in range(k1):
            acc += A[k, q] * e[q]
        W[k, 0] = eta * acc  # the right-hand side, one column of W
        for j in range(k1):
            cc = 0.0
            for q in range(k1):
                cc += A[k, q] * C[q, j]
            N[k, j] = eta * cc + (1.0 if k == j else 0.0)
    _solve_small(N, W, k1, 1)
    for k in range(k1):
        s[k] = b[k] - W[k, 0]
    for i in range(d):
        acc = 0.0
        for k in range(k1):
            acc += U[k, i] * s[k]
        theta[i] -= eta * acc
    active = False
    if project:
        nrm = math.sqrt(dot(theta, theta))
        if nrm > B:
            # Htilde^{-1} = Hcal^{-1} - U' X U with X = (I + eta A C)^{-1} eta A
            _woodbury_X(A, C, eta, k1, N, X)
            M[:, :] = Hinv
            _lowrank_downdate(M, U, X, k1, W)
            tmp = theta.copy()
            project_ball_inverse_metric(tmp, M, B, theta)
            active = True
    # ---- at theta_{t+1}: the Hessian added to Hcal
    for k in range(k1):
        acc = 0.0
        for i in range(d):
            acc += G[k, i] * theta[i]
        r[k] = acc
    r[k1] = 0.0
    _stage_weights(r, e, n, n_s, b, A)
    _woodbury_X(A, C, 1.0, k1, N, X)
    _lowrank_downdate(Hinv, U, X, k1, W)
    if keep_H:
        add_stage_hessian(H, G, A, k1, d)
    return active


@njit(cache=True)
def pl_omd_run(F: np.ndarray, rank: np.ndarray, n_stages: int, theta: np.ndarray,
               Hinv: np.ndarray, eta: float, B: float, project: bool, pairwise: bool,
               path_out: np.ndarray, H: np.ndarray) -> int:
    """`pl_omd_update` over T rankings (F (T, m, d), rank (T, m)) from (theta, Hinv), in place.

    path_out with T + 1 rows receives the starting theta and the iterate after each ranking (0
    rows: nothing stored); H (d, d) receives Hcal when it has d rows. Returns the number of
    rounds in which the projection was active."""
    T, m, d = F.shape
    ws = pl_workspace(m, d)
    store = path_out.shape[0] > 0
    if store:
        path_out[0, :] = theta
    n_active = 0
    for t in range(T):
        if pl_omd_update(theta, Hinv, F[t], rank[t], n_stages, eta, B, project, pairwise, ws,
                         H):
            n_active += 1
        if store:
            path_out[t + 1, :] = theta
    return n_active


# ------------------------------------------------------------------ Python side


def check_rankings(F, rank, *, name_F: str = "F", name_rank: str = "rank"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """F a finite (T, m, d) float array with m >= 2, rank a (T, m) int array whose rows are
    permutations of 0..m-1. Returns C-contiguous float64 / int64 copies."""
    F = np.asarray(F)
    if F.ndim != 3 or F.shape[1] < 2 or F.shape[2] < 1:
        raise ValueError(f"{name_F} must have shape (T, m, d) with m >= 2 and d >= 1, got "
                         f"shape {F.shape}")
    if not np.issubdtype(F.dtype, np.number) or np.iscomplexobj(F):
        raise ValueError(f"{name_F} must be a real numeric array, got dtype {F.dtype}")
    F = np.ascontiguousarray(F, dtype=np.float64)
    bad = ~np.isfinite(F)
    if bad.any():
        t, k, j = np.argwhere(bad)[0]
        raise ValueError(f"{name_F} has a non-finite entry at ranking {t}, item {k}, column {j}")
    rank = np.asarray(rank)
    if rank.shape != F.shape[:2]:
        raise ValueError(f"{name_rank} must have shape (T, m) = {F.shape[:2]}, got {rank.shape}")
    if rank.size and not np.issubdtype(rank.dtype, np.integer):
        raise ValueError(f"{name_rank} must hold integers, got dtype {rank.dtype}")
    rank = np.ascontiguousarray(rank, dtype=np.int64)
    ok = np.all(np.sort(rank, axis=1) == np.arange(F.shape[1]), axis=1)
    if not ok.all():
        t = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{name_rank}[{t}] = {rank[t].tolist()} is not a permutation of "
                         f"0..{F.shape[1] - 1}")
    return F, rank


def pl_omd_path(F, rank, *, eta: float, lam: float, B: float | None = None,
                project: bool = True, top1: bool = False, pairwise: bool = True
                ) -> np.ndarray:
    """Iterates of one-pass OMD over Plackett-Luce rankings (module docstring).

    Parameters
    ----------
    F : (T, m, d) array
        Features of the m items of each query, in the order shown.
    rank : (T, m) int array
        rank[t, j] = index (into F[t]) of the item at place j (0 = best).
    eta, lam : float
        Step size and regulariser (Hcal_1 = lam I).
    B : float, optional
        Radius of the ball of step 3 (required when project=True).
    project : bool
        Step 3 (exact projection in the Htilde norm); False: the practical version.
    top1 : bool
        Use only the first place (multinomial-logit choice feedback).
    pairwise : bool
        With m = 2, run the pairwise kernel (bit-identical to `omd_path`).

    Returns
    -------
    (T + 1, d) float64 array theta_1 = 0, ..., theta_{T+1}.
    """
    F, rank = check_rankings(F, rank)
    eta = check_positive("eta", eta)
    lam = check_positive("lam", lam)
    if project and B is None:
        raise ValueError("B is required when project=True")
    Bv = check_positive("B", B, allow_none=True)
    T, m, d = F.shape
    path = np.empty((T + 1, d))
    pl_omd_run(F, rank, 1 if top1 else m - 1, np.zeros(d), np.eye(d) / lam, eta,
               math.inf if Bv is None else Bv, bool(project), bool(pairwise), path,
               np.empty((0, 0)))
    return path


class PLOnePassOMD:
    """Stateful one-pass OMD on rankings: `update(F, rank)` for one ranking (m, d) / (m,) or a
    batch; holds theta, Hcal^{-1} and Hcal. O(m d^2) per ranking."""

    def __init__(self, d: int, *, eta: float, lam: float, B: float | None = None,
                 project: bool = True, top1: bool = False) -> None:
        if int(d) != d or d < 1:
            raise ValueError(f"d must be a positive integer, got {d!r}")
        self.eta = check_positive("eta", eta)
        self.lam = check_positive("lam", lam)
        if project and B is None:
            raise ValueError("B is required when project=True")
        self.B = check_positive("B", B, allow_none=True)
        self.project, self.top1 = bool(project), bool(top1)
        self.theta = np.zeros(int(d))
        self.Hinv = np.eye(int(d)) / self.lam
        self.H = self.lam * np.eye(int(d))
        self.t = 0
        self.n_projections = 0

    def update(self, F, rank) -> np.ndarray:
        F = np.asarray(F, dtype=np.float64)
        if F.ndim == 2:
            F, rank = F[None], np.asarray(rank)[None]
        F, rank = check_rankings(F, rank)
        if F.shape[2] != self.theta.shape[0]:
            raise ValueError(f"feature dimension {F.shape[2]} does not match d = "
                             f"{self.theta.shape[0]}")
        m = F.shape[1]
        B = self.B if self.B is not None else math.inf
        self.n_projections += pl_omd_run(F, rank, 1 if self.top1 else m - 1, self.theta,
                                         self.Hinv, self.eta, B, self.project, True,
                                         np.empty((0, F.shape[2])), self.H)
        self.t += F.shape[0]
        return self.theta


# ------------------------------------------------------------------ the pairwise protocol


def _pair_init(d: int, T: int, params: np.ndarray) -> tuple:
    lam = params[1]
    rank = np.empty(2, dtype=np.int64)
    return (np.zeros(d), np.eye(d) / lam, lam * np.eye(d), np.zeros((2, d)), rank,
            *pl_workspace(2, d))


@njit(cache=True)
def _pair_update(state, z, y, t, params, counters):
    theta, Hinv, H, F, rank = state[0], state[1], state[2], state[3], state[4]
    for i in range(z.shape[0]):
        F[0, i] = z[i]
        F[1, i] = 0.0
    if y == 1.0:
        rank[0] = 0
        rank[1] = 1
    else:
        rank[0] = 1
        rank[1] = 0
    project = params[3] != 0.0
    B = params[2] if project else np.inf
    if pl_omd_update(theta, Hinv, F, rank, 1, params[0], B, project, False, state[5:], H):
        counters[2] += 1


PL_PAIR_MODEL = RewardModel("pl-omd-m2", _pair_init, _pair_update, state_estimate,
                            state_inverse, state_matrix, matrix_name="Hcal", projects=True)
"""The Plackett-Luce one-pass OMD on two-item rankings, through the pairwise protocol: a pair
(z, y) is the ranking of the items (z, 0), the first placed first iff y = 1, run through the
general (Woodbury) formulas, not the pairwise kernel, so that the pairwise test kit
(`algorithms.testing.check_estimator`) checks the Plackett-Luce arithmetic at m = 2. Params
(eta, lam, B, project)."""


__all__ = ["PL_PAIR_MODEL", "PLOnePassOMD", "check_rankings", "pl_omd_path", "pl_omd_run", "pl_omd_update",
           "pl_workspace"]
