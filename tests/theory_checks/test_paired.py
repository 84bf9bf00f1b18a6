"""Paired comparisons: the interval is the t interval of the per-seed differences, the word
follows its side of 0, and the seeds rule meets its target."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from theory_checks.paired import (
    BETTER,
    IDENTICAL,
    TIED,
    UNDECIDED,
    WORSE,
    paired_differences,
    paired_markdown_table,
    seeds_for_half_width,
    t_interval,
    verdict_sentence,
)


def _table(shift: float, noise: float, n: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n) * 10.0  # large shared noise: cancels in the paired difference
    ref = 5.0 + common
    z = rng.normal(size=n)
    alg = 5.0 + common + shift + noise * (z - z.mean())  # the mean difference is `shift`
    rows = [dict(algorithm="ref", seed=s, m=ref[s]) for s in range(n)]
    rows += [dict(algorithm="alg", seed=s, m=alg[s]) for s in range(n)]
    return pd.DataFrame(rows)


def test_interval_is_the_t_interval_of_the_differences():
    df = _table(-1.0, 0.2)
    tab = paired_differences(df, "m", "ref")
    d = (df[df.algorithm == "alg"].m.to_numpy() - df[df.algorithm == "ref"].m.to_numpy())
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    row = tab.iloc[0]
    assert row["n"] == 8
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [d.mean() - half, d.mean() + half])
    np.testing.assert_allclose(row["half_width"], half)


def test_words_follow_the_side_of_zero_and_the_direction():
    # shared noise of sd 10 would hide a shift of 1 unpaired; paired it decides
    assert paired_differences(_table(-1.0, 0.2), "m", "ref")["verdict"].iloc[0] == BETTER
    assert paired_differences(_table(1.0, 0.2), "m", "ref")["verdict"].iloc[0] == WORSE
    assert paired_differences(_table(1.0, 0.2), "m", "ref",
                              lower_is_better=False)["verdict"].iloc[0] == BETTER
    assert paired_differences(_table(0.0, 0.2), "m", "ref")["verdict"].iloc[0] == TIED
    assert paired_differences(_table(-1.0, 0.2, n=1), "m", "ref")["verdict"].iloc[0] == UNDECIDED
    assert paired_differences(_table(0.0, 0.0), "m", "ref")["verdict"].iloc[0] == IDENTICAL


def test_only_common_seeds_are_paired_and_groups_are_separate():
    df = _table(-1.0, 0.2)
    df = df[~((df.algorithm == "alg") & (df.seed == 0))]
    df2 = _table(1.0, 0.2).assign(panel="b")
    tab = paired_differences(pd.concat([df.assign(panel="a"), df2]), "m", "ref", by=("panel",))
    assert list(tab["panel"]) == ["a", "b"]
    assert list(tab["n"]) == [7, 8]
    assert list(tab["verdict"]) == [BETTER, WORSE]


def test_missing_reference_or_column_is_a_one_line_error():
    df = _table(0.0, 0.1)
    with pytest.raises(ValueError, match="reference 'nope'"):
        paired_differences(df, "m", "nope")
    with pytest.raises(ValueError, match="needs columns"):
        paired_differences(df, "absent", "ref")


def test_seeds_rule_reaches_its_target_and_no_fewer_would():
    n = seeds_for_half_width(2.0, 0.5)
    q = stats.t.ppf(0.975, n - 1)
    assert q * 2.0 / math.sqrt(n) <= 0.5
    assert stats.t.ppf(0.975, n - 2) * 2.0 / math.sqrt(n - 1) > 0.5
    assert seeds_for_half_width(0.0, 1.0) == 3
    with pytest.raises(ValueError):
        seeds_for_half_width(1.0, 0.0)


def test_t_interval_degenerate_sizes():
    assert t_interval(np.array([1.0]))[1] == -math.inf
    assert math.isnan(t_interval(np.array([]))[0])


def test_report_strings_name_the_verdicts():
    tab = pd.concat([paired_differences(_table(-1.0, 0.2), "m", "ref"),
                     paired_differences(_table(0.0, 0.2).replace({"alg": "alg2"}), "m", "ref")])
    md = paired_markdown_table(tab)
    assert list(md["verdict"]) == [BETTER, TIED]
    s = verdict_sentence(tab)
    assert "better than ref: alg" in s and "tied with ref: alg2" in s
