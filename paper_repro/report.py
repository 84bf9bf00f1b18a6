"""The report of a paper_repro run: Markdown with every figure, table and how to reproduce it."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from .specs import SpecResult

_PACKAGES = ("numpy", "scipy", "numba", "pandas", "matplotlib", "seaborn", "pyarrow")


def _versions() -> str:
    out = [f"python {platform.python_version()}"]
    for p in _PACKAGES:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} (not installed)")
    return ", ".join(out)


def _commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True,
                               text=True, check=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def write_report(out: str, scale: str, results: dict[str, SpecResult], argv: list[str],
                 elapsed: float) -> str:
    """Write out/report.md and return its path. Figures are linked relative to out."""
    lines = ["# paper_repro report", "",
             f"Scale: **{scale}**. Specs: {', '.join(results)}. Wall time: {elapsed:.1f} s.", ""]
    verdicts = [v for res in results.values() for v in res.verdicts]
    if verdicts:
        from theory_checks.verdicts import verdict_table

        from .tables import markdown_table

        n = {k: sum(v.verdict == k for v in verdicts) for k in ("pass", "fail", "report")}
        lines += ["## Verdicts", "",
                  f"{len(verdicts)} checks: {n['pass']} pass, {n['fail']} fail, {n['report']} "
                  "reported (numbers without a claim).", ""]
        failed = [v for v in verdicts if v.verdict == "fail"]
        if failed:
            lines += ["Failed checks:", "", markdown_table(verdict_table(failed), ".4g"), ""]
    for name, res in results.items():
        lines += [f"## {name}", "", res.markdown, ""]
        for fig in res.figures:
            if fig.endswith(".png"):
                rel = os.path.relpath(fig, out)
                lines += [f"![{name}: {os.path.basename(fig)}]({rel})", ""]
        pdfs = [os.path.relpath(f, out) for f in res.figures if f.endswith(".pdf")]
        if pdfs:
            lines += ["PDF versions: " + ", ".join(f"[{p}]({p})" for p in pdfs), ""]
        tables = [f"tables/{name}_{t}.csv" for t in res.tables]
        lines += ["Tables: " + ", ".join(f"[{t}]({t})" for t in tables), ""]
    lines += ["## How to reproduce", "",
              f"    python -m paper_repro {' '.join(argv)}".rstrip(), "",
              f"- commit: {_commit()}",
              f"- versions: {_versions()}",
              f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
              f"- written: {datetime.now(UTC).isoformat(timespec='seconds')}",
              "- seeds: each spec's configuration (below) holds its seed; same seed, same numbers "
              "(timings aside).", ""]
    for name, res in results.items():
        if res.config:
            lines += [f"Configuration of `{name}`:", "", "```",
                      *(f"{k} = {v!r}" for k, v in res.config.items()), "```", ""]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path
