"""`python -m theory_checks [--quick | --full | --tiny] [--out DIR]`: run the experiments behind the
checks, print the verdicts, write them as CSV and Markdown, exit 1 when a claimed bound is violated
beyond its delta (2 for bad usage). The experiments are run by paper_repro's sweep runner (their
runs are kept in DIR/store, reused only by the code that computed them unless --reuse-stale);
Ctrl-C, SIGTERM or SIGHUP stop at once with the finished runs kept (exit 128 + the signal). This
module is the command line of `python -m theory_checks`."""

from __future__ import annotations

import argparse
import os
import sys
import time

from figures.tables import markdown_table
from theory_checks.verdicts import any_failed, verdict_table

from .cli import check_output_folder, interrupted, load_user_algorithms
from .report import provenance_lines
from .runner import sweep_session
from .theory_runs import PARTS, run_checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m theory_checks", description=__doc__)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", const="quick", dest="scale",
                   help="about 3 minutes on 2 cores (default)")
    g.add_argument("--full", action="store_const", const="full", dest="scale", help="paper-size")
    g.add_argument("--tiny", action="store_const", const="tiny", dest="scale", help="seconds (smoke test)")
    p.add_argument("--out", default="theory_checks_out", help="output folder (default theory_checks_out)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("--algorithms", default="", metavar="MODULE:NAME[,...]",
                   help="user algorithms checked beside the paper's algorithm of their stage "
                        "(default: none)")
    p.add_argument("--power", action="store_true",
                   help="run only the power suite: every check against every broken and valid "
                        "variant (power.csv, power.md); default: power, checks and cost")
    p.add_argument("--reuse-stale", action="store_true",
                   help="reuse stored runs computed by other code (another code fingerprint) "
                        "instead of recomputing them; verdicts.md then says so")
    args = p.parse_args(argv)
    scale = args.scale or "quick"
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.power and args.algorithms:
        print("error: --power runs the project's variants only; drop --algorithms or --power",
              file=sys.stderr)
        return 2
    try:
        user = load_user_algorithms(args.algorithms)
    except ValueError as e:
        print(f"error: --algorithms: {e}", file=sys.stderr)
        return 2
    try:
        check_output_folder(args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        with sweep_session(reuse_stale=args.reuse_stale) as session:
            verdicts, _ = run_checks(scale, args.out, algorithms=user, workers=args.workers,
                                     quiet=not args.progress,
                                     parts=("power",) if args.power else PARTS)
    except KeyboardInterrupt as e:
        return interrupted(e)
    table = verdict_table(verdicts)
    md = markdown_table(table, ".4g")
    origin, _ = provenance_lines(session.records)
    table.to_csv(os.path.join(args.out, "verdicts.csv"), index=False)
    with open(os.path.join(args.out, "verdicts.md"), "w") as f:
        f.write(f"# theory_checks ({scale})\n\n" + "".join(f"{x}\n" for x in origin) + f"{md}\n")
    print(md)
    failed = any_failed(verdicts)
    print(f"\n{len(verdicts)} checks in {time.perf_counter() - t0:.1f} s: "
          f"{sum(v.verdict == 'pass' for v in verdicts)} pass, "
          f"{sum(v.verdict == 'fail' for v in verdicts)} fail, "
          f"{sum(v.verdict == 'report' for v in verdicts)} reported")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
