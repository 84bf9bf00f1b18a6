"""Rounds at which long runs record their metrics."""

from __future__ import annotations

import numpy as np


def log_checkpoints(T: int, n: int = 20) -> np.ndarray:
    """About n log-spaced rounds in [1, T], always including T, as a sorted unique int64 array
    (every round when T <= n)."""
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if T <= n:
        return np.arange(1, T + 1, dtype=np.int64)
    pts = np.unique(np.round(np.geomspace(1, T, n)).astype(np.int64))
    if pts[-1] != T:
        pts = np.append(pts, T)
    return pts
