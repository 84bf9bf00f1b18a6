"""Figures of the constants sweep, drawn from its summary tables only.

`plot_ratio_heatmaps`: one heatmap per panel over the grid eta x lambda (for example the error
ratio of one-pass OMD to the MLE in each family, and the worst regret ratio), the value written
in every cell and the chosen pair boxed. `plot_cg_sweep`: an error ratio of the CG update
against the number of CG steps, one line per setting.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from .style import save, themed


def _check_columns(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; the table has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{what} needs at least one row")


def _eta_key(eta: str) -> float:
    try:
        return float(eta)
    except ValueError:
        return -math.inf


@themed()
def plot_ratio_heatmaps(table: pd.DataFrame, path_stem: str, *,
                        chosen: tuple[str, float] | None = None,
                        title: str = "Ratios over eta x lambda") -> list[str]:
    """One heatmap per value of `panel`: rows eta (non-numeric labels first, then increasing),
    columns lambda / L^2 (increasing), colour and text the value; the cell (eta, lam) ==
    `chosen` is boxed. Columns: panel, eta, lam, value."""
    _check_columns(table, ["panel", "eta", "lam", "value"], "plot_ratio_heatmaps")
    t = table.assign(eta=table["eta"].astype(str), lam=table["lam"].astype(float))
    etas = sorted(t["eta"].unique(), key=_eta_key)
    lams = sorted(t["lam"].unique())
    panels = list(dict.fromkeys(t["panel"]))
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig = Figure(figsize=(3.6 * ncol, 2.9 * nrow + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, panel in zip(axes, panels):
        piv = (t[t["panel"] == panel].pivot_table(index="eta", columns="lam", values="value")
               .reindex(index=etas, columns=lams))
        m = piv.to_numpy(dtype=float)
        im = ax.imshow(m, cmap="viridis_r", aspect="auto")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > np.nanmean(m) else "black")
        if chosen is not None and str(chosen[0]) in etas and float(chosen[1]) in lams:
            i, j = etas.index(str(chosen[0])), lams.index(float(chosen[1]))
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red",
                                   linewidth=2))
        ax.set_xticks(range(len(lams)), [f"{v:g}" for v in lams])
        ax.set_yticks(range(len(etas)), etas)
        ax.set_xlabel("lambda / L^2")
        ax.set_ylabel("eta")
        ax.grid(False)
        ax.set_title(str(panel), fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return save(fig, path_stem)


@themed()
def plot_cg_sweep(table: pd.DataFrame, path_stem: str, *, y: str = "worst_ratio_to_omd_select",
                  tolerance: float = 0.02,
                  title: str = "CG update: error ratio against CG steps") -> list[str]:
    """`y` against the number of CG steps K (columns K: integers as strings and "d", drawn in
    that order), one line per value of `setting`, with the lines 1 and 1 + tolerance.
    Columns: setting, K, and `y`."""
    _check_columns(table, ["setting", "K", y], "plot_cg_sweep")
    ks = sorted(table["K"].astype(str).unique(),
                key=lambda k: math.inf if not k.isdigit() else int(k))
    fig = Figure(figsize=(7.5, 4.0), layout="constrained")
    ax = fig.subplots()
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for i, (name, g) in enumerate(table.groupby("setting", sort=False)):
        g = g.assign(_x=[ks.index(str(k)) for k in g["K"]]).sort_values("_x")
        ax.plot(g["_x"], g[y], marker=markers[i % len(markers)], markersize=4,
                linestyle="-" if i < 10 else "--", label=str(name))
    ax.axhline(1.0, color="0.3", linewidth=1)
    ax.axhline(1.0 + tolerance, color="0.3", linewidth=1, linestyle="--",
               label=f"1 + {tolerance:g}")
    ax.set_xticks(range(len(ks)), ks)
    ax.set_xlabel("CG steps K per mini-batch (d: exact inner solve)")
    ax.set_ylabel("worst error ratio to one-pass OMD")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=8)
    return save(fig, path_stem)


__all__ = ["plot_cg_sweep", "plot_ratio_heatmaps"]
