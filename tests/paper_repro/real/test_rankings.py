"""The ranked-data driver: PL OMD, PL MLE and pairwise breaking on tiny synthetic ranked banks
written to tmp_path; the AlpacaEval rankings run when the shared data are here."""

import numpy as np
import pandas as pd
import pytest

from paper_repro.real.rankings import (
    RankedSettings,
    draw_queries,
    heldout_nll,
    main,
    pair_agreement,
    ranked_experiment,
    run_ranked_bank,
)
from sim.real.ranked_bank import RankedBank, read_ranked_bank, write_ranked_bank


def _pl_bank(n=60, M=5, d=3, seed=0, scores=True) -> RankedBank:
    """Prompts with M responses, a PL ranking on linear utilities (Gumbel draws), and the
    utilities as scores."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, M, d)) / np.sqrt(d)
    theta = np.array([2.0, -1.0, 0.5])[:d]
    u = F @ theta
    rank = np.argsort(-(u + rng.gumbel(size=u.shape)), axis=1)
    return RankedBank(tuple(f"p{i}" for i in range(n)), F, rank, u if scores else None)


def test_pair_agreement_and_nll_reference_values():
    ref = np.array([[3.0, 2.0, 1.0, 1.0]])
    agree, per = pair_agreement(ref.copy(), ref)
    assert agree == 1.0 and per.shape == (1,)
    assert pair_agreement(-ref, ref)[0] == 0.0
    assert pair_agreement(np.zeros_like(ref), ref)[0] == 0.5
    F = np.random.default_rng(0).normal(size=(7, 4, 2))
    rank = np.tile(np.arange(4), (7, 1))
    # theta = 0: each stage is uniform over the items left: mean of log 4, log 3, log 2
    assert heldout_nll(F, rank, np.zeros(2)) == pytest.approx(np.log(24) / 3)


def test_draw_queries_data_oracle_induces_the_bank_ranking():
    bank = _pl_bank(n=5, M=5, scores=False)
    rng = np.random.default_rng(0)
    P, items, F, rank = draw_queries(bank, np.arange(5), 3, 4, "data", rng, rng)
    place = bank.places()
    for t in range(P.shape[0]):
        got = place[P[t], items[t][rank[t]]]
        assert np.all(np.diff(got) > 0)  # best place first
        np.testing.assert_array_equal(F[t], bank.F[P[t], items[t]])


def test_estimators_learn_on_pl_data_and_m2_breaking_is_the_mle():
    bank = _pl_bank(n=80)
    df = ranked_experiment(bank, RankedSettings(ms=(2, 5), queries_per_prompt=10,
                                                repetitions=1, oracle="pl-scores"))
    assert set(df["method"]) == {"pl-omd", "pl-mle", "breaking", "uniform"}
    g = df.set_index(["m", "method"])
    for m in (2, 5):
        for method in ("pl-omd", "pl-mle", "breaking"):
            assert g.loc[(m, method), "pair_agreement"] > 0.75
            assert g.loc[(m, method), "heldout_nll"] < g.loc[(m, "uniform"), "heldout_nll"]
        assert g.loc[(m, "uniform"), "pair_agreement"] == 0.5
    # with m = 2 pairwise breaking is the Bradley-Terry MLE, which is the PL MLE
    assert g.loc[(2, "breaking"), "pair_agreement"] == g.loc[(2, "pl-mle"), "pair_agreement"]
    assert g.loc[(2, "breaking"), "heldout_nll"] == pytest.approx(
        g.loc[(2, "pl-mle"), "heldout_nll"], rel=1e-6)
    assert (g.xs(5, level="m")["pairs"] == 10 * g.xs(5, level="m")["rankings"]).all()


def test_same_seed_same_bits_and_settings_errors():
    bank = _pl_bank(n=20)
    s = RankedSettings(ms=(2, 3), queries_per_prompt=3, repetitions=2)
    a = ranked_experiment(bank, s).drop(columns="wall_time")
    b = ranked_experiment(bank, s).drop(columns="wall_time")
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="no query size"):
        ranked_experiment(bank, RankedSettings(ms=(9,)))
    with pytest.raises(ValueError, match="needs scores"):
        ranked_experiment(_pl_bank(n=10, scores=False), RankedSettings(oracle="pl-scores"))


def test_user_ranked_bank_file_through_the_driver_and_the_cli(tmp_path, capsys):
    path = write_ranked_bank(_pl_bank(n=40, M=4, scores=False), tmp_path / "mine.csv")
    res = run_ranked_bank(path, str(tmp_path / "out"), RankedSettings(ms=(2, 8),
                                                                      queries_per_prompt=4,
                                                                      repetitions=1))
    assert sorted(res.tables["runs"]["m"].unique()) == [2, 4]  # 8 > m = 4: the bank's m
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Ranked data")
    assert (tmp_path / "out" / "tables" / "ranked_summary.csv").exists()
    assert main(["--data", str(path), "--out", str(tmp_path / "o2"), "--repetitions", "1",
                 "--queries-per-prompt", "2", "--ms", "2,3"]) == 0
    bad = tmp_path / "bad.csv"
    pd.read_csv(path).drop(columns="f0").to_csv(bad, index=False)
    assert main(["--data", str(bad), "--out", str(tmp_path / "o3")]) == 2
    assert "error: ranked bank" in capsys.readouterr().err


def test_real_cli_format_ranked(tmp_path):
    from paper_repro.real_cli import main as real_main

    path = write_ranked_bank(_pl_bank(n=30, M=3), tmp_path / "r.parquet")
    assert read_ranked_bank(path).m == 3
    assert real_main(["--data", str(path), "--format", "ranked", "--out",
                      str(tmp_path / "out"), "--quick", "--quiet"]) == 0
    assert (tmp_path / "out" / "report.md").exists()


def _need_alpacaeval():
    from sim.real.shared_banks import missing_llm_extra, missing_shared_files

    reason = missing_shared_files(("alpacaeval",))
    if reason:
        pytest.skip(f"needs the shared data: {reason}")
    extra = missing_llm_extra()
    if extra:
        pytest.skip(f"needs the llm extra (pip install -e '.[llm]'): {extra} is not installed")


def test_alpacaeval_judge_scores_rank_the_answers():
    """The judge rewards of the shared table, without features: PL draws from them agree with
    the judge's order more often than not."""
    from paper_repro.real.judge_oracle import judge_rewards
    from sim.real.adapters import read_alpacaeval, shared_file
    from sim.real.shared_banks import alpacaeval_subset, missing_shared_files

    reason = missing_shared_files(("alpacaeval",))
    if reason:
        pytest.skip(f"needs the shared data: {reason}")
    sub, _, _ = alpacaeval_subset(read_alpacaeval(shared_file("alpacaeval")), 10, 8, 0)
    scores = judge_rewards(sub.p[:, :-1])
    bank = RankedBank(sub.context_ids, np.zeros((10, 8, 1)), np.argsort(-scores, axis=1),
                      scores)
    rng = np.random.default_rng(0)
    _, items, _, rank = draw_queries(bank, np.arange(10), 2, 50, "pl-scores", rng, rng)
    P = np.repeat(np.arange(10), 50)
    s = scores[P[:, None], items]
    strict = s[:, 0] != s[:, 1]
    first_better = s[:, 0] > s[:, 1]
    agree = (rank[:, 0] == 0) == first_better
    assert agree[strict].mean() > 0.6


@pytest.mark.slow
def test_alpacaeval_rankings_tiny(tmp_path):
    from paper_repro.real.rankings import run_alpacaeval_rankings
    from paper_repro.synthetic import RunOptions

    _need_alpacaeval()
    res = run_alpacaeval_rankings("tiny", RunOptions(out=str(tmp_path), quiet=True))
    assert not res.markdown.startswith("skipped")
    df = res.tables["runs"]
    assert set(df["m"]) == {2, 4} and np.isfinite(df["heldout_nll"]).all()
