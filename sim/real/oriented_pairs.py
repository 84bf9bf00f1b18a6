"""Labelled pairs of a feature bank as a learner sees them: z = phi(x, a) - phi(x, b), y.

A bank built from binarised data stores every pair chosen-first (label 1). The pairs are
oriented at random: a seeded, exactly balanced half of them is flipped, z -> -z and
y -> 1 - y, so that the label array is not constant. The Bradley-Terry loss, gradient and
Hessian are unchanged by the flip (l(theta; -z, 1 - y) = l(theta; z, y)), so no estimator of
this project changes its estimate by more than rounding; the flip is there for anything that
looks at the labels alone (label balance, classifiers with an intercept).

Randomness: one SeedSequence per split, with two named streams (`sim.core.seeding.spawn_streams`):
"order" (the shuffle) and "orientation" (the flips).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.core.seeding import SeedLike, spawn_streams

from .bank import FeatureBank

PAIR_STREAMS: tuple[str, ...] = ("order", "orientation")
"""Stream names of `bank_pairs`, in spawn order."""


class PairSet(NamedTuple):
    """Pairs of one split, in the order a learner sees them."""

    Z: np.ndarray
    """(n, d) float64 feature differences (after orientation)."""
    y: np.ndarray
    """(n,) float64 labels in {0, 1} (after orientation)."""
    flipped: np.ndarray
    """(n,) bool: the pair was flipped (z -> -z, y -> 1 - y)."""
    rows: np.ndarray
    """(n,) int64: the pair's row among the split's rows of the bank, in table order."""

    @property
    def n(self) -> int:
        return int(self.Z.shape[0])

    @property
    def d(self) -> int:
        return int(self.Z.shape[1])


def orientation_flips(n: int, seed: SeedLike | np.random.Generator) -> np.ndarray:
    """(n,) bool with exactly floor(n / 2) True entries, at positions drawn uniformly from
    the seeded stream (the first floor(n / 2) entries of a random permutation)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else spawn_streams(seed, ("orientation",))[
        "orientation"]
    flips = np.zeros(int(n), dtype=bool)
    flips[rng.permutation(int(n))[: int(n) // 2]] = True
    return flips


def orient(Z: np.ndarray, y: np.ndarray, flips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z', y') with z'_i = -z_i and y'_i = 1 - y_i where flips[i], unchanged elsewhere."""
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    flips = np.asarray(flips)
    if Z.ndim != 2:
        raise ValueError(f"Z must be a 2-d array (n, d), got shape {Z.shape}")
    if y.shape != (Z.shape[0],) or flips.shape != (Z.shape[0],):
        raise ValueError(f"y and flips must have shape ({Z.shape[0]},) like the rows of Z, got "
                         f"{y.shape} and {flips.shape}")
    if flips.dtype != np.bool_:
        raise ValueError(f"flips must be a bool array, got dtype {flips.dtype}")
    sign = np.where(flips, -1.0, 1.0)
    return np.ascontiguousarray(Z * sign[:, None]), np.where(flips, 1.0 - y, y)


def bank_pairs(bank: FeatureBank, split: str, seed: SeedLike, *, shuffle: bool = True,
               limit: int | None = None) -> PairSet:
    """The pairs of one split of `bank`: shuffled (stream "order") when shuffle, cut to the
    first `limit`, then oriented (stream "orientation").

    Features are used as stored: normalise the bank first (`FeatureBank.normalized(L)`) for
    the bound ||phi|| <= L.
    """
    if not isinstance(bank, FeatureBank):
        raise ValueError(f"bank must be a sim.real.FeatureBank, got {type(bank).__name__}")
    Z, y = bank.pair_differences(split)
    if Z.shape[0] == 0:
        raise ValueError(f"the bank has no pairs in split {split!r}")
    streams = spawn_streams(seed, PAIR_STREAMS)
    rows = streams["order"].permutation(Z.shape[0]) if shuffle else np.arange(Z.shape[0])
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        rows = rows[: int(limit)]
    flips = orientation_flips(rows.shape[0], streams["orientation"])
    Zo, yo = orient(Z[rows], y[rows], flips)
    return PairSet(Zo, yo, flips, rows.astype(np.int64))

