"""Timing of the deployment stage: Algorithm 4 in rounds per second, and the cost per round of
the MLE baselines growing with t (ALGORITHMS.md 3.3 and Table 1).

Tables (tidy pandas DataFrames, by name):

- `algorithm4_throughput`: Algorithm 4 (one-pass OMD, practical constants and radius, with
  the projection) on one core at K = 20 arms and several d, timed over the whole compiled
  loop (best of `repeats` runs; the loop time excludes drawing the uniforms), next to the
  same algorithm written as per-round numpy loops (no projection). `compiled_speedup` on a
  numpy row is the compiled rate without projection at the same d over that row's rate, both
  measured in the same process; `pairs_equal_compiled` is the share of rounds where the numpy
  loop chose the same pair as the compiled one.
- `time_per_round_vs_t`: seconds per round between consecutive log-spaced checkpoints of one
  run of each algorithm: flat for Algorithm 4 (O(d^2 + K d^2) per round), growing like t for
  the MLE baselines (every refit touches all t observations).
- `all_algorithms`: every registered deployment algorithm on the same environment and
  horizon: loop seconds, rounds per second, final cumulative regret.
- `mle_refit_vs_numpy`: one warm-started MLE refit at round t up to 10^4, compiled (statistical
  stopping rule, on numba's threads and on one; the exact rule) next to a plain numpy Newton
  refit and scipy's Newton-CG, measured in the same process (`mle_refit_vs_numpy`).
- `stage_loop_targets`: the rounds per second of Algorithm 4 (d = 10, K = 20) and of the
  active selection of Algorithm 3 ("active-omd", n_x = 200, K = 10, d = 10) through the
  registry, each beside its stated target (TARGETS) and beside a hand-written minimal loop of
  the same rounds (`paper_repro.timing_floor`) as the floor, timed interleaved.

All numbers are printed, never asserted: no test is timed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy.special import expit

from algorithms.confidence import Radius
from algorithms.constants import practical_constants
from algorithms.deployment_registry import DEPLOYMENT_ALGORITHMS, run_deployment
from sim.core.seeding import CommonRandomNumbers
from sim.feedback import context_cdf, draw_contexts
from sim.generators import random_directions_env

from .tables import markdown_table
from .timing_floor import hand_active_loop, hand_algorithm4_loop

MLE_BASELINES = ("dueling-rl-mle", "algorithm4-rule-mle", "maxinp-mle", "colstim-mle")


@dataclass(frozen=True)
class DeploymentTimingConfig:
    """Sizes of the deployment timing study."""

    dims: tuple[int, ...] = (5, 10, 32)
    """Dimensions d of the Algorithm 4 throughput table (d = 10 is the headline)."""
    K: int = 20
    """Arms per context."""
    n_x: int = 100
    """Contexts."""
    throughput_T: int = 1_000_000
    """Rounds of each timed Algorithm 4 run at d <= 10; scaled by 100 / d^2 above (at least a
    tenth of it)."""
    numpy_T: int = 2_000
    """Rounds of the per-round numpy loop."""
    per_round_T: int = 5_000
    """Horizon of the time-per-round-against-t runs (the MLE baselines cost O(T^2) in total)."""
    per_round_checkpoints: int = 12
    all_T: int = 2_000
    """Horizon of the all-algorithms table."""
    refit_ts: tuple[int, ...] = (100, 300, 1_000, 3_000, 10_000)
    """Rounds t at which one warm-started MLE refit is timed against the numpy refit."""
    refit_dims: tuple[int, ...] = (5, 10)
    """Dimensions of the refit comparison."""
    refit_repeats: int = 15
    repeats: int = 3
    target_T: int = 300_000
    """Rounds of each timed Algorithm 4 run of the targets table."""
    active_T: int = 20_000
    """Rounds of each timed active-selection run of the targets table."""
    seed: int = 20250211


SCALES: dict[str, DeploymentTimingConfig] = {
    "tiny": DeploymentTimingConfig(dims=(10,), throughput_T=20_000, numpy_T=200, per_round_T=300,
                                   per_round_checkpoints=5, all_T=200, repeats=1,
                                   refit_ts=(100, 300), refit_dims=(5,), refit_repeats=2,
                                   target_T=5_000, active_T=300),
    "quick": DeploymentTimingConfig(),
    "full": DeploymentTimingConfig(dims=(5, 10, 32, 64), throughput_T=10_000_000, numpy_T=5_000,
                                   per_round_T=20_000, per_round_checkpoints=16, all_T=10_000),
}


def _env(cfg: DeploymentTimingConfig, d: int):
    return random_directions_env(cfg.n_x, cfg.K, d, L=1.0, B=2.0, seed=cfg.seed)


def numpy_algorithm4(env, T: int, seed: int, *, explicit: bool = False) -> tuple[np.ndarray, float]:
    """Algorithm 4 (no projection, practical constants and radius) as a per-round numpy loop.

    explicit=False: the arm scores, the K widths by einsum with the maintained Hcal^{-1}, and
    the Sherman-Morrison OMD update. explicit=True: Algorithm 1 as written, with Hcal_t kept
    explicitly and linear solves for the widths and for Htilde_t. Returns the (T, 2) pairs and
    the loop's seconds.
    """
    c = practical_constants(env.d, env.L, env.B)
    radius = Radius()
    crn = CommonRandomNumbers.draw(seed, T)
    x = draw_contexts(context_cdf(env.rho), crn.context_u)
    d = env.d
    theta = np.zeros(d)
    Hinv = np.eye(d) / c.lam
    Hcal = c.lam * np.eye(d)
    pairs = np.empty((T, 2), dtype=np.int64)
    start = time.perf_counter()
    for t in range(T):
        beta = radius.c_beta * np.sqrt(d * np.log(1.0 + (t + 1) / radius.delta))
        P = env.phi[x[t]]
        s = P @ theta
        a = int(np.argmax(s))
        D = P - P[a]
        if explicit:
            w = np.sqrt(np.maximum(np.einsum("kd,dk->k", D, np.linalg.solve(Hcal, D.T)), 0.0))
        else:
            w = np.sqrt(np.maximum(np.einsum("kd,de,ke->k", D, Hinv, D), 0.0))
        a2 = int(np.argmax(s + 2.0 * beta * w))
        z = P[a] - P[a2]
        y = float(crn.label_u[t] < expit(z @ env.theta_star))
        sig = expit(z @ theta)
        if explicit:
            Htilde = Hcal + c.eta * sig * (1.0 - sig) * np.outer(z, z)
            theta = theta - c.eta * np.linalg.solve(Htilde, (sig - y) * z)
            s_new = expit(z @ theta)
            Hcal = Hcal + s_new * (1.0 - s_new) * np.outer(z, z)
        else:
            u = Hinv @ z
            q = z @ u
            theta = theta - c.eta * (sig - y) * u / (1.0 + c.eta * sig * (1.0 - sig) * q)
            s_new = expit(z @ theta)
            s_new = s_new * (1.0 - s_new)
            Hinv = Hinv - (s_new / (1.0 + s_new * q)) * np.outer(u, u)
        pairs[t] = a, a2
    return pairs, time.perf_counter() - start


def algorithm4_throughput(cfg: DeploymentTimingConfig) -> pd.DataFrame:
    """Rounds per second of the compiled Algorithm 4 at each d, and of the numpy loop at d = 10
    (or the first d)."""
    rows = []
    for d in cfg.dims:
        env = _env(cfg, d)
        T = min(cfg.throughput_T, max(cfg.throughput_T // 10, cfg.throughput_T * 100 // d**2))
        for project in (True, False):
            run_deployment("algorithm4", env, 10, cfg.seed, checkpoints=1, project=project)
            best = np.inf
            for _ in range(cfg.repeats):
                t0 = time.perf_counter()
                res = run_deployment("algorithm4", env, T, cfg.seed, checkpoints=1,
                                     project=project)
                total = time.perf_counter() - t0
                best = min(best, float(res.records["wall_time"].iloc[-1]))
            rows.append(dict(implementation="compiled loop", d=d, K=cfg.K, project=project, T=T,
                             seconds=best, rounds_per_s=T / best, us_per_round=1e6 * best / T,
                             run_seconds_with_setup=total))
    d0 = 10 if 10 in cfg.dims else cfg.dims[0]
    env = _env(cfg, d0)
    ref = run_deployment("algorithm4", env, cfg.numpy_T, cfg.seed, project=False).rounds
    for label, explicit in (("numpy per-round loop", False),
                            ("numpy per-round loop, explicit Hcal solves", True)):
        pairs, sec = numpy_algorithm4(env, cfg.numpy_T, cfg.seed, explicit=explicit)
        same = float(np.mean((ref["a"].to_numpy() == pairs[:, 0])
                             & (ref["a2"].to_numpy() == pairs[:, 1])))
        rows.append(dict(implementation=label, d=d0, K=cfg.K, project=False, T=cfg.numpy_T,
                         seconds=sec, rounds_per_s=cfg.numpy_T / sec,
                         us_per_round=1e6 * sec / cfg.numpy_T, run_seconds_with_setup=np.nan,
                         pairs_equal_compiled=same))
    df = pd.DataFrame(rows)
    compiled = df[(df["implementation"] == "compiled loop") & (df["d"] == d0)
                  & (~df["project"].astype(bool))]["rounds_per_s"].iloc[0]
    is_numpy = df["implementation"].str.startswith("numpy")
    df["compiled_speedup"] = np.where(is_numpy, compiled / df["rounds_per_s"], np.nan)
    return df


def time_per_round_vs_t(cfg: DeploymentTimingConfig) -> pd.DataFrame:
    """Seconds per round between log-spaced checkpoints, for Algorithm 4 and the MLE baselines."""
    env = _env(cfg, 10)
    rows = []
    for name in ("algorithm4", *MLE_BASELINES):
        run_deployment(name, env, 10, cfg.seed, checkpoints=1)
        rec = run_deployment(name, env, cfg.per_round_T, cfg.seed,
                             checkpoints=cfg.per_round_checkpoints).records
        t = rec["t"].to_numpy()
        wall = rec["wall_time"].to_numpy()
        t_prev = np.r_[0, t[:-1]]
        w_prev = np.r_[0.0, wall[:-1]]
        for k in range(len(t)):
            rows.append(dict(algorithm=name, t_start=int(t_prev[k]) + 1, t=int(t[k]),
                             rounds=int(t[k] - t_prev[k]),
                             seconds_per_round=(wall[k] - w_prev[k]) / (t[k] - t_prev[k])))
    return pd.DataFrame(rows)


def all_algorithms(cfg: DeploymentTimingConfig) -> pd.DataFrame:
    """Every registered deployment algorithm at d = 10, K = cfg.K and horizon cfg.all_T."""
    env = _env(cfg, 10)
    rows = []
    for name in DEPLOYMENT_ALGORITHMS:
        run_deployment(name, env, 10, cfg.seed, checkpoints=1)
        rec = run_deployment(name, env, cfg.all_T, cfg.seed, checkpoints=1).records.iloc[-1]
        rows.append(dict(algorithm=name, T=cfg.all_T, seconds=rec["wall_time"],
                         rounds_per_s=cfg.all_T / rec["wall_time"], regret=rec["regret"],
                         err_l2=rec["err_l2"]))
    return pd.DataFrame(rows)


def numpy_newton_refit(Z: np.ndarray, y: np.ndarray, lam: float, theta0: np.ndarray,
                       tol: float = 1e-8, max_iter: int = 50) -> tuple[np.ndarray, int]:
    """A straightforward warm-started numpy refit of the regularised MLE on all rows of (Z, y):
    Newton steps with vectorised gradient and Hessian (BLAS) and a dense solve, until the step's
    largest entry is below tol (1 + ||theta||_inf). Returns (theta, iterations)."""
    theta = theta0.copy()
    eye = lam * np.eye(Z.shape[1])
    for it in range(max_iter):
        p = expit(Z @ theta)
        g = Z.T @ (p - y) + lam * theta
        H = (Z * (p * (1.0 - p))[:, None]).T @ Z + eye
        step = np.linalg.solve(H, g)
        theta = theta - step
        if np.abs(step).max() <= tol * (1.0 + np.abs(theta).max()):
            return theta, it + 1
    return theta, max_iter


def scipy_refit(Z: np.ndarray, y: np.ndarray, lam: float, theta0: np.ndarray) -> np.ndarray:
    """The same refit by scipy.optimize.minimize (Newton-CG with the exact Hessian), warm-started."""
    from scipy.optimize import minimize

    def f(th):
        w = Z @ th
        return float(np.sum(np.logaddexp(0.0, w) - y * w) + 0.5 * lam * th @ th)

    def g(th):
        return Z.T @ (expit(Z @ th) - y) + lam * th

    def h(th):
        p = expit(Z @ th)
        return (Z * (p * (1.0 - p))[:, None]).T @ Z + lam * np.eye(Z.shape[1])

    return minimize(f, theta0, jac=g, hess=h, method="Newton-CG", tol=1e-10).x


def _best(fn, repeats: int):
    out, sec = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sec = min(sec, time.perf_counter() - t0)
    return out, sec


def _time_refits(Z: np.ndarray, y: np.ndarray, d: int, t: int, lam: float,
                 repeats: int) -> list[dict]:
    """The rows of `mle_refit_vs_numpy` at round t."""
    import numba

    from algorithms.mle import MLE_STAT_RTOL, MLE_TOL, mle_newton

    threads = numba.get_num_threads()
    warm = mle_newton(Z, y, t - 1, lam, np.inf, np.zeros(d), 1e-12, 200)[0]
    exact = mle_newton(Z, y, t, lam, np.inf, warm, 1e-13, 200)[0]
    Zt, yt = Z[:t], y[:t]

    def stat():
        return mle_newton(Z, y, t, lam, np.inf, warm, -MLE_STAT_RTOL, 100)

    impls = {}
    stat()  # compile or load
    impls[f"compiled, statistical stop, {threads} threads"] = _best(stat, repeats)
    numba.set_num_threads(1)
    try:
        impls["compiled, statistical stop, 1 thread"] = _best(stat, repeats)
    finally:
        numba.set_num_threads(threads)
    impls[f"compiled, exact tol {MLE_TOL:g}, {threads} threads"] = _best(
        lambda: mle_newton(Z, y, t, lam, np.inf, warm, MLE_TOL, 100), repeats)
    impls["numpy Newton, tol 1e-8"] = _best(lambda: numpy_newton_refit(Zt, yt, lam, warm),
                                            repeats)
    impls["scipy Newton-CG"] = _best(lambda: (scipy_refit(Zt, yt, lam, warm),), repeats)
    numpy_sec = impls["numpy Newton, tol 1e-8"][1]
    rows = []
    for name, (out, sec) in impls.items():
        its = out[1] if name.startswith(("compiled", "numpy")) else np.nan
        rows.append(dict(d=d, t=t, implementation=name, us_per_refit=1e6 * sec,
                         iterations=its, speedup_vs_numpy=numpy_sec / sec,
                         err_vs_exact=float(np.abs(out[0] - exact).max())))
    return rows


def mle_refit_vs_numpy(cfg: DeploymentTimingConfig) -> pd.DataFrame:
    """One warm-started refit at round t (the per-round cost of the MLE baselines), side by
    side in one process: the compiled refit with the statistical-precision stopping rule (the
    deployment baselines' default), on numba's threads and on one thread, the compiled exact
    rule (tol 1e-10), a plain numpy warm-started Newton refit (`numpy_newton_refit`, tol 1e-8)
    and scipy's Newton-CG. Each is warm-started from the exact fit on the first t - 1 rows (as
    in a run) and timed best of `refit_repeats`; `speedup_vs_numpy` = numpy seconds / compiled
    seconds; `err_vs_exact` = max |theta - theta_exact|."""
    rows: list[dict] = []
    for d in cfg.refit_dims:
        env = _env(cfg, d)
        T = max(cfg.refit_ts)
        crn = CommonRandomNumbers.draw(cfg.seed, T)
        x = draw_contexts(context_cdf(env.rho), crn.context_u)
        a = np.minimum((crn.arm_u[:, 0] * env.K).astype(np.int64), env.K - 1)
        b = np.minimum((crn.arm_u[:, 1] * (env.K - 1)).astype(np.int64), env.K - 2)
        b = b + (b >= a)
        Z = np.ascontiguousarray(env.phi[x, a] - env.phi[x, b])
        y = (crn.label_u < expit(Z @ env.theta_star)).astype(np.float64)
        lam = practical_constants(d, env.L, env.B).lam
        for t in cfg.refit_ts:
            rows += _time_refits(Z, y, d, t, lam, cfg.refit_repeats)
    return pd.DataFrame(rows)


TARGETS: dict[str, float] = {"algorithm4": 1_000_000.0, "active-omd": 100_000.0}
"""Rounds per second on one core that the stage loops are meant to reach: Algorithm 4 at
d = 10, K = 20; the active selection of Algorithm 3 at n_x = 200, K = 10, d = 10."""


def _wall_cpu(fn) -> tuple[object, float, float]:
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return out, time.perf_counter() - w0, time.thread_time() - c0


def stage_loop_targets(cfg: DeploymentTimingConfig) -> pd.DataFrame:
    """Algorithm 4 and the active selection of Algorithm 3 in rounds per second beside their
    targets and beside hand-written minimal loops of the same rounds.

    Library rows run through the registry (`algorithms.registry.run`, numba threads = 1): their
    `seconds` is the loop time the run records (wall_time), `cpu_seconds` this thread's CPU
    time over the whole call (with its set-up, so rounds_per_cpu_s is a lower bound). Hand
    rows (`paper_repro.timing_floor`) do only the selection, the label and the update (no
    projection, no accounting or records). Best of `repeats`, library and hand interleaved;
    ratio_to_hand = library rate / hand rate; share_of_target = rate / target."""
    import numba

    from algorithms.active import feature_pool, query_pool
    from algorithms.registry import run

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        rows = []
        reps = max(cfg.repeats, 3)
        # ---- Algorithm 4, d = 10, K = 20
        env = random_directions_env(cfg.n_x, 20, 10, L=1.0, B=2.0, seed=cfg.seed)
        c = practical_constants(env.d, env.L, env.B)
        T = cfg.target_T
        crn = CommonRandomNumbers.draw(cfg.seed, T)
        x = draw_contexts(context_cdf(env.rho), crn.context_u)
        rewards = np.ascontiguousarray(env.rewards())
        radius = Radius()
        run("algorithm4", env, 10, cfg.seed, checkpoints=1)
        hand_algorithm4_loop(env.phi, x[:10], rewards, crn.label_u, c.eta, c.lam,
                             radius.c_beta, radius.delta)
        lib = hand = (np.inf, np.inf)
        for _ in range(reps):
            res, _, cpu = _wall_cpu(partial(run, "algorithm4", env, T, cfg.seed, checkpoints=1))
            wall = float(res.records["wall_time"].iloc[-1])
            lib = min(lib, (wall, cpu))
            _, wall, cpu = _wall_cpu(partial(hand_algorithm4_loop, env.phi, x, rewards,
                                             crn.label_u, c.eta, c.lam, radius.c_beta,
                                             radius.delta))
            hand = min(hand, (wall, cpu))
        for impl, (wall, cpu) in (("registry 'algorithm4' (projection on)", lib),
                                  ("hand-written minimal loop", hand)):
            rows.append(dict(loop="Algorithm 4", implementation=impl, n_x=env.n_x, K=env.K,
                             d=env.d, T=T, seconds=wall, cpu_seconds=cpu,
                             target_rounds_per_s=TARGETS["algorithm4"]))
        # ---- active selection of Algorithm 3, n_x = 200, K = 10, d = 10
        env = random_directions_env(200, 10, 10, L=1.0, B=2.0, seed=cfg.seed)
        c = practical_constants(env.d, env.L, env.B)
        T = cfg.active_T
        pool = feature_pool(env.phi, *query_pool(env.rho, env.K))
        s0 = np.einsum("pd,pd->p", env.phi[pool.px, pool.pa] - env.phi[pool.px, pool.pb],
                       env.phi[pool.px, pool.pa] - env.phi[pool.px, pool.pb]) / c.lam
        label_u = np.random.default_rng(cfg.seed).random(T)
        run("active-omd", env, 10, cfg.seed, checkpoints=1)
        hand_active_loop(pool.phiT, pool.ia, pool.ib, s0.copy(), env.theta_star, label_u[:10],
                         c.eta, c.lam)
        lib = hand = (np.inf, np.inf)
        for _ in range(reps):
            res, _, cpu = _wall_cpu(partial(run, "active-omd", env, T, cfg.seed, checkpoints=1))
            wall = float(res.records["wall_time"].iloc[-1])
            lib = min(lib, (wall, cpu))
            _, wall, cpu = _wall_cpu(partial(hand_active_loop, pool.phiT, pool.ia, pool.ib,
                                             s0.copy(), env.theta_star, label_u, c.eta, c.lam))
            hand = min(hand, (wall, cpu))
        for impl, (wall, cpu) in (("registry 'active-omd' (projection on)", lib),
                                  ("hand-written minimal loop", hand)):
            rows.append(dict(loop="Algorithm 3 active selection", implementation=impl,
                             n_x=env.n_x, K=env.K, d=env.d, T=T, seconds=wall,
                             cpu_seconds=cpu, target_rounds_per_s=TARGETS["active-omd"]))
    finally:
        numba.set_num_threads(threads)
    df = pd.DataFrame(rows)
    df["rounds_per_s"] = df["T"] / df["seconds"]
    df["rounds_per_cpu_s"] = df["T"] / df["cpu_seconds"]
    df["share_of_target"] = df["rounds_per_s"] / df["target_rounds_per_s"]
    hand_rate = df[df["implementation"] == "hand-written minimal loop"].set_index("loop")
    df["ratio_to_hand"] = df["rounds_per_s"] / df["loop"].map(hand_rate["rounds_per_s"])
    return df


def deployment_benchmarks(scale: str) -> dict[str, pd.DataFrame]:
    """All deployment timing tables at scale "tiny", "quick" or "full"."""
    try:
        cfg = SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}") from None
    tables = {"algorithm4_throughput": algorithm4_throughput(cfg),
              "time_per_round_vs_t": time_per_round_vs_t(cfg),
              "all_algorithms": all_algorithms(cfg),
              "mle_refit_vs_numpy": mle_refit_vs_numpy(cfg),
              "stage_loop_targets": stage_loop_targets(cfg)}
    tables["config"] = pd.DataFrame([{k: str(v) for k, v in asdict(cfg).items()}])
    return tables


def deployment_benchmarks_markdown(tables: dict[str, pd.DataFrame]) -> str:
    """A Markdown section reporting the deployment timing tables."""
    tp = tables["algorithm4_throughput"]
    per = tables["time_per_round_vs_t"]
    compiled = tp[(tp["implementation"] == "compiled loop") & tp["project"]]
    head = compiled[compiled["d"] == 10] if (compiled["d"] == 10).any() else compiled.iloc[:1]
    speed = tp.dropna(subset=["compiled_speedup"])
    lines = [f"Algorithm 4 on one core, K = {int(head['K'].iloc[0])}: "
             f"{head['rounds_per_s'].iloc[0]:,.0f} rounds/s at d = {int(head['d'].iloc[0])} "
             f"({head['us_per_round'].iloc[0]:.3g} us per round, projection on)"
             + "".join(f"; {r.compiled_speedup:.3g}x the {r.implementation} ({r.us_per_round:.3g} "
                       f"us per round)" for r in speed.itertuples()) + ".", "",
             markdown_table(tp, ".4g"), ""]
    growth = []
    for name, g in per.groupby("algorithm", sort=False):
        # the first segment long enough for the timer to resolve, against the last one
        long = g[g["rounds"] >= 20]
        first = long.iloc[0] if len(long) else g.iloc[0]
        last = g.iloc[-1]
        ratio = last["seconds_per_round"] / first["seconds_per_round"]
        growth.append(f"{name}: {first['seconds_per_round']:.3g} s/round over rounds "
                      f"{int(first['t_start']):,}-{int(first['t']):,}, "
                      f"{last['seconds_per_round']:.3g} s/round over rounds "
                      f"{int(last['t_start']):,}-{int(last['t']):,} (x{ratio:.3g})")
    lines += ["Seconds per round between log-spaced checkpoints (d = 10): flat for Algorithm 4, "
              "growing with t for the MLE baselines.", ""]
    lines += [f"- {g}" for g in growth]
    lines += ["", markdown_table(per, ".4g"), "",
              "Every registered deployment algorithm, same environment and horizon:", "",
              markdown_table(tables["all_algorithms"], ".4g"), ""]
    if "stage_loop_targets" in tables:
        tg = tables["stage_loop_targets"]
        lib = tg[tg["implementation"].str.startswith("registry")]
        lines += ["Stage loops against their targets (one core; hand-written minimal loops of the "
                  "same rounds as the floor): "
                  + "; ".join(f"{r.loop}: {r.rounds_per_s:,.0f} rounds/s by the clock, "
                              f"{r.rounds_per_cpu_s:,.0f} per CPU second (target "
                              f"{r.target_rounds_per_s:,.0f}; {r.ratio_to_hand:.3g}x the hand loop)"
                              for r in lib.itertuples()) + ".", "",
                  markdown_table(tg, ".4g"), ""]
    if "mle_refit_vs_numpy" in tables:
        ref = tables["mle_refit_vs_numpy"]
        stat = ref[ref["implementation"].str.startswith("compiled, statistical")]
        worst = stat.groupby("implementation")["speedup_vs_numpy"].min()
        lines += ["One warm-started MLE refit at round t, side by side with a plain numpy and a "
                  "scipy refit (best of repeats; the per-round cost of the MLE baselines). "
                  "Smallest speed-up over numpy across t and d: "
                  + "; ".join(f"{k}: {v:.3g}x" for k, v in worst.items()) + ".", "",
                  markdown_table(ref, ".4g"), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(deployment_benchmarks_markdown(deployment_benchmarks(sys.argv[1] if len(sys.argv) > 1
                                                               else "quick")))
