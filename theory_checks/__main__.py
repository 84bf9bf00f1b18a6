"""`python -m theory_checks`: the command line lives with the sweep runner that runs the checks'
experiments (`paper_repro.theory_cli`); this entry point only forwards to it, so that the checks
themselves (bounds and verdicts over tables) import nothing above them."""

import sys

from paper_repro.theory_cli import main

if __name__ == "__main__":
    sys.exit(main())
