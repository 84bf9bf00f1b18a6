"""Figures of the K-wise (Plackett-Luce) study, drawn from its tables only."""

from __future__ import annotations

import pandas as pd

from .style import algorithm_style, new_figure, save, themed


@themed()
def plot_lines(df: pd.DataFrame, x: str, y: str, by: str, path_stem: str, *, title: str,
               xlabel: str | None = None, ylabel: str | None = None, logx: bool = True,
               logy: bool = True) -> list[str]:
    """Mean of y against x over seeds (band: +- one standard deviation), one line per value
    of the column `by`."""
    fig, ax = new_figure()
    for key, grp in df.groupby(by, sort=True):
        st = algorithm_style(f"kwise:{by}={key}")
        g = grp.groupby(x)[y].agg(["mean", "std"]).reset_index()
        ax.plot(g[x], g["mean"], label=f"{by} = {key}", **st)
        ax.fill_between(g[x], g["mean"] - g["std"].fillna(0.0), g["mean"] + g["std"].fillna(0.0),
                        color=st["color"], alpha=0.15, linewidth=0)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path_stem)


__all__ = ["plot_lines"]
