"""Plackett-Luce estimators on real ranked data (ALGORITHMS.md 7): AlpacaEval rankings and
a user's ranked bank (`sim.real.ranked_bank`).

Data. A ranked bank holds M >= 2 responses per prompt with features phi (n, M, d), a ranking
and possibly judge scores. For each query size m in `ms` (m <= M), each repetition

1. splits the prompts into train and eval (a seeded permutation, `eval_fraction` of them held
   out; a bank's own split when it has one);
2. draws `queries_per_prompt` m-wise queries per prompt (m distinct responses, uniformly at
   random, in random order) and their rankings from the oracle:
   - "data": the ranking the bank's ranking induces on the m responses (the order of their
     places); under Plackett-Luce the induced ranking of a subset is itself PL with the same
     utilities, so this is a PL sample when the data are;
   - "pl-scores": a fresh Plackett-Luce ranking (`sim.rankings.pl_rank`, seeded uniforms) with
     utilities the bank's scores (for AlpacaEval: the judge rewards r(x, a) =
     logit(clip(p[x, a])) of `paper_repro.real.judge_oracle`, the Bradley-Terry-through-the-
     reference reading, so that P(a above a') at m = 2 is sigma(r(x, a) - r(x, a')));
3. fits, on the train rankings in a seeded order, the one-pass PL OMD (`algorithms.pl_omd`,
   practical constants, the practical version without projection as the real-data drivers),
   the regularised PL MLE and pairwise breaking + the Bradley-Terry MLE (`algorithms.pl_mle`,
   the same ridge lambda), and the uniform model theta = 0 as the trivial baseline;
4. evaluates on the eval prompts (never trained on):
   - pair_agreement: over the pairs of responses of an eval prompt whose reference order is
     strict (the scores under "pl-scores", the bank's ranking under "data"), the fraction the
     learned reward phi' theta orders the same way (a tie of the learned reward counts 1/2);
     1/2 for theta = 0; Kendall's tau = 2 agreement - 1;
   - top1_agreement: the learned best response is the reference best (ties: the lowest index);
   - heldout_nll: the mean negative log-likelihood per PL stage, l(theta) / (m - 1), of
     `queries_per_prompt` fresh m-wise rankings per eval prompt from the same oracle
     (the uniform model's value is the mean of log(number of remaining items)).

Every m uses the same number of rankings, so larger m carries more implied pairs (column
`pairs`). `alpacaeval_ranked_bank` builds the AlpacaEval bank (features from the shared
feature pipeline and its cache, `sim.real.shared_banks.alpacaeval_bank`, optionally reduced to
their top principal directions within instructions); without the shared data or the llm extra
(for texts not yet in the cache) it raises `FeaturesUnavailable` and the runner returns a
SpecResult that starts with "skipped: <reason>".

Command line: `python -m paper_repro.real.rankings --alpacaeval [--scale quick] --out DIR` or
`--data RANKED_FILE --out DIR`; also `python -m paper_repro real --format ranked --data FILE`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from algorithms.pl_mle import breaking_mle, pl_mle, pl_objective
from algorithms.pl_omd import pl_omd_path
from sim.core.seeding import spawn_streams
from sim.rankings import implied_pairs, pl_rank
from sim.real.ranked_bank import RankedBank, ranks_from_scores, read_ranked_bank, write_ranked_bank
from sim.real.shared_banks import BankBuild, FeaturesUnavailable, alpacaeval_bank

from ..spec_result import SpecResult
from ..tables import markdown_table
from .experiments import DEFAULT_B, DEFAULT_L, default_constants
from .judge_oracle import JUDGE_CLIP, judge_rewards
from .multiarm_deployment import principal_features

ORACLES: tuple[str, ...] = ("data", "pl-scores")
METHODS: tuple[str, ...] = ("pl-omd", "pl-mle", "breaking", "uniform")
METHOD_LABELS = {"pl-omd": "one-pass PL OMD", "pl-mle": "PL MLE",
                 "breaking": "pairwise breaking (BT MLE)", "uniform": "uniform (theta = 0)"}
STREAMS: tuple[str, ...] = ("split", "train_queries", "train_rankings", "order", "eval_queries",
                            "eval_rankings")


@dataclass(frozen=True)
class RankedSettings:
    """Sizes and seeds of a ranked-data experiment (module docstring)."""

    ms: tuple[int, ...] = (2, 4, 8)
    queries_per_prompt: int = 20
    eval_fraction: float = 0.25
    repetitions: int = 3
    oracle: str = "data"
    seed: int = 0
    B: float = DEFAULT_B
    """Declared bound on ||theta|| entering the practical eta (no projection)."""


def _check_settings(bank: RankedBank, s: RankedSettings) -> tuple[int, ...]:
    if not isinstance(bank, RankedBank):
        raise ValueError(f"bank must be a sim.real.ranked_bank.RankedBank, got "
                         f"{type(bank).__name__}")
    if s.oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {ORACLES}, got {s.oracle!r}")
    if s.oracle == "pl-scores" and bank.scores is None:
        raise ValueError("the pl-scores oracle needs scores in the bank")
    ms = tuple(int(m) for m in s.ms if 2 <= int(m) <= bank.m)
    if not ms:
        raise ValueError(f"no query size in ms = {s.ms} fits the bank's m = {bank.m}")
    if s.queries_per_prompt < 1 or s.repetitions < 1:
        raise ValueError("queries_per_prompt and repetitions must be >= 1")
    if bank.split is None and not 0.0 < s.eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {s.eval_fraction!r}")
    return ms


def _split(bank: RankedBank, s: RankedSettings, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    if bank.split is not None:
        sp = np.array(bank.split)
        train, held = np.flatnonzero(sp != "eval"), np.flatnonzero(sp == "eval")
    else:
        perm = rng.permutation(bank.n)
        n_eval = min(max(1, int(round(s.eval_fraction * bank.n))), bank.n - 1)
        held, train = np.sort(perm[:n_eval]), np.sort(perm[n_eval:])
    if train.size == 0 or held.size == 0:
        raise ValueError(f"the split leaves {train.size} train and {held.size} eval prompts; "
                         "both must be >= 1")
    return train, held


def draw_queries(bank: RankedBank, prompts: np.ndarray, m: int, per_prompt: int, oracle: str,
                 q_rng: np.random.Generator, r_rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(prompt (n,), items (n, m) indices into the prompt's responses, F (n, m, d),
    rank (n, m)): per_prompt uniform m-subsets per prompt (random order) and their rankings
    from the oracle (module docstring)."""
    P = np.repeat(prompts, per_prompt)
    n = P.shape[0]
    items = np.argsort(q_rng.random((n, bank.m)), axis=1)[:, :m].astype(np.int64)
    F = bank.F[P[:, None], items]
    rank = np.empty((n, m), dtype=np.int64)
    if oracle == "data":
        place = bank.places()[P[:, None], items]
        rank[:] = np.argsort(place, axis=1)
    else:
        assert bank.scores is not None
        r = bank.scores[P[:, None], items]
        u = r_rng.random((n, m))
        none = np.empty((0, bank.d))
        theta = np.zeros(bank.d)
        for t in range(n):
            pl_rank(np.ascontiguousarray(r[t]), u[t], m - 1, none, theta, rank[t])
    return P, items, np.ascontiguousarray(F), rank


