"""Input checks shared by the estimators' public functions; errors name the argument and
the offending entry."""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np


@overload
def check_positive(name: str, value: float, *, allow_none: Literal[False] = ...) -> float: ...


@overload
def check_positive(name: str, value: float | None, *, allow_none: bool) -> float | None: ...


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> float | None:
    """A finite float > 0 (or None when allowed)."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def check_design(Z, y, *, name_Z: str = "Z", name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Z a (T, d) finite float array with d >= 1, y a (T,) array of 0/1 labels.

    Returns contiguous float64 copies (the labels as 0.0/1.0)."""
    Z = np.asarray(Z)
    if Z.ndim != 2:
        raise ValueError(f"{name_Z} must be a 2-D array (T, d) of feature differences, got shape {Z.shape}")
    if Z.shape[1] < 1:
        raise ValueError(f"{name_Z} must have at least one column (d >= 1), got shape {Z.shape}")
    if not np.issubdtype(Z.dtype, np.number) or np.iscomplexobj(Z):
        raise ValueError(f"{name_Z} must be a real numeric array, got dtype {Z.dtype}")
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    bad = ~np.isfinite(Z)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name_Z} has a non-finite entry at row {i}, column {j}: {Z[i, j]}")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != Z.shape[0]:
        raise ValueError(f"{name_y} must be a 1-D array with one label per row of {name_Z} "
                         f"({Z.shape[0]}), got shape {y.shape}")
    yf = np.asarray(y, dtype=np.float64) if y.dtype != object else None
    if yf is None or not np.all((yf == 0.0) | (yf == 1.0)):
        bad_idx = np.flatnonzero(~((y == 0) | (y == 1)))[0] if yf is not None else 0
        raise ValueError(f"{name_y} must hold labels in {{0, 1}}; entry {bad_idx} is {y[bad_idx]!r}")
    return Z, np.ascontiguousarray(yf)
