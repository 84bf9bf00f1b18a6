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
    text = deployment_benchmarks_markdown(tables)
    per = tables["time_per_round_vs_t"]
    assert set(per["algorithm"]) == {"algorithm4", "dueling-rl-mle", "algorithm4-rule-mle",
                                     "maxinp-mle", "colstim-mle"}
    ref = tables["mle_refit_vs_numpy"]
    assert set(ref["t"]) == {100, 300} and (ref["us_per_refit"] > 0).all()
    assert (ref["err_vs_exact"] < 1e-4).all()
    assert "side by side with a plain numpy" in text
    assert len(tables["all_algorithms"]) >= 13
    assert "rounds/s at d = 10" in text and "| algorithm |" in text
    tg = tables["stage_loop_targets"]
    assert set(tg["loop"]) == {"Algorithm 4", "Algorithm 3 active selection"}
    assert set(tg["implementation"]) == {"registry 'algorithm4' (projection on)",
                                         "registry 'active-omd' (projection on)",
                                         "hand-written minimal loop"}
    assert {"rounds_per_s", "rounds_per_cpu_s", "target_rounds_per_s", "share_of_target",
            "ratio_to_hand"} <= set(tg.columns)
    assert set(tg["target_rounds_per_s"]) == {1_000_000.0, 100_000.0}
    hand = tg[tg["implementation"] == "hand-written minimal loop"]
    np.testing.assert_allclose(hand["ratio_to_hand"], 1.0)
    assert "Stage loops against their targets" in text


def test_unknown_scale():
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        deployment_benchmarks("huge")
