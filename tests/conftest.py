"""Test-wide settings.

Hypothesis: no per-example deadline (the first call of a compiled kernel includes its
compilation, which no deadline should judge) and no example database, so that a run depends
only on the code and the fixed seed."""

from hypothesis import settings

settings.register_profile("testbed", deadline=None, database=None, derandomize=True)
settings.load_profile("testbed")
