"""Splits of preference pairs grouped by prompt: no prompt has pairs on two sides.

`grouped_holdout(prompts, fraction, seed)` takes the prompts in a seeded random order and puts
whole prompts on the held-out side until it holds at least round(fraction * n) pairs (at least
one prompt, never every prompt). `assign_splits` makes the three splits of the real-data
pipeline: "eval" (held out for the report, never used for any choice), "validation" (held out
from the training pairs to choose the constants) and "train" (the rest); the learners of the
reported runs are then trained on train + validation ("the training split").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.core.seeding import SeedLike, as_generator

SPLITS: tuple[str, ...] = ("train", "validation", "eval")


def grouped_holdout(prompts, fraction: float, seed: SeedLike | np.random.Generator) -> np.ndarray:
    """(n,) bool, True for the pairs of the held-out prompts (module docstring)."""
    prompts = np.asarray(prompts, dtype=object)
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction < 1.0):
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction!r}")
    unique, index = np.unique(prompts.astype(str), return_inverse=True)
    if unique.size < 2:
        raise ValueError(f"all {prompts.size} pairs share one prompt: a split by prompt needs "
                         "at least two prompts")
    counts = np.bincount(index, minlength=unique.size)
    order = as_generator(seed).permutation(unique.size)
    target = max(1, round(fraction * prompts.size))
    taken = int(np.searchsorted(np.cumsum(counts[order]), target) + 1)
    held = np.zeros(unique.size, dtype=bool)
    held[order[: min(taken, unique.size - 1)]] = True
    return held[index]


class SplitAssignment(NamedTuple):
    split: np.ndarray
    """(n,) object array of SPLITS, one per pair; "" for pairs left out (see dropped)."""
    dropped: int
    """Training pairs left out because their prompt has pairs in a fixed eval split."""
    rule: str
    """The rule, in words, for the report."""


def assign_splits(prompts, fixed_eval: np.ndarray | None, eval_fraction: float,
                  validation_fraction: float, eval_seed: SeedLike | np.random.Generator,
                  validation_seed: SeedLike | np.random.Generator) -> SplitAssignment:
    """Eval by `grouped_holdout` (or the given fixed_eval mask (n,) bool, from the data: then
    training pairs whose prompt appears in it are left out), validation by `grouped_holdout`
    of the remaining pairs, train the rest."""
    prompts = np.asarray(prompts, dtype=object)
    n = prompts.size
    split = np.full(n, "", dtype=object)
    dropped = 0
    if fixed_eval is None:
        is_eval = grouped_holdout(prompts, eval_fraction, eval_seed)
        rule = (f"eval: a seeded random set of whole prompts holding {100 * eval_fraction:g}% of "
                "the pairs")
        usable = ~is_eval
    else:
        is_eval = np.asarray(fixed_eval, dtype=bool)
        if not is_eval.any() or is_eval.all():
            raise ValueError("the data's eval split must hold some but not all pairs")
        shared = np.isin(prompts.astype(str), prompts[is_eval].astype(str)) & ~is_eval
        dropped = int(shared.sum())
        usable = ~is_eval & ~shared
        rule = "eval: the data's own eval pairs"
        if dropped:
            rule += f" ({dropped} training pairs whose prompt is in it left out)"
    split[is_eval] = "eval"
    rows = np.flatnonzero(usable)
    if rows.size < 4:
        raise ValueError(f"only {rows.size} training pairs: too few to train and validate")
    val = grouped_holdout(prompts[rows], validation_fraction, validation_seed)
    split[rows[val]] = "validation"
    split[rows[~val]] = "train"
    rule += (f"; validation: a seeded random set of whole training prompts holding "
             f"{100 * validation_fraction:g}% of the training pairs; no prompt is in two splits")
    return SplitAssignment(split, dropped, rule)
