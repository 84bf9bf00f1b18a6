"""The real-data specs: the paper's three experiments in miniature (ALGORITHMS.md 5) on
UltraFeedback pairs and AlpacaEval answers with MiniLM features (all-MiniLM-L6-v2, d = 384).

    run_real_passive     Fig. 2: train/eval loss and accuracy against samples for SGD (the
                         released code's "MLE"), the full MLE and one-pass OMD
    run_real_active      Fig. 3's table: held-out accuracy +- std over seeds and wall time of
                         Rand-MLE, Active-MLE, Rand-OMD and the paper's Active-OMD
    run_real_deployment  Fig. 4: cumulative reward and win rate of the Random, Best+Second,
                         Best+Worst and paper (best + top-1/q) strategies with MLE and OMD
                         reward models, under the judge and the semi-synthetic oracles

Each builds or loads its feature bank under a cache folder (default OUT/feature_cache; the
embedding cache is keyed by text sha256, so a rerun embeds nothing), runs, draws its figures
and returns a SpecResult. Without the shared data, or without the llm extra for texts not yet
in the cache, it returns a SpecResult whose Markdown starts with "skipped: <reason>".
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import pandas as pd

from figures.real_data import plot_active_table, plot_deployment_curves, plot_training_curves
from figures.tables import markdown_table
from paper_repro.real.experiments import (
    DEFAULT_B,
    DEFAULT_L,
    METHOD_LABELS,
    PassiveSettings,
    active_experiment,
    default_constants,
    deployment_experiment,
    passive_experiment,
    principal_features,
)
from paper_repro.real.judge_oracle import JUDGE_CLIP
from sim.real.shared_banks import FeaturesUnavailable, alpacaeval_bank, ultrafeedback_bank

from .spec_result import SpecResult
from .synthetic import RunOptions

PAPER_ACTIVE: dict[str, tuple[float, float, float]] = {
    "Rand-MLE": (69.51, 0.5, 4876.0), "Active-MLE": (69.82, 0.4, 4982.0),
    "Rand-OMD": (68.97, 0.6, 1456.0), "paper (Active-OMD)": (70.43, 0.3, 1489.0)}
"""The paper's active-learning table (ALGORITHMS.md 5): accuracy % mean, std, seconds."""

PAIR_LABELS = ("Oracle: none is simulated; labels are UltraFeedback's own (GPT-4 ratings of the "
               "two responses, binarised; ties dropped), each pair oriented at random.")

SETTING_DIFFERENCES = (
    "How this setting differs from the paper's: features are all-MiniLM-L6-v2 sentence "
    "embeddings of prompt + response (d = 384, mean pooling, 256 tokens kept from the end) "
    "instead of the last hidden state of Llama-3-8B-Instruct (d = 4096); the data are the "
    "shared UltraFeedback files (about 900 train and 175 eval pairs after dropping ties) "
    "instead of 60k pairs; everything runs on a shared 2-core CPU.")


@dataclass(frozen=True)
class RealPassiveConfig:
    """real-passive: one pass over the UltraFeedback train pairs."""

    train_limit: int | None
    """First kept train pairs of the file (None: all)."""
    eval_limit: int | None
    """First kept eval pairs of the file (None: all)."""
    repetitions: int
    """Seeded orders of the training pairs (bands over them)."""
    checkpoints: int = 15
    sgd_lr: float = 1.0
    B: float = DEFAULT_B
    """Declared ||theta|| bound in the practical eta; no projection."""
    seed: int = 0


@dataclass(frozen=True)
class RealActiveConfig:
    """real-active: pool-based selection over the UltraFeedback train pairs."""

    train_limit: int | None
    eval_limit: int | None
    budget: int
    """Queries per run."""
    pool_size: int | None
    """Pairs in each repetition's pool: a seeded random subset of the train pairs (None: all,
    when the active methods differ across repetitions only by tie-breaking)."""
    repetitions: int
    B: float = DEFAULT_B
    seed: int = 0


