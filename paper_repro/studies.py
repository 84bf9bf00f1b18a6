"""Run functions of the synthetic specs: sweep, figures, tables, checks, Markdown."""

from __future__ import annotations

import os
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from figures.curves import (
    accuracy_time_table,
    plot_accuracy_time,
    plot_kappa_sweep,
    plot_paired,
    plot_regret,
    plot_suboptimality,
)
from paper_repro.cells import final_rows
from theory_checks.checks import (
    cost_checks,
    instance_checks_final,
    instance_checks_path,
    rate_checks,
)
from theory_checks.paired import (
    WORSE,
    paired_differences,
    paired_markdown_table,
    seeds_for_half_width,
    verdict_sentence,
)
from theory_checks.verdicts import REPORT, verdict_table

from .spec_result import SpecResult
from .synthetic import (
    ACTIVE,
    DEPLOYMENT,
    DIMENSION,
    PASSIVE,
    RunOptions,
    closed_form_overlay,
    run_cells,
    study_cells,
    summary_table,
    user_algorithms,
    with_algorithms,
    with_env,
)
from .tables import markdown_table

TRAINING_METRICS = ("subopt", "err_l2", "eval_acc", "eval_loss", "wall_time")
DEPLOYMENT_METRICS = ("regret", "regret_weak", "regret_strong", "err_l2", "wall_time")


def _fig_dir(opts: RunOptions) -> str:
    d = os.path.join(opts.out, "figures")
    os.makedirs(d, exist_ok=True)
    return d


def _verdict_md(verdicts) -> str:
    return markdown_table(verdict_table(verdicts), ".4g") if verdicts else "(no checks)"


