"""Figures of the stage experiments, drawn from tidy result tables only.

Every function takes a long table (one row per algorithm, seed and round or checkpoint) and
writes PNG and PDF; bands and error bars are 95% confidence intervals of the mean over seeds
(Student t), and every figure says so on its axes; algorithms keep their colour, marker and dash
across figures (figures.style). `plot_paired` draws the paired differences against a reference
algorithm with their intervals and verdicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as t_dist

from .style import algorithm_style, new_figure, save, themed


def _check_columns(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; the table has {list(df.columns)}")


BAND_NOTE = "bands: 95% CI of the mean over seeds"


def ci_half_width(std: np.ndarray, count: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Half-width t_{n-1} std / sqrt(n) of the Student-t interval of a mean (NaN for n < 2)."""
    n = np.asarray(count, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(n >= 2, t_dist.ppf(0.5 + level / 2, np.maximum(n - 1, 1)), np.nan)
        return q * np.asarray(std, dtype=float) / np.sqrt(n)


def mean_std(df: pd.DataFrame, x: str, y: str, by: str = "algorithm") -> pd.DataFrame:
    """Mean, std, count and the 95% CI half-width of the mean (column ci) of y over seeds for
    each (by, x)."""
    g = df.groupby([by, x], sort=True)[y]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["ci"] = ci_half_width(out["std"].to_numpy(), out["count"].to_numpy())
    return out


def _note(ax, text: str = BAND_NOTE) -> None:
    ax.annotate(text, xy=(0.01, 0.01), xycoords="axes fraction", fontsize=6, color="0.35",
                ha="left", va="bottom")


def _curves(ax, df, x, y, by, band=True, log=True):
    stats = mean_std(df, x, y, by)
    for name, grp in stats.groupby(by, sort=False):
        st = algorithm_style(str(name))
        m = grp["mean"].to_numpy()
        xs = grp[x].to_numpy()
        h = grp["ci"].to_numpy()
        if log:
            keep = m > 0
            xs, m, h = xs[keep], m[keep], h[keep]
        ax.plot(xs, m, label=str(name), markevery=max(1, len(xs) // 8), markersize=4, **st)
        if band and len(xs) and np.isfinite(h).any():
            h = np.nan_to_num(h)
            lo = m * m / (m + h) if log else m - h  # on log axes: m / (1 + h/m), never <= 0
            ax.fill_between(xs, lo, m + h, color=st["color"], alpha=0.15, linewidth=0)
    if band:
        _note(ax)


def _overlay(ax, df, x, col, label, style):
    if col in df.columns and df[col].notna().any():
        stats = mean_std(df.dropna(subset=[col]), x, col)
        for i, (name, grp) in enumerate(stats.groupby("algorithm", sort=False)):
            ax.plot(grp[x], grp["mean"], color=algorithm_style(str(name))["color"],
                    linestyle=style, linewidth=1.0, alpha=0.8,
                    label=f"{label}" if i == 0 else None)


@themed()
def plot_suboptimality(df: pd.DataFrame, path_stem: str, *, title: str = "Suboptimality",
                       x: str = "t") -> list[str]:
    """SubOpt against the number of samples (log-log), bands over seeds, with the instance bound
    (column instance_bound) and the closed-form bound (column closed_form_bound) overlaid when
    present (thin lines, dotted and dash-dotted, in the algorithm's colour)."""
    _check_columns(df, ["algorithm", x, "subopt"], "plot_suboptimality")
    fig, ax = new_figure()
    _curves(ax, df, x, "subopt", "algorithm")
    _overlay(ax, df, x, "instance_bound", "instance bound", ":")
    _overlay(ax, df, x, "closed_form_bound", "closed-form bound (C = 1)", "-.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples T")
    ax.set_ylabel("SubOpt = J(pi*) - J(pi)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path_stem)


@themed()
def plot_regret(df: pd.DataFrame, path_stem: str, *, title: str = "Cumulative regret",
                x: str = "t", y: str = "regret", logy: bool = False) -> list[str]:
    """Cumulative regret against rounds with bands over seeds, instance bound overlaid when
    the column instance_bound is present."""
    _check_columns(df, ["algorithm", x, y], "plot_regret")
    fig, ax = new_figure()
    _curves(ax, df, x, y, "algorithm", log=logy)
    if logy:
        _overlay(ax, df, x, "instance_bound", "instance bound", ":")
        ax.set_yscale("log")
    ax.set_xscale("log" if logy else "linear")
    ax.set_xlabel("round t")
    ax.set_ylabel("cumulative regret Reg_t")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path_stem)


@themed()
def plot_kappa_sweep(df: pd.DataFrame, path_stem: str, *, metric: str,
                     bound_cols: tuple[str, ...] = ("bound_omd", "bound_mle"),
                     title: str = "Dependence on kappa") -> list[str]:
    """Final metric (SubOpt or regret) against kappa (log-log) per algorithm, bands over seeds,
    with the closed-form bounds of the OMD-based and MLE-based methods (normalised to the first
    kappa so that their slopes, sqrt(kappa) against kappa, can be compared)."""
    _check_columns(df, ["algorithm", "kappa", metric], "plot_kappa_sweep")
    fig, ax = new_figure()
    _curves(ax, df, "kappa", metric, "algorithm")
    ref = df.groupby("kappa")[metric].mean()
    for col, ls in zip(bound_cols, (":", "-.")):
        if col in df.columns:
            b = df.groupby("kappa")[col].mean()
            ax.plot(b.index, b.to_numpy() / b.iloc[0] * ref.iloc[0], color="0.3", linestyle=ls,
                    linewidth=1.2, label=f"{col} (shape)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("kappa")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path_stem)


def accuracy_time_table(df: pd.DataFrame, *, acc: str = "eval_acc", time: str = "wall_time") -> pd.DataFrame:
    """Per algorithm: accuracy mean, std and 95% CI half-width of the mean over seeds (in %),
    mean wall time (s), and, when the table has eval_acc_bayes, the ceiling theta* itself
    reaches on the same held-out pairs (in %)."""
    _check_columns(df, ["algorithm", acc, time], "accuracy_time_table")
    g = df.groupby("algorithm", sort=False)
    out = pd.DataFrame({"accuracy_mean_pct": 100 * g[acc].mean(), "accuracy_std_pct": 100 * g[acc].std(),
                        "wall_time_s": g[time].mean(), "seeds": g[acc].count()}).reset_index()
    out.insert(3, "accuracy_ci_pct", ci_half_width(out["accuracy_std_pct"].to_numpy(),
                                                   out["seeds"].to_numpy()))
    if "eval_acc_bayes" in df.columns:
        out["bayes_ceiling_pct"] = (100 * g["eval_acc_bayes"].mean()).to_numpy()
    return out


@themed()
def plot_accuracy_time(df: pd.DataFrame, path_stem: str, *, acc: str = "eval_acc",
                       time: str = "wall_time", title: str = "Accuracy and time") -> list[str]:
    """The active-learning table of the paper as a figure: accuracy (mean over seeds, 95% CI
    of the mean) against wall time, one point per algorithm, with the Bayes ceiling (theta*'s
    own held-out accuracy) as a dashed line when the table has eval_acc_bayes."""
    tab = accuracy_time_table(df, acc=acc, time=time)
    fig, ax = new_figure()
    for row in tab.itertuples(index=False):
        st = algorithm_style(str(row.algorithm))
        ax.errorbar(row.wall_time_s, row.accuracy_mean_pct, yerr=np.nan_to_num(row.accuracy_ci_pct),
                    color=st["color"], marker=st["marker"], capsize=3, linestyle="none",
                    label=str(row.algorithm))
    if "bayes_ceiling_pct" in tab.columns:
        ax.axhline(float(tab["bayes_ceiling_pct"].mean()), color="0.3", linestyle="--",
                   linewidth=1.0, label="theta* (Bayes ceiling)")
    _note(ax, "error bars: 95% CI of the mean over seeds")
    ax.set_xscale("log")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("held-out pairwise accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save(fig, path_stem)


@themed()
def plot_paired(tab: pd.DataFrame, path_stem: str, *, title: str, xlabel: str) -> list[str]:
    """Paired differences against a reference (`theory_checks.paired.paired_differences`
    columns: algorithm, diff, ci_low, ci_high, verdict): one row per algorithm, the mean
    per-seed difference with its 95% CI, a line at 0, and the verdict written beside it."""
    _check_columns(tab, ["algorithm", "diff", "ci_low", "ci_high", "verdict"], "plot_paired")
    fig, ax = new_figure(height=max(2.2, 0.45 * len(tab) + 1.2))
    ys = np.arange(len(tab))[::-1]
    for y, row in zip(ys, tab.itertuples(index=False)):
        st = algorithm_style(str(row.algorithm))
        lo, hi = float(row.ci_low), float(row.ci_high)
        err = [[row.diff - lo], [hi - row.diff]] if np.isfinite(lo) and np.isfinite(hi) else None
        ax.errorbar(row.diff, y, xerr=err, color=st["color"], marker=st["marker"], capsize=3,
                    linestyle="none")
        ax.annotate(f" {row.verdict}", xy=(1.0, y), xycoords=("axes fraction", "data"),
                    fontsize=7, va="center", ha="left")
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_yticks(ys, [str(a) for a in tab["algorithm"]], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    _note(ax, "error bars: 95% CI of the mean paired difference")
    return save(fig, path_stem)
