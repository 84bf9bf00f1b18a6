"""Markdown tables (moved to figures.tables; kept as an import path)."""

from figures.tables import markdown_table

__all__ = ["markdown_table"]
