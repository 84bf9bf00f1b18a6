"""Seeds, named random streams and common random numbers.

One numpy SeedSequence per experiment. Its children, in order, are the repetitions; each
repetition's children, in order, are its named streams:

    root = SeedSequence(seed)
    repetition r          = child r of root                  (`repetition_seeds`)
    stream i of names     = child i of the repetition seed   (`spawn_streams`)

Children are derived from the parent's entropy and spawn key alone (child i has spawn key
parent.spawn_key + (i,), exactly what `SeedSequence.spawn` would give a fresh parent), never
from its spawn counter, so asking twice gives the same streams. Every generator is PCG64.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .validation import as_real_array

SeedLike = int | np.random.SeedSequence
"""An integer seed (>= 0) or a SeedSequence."""

CRN_STREAMS: tuple[str, ...] = ("contexts", "labels", "arms")
"""The stream names of `CommonRandomNumbers`, in their fixed spawn order."""


def as_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """The SeedSequence of an integer seed, or the SeedSequence itself."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(
            f"seed must be a non-negative int or a numpy SeedSequence, got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.SeedSequence(int(seed))


def as_generator(seed: SeedLike | np.random.Generator) -> np.random.Generator:
    """A PCG64 Generator seeded by `seed`; a Generator is returned as is (and advanced by use)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(as_seed_sequence(seed)))


def _child(parent: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """Child i of parent: what parent.spawn(i + 1)[i] returns when parent has spawned nothing."""
    return np.random.SeedSequence(
        entropy=parent.entropy,
        spawn_key=(*parent.spawn_key, i),
        pool_size=parent.pool_size,
    )


def repetition_seeds(seed: SeedLike, n: int) -> list[np.random.SeedSequence]:
    """The seeds of repetitions 0..n-1: children 0..n-1 of SeedSequence(seed).

    Repetition r's seed does not depend on n, so adding repetitions keeps the earlier ones.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    root = as_seed_sequence(seed)
    return [_child(root, i) for i in range(int(n))]


def spawn_streams(seed: SeedLike, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    """One independent PCG64 Generator per name: names[i] gets child i of SeedSequence(seed).

    The order of `names` is part of the seed: the i-th name always receives the i-th child,
    so a stream keeps its bits only while its position in `names` is unchanged. Append new
    names at the end, never insert or reorder.
    """
    if not isinstance(names, tuple) or not names:
        raise ValueError(f"names must be a non-empty tuple of str, got {names!r}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"stream names must be non-empty strings, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"stream names must be distinct, got {names!r}")
    root = as_seed_sequence(seed)
    return {
        name: np.random.Generator(np.random.PCG64(_child(root, i)))
        for i, name in enumerate(names)
    }


def _frozen_uniforms(field: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    arr = as_real_array(field, value)
    if arr.shape != shape:
        raise ValueError(f"{field} must have shape {shape}, got {arr.shape}")
    if arr.size and not (np.all(arr >= 0.0) and np.all(arr < 1.0)):
        raise ValueError(f"{field} must lie in [0, 1)")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class CommonRandomNumbers:
    """The uniforms of one repetition, shared by every algorithm of a comparison.

    context_u[t] draws the context of round t, label_u[t] the label of round t's query,
    arm_u[t] the (up to two) randomised arm choices of round t. All lie in [0, 1); the
    arrays are read-only.
    """

    context_u: np.ndarray
    """(T,) uniforms for the context draws."""
    label_u: np.ndarray
    """(T,) uniforms for the Bradley-Terry labels."""
    arm_u: np.ndarray
    """(T, 2) uniforms for randomised arm choices."""

    def __post_init__(self) -> None:
        context_u = np.asarray(self.context_u)
        if context_u.ndim != 1:
            raise ValueError(f"context_u must be 1-d, got shape {context_u.shape}")
        T = context_u.shape[0]
        object.__setattr__(self, "context_u", _frozen_uniforms("context_u", context_u, (T,)))
        object.__setattr__(self, "label_u", _frozen_uniforms("label_u", self.label_u, (T,)))
        object.__setattr__(self, "arm_u", _frozen_uniforms("arm_u", self.arm_u, (T, 2)))

    def __reduce__(self):
        return (type(self), (self.context_u, self.label_u, self.arm_u))

    @property
    def T(self) -> int:
        """Number of rounds."""
        return int(self.context_u.shape[0])

    @classmethod
    def draw(cls, seed: SeedLike, T: int) -> CommonRandomNumbers:
        """Uniforms for T rounds from the streams CRN_STREAMS of `seed` (see `spawn_streams`).

        Each array comes from its own stream and each stream is consumed from its start, so
        the first T entries are the same for every horizon >= T.
        """
        if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 0:
            raise ValueError(f"T must be a non-negative int, got {T!r}")
        T = int(T)
        streams = spawn_streams(seed, CRN_STREAMS)
        return cls(
            context_u=streams["contexts"].random(T),
            label_u=streams["labels"].random(T),
            arm_u=streams["arms"].random((T, 2)),
        )