def _paired_tables(last: pd.DataFrame, reference: str, metrics: tuple[tuple[str, bool], ...],
                   by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Paired differences against `reference` for each (metric, lower_is_better)."""
    tabs = [paired_differences(last, m, reference, by=by, lower_is_better=low)
            for m, low in metrics if m in last.columns and last[m].notna().any()]
    return pd.concat(tabs, ignore_index=True) if tabs else pd.DataFrame()


def seeds_needed(tab: pd.DataFrame, effect: float) -> pd.Series:
    """Per row of a paired table: the seeds that bring the 95% half-width to `effect` times
    the larger of the two means (`theory_checks.paired.seeds_for_half_width`, with the standard
    deviation of the per-seed difference measured in this run). The larger mean, because a
    reference near 0 (a SubOpt that is nearly solved) would make any difference look huge."""
    from scipy.stats import t as t_dist

    out = []
    for r in tab.itertuples(index=False):
        n = int(r.n)
        scale = max(abs(r.mean_ref), abs(r.mean_alg))
        if n < 2 or not np.isfinite(r.half_width) or not scale > 0:
            out.append(np.nan)
            continue
        sd = r.half_width * np.sqrt(n) / float(t_dist.ppf(0.975, n - 1))
        out.append(seeds_for_half_width(sd, effect * scale))
    return pd.Series(out, index=tab.index, dtype="float64")


def _paired_md(tab: pd.DataFrame, effect: float, *, by: tuple[str, ...] = ()) -> list[str]:
    if tab.empty:
        return ["(no paired comparison)", ""]
    show = paired_markdown_table(tab)
    show[f"seeds for +-{effect:.0%}"] = seeds_needed(tab, effect).map(
        lambda n: "-" if not np.isfinite(n) else (">1000" if n > 1000 else f"{int(n)}"))
    lines = [markdown_table(show), ""]
    for key, g in (tab.groupby(list(by), sort=False) if by else [((), tab)]):
        for metric, gm in g.groupby("metric", sort=False):
            low = metric not in HIGHER_IS_BETTER
            where = f" ({', '.join(f'{k} = {v}' for k, v in zip(by, np.atleast_1d(key)))})" \
                if by else ""
            lines += [f"- {verdict_sentence(gm, lower_is_better=low)}{where}"]
    return [*lines, ""]


HIGHER_IS_BETTER = ("eval_acc", "eval_acc_true")
"""Metrics where larger is better; every other compared metric is a loss."""


def prediction_line(tab: pd.DataFrame, claim: str, algorithm: str, metric: str,
                    expected: str) -> str:
    """'Theory predicts <claim>: held / did not hold' from the verdict of `algorithm` on
    `metric` in a paired table (expected: the verdict the theory predicts for it)."""
    row = tab[(tab["algorithm"] == algorithm) & (tab["metric"] == metric)]
    if row.empty:
        return f"Prediction: {claim}. Not tested ({algorithm} was not run)."
    r = row.iloc[0]
    held = r["verdict"] == expected
    return (f"Prediction: {claim}. **{'Held' if held else 'Did not hold'}**: {algorithm} is "
            f"{r['verdict']} (paired {metric} difference {r['diff']:.3g}, 95% CI "
            f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}], {int(r['n'])} seeds).")


PASSIVE_REFERENCE = "passive-omd-pessimistic"
ACTIVE_REFERENCE = "active-omd"
DEPLOYMENT_REFERENCE = "algorithm4"
PASSIVE_BASELINES = ("passive-mle-pessimistic-zhu", "passive-mle-greedy", "passive-sgd-greedy")
ACTIVE_BASELINES = ("apo", "apo-weighted", "active-mle", "random-omd", "random-mle")
TRAINING_PAIRED = (("subopt", True), ("err_l2", True))
ACTIVE_PAIRED = (("subopt", True), ("err_l2", True), ("eval_acc_true", False))
DEPLOYMENT_PAIRED = (("regret", True), ("err_l2", True))


def _paired_figure(tab: pd.DataFrame, metric: str, stem: str, what: str,
                   captions: dict[str, str]) -> list[str]:
    sub = tab[tab["metric"] == metric]
    if sub.empty:
        return []
    ref = str(sub["reference"].iloc[0])
    figs = plot_paired(sub, stem, title=f"{what}: {metric} minus {ref}'s, per seed",
                       xlabel=f"paired difference in {metric} (< 0: better than {ref})")
    captions[stem] = (f"{what}. Mean per-seed difference of {metric} against {ref} on common "
                      f"random numbers, 95% CI of the mean. "
                      f"{verdict_sentence(sub, lower_is_better=metric not in HIGHER_IS_BETTER)}")
    return figs


def run_passive(scale: str, opts: RunOptions) -> SpecResult:
    cfg = PASSIVE[scale]
    cells = []
    extra = user_algorithms(opts, "passive")
    base = with_algorithms(cfg.study, extra)
    panels = [(b, base, b) for b in cfg.behaviours]
    if cfg.instance is not None:
        panels.append(("poor-coverage", with_algorithms(cfg.instance, extra), "skewed"))
    for name, study, b in panels:
        study = replace(study, options=(("behaviour", b), ("reference", cfg.reference)))
        cells += study_cells(study, opts, "passive-synthetic", tags=dict(panel=name))
    df = closed_form_overlay(run_cells(cells, opts, "passive-synthetic"))
    figs, lines, verdicts, captions, paired = [], [], [], {}, []
    for b, sub in df.groupby("panel", sort=False):
        env_name = str(sub["env"].iloc[0])
        stem = os.path.join(_fig_dir(opts), f"passive_subopt_{b}")
        figs += plot_suboptimality(sub, stem, title=f"Passive data collection, {b}")
        last = final_rows(sub)
        tab = _paired_tables(last, PASSIVE_REFERENCE, TRAINING_PAIRED).assign(panel=b)
        paired.append(tab)
        captions[stem] = (f"SubOpt against T on {env_name} ({b}); lines: mean over seeds, "
                          f"bands: 95% CI of the mean; dotted: instance bounds. "
                          f"{verdict_sentence(tab[tab.metric == 'subopt'])}")
        figs += _paired_figure(tab, "subopt", os.path.join(_fig_dir(opts), f"passive_paired_{b}"),
                               f"Passive, {b}", captions)
        verdicts += instance_checks_final(sub, "subopt", f"passive-{b}")
        verdicts += rate_checks(sub[sub["algorithm"] == PASSIVE_REFERENCE], "subopt",
                                -0.5, f"passive-{b}")
        lines += [f"### Panel: {b} ({env_name}, T = {int(sub['t'].max()):,})", "",
                  markdown_table(summary_table(sub, TRAINING_METRICS)), "",
                  "Paired against the paper's Algorithm 2 on the same seeds:", "",
                  *_paired_md(tab, cfg.effect)]
        lines += [win_lose_line(tab, sub, PASSIVE_REFERENCE, "subopt", PASSIVE_BASELINES,
                                "Algorithm 2 (one-pass OMD, pessimistic)"),
                  win_lose_line(tab, sub, PASSIVE_REFERENCE, "err_l2", PASSIVE_BASELINES[:1],
                                "its one-pass estimate"), ""]
        if b == "poor-coverage":
            lines += [prediction_line(tab, "under poor coverage, pessimism beats greedy "
                                      "(the greedy OMD output is worse than Algorithm 2)",
                                      "passive-omd-greedy", "subopt", WORSE), ""]
    paired_all = pd.concat(paired, ignore_index=True)
    head = ["SubOpt of the output policy at the last checkpoint (mean +- std over seeds), then the "
            "paired per-seed differences against Algorithm 2 (passive-omd-pessimistic): every "
            "algorithm sees the same contexts and label uniforms under a seed, so the difference "
            "cancels their shared noise. The last column gives the seeds that would bring the "
            f"interval's half-width to {cfg.effect:.0%} of the larger of the two means (the "
            "effect the study is meant to detect), from the spread measured here.", ""]
    return SpecResult(tables={"records": df, "paired": paired_all}, figures=figs,
                      config=asdict(cfg), captions=captions,
                      markdown="\n".join([*head, *lines, "Checks:", "", _verdict_md(verdicts), ""]),
                      verdicts=verdicts)


def run_active(scale: str, opts: RunOptions) -> SpecResult:
    cfg = ACTIVE[scale]
    extra = user_algorithms(opts, "active")
    panels = [("generic", with_algorithms(cfg.study, extra))]
    if cfg.instance is not None:
        panels.append(("informative-directions", with_algorithms(cfg.instance, extra)))
    cells = []
    for name, study in panels:
        cells += study_cells(study, opts, "active-synthetic", tags=dict(panel=name))
    df = run_cells(cells, opts, "active-synthetic")
    fig_dir = _fig_dir(opts)
    figs, md, verdicts, captions, paired, accs = [], [], [], {}, [], []
    md += ["Final checkpoint (mean +- std over seeds) and paired per-seed differences against "
           "Algorithm 3 (active-omd) on common random numbers. Held-out label accuracy is capped "
           "by the label noise: eval_acc_bayes is the accuracy of theta* itself on the same "
           "pairs; the estimation error, SubOpt and the agreement with theta*'s ranking "
           "(eval_acc_true) are not capped.", ""]
    for name, sub in df.groupby("panel", sort=False):
        env_name = str(sub["env"].iloc[0])
        suffix = "" if name == "generic" else f"_{name}"
        stem = os.path.join(fig_dir, f"active_subopt{suffix}")
        figs += plot_suboptimality(sub, stem, title=f"Active data collection, {env_name}")
        last = final_rows(sub)
        tab = _paired_tables(last, ACTIVE_REFERENCE, ACTIVE_PAIRED).assign(panel=name)
        paired.append(tab)
        captions[stem] = (f"SubOpt against T on {env_name}; bands: 95% CI of the mean. "
                          f"{verdict_sentence(tab[tab.metric == 'subopt'])}")
        figs += _paired_figure(tab, "subopt", os.path.join(fig_dir, f"active_paired{suffix}"),
                               f"Active, {env_name}", captions)
        acc_stem = os.path.join(fig_dir, f"active_accuracy_time{suffix}")
        figs += plot_accuracy_time(last, acc_stem,
                                   title=f"Active learning on {env_name}: accuracy and time")
        acc = accuracy_time_table(last).assign(panel=name)
        accs.append(acc)
        captions[acc_stem] = ("Held-out label accuracy (95% CI of the mean) against the "
                              "learner's wall time; dashed: theta*'s own accuracy on the same "
                              "pairs, the ceiling no estimator can pass in expectation.")
        verdicts += instance_checks_final(sub, "subopt", f"active-{name}")
        verdicts += rate_checks(sub[sub["algorithm"] == ACTIVE_REFERENCE], "subopt", -0.5,
                                f"active-{name}")
        md += [f"### Panel: {name} ({env_name}, T = {int(sub['t'].max()):,})", "",
               markdown_table(summary_table(sub, (*TRAINING_METRICS, "eval_acc_true",
                                                  "eval_acc_bayes"))), "",
               *_paired_md(tab, cfg.effect),
               "The paper's active-learning table in this setting (accuracy on held-out pairs "
               "drawn from the environment, with the Bayes ceiling; wall time of the learner):",
               "", markdown_table(acc, ".4g"), ""]
        md += [win_lose_line(tab, sub, ACTIVE_REFERENCE, "subopt", ACTIVE_BASELINES,
                             "Algorithm 3 (one-pass OMD, maximum uncertainty)"),
               win_lose_line(tab, sub, ACTIVE_REFERENCE, "err_l2", ACTIVE_BASELINES,
                             "its one-pass estimate"), ""]
        if name == "informative-directions":
            md += [prediction_line(tab, "when few contexts carry the information, maximum-"
                                   "uncertainty selection beats uniform selection (random-omd "
                                   "is worse than Algorithm 3)", "random-omd", "subopt", WORSE),
                   ""]
    md += ["Checks:", "", _verdict_md(verdicts), ""]
    return SpecResult(tables={"records": df, "accuracy_time": pd.concat(accs, ignore_index=True),
                              "paired": pd.concat(paired, ignore_index=True)}, figures=figs,
                      markdown="\n".join(md), config=asdict(cfg), verdicts=verdicts,
                      captions=captions)


def run_deployment_spec(scale: str, opts: RunOptions) -> SpecResult:
    cfg = DEPLOYMENT[scale]
    study = with_algorithms(cfg.study, user_algorithms(opts, "deployment"))
    cells = study_cells(study, opts, "deployment-synthetic", tags=dict(panel=study.radius.kind))
    for r in cfg.other_radii:
        algs = tuple(a for a in study.algorithms if a in cfg.other_radii_algorithms)
        cells += study_cells(replace(study, radius=r, algorithms=algs), opts,
                             "deployment-synthetic", tags=dict(panel=r.kind))
    df_all = run_cells(cells, opts, "deployment-synthetic")
    df = df_all[df_all["panel"] == study.radius.kind]
    fig_dir = _fig_dir(opts)
    captions: dict[str, str] = {}
    last_all = final_rows(df_all, by=("panel", "algorithm", "seed"))
    paired = _paired_tables(last_all, DEPLOYMENT_REFERENCE, DEPLOYMENT_PAIRED, by=("panel",))
    main = paired[paired["panel"] == study.radius.kind]
    stem = os.path.join(fig_dir, "deployment_regret")
    figs = plot_regret(df, stem, title="Deployment: cumulative regret (calibrated radii)")
    captions[stem] = ("Cumulative regret against rounds at calibrated radii (each algorithm's "
                      "c_beta fitted so that theta* stays in its set with probability 1 - delta); "
                      "bands: 95% CI of the mean. "
                      f"{verdict_sentence(main[main.metric == 'regret'])}")
    figs += _paired_figure(main, "regret", os.path.join(fig_dir, "deployment_paired"),
                           "Deployment, calibrated radii", captions)
    paper = df[df["algorithm"].isin(["algorithm4", "algorithm4-rule-mle"])]
    stem = os.path.join(fig_dir, "deployment_regret_bounds")
    figs += plot_regret(paper, stem, logy=True,
                        title="Algorithm 4's rule on OMD and on the MLE, with instance bounds")
    captions[stem] = ("The same selection rule on the one-pass OMD and on the MLE (log scale), "
                      "with their per-round instance bounds summed (dotted); bands: 95% CI.")
    verdicts = instance_checks_path(df, "regret", "deployment")
    # time per round on a shared machine: shown, not judged (theory_checks judges cost by
    # counted work)
    verdicts += [replace(v, verdict=REPORT, detail=v.detail + "; wall clock: reported, not judged")
                 for v in cost_checks(df, "deployment", flat_algs=("algorithm4",),
                                      growing_algs=("dueling-rl-mle", "algorithm4-rule-mle",
                                                    "maxinp-mle", "colstim-mle"))]
    md = [f"Cumulative regret at T (mean +- std over seeds), radius mode {study.radius.kind} "
          "(c_beta per algorithm in the table); regret uses the (r(a)+r(a'))/2 form, weak and "
          "strong the better and the worse arm of the pair.", "",
          markdown_table(summary_table(df, DEPLOYMENT_METRICS)), "",
          "Paired per-seed differences against Algorithm 4 (same contexts and label uniforms "
          "under a seed):", "", *_paired_md(main, cfg.effect),
          prediction_line(main, "Algorithm 4's sublinear regret beats random pairs' linear "
                          "regret", "random-pair-omd", "regret", WORSE), "",
          win_lose_line(main, df, DEPLOYMENT_REFERENCE, "regret", MLE_DUELING,
                        "at matched (calibrated) confidence Algorithm 4"), ""]
    for r in cfg.other_radii:
        sub = df_all[df_all["panel"] == r.kind]
        md += [f"Radius mode {r.kind} (the algorithms whose selection uses the radius):", "",
               markdown_table(summary_table(sub, DEPLOYMENT_METRICS)),
               "", *_paired_md(paired[paired["panel"] == r.kind], cfg.effect)]
    if cfg.other_radii:
        md += [changed_conclusions(paired, study.radius.kind, "regret"), ""]
    md += ["Checks:", "", _verdict_md(verdicts), ""]
    return SpecResult(tables={"records": df_all, "paired": paired}, figures=figs,
                      markdown="\n".join(md), config=asdict(cfg), verdicts=verdicts,
                      captions=captions)


def changed_conclusions(paired: pd.DataFrame, main: str, metric: str) -> str:
    """Which paired verdicts on `metric` differ between the radius mode `main` and the others
    (column panel = radius mode)."""
    tab = paired[paired["metric"] == metric].pivot_table(index="algorithm", columns="panel",
                                                         values="verdict", aggfunc="first")
    if main not in tab.columns or tab.shape[1] < 2:
        return ""
    changes = []
    for mode in [c for c in tab.columns if c != main]:
        both = tab[[main, mode]].dropna()
        diff = both[both[main] != both[mode]]
        changes += [f"{a} is {r[main]} against Algorithm 4 at {main} radii but {r[mode]} at "
                    f"{mode} radii" for a, r in diff.iterrows()]
    if not changes:
        return (f"Which conclusions change with the radius mode: none - every paired {metric} "
                f"verdict at {main} radii is the same in the other modes.")
    return "Which conclusions change with the radius mode: " + "; ".join(changes) + "."


def win_lose_line(tab: pd.DataFrame, df: pd.DataFrame, reference: str, metric: str,
                  baselines: tuple[str, ...], who: str) -> str:
    """'Plainly: <who> beats / ties with / loses to' each baseline on `metric` (from the paired
    verdicts), by how much (ratio of means) and at what cost ratio (learner's wall time)."""
    rows = tab[(tab["metric"] == metric) & tab["algorithm"].isin(baselines)]
    if rows.empty:
        return ""
    last = final_rows(df)
    wall = last.groupby("algorithm")["wall_time"].mean()
    side = {"better": "loses to", "worse": "beats", "tied": "ties with",
            "identical": "ties with"}
    parts = []
    for r in rows.itertuples(index=False):
        cost = wall.get(r.algorithm, np.nan) / wall.get(reference, np.nan)
        ratio = r.mean_ref / r.mean_alg if r.mean_alg else np.nan
        parts.append(f"{side.get(r.verdict, 'is undecided against')} {r.algorithm} "
                     f"({metric} ratio {ratio:.3g}; the baseline costs {cost:.2g}x its time)")
    return f"Plainly, on {metric}: {who} " + "; ".join(parts) + "."


MLE_DUELING = ("dueling-rl-mle", "algorithm4-rule-mle", "maxinp-mle", "colstim-mle")
"""The MLE-based dueling-bandit baselines, each with its own paper's rule."""


def run_dimension(scale: str, opts: RunOptions) -> SpecResult:
    cfg = DIMENSION[scale]
    cells = []
    for d in cfg.dims:
        cells += study_cells(with_env(cfg.passive, d=d), opts, "dimension-sweep", tags=dict(dim=d))
        cells += study_cells(with_env(cfg.deployment, d=d), opts, "dimension-sweep",
                             tags=dict(dim=d))
    df = run_cells(cells, opts, "dimension-sweep")
    fig_dir = _fig_dir(opts)
    captions: dict[str, str] = {}
    dep = df[df["stage"] == "deployment"]
    last_d = final_rows(dep, by=("algorithm", "dim", "seed")).rename(columns={"kappa": "kappa_env"})
    paired = _paired_tables(last_d, DEPLOYMENT_REFERENCE, (("regret", True),), by=("dim",))
    last_d = last_d.assign(kappa=last_d["dim"].astype(float))  # reuse the sweep plot with d on x
    stem = os.path.join(fig_dir, "dimension_deployment")
    figs = plot_kappa_sweep(last_d, stem, metric="regret", bound_cols=(),
                            title="Deployment: regret against d (x axis: d)")
    captions[stem] = ("Final regret against d at calibrated radii (per algorithm and d); bands: "
                      "95% CI of the mean over seeds. Paired against Algorithm 4 per d: " + "; ".join(
                          f"d = {int(r.dim)}: {r.algorithm} {r.verdict}" for r in
                          paired.itertuples(index=False)) + ".")
    from theory_checks.verdicts import exponent_report

    verdicts = []
    for alg, sub in last_d.groupby("algorithm"):
        piv = sub.pivot_table(index="seed", columns="dim", values="regret")
        verdicts.append(exponent_report(f"d-exponent[deployment:{alg}]",
                                        "fitted exponent of regret in d (bound: 1)",
                                        piv.columns.to_numpy(float), np.maximum(piv.to_numpy(), 1e-300)))
    pas = df[df["stage"] == "passive"]
    last_p = final_rows(pas, by=("algorithm", "dim", "seed"))
    piv = last_p.pivot_table(index="seed", columns="dim", values="subopt")
    if (piv.mean() > 0).all():
        verdicts.append(exponent_report("d-exponent[passive:passive-omd-pessimistic]",
                                        "fitted exponent of SubOpt in d (bound: 1/2 times ||Phi||)",
                                        piv.columns.to_numpy(float), np.maximum(piv.to_numpy(), 1e-300)))
    md = ["Final regret and SubOpt against the dimension d (mean +- std over seeds), every "
          "algorithm at its calibrated radius for each d:", "",
          markdown_table(summary_table(df, ("regret", "subopt"), by=("algorithm", "dim"))
                         if "regret" in df.columns else summary_table(df, ("subopt",), by=("algorithm", "dim"))),
          "", "Paired per-seed regret differences against Algorithm 4 at each d:", "",
          *_paired_md(paired, 0.05, by=("dim",)), _verdict_md(verdicts), ""]
    return SpecResult(tables={"records": df, "paired": paired}, figures=figs,
                      markdown="\n".join(md), config=asdict(cfg), verdicts=verdicts,
                      captions=captions)


def run_theory_checks(scale: str, opts: RunOptions) -> SpecResult:
    from paper_repro.theory_runs import run_checks

    verdicts, tables = run_checks(scale, opts.out, algorithms=opts.algorithms,
                                  backend=opts.backend, workers=opts.workers,
                                  scheduler=opts.scheduler, quiet=opts.quiet)
    power, summary = tables.get("power"), tables.get("power_summary")
    md = ["The checks of `python -m theory_checks` at this scale. First their power: every "
          "check against deliberately broken (harmful) and valid variants, each run as a "
          "researcher's algorithm and judged only by what it outputs (caught = a check failed on "
          "it; a valid variant must pass every check):", ""]
    if power is not None and summary is not None:
        md += [markdown_table(summary), "", markdown_table(power.drop(columns=["seconds"])), ""]
    md += ["Decisiveness of each check at this scale (decisive: it could have failed on the "
           "data it saw; vacuous: a bound above the trivial one or a radius far too large; "
           "undecided: too little data):", "", markdown_table(tables["decisiveness"]), "",
           "Verdicts (pass / fail for claims, report for measured numbers, undecided where the "
           "data cannot decide):", "", _verdict_md(verdicts), ""]
    return SpecResult(tables={k if k.startswith("power") or k == "decisiveness" else
                              f"{k}_records": v for k, v in tables.items()}, figures=[],
                      markdown="\n".join(md), verdicts=verdicts)
