"""The report of a paper_repro run: Markdown with every figure, table and how to reproduce it."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import pandas as pd

from .fingerprint import PACKAGES, code_fingerprint
from .runner import UNRECORDED, SweepRecord
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


def _fingerprints(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} from {'code that recorded no fingerprint' if fp == UNRECORDED else fp}"
                     for fp, n in sorted(counts.items()))


def provenance_lines(records: list[SweepRecord]) -> tuple[list[str], bool]:
    """Markdown lines saying where the cells of a spec's tables came from, and whether any of
    them was reused from other code (stale)."""
    if not records:
        return [], False
    fps = sorted({r.fingerprint for r in records})
    total = sum(r.cells for r in records)
    computed = sum(r.computed for r in records)
    reused = sum(r.reused for r in records)
    stale: dict[str, int] = {}
    recomputed: dict[str, int] = {}
    for r in records:
        for fp, n in r.stale_reused.items():
            stale[fp] = stale.get(fp, 0) + n
        for fp, n in r.stale_recomputed.items():
            recomputed[fp] = recomputed.get(fp, 0) + n
    quarantined = [q for r in records for q in r.quarantined]
    line = (f"Cells: {total}; {computed} computed by this run, {reused} reused from the store "
            f"(computed earlier by this code, fingerprint {', '.join(fps)})")
    if recomputed:
        line += f"; recomputed because other code had computed them: {_fingerprints(recomputed)}"
    lines = [line + ".", ""]
    if quarantined:
        lines += [f"Damaged result files moved aside and recomputed: {len(quarantined)} "
                  f"({', '.join(os.path.basename(q) for q in quarantined[:5])}"
                  f"{', ...' if len(quarantined) > 5 else ''}).", ""]
    if stale:
        lines += [f"**Stale cells (--reuse-stale): {sum(stale.values())} cells were reused from "
                  f"other code: {_fingerprints(stale)}. The tables of this section mix results of "
                  "that code with the current one.**", ""]
    return lines, bool(stale)


def run_times_table(run_times: Sequence[Mapping]) -> pd.DataFrame:
    """One row per spec of this run: its predicted wall seconds (printed before it ran, from
    `paper_repro.estimate`; NaN when there was none), its measured wall seconds and the ratio,
    the sweep cells it computed and those it took from the store (a resumed run computes only
    the rest), the backend and the workers."""
    cols = ["spec", "predicted_s", "measured_s", "measured_over_predicted", "cells_computed",
            "cells_from_store", "backend", "workers"]
    rows = []
    for r in run_times:
        pred = r.get("predicted_s")
        pred = float(pred) if pred is not None and math.isfinite(float(pred)) else math.nan
        meas = float(r["measured_s"])
        rows.append(dict(spec=r["spec"], predicted_s=pred, measured_s=meas,
                         measured_over_predicted=meas / pred if pred > 0 else math.nan,
                         cells_computed=int(r.get("cells_computed", 0)),
                         cells_from_store=int(r.get("cells_from_store", 0)),
                         backend=r.get("backend", ""), workers=r.get("workers", "")))
    return pd.DataFrame(rows, columns=cols)


def write_report(out: str, scale: str, results: dict[str, SpecResult], argv: list[str],
                 elapsed: float, provenance: dict[str, list[SweepRecord]] | None = None,
                 run_times: Sequence[Mapping] | None = None) -> str:
    """Write out/report.md and return its path. Figures are linked relative to out.
    `provenance`: the sweep records of each spec (paper_repro.runner.sweep_session), stated
    under each spec's heading; tables with stale cells are marked as such. `run_times`: what
    each spec was predicted to cost and what it took (`run_times_table`), reported first."""
    provenance = provenance or {}
    lines = ["# paper_repro report", "",
             f"Scale: **{scale}**. Specs: {', '.join(results)}. Wall time: {elapsed:.1f} s.", ""]
    if run_times:
        from .tables import markdown_table as _md

        lines += ["## Run times", "",
                  "Predicted wall seconds (printed before each spec ran, from cost laws measured "
                  "on this machine: `--estimate`) beside the measured ones; cells from the store "
                  "were finished by an earlier, interrupted or complete, run of the same code.",
                  "", _md(run_times_table(run_times), ".4g"), ""]
    stale_specs = [n for n in results if provenance_lines(provenance.get(n, []))[1]]
    if stale_specs:
        lines += [f"**Stale results**: the tables of {', '.join(stale_specs)} reuse cells computed "
                  "by other code (--reuse-stale); see their sections.", ""]
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
        origin, stale = provenance_lines(provenance.get(name, []))
        lines += [f"## {name}", "", *origin, res.markdown, ""]
        for fig in res.figures:
            if fig.endswith(".png"):
                rel = os.path.relpath(fig, out)
                lines += [f"![{name}: {os.path.basename(fig)}]({rel})", ""]
                caption = res.captions.get(os.path.splitext(fig)[0])
                if caption:
                    lines += [f"*Figure {os.path.basename(fig)}: {caption}*", ""]
        pdfs = [os.path.relpath(f, out) for f in res.figures if f.endswith(".pdf")]
        if pdfs:
            lines += ["PDF versions: " + ", ".join(f"[{p}]({p})" for p in pdfs), ""]
        tables = [f"tables/{name}_{t}.csv" for t in res.tables]
        mark = " (stale: reuse cells of other code)" if stale else ""
        lines += ["Tables: " + ", ".join(f"[{t}]({t}){mark}" for t in tables), ""]
    lines += ["## How to reproduce", "",
              f"    python -m paper_repro {' '.join(argv)}".rstrip(), "",
              f"- commit: {_commit()}",
              f"- code fingerprint: {code_fingerprint()} (source of {', '.join(PACKAGES)} and the "
              "versions below; a stored cell is reused only by code of its fingerprint)",
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
