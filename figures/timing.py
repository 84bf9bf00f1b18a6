"""Figures of the timing study, drawn from its tables only (paper_repro.timing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import algorithm_style, new_figure, save, themed


@themed()
def plot_time_per_round(update_vs_t: pd.DataFrame, mle_refit_vs_t: pd.DataFrame,
                        path_stem: str) -> list[str]:
    """Time per round against t (log-log): one-pass OMD (time per update, per chunk of the
    stream) against the MLE baseline (time of one warm-started refit at t)."""
    fig, ax = new_figure()
    st = algorithm_style("omd")
    ax.plot(update_vs_t["t"], update_vs_t["seconds_per_update"], label="one-pass OMD: update",
            color=st["color"], linestyle=st["linestyle"], marker=st["marker"], markevery=0.1,
            markersize=4)
    sm = algorithm_style("mle")
    ax.plot(mle_refit_vs_t["t"], mle_refit_vs_t["seconds_per_refit"], label="MLE: refit",
            **sm)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("round t")
    ax.set_ylabel("seconds per round")
    ax.set_title("Cost per round against t")
    ax.legend()
    return save(fig, path_stem)


@themed()
def plot_throughput(throughput: pd.DataFrame, path_stem: str) -> list[str]:
    """OMD updates per second against d (log-log), per projection mode, with the arithmetic
    floor of the two d x d passes."""
    fig, ax = new_figure()
    for mode, grp in throughput.groupby("mode", sort=False):
        st = algorithm_style(f"timing:{mode}")
        ax.plot(grp["d"], grp["updates_per_s"], label=mode, **st)
    ds = np.array(sorted(throughput["d"].unique()), dtype=float)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ds, [str(int(d)) for d in ds])
    ax.set_xlabel("dimension d")
    ax.set_ylabel("updates per second (one core)")
    ax.set_title("One-pass OMD throughput")
    ax.legend(fontsize=8)
    return save(fig, path_stem)
