"""Testing tools for reward models: a conformance kit and hypothesis strategies.

    check_estimator(model)        every property check on a model (`estimator_checks`)
    estimator_checks(model)       (check name, callable) pairs, for pytest parametrisation
    parametrize_with_checks(...)  a pytest mark over models x checks
    strategies                    hypothesis strategies for preference data (environments,
                                  streams, design matrices, margins); loaded on first access,
                                  as it needs the optional `hypothesis` package

The checks themselves use seeded numpy draws only; `import algorithms.testing` does not import
hypothesis until `algorithms.testing.strategies` is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .estimator_checks import (
    CHECKS,
    CheckResult,
    CheckSkipped,
    PathModel,
    canonical_env,
    check_error_decreases,
    check_estimator,
    check_extreme_margins,
    check_inverse_matches_matrix,
    check_label_swap_symmetry,
    check_no_state_leak,
    check_same_bits,
    check_shapes,
    check_stays_in_ball,
    estimator_checks,
    parametrize_with_checks,
    preference_stream,
)


def __getattr__(name: str) -> Any:
    if name == "strategies":
        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS", "CheckResult", "CheckSkipped", "PathModel", "canonical_env", "check_error_decreases",
    "check_estimator", "check_extreme_margins", "check_inverse_matches_matrix",
    "check_label_swap_symmetry", "check_no_state_leak", "check_same_bits", "check_shapes",
    "check_stays_in_ball", "estimator_checks", "parametrize_with_checks", "preference_stream",
    "strategies",
]
