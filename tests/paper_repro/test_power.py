"""The checks have power: at the small scale they catch at least 90 % of the harmful variants
and flag no valid one (the quick and full scales are run by python -m theory_checks)."""

from paper_repro.power import POWER_SCALES, run_power


def test_power_targets_at_the_small_scale():
    table, summary, verdicts = run_power("small")
    row = summary.iloc[0]
    assert row["harmful"] >= 10 and row["valid"] >= 2
    assert row["harmful_caught_fraction"] >= 0.9, table.to_string()
    assert row["valid_flagged"] == 0, table.to_string()
    # every harmful variant is caught by a check of the kind that targets its defect
    caught_by = {r["variant"]: {c for c in table.columns if r[c] == "caught"}
                 for _, r in table.iterrows()}
    assert "stays-in-ball" in caught_by["skip-projection"]
    assert "inverse-consistent" in caught_by["stale-inverse"]
    assert "coverage-calibrated" in caught_by["radius-x0.1"]
    assert "coverage-calibrated" in caught_by["radius-x10"]
    assert "beats-uniform" in caught_by["random-pairs"]
    assert "accounting" in caught_by["regret-x2"]
    assert "accounting" in caught_by["subopt-per-sample"]
    assert len(verdicts) > 100


def test_scales_are_ordered():
    assert POWER_SCALES["tiny"].seeds < POWER_SCALES["small"].seeds <= \
        POWER_SCALES["quick"].seeds < POWER_SCALES["full"].seeds
