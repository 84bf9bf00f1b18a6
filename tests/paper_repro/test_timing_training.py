"""Smoke run of the training timing study at the tiny scale: structure only, no timing is
asserted."""

import pytest

from paper_repro.timing_training import training_benchmarks, training_benchmarks_markdown


def test_tiny_training_benchmarks_run_and_report():
    tables = training_benchmarks("tiny")
    assert set(tables) == {"passive_omd", "active_selection", "time_per_round_vs_t"}
    assert (tables["passive_omd"]["samples_per_s"] > 0).all()
    sel = tables["active_selection"].set_index("pair_norms")
    assert set(sel.index) == {"incremental", "recompute"}
    assert sel.loc["incremental", "speedup_of_incremental"] == 1.0
    per = tables["time_per_round_vs_t"]
    assert set(per["algorithm"]) == {"active-omd", "apo", "apo-weighted", "active-mle"}
    assert (per["seconds_per_round"] > 0).all()
    text = training_benchmarks_markdown(tables)
    assert "rounds/s with rank-one downdates" in text and "| algorithm |" in text


def test_unknown_scale():
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        training_benchmarks("huge")
