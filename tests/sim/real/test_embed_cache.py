"""The embedding cache without a model (a hash encoder stands in): atomic files, no NaN stored
or served, the model left alone when every text is cached, what the model said about itself
kept for a fully cached run, and the embed command's check of one file used twice."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.real import embed as embed_module
from sim.real.adapters import text_sha256
from sim.real.embed import EmbeddingCache, embed_texts, main

from .fake_encoder import HashEncoder, NoModel

TEXTS = ["alpha", "beta", "gamma good", "delta bad", "alpha"]


def test_second_call_reads_the_cache_and_runs_no_model(tmp_path):
    enc = HashEncoder()
    first = embed_texts(TEXTS, enc, cache=tmp_path, progress=False)
    assert enc.texts_encoded == 4  # "alpha" twice is one text
    again = embed_texts(TEXTS, NoModel(), cache=tmp_path, progress=False)
    np.testing.assert_array_equal(first, again)
    cache = EmbeddingCache(tmp_path, enc.key)
    assert len(cache) == 4 and cache.info == {"dim": 6, "max_length": 64}
    assert embed_texts([], NoModel(), cache=cache, progress=False).shape == (0, 6)
    files = sorted(os.listdir(cache.folder))
    assert not [f for f in files if ".tmp-" in f], files  # nothing half-written is left
    assert json.loads((cache.folder / "key.json").read_text()) == json.loads(
        json.dumps(enc.key, sort_keys=True))


def test_non_finite_features_are_never_written(tmp_path):
    enc = HashEncoder(nan_for="gamma")
    with pytest.raises(ValueError, match=r"returned non-finite features for 1 of 4 texts of a "
                                         r"batch \(first: sha256 [0-9a-f]{64}"):
        embed_texts(TEXTS, enc, cache=tmp_path, progress=False, batch_size=8)
    cache = EmbeddingCache(tmp_path, enc.key)
    assert len(cache) == 0
    with pytest.raises(ValueError, match=r"1 of 2 feature rows are not finite .*nothing was "
                                         r"cached"):
        cache.add(["a", "b"], np.array([[0.0, 1.0], [np.nan, 1.0]]))
    assert len(EmbeddingCache(tmp_path, enc.key)) == 0


def test_batches_before_a_bad_one_are_kept(tmp_path):
    enc = HashEncoder(nan_for="delta")
    texts = ["aaaaaaaa", "bbbbbbb", "cccccc", "delta"]  # embedded longest first, one per batch
    with pytest.raises(ValueError, match="non-finite"):
        embed_texts(texts, enc, cache=tmp_path, progress=False, batch_size=1)
    assert len(EmbeddingCache(tmp_path, enc.key)) == 3


def test_a_tampered_shard_row_is_not_served_and_is_embedded_again(tmp_path):
    enc = HashEncoder()
    good = embed_texts(TEXTS, enc, cache=tmp_path, progress=False)
    cache = EmbeddingCache(tmp_path, enc.key)
    shard = next(cache.folder.glob("*.parquet"))
    table = pq.read_table(shard)
    feats = np.array(table.column("feature").to_pylist(), dtype=np.float32)
    feats[1, 0] = np.nan
    bad = pa.table({"sha256": table.column("sha256"),
                    "feature": pa.FixedSizeListArray.from_arrays(
                        pa.array(feats.reshape(-1), pa.float32()), feats.shape[1])})
    pq.write_table(bad, shard)
    reread = EmbeddingCache(tmp_path, enc.key)
    with pytest.warns(UserWarning, match=r"1 of 4 cached features are not finite"):
        assert len(reread) == 3
    assert reread.skipped_rows == 1
    enc2 = HashEncoder()
    again = embed_texts(TEXTS, enc2, cache=reread, progress=False)
    assert enc2.texts_encoded == 1
    np.testing.assert_array_equal(again, good)
    with pytest.warns(UserWarning, match="not finite"):  # the old row stays ignored
        fresh = embed_texts(TEXTS, NoModel(), cache=tmp_path, progress=False)
    np.testing.assert_array_equal(fresh, good)


def test_metadata_of_a_cached_run_needs_no_model(tmp_path):
    enc = HashEncoder()
    embed_texts(TEXTS, enc, cache=tmp_path, progress=False)

    class Unloadable(HashEncoder):
        max_length = None

        @property
        def loaded(self):
            return False

        @property
        def effective_max_length(self):
            raise AssertionError("the model was loaded")

    u = Unloadable()
    u.max_length = None
    cache = EmbeddingCache(tmp_path, enc.key)
    assert u.metadata(cache)["max_length"] == "64"


def test_embed_command_refuses_one_file_as_train_and_eval(tmp_path, capsys):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    a = tmp_path / "train.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in rows))
    b = tmp_path / "eval.jsonl"
    b.write_bytes(a.read_bytes())
    code = main(["--dataset", "jsonl", "--input", str(a), str(b), "--out", str(tmp_path / "bank"),
                 "--no-progress", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "the same file is used for train and eval" in err
    assert err.count("\n") == 1


def test_embed_command_reports_a_bad_line_in_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a"}\n')
    monkeypatch.setattr(embed_module, "TextEncoder", lambda *a, **k: HashEncoder())
    code = main(["--dataset", "jsonl", "--input", str(path), "--out", str(tmp_path / "bank"),
                 "--no-progress", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "bad.jsonl line 1: missing field 'rejected'" in err
    assert err.count("\n") == 1


def test_cached_rows_are_keyed_by_the_text_hash(tmp_path):
    enc = HashEncoder()
    out = embed_texts(["x good"], enc, cache=tmp_path, progress=False)
    cache = EmbeddingCache(tmp_path, enc.key)
    np.testing.assert_array_equal(cache.get(text_sha256("x good")), out[0])


def test_embed_command_with_every_text_cached_runs_no_model(tmp_path, monkeypatch, capsys):
    path = tmp_path / "mine.jsonl"
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["--dataset", "jsonl", "--input", str(path), "--no-progress", "--cache-dir",
            str(tmp_path / "c")]
    monkeypatch.setattr(embed_module, "TextEncoder", lambda *a, **k: HashEncoder())
    assert main([*args, "--out", str(tmp_path / "b1")]) == 0
    monkeypatch.setattr(embed_module, "TextEncoder", lambda *a, **k: NoModel())
    assert main([*args, "--out", str(tmp_path / "b2")]) == 0
    assert "8 distinct texts, 0 run through" in capsys.readouterr().out
    from sim.real.bank import FeatureBank
    a, b = FeatureBank.load(tmp_path / "b1"), FeatureBank.load(tmp_path / "b2")
    np.testing.assert_array_equal(a.features, b.features)
    assert a.metadata["max_length"] == b.metadata["max_length"] == "64"