@dataclass(frozen=True)
class RealDeploymentConfig:
    """real-deployment: AlpacaEval instructions x model answers."""

    n_contexts: int
    """Instructions: the first n_contexts of a seeded permutation (data_seed)."""
    n_arms: int | None
    """Answers per instruction: all 50 (None) or a seeded subset."""
    feature_dim: int | None
    """None: the 384 MiniLM dimensions; k: their top-k within-instruction principal
    directions (the MLE refit every round costs O(t d^2) per round)."""
    T: int
    repetitions: int
    n_candidates: int = 16
    q: float = 4.0
    lam_fit: float = 1.0
    """Ridge of the semi-synthetic fit."""
    seed: int = 0
    data_seed: int = 0


def _scales(quick, full, tiny):
    return {"quick": quick, "full": full, "tiny": tiny}


PASSIVE = _scales(RealPassiveConfig(None, None, repetitions=5),
                  RealPassiveConfig(None, None, repetitions=20, checkpoints=25),
                  RealPassiveConfig(40, 20, repetitions=1, checkpoints=5))
ACTIVE = _scales(RealActiveConfig(None, None, budget=400, pool_size=660, repetitions=5),
                 RealActiveConfig(None, None, budget=600, pool_size=800, repetitions=10),
                 RealActiveConfig(40, 20, budget=10, pool_size=30, repetitions=2))
DEPLOYMENT = _scales(RealDeploymentConfig(40, None, feature_dim=32, T=2000, repetitions=3),
                     RealDeploymentConfig(200, None, feature_dim=None, T=2000, repetitions=5),
                     RealDeploymentConfig(5, 10, feature_dim=8, T=60, repetitions=1,
                                          n_candidates=8))


# ------------------------------------------------------------------------------ helpers

def _config(table: dict, scale: str):
    if scale not in table:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(table)}")
    return table[scale]


def _cache_dir(opts: RunOptions, cache_dir: str | None) -> str:
    return cache_dir if cache_dir is not None else os.path.join(opts.out, "feature_cache")


def _fig_dir(opts: RunOptions) -> str:
    d = os.path.join(opts.out, "figures")
    os.makedirs(d, exist_ok=True)
    return d


def _skipped(reason: str, cfg) -> SpecResult:
    return SpecResult(tables={}, figures=[], markdown=f"skipped: {reason}", config=asdict(cfg))


