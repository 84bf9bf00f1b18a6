"""`python -m paper_repro real --data FILE ...`: a user's preference data to a report.

One command: read the file (or a ready feature bank), embed every (prompt, response) through
the feature cache, split by prompt with a seed, choose the constants on a validation split,
run the passive, active and (for several rated responses per prompt) deployment comparisons,
and write tables (CSV), figures (PNG, PDF) and report.md in --out. See `paper_repro.real.pipeline`
and `paper_repro.real.user_data`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

TEXT_FORMAT = """\
text format: the model reads each response with its prompt, joined as
    prompt + "\\n\\n" + response
(two newlines, nothing else added; --text response: the response alone). The feature cache is
keyed by the sha256 of that text, so features you computed yourself are found in the cache
only if you joined the texts the same way. HH-RLHF transcripts: the prompt is the transcript up
to and including its final "\\n\\nAssistant:", the response the rest.

formats (--format auto reads the first line):
  pairs   one pair per line: prompt, chosen, rejected [score_chosen, score_rejected, id]; or
          prompt, response_a, response_b, label (1: response_a preferred, 0: response_b);
          UltraFeedback binarized and HH-RLHF files are recognised
  multi   several rated responses per prompt: prompt, responses = [{text, score}, ...]
          (nested) or one prompt, response, score per line (flat); the higher score wins;
          AlpacaEval's table (instruction, arms) is recognised
  bank    a feature bank folder (responses.parquet, pairs.parquet; sim/real/bank.py)
  ranked  a ranked bank file (.parquet or .csv: m ranked or scored responses per prompt with
          features; sim/real/ranked_bank.py): the Plackett-Luce estimators
          (paper_repro/real/rankings.py; --max-responses sets the largest query size m)
--fields maps roles to your field names, e.g. --fields prompt=question,chosen=better,
rejected=worse or --fields score_chosen=metadata.score_chosen (dotted: nested fields).

example:
  python -m paper_repro real --data my_pairs.jsonl --out my_report
  python -m paper_repro real --data my_report/bank --quick      (re-run from the saved bank)
