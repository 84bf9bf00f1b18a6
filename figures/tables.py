"""Markdown rendering of result tables (no extra dependency)."""

from __future__ import annotations

import numbers

import pandas as pd


def _cell(v, floatfmt: str) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, numbers.Integral):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, numbers.Real):
        return format(v, floatfmt)
    return str(v)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table of df (index dropped)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)
