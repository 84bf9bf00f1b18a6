"""A user's preference data to a report: splits, constants chosen on validation, the passive,
active and deployment comparisons, intervals and trivial baselines (`run_pipeline`).

Order of work, with the seeds (one SeedSequence per experiment, `PIPELINE_STREAMS` spawned from
it; repetition r of the passive and active comparisons is child r of the "repetitions" stream,
with the streams of REPETITION_STREAMS):

1. splits (`splits.assign_splits`): eval and validation, by whole prompts;
2. orientation: the eval and validation pairs are oriented at random once (a balanced half
   flipped, z -> -z, y -> 1 - y; `sim.real.oriented_pairs`), the same for every method;
3. constants (`tuning`): chosen on the validation pairs;
4. passive (ALGORITHMS.md 3.1, `passive_training`): per repetition the training pairs (train
   + validation) in a seeded order and orientation, one pass by one-pass OMD, SGD and the full
   MLE (refit at log-spaced checkpoints); loss and accuracy at every checkpoint;
5. active (ALGORITHMS.md 3.2, `pool_active.active_checkpoints`): per repetition a seeded random
   subset of the training pairs is the pool (so repetitions differ beyond tie-breaking), each
   method queries it once up to the largest budget, observed at every budget;
6. deployment (ALGORITHMS.md 3.3, `multiarm_deployment`), only for data with several rated
   responses per prompt: the paper's strategies under two oracles built from the scores.

Every table has 95% intervals over the eval pairs (a bootstrap by prompt, resamples shared by
the methods) and over the seeds (t interval), and the trivial baselines of `uncertainty`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from algorithms.constants import theory_eta
from figures.real_data import plot_deployment_curves, plot_interval_curves
from figures.style import set_algorithm_order
from figures.tables import markdown_table
from sim.core.checkpoints import log_checkpoints
from sim.core.seeding import SeedLike, repetition_seeds, spawn_streams
from sim.real.bank import FeatureBank
from sim.real.build import REFERENCE_COLUMN
from sim.real.oriented_pairs import orient, orientation_flips

from .experiments import deployment_experiment
from .multiarm_deployment import STRATEGIES, deployment_oracles, principal_features
from .passive_training import METHOD_LABELS, PASSIVE_METHODS, passive_estimates
from .pool_active import ACTIVE_METHODS, PAPER_NAMES, active_checkpoints
from .splits import assign_splits
from .tuning import RULE, at_edge, default_grid, tune
from .uncertainty import (
    LEVEL,
    Baseline,
    PromptBootstrap,
    chance_baseline,
    length_baseline,
    majority_baseline,
    pair_metrics,
    seed_interval,
)
from .user_data import UserData

PIPELINE_STREAMS: tuple[str, ...] = ("data", "eval-split", "validation-split", "eval-orientation",
                                     "validation-orientation", "tuning-order", "bootstrap",
                                     "repetitions", "deployment", "baseline-orientation")
"""Streams of the experiment seed, in spawn order (append only)."""


REPETITION_STREAMS: tuple[str, ...] = ("order", "orientation", "pool", "learner")
"""Streams of one repetition: "order" (passive: the order, then the orientation, of the
training pairs), "orientation" (active: of the pool), "pool" (active: which training pairs form
the pool), "learner" (active: the random methods' query order)."""


def stream_seed(seed: SeedLike, name: str) -> np.random.SeedSequence:
    """The SeedSequence of one stream of PIPELINE_STREAMS (the seed `spawn_streams` gives it)."""
    return repetition_seeds(seed, len(PIPELINE_STREAMS))[PIPELINE_STREAMS.index(name)]

B_DECLARED = 2.0
"""The bound on ||theta|| entering the practical eta (no projection is applied)."""
L_FEATURES = 1.0
"""Features are normalised to max ||phi|| = L_FEATURES."""


@dataclass(frozen=True)
class PipelineSettings:
    """How much to run (the command's options)."""

    eval_fraction: float = 0.2
    validation_fraction: float = 0.2
    seed: int = 0
    seeds: int = 5
    """Repetitions of the passive and active comparisons (and of the deployment runs)."""
    budgets: tuple[int, ...] | None = None
    """Query counts of the active curves; None: about 8 log-spaced up to max_budget."""
    max_budget: int = 500
    pool_fraction: float = 0.8
    bootstrap: int = 1000
    checkpoints: int = 15
    deployment_rounds: int = 2000
    deployment_dim: int | None = 32
    min_responses: int = 3
    active: bool = True
    deployment: bool = True
    quick: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        for name in ("eval_fraction", "validation_fraction", "pool_fraction"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 < v < 1.0) and not (
                    name == "pool_fraction" and v == 1.0):
                bounds = "(0, 1]" if name == "pool_fraction" else "(0, 1)"
                raise ValueError(f"--{name.replace('_', '-')} must be in {bounds}, got {v!r}")
        for name in ("seeds", "bootstrap", "checkpoints", "deployment_rounds", "max_budget"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an int >= 1, got {v!r}")
        if self.bootstrap < 10:
            raise ValueError(f"--bootstrap must be >= 10, got {self.bootstrap}")
        if self.budgets is not None and (not self.budgets or any(
                b < 1 for b in self.budgets) or list(self.budgets) != sorted(set(self.budgets))):
            raise ValueError(f"--budgets must be increasing ints >= 1, got {self.budgets!r}")
        if self.deployment_dim is not None and self.deployment_dim < 1:
            raise ValueError(f"--deployment-dim must be >= 1, got {self.deployment_dim}")


@dataclass
class PipelineResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    report: str = ""
    seconds: dict[str, float] = field(default_factory=dict)


def _repetition(seed: np.random.SeedSequence) -> dict:
    """The streams of REPETITION_STREAMS of one repetition: Generators, except "learner", the
    SeedSequence the active kernels take (the random methods' order)."""
    streams: dict = spawn_streams(seed, REPETITION_STREAMS)
    streams["learner"] = repetition_seeds(seed, len(REPETITION_STREAMS))[
        REPETITION_STREAMS.index("learner")]
    return streams


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"[real] {message}", file=sys.stderr, flush=True)


def _progress(iterable, total: int, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=quiet, file=sys.stderr, leave=False)


# ----------------------------------------------------------------------- pair arrays

@dataclass(frozen=True)
class Pairs:
    """Labelled pairs as the learners see them (oriented), with what the baselines need."""

    Z: np.ndarray
    y: np.ndarray
    y_stored: np.ndarray
    """Labels in the data's orientation (before the random flips)."""
    len_diff: np.ndarray
    """Characters of the first response minus the second, in the orientation of y (0 without
    lengths)."""
    prompts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


class _PairTable:
    def __init__(self, bank: FeatureBank) -> None:
        self.Z, self.y = bank.pair_differences(None)
        self.prompts = bank.pairs["prompt_id"].to_numpy(dtype=object)
        r = bank.responses
        self.has_lengths = "response_chars" in r.columns
        if self.has_lengths:
            index = {rid: i for i, rid in enumerate(r["response_id"])}
            chars = r["response_chars"].to_numpy(dtype=np.float64)
            a = np.array([index[v] for v in bank.pairs["response_a"]], dtype=np.int64)
            b = np.array([index[v] for v in bank.pairs["response_b"]], dtype=np.int64)
            self.len_diff = chars[a] - chars[b] if len(a) else np.zeros(0)
        else:
            self.len_diff = np.zeros(self.y.shape[0])

    def take(self, rows: np.ndarray, rng: np.random.Generator, shuffle: bool) -> Pairs:
        """The pairs of rows, shuffled when asked, then oriented (a balanced half flipped)."""
        rows = rng.permutation(rows) if shuffle else rows
        flips = orientation_flips(rows.shape[0], rng)
        Z, y = orient(self.Z[rows], self.y[rows], flips)
        sign = np.where(flips, -1.0, 1.0)
        return Pairs(Z, y, self.y[rows], self.len_diff[rows] * sign, self.prompts[rows])


# ------------------------------------------------------------------------- summaries

def _fmt_interval(lo: float, hi: float, scale: float = 1.0, fmt: str = ".1f") -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    return f"[{format(lo * scale, fmt)}, {format(hi * scale, fmt)}]"


def _summary_rows(name: str, correct: np.ndarray, loss: np.ndarray, boot: PromptBootstrap,
                  extra: dict | None = None) -> dict:
    """One table row: correct and loss are (S, n) per seed and eval pair."""
    correct, loss = np.atleast_2d(correct), np.atleast_2d(loss)
    acc_s, loss_s = correct.mean(axis=1), loss.mean(axis=1)
    (acc_lo, loss_lo), (acc_hi, loss_hi) = boot.interval(
        np.column_stack([correct.mean(axis=0), loss.mean(axis=0)]))
    seeds = correct.shape[0]
    # a t interval may reach past the metric's range (few seeds): clip it to the range
    sa = tuple(np.clip(seed_interval(acc_s), 0.0, 1.0))
    sl = tuple(np.clip(seed_interval(loss_s), 0.0, None))
    row = {"method": name, "eval_acc": float(acc_s.mean()), "acc_lo_eval": float(acc_lo),
           "acc_hi_eval": float(acc_hi), "acc_lo_seeds": sa[0], "acc_hi_seeds": sa[1],
           "eval_loss": float(loss_s.mean()), "loss_lo_eval": float(loss_lo),
           "loss_hi_eval": float(loss_hi), "loss_lo_seeds": sl[0], "loss_hi_seeds": sl[1],
           "seeds": seeds}
    row.update(extra or {})
    return row


def _markdown_summary(df: pd.DataFrame, time_col: str | None = "wall_time") -> str:
    rows = []
    for r in df.to_dict("records"):
        kind = r.get("kind", "")
        seeds_acc = ("fixed rule" if kind == "baseline" else
                     _fmt_interval(r["acc_lo_seeds"], r["acc_hi_seeds"], 100))
        seeds_loss = ("fixed rule" if kind == "baseline" else
                      _fmt_interval(r["loss_lo_seeds"], r["loss_hi_seeds"], 1, ".4f"))
        ci = f"{LEVEL:.0%} CI"
        row = {"method": r["label"], "eval acc %": f"{100 * r['eval_acc']:.1f}",
               f"acc {ci} (eval pairs)": _fmt_interval(r["acc_lo_eval"], r["acc_hi_eval"], 100),
               f"acc {ci} (seeds)": seeds_acc,
               "eval log loss": f"{r['eval_loss']:.4f}",
               f"loss {ci} (eval pairs)": _fmt_interval(r["loss_lo_eval"], r["loss_hi_eval"], 1,
                                                        ".4f"),
               f"loss {ci} (seeds)": seeds_loss}
        if time_col is not None:
            t = r.get(time_col)
            row["learner time s"] = "-" if t is None or not np.isfinite(t) else f"{t:.3g}"
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


# ---------------------------------------------------------------------------- stages

def _baselines(table: _PairTable, train: Pairs, ev: Pairs) -> list[Baseline]:
    out = [chance_baseline(ev.n),
           majority_baseline(train.y_stored, ev.y_stored, train.y, ev.y)]
    if table.has_lengths:
        out.append(length_baseline(train.len_diff, train.y, ev.len_diff, ev.y))
    return out


def _announce_compilation(d: int, quiet: bool) -> float:
    """Load (or, on a machine's first run, compile) the learners once, saying so."""
    _say("loading the compiled learners (the first run on a machine compiles them, which can "
         "take a minute; later runs load them from the disk cache)", quiet)
    start = time.perf_counter()
    from .passive_training import warm_up as passive_warm_up
    from .pool_active import warm_up as active_warm_up
    from .tuning import settings_of

    passive_warm_up(d, settings_of("omd", {"eta": 1.0, "lam": 1.0}))
    active_warm_up(d, 1.0, 1.0)
    seconds = time.perf_counter() - start
    _say(f"learners ready in {seconds:.1f} s", quiet)
    return seconds


def _auto_budgets(pool: int, max_budget: int) -> tuple[int, ...]:
    top = max(1, min(max_budget, pool // 2))
    low = min(10, top)
    pts = np.unique(np.round(np.geomspace(low, top, 8)).astype(np.int64))
    return tuple(int(v) for v in pts)


def _passive(table: _PairTable, train_rows: np.ndarray, ev: Pairs, chosen: dict, reps: list,
             settings: PipelineSettings, boot: PromptBootstrap, baselines: list[Baseline]):
    n = train_rows.shape[0]
    ts = log_checkpoints(n, settings.checkpoints)
    curves = []
    per_pair = {m: np.empty((len(reps), ts.size, 2, ev.n)) for m in PASSIVE_METHODS}
    times = {m: np.empty((len(reps), ts.size)) for m in PASSIVE_METHODS}
    for r, streams in _progress(enumerate(reps), len(reps), "passive", settings.quiet):
        train = table.take(train_rows, streams["order"], shuffle=True)
        for method in PASSIVE_METHODS:
            thetas, seconds = passive_estimates(train.Z, train.y, chosen[method], method, ts)
            times[method][r] = seconds
            for k, (t, theta) in enumerate(zip(ts, thetas)):
                c, lo = pair_metrics(ev.Z, ev.y, theta)
                per_pair[method][r, k] = c, lo
                tc, tl = pair_metrics(train.Z[: int(t)], train.y[: int(t)], theta)
                curves.append({"method": method, "repetition": r, "t": int(t),
                               "train_acc": float(tc.mean()), "train_loss": float(tl.mean()),
                               "eval_acc": float(c.mean()), "eval_loss": float(lo.mean()),
                               "wall_time": float(seconds[k])})
    curves_df = pd.DataFrame(curves)
    # the curves with intervals: eval metrics by the bootstrap, train metrics over the seeds
    rows = []
    for method in PASSIVE_METHODS:
        for k, t in enumerate(ts):
            c, lo = per_pair[method][:, k, 0], per_pair[method][:, k, 1]
            (acc_lo, loss_lo), (acc_hi, loss_hi) = boot.interval(
                np.column_stack([c.mean(axis=0), lo.mean(axis=0)]))
            g = curves_df[(curves_df["method"] == method) & (curves_df["t"] == t)]
            row = {"method": method, "t": int(t), "eval_acc": float(c.mean()),
                   "eval_acc_lo": float(acc_lo), "eval_acc_hi": float(acc_hi),
                   "eval_loss": float(lo.mean()), "eval_loss_lo": float(loss_lo),
                   "eval_loss_hi": float(loss_hi), "wall_time": float(times[method][:, k].mean())}
            for col in ("train_acc", "train_loss"):
                v = g[col].to_numpy()
                row[col] = float(v.mean())
                row[f"{col}_seeds_lo"], row[f"{col}_seeds_hi"] = seed_interval(v)
            rows.append(row)
    curve_ci = pd.DataFrame(rows)
    summary = []
    for method in PASSIVE_METHODS:
        s = chosen[method]
        consts = (f"eta = {s.eta:.3g}, lambda = {s.lam:.3g}" if method == "omd" else
                  f"lambda = {s.lam:.3g}" if method == "mle" else f"step = {s.sgd_lr:.3g}")
        summary.append(_summary_rows(method, per_pair[method][:, -1, 0], per_pair[method][:, -1, 1],
                                     boot, {"label": METHOD_LABELS[method], "kind": "learner",
                                            "constants": consts,
                                            "wall_time": float(times[method][:, -1].mean()),
                                            "t": int(ts[-1])}))
    for b in baselines:
        summary.append(_summary_rows(b.name, b.correct, b.loss, boot,
                                     {"label": b.name, "kind": "baseline", "constants": b.rule,
                                      "wall_time": math.nan, "t": int(ts[-1])}))
    return curves_df, curve_ci, pd.DataFrame(summary)


def _active(table: _PairTable, train_rows: np.ndarray, ev: Pairs, chosen: dict, reps: list,
            settings: PipelineSettings, boot: PromptBootstrap, baselines: list[Baseline]):
    pool_size = train_rows.shape[0] if settings.pool_fraction >= 1.0 else max(
        2, int(round(settings.pool_fraction * train_rows.shape[0])))
    budgets = settings.budgets or _auto_budgets(pool_size, settings.max_budget)
    if budgets[-1] > pool_size:
        raise ValueError(f"the largest budget {budgets[-1]} exceeds the pool of {pool_size} "
                         f"pairs ({settings.pool_fraction:g} of {train_rows.shape[0]} training "
                         "pairs); lower --budgets or raise --pool-fraction")
    ts = np.asarray(budgets, dtype=np.int64)
    constants = {"omd": (chosen["omd"].eta, chosen["omd"].lam),
                 "mle": (chosen["omd"].eta, chosen["mle"].lam)}
    per_pair = {m: np.empty((len(reps), ts.size, 2, ev.n)) for m in ACTIVE_METHODS}
    times = {m: np.empty((len(reps), ts.size)) for m in ACTIVE_METHODS}
    runs = []
    for r, streams in _progress(enumerate(reps), len(reps), "active", settings.quiet):
        rows = streams["pool"].permutation(train_rows)[:pool_size]
        pool = table.take(rows, streams["orientation"], shuffle=False)
        for method in ACTIVE_METHODS:
            eta, lam = constants["omd" if method.endswith("omd") else "mle"]
            curve = active_checkpoints(method, pool.Z, pool.y, ts, streams["learner"], eta=eta,
                                       lam=lam)
            times[method][r] = curve.seconds
            for k, theta in enumerate(curve.thetas):
                c, lo = pair_metrics(ev.Z, ev.y, theta)
                per_pair[method][r, k] = c, lo
                runs.append({"method": method, "algorithm": PAPER_NAMES[method], "repetition": r,
                             "queries": int(ts[k]), "pool": pool_size, "eval_acc": float(c.mean()),
                             "eval_loss": float(lo.mean()), "wall_time": float(curve.seconds[k]),
                             "eta": eta, "lam": lam})
    rows_ci = []
    for method in ACTIVE_METHODS:
        for k, t in enumerate(ts):
            rows_ci.append(_summary_rows(method, per_pair[method][:, k, 0],
                                         per_pair[method][:, k, 1], boot,
                                         {"label": PAPER_NAMES[method], "kind": "learner",
                                          "queries": int(t),
                                          "wall_time": float(times[method][:, k].mean())}))
    base_rows = [_summary_rows(b.name, b.correct, b.loss, boot,
                               {"label": b.name, "kind": "baseline", "constants": b.rule,
                                "wall_time": math.nan}) for b in baselines]
    return pd.DataFrame(runs), pd.DataFrame(rows_ci), pd.DataFrame(base_rows), pool_size, budgets


def deployment_table(bank: FeatureBank, min_responses: int = 3):
    """(phi (n_x, K, d), phi_ref (n_x, d), p (n_x, K), lengths (n_x, K), how, reason): the arms
    of a multi-response bank for the deployment stage, or reason (a sentence) and Nones.

    K is the most common number of responses per prompt among prompts with at least
    min_responses (ties: the larger); prompts with at least K keep their first K. When every
    kept prompt has a reference answer and the scores are probabilities, p = the scores and
    phi_ref the reference's feature (AlpacaEval); otherwise (our reading) p[x, a] = the share of
    the prompt's other responses that a outscores (ties 1/2): the probability of beating a
    uniformly drawn other response, with phi_ref(x) the mean feature of x's responses."""
    r = bank.responses
    if "score" not in r.columns:
        return None, None, None, None, "", ("the data have no per-response scores: deployment "
                                            "needs several rated responses per prompt (the "
                                            "multi format) to build its oracle")
    is_ref = (r[REFERENCE_COLUMN].to_numpy(dtype=bool) if REFERENCE_COLUMN in r.columns
              else np.zeros(len(r), dtype=bool))
    groups: dict[str, list[int]] = {}
    refs: dict[str, int] = {}
    for i, p in enumerate(r["prompt_id"].to_numpy(dtype=object)):
        if is_ref[i]:
            refs.setdefault(p, i)
        else:
            groups.setdefault(p, []).append(i)
    sizes = np.array([len(g) for g in groups.values()])
    big = sizes[sizes >= min_responses]
    if big.size < 2:
        most = int(sizes.max()) if sizes.size else 0
        return None, None, None, None, "", (
            f"the data have at most {most} responses per prompt: deployment needs several "
            f"(>= {min_responses}) rated responses per prompt for at least two prompts")
    values, counts = np.unique(big, return_counts=True)
    K = int(values[np.flatnonzero(counts == counts.max())[-1]])
    kept = [p for p, g in groups.items() if len(g) >= K]
    idx = np.array([groups[p][:K] for p in kept])
    feats = bank.features.astype(np.float64)
    phi = feats[idx]
    score = r["score"].to_numpy(dtype=np.float64)[idx]
    chars = (r["response_chars"].to_numpy(dtype=np.float64)[idx]
             if "response_chars" in r.columns else None)
    if all(p in refs for p in kept) and np.all((score >= 0) & (score <= 1)):
        phi_ref = feats[[refs[p] for p in kept]]
        p = score
        how = ("p = the data's probability that the answer beats the prompt's reference answer; "
               "phi_ref = the reference answer's feature")
    else:
        above = (score[:, :, None] > score[:, None, :]).sum(axis=2)
        same = (score[:, :, None] == score[:, None, :]).sum(axis=2) - 1
        p = (above + 0.5 * same) / (K - 1)
        phi_ref = phi.mean(axis=1)
        how = ("(our reading) p[x, a] = the share of the prompt's other responses that a "
               "outscores, ties 1/2: the probability of beating a uniformly drawn other "
               "response; phi_ref(x) = the mean feature of x's responses")
    note = f"{len(kept)} prompts x {K} responses"
    if len(kept) < len(groups):
        note += f" (prompts with >= {K} responses, their first {K}; {len(groups) - len(kept)} " \
                "prompts with fewer left out)"
    return phi, phi_ref, p, chars, f"{note}; {how}", ""


def _deployment(bank: FeatureBank, settings: PipelineSettings, seed, length_rule: Baseline | None,
                fig_dir: str):
    phi, phi_ref, p, chars, how, reason = deployment_table(bank, settings.min_responses)
    if reason:
        return None, reason
    n_x, K, d = phi.shape
    dim = d if settings.deployment_dim is None else min(settings.deployment_dim, d, n_x * K)
    if dim < d:
        phi, phi_ref = principal_features(phi, phi_ref, dim, L_FEATURES)
    n = min(16, K)
    start = time.perf_counter()
    curves, summary, refs = deployment_experiment(
        phi, phi_ref, p, T=settings.deployment_rounds, seed=seed, repetitions=settings.seeds,
        n=n, q=4.0, L=L_FEATURES)
    seconds = time.perf_counter() - start
    oracles = deployment_oracles(phi, phi_ref, p, L=L_FEATURES)
    baseline_rows = []
    for name, o in oracles.items():
        w = o.win_probability
        rows = {"uniform answer (chance)": w.mean(axis=1),
                "best answer (oracle)": w[np.arange(n_x), np.argmax(o.rewards, axis=1)]}
        if chars is not None and length_rule is not None:
            pick = (np.argmax(chars, axis=1) if length_rule.name.startswith("longer")
                    else np.argmin(chars, axis=1))
            rows[f"{length_rule.name.split()[0]} answer"] = w[np.arange(n_x), pick]
        for label, v in rows.items():
            baseline_rows.append({"oracle": name, "policy": label, "win_rate": float(v.mean())})
    figs = []
    for oracle, g in curves.groupby("oracle", sort=False):
        figs += plot_deployment_curves(
            g, os.path.join(fig_dir, f"deployment_{oracle}"),
            title=f"Deployment, {oracle} oracle ({n_x} prompts x {K} responses, d = {dim})")
    table_rows = []
    for keys, h in summary.groupby(["oracle", "strategy", "reward_model"], sort=False):
        row: dict[str, object] = dict(zip(("oracle", "strategy", "reward_model"), keys))
        for col in ("final_win_rate", "win_rate", "regret", "cum_reward", "wall_time"):
            v = h[col].to_numpy(dtype=np.float64)
            row[col] = float(v.mean())
            lo, hi = seed_interval(v)
            if "win_rate" in col:
                lo, hi = float(np.clip(lo, 0.0, 1.0)), float(np.clip(hi, 0.0, 1.0))
            row[f"{col}_lo"], row[f"{col}_hi"] = lo, hi
        table_rows.append(row)
    info = {"how": how, "n_x": n_x, "K": K, "dim": dim, "d": d, "n": n, "seconds": seconds}
    return (curves, pd.DataFrame(table_rows), refs, pd.DataFrame(baseline_rows), figs, info), ""


# ------------------------------------------------------------------------------ main

def run_pipeline(data: UserData, settings: PipelineSettings, out: str, *,
                 command: str = "", data_seconds: float | None = None) -> PipelineResult:
    """Every stage of the module docstring on the data; tables (CSV) in OUT/tables, figures (PNG
    and PDF) in OUT/figures, OUT/report.md and OUT/config.json."""
    start = time.perf_counter()
    quiet = settings.quiet
    res = PipelineResult()
    tables_dir, fig_dir = os.path.join(out, "tables"), os.path.join(out, "figures")
    os.makedirs(tables_dir, exist_ok=True)
    os.makedirs(fig_dir, exist_ok=True)
    streams = spawn_streams(settings.seed, PIPELINE_STREAMS)
    bank = data.bank
    table = _PairTable(bank)
    fixed = (bank.pairs["split"].to_numpy(dtype=object) == "eval") if data.fixed_eval else None
    split = assign_splits(table.prompts, fixed, settings.eval_fraction,
                          settings.validation_fraction, streams["eval-split"],
                          streams["validation-split"])
    rows = {s: np.flatnonzero(split.split == s) for s in ("train", "validation", "eval")}
    train_rows = np.sort(np.concatenate([rows["train"], rows["validation"]]))
    split_df = pd.DataFrame([{"split": s, "pairs": int(v.size),
                              "prompts": int(np.unique(table.prompts[v].astype(str)).size)}
                             for s, v in rows.items()])
    ev = table.take(rows["eval"], streams["eval-orientation"], shuffle=False)
    val = table.take(rows["validation"], streams["validation-orientation"], shuffle=False)
    fit = table.take(rows["train"], streams["tuning-order"], shuffle=True)
    boot = PromptBootstrap(ev.prompts, settings.bootstrap, streams["bootstrap"])
    train_all = table.take(train_rows, streams["baseline-orientation"], shuffle=False)
    baselines = _baselines(table, train_all, ev)
    sizes = (f"{r.split} {r.pairs} pairs / {r.prompts} prompts" for r in split_df.itertuples())
    _say(f"splits: {', '.join(sizes)}", quiet)
    compile_seconds = _announce_compilation(bank.d, quiet)

    t0 = time.perf_counter()
    grid = default_grid(settings.quick, L_FEATURES, B_DECLARED)
    _say(f"choosing constants on the {val.n} validation pairs", quiet)
    chosen, tuning_df = tune(fit.Z, fit.y, val.Z, val.y, grid)
    res.seconds["tuning"] = time.perf_counter() - t0

    reps = [_repetition(s)
            for s in repetition_seeds(stream_seed(settings.seed, "repetitions"), settings.seeds)]
    t0 = time.perf_counter()
    curves_df, curve_ci, passive_summary = _passive(table, train_rows, ev, chosen, reps, settings,
                                                    boot, baselines)
    res.seconds["passive"] = time.perf_counter() - t0
    base_lines = {
        "eval_acc": [(b.name, float(b.correct.mean())) for b in baselines if b.name != "chance"]
        + [("chance", 0.5)],
        "eval_loss": [(b.name, float(b.loss.mean())) for b in baselines if b.name != "chance"]
        + [("chance", math.log(2.0))]}
    set_algorithm_order(("omd", "mle", "sgd"))  # OMD, then MLE: the same colours in both figures
    res.figures += plot_interval_curves(
        curve_ci, os.path.join(fig_dir, "passive_curves"),
        panels=(("train_loss", "train log loss (pairs seen so far)"),
                ("train_acc", "train accuracy (pairs seen so far)"),
                ("eval_loss", "eval log loss"), ("eval_acc", "eval accuracy")),
        labels=METHOD_LABELS, baselines=base_lines,
        title=f"One pass over {train_rows.size} training pairs (mean of {settings.seeds} seeds; "
              f"bands: {LEVEL:.0%} intervals over the eval pairs)")
    res.tables.update({"split": split_df, "tuning": tuning_df, "passive_curves": curves_df,
                       "passive_curves_ci": curve_ci, "passive_summary": passive_summary})

    active_md: list[str] = []
    if settings.active:
        t0 = time.perf_counter()
        runs, active_ci, active_base, pool_size, budgets = _active(
            table, train_rows, ev, chosen, reps, settings, boot, baselines)
        res.seconds["active"] = time.perf_counter() - t0
        plot_df = active_ci.assign(
            eval_acc_lo=active_ci["acc_lo_eval"], eval_acc_hi=active_ci["acc_hi_eval"],
            eval_loss_lo=active_ci["loss_lo_eval"], eval_loss_hi=active_ci["loss_hi_eval"])
        set_algorithm_order(("active-omd", "active-mle", "random-omd", "random-mle"))
        res.figures += plot_interval_curves(
            plot_df, os.path.join(fig_dir, "active_curves"),
            panels=(("eval_acc", "eval accuracy"), ("eval_loss", "eval log loss")), x="queries",
            labels=PAPER_NAMES, baselines=base_lines, xlabel="queries (pairs labelled)",
            title=f"Active selection from a pool of {pool_size} pairs ({settings.seeds} seeds; "
                  f"bands: {LEVEL:.0%} intervals over eval pairs)")
        res.tables.update({"active_runs": runs, "active_curves": active_ci,
                           "active_baselines": active_base})
        active_md = _active_markdown(active_ci, active_base, pool_size, budgets, train_rows.size,
                                     settings, chosen)
    else:
        active_md = ["The active comparison was not run (--no-active).", ""]

    deployment_md: list[str]
    if not settings.deployment:
        deployment_md = ["The deployment comparison was not run (--no-deployment).", ""]
    else:
        length_rule = next((b for b in baselines if "response wins" in b.name), None)
        t0 = time.perf_counter()
        _say("deployment comparison (when the data have several rated responses per prompt)",
             quiet)
        dep, reason = _deployment(bank, settings, stream_seed(settings.seed, "deployment"),
                                  length_rule, fig_dir)
        if dep is None:
            deployment_md = [f"Skipped: {reason}.", ""]
        else:
            res.seconds["deployment"] = time.perf_counter() - t0
            curves, dep_table, refs, dep_base, figs, info = dep
            res.figures += figs
            res.tables.update({"deployment_curves": curves, "deployment_summary": dep_table,
                               "deployment_references": refs, "deployment_baselines": dep_base})
            deployment_md = _deployment_markdown(dep_table, dep_base, info, settings)

    for name, df in res.tables.items():
        df.to_csv(os.path.join(tables_dir, f"{name}.csv"), index=False)
    res.seconds["pipeline"] = time.perf_counter() - start
    res.seconds["compilation"] = compile_seconds
    if data_seconds is not None:
        res.seconds["data"] = data_seconds
    res.report = _report(data, settings, split, split_df, tuning_df, chosen, grid,
                         passive_summary, train_rows.size, active_md, deployment_md, res, command)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(res.report)
    config = {"command": command, "settings": asdict(settings), "seconds": res.seconds,
              "data": {"kind": data.kind, "reader": data.reader, "notes": list(data.notes),
                       "model": data.model, "d": bank.d, "metadata": dict(bank.metadata)},
              "chosen": {m: asdict(s) for m, s in chosen.items()},
              "python": platform.python_version(), "numpy": np.__version__}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, default=str)
    return res


# ------------------------------------------------------------------------------ text

def _active_markdown(ci: pd.DataFrame, base: pd.DataFrame, pool: int, budgets, n_train: int,
                     settings: PipelineSettings, chosen: dict) -> list[str]:
    top = ci[ci["queries"] == budgets[-1]]
    acc = ci.pivot(index="label", columns="queries", values="eval_acc").loc[
        [PAPER_NAMES[m] for m in ACTIVE_METHODS]] * 100
    loss = ci.pivot(index="label", columns="queries", values="eval_loss").loc[
        [PAPER_NAMES[m] for m in ACTIVE_METHODS]]
    acc.columns = [str(c) for c in acc.columns]
    loss.columns = [str(c) for c in loss.columns]
    md = [f"Each repetition draws a pool of {pool} of the {n_train} training pairs (a seeded "
          f"random {settings.pool_fraction:g} of them, so repetitions differ in their data, not "
          "only in tie-breaking) and runs each method once up to "
          f"{budgets[-1]} queries without replacement; the curves are that run's state at "
          f"{', '.join(map(str, budgets))} queries. Output: theta_bar (the mean of the iterates, "
          "Algorithm 3) for the OMD methods, the MLE of the queried pairs otherwise. Constants: "
          f"those chosen for the reward model on validation (OMD: eta = {chosen['omd'].eta:.3g}, "
          f"lambda = {chosen['omd'].lam:.3g}; MLE: lambda = {chosen['mle'].lam:.3g}). Learner "
          "time: selection and updates, cumulative.", "",
          f"At {budgets[-1]} queries:", "",
          _markdown_summary(pd.concat([top, base], ignore_index=True)), "",
          "Eval accuracy % by number of queries (mean over seeds):", "",
          markdown_table(acc.reset_index().rename(columns={"label": "method"}), ".1f"), "",
          "Eval log loss by number of queries:", "",
          markdown_table(loss.reset_index().rename(columns={"label": "method"}), ".4f"), "",
          "Figure: `figures/active_curves.png`. Every budget with both intervals: "
          "`tables/active_curves.csv`.", ""]
    return md


def _deployment_markdown(table: pd.DataFrame, base: pd.DataFrame, info: dict,
                         settings: PipelineSettings) -> list[str]:
    dims = ("the full features" if info["dim"] == info["d"] else
            f"the features projected on their top {info['dim']} within-prompt principal "
            "directions (the MLE refit every round costs O(t d^2) per round)")
    md = [f"{info['how']}. Oracles: **judge**, "
          "labels from r = logit(p) (Bradley-Terry through the reference, not linear in the "
          "features), and **semi-synthetic**, a linear reward fitted to p. "
          f"Features: {dims}. T = {settings.deployment_rounds} rounds, {settings.seeds} seeds; "
          f"n = {info['n']} candidates per round; strategies {', '.join(STRATEGIES)} with OMD "
          "and MLE reward models (`paper_repro.real.multiarm_deployment`). Final win rate: p of "
          "the final reward model's greedy answer (judge), or the fitted linear model's "
          "probability of the same event (semi-synthetic), averaged over prompts. Deployment is "
          "online: it uses every prompt, no split. Intervals: over the seeds (each seed draws "
          "its own contexts and labels), clipped to [0, 100] for win rates.", ""]
    rows = []
    for r in table.to_dict("records"):
        rows.append({"oracle": r["oracle"], "strategy": r["strategy"],
                     "reward model": r["reward_model"].upper(),
                     "final win rate %": f"{100 * r['final_win_rate']:.1f}",
                     f"win {LEVEL:.0%} CI (seeds)": _fmt_interval(r["final_win_rate_lo"],
                                                                  r["final_win_rate_hi"], 100),
                     "regret": f"{r['regret']:.4g}",
                     f"regret {LEVEL:.0%} CI (seeds)": _fmt_interval(r["regret_lo"],
                                                                     r["regret_hi"], 1, ".4g"),
                     "learner time s": f"{r['wall_time']:.3g}"})
    md += [markdown_table(pd.DataFrame(rows)), "",
           "Fixed policies (win rate %, the same oracles): a uniformly drawn answer (chance), "
           "the length rule of the training pairs, and the oracle's best answer (a ceiling):", "",
           markdown_table(base.assign(win_rate=100 * base["win_rate"]).rename(
               columns={"win_rate": "win rate %"}), ".1f"), "",
           "Figures: `figures/deployment_*.png`.", ""]
    return md


def _report(data: UserData, settings: PipelineSettings, split, split_df, tuning_df, chosen, grid,
            passive_summary, n_train, active_md, deployment_md, res: PipelineResult,
            command: str) -> str:
    bank = data.bank
    md = ["# Preference data report", "",
          f"Command: `{command}`" if command else "", "",
          "## Data", "",
          f"- source: `{data.source}`: {data.description} (reader `{data.reader}`)"]
    if data.score_meaning and data.kind != "pairs":
        md.append(f"- scores: {data.score_meaning}")
    md += [f"- {note}" for note in data.notes]
    texts = (f"{data.texts} distinct texts, {data.embedded} embedded now, "
             f"{data.texts - data.embedded} from the feature cache" if data.texts else
             "features read from the bank")
    md += [f"- features: {data.model or bank.metadata.get('model', 'unknown model')}, d = "
           f"{bank.d}, {texts}; text read by the model: "
           f"{_text_rule(bank.metadata.get('text', 'pair'))}; normalised to max ||phi|| = "
           f"{L_FEATURES:g} (one common factor, {bank.feature_scale:.4g})",
           "- pairs oriented at random (a balanced half flipped: z -> -z, y -> 1 - y), which "
           "changes no learner's accuracy or loss", ""]
    md += ["## Splits", "", split.rule + ".", "", markdown_table(split_df), ""]
    n_val = int(split_df.loc[split_df.split == "validation", "pairs"].iloc[0])
    practical = (f"the practical (1/2) log 2 + B L + 1 = {theory_eta(L_FEATURES, B_DECLARED):.3g} "
                 f"with B = {B_DECLARED:g}, L = {L_FEATURES:g}")
    factors = ", ".join(f"{e / theory_eta(L_FEATURES, B_DECLARED):g}" for e in grid.eta)
    eta_text = (f"OMD eta in {_list(grid.eta)} ({factors} times {practical})"
                if len(grid.eta) > 1 else f"OMD eta = {grid.eta[0]:.3g} ({practical})")
    md += ["## Constants", "",
           f"Chosen on the {n_val} validation pairs by the rule: {RULE}. Grids"
           f"{' (--quick)' if settings.quick else ''}: lambda in {_list(grid.lam)}; {eta_text}; "
           f"SGD step in {_list(grid.sgd_lr)}."]
    chosen_rows = [{"method": METHOD_LABELS["omd"], "chosen": f"eta = {chosen['omd'].eta:.3g}, "
                                                              f"lambda = {chosen['omd'].lam:.3g}"},
                   {"method": METHOD_LABELS["mle"], "chosen": f"lambda = {chosen['mle'].lam:.3g}"},
                   {"method": METHOD_LABELS["sgd"], "chosen": f"step = {chosen['sgd'].sgd_lr:.3g}"}]
    best = tuning_df[tuning_df["chosen"]]
    best = best.set_index("method").loc[["omd", "mle", "sgd"]]
    for row, (_, b) in zip(chosen_rows, best.iterrows()):
        row["validation log loss"] = f"{b['validation_loss']:.4f}"
        row["validation acc %"] = f"{100 * b['validation_acc']:.1f}"
    edges = [f"{METHOD_LABELS[m]}: {', '.join(at_edge(grid, m, chosen[m]))}"
             for m in ("omd", "mle", "sgd") if at_edge(grid, m, chosen[m])]
    md += ["", markdown_table(pd.DataFrame(chosen_rows)), ""]
    if edges:
        md += [f"At an end of the grid (a wider grid might do better): {'; '.join(edges)}.", ""]
    md += ["Every grid value: `tables/tuning.csv`. OMD runs the paper's practical version (no "
           "projection); the MLE is unconstrained.", ""]
    md += ["## Main table: passive one-pass training", "",
           f"One pass over the {n_train} training pairs (train + validation) in a seeded order "
           f"per seed ({settings.seeds} seeds), evaluated on the "
           f"{int(split_df.loc[split_df.split == 'eval', 'pairs'].iloc[0])} eval pairs at "
           f"t = {n_train}. Intervals: {LEVEL:.0%}, over the eval pairs (a bootstrap of "
           f"{settings.bootstrap} resamples of the eval prompts, shared by all rows) and over the "
           "seeds (a t interval of the per-seed values, clipped to the metric's range; with few "
           "seeds it is wide: t has S - 1 degrees of freedom). A zero margin counts 1/2. The full MLE "
           "does not depend on the order, hence its zero-width seed interval. Baselines are "
           "fixed rules fitted on the training pairs.", "",
           _markdown_summary(passive_summary), ""]
    base = passive_summary[passive_summary["kind"] == "baseline"]
    md += [f"- {r['label']}: {r['constants']}" for r in base.to_dict("records")]
    md += ["", "Figure: `figures/passive_curves.png` (learning curves of loss and accuracy; "
           "bands on the eval panels: the eval-pairs interval; the train panels show the mean over "
           "seeds, their seed intervals are in the table). Every checkpoint: "
           "`tables/passive_curves_ci.csv`, per seed: `tables/passive_curves.csv`.",
           ""]
    md += ["## Active selection", ""] + active_md
    md += ["## Deployment", ""] + deployment_md
    secs = res.seconds
    parts = [f"{k} {v:.1f} s" for k, v in secs.items() if k != "pipeline"]
    md += ["## Run", "", f"Wall time: {', '.join(parts)}; the experiments {secs['pipeline']:.1f} s"
           f" in all. {platform.python_implementation()} {platform.python_version()}, numpy "
           f"{np.__version__}, {os.cpu_count()} cores. Seed {settings.seed}. Options and "
           "chosen constants: `config.json`.", ""]
    return "\n".join(line for line in md if line is not None)


def _text_rule(mode: str) -> str:
    return ("the response alone" if mode == "response" else
            'prompt + "\\n\\n" + response (pair mode)')


def _list(values) -> str:
    return "{" + ", ".join(f"{v:.3g}" for v in values) + "}"


__all__ = ["PIPELINE_STREAMS", "PipelineResult", "PipelineSettings", "REPETITION_STREAMS",
           "deployment_table", "run_pipeline", "stream_seed"]
