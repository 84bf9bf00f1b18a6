"""Smoke run of the deployment timing study at the tiny scale: structure and agreement only,
no timing is asserted."""

import numpy as np
import pytest

from paper_repro.timing_deployment import deployment_benchmarks, deployment_benchmarks_markdown


def test_tiny_deployment_benchmarks_run_and_report():
    tables = deployment_benchmarks("tiny")
    tp = tables["algorithm4_throughput"]
    assert (tp["rounds_per_s"] > 0).all()
    numpy_rows = tp[tp["implementation"].str.startswith("numpy")]
    assert len(numpy_rows) == 2
    # the per-round numpy loops choose the same pairs as the compiled loop
    np.testing.assert_array_equal(numpy_rows["pairs_equal_compiled"], 1.0)
    per = tables["time_per_round_vs_t"]
    assert set(per["algorithm"]) == {"algorithm4", "dueling-rl-mle", "maxinp-mle", "colstim-mle"}
    assert len(tables["all_algorithms"]) >= 13
    text = deployment_benchmarks_markdown(tables)
    assert "rounds/s at d = 10" in text and "| algorithm |" in text


def test_unknown_scale():
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        deployment_benchmarks("huge")
