"""Figures of the kappa study, drawn from its summary tables only.

`plot_kappa_measured`: measured quantities (SubOpt, regret, estimation error) against kappa,
one panel per quantity, one line per algorithm, with the interval the caller names (for
example a bootstrap interval of the mean over seeds). `plot_kappa_exponents`: the fitted
exponents in kappa with their intervals, measured beside the bounds' exponents.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import algorithm_style, save, themed

_KIND_MARKERS = {"measured": None, "bound (fitted)": "s", "bound (Table 1 formula)": "x"}


def _check_columns(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; the table has {list(df.columns)}")


@themed()
def plot_kappa_measured(summary: pd.DataFrame, path_stem: str, *, interval: str,
                        title: str = "Measured dependence on kappa") -> list[str]:
    """One log-log panel per value of `panel`: mean against kappa per algorithm, with the band
    [lo, hi] (described by `interval`, which the legend states). Panels whose means are not
    all positive are drawn on a linear y axis. Columns: panel, algorithm, kappa, mean, lo, hi."""
    _check_columns(summary, ["panel", "algorithm", "kappa", "mean", "lo", "hi"],
                   "plot_kappa_measured")
    if summary.empty:
        raise ValueError("plot_kappa_measured needs at least one row")
    panels = list(dict.fromkeys(summary["panel"]))
    ncol = min(2, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig = Figure(figsize=(5.0 * ncol, 3.4 * nrow + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, panel in zip(axes, panels):
        sub = summary[summary["panel"] == panel]
        positive = bool((sub["mean"] > 0).all() and (sub["lo"] > 0).all())
        for name, g in sub.groupby("algorithm", sort=False):
            g = g.sort_values("kappa")
            st = algorithm_style(str(name))
            ax.plot(g["kappa"], g["mean"], label=str(name), markersize=4, **st)
            ax.fill_between(g["kappa"], g["lo"], g["hi"], color=st["color"], alpha=0.18,
                            linewidth=0)
        ax.set_xscale("log")
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("kappa (global, set exactly)")
        ax.set_title(str(panel), fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    seen: dict[str, Any] = {}
    for ax in axes[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    handles, labels = list(seen.values()), list(seen)
    handles.append(Line2D([], [], color="0.5", linewidth=6, alpha=0.3))
    labels.append(f"shaded: {interval}")
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path_stem)


@themed()
def plot_kappa_exponents(exponents: pd.DataFrame, path_stem: str, *, interval: str,
                         title: str = "Exponents in kappa") -> list[str]:
    """Exponents in kappa with their intervals [lo, hi] (described by `interval`), one row per
    (quantity, algorithm), one panel per value of `panel`; the column `kind` tells measured
    exponents (filled circles with interval bars) from bounds' exponents (squares: a bound
    fitted on the instance; crosses: the exponent written in the bound's formula). Columns:
    panel, quantity, algorithm, kind, exponent, lo, hi."""
    _check_columns(exponents, ["panel", "quantity", "algorithm", "kind", "exponent", "lo", "hi"],
                   "plot_kappa_exponents")
    if exponents.empty:
        raise ValueError("plot_kappa_exponents needs at least one row")
    unknown = set(exponents["kind"]) - set(_KIND_MARKERS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; known: {list(_KIND_MARKERS)}")
    panels = list(dict.fromkeys(exponents["panel"]))
    heights = [exponents[exponents["panel"] == p][["quantity", "algorithm"]].drop_duplicates().shape[0]
               for p in panels]
    fig = Figure(figsize=(7.0, 0.32 * sum(heights) + 1.2 * len(panels) + 0.6),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(panels), 1, height_ratios=[h + 2 for h in heights]))
    for ax, panel in zip(axes, panels):
        sub = exponents[exponents["panel"] == panel]
        rows = list(dict.fromkeys(zip(sub["quantity"], sub["algorithm"])))
        for i, (q, alg) in enumerate(rows):
            st = algorithm_style(str(alg))
            for r in sub[(sub["quantity"] == q) & (sub["algorithm"] == alg)].itertuples():
                y = len(rows) - 1 - i
                if not np.isfinite(r.exponent):
                    continue
                if r.kind == "measured":
                    lo = r.lo if np.isfinite(r.lo) else ax.get_xlim()[0]
                    hi = r.hi if np.isfinite(r.hi) else ax.get_xlim()[1]
                    ax.errorbar(r.exponent, y, xerr=[[r.exponent - lo], [hi - r.exponent]],
                                color=st["color"], marker="o", capsize=3, linestyle="none")
                else:
                    ax.plot(r.exponent, y, color=st["color"], marker=_KIND_MARKERS[r.kind],
                            markerfacecolor="none", markersize=7, linestyle="none")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{q} - {a}" for q, a in reversed(rows)], fontsize=7)
        ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.set_title(str(panel), fontsize=9)
        ax.set_xlabel("exponent of kappa")
    legend = [Line2D([], [], color="0.3", marker="o", linestyle="-",
                     label=f"measured, bars: {interval}"),
              Line2D([], [], color="0.3", marker="s", markerfacecolor="none", linestyle="none",
                     label="bound evaluated on the instance (fitted)"),
              Line2D([], [], color="0.3", marker="x", linestyle="none",
                     label="exponent written in the Table 1 bound")]
    fig.legend(handles=legend, loc="outside lower center", ncol=1, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path_stem)


__all__ = ["plot_kappa_exponents", "plot_kappa_measured"]
