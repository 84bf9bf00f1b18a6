"""`python -m paper_repro [SPEC ...] [--scale quick|full] [--out DIR]`: run studies, write
their tables (CSV), figures (PNG, PDF) and DIR/report.md."""

from __future__ import annotations

import argparse
import os
import sys
import time

from .report import write_report
from .specs import REGISTRY, SCALES, get_spec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paper_repro",
                                description="Regenerate the testbed's figures, tables and report.")
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="specs to run (default: all); see --list")
    p.add_argument("--scale", default="quick",
                   help="quick (default: minutes on 2 cores), full (paper-size) or tiny (smoke test)")
    p.add_argument("--out", default="repro_out", help="output folder (default repro_out)")
    p.add_argument("--list", action="store_true", help="list the specs and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.list:
        for name, spec in REGISTRY.items():
            print(f"{name:24s} {spec.description}")
        return 0
    if args.scale not in SCALES:
        print(f"error: unknown scale {args.scale!r}; choose one of {', '.join(SCALES)}",
              file=sys.stderr)
        return 2
    try:
        specs = [get_spec(n) for n in (args.specs or list(REGISTRY))]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    os.makedirs(os.path.join(args.out, "tables"), exist_ok=True)
    t0 = time.perf_counter()
    results = {}
    for spec in specs:
        print(f"[paper_repro] {spec.name} ({args.scale}) ...", flush=True)
        ts = time.perf_counter()
        res = spec.run(args.scale, args.out)
        for tname, df in res.tables.items():
            df.to_csv(os.path.join(args.out, "tables", f"{spec.name}_{tname}.csv"), index=False)
        results[spec.name] = res
        print(f"[paper_repro] {spec.name} done in {time.perf_counter() - ts:.1f} s", flush=True)
        print(res.markdown, flush=True)
    path = write_report(args.out, args.scale, results, argv, time.perf_counter() - t0)
    print(f"[paper_repro] report: {path}")
    return 0
