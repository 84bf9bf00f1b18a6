"""Timing of the open protocol: a reward model registered through `algorithms.protocol` (the
one-pass OMD copy `algorithms.models.OMD_MODEL`) against the built-in code path, in the same
compiled loops, measured in one process, interleaved, best of several repetitions.

- stream: `model_stream` over the built-in code (MODEL_OMD) against the same loop over the
  copy, d = 8 and 32, projection off and on (inactive); both keep Hcal itself as well as its
  inverse (the protocol's `matrix`), which `omd_run` (shown as a third column) does not;
- deployment: Algorithm 4 with the built-in OMD against the same rule with the copy
  (rounds per second of the whole compiled loop, d = 10, K = 20).

ratio = built-in seconds / copy seconds (1 means the copy runs as fast as the built-in).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from algorithms.models import OMD_MODEL
from algorithms.omd import omd_run
from algorithms.protocol import COUNTERS, MODEL_OMD, init_state, model_handle, model_stream
from algorithms.registry import Algorithm, run
from sim.generators import random_directions_env

SIZES = {"quick": dict(stream_T=400_000, deploy_T=50_000, reps=5),
         "full": dict(stream_T=2_000_000, deploy_T=200_000, reps=7),
         "tiny": dict(stream_T=5_000, deploy_T=1_000, reps=2)}


def _stream_times(Z: np.ndarray, y: np.ndarray, project: bool, reps: int
                  ) -> tuple[float, float, float]:
    """Best seconds of (built-in code, copy, omd_run) over the stream, interleaved."""
    d = Z.shape[1]
    B = 1e300
    params = np.array([2.0, 1.0, B, 1.0 if project else 0.0])
    none = np.empty((0, d))
    counters = np.zeros(len(COUNTERS), dtype=np.int64)
    models = (MODEL_OMD, OMD_MODEL)
    for m in models:  # compile or load
        model_stream(model_handle(m), init_state(m, d, 4, params, 1.0), Z[:4], y[:4], 0,
                     params, counters, none)
    omd_run(Z[:4], y[:4], np.zeros(d), np.eye(d), 2.0, B, project, none)
    best = [np.inf, np.inf, np.inf]
    for _ in range(reps):
        for k, m in enumerate(models):
            state = init_state(m, d, Z.shape[0], params, 1.0)
            t0 = time.perf_counter()
            model_stream(model_handle(m), state, Z, y, 0, params, counters, none)
            best[k] = min(best[k], time.perf_counter() - t0)
        t0 = time.perf_counter()
        omd_run(Z, y, np.zeros(d), np.eye(d), 2.0, B, project, none)
        best[2] = min(best[2], time.perf_counter() - t0)
    return best[0], best[1], best[2]


def protocol_overhead(scale: str = "quick", seed: int = 20250211) -> pd.DataFrame:
    """Seconds of the built-in path and of the registered copy, and their ratio (module
    docstring)."""
    size = SIZES[scale]
    rng = np.random.default_rng(seed)
    rows = []
    for d in (8, 32):
        T = size["stream_T"] if d == 8 else size["stream_T"] // 8
        Z = rng.normal(size=(T, d)) / np.sqrt(d)
        y = (rng.random(T) < 0.5).astype(np.float64)
        for project in (False, True):
            b, c, plain = _stream_times(Z, y, project, size["reps"])
            rows.append(dict(loop="one-pass stream", d=d, K=0, project=project, n=T,
                             builtin_s=b, copy_s=c, omd_run_s=plain))
    env = random_directions_env(50, 20, 10, L=1.0, B=2.0, seed=seed)
    copy = Algorithm("algorithm4-protocol-copy", "deployment", "algorithm4", OMD_MODEL, "greedy")
    T = size["deploy_T"]
    run("algorithm4", env, 10, 0, checkpoints=1)
    run(copy, env, 10, 0, checkpoints=1)
    best_b = best_c = np.inf
    for rep in range(size["reps"]):
        best_b = min(best_b, float(run("algorithm4", env, T, rep, checkpoints=1)
                                   .records["wall_time"].iloc[-1]))
        best_c = min(best_c, float(run(copy, env, T, rep, checkpoints=1)
                                   .records["wall_time"].iloc[-1]))
    rows.append(dict(loop="Algorithm 4 deployment", d=10, K=20, project=True, n=T,
                     builtin_s=best_b, copy_s=best_c, omd_run_s=np.nan))
    df = pd.DataFrame(rows)
    df["builtin_per_s"] = df["n"] / df["builtin_s"]
    df["copy_per_s"] = df["n"] / df["copy_s"]
    df["ratio"] = df["builtin_s"] / df["copy_s"]
    return df


__all__ = ["protocol_overhead"]
