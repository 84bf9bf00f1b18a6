"""Rounds at which long runs record their metrics."""

from __future__ import annotations

import numpy as np

from .validation import check_count


def log_checkpoints(T: int, n: int = 20) -> np.ndarray:
    """About n log-spaced rounds in [1, T], always including T, as a sorted unique int64 array
    (every round when T <= n)."""
    T, n = check_count("T", T, 1), check_count("n", n, 1)
    if T <= n:
        return np.arange(1, T + 1, dtype=np.int64)
    pts = np.unique(np.round(np.geomspace(1, T, n)).astype(np.int64))
    if pts[-1] != T:
        pts = np.append(pts, T)
    return pts
