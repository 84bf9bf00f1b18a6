"""Named studies that `python -m paper_repro` can run, each at a quick and a full scale.

A spec turns (scale, output folder) into tables, figures and a Markdown section of the
report. Register a new study with `register`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .spec_result import SpecResult
from .tables import markdown_table

if TYPE_CHECKING:
    from .synthetic import RunOptions

SCALES = ("quick", "full", "tiny")
"""quick: the default run (minutes); full: paper-size; tiny: seconds, for smoke tests."""


@dataclass(frozen=True)
class Spec:
    """A named study: `run(scale, options)` returns a SpecResult (options: synthetic.RunOptions)."""

    name: str
    description: str
    run: Callable[[str, RunOptions], SpecResult]
    default: bool = True
    """Whether `python -m paper_repro` without spec names runs it (False: an extra spec, run by
    naming it)."""


REGISTRY: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> Spec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown spec {name!r}; known specs: {', '.join(sorted(REGISTRY))}") from None


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def _timing_run(scale: str, opts: RunOptions) -> SpecResult:
    from dataclasses import asdict

    from figures.timing import plot_throughput, plot_time_per_round

    from .timing import TimingConfig, run_timing

    cfg = {
        "quick": TimingConfig(),
        "full": TimingConfig(updates_budget=1e9, stream_T=10_000_000,
                             mle_ts=(100, 1_000, 10_000, 100_000, 300_000),
                             memory_Ts=(10_000, 1_000_000, 10_000_000)),
        "tiny": TimingConfig(dims=(4, 16), updates_budget=1e5, stream_T=20_000,
                             stream_chunk=2_000, mle_ts=(50, 500), memory_Ts=(1_000, 10_000),
                             startup=False),
    }[scale]
    tables = run_timing(cfg)
    fig_dir = os.path.join(opts.out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    figs = plot_throughput(tables["throughput"], os.path.join(fig_dir, "timing_throughput"))
    figs += plot_time_per_round(tables["update_vs_t"], tables["mle_refit_vs_t"],
                                os.path.join(fig_dir, "timing_time_per_round"))

    tp = tables["throughput"]
    upd = tables["update_vs_t"]
    mle = tables["mle_refit_vs_t"]
    mem = tables["peak_memory"]
    # flatness: median cost per update in the last and the first tenth of the stream
    n = max(1, len(upd) // 10)
    flat = upd["seconds_per_update"].iloc[-n:].median() / upd["seconds_per_update"].iloc[:n].median()
    growth = mle["seconds_per_refit"].iloc[-1] / mle["seconds_per_refit"].iloc[0]
    hand = tp[tp["mode"].isin(["no projection", "omd_path (checked, path stored)"])]
    lines = ["One-pass OMD updates per second on one core (best of 3, interleaved), with the "
             "arithmetic floor of the two d x d passes an update needs (floor_ratio = floor rate "
             "/ OMD rate; 1 means at the floor) and the same update as a hand-written loop "
             "(hand_ratio = row rate / hand-loop rate, by the clock; hand_ratio_cpu by CPU "
             "time): " + "; ".join(f"d = {r.d}, {r.mode}: {r.hand_ratio:.2f}x the hand loop"
                                   for r in hand.itertuples()) + ".", "",
             markdown_table(tp, ".4g"), "",
             f"Time per OMD update along one stream of {cfg.stream_T:,} pairs (d = "
             f"{cfg.stream_d}, drawn on the fly in chunks of {cfg.stream_chunk:,}): median of the "
             f"last tenth / first tenth = {_fmt(flat)} (flat means about 1).", "",
             f"MLE refit time per round grows with t: {_fmt(mle['seconds_per_refit'].iloc[0])} s at "
             f"t = {mle['t'].iloc[0]:,} to {_fmt(mle['seconds_per_refit'].iloc[-1])} s at t = "
             f"{mle['t'].iloc[-1]:,} (x{_fmt(growth)}).", "",
             markdown_table(mle, ".4g"), "",
             "Peak resident memory added by one run (fresh process per cell; OMD streams the "
             "pairs, the MLE must hold them):", "",
             markdown_table(mem, ".4g"), ""]
    if "startup" in tables:
        lines += ["Process start with an empty compilation cache and with the cache filled:", "",
                  markdown_table(tables["startup"], ".3g"), ""]

    from .timing_protocol import protocol_overhead

    proto = protocol_overhead(scale)
    tables["protocol_overhead"] = proto
    lines += ["### A reward model registered through the open protocol", "",
              "The one-pass OMD written as a user's RewardModel (`algorithms.models.OMD_MODEL`) "
              "against the built-in code path in the same compiled loops (best of several "
              "interleaved runs; ratio = built-in seconds / copy seconds, 1 = as fast; the "
              "stream loops keep Hcal and its inverse, `omd_run` only the inverse):", "",
              markdown_table(proto, ".4g"), ""]

    from .timing_deployment import deployment_benchmarks, deployment_benchmarks_markdown
    from .timing_training import training_benchmarks, training_benchmarks_markdown

    train = training_benchmarks(scale)
    deploy = deployment_benchmarks(scale)
    lines += ["### Training stage", "", training_benchmarks_markdown(train), "",
              "### Deployment stage", "", deployment_benchmarks_markdown(deploy), ""]
    tables.update({f"training_{k}": v for k, v in train.items()})
    tables.update({f"deployment_{k}": v for k, v in deploy.items()})

    from theory_checks.verdicts import cost_verdict, verdict_table

    upd = tables["update_vs_t"]
    mle = tables["mle_refit_vs_t"]
    verdicts = [cost_verdict("cost[timing:omd-update]", upd["t"].to_numpy(float),
                             upd["seconds_per_update"].to_numpy()[None, :], flat=True),
                cost_verdict("cost[timing:mle-refit]", mle["t"].to_numpy(float),
                             mle["seconds_per_refit"].to_numpy()[None, :], flat=False)]
    lines += ["Checks:", "", markdown_table(verdict_table(verdicts), ".4g"), ""]
    return SpecResult(tables=tables, figures=figs, markdown="\n".join(lines), config=asdict(cfg),
                      verdicts=verdicts)


def _register_studies() -> None:
    from . import kappa_study, studies

    # first, so that the report opens with the power of the checks behind every verdict
    register(Spec("theory-checks", "The power of the checks (broken and valid variants), then "
                  "coverage, instance bounds, accounting, comparisons, rates and cost on the "
                  "paper's algorithms (python -m theory_checks at the same scale)",
                  studies.run_theory_checks))
    register(Spec("passive-synthetic", "Algorithm 2 and baselines: SubOpt over T, uniform and "
                  "poor-coverage behaviour", studies.run_passive))
    register(Spec("active-synthetic", "Algorithm 3 and baselines: SubOpt over T, accuracy/time "
                  "table", studies.run_active))
    register(Spec("deployment-synthetic", "Algorithm 4, dueling-bandit baselines and LLM-practice "
                  "strategies: cumulative regret", studies.run_deployment_spec))
    register(Spec("kappa-sweep", "Measured SubOpt, regret and estimation error against kappa "
                  "at matched (calibrated) coverage, beside the bounds' exponents",
                  kappa_study.run_kappa_study))
    register(Spec("dimension-sweep", "Regret and SubOpt against d", studies.run_dimension))
    from . import real_data

    register(Spec("real-passive", "UltraFeedback + MiniLM: SGD, full MLE and one-pass OMD "
                  "(paper Fig. 2 in miniature; skipped without the data or the llm extra)",
                  real_data.run_real_passive))
    register(Spec("real-active", "UltraFeedback + MiniLM: Rand-MLE, Active-MLE, Rand-OMD and "
                  "Algorithm 3 (paper Fig. 3 table in miniature)", real_data.run_real_active))
    register(Spec("real-deployment", "AlpacaEval + MiniLM, judge and semi-synthetic oracles: "
                  "LLM-practice strategies (paper Fig. 4 in miniature)",
                  real_data.run_real_deployment))
    register(__import__("paper_repro.kwise", fromlist=["spec"]).spec())


_register_studies()

register(Spec("timing", "Cost of the one-pass OMD update against the MLE refit: throughput, "
              "time per round against t, peak memory, first/second start.", _timing_run))
register(__import__("paper_repro.constants_sweep", fromlist=["spec"]).spec())
