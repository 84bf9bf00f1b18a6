"""FeatureBank storage as one unit: a save stopped between its two files is completed on load,
files of two different saves are refused, features are checked finite on write and on read, and
normalising to an unrepresentable norm is refused at once."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sim.real.bank as bank_module
from sim.real.bank import PAIRS_FILE, RESPONSES_FILE, SAVE_KEY, FeatureBank

from .test_bank import tables


def make_bank(seed: int = 0) -> FeatureBank:
    responses, features, pairs = tables(seed=seed)
    if seed:
        pairs = pairs.assign(label=1 - pairs["label"])
    return FeatureBank(responses, features, pairs)


def test_both_files_carry_the_same_save_token_and_reloading_reproduces_them(tmp_path):
    b = make_bank()
    b.save(tmp_path / "one")
    tokens = {pq.read_schema(tmp_path / "one" / f).metadata[SAVE_KEY.encode()]
              for f in (RESPONSES_FILE, PAIRS_FILE)}
    assert len(tokens) == 1
    FeatureBank.load(tmp_path / "one").save(tmp_path / "two")
    for f in (RESPONSES_FILE, PAIRS_FILE):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes()
    assert SAVE_KEY not in FeatureBank.load(tmp_path / "one").metadata


def test_a_save_stopped_between_its_two_files_is_completed_on_load(tmp_path, monkeypatch):
    make_bank(0).save(tmp_path)
    new = make_bank(1)
    real_replace, calls = os.replace, []

    def stop_after_first(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt("stopped between the renames")
        real_replace(src, dst)

    monkeypatch.setattr(bank_module.os, "replace", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path)
    monkeypatch.setattr(bank_module.os, "replace", real_replace)
    loaded = FeatureBank.load(tmp_path)  # new features with the new labels, not the old ones
    np.testing.assert_array_equal(loaded.features, new.features)
    np.testing.assert_array_equal(loaded.pairs["label"], new.pairs["label"])
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_a_save_stopped_while_writing_leaves_the_old_bank(tmp_path, monkeypatch):
    old = make_bank(0)
    old.save(tmp_path)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bank_module.pq, "write_table", fail)
    with pytest.raises(OSError, match="disk full"):
        make_bank(1).save(tmp_path)
    monkeypatch.undo()
    loaded = FeatureBank.load(tmp_path)
    np.testing.assert_array_equal(loaded.pairs["label"], old.pairs["label"])
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_files_of_two_different_saves_are_refused(tmp_path):
    make_bank(0).save(tmp_path / "a")
    make_bank(1).save(tmp_path / "b")
    shutil.copy(tmp_path / "b" / PAIRS_FILE, tmp_path / "a" / PAIRS_FILE)
    with pytest.raises(ValueError, match="come from different saves"):
        FeatureBank.load(tmp_path / "a")
    # a pairs file rewritten by another tool (no token) is refused too
    table = pq.read_table(tmp_path / "b" / PAIRS_FILE).replace_schema_metadata({})
    pq.write_table(table, tmp_path / "a" / PAIRS_FILE)
    with pytest.raises(ValueError, match="come from different saves"):
        FeatureBank.load(tmp_path / "a")


def test_banks_written_by_other_tools_without_tokens_still_load(tmp_path):
    make_bank(0).save(tmp_path)
    for f in (RESPONSES_FILE, PAIRS_FILE):
        table = pq.read_table(tmp_path / f)
        meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != SAVE_KEY.encode()}
        pq.write_table(table.replace_schema_metadata(meta), tmp_path / f)
    assert FeatureBank.load(tmp_path).n_pairs == 3


def test_features_are_checked_finite_on_write_and_on_read(tmp_path):
    b = make_bank(0)
    b.features.setflags(write=True)  # a caller that bypasses the read-only features
    b.features[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"responses\.parquet row 2: feature is not finite"):
        b.save(tmp_path / "w")
    assert not os.path.exists(tmp_path / "w" / RESPONSES_FILE)
    make_bank(0).save(tmp_path / "r")
    table = pq.read_table(tmp_path / "r" / RESPONSES_FILE)
    values = np.array(table.column("feature").combine_chunks().flatten())
    values[4] = np.nan
    column = pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float32()), 3)
    i = table.column_names.index("feature")
    pq.write_table(table.set_column(i, "feature", column), tmp_path / "r" / RESPONSES_FILE)
    with pytest.raises(ValueError, match=r"responses\.parquet row 1: feature\[1\] = nan is not finite"):
        FeatureBank.load(tmp_path / "r")


@pytest.mark.parametrize("L", [1e-45, 1e-38, 1e40])
def test_normalising_to_an_unrepresentable_norm_is_refused(L):
    with pytest.raises(ValueError, match=r"is outside \[1e-30, 1e\+30\]: features are stored as float32"):
        make_bank().normalized(L)


def test_tiny_features_normalise_exactly():
    responses, _, pairs = tables()
    tiny = np.zeros((5, 3))
    tiny[:, 0] = 1e-45  # float32 subnormals
    tiny[3, 1] = 3e-45
    b = FeatureBank(responses, tiny, pairs).normalized(1.0)
    assert b.max_feature_norm() <= 1.0 and b.max_feature_norm() > 0.99
    assert np.count_nonzero(b.features) == 6


def test_complex_features_are_refused_not_cast():
    responses, features, pairs = tables()
    with pytest.raises(ValueError, match=r"responses\.parquet: features must be real"):
        FeatureBank(responses, features + 1j, pairs)
