"""The report's sentences follow the paired verdicts: a prediction that fails is said to fail."""

import pandas as pd

from paper_repro.studies import changed_conclusions, prediction_line


def _tab(verdict, panel="calibrated", alg="random-omd"):
    return pd.DataFrame([dict(algorithm=alg, metric="subopt", verdict=verdict, diff=0.01,
                              ci_low=-0.01, ci_high=0.03, n=10, panel=panel)])


def test_prediction_line_says_held_and_did_not_hold():
    assert "**Held**" in prediction_line(_tab("worse"), "claim", "random-omd", "subopt", "worse")
    assert "**Did not hold**" in prediction_line(_tab("tied"), "claim", "random-omd", "subopt",
                                                 "worse")
    assert "Not tested" in prediction_line(_tab("worse"), "claim", "absent", "subopt", "worse")


def test_changed_conclusions_names_the_verdicts_that_differ():
    same = pd.concat([_tab("better"), _tab("better", panel="theory")])
    assert "none" in changed_conclusions(same, "calibrated", "subopt")
    diff = pd.concat([_tab("better"), _tab("worse", panel="theory")])
    msg = changed_conclusions(diff, "calibrated", "subopt")
    assert "random-omd is better" in msg and "worse at theory radii" in msg
