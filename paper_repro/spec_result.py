"""What a spec produces."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class SpecResult:
    """What one spec produced: tables by name, figure paths, and a Markdown section."""

    tables: dict[str, pd.DataFrame]
    figures: list[str]
    markdown: str
    config: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    """theory_checks verdicts computed from this spec's tables."""
    captions: dict[str, str] = field(default_factory=dict)
    """Caption per figure, keyed by the figure's path without extension: what it compares,
    what its intervals are, and the verdict of its paired test."""
