"""The ranked feature-bank format: round trips, the tie rule, one-line errors."""

import numpy as np
import pandas as pd
import pytest

from sim.real.ranked_bank import (
    RankedBank,
    ranked_bank_from_table,
    ranked_bank_table,
    ranks_from_scores,
    read_ranked_bank,
    write_ranked_bank,
)


def _table(n=4, m=3, d=2, seed=0, rank=True, score=False):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        places = rng.permutation(m)
        for k in range(m):
            row = {"prompt_id": f"p{i}", "response_id": f"p{i}r{k}"}
            if rank:
                row["rank"] = int(places[k])
            if score:
                row["score"] = float(m - places[k])
            row.update({f"f{j}": float(v) for j, v in enumerate(rng.normal(size=d))})
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_round_trip(tmp_path, suffix):
    bank = ranked_bank_from_table(_table(), source="t")
    path = write_ranked_bank(bank, tmp_path / f"b{suffix}")
    back = read_ranked_bank(path)
    assert back.F.shape == (4, 3, 2) and back.prompt_ids == bank.prompt_ids
    np.testing.assert_array_equal(back.rank, bank.rank)
    np.testing.assert_allclose(back.F, bank.F)
    assert back.response_ids == bank.response_ids


def test_rank_column_is_places_and_rank_array_is_order():
    t = pd.DataFrame({"prompt_id": ["a", "a", "a"], "rank": [2, 0, 1],
                      "f0": [0.0, 1.0, 2.0]})
    bank = ranked_bank_from_table(t)
    # the response with rank 0 (row 1) is first, then rank 1 (row 2), then rank 2 (row 0)
    assert bank.rank.tolist() == [[1, 2, 0]]
    assert bank.places().tolist() == [[2, 0, 1]]
    assert ranked_bank_table(bank)["rank"].tolist() == [2, 0, 1]


def test_scores_give_decreasing_order_and_seeded_ties():
    t = pd.DataFrame({"prompt_id": ["a"] * 4, "score": [1.0, 3.0, 1.0, 2.0],
                      "f0": [0.0, 1.0, 2.0, 3.0]})
    b0 = ranked_bank_from_table(t, seed=0)
    assert b0.rank[0, :2].tolist() == [1, 3] and set(b0.rank[0, 2:]) == {0, 2}
    assert b0.tied_pairs == 1
    orders = {tuple(ranked_bank_from_table(t, seed=s).rank[0]) for s in range(20)}
    assert orders == {(1, 3, 0, 2), (1, 3, 2, 0)}  # both orders of the tie occur
    assert ranked_bank_from_table(t, seed=5).rank.tolist() == \
        ranked_bank_from_table(t, seed=5).rank.tolist()
    with pytest.raises(ValueError, match="equal scores"):
        ranked_bank_from_table(t, ties="error")


def test_ranks_from_scores_without_ties_is_argsort():
    s = np.random.default_rng(1).normal(size=(5, 6))
    rank, tied = ranks_from_scores(s, np.random.default_rng(0))
    assert tied == 0
    np.testing.assert_array_equal(rank, np.argsort(-s, axis=1))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(columns="prompt_id"), "missing column 'prompt_id'"),
    (lambda t: t.drop(columns="rank"), "missing column 'rank' or 'score'"),
    (lambda t: t.drop(columns=["f0", "f1"]), "missing feature columns"),
    (lambda t: t.drop(columns="f0"), "without gaps"),
    (lambda t: t.assign(f1=[np.nan] + [0.0] * (len(t) - 1)), "non-finite feature at row 0"),
    (lambda t: t.iloc[:-2], "has 1 response; m >= 2"),
    (lambda t: t.iloc[:-1], "every prompt needs the same number m"),
    (lambda t: t.assign(rank=[0] * len(t)), "not a permutation of 0..2"),
    (lambda t: t.assign(rank=[0.5] * len(t)), "must hold integers"),
    (lambda t: t.assign(split=["train", "eval"] + ["train"] * (len(t) - 2)), "several splits"),
])
def test_malformed_input_one_line_errors(tmp_path, edit, message):
    path = tmp_path / "bad.parquet"
    edit(_table()).to_parquet(path)
    with pytest.raises(ValueError, match=message) as exc:
        read_ranked_bank(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_ranked_bank(tmp_path / "none.parquet")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="unknown file type"):
        read_ranked_bank(tmp_path / "x.json")
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="cannot be read") as exc:
        read_ranked_bank(tmp_path / "x.parquet")
    assert "\n" not in str(exc.value)


def test_split_column_and_normalisation():
    t = _table().assign(split=lambda t: np.where(t["prompt_id"] == "p0", "eval", "train"))
    bank = ranked_bank_from_table(t)
    assert bank.split == ("eval", "train", "train", "train")
    nb = bank.normalized(1.0)
    assert np.linalg.norm(nb.F, axis=2).max() <= 1.0
    assert np.linalg.norm(nb.F, axis=2).max() > 1.0 - 1e-9


def test_array_construction_validates():
    F = np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match="not a permutation"):
        RankedBank(("a", "b"), F, np.array([[0, 1, 2], [0, 0, 2]]))
    with pytest.raises(ValueError, match="m >= 2"):
        RankedBank(("a",), np.zeros((1, 1, 1)), np.array([[0]]))
