"""Input checks shared by the public functions; errors name the argument and the offending
entry, and are always ValueError.

Numeric range. The compiled updates form products and ratios of the inputs (||z||^2 / lambda,
eta ||z|| / (lambda B), and cubes of such ratios in the exact projection), which overflow or
underflow double precision long before the inputs themselves do. Positive scale constants
(eta, lambda, B, L, step sizes) must therefore lie in [SCALE_MIN, SCALE_MAX] and feature
differences satisfy |z_tj| <= FEATURE_MAX: within these ranges every intermediate quantity of
the kernels is finite, and far beyond any meaningful scale of a logistic model (sigma saturates
at |w| ~ 40).
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, overload

import numpy as np

SCALE_MIN = 1e-20
"""Smallest accepted positive scale constant (eta, lambda, B, L, step sizes)."""
SCALE_MAX = 1e20
"""Largest accepted positive scale constant."""
FEATURE_MAX = 1e20
"""Largest accepted magnitude of an entry of a feature (difference) vector."""

CONDITION_MAX = 1e15
"""Largest accepted max_t ||z_t||^2 / lambda for the updates that maintain an inverse Hessian
by rank-one (Sherman-Morrison) steps: beyond about 1 / eps = 4.5e15 such a step cancels every
digit of the inverse."""

_RANGE_REASON = "the range in which the compiled updates stay finite in double precision"


def _real(name: str, value: object, what: str) -> float:
    """A real number (not a bool or a string; a 0-d numeric array counts) as float."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


@overload
def check_positive(name: str, value: float, *, allow_none: Literal[False] = ...) -> float: ...


@overload
def check_positive(name: str, value: float | None, *, allow_none: bool) -> float | None: ...


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> float | None:
    """A finite real number in [SCALE_MIN, SCALE_MAX] as float (or None when allowed)."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    v = _real(name, value, "a positive number")
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if not SCALE_MIN <= v <= SCALE_MAX:
        raise ValueError(f"{name} = {v!r} is outside [{SCALE_MIN:g}, {SCALE_MAX:g}], "
                         f"{_RANGE_REASON}")
    return v


def check_nonnegative(name: str, value: float) -> float:
    """A finite real number in [0, SCALE_MAX], as float (for a weight that only multiplies, such
    as a ridge term: no lower limit)."""
    v = _real(name, value, "a number >= 0")
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if v > SCALE_MAX:
        raise ValueError(f"{name} = {v!r} exceeds {SCALE_MAX:g}, {_RANGE_REASON}")
    return v


def check_count(name: str, value: object, minimum: int = 1, maximum: int = 2**62) -> int:
    """An integer (not a bool; an integral float such as 3.0 counts) in [minimum, maximum], as
    int (the default maximum keeps it an int64 of compiled code)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
    else:
        f = _real(name, value, f"an integer >= {minimum}")
        if not (math.isfinite(f) and f == int(f)):
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        v = int(f)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if v > maximum:
        raise ValueError(f"{name} = {value!r} exceeds {maximum}")
    return v