"""


def _int_list(text: str) -> tuple[int, ...] | None:
    if text == "auto":
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or comma-separated ints, got {text!r}"
                                         ) from None
    return values


def build_parser() -> argparse.ArgumentParser:
    from sim.real.embed import DEFAULT_MODEL, POOLINGS, TEXT_MODES, default_cache_dir

    p = argparse.ArgumentParser(
        prog="python -m paper_repro real",
        description="Your preference data to a report: embedding (cached), a split by prompt,\n"
                    "constants chosen on validation, passive, active and deployment\n"
                    "comparisons with intervals and trivial baselines.",
        epilog=TEXT_FORMAT, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, metavar="FILE",
                   help="a JSON-lines file (.jsonl or .jsonl.gz) or a feature bank folder")
    d.add_argument("--format", default="auto", choices=("auto", "pairs", "multi", "bank", "ranked"),
                   help="what --data holds (default: auto)")
    d.add_argument("--fields", default="", metavar="ROLE=FIELD,...",
                   help="field names of the roles (default: each role's own name)")
    d.add_argument("--eval-data", default=None, metavar="FILE",
                   help="a separate file of eval pairs (default: none; the eval pairs are split "
                        "off --data by prompt)")
    d.add_argument("--max-prompts", type=int, default=None, metavar="N",
                   help="a seeded random subset of N prompts (default: all)")
    d.add_argument("--max-responses", type=int, default=None, metavar="K",
                   help="multi: a seeded random subset of K responses per prompt (default: all)")
    d.add_argument("--pairs-per-prompt", type=int, default=10, metavar="N",
                   help="multi: at most N pairs per prompt made from the scores (default: 10)")
    e = p.add_argument_group("features")
    e.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"encoder: {DEFAULT_MODEL} (offline, the llm extra), a folder or a hub "
                        f"name (default: {DEFAULT_MODEL})")
    e.add_argument("--pooling", default="mean", choices=POOLINGS,
                   help="mean (sentence encoders) or last-token (decoder LMs) (default: mean)")
    e.add_argument("--text", default="pair", choices=TEXT_MODES,
                   help="what the model reads: pair = prompt + \"\\n\\n\" + response, or the "
                        "response alone (default: pair)")
    e.add_argument("--cache-dir", default=None, metavar="DIR",
                   help=f"feature cache (default: {default_cache_dir()})")
    e.add_argument("--batch-size", type=int, default=32, metavar="B",
                   help="texts per forward pass (default: 32)")
    e.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    r = p.add_argument_group("experiments")
    r.add_argument("--eval-fraction", type=float, default=0.2, metavar="F",
                   help="share of the pairs held out for eval, by prompt (default: 0.2)")
    r.add_argument("--validation-fraction", type=float, default=0.2, metavar="F",
                   help="share of the training pairs held out to choose the constants, by "
                        "prompt (default: 0.2)")
    r.add_argument("--seed", type=int, default=0, help="experiment seed (default: 0)")
    r.add_argument("--seeds", type=int, default=None, metavar="S",
                   help="repetitions: orders, pools and deployment runs (default: 5; 2 with "
                        "--quick)")
    r.add_argument("--budgets", type=_int_list, default=None, metavar="N,N,...",
                   help="query counts of the active curves, or auto (default: auto, 8 "
                        "log-spaced up to the smaller of --max-budget and half the pool)")
    r.add_argument("--max-budget", type=int, default=None, metavar="N",
                   help="largest automatic budget (default: 500; 200 with --quick)")
    r.add_argument("--pool-fraction", type=float, default=0.8, metavar="F",
                   help="share of the training pairs in each repetition's pool (default: 0.8)")
    r.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples of the eval prompts (default: 1000)")
    r.add_argument("--deployment-rounds", type=int, default=None, metavar="T",
                   help="rounds of each deployment run (default: 2000; 500 with --quick)")
    r.add_argument("--deployment-dim", type=int, default=32, metavar="K",
                   help="deployment features: the top K within-prompt principal directions, 0 "
                        "for all (default: 32)")
    r.add_argument("--no-active", action="store_true", help="skip the active comparison")
    r.add_argument("--no-deployment", action="store_true", help="skip the deployment comparison")
    r.add_argument("--quick", action="store_true",
                   help="smaller grids, 2 seeds, budgets up to 200, 500 deployment rounds")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="real_out", metavar="DIR",
                   help="output folder (default: real_out)")
    o.add_argument("--quiet", action="store_true", help="no progress messages or bars")
    return p


def main(argv: list[str] | None = None, *, encoder=None) -> int:
    """Run the command; 0 on success, 2 with a one-line message for bad input or data.

    encoder: a feature encoder to use instead of the project's (the interface of
    `sim.real.embed.TextEncoder`), e.g. a small deterministic one in tests."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        return _run(args, argv, encoder, started)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, argv: list[str], encoder, started: float) -> int:
    import os

    if args.format == "ranked":
        from paper_repro.real.rankings import ranked_cli_settings, run_ranked_bank

        run_ranked_bank(args.data, args.out, ranked_cli_settings(args))
        if not args.quiet:
            print(f"[real] report: {os.path.join(args.out, 'report.md')}", file=sys.stderr)
        return 0

    from paper_repro.real.pipeline import PipelineSettings, run_pipeline, stream_seed
    from paper_repro.real.user_data import DataOptions, load_user_data
    from sim.real.adapters import parse_fields

    for name in ("max_prompts", "max_responses", "pairs_per_prompt", "batch_size"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    quick = args.quick
    settings = PipelineSettings(
        eval_fraction=args.eval_fraction, validation_fraction=args.validation_fraction,
        seed=args.seed, seeds=args.seeds or (2 if quick else 5), budgets=args.budgets,
        max_budget=args.max_budget or (200 if quick else 500), pool_fraction=args.pool_fraction,
        bootstrap=args.bootstrap, deployment_rounds=args.deployment_rounds or (500 if quick
                                                                               else 2000),
        deployment_dim=args.deployment_dim or None, active=not args.no_active,
        deployment=not args.no_deployment, quick=quick, quiet=args.quiet)
    opts = DataOptions(path=args.data, format=args.format, fields=parse_fields(args.fields),
                       eval_path=args.eval_data, model=args.model, pooling=args.pooling,
                       text=args.text, cache_dir=args.cache_dir, batch_size=args.batch_size,
                       device=args.device, max_prompts=args.max_prompts,
                       max_responses=args.max_responses, pairs_per_prompt=args.pairs_per_prompt,
                       progress=not args.quiet)
    data = load_user_data(opts, seed=stream_seed(args.seed, "data"), encoder=encoder,
                          quiet=args.quiet)
    os.makedirs(args.out, exist_ok=True)
    bank_dir = os.path.join(args.out, "bank")
    if data.kind != "bank":
        data.bank.save(bank_dir)
    command = "python -m paper_repro real " + " ".join(shlex.quote(a) for a in argv)
    res = run_pipeline(data, settings, args.out, command=command, data_seconds=data.seconds)
    total = time.perf_counter() - started
    if not args.quiet:
        print(f"[real] report: {os.path.join(args.out, 'report.md')} ({len(res.tables)} tables, "
              f"{len(res.figures)} figure files; {total:.1f} s in all"
              + (f"; the features are in {bank_dir}: --data {bank_dir} re-runs without the texts"
                 if data.kind != "bank" else "") + ")", file=sys.stderr)
    return 0
