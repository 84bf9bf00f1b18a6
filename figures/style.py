"""One look for every figure: a fixed colour, marker and line style per algorithm, so that an
algorithm is recognisable across figures and in greyscale print (markers and dashes carry the
identity, not only the hue).

Figures are built as `matplotlib.figure.Figure` objects, not through pyplot: drawing them needs
no backend, and neither importing this package nor making a figure changes the process's
backend or its global rcParams (the theme applies only while a `themed` function runs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import seaborn as sns
from matplotlib import cycler
from matplotlib.figure import Figure

_PALETTE = sns.color_palette("colorblind", 10)
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
_DASHES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), "-", "--", "-."]

ALGORITHM_ORDER: tuple[str, ...] = ()
"""The default order of `set_algorithm_order`: none. figures knows no algorithm; the caller
(paper_repro) passes the registry's names, so that every algorithm keeps one slot across all
figures of a run; other names get the next free slot in order of first use. Within each group
of ten, colours are distinct; the (colour, marker, dash) triple is distinct for every slot."""

_assigned: dict[str, int] = {}


def set_algorithm_order(names: Sequence[str]) -> None:
    """Give `names` the fixed style slots 0, 1, 2, ... in this order, replacing the previous
    order (a repeated name keeps its first slot). Names not listed get the next free slot when
    first styled, as before."""
    if isinstance(names, str):
        raise ValueError("names must be a sequence of algorithm names, not one string")
    order: dict[str, int] = {}
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"algorithm names must be strings, got {name!r}")
        order.setdefault(name, len(order))
    _assigned.clear()
    _assigned.update(order)


set_algorithm_order(ALGORITHM_ORDER)


def algorithm_style(name: str) -> dict:
    """matplotlib keyword arguments (color, marker, linestyle) for an algorithm name."""
    if name not in _assigned:
        _assigned[name] = len(_assigned)
    k = _assigned[name]
    i = k % len(_PALETTE)
    shift = 3 * (k // len(_PALETTE))  # past ten names, colours repeat with other markers/dashes
    return dict(color=_PALETTE[i], marker=_MARKERS[(i + shift) % len(_MARKERS)],
                linestyle=_DASHES[(i + shift + 1) % len(_DASHES)] if shift else _DASHES[i])


def theme_rc(font_scale: float = 1.1) -> dict:
    """The rcParams of the project's look: what seaborn's
    `set_theme(style="whitegrid", context="paper", font_scale=...)` sets, as a dictionary."""
    return {**sns.plotting_context("paper", font_scale),
            **sns.axes_style("whitegrid", rc={"font.family": "sans-serif"}),
            "axes.prop_cycle": cycler("color", sns.color_palette("deep"))}


_P = ParamSpec("_P")
_R = TypeVar("_R")


def themed(font_scale: float = 1.1) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator: the function runs with `theme_rc(font_scale)` in force, restored afterwards.
    It must make and save its figures inside (ticks, grids and text read the theme when they
    are drawn)."""
    def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with mpl.rc_context(theme_rc(font_scale)):
                return fn(*args, **kwargs)
        return run
    return decorate


def new_figure(width: float = 5.5, height: float = 3.8):
    """A figure and axes (no LaTeX needed), in the project's style when called inside a
    `themed` function."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def save(fig: Figure, path_stem: str) -> list[str]:
    """Write PNG and PDF next to each other; returns the paths."""
    paths = []
    for ext in ("png", "pdf"):
        p = f"{path_stem}.{ext}"
        fig.savefig(p, dpi=150)
        paths.append(p)
    return paths