def check_labels(y, n: int | None = None, *, name: str = "y", rows_of: str = "Z") -> np.ndarray:
    """Labels in {0, 1} of any boolean or real numeric dtype (an object array of such numbers
    too; strings are not labels), one per row of `rows_of` when n is given. Returns a
    contiguous float64 copy (0.0 / 1.0)."""
    y = np.asarray(y)
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        per_row = f" with one label per row of {rows_of} ({n})" if n is not None else ""
        raise ValueError(f"{name} must be a 1-D array{per_row}, got shape {y.shape}")
    if y.dtype == object:
        yf = np.empty(y.shape[0])
        for i, v in enumerate(y):
            if (isinstance(v, (str, bytes, complex, np.complexfloating))
                    or not isinstance(v, (numbers.Real, np.bool_))):
                raise ValueError(f"{name} must hold labels in {{0, 1}}; entry {i} is {v!r} "
                                 f"({type(v).__name__}, not a number)")
            yf[i] = float(v)
    elif y.dtype.kind in "biuf":
        yf = np.asarray(y, dtype=np.float64)
    else:
        raise ValueError(f"{name} must hold numeric or boolean labels in {{0, 1}}, got dtype "
                         f"{y.dtype}" + (f" (entry 0 is {y.tolist()[0]!r})" if y.size else ""))
    bad = np.flatnonzero(~((yf == 0.0) | (yf == 1.0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} must hold labels in {{0, 1}}; entry {i} is {y.tolist()[i]!r} "
                         f"({bad.size} such entries)")
    return np.ascontiguousarray(yf)


def check_design(Z, y, *, name_Z: str = "Z", name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Z a (T, d) finite real array with d >= 1 and |Z| <= FEATURE_MAX, y a (T,) array of 0/1
    labels (`check_labels`).

    Returns contiguous float64 copies (the labels as 0.0/1.0)."""
    try:
        Z = np.asarray(Z)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name_Z} must be a 2-D array (T, d) of feature differences: {e}"
                         ) from None
    if Z.ndim != 2:
        raise ValueError(f"{name_Z} must be a 2-D array (T, d) of feature differences, got shape {Z.shape}")
    if Z.shape[1] < 1:
        raise ValueError(f"{name_Z} must have at least one column (d >= 1), got shape {Z.shape}")
    if Z.dtype == object or not np.issubdtype(Z.dtype, np.number) or np.iscomplexobj(Z):
        raise ValueError(f"{name_Z} must be a real numeric array, got dtype {Z.dtype}")
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    bad = ~np.isfinite(Z)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name_Z} has a non-finite entry at row {i}, column {j}: {Z[i, j]}")
    if Z.size:
        k = int(np.argmax(np.abs(Z)))
        i, j = divmod(k, Z.shape[1])
        if abs(Z[i, j]) > FEATURE_MAX:
            raise ValueError(f"{name_Z}[{i}, {j}] = {Z[i, j]:g} exceeds {FEATURE_MAX:g} in "
                             f"magnitude, {_RANGE_REASON}")
    return Z, check_labels(y, Z.shape[0], name=name_y, rows_of=name_Z)


def check_conditioning(Z: np.ndarray, lam: float, *, name_Z: str = "Z",
                       name_lam: str = "lam") -> None:
    """max_t ||z_t||^2 / lam <= CONDITION_MAX (Z a checked design, lam a checked constant)."""
    if not Z.size:
        return
    sq = np.einsum("ij,ij->i", Z, Z)
    t = int(np.argmax(sq))
    ratio = float(sq[t]) / lam
    if ratio > CONDITION_MAX:
        raise ValueError(f"||{name_Z}[{t}]||^2 / {name_lam} = {ratio:.3g} exceeds "
                         f"{CONDITION_MAX:g}: the rank-one updates of the inverse Hessian would "
                         f"lose every digit to rounding ({name_lam} too small for the scale of "
                         f"{name_Z})")


def check_finite_result(name: str, path: np.ndarray) -> np.ndarray:
    """`path` (rows: iterates) when every entry is finite; ValueError naming the first
    non-finite iterate otherwise (a diverging update, e.g. a step size too large)."""
    bad = ~np.isfinite(path)
    if bad.any():
        t = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} diverged: iterate {t} is not finite (the step size or the "
                         "scale of the data is too large for this update)")
    return path


def as_real_array(name: str, value, dtype=np.float64) -> np.ndarray:
    """`value` as a C-contiguous copy of real dtype; complex numbers, strings and objects that
    are not numbers raise ValueError naming `name` (never a warning or a TypeError)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of real numbers: {e}") from None
    if np.iscomplexobj(raw) or (raw.dtype == object and any(
            isinstance(v, (complex, np.complexfloating)) for v in raw.reshape(-1))):
        raise ValueError(f"{name} must be real, got complex values")
    if raw.dtype.kind in "USV" or (raw.dtype.kind == "O" and any(
            isinstance(v, (str, bytes)) for v in raw.reshape(-1))):
        raise ValueError(f"{name} must be an array of real numbers, got {raw.dtype} entries")
    try:
        return np.array(raw, dtype=dtype, order="C", copy=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of real numbers: {e}") from None


# ----------------------------------------------------------------- arrays of indices

def check_index_array(name: str, value, n: int, what: str) -> np.ndarray:
    """A 1-D integer array with entries in [0, n), as contiguous int64."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {what} indices, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold integer {what} indices, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] = {arr[i]} is not {what} index in 0..{n - 1} "
                         f"({bad.size} entries out of range)")
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """The common length of the named arrays; ValueError listing the lengths otherwise."""
    lengths = {k: int(np.shape(v)[0]) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        names = list(lengths)
        shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} must have the same length, "
                         f"got {shown}")
    return next(iter(lengths.values()))


def check_uniforms(name: str, value, shape: tuple[int | None, ...]) -> np.ndarray:
    """A float64 array of the given shape (None: any length) with entries in [0, 1)."""
    arr = as_real_array(name, value)
    if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
        want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    bad = ~((arr >= 0.0) & (arr < 1.0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}[{', '.join(map(str, idx))}] = {float(arr[idx])!r} is not a uniform "
                         "in [0, 1)")
    return np.ascontiguousarray(arr)


def check_cdf(value) -> np.ndarray:
    """A non-empty 1-D non-decreasing float64 array in [0, 1] ending at 1 (a context CDF)."""
    cdf = as_real_array("cdf", value)
    if cdf.ndim != 1 or cdf.shape[0] < 1:
        raise ValueError(f"cdf must be a non-empty 1-D array, got shape {cdf.shape}")
    if not np.all(np.isfinite(cdf)) or cdf.min() < 0.0 or cdf.max() > 1.0:
        raise ValueError("cdf must hold finite values in [0, 1]")
    if np.any(np.diff(cdf) < 0.0):
        i = int(np.argmax(np.diff(cdf) < 0.0))
        raise ValueError(f"cdf decreases at entry {i + 1}; build it with sim.context_cdf(rho)")
    if cdf[-1] != 1.0:
        raise ValueError(f"cdf must end at 1.0, got {float(cdf[-1])!r}; build it with sim.context_cdf(rho)")
    return np.ascontiguousarray(cdf)


def check_features(name: str, value, ndim: int = 3) -> np.ndarray:
    """A real array of `ndim` dimensions, as float (float32 / float64 kept, others float64)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a {ndim}-d float array: {e}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr
