"""Figures of the real-data experiments (the paper's Figs. 2, 3 and 4 in miniature), drawn
from their tidy tables only; PNG and PDF, bands = mean +- one standard deviation over seeds
(none with one seed), styles from figures.style. `plot_interval_curves` draws the bands a
table gives (columns <metric>_lo, <metric>_hi, e.g. a bootstrap interval) and the horizontal
lines of trivial baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .curves import mean_std
from .style import algorithm_style, save, themed

TRAINING_PANELS: tuple[tuple[str, str], ...] = (
    ("train_loss", "train loss (pairs seen so far)"), ("train_acc", "train accuracy"),
    ("eval_loss", "eval loss (held-out pairs)"), ("eval_acc", "eval accuracy"))

MODEL_DASHES = {"omd": "-", "mle": "--"}
"""Line style of each reward model in the deployment figures."""

_CB = sns.color_palette("colorblind", 10)
STRATEGY_STYLES: dict[str, tuple[str, dict]] = {
    "random": ("Random", dict(color=_CB[7], marker="o")),
    "best-second": ("Best+Second", dict(color=_CB[0], marker="s")),
    "best-worst": ("Best+Worst", dict(color=_CB[1], marker="v")),
    "quantile": ("paper (best + top-1/q)", dict(color=_CB[2], marker="D")),
}
"""Legend name and fixed colour/marker of each deployment strategy."""

_ERROR_BARS = (0.1, 0.1, 0.1)
"""Colour of error bars: the near-black of seaborn's palettes."""


def _check_columns(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; the table has {list(df.columns)}")


def _panels(nrows: int, ncols: int, width: float, height: float):
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _band(ax, stats: pd.DataFrame, x: str, label: str, style: dict) -> None:
    xs, m, s = stats[x].to_numpy(), stats["mean"].to_numpy(), stats["std"].to_numpy()
    ax.plot(xs, m, label=label, markevery=max(1, len(xs) // 8), markersize=3, **style)
    if np.isfinite(s).any():
        s = np.nan_to_num(s)
        ax.fill_between(xs, m - s, m + s, color=style["color"], alpha=0.15, linewidth=0)


@themed(font_scale=1.0)
def plot_training_curves(df: pd.DataFrame, path_stem: str, *, labels: dict | None = None,
                         title: str = "Passive one-pass training") -> list[str]:
    """Four panels against the number of training pairs seen (log x): train loss, train
    accuracy, eval loss, eval accuracy; one line per `method` (styled by the method's name,
    labelled labels[method] when given)."""
    _check_columns(df, ["method", "t", *(c for c, _ in TRAINING_PANELS)], "plot_training_curves")
    labels = labels or {}
    fig, axes = _panels(2, 2, 9.0, 6.0)
    for ax, (col, ylabel) in zip(axes, TRAINING_PANELS):
        stats = mean_std(df, "t", col, by="method")
        for name, grp in stats.groupby("method", sort=False):
            _band(ax, grp, "t", labels.get(name, str(name)), algorithm_style(str(name)))
        if col.endswith("_acc"):
            ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_xlabel("training pairs seen t")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return save(fig, path_stem)


@themed(font_scale=1.0)
def plot_active_table(df: pd.DataFrame, path_stem: str, *, by: str = "algorithm",
                      title: str = "Active selection on real pairs") -> list[str]:
    """The paper's active-learning table as two panels: held-out accuracy (mean +- std over
    seeds, %) and learner wall time (s, log scale), one bar per method."""
    _check_columns(df, [by, "eval_acc", "wall_time"], "plot_active_table")
    g = df.groupby(by, sort=False)
    acc = 100 * g["eval_acc"].agg(["mean", "std"])
    wall = g["wall_time"].agg(["mean", "std"])
    names = list(acc.index)
    colors = [algorithm_style(str(n))["color"] for n in names]
    fig, (ax_acc, ax_time) = _panels(1, 2, 9.0, 3.6)
    pos = np.arange(len(names))
    ax_acc.bar(pos, acc["mean"], yerr=np.nan_to_num(acc["std"]), color=colors, capsize=3,
               ecolor=_ERROR_BARS)
    spread = np.nan_to_num(acc["std"])
    lo = max(0.0, float(np.nanmin(acc["mean"] - spread)) - 5.0)
    ax_acc.set_ylim(lo, max(lo + 10.0, float(np.nanmax(acc["mean"] + spread)) + 3.0))
    ax_acc.axhline(50.0, color="0.5", linewidth=0.8, linestyle=":")
    ax_acc.set_ylabel("held-out pairwise accuracy (%)")
    ax_time.bar(pos, wall["mean"], yerr=np.nan_to_num(wall["std"]), color=colors, capsize=3,
                ecolor=_ERROR_BARS)
    ax_time.set_yscale("log")
    ax_time.set_ylabel("learner wall time (s)")
    for ax in (ax_acc, ax_time):
        ax.set_xticks(pos)
        ax.set_xticklabels([str(n) for n in names], rotation=20, ha="right", fontsize=8)
    fig.suptitle(title)
    return save(fig, path_stem)


@themed(font_scale=1.0)
def plot_deployment_curves(df: pd.DataFrame, path_stem: str, *,
                           title: str = "Deployment on AlpacaEval") -> list[str]:
    """Two panels against rounds: cumulative reward of the shown pairs and running win rate
    of the greedy answer; colour and marker by strategy, solid for OMD and dashed for MLE
    reward models."""
    _check_columns(df, ["strategy", "reward_model", "t", "cum_reward", "win_rate"],
                   "plot_deployment_curves")
    fig, axes = _panels(1, 2, 10.0, 4.0)
    for ax, col, ylabel in ((axes[0], "cum_reward", "cumulative reward of shown pairs"),
                            (axes[1], "win_rate", "win rate vs reference (running mean)")):
        for (strategy, model), grp in df.groupby(["strategy", "reward_model"], sort=False):
            stats = grp.groupby("t")[col].agg(["mean", "std"]).reset_index()
            name, style = STRATEGY_STYLES.get(str(strategy), (str(strategy),
                                                             algorithm_style(str(strategy))))
            style = {**style, "linestyle": MODEL_DASHES.get(str(model), ":")}
            _band(ax, stats, "t", f"{name}, {str(model).upper()}", style)
        ax.set_xlabel("round t")
        ax.set_ylabel(ylabel)
        if col == "win_rate":
            ax.set_ylim(0.0, 1.0)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return save(fig, path_stem)


_BASELINE_STYLES = ({"color": "0.35", "linestyle": ":"}, {"color": "0.55", "linestyle": "-."},
                    {"color": "0.2", "linestyle": (0, (1, 3))}, {"color": "0.7", "linestyle": "--"})
"""Grey, dashed styles of the trivial baselines' horizontal lines."""


@themed(font_scale=1.0)
def plot_interval_curves(df: pd.DataFrame, path_stem: str, *,
                         panels: tuple[tuple[str, str], ...], x: str = "t", by: str = "method",
                         labels: dict | None = None,
                         baselines: dict[str, list[tuple[str, float]]] | None = None,
                         xlabel: str = "training pairs seen t", logx: bool = True,
                         title: str = "") -> list[str]:
    """One panel per (column, y label) of `panels` against x, one line per value of `by`, with
    a band from the columns <column>_lo to <column>_hi when the table has them (e.g. a 95%
    interval), and the horizontal lines baselines[column] = [(name, value), ...] of fixed rules
    (grey, dashed, named in the legend). The table holds one row per (by, x)."""
    _check_columns(df, [by, x, *(c for c, _ in panels)], "plot_interval_curves")
    labels = labels or {}
    baselines = baselines or {}
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = _panels(nrows, ncols, 4.6 * ncols, 3.2 * nrows)
    for ax, (col, ylabel) in zip(axes, panels):
        for name, grp in df.groupby(by, sort=False):
            grp = grp.sort_values(x)
            style = algorithm_style(str(name))
            xs, m = grp[x].to_numpy(), grp[col].to_numpy(dtype=float)
            ax.plot(xs, m, label=labels.get(name, str(name)), markevery=max(1, len(xs) // 8),
                    markersize=3, **style)
            lo, hi = f"{col}_lo", f"{col}_hi"
            if lo in grp.columns and hi in grp.columns:
                low, high = grp[lo].to_numpy(dtype=float), grp[hi].to_numpy(dtype=float)
                if np.isfinite(low).any():
                    ax.fill_between(xs, low, high, color=style["color"], alpha=0.15, linewidth=0)
        for k, (name, value) in enumerate(baselines.get(col, [])):
            ax.axhline(value, linewidth=1.0, label=name,
                       **_BASELINE_STYLES[k % len(_BASELINE_STYLES)])
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    for ax in axes[1:len(panels)]:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    axes[0].legend(handles, names, fontsize=7)
    if title:
        fig.suptitle(title)
    return save(fig, path_stem)
