"""`python -m paper_repro [SPEC ...] [--scale quick|full|tiny] [--out DIR] [--backend local|dask]
[--scheduler ADDR] [--workers N] [--quiet] [--reuse-stale] [--estimate]`: run studies, write
their tables (CSV), figures (PNG, PDF) and DIR/report.md. Finished cells are kept in DIR/store:
rerunning resumes, and recomputes the cells that other code computed (unless --reuse-stale).

`--estimate` prints what every spec will cost at the scale (`paper_repro.estimate`) and runs
nothing; a run prints the same prediction, one line per spec, before running it, and its
progress bars show an ETA weighted by the predicted cost of each cell.

Everything a run needs is checked before any work: the output folder (a folder, creatable,
writable, outside the project's packages), the Dask scheduler (an address tcp://HOST:PORT that
answers as a Dask scheduler within seconds), the user algorithms. Ctrl-C, SIGTERM or SIGHUP stop
the run at once with the finished cells kept; the exit code is 128 + the signal (130 for
Ctrl-C), and the same command resumes."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

from algorithms.registry import load as load_algorithm
from paper_repro.runner import (
    BACKENDS,
    SweepInterrupted,
    probe_scheduler,
    set_cost_model,
    sweep_session,
)

from .report import write_report
from .specs import REGISTRY, SCALES, get_spec
from .synthetic import RunOptions, set_figure_styles


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paper_repro",
                                description="Regenerate the testbed's figures, tables and report.")
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="specs to run (default: all but the extras); see --list")
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
    p.add_argument("--reuse-stale", action="store_true",
                   help="reuse stored cells computed by other code (another code fingerprint) "
                        "instead of recomputing them; the report marks every table they enter")
    p.add_argument("--estimate", action="store_true",
                   help="print the predicted CPU and wall time of every spec at the scale "
                        "(cells, rounds, dominant algorithm; cost laws measured on this machine "
                        "by short probe runs, cached in OUT/estimate_costs.json) and run nothing")
    p.add_argument("--list", action="store_true", help="list the specs and exit")
    return p


OUTPUT_SUBFOLDERS = ("store", "tables", "figures")
"""Folders a run writes inside its output folder."""

PROJECT_PACKAGES = ("sim", "algorithms", "theory_checks", "figures", "paper_repro")
"""The project's import packages: no output folder may lie inside one."""


