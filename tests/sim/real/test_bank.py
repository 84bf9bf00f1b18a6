"""FeatureBank: validation naming file and row, round trip, pair differences, ties, normalisation."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.real.bank import PAIRS_FILE, RESPONSES_FILE, FeatureBank


def tables(d: int = 3, seed: int = 0):
    """Prompt p1 with responses r1..r3, prompt p2 with r4, r5; three labelled pairs."""
    rng = np.random.default_rng(seed)
    responses = pd.DataFrame({
        "prompt_id": ["p1", "p1", "p1", "p2", "p2"],
        "response_id": ["r1", "r2", "r3", "r4", "r5"],
    })
    features = rng.normal(size=(5, d)).astype(np.float32)
    pairs = pd.DataFrame({
        "prompt_id": ["p1", "p1", "p2"],
        "response_a": ["r1", "r3", "r4"],
        "response_b": ["r2", "r1", "r5"],
        "label": [1, 0, 1],
        "split": ["train", "train", "eval"],
    })
    return responses, features, pairs


def bank(**overrides) -> FeatureBank:
    responses, features, pairs = tables()
    fields = dict(responses=responses, features=features, pairs=pairs)
    fields.update(overrides)
    return FeatureBank(**fields)


def with_column(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    out = frame.copy()
    values = out[column].to_numpy(dtype=object).copy()
    values[row] = value
    out[column] = values
    return out


R, F, P = tables()


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"responses": with_column(R, "response_id", 2, "r1")},
         r"^responses\.parquet row 2: duplicate response_id 'r1' \(first at row 0\)"),
        ({"responses": with_column(R, "response_id", 1, "")},
         r"^responses\.parquet row 1: response_id must be a non-empty string, got ''"),
        ({"responses": with_column(R, "prompt_id", 4, None)},
         r"^responses\.parquet row 4: prompt_id is missing"),
        ({"responses": R.drop(columns="prompt_id")}, r"^responses\.parquet: missing column 'prompt_id'"),
        ({"features": np.where(np.arange(15).reshape(5, 3) == 5, np.nan, F)},
         r"^responses\.parquet row 1: feature\[2\] = nan is not finite"),
        ({"features": F.astype(np.float64) * np.where(np.arange(15).reshape(5, 3) == 9, 1e300, 1)},
         r"^responses\.parquet row 3: feature\[0\] = .*e\+.* is not finite as float32"),
        ({"features": [[0.0, 1.0, 2.0]] * 3 + [[0.0, 1.0]] + [[0.0, 1.0, 2.0]]},
         r"^responses\.parquet row 3: feature has dimension 2, but row 0 has dimension 3"),
        ({"features": F[:4]}, r"4 feature rows for 5 responses"),
        ({"responses": R.assign(prompt_sha256="ABC" * 21 + "D")},
         r"^responses\.parquet row 0: prompt_sha256 must be 64 lowercase hex digits"),
        ({"responses": R.assign(score=[0.1, 0.2, np.inf, 0.3, 0.4])},
         r"^responses\.parquet row 2: score = inf is not finite"),
        ({"pairs": with_column(P, "response_b", 1, "r9")},
         r"^pairs\.parquet row 1: response_b 'r9' is not a response_id of responses\.parquet"),
        ({"pairs": with_column(P, "response_a", 0, "r4")},
         r"^pairs\.parquet row 0: response_a 'r4' belongs to prompt 'p2', not to the pair's prompt 'p1'"),
        ({"pairs": with_column(P, "prompt_id", 2, "p1")},
         r"^pairs\.parquet row 2: response_a 'r4' belongs to prompt 'p2', not to the pair's prompt 'p1'"),
        ({"pairs": with_column(P, "label", 2, 2)}, r"^pairs\.parquet row 2: label must be 0 or 1, got 2"),
        ({"pairs": with_column(P, "label", 0, 0.5)},
         r"^pairs\.parquet row 0: label must be 0 or 1, got 0\.5"),
        ({"pairs": with_column(P, "label", 1, -1)}, r"^pairs\.parquet row 1: label must be 0 or 1, got -1"),
        ({"pairs": with_column(P, "response_b", 1, "r3")},
         r"^pairs\.parquet row 1: response_a == response_b = 'r3'"),
        ({"pairs": P.drop(columns="label")},
         r"^pairs\.parquet: needs a 'label' column or both 'score_a' and 'score_b'"),
        ({"pairs": P.assign(score_a=1.0)}, r"^pairs\.parquet: has 'score_a' but not 'score_b'"),
        ({"pairs": P.assign(score_a=[1.0, np.nan, 2.0], score_b=0.0)},
         r"^pairs\.parquet row 1: score_a = nan is not finite"),
        ({"pairs": with_column(P, "split", 0, "")},
         r"^pairs\.parquet row 0: split must be a non-empty string"),
        ({"metadata": {"model": 3}}, r"metadata must map str to str"),
    ],
)
def test_construction_errors_name_file_row_and_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        bank(**overrides)


def rewrite(folder, name: str, change) -> None:
    """Replace the Parquet table `name` in folder by change(table)."""
    path = os.path.join(folder, name)
    pq.write_table(change(pq.read_table(path)), path)


def set_column(table: pa.Table, column: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(column), column, array)


def feature_list(rows, value_type=pa.float64()) -> pa.Array:
    return pa.array(rows, type=pa.list_(value_type))


@pytest.mark.parametrize(
    "name, change, message",
    [
        (RESPONSES_FILE,
         lambda t: set_column(t, "feature", feature_list([[0.0, 1.0, 2.0], [1.0, 2.0]] + [[0.0] * 3] * 3)),
         r"responses\.parquet row 1: feature has dimension 2, but row 0 has dimension 3"),
        (RESPONSES_FILE,
         lambda t: set_column(t, "feature", feature_list([[0.0] * 3] * 4 + [[0.0, float("inf"), 0.0]])),
         r"responses\.parquet row 4: feature\[1\] = inf is not finite"),
        (RESPONSES_FILE,
         lambda t: set_column(t, "feature", feature_list([[0.0] * 3] * 2 + [None] + [[0.0] * 3] * 2)),
         r"responses\.parquet row 2: feature is null"),
        (RESPONSES_FILE,
         lambda t: set_column(t, "response_id", pa.array(["r1", "r2", "r3", "r4", "r4"])),
         r"responses\.parquet row 4: duplicate response_id 'r4' \(first at row 3\)"),
        (RESPONSES_FILE, lambda t: t.drop_columns(["feature"]),
         r"responses\.parquet: missing column 'feature'"),
        (RESPONSES_FILE,
         lambda t: set_column(t, "feature", pa.array(["x"] * 5)),
         r"column 'feature' must be a list of floats, got string"),
        (PAIRS_FILE, lambda t: set_column(t, "label", pa.array([1, 3, 0], pa.int64())),
         r"pairs\.parquet row 1: label must be 0 or 1, got 3"),
        (PAIRS_FILE, lambda t: set_column(t, "label", pa.array([1, None, 0], pa.int64())),
         r"pairs\.parquet row 1: label must be 0 or 1, got nan"),
        (PAIRS_FILE, lambda t: set_column(t, "response_a", pa.array(["r1", "r3", "r5"])),
         r"pairs\.parquet row 2: response_a == response_b = 'r5'"),
        (PAIRS_FILE, lambda t: set_column(t, "response_b", pa.array(["r2", "rX", "r5"])),
         r"pairs\.parquet row 1: response_b 'rX' is not a response_id"),
        (PAIRS_FILE, lambda t: set_column(t, "prompt_id", pa.array(["p1", "p2", "p2"])),
         r"pairs\.parquet row 1: response_a 'r3' belongs to prompt 'p1', not to the pair's prompt 'p2'"),
    ],
)
def test_load_errors_name_the_file_in_the_folder_and_the_row(tmp_path, name, change, message):
    bank().save(tmp_path)
    rewrite(tmp_path, name, change)
    with pytest.raises(ValueError, match=message) as info:
        FeatureBank.load(tmp_path)
    assert str(info.value).startswith(os.path.join(str(tmp_path), name))


def test_load_of_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(ValueError, match=r"responses\.parquet: no such file"):
        FeatureBank.load(tmp_path)
    bank().save(tmp_path)
    (tmp_path / PAIRS_FILE).write_text("not parquet")
    with pytest.raises(ValueError, match=r"pairs\.parquet: not a readable Parquet file"):
        FeatureBank.load(tmp_path)


def test_variable_list_features_of_one_length_load_as_float32(tmp_path):
    b = bank()
    b.save(tmp_path)
    rows = b.features.astype(np.float64).tolist()
    rewrite(tmp_path, RESPONSES_FILE, lambda t: set_column(t, "feature", feature_list(rows)))
    loaded = FeatureBank.load(tmp_path)
    assert loaded.features.dtype == np.float32
    np.testing.assert_array_equal(loaded.features, b.features)


# ---------------------------------------------------------------- round trip

def scored_bank() -> FeatureBank:
    responses, features, pairs = tables(d=4, seed=3)
    responses = responses.assign(
        prompt_sha256=["a" * 64] * 3 + ["b" * 64] * 2,
        score=[0.25, 0.5, 0.125, 1.0, 0.0],
        arm=["m1", "m2", "m3", "m1", "m2"],
    )
    pairs = pairs.assign(score_a=[9.0, 7.5, 3.0], score_b=[8.0, 7.5, 1.0], pair_id=["x:1", "x:2", "y:1"])
    return FeatureBank(responses, features, pairs, {"model": "m", "pooling": "mean"})


def test_save_load_round_trip_is_bit_identical(tmp_path):
    b = scored_bank()
    b.save(tmp_path / "one")
    loaded = FeatureBank.load(tmp_path / "one")
    assert loaded.features.dtype == np.float32
    assert loaded.features.tobytes() == b.features.tobytes()
    pd.testing.assert_frame_equal(loaded.responses, b.responses)
    pd.testing.assert_frame_equal(loaded.pairs, b.pairs)
    assert loaded.metadata == b.metadata
    for split in (None, "train", "eval"):
        for x, y in zip(loaded.pair_differences(split), b.pair_differences(split)):
            assert x.tobytes() == y.tobytes()
    loaded.save(tmp_path / "two")
    for name in (RESPONSES_FILE, PAIRS_FILE):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    schema = pq.read_schema(tmp_path / "one" / RESPONSES_FILE)
    assert schema.field("feature").type == pa.list_(pa.float32(), 4)
    assert schema.metadata[b"model"] == b"m" and schema.metadata[b"rlhf_testbed.bank_format"] == b"1"


# ------------------------------------------------------------ the arrays

def test_pair_differences_equal_a_direct_computation():
    b = scored_bank()
    row = {rid: i for i, rid in enumerate(b.responses["response_id"])}
    for split, expected_rows in (("train", [0, 1]), ("eval", [2]), (None, [0, 1, 2])):
        Z, y = b.pair_differences(split)
        assert Z.dtype == np.float64 and y.dtype == np.float64
        assert Z.shape == (len(expected_rows), 4) and y.shape == (len(expected_rows),)
        for t, r in enumerate(expected_rows):
            pa_, pb = b.pairs.loc[r, "response_a"], b.pairs.loc[r, "response_b"]
            direct = np.float64(b.features[row[pa_]]) - np.float64(b.features[row[pb]])
            np.testing.assert_array_equal(Z[t], direct)
            assert y[t] == b.pairs.loc[r, "label"]
    with pytest.raises(ValueError, match=r"no split 'test' in the bank; splits: train, eval"):
        b.pair_differences("test")
    assert b.d == 4 and b.n_pairs == 3 and b.n_responses == 5 and b.splits == ("train", "eval")


def test_features_by_prompt_and_arm_features():
    b = scored_bank()
    groups = b.features_by_prompt()
    assert list(groups) == ["p1", "p2"]
    assert list(groups["p1"].response_ids) == ["r1", "r2", "r3"]
    np.testing.assert_array_equal(groups["p2"].features, b.features[3:].astype(np.float64))
    np.testing.assert_array_equal(groups["p1"].scores, [0.25, 0.5, 0.125])
    with pytest.raises(ValueError, match=r"different numbers of responses \('p1': 3, 'p2': 2\)"):
        b.arm_features()
    square = FeatureBank(b.responses.iloc[[0, 1, 3, 4]], b.features[[0, 1, 3, 4]], b.pairs.iloc[[2]])
    prompt_ids, response_ids, phi, scores = square.arm_features()
    assert list(prompt_ids) == ["p1", "p2"] and response_ids.tolist() == [["r1", "r2"], ["r4", "r5"]]
    assert phi.shape == (2, 2, 4) and phi.dtype == np.float64
    np.testing.assert_array_equal(phi[1, 0], b.features[3])
    np.testing.assert_array_equal(scores, [[0.25, 0.5], [1.0, 0.0]])


def test_pairs_default_to_the_train_split():
    b = bank(pairs=P.drop(columns="split"))
    assert b.splits == ("train",)
    assert b.pair_differences("train")[0].shape == (3, 3)


# -------------------------------------------------------------------- ties

def score_only_pairs() -> pd.DataFrame:
    return P.drop(columns="label").assign(score_a=[2.0, 5.0, 1.0], score_b=[1.0, 5.0, 3.0])


def test_labels_derived_from_scores_and_ties_dropped_by_default():
    b = bank(pairs=score_only_pairs())
    assert b.dropped_ties == 1 and b.n_pairs == 2
    assert b.pairs["label"].tolist() == [1, 0]
    assert b.pairs["response_a"].tolist() == ["r1", "r4"]
    assert not b.pairs["tie"].any()


def test_ties_kept_are_flagged_with_label_0_and_error_names_the_rows():
    b = bank(pairs=score_only_pairs(), ties="keep")
    assert b.dropped_ties == 0 and b.n_pairs == 3
    assert b.pairs["tie"].tolist() == [False, True, False]
    assert b.pairs["label"].tolist() == [1, 0, 0]
    message = r"^pairs\.parquet rows 1: 1 ties \(score_a == score_b\) and no label"
    with pytest.raises(ValueError, match=message):
        bank(pairs=score_only_pairs(), ties="error")
    with pytest.raises(ValueError, match=r"ties must be one of drop, keep, error"):
        bank(ties="toss")


def test_a_given_label_wins_over_scores_and_ties_stay(tmp_path):
    pairs = P.assign(score_a=[2.0, 5.0, 1.0], score_b=[1.0, 5.0, 3.0])
    b = bank(pairs=pairs)
    assert b.n_pairs == 3 and b.pairs["label"].tolist() == [1, 0, 1]
    assert b.pairs["tie"].tolist() == [False, True, False]


def test_a_bank_with_derived_labels_saves_them(tmp_path):
    b = bank(pairs=score_only_pairs(), ties="keep")
    b.save(tmp_path)
    assert "tie" not in pq.read_schema(tmp_path / PAIRS_FILE).names
    loaded = FeatureBank.load(tmp_path)  # the label column is present now: nothing to drop
    assert loaded.n_pairs == 3 and loaded.pairs["label"].tolist() == [1, 0, 0]
    assert loaded.pairs["tie"].tolist() == [False, True, False]


def test_load_applies_ties_to_a_score_only_file(tmp_path):
    bank().save(tmp_path)
    rewrite(tmp_path, PAIRS_FILE, lambda t: t.drop_columns(["label"]).append_column(
        "score_a", pa.array([2.0, 5.0, 1.0])).append_column("score_b", pa.array([1.0, 5.0, 3.0])))
    assert FeatureBank.load(tmp_path).n_pairs == 2
    assert FeatureBank.load(tmp_path, ties="keep").n_pairs == 3
    with pytest.raises(ValueError, match=r"pairs\.parquet rows 1: 1 ties"):
        FeatureBank.load(tmp_path, ties="error")


# ------------------------------------------------------------ normalisation

@pytest.mark.parametrize("scale, L", [(1e3, 1.0), (1e-4, 1.0), (7.0, 0.5), (1.0, 3.0)])
def test_normalized_bounds_the_norms_by_one_common_factor(scale, L):
    rng = np.random.default_rng(11)
    n = 400
    responses = pd.DataFrame({"prompt_id": [f"p{i // 2}" for i in range(n)],
                              "response_id": [f"r{i}" for i in range(n)]})
    features = (rng.normal(size=(n, 16)) * scale).astype(np.float32)
    pairs = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(n // 2)],
                          "response_a": [f"r{2 * i}" for i in range(n // 2)],
                          "response_b": [f"r{2 * i + 1}" for i in range(n // 2)],
                          "label": rng.integers(0, 2, n // 2)})
    b = FeatureBank(responses, features, pairs, {"feature_scale": "2.0"})
    nb = b.normalized(L)
    norms = np.linalg.norm(nb.features.astype(np.float64), axis=1)
    assert norms.max() <= L
    assert norms.max() >= L * (1 - 1e-6)
    c = nb.feature_scale / 2.0
    np.testing.assert_allclose(nb.features, b.features.astype(np.float64) * c, rtol=1e-6)
    np.testing.assert_allclose(c, L / np.linalg.norm(b.features.astype(np.float64), axis=1).max(), rtol=1e-6)
    Z, y = b.pair_differences()
    Zn, yn = nb.pair_differences()
    np.testing.assert_array_equal(y, yn)
    np.testing.assert_allclose(Zn, Z * c, rtol=1e-5, atol=1e-7 * L)
    assert np.linalg.norm(Zn, axis=1).max() <= 2 * L
    with pytest.raises(ValueError, match=r"L must be a positive finite number, got 0"):
        b.normalized(0)
