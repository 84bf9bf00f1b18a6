"""`python -m theory_checks`: the command line lives with the sweep runner that runs the checks'
experiments (`paper_repro.theory_cli`); this entry point only forwards to it, so that the checks
themselves (bounds and verdicts over tables) import nothing above them."""

import os
import sys

from paper_repro.theory_cli import main

if __name__ == "__main__":
    code = main()
    # results are written and synced; skip the teardown of the compiled code, which LLVM has
    # been seen to abort at exit after many compilations in one process
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
