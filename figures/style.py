"""One look for every figure: a fixed colour, marker and line style per algorithm, so that an
algorithm is recognisable across figures and in greyscale print (markers and dashes carry the
identity, not only the hue)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

_PALETTE = sns.color_palette("colorblind", 10)
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
_DASHES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), "-", "--", "-."]

ALGORITHM_ORDER = (
    "omd", "mle", "sgd", "implicit_omd", "cg_omd", "omd (no projection)",
    "passive-omd-pessimistic", "passive-mle-pessimistic-zhu", "passive-omd-greedy",
    "passive-mle-greedy", "passive-omd-lcb-proxy", "passive-sgd-greedy",
    "active-omd", "apo", "random-omd", "random-mle", "active-mle", "apo-weighted",
    "algorithm4", "dueling-rl-mle", "maxinp-mle", "colstim-mle", "random-pair-omd",
    "llm-quantile-omd", "llm-quantile-mle", "llm-best-second-omd", "llm-best-second-mle",
    "llm-best-worst-omd", "llm-best-worst-mle", "llm-random-omd", "llm-random-mle",
)
"""Known names get fixed slots (so an algorithm looks the same in every figure); other names get
the next free slot in order of first use. Within each group of ten, colours are distinct; the
(colour, marker, dash) triple is distinct for every slot."""

_assigned: dict[str, int] = {name: i for i, name in enumerate(ALGORITHM_ORDER)}


def algorithm_style(name: str) -> dict:
    """matplotlib keyword arguments (color, marker, linestyle) for an algorithm name."""
    if name not in _assigned:
        _assigned[name] = len(_assigned)
    k = _assigned[name]
    i = k % len(_PALETTE)
    shift = 3 * (k // len(_PALETTE))  # past ten names, colours repeat with other markers/dashes
    return dict(color=_PALETTE[i], marker=_MARKERS[(i + shift) % len(_MARKERS)],
                linestyle=_DASHES[(i + shift + 1) % len(_DASHES)] if shift else _DASHES[i])


def new_figure(width: float = 5.5, height: float = 3.8):
    """A figure and axes in the project's style (no LaTeX needed)."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    return plt.subplots(figsize=(width, height), constrained_layout=True)


def save(fig, path_stem: str) -> list[str]:
    """Write PNG and PDF next to each other; returns the paths."""
    paths = []
    for ext in ("png", "pdf"):
        p = f"{path_stem}.{ext}"
        fig.savefig(p, dpi=150)
        paths.append(p)
    plt.close(fig)
    return paths