def _pm(v: pd.Series, scale: float = 1.0, fmt: str = ".3g") -> str:
    v = pd.to_numeric(v, errors="coerce") * scale
    std = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{format(v.mean(), fmt)} +- {format(std, fmt)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _features_line(build, what: str) -> str:
    if build.embedded:
        how = f"{build.embedded} of {build.texts} texts run through MiniLM now"
    else:
        how = f"all {build.texts} texts from the feature cache"
    return f"Features ({what}): {how}; built in {build.seconds:.1f} s (bank: `{build.folder}`)."


def _ultrafeedback_build(cfg, opts: RunOptions, cache_dir: str | None):
    """(the UltraFeedback bank build of a config, None), or (None, the SpecResult saying why
    the spec is skipped) when the data or the features cannot be had."""
    try:
        return ultrafeedback_bank(_cache_dir(opts, cache_dir), train_limit=cfg.train_limit,
                                  eval_limit=cfg.eval_limit, L=DEFAULT_L), None
    except FeaturesUnavailable as exc:
        return None, _skipped(str(exc), cfg)


# ------------------------------------------------------------------------------ passive

def run_real_passive(scale: str, opts: RunOptions, *, cache_dir: str | None = None) -> SpecResult:
    """Fig. 2 in miniature: one pass over the UltraFeedback train pairs (seeded orders)."""
    cfg = _config(PASSIVE, scale)
    build, skipped = _ultrafeedback_build(cfg, opts, cache_dir)
    if skipped is not None:
        return skipped
    bank = build.bank
    c = default_constants(bank.d, DEFAULT_L, cfg.B)
    settings = PassiveSettings(eta=c.eta, lam=c.lam, sgd_lr=cfg.sgd_lr)
    start = time.perf_counter()
    df = passive_experiment(bank, seed=cfg.seed, repetitions=cfg.repetitions, settings=settings,
                            checkpoints=cfg.checkpoints)
    run_seconds = time.perf_counter() - start
    figs = plot_training_curves(df, os.path.join(_fig_dir(opts), "real_passive_curves"),
                                labels=METHOD_LABELS,
                                title="UltraFeedback pairs, MiniLM features: one pass")
    last = df[df["t"] == df["t"].max()]
    rows = []
    for method, g in last.groupby("method", sort=False):
        rows.append({"method": METHOD_LABELS[method], "train loss": _pm(g["train_loss"]),
                     "train acc %": _pm(g["train_acc"], 100), "eval loss": _pm(g["eval_loss"]),
                     "eval acc %": _pm(g["eval_acc"], 100),
                     "wall time s": _pm(g["wall_time"], fmt=".2g")})
    summary = pd.DataFrame(rows)
    n_train = int(df["t"].max())
    md = [f"One pass over T = {n_train} UltraFeedback train pairs (seeded order and orientation, "
          f"{_count(cfg.repetitions, 'repetition')}), held-out eval on "
          f"{bank.n_pairs - n_train} pairs. "
          f"d = {bank.d}, ||phi|| <= {DEFAULT_L:g}; OMD: practical version (no projection), "
          f"eta = {c.eta:.3g} (B = {cfg.B:g}), lambda = {c.lam:.3g}; full MLE: same ridge, "
          f"Newton refit at {df['t'].nunique()} log-spaced checkpoints (its wall time is the "
          f"checkpoint refits); SGD: constant step {cfg.sgd_lr:g}, no weight decay. Train metrics "
          "are those of the current estimate on the pairs seen so far; accuracy counts a zero "
          "margin as 1/2. The full MLE at t = T does not depend on the order, hence its zero "
          "spread there.", "", PAIR_LABELS, "",
          "At t = T (mean +- std over repetitions):", "", markdown_table(summary), "",
          "The paper (Fig. 2: T = 30,000 pairs, Llama-3-8B features) shows these four curves "
          "for the SGD-trained \"MLE\" and one-pass OMD; no numbers of it are quoted here: "
          "compare the shapes and the ordering of the methods.", "",
          SETTING_DIFFERENCES, "",
          _features_line(build, "UltraFeedback"), f"Run: {run_seconds:.1f} s.", ""]
    return SpecResult(tables={"curves": df, "summary": summary}, figures=figs,
                      markdown="\n".join(md), config=asdict(cfg))


# ------------------------------------------------------------------------------- active

def run_real_active(scale: str, opts: RunOptions, *, cache_dir: str | None = None) -> SpecResult:
    """Fig. 3's table in miniature: pool-based selection over UltraFeedback train pairs."""
    cfg = _config(ACTIVE, scale)
    build, skipped = _ultrafeedback_build(cfg, opts, cache_dir)
    if skipped is not None:
        return skipped
    bank = build.bank
    c = default_constants(bank.d, DEFAULT_L, cfg.B)
    start = time.perf_counter()
    df = active_experiment(bank, budget=cfg.budget, seed=cfg.seed, repetitions=cfg.repetitions,
                           pool_size=cfg.pool_size, eta=c.eta, lam=c.lam)
    run_seconds = time.perf_counter() - start
    figs = plot_active_table(df, os.path.join(_fig_dir(opts), "real_active_table"),
                             title=f"Active selection: {cfg.budget} of {int(df['pool'].iloc[0])} "
                                   "UltraFeedback pairs")
    rows = []
    for name, g in df.groupby("algorithm", sort=False):
        pa, ps, pt = PAPER_ACTIVE[name]
        rows.append({"method": name, "accuracy %": _pm(g["eval_acc"], 100, ".4g"),
                     "last-iterate accuracy %": _pm(g["eval_acc_last"], 100, ".4g"),
                     "eval loss": _pm(g["eval_loss"], fmt=".4g"),
                     "wall time s": _pm(g["wall_time"], fmt=".2g"),
                     "paper accuracy %": f"{pa:.2f} +- {ps:.1f}", "paper time s": f"{pt:.0f}"})
    table = pd.DataFrame(rows)
    t = df.groupby("algorithm", sort=False)["wall_time"].mean()
    ratio = t["Active-MLE"] / t["paper (Active-OMD)"]
    md = [f"Budget {cfg.budget} queries without replacement from a pool of "
          f"{int(df['pool'].iloc[0])} UltraFeedback train pairs (a seeded random subset per "
          f"repetition, {_count(cfg.repetitions, 'repetition')}); held-out accuracy on "
          f"{int((bank.pairs['split'] == 'eval').sum())} eval pairs. Output: theta_bar (mean of "
          "the iterates, Algorithm 3) for the OMD methods (the last iterate in its own column), "
          "the final MLE for the MLE methods. Active-MLE refits the MLE after every query; "
          "Rand-MLE fits once on its random pairs (its selection does not use the model). "
          f"Constants: eta = {c.eta:.3g} (B = {cfg.B:g}, no projection), lambda = {c.lam:.3g} "
          "(also the MLE's ridge). Wall time: the learner only, compiled code loaded first.", "",
          PAIR_LABELS, "",
          markdown_table(table), "",
          f"Active-MLE / Active-OMD wall time: {ratio:.3g}x (paper: 4982 / 1489 = 3.3x; there "
          "the cost of the LLM forward passes is shared by all methods, here the learners are "
          "all there is).", "",
          SETTING_DIFFERENCES + " The pool is small (the paper selects 6,400 of 60k pairs), so "
          "selection has little room; and with about 175 eval pairs one standard error of an "
          "accuracy near 55 % is about 3.8 points, larger than the differences the paper reports.",
          "", _features_line(build, "UltraFeedback"), f"Run: {run_seconds:.1f} s.", ""]
    return SpecResult(tables={"runs": df, "table": table}, figures=figs, markdown="\n".join(md),
                      config=asdict(cfg))


# --------------------------------------------------------------------------- deployment

def run_real_deployment(scale: str, opts: RunOptions, *,
                        cache_dir: str | None = None) -> SpecResult:
    """Fig. 4 in miniature: the LLM-practice strategies on AlpacaEval, both oracles."""
    cfg = _config(DEPLOYMENT, scale)
    try:
        data = alpacaeval_bank(_cache_dir(opts, cache_dir), n_contexts=cfg.n_contexts,
                               n_arms=cfg.n_arms, seed=cfg.data_seed, L=DEFAULT_L)
    except FeaturesUnavailable as exc:
        return _skipped(str(exc), cfg)
    phi, phi_ref = data.phi, data.phi_ref
    if cfg.feature_dim is not None:
        phi, phi_ref = principal_features(phi, phi_ref, cfg.feature_dim, DEFAULT_L)
    start = time.perf_counter()
    curves, summary, refs = deployment_experiment(
        phi, phi_ref, data.p, T=cfg.T, seed=cfg.seed, repetitions=cfg.repetitions,
        n=cfg.n_candidates, q=cfg.q, lam_fit=cfg.lam_fit, L=DEFAULT_L)
    run_seconds = time.perf_counter() - start
    figs = []
    for oracle, g in curves.groupby("oracle", sort=False):
        figs += plot_deployment_curves(
            g, os.path.join(_fig_dir(opts), f"real_deployment_{oracle}"),
            title=f"AlpacaEval deployment, {oracle} oracle ({cfg.n_contexts} instructions x "
                  f"{phi.shape[1]} answers, d = {phi.shape[2]})")
    n_x, K, d = phi.shape
    dims = (f"the {d} MiniLM dimensions" if cfg.feature_dim is None else
            f"MiniLM features projected on their top {d} within-instruction principal directions"
            " (a labelled reduction: the MLE refit every round costs O(t d^2) per round)")
    md = [f"{n_x} AlpacaEval instructions (seeded subset) x {K} model answers; features: {dims}, "
          f"||phi|| <= {DEFAULT_L:g}. T = {cfg.T} rounds, contexts uniform, "
          f"{_count(cfg.repetitions, 'repetition')} (common random numbers across strategies). "
          f"Each round draws n = {cfg.n_candidates} candidates from the softmax (tau = 1) of the "
          "learned reward and shows: Random (two of them), Best+Second, Best+Worst, or the "
          f"paper's best + the candidate at rank ceil(n/q), q = {cfg.q:g}. Reward models: "
          "one-pass OMD (projected, practical constants with B = ||theta_fit||) and the MLE "
          "refit every round.", "",
          "Oracles (column `oracle`):", "",
          f"- **judge** (our reading, Bradley-Terry through the common reference): r(x, a) = "
          f"logit(clip(p[x, a], {JUDGE_CLIP:g}, 1 - {JUDGE_CLIP:g})), p the GPT-4-Turbo judge's "
          f"probability that the answer beats the {data.reference_generator} reference; labels "
          "P(a beats a') = sigma(r(x, a) - r(x, a')), not linear in the features. The "
          "environment's theta* is the semi-synthetic fit and only serves the error columns. "
          "Win rate = mean over rounds of p[x_t, greedy answer of the current reward model]: the "
          "AlpacaEval win rate of the policy.",
          f"- **semi-synthetic**: theta fitted on all {n_x * K} (instruction, answer) cells by "
          f"ridge (lambda = {cfg.lam_fit:g}) logistic regression of p against "
          "phi(x, a) - phi_ref(x) (soft labels); rewards phi' theta exactly linear. Win rate: "
          "the fitted sigma((phi(x, a) - phi_ref(x))' theta) of the greedy answer (the model's "
          "own probability of beating the reference, meaningful because the fit was made on it).",
          "", "Reference win rates (the best answer of each instruction by the oracle's reward; "
          "a uniformly random answer), the oracle's instance kappa 1/sigma'(largest reward gap "
          "within an instruction), and ||theta|| of the semi-synthetic fit (the B of both "
          "environments):", "",
          markdown_table(refs, ".4g"), ""]
    for oracle, g in summary.groupby("oracle", sort=False):
        rows = []
        for (strategy, model), h in g.groupby(["strategy", "reward_model"], sort=False):
            rows.append({"strategy": strategy, "reward model": model.upper(),
                         "cumulative reward": _pm(h["cum_reward"], fmt=".4g"),
                         "regret": _pm(h["regret"], fmt=".4g"),
                         "win rate %": _pm(h["win_rate"], 100, ".3g"),
                         "final win rate %": _pm(h["final_win_rate"], 100, ".3g"),
                         "same-arm rounds": _pm(h["same_arm_rounds"], fmt=".3g"),
                         "wall time s": _pm(h["wall_time"], fmt=".2g")})
        md += [f"Oracle **{oracle}**, at T = {cfg.T} (mean +- std over repetitions):", "",
               markdown_table(pd.DataFrame(rows)), ""]
    md += ["Same-arm rounds show one answer twice (z = 0: nothing is learned, but the pair's "
           "reward is that answer's); they happen when the softmax policy concentrates.", "",
           "The paper (Fig. 4: 20 chunks of prompts, 64 responses per prompt, a reward model as "
           "the oracle, Llama-3-8B features) reports curves only; compare the ordering of the "
           f"strategies and of the two reward models. Here the answers come from {K} different "
           "models rather than from the policy being trained, and the judge is GPT-4-Turbo "
           "through AlpacaEval's fixed reference.", "",
           _features_line(data.build, "AlpacaEval"), f"Run: {run_seconds:.1f} s.", ""]
    return SpecResult(tables={"curves": curves, "summary": summary, "references": refs},
                      figures=figs, markdown="\n".join(md), config=asdict(cfg))


__all__ = ["ACTIVE", "DEPLOYMENT", "PASSIVE", "PAPER_ACTIVE", "RealActiveConfig",
           "RealDeploymentConfig", "RealPassiveConfig", "run_real_active", "run_real_deployment",
           "run_real_passive"]
