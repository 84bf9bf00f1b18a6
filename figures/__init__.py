"""Plotting from tidy result tables (matplotlib + seaborn, PNG and PDF, no LaTeX)."""