def pair_agreement(utilities: np.ndarray, reference: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean agreement, per-prompt agreement): over pairs with reference_i != reference_j, the
    fraction ordered alike by utilities (a tie of the utilities counts 1/2). Both (n, M)."""
    du = np.sign(utilities[:, :, None] - utilities[:, None, :])
    dr = np.sign(reference[:, :, None] - reference[:, None, :])
    iu = np.triu_indices(utilities.shape[1], k=1)
    du, dr = du[:, iu[0], iu[1]], dr[:, iu[0], iu[1]]
    strict = dr != 0
    agree = np.where(du == 0, 0.5, (du == dr).astype(np.float64))
    per = np.array([agree[i][strict[i]].mean() if strict[i].any() else math.nan
                    for i in range(agree.shape[0])])
    return float(np.nanmean(per)), per


def heldout_nll(F: np.ndarray, rank: np.ndarray, theta: np.ndarray) -> float:
    """Mean negative log-likelihood per PL stage of the rankings (module docstring)."""
    n, m, d = F.shape
    g, H = np.empty(d), np.empty((0, 0))
    f = pl_objective(F, rank, n, m - 1, 0.0, np.ascontiguousarray(theta, dtype=np.float64), g,
                     H, 0)
    return float(f / (n * (m - 1)))


def ranked_experiment(bank: RankedBank, settings: RankedSettings = RankedSettings()
                      ) -> pd.DataFrame:
    """One row per (repetition, m, method): the metrics of the module docstring, the numbers of
    rankings and implied pairs, the fit's wall time."""
    ms = _check_settings(bank, settings)
    c = default_constants(bank.d, DEFAULT_L, settings.B)
    reference = bank.scores if settings.oracle == "pl-scores" else -bank.places().astype(float)
    assert reference is not None
    # compile (or load) the kernels before anything is timed
    Fw, rw = np.ascontiguousarray(bank.F[:1, :2]), np.array([[0, 1]], dtype=np.int64)
    pl_omd_path(Fw, rw, eta=c.eta, lam=c.lam, project=False)
    pl_mle(Fw, rw, lam=c.lam)
    breaking_mle(Fw, rw, lam=c.lam)
    rows = []
    for rep in range(settings.repetitions):
        base = np.random.SeedSequence(settings.seed, spawn_key=(rep,))
        train, held = _split(bank, settings, spawn_streams(base, ("split",))["split"])
        for m in ms:
            st = spawn_streams(np.random.SeedSequence(settings.seed, spawn_key=(rep, m)),
                               STREAMS)
            _, _, F, rank = draw_queries(bank, train, m, settings.queries_per_prompt,
                                         settings.oracle, st["train_queries"],
                                         st["train_rankings"])
            perm = st["order"].permutation(F.shape[0])
            F, rank = np.ascontiguousarray(F[perm]), np.ascontiguousarray(rank[perm])
            _, _, Fe, re_ = draw_queries(bank, held, m, settings.queries_per_prompt,
                                         settings.oracle, st["eval_queries"],
                                         st["eval_rankings"])
            for method in METHODS:
                t0 = time.perf_counter()
                if method == "pl-omd":
                    theta = pl_omd_path(F, rank, eta=c.eta, lam=c.lam, project=False)[-1]
                elif method == "pl-mle":
                    theta = pl_mle(F, rank, lam=c.lam)
                elif method == "breaking":
                    theta = breaking_mle(F, rank, lam=c.lam)
                else:
                    theta = np.zeros(bank.d)
                secs = time.perf_counter() - t0
                util = bank.F[held] @ theta
                agree, _ = pair_agreement(util, reference[held])
                top = np.argmax(util, axis=1) == np.argmax(reference[held], axis=1)
                rows.append(dict(repetition=rep, m=m, method=method, oracle=settings.oracle,
                                 rankings=int(F.shape[0]),
                                 pairs=int(F.shape[0]) * implied_pairs(m),
                                 train_prompts=int(train.size), eval_prompts=int(held.size),
                                 pair_agreement=agree, kendall_tau=2.0 * agree - 1.0,
                                 top1_agreement=float(top.mean()),
                                 heldout_nll=heldout_nll(Fe, re_, theta),
                                 theta_norm=float(np.linalg.norm(theta)), wall_time=secs,
                                 eta=c.eta, lam=c.lam, d=bank.d, seed=settings.seed))
    return pd.DataFrame(rows)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean +- std over repetitions per (m, method)."""
    out = []
    for (m, method), g in df.groupby(["m", "method"], sort=True):
        row = {"m": int(str(m)), "method": METHOD_LABELS.get(str(method), str(method)),
               "rankings": int(g["rankings"].iloc[0]), "implied pairs": int(g["pairs"].iloc[0])}
        for col, name in (("pair_agreement", "pair agreement"), ("top1_agreement", "top-1"),
                          ("heldout_nll", "held-out NLL / stage"), ("wall_time", "fit s")):
            v = g[col].astype(float)
            sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
            row[name] = f"{v.mean():.4g} +- {sd:.2g}"
        out.append(row)
    order = {label: i for i, label in enumerate(METHOD_LABELS.values())}
    res = pd.DataFrame(out)
    res["_o"] = res["method"].map(order)
    return res.sort_values(["m", "_o"]).drop(columns="_o").reset_index(drop=True)


# ---------------------------------------------------------------------------- AlpacaEval


@dataclass(frozen=True)
class AlpacaRankingsConfig:
    """Sizes of the AlpacaEval rankings run."""

    n_contexts: int = 80
    n_arms: int = 8
    feature_dim: int | None = 8
    """k: the top-k within-instruction principal directions of the MiniLM features; None: all.
    With 60 train instructions x 20 rankings, k = 32 overfits (every fit is worse than the
    uniform model in held-out NLL at quick scale); k = 8 does not."""
    ms: tuple[int, ...] = (2, 4, 8)
    queries_per_prompt: int = 20
    eval_fraction: float = 0.25
    repetitions: int = 3
    seed: int = 0
    data_seed: int = 0


ALPACA_SCALES = {
    "quick": AlpacaRankingsConfig(feature_dim=8),
    "full": AlpacaRankingsConfig(n_contexts=200, n_arms=16, feature_dim=64, ms=(2, 4, 8, 16),
                                 queries_per_prompt=40, repetitions=5),
    "tiny": AlpacaRankingsConfig(n_contexts=12, n_arms=4, feature_dim=4, ms=(2, 4),
                                 queries_per_prompt=5, repetitions=1),
}


def alpacaeval_ranked_bank(cache_dir: str | os.PathLike, cfg: AlpacaRankingsConfig
                           ) -> tuple[RankedBank, BankBuild]:
    """(the AlpacaEval ranked bank, its feature build): n_contexts instructions x n_arms answers
    (`sim.real.shared_banks.alpacaeval_subset`, seeded by data_seed), scores = the judge rewards
    logit(clip(p, JUDGE_CLIP)), ranking = decreasing score with ties in a seeded random order
    (`sim.real.ranked_bank.ranks_from_scores`). Written to CACHE/banks/ as a ranked bank file.
    Raises FeaturesUnavailable without the data or the llm extra."""
    data = alpacaeval_bank(cache_dir, n_contexts=cfg.n_contexts, n_arms=cfg.n_arms,
                           seed=cfg.data_seed, L=DEFAULT_L)
    phi, phi_ref = data.phi, data.phi_ref
    if cfg.feature_dim is not None:
        phi, _ = principal_features(phi, phi_ref, cfg.feature_dim, DEFAULT_L)
    scores = judge_rewards(data.p)
    rng = spawn_streams(cfg.data_seed, ("ties",))["ties"]
    rank, tied = ranks_from_scores(scores, rng)
    bank = RankedBank(tuple(data.context_ids), phi, rank, scores,
                      tuple(tuple(data.arm_names) for _ in data.context_ids), None, tied,
                      "alpacaeval", {"dataset": "alpacaeval", "score": "judge logit"})
    path = os.path.join(os.fspath(cache_dir), "banks",
                        f"alpacaeval-ranked-{cfg.n_contexts}x{cfg.n_arms}-"
                        f"d{phi.shape[2]}-s{cfg.data_seed}.parquet")
    write_ranked_bank(bank, path)
    return bank, data.build


def _ranking_lines(df: pd.DataFrame) -> list[str]:
    lines = []
    for m, g in df.groupby("m"):
        best = g.groupby("method")["pair_agreement"].mean()
        lines.append(f"m = {m}: pair agreement PL OMD {best.get('pl-omd', math.nan):.3f}, "
                     f"PL MLE {best.get('pl-mle', math.nan):.3f}, breaking "
                     f"{best.get('breaking', math.nan):.3f}")
    return lines


def run_alpacaeval_rankings(scale: str, opts, *, cache_dir: str | None = None) -> SpecResult:
    """The AlpacaEval rankings experiment at a scale; opts has `out` (a RunOptions or any
    object with it). Skipped (markdown "skipped: <reason>") without the data or features."""
    if scale not in ALPACA_SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(ALPACA_SCALES)}")
    cfg = ALPACA_SCALES[scale]
    cache = cache_dir if cache_dir is not None else os.path.join(opts.out, "feature_cache")
    try:
        bank, build = alpacaeval_ranked_bank(cache, cfg)
    except FeaturesUnavailable as exc:
        return SpecResult(tables={}, figures=[], markdown=f"skipped: {exc}", config=asdict(cfg))
    settings = RankedSettings(ms=cfg.ms, queries_per_prompt=cfg.queries_per_prompt,
                              eval_fraction=cfg.eval_fraction, repetitions=cfg.repetitions,
                              oracle="pl-scores", seed=cfg.seed)
    start = time.perf_counter()
    df = ranked_experiment(bank, settings)
    secs = time.perf_counter() - start
    table = summary_table(df)
    dims = ("the 384 MiniLM dimensions" if cfg.feature_dim is None else
            f"MiniLM features on their top {bank.d} within-instruction principal directions")
    md = [f"{bank.n} AlpacaEval instructions (seeded subset) x {bank.m} model answers; features: "
          f"{dims}, ||phi|| <= {DEFAULT_L:g}. Oracle: Plackett-Luce on the judge rewards "
          f"r(x, a) = logit(clip(p[x, a], {JUDGE_CLIP:g}, 1 - {JUDGE_CLIP:g})), p the judge's "
          "probability that the answer beats the reference (our reading: Bradley-Terry through "
          "the common reference, extended to rankings); the rewards are not linear in the "
          f"features. {cfg.queries_per_prompt} m-wise queries per train instruction (uniform "
          f"m-subsets), {int(df['eval_prompts'].iloc[0])} held-out instructions "
          f"({cfg.eval_fraction:g} of them), {cfg.repetitions} repetitions (seeded splits, "
          f"queries, rankings, orders). Ties of the judge scores within an instruction: "
          f"{bank.tied_pairs} pairs (excluded from the agreement).", "",
          "Metrics on the held-out instructions: pair agreement = fraction of answer pairs the "
          "learned reward orders as the judge's scores (Kendall tau = 2 agreement - 1); top-1 = "
          "the learned best answer is the judge's best; held-out NLL / stage = mean negative "
          "PL log-likelihood per stage of fresh held-out m-wise rankings (lower is better; the "
          "uniform model gives the mean log of the number of remaining answers).", "",
          markdown_table(table), "", *_ranking_lines(df), "",
          f"Features: {build.embedded} of {build.texts} texts embedded now "
          f"(bank: `{build.folder}`); run {secs:.1f} s.", ""]
    return SpecResult(tables={"runs": df, "summary": table}, figures=[], markdown="\n".join(md),
                      config=asdict(cfg))


def run_ranked_bank(path: str, out: str, settings: RankedSettings = RankedSettings(), *,
                    ties: str = "random") -> SpecResult:
    """A user's ranked bank file (`sim.real.ranked_bank` format) through the same estimators:
    oracle "data" (the induced rankings) unless settings say "pl-scores" and the bank has
    scores; the query sizes of settings.ms that fit, plus the bank's m; writes OUT/report.md
    and OUT/tables/*.csv."""
    bank = read_ranked_bank(path, seed=settings.seed, ties=ties).normalized(DEFAULT_L)
    if settings.oracle != "data" and bank.scores is None:
        settings = replace(settings, oracle="data")
    # the sizes asked for that fit, and always the bank's own m (the full rankings)
    settings = replace(settings, ms=tuple(sorted({m for m in settings.ms if 2 <= m <= bank.m}
                                                 | {bank.m})))
    start = time.perf_counter()
    df = ranked_experiment(bank, settings)
    secs = time.perf_counter() - start
    table = summary_table(df)
    md = [f"# Ranked data: {path}", "",
          f"{bank.n} prompts x {bank.m} ranked responses, d = {bank.d} (features scaled to "
          f"||phi|| <= {DEFAULT_L:g}); oracle {settings.oracle!r}; ties broken at random: "
          f"{bank.tied_pairs} pairs; {settings.queries_per_prompt} m-wise queries per train "
          f"prompt, {settings.repetitions} repetitions, seed {settings.seed}.", "",
          markdown_table(table), "", *_ranking_lines(df), "", f"Run: {secs:.1f} s.", ""]
    res = SpecResult(tables={"runs": df, "summary": table}, figures=[], markdown="\n".join(md),
                     config=asdict(settings))
    os.makedirs(os.path.join(out, "tables"), exist_ok=True)
    for name, t in res.tables.items():
        t.to_csv(os.path.join(out, "tables", f"ranked_{name}.csv"), index=False)
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(res.markdown)
    return res


def ranked_cli_settings(args) -> RankedSettings:
    """The settings of `python -m paper_repro real --format ranked` from its options: seed,
    repetitions (--seeds; 2 with --quick), query sizes 2, 4, 8 up to --max-responses."""
    reps = args.seeds or (2 if args.quick else 3)
    top = args.max_responses or 8
    ms = tuple(m for m in (2, 4, 8, 16, 32) if m <= top) or (2,)
    return RankedSettings(ms=ms, repetitions=int(reps), seed=int(args.seed),
                          eval_fraction=float(args.eval_fraction))


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}"
                                         ) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paper_repro.real.rankings",
                                description="Plackett-Luce estimators on ranked real data.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE", help="a ranked bank file (sim/real/ranked_bank.py)")
    src.add_argument("--alpacaeval", action="store_true",
                     help="the AlpacaEval rankings (shared data; llm extra or a warm cache)")
    p.add_argument("--scale", default="quick", choices=tuple(ALPACA_SCALES))
    p.add_argument("--ms", type=_int_tuple, default=(2, 4, 8), metavar="M,M,...")
    p.add_argument("--queries-per-prompt", type=int, default=20)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--oracle", default="data", choices=ORACLES)
    p.add_argument("--ties", default="random", choices=("random", "error"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default="ranked_out")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command; 0 on success, 2 with a one-line message for bad input."""
    args = build_parser().parse_args(argv)
    try:
        if args.alpacaeval:
            os.makedirs(args.out, exist_ok=True)
            res = run_alpacaeval_rankings(args.scale, args, cache_dir=args.cache_dir)
            with open(os.path.join(args.out, "report.md"), "w") as fh:
                fh.write(res.markdown)
            os.makedirs(os.path.join(args.out, "tables"), exist_ok=True)
            for name, t in res.tables.items():
                t.to_csv(os.path.join(args.out, "tables", f"alpacaeval_rankings_{name}.csv"),
                         index=False)
        else:
            settings = RankedSettings(ms=args.ms, queries_per_prompt=args.queries_per_prompt,
                                      repetitions=args.repetitions, oracle=args.oracle,
                                      seed=args.seed)
            res = run_ranked_bank(args.data, args.out, settings, ties=args.ties)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(res.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ALPACA_SCALES", "AlpacaRankingsConfig", "METHODS", "ORACLES", "RankedSettings",
           "alpacaeval_ranked_bank", "draw_queries", "heldout_nll", "main", "pair_agreement",
           "ranked_cli_settings", "ranked_experiment", "run_alpacaeval_rankings",
           "run_ranked_bank", "summary_table"]
