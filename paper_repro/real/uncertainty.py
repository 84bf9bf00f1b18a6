"""Intervals and trivial baselines for held-out pairwise metrics.

Per-pair metrics of a linear reward model theta on a labelled pair (z, y), with w = z' theta
(the project's one loss and accuracy, `sim.core.links.pair_log_loss_accuracy`):

    correct(z, y) = 1[sign(w) = 2y - 1], 1/2 when w = 0;   loss(z, y) = softplus(w) - y w

Two 95% intervals for a mean over held-out pairs:

- eval pairs (`PromptBootstrap`): the held-out pairs are resampled by prompt (a cluster
  bootstrap: pairs of one prompt are not independent), B resamples drawn once and shared by
  every method of a table, so intervals of different methods come from the same resamples;
  percentile interval of the resampled means.
- seeds (`seed_interval`): the per-seed values v_1..v_S, mean +- t_{0.975, S-1} sd / sqrt(S);
  undefined (NaN) for one seed, zero width when the method does not depend on the seed.

Trivial baselines, each a fixed rule fitted on the training pairs only (`baselines`):

- chance: P(y = 1) = 1/2 for every pair: accuracy 1/2 and log loss log 2, exactly;
- majority: the label more frequent among the training pairs, predicted with probability its
  training frequency f. Labels are read in the orientation the data gave when they vary (a
  label column: "the first response wins" is a real rule), and after the random orientation
  when the data's order is the label (chosen/rejected data, stored chosen first), where the
  rule is worth 1/2 by construction;
- response length: "the longer response wins" or "the shorter response wins" (characters),
  whichever is right on more training pairs; predicted with probability p = its training
  accuracy on pairs of unequal length, 1/2 on pairs of equal length.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

from sim.core.seeding import SeedLike, as_generator

LEVEL = 0.95
"""Level of every interval."""
_P_CLIP = 1e-6


def pair_metrics(Z: np.ndarray, y: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(correct (n,), loss (n,)) of theta on each pair (module docstring); their means are
    `pair_log_loss_accuracy`."""
    w = np.asarray(Z, dtype=np.float64) @ np.asarray(theta, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correct = np.where(w == 0.0, 0.5, (np.sign(w) == 2.0 * y - 1.0).astype(np.float64))
    return correct, np.logaddexp(0.0, w) - y * w


class PromptBootstrap:
    """B resamples of held-out pairs by prompt (module docstring), fixed at construction.

    groups: (n,) the prompt of each pair (any hashable labels); resamples: B; seed: the draw.
    `interval(values)` gives the percentile interval of the mean of values (n,) or of each
    column of values (n, m).
    """

    def __init__(self, groups, resamples: int, seed: SeedLike | np.random.Generator) -> None:
        groups = np.asarray(groups, dtype=object)
        if groups.ndim != 1 or groups.size == 0:
            raise ValueError("groups must be a non-empty 1-d array of prompt labels")
        if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 10:
            raise ValueError(f"resamples must be an int >= 10, got {resamples!r}")
        _, self.index = np.unique(groups.astype(str), return_inverse=True)
        self.n = groups.size
        G = int(self.index.max()) + 1
        rng = as_generator(seed)
        # weights[b, g]: how often prompt g is drawn in resample b (G draws with replacement)
        self.weights = rng.multinomial(G, np.full(G, 1.0 / G), size=resamples).astype(np.float64)
        self.counts = np.bincount(self.index, minlength=G).astype(np.float64)
        self.resamples = resamples
        self.prompts = G

    def interval(self, values) -> tuple[np.ndarray, np.ndarray]:
        """(low, high): the (1 - LEVEL)/2 and (1 + LEVEL)/2 quantiles of the resampled means."""
        v = np.asarray(values, dtype=np.float64)
        one = v.ndim == 1
        v = v.reshape(self.n, -1)
        sums = np.zeros((self.prompts, v.shape[1]))
        np.add.at(sums, self.index, v)
        means = (self.weights @ sums) / (self.weights @ self.counts)[:, None]
        lo, hi = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        return (lo[0], hi[0]) if one else (lo, hi)


def seed_interval(values) -> tuple[float, float]:
    """mean +- t_{(1 + LEVEL)/2, S-1} sd / sqrt(S) of per-seed values; (nan, nan) for S < 2."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf((1 + LEVEL) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    m = float(v.mean())
    return m - half, m + half


class Baseline(NamedTuple):
    """A trivial rule's per-pair metrics on the held-out pairs and what it was fitted to."""

    name: str
    rule: str
    """The rule in words, with its training statistic."""
    correct: np.ndarray
    loss: np.ndarray


def _constant_rule(win: np.ndarray, tie: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair metrics of predicting 'the rule's winner wins' with probability p (1/2 on a
    tie); win: the rule's winner won."""
    p = min(max(p, _P_CLIP), 1.0 - _P_CLIP)
    correct = np.where(tie, 0.5, win.astype(np.float64))
    loss = np.where(tie, math.log(2.0), np.where(win, -math.log(p), -math.log1p(-p)))
    return correct, loss


def chance_baseline(n: int) -> Baseline:
    return Baseline("chance", "P(y = 1) = 1/2 for every pair", np.full(n, 0.5),
                    np.full(n, math.log(2.0)))


def majority_baseline(y_train_stored: np.ndarray, y_eval_stored: np.ndarray,
                      y_train_oriented: np.ndarray, y_eval_oriented: np.ndarray) -> Baseline:
    """The majority label of the training pairs, in the data's orientation when its labels vary,
    else after the random orientation (module docstring)."""
    stored = np.unique(y_train_stored).size > 1
    y_tr, y_ev = ((y_train_stored, y_eval_stored) if stored
                  else (y_train_oriented, y_eval_oriented))
    f1 = float(np.mean(y_tr == 1.0))
    label = 1.0 if f1 >= 0.5 else 0.0
    f = max(f1, 1.0 - f1)
    correct, loss = _constant_rule(y_ev == label, np.zeros(y_ev.shape, bool), f)
    who = "the first response" if label == 1.0 else "the second response"
    where = ("in the data's order" if stored else
             "after the random orientation (the data's order is the label)")
    return Baseline("majority", f"{who} wins, {where}: {100 * f:.1f}% of the training pairs",
                    correct, loss)


def length_baseline(len_diff_train: np.ndarray, y_train: np.ndarray, len_diff_eval: np.ndarray,
                    y_eval: np.ndarray) -> Baseline:
    """Longer or shorter response wins (module docstring). len_diff: characters of the first
    response minus the second, in the orientation of the labels y."""
    dt, de = np.sign(np.asarray(len_diff_train, float)), np.sign(np.asarray(len_diff_eval, float))
    first_won_tr, first_won_ev = y_train == 1.0, y_eval == 1.0
    decided = dt != 0
    longer_right = (float(np.mean((dt[decided] > 0) == first_won_tr[decided])) if decided.any()
                    else 0.5)
    direction = 1.0 if longer_right >= 0.5 else -1.0
    p = longer_right if direction > 0 else 1.0 - longer_right
    win = (direction * de > 0) == first_won_ev
    correct, loss = _constant_rule(win, de == 0, p)
    name = "longer response wins" if direction > 0 else "shorter response wins"
    return Baseline(name, f"right on {100 * p:.1f}% of the training pairs of unequal length "
                          "(characters), predicted with that probability", correct, loss)
