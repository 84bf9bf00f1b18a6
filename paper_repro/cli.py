"""`python -m paper_repro [SPEC ...] [--scale quick|full|tiny] [--out DIR] [--backend local|dask]
[--scheduler ADDR] [--workers N] [--quiet]`: run studies, write their tables (CSV), figures
(PNG, PDF) and DIR/report.md. Finished cells are kept in DIR/store: rerunning resumes."""

from __future__ import annotations

import argparse
import os
import sys
import time

from algorithms.registry import load as load_algorithm
from paper_repro.runner import BACKENDS

from .report import write_report
from .specs import REGISTRY, SCALES, get_spec
from .synthetic import RunOptions, set_figure_styles


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paper_repro",
                                description="Regenerate the testbed's figures, tables and report.")
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="specs to run (default: all); see --list")
    p.add_argument("--scale", default="quick",
                   help="quick (default: minutes on 2 cores), full (paper-size) or tiny (smoke test)")
    p.add_argument("--out", default="repro_out", help="output folder (default repro_out)")
    p.add_argument("--backend", default="local", help="local (worker processes) or dask")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address tcp://HOST:PORT (default with --backend dask: a "
                        "local cluster)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--algorithms", default="", metavar="MODULE:NAME[,...]",
                   help="user algorithms (an algorithms.registry.Algorithm, or a function "
                        "returning one, in an importable module) added to every study of their "
                        "stage and to the theory checks (default: none)")
    p.add_argument("--list", action="store_true", help="list the specs and exit")
    return p


def load_user_algorithms(text: str) -> tuple[str, ...]:
    """The module:attribute names of a comma-separated list, each imported and registered
    (ValueError naming the one that fails). The current folder is importable, as for python -m."""
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for spec in specs:
        if ":" not in spec:
            raise ValueError(f"{spec!r}: name a user algorithm as module:attribute")
        load_algorithm(spec)
    return specs


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "real":  # python -m paper_repro real --data FILE ...
        from .real_cli import main as real_main

        return real_main(argv[1:])
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
    if args.backend not in BACKENDS:
        print(f"error: unknown backend {args.backend!r}; choose one of {', '.join(BACKENDS)}",
              file=sys.stderr)
        return 2
    if args.scheduler is not None and args.backend != "dask":
        print("error: --scheduler goes with --backend dask", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        user = load_user_algorithms(args.algorithms)
    except ValueError as e:
        print(f"error: --algorithms: {e}", file=sys.stderr)
        return 2
    set_figure_styles()
    opts = RunOptions(out=args.out, backend=args.backend, workers=args.workers,
                      scheduler=args.scheduler, quiet=args.quiet, algorithms=user)
    os.makedirs(os.path.join(args.out, "tables"), exist_ok=True)
    t0 = time.perf_counter()
    results = {}
    for spec in specs:
        print(f"[paper_repro] {spec.name} ({args.scale}) ...", flush=True)
        ts = time.perf_counter()
        try:
            res = spec.run(args.scale, opts)
        except RuntimeError as e:  # e.g. an unreachable scheduler
            print(f"error: {e}", file=sys.stderr)
            return 2
        for tname, df in res.tables.items():
            df.to_csv(os.path.join(args.out, "tables", f"{spec.name}_{tname}.csv"), index=False)
        results[spec.name] = res
        print(f"[paper_repro] {spec.name} done in {time.perf_counter() - ts:.1f} s", flush=True)
        if not args.quiet:
            print(res.markdown, flush=True)
    path = write_report(args.out, args.scale, results, argv, time.perf_counter() - t0)
    print(f"[paper_repro] report: {path}")
    return 0
