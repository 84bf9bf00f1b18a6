"""`python -m paper_repro real --data FILE ...`: a user's preference data to a report."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Not built yet: the command line of the bring-your-own-data pipeline."""
    print("error: python -m paper_repro real is not available yet", file=sys.stderr)
    return 2