def _project_folders() -> tuple[str, list[str]]:
    """(the folder holding the project's packages, the package and test folders)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folders = []
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders += [os.path.realpath(p) for p in spec.submodule_search_locations]
    if os.path.isdir(os.path.join(here, "tests")):
        folders.append(os.path.realpath(os.path.join(here, "tests")))
    return os.path.realpath(here), folders


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_folder(out: str, option: str = "--out") -> str:
    """The output folder as an absolute path, created if needed, after checking that it is a
    folder, writable (with its store, tables and figures subfolders where they exist) and not
    inside the project's source (nor the project folder itself, whose figures/ is a package).
    ValueError with a one-line reason otherwise."""
    if not isinstance(out, str) or not out.strip():
        raise ValueError(f"{option} must name a folder, got {out!r}")
    path = os.path.realpath(os.path.abspath(out))
    root, packages = _project_folders()
    if path == root or any(_inside(path, p) for p in packages):
        raise ValueError(f"{option} {out!r} is inside the project's source ({path}); choose a "
                         "folder outside the packages, e.g. repro_out")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{option} {out!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{option} {out!r} cannot be created: {e.strerror or e}") from None
    for folder in (path, *(os.path.join(path, s) for s in OUTPUT_SUBFOLDERS)):
        if folder != path and not os.path.exists(folder):
            continue
        if not os.path.isdir(folder):
            raise ValueError(f"{option} {out!r}: {folder} exists and is not a folder")
        probe = os.path.join(folder, f".write-test-{os.getpid()}")
        try:
            with open(probe, "wb"):
                pass
            os.remove(probe)
        except OSError as e:
            raise ValueError(f"{option} {out!r}: {folder} is not writable: {e.strerror or e}"
                             ) from None
    return path


def interrupted(e: KeyboardInterrupt) -> int:
    """Print the one-line message of a stopped run; return its exit code (128 + signal)."""
    if isinstance(e, SweepInterrupted):
        print(f"\n{e}", file=sys.stderr)
        return e.exit_code
    print("\ninterrupted: the finished cells are kept; rerun the same command to resume",
          file=sys.stderr)
    return 130


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
    if args.list and args.estimate:
        print("error: --list and --estimate do not go together", file=sys.stderr)
        return 2
    if args.list:
        for name, spec in REGISTRY.items():
            print(f"{name:24s} {'' if spec.default else '(extra) '}{spec.description}")
        return 0
    if args.scale not in SCALES:
        print(f"error: unknown scale {args.scale!r}; choose one of {', '.join(SCALES)}",
              file=sys.stderr)
        return 2
    try:
        specs = [get_spec(n) for n in
                 (args.specs or [n for n, s in REGISTRY.items() if s.default])]
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
        check_output_folder(args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.estimate and args.backend != "local":
        print("error: --estimate predicts local worker processes; drop --backend/--scheduler "
              "and give --workers", file=sys.stderr)
        return 2
    if args.scheduler is not None:
        try:
            probe_scheduler(args.scheduler)
        except (ValueError, RuntimeError) as e:
            print(f"error: --scheduler: {e}", file=sys.stderr)
            return 2
    try:
        user = load_user_algorithms(args.algorithms)
    except ValueError as e:
        print(f"error: --algorithms: {e}", file=sys.stderr)
        return 2
    try:
        if args.estimate:
            return _estimate(args, specs, user)
        return _run(args, specs, user, argv)
    except KeyboardInterrupt as e:
        return interrupted(e)


def _estimate(args: argparse.Namespace, specs: list, user: tuple[str, ...]) -> int:
    """Print the estimate table of the specs (nothing runs but the probes of the cost laws)."""
    from .estimate import estimate, format_estimate

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[paper_repro] estimate: {msg}", file=sys.stderr, flush=True)

    try:
        ests = estimate([s.name for s in specs], args.scale, args.out, workers=args.workers,
                        algorithms=user, reuse_stale=args.reuse_stale, log=log)
    except ValueError as e:
        print(f"error: --estimate: {e}", file=sys.stderr)
        return 2
    print(format_estimate(ests), flush=True)
    return 0


def _announce(model, spec_name: str, args: argparse.Namespace, user: tuple[str, ...]):
    """Print the one-line prediction of a spec before it runs (never stops the run); returns
    the estimate (None when there is none)."""
    from .estimate import estimate_line, estimate_spec

    workers = int(args.workers or os.cpu_count() or 1)
    try:
        e = estimate_spec(spec_name, args.scale, model, workers, user, args.reuse_stale)
    except Exception as err:  # a prediction never stops a run
        print(f"[paper_repro] spec {spec_name}: no prediction ({type(err).__name__}: {err})",
              flush=True)
        return None
    print(f"[paper_repro] {estimate_line(e)}", flush=True)
    return e


def _run(args: argparse.Namespace, specs: list, user: tuple[str, ...], argv: list[str]) -> int:
    set_figure_styles()
    opts = RunOptions(out=args.out, backend=args.backend, workers=args.workers,
                      scheduler=args.scheduler, quiet=args.quiet, algorithms=user)
    os.makedirs(os.path.join(args.out, "tables"), exist_ok=True)
    from .estimate import CostModel

    # laws measured by earlier code stand in (a run measures only what it has never seen)
    model = CostModel(args.out, earlier_laws=True)
    set_cost_model(model.known_seconds)
    try:
        return _run_specs(args, specs, opts, argv, model)
    finally:
        set_cost_model(None)


def _run_specs(args: argparse.Namespace, specs: list, opts: RunOptions, argv: list[str],
               model) -> int:
    t0 = time.perf_counter()
    results = {}
    provenance = {}
    run_times: list[dict] = []
    for spec in specs:
        predicted = _announce(model, spec.name, args, opts.algorithms)
        print(f"[paper_repro] {spec.name} ({args.scale}) ...", flush=True)
        ts = time.perf_counter()
        try:
            with sweep_session(reuse_stale=args.reuse_stale) as session:
                res = spec.run(args.scale, opts)
        except RuntimeError as e:  # e.g. an unreachable scheduler
            print(f"error: {e}", file=sys.stderr)
            return 2
        if not any(r.reused or r.stale_reused for r in session.records):
            # a whole run's duration: the price of the specs the cost model cannot list, and
            # beyond the predicted runs, the overhead of the others
            took = time.perf_counter() - ts
            model.record_duration(spec.name, args.scale, took)
            if predicted is not None and not any(i.kind == "measured" for i in predicted.items):
                model.record_overhead(spec.name, args.scale, took - predicted.runs_wall)
        for tname, df in res.tables.items():
            df.to_csv(os.path.join(args.out, "tables", f"{spec.name}_{tname}.csv"), index=False)
        results[spec.name] = res
        provenance[spec.name] = session.records
        took = time.perf_counter() - ts
        run_times.append(dict(spec=spec.name, measured_s=took,
                              predicted_s=predicted.wall if predicted is not None else None,
                              cells_computed=sum(r.computed for r in session.records),
                              cells_from_store=sum(r.reused + sum(r.stale_reused.values())
                                                   for r in session.records),
                              backend=args.backend,
                              workers=args.workers or os.cpu_count()))
        print(f"[paper_repro] {spec.name} done in {took:.1f} s", flush=True)
        if not args.quiet:
            print(res.markdown, flush=True)
    path = write_report(args.out, args.scale, results, argv, time.perf_counter() - t0,
                        provenance=provenance, run_times=run_times)
    print(f"[paper_repro] report: {path}")
    return 0
