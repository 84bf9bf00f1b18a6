import os

import numpy as np
import pandas as pd
import pytest

from paper_repro.runner import run_sweep
from paper_repro.store import Cell, DamagedCellWarning, ResultStore


def noisy_mean_cell(cell: Cell) -> pd.DataFrame:
    """A small seeded computation standing in for an experiment."""
    if cell.config.get("fail"):
        raise KeyboardInterrupt("simulated interruption")
    rng = np.random.default_rng(cell.seed)
    x = rng.normal(cell.config["mu"], 1.0, cell.config["n"])
    return pd.DataFrame({"algorithm": cell.algorithm, "t": np.arange(1, x.size + 1),
                         "running_mean": np.cumsum(x) / np.arange(1, x.size + 1)})


def cells(n_seeds=3):
    return [Cell("demo", alg, dict(mu=mu, n=50), seed)
            for alg, mu in (("a", 0.0), ("b", 1.0)) for seed in range(n_seeds)]


def test_cell_key_depends_on_every_field_and_is_order_free():
    c = Cell("s", "a", dict(x=1, y=[1, 2]), 0)
    assert c.key == Cell("s", "a", dict(y=(1, 2), x=1), 0).key
    assert len({c.key, Cell("s", "a", dict(x=2, y=[1, 2]), 0).key, Cell("s", "a", dict(x=1, y=[1, 2]), 1).key,
                Cell("s", "b", dict(x=1, y=[1, 2]), 0).key, Cell("t", "a", dict(x=1, y=[1, 2]), 0).key}) == 5
    with pytest.raises(ValueError, match="JSON-like"):
        _ = Cell("s", "a", dict(f=object())).key


def test_local_workers_give_the_same_table(tmp_path):
    one = run_sweep(cells(), noisy_mean_cell, ResultStore(tmp_path / "one"), workers=1, quiet=True)
    two = run_sweep(cells(), noisy_mean_cell, ResultStore(tmp_path / "two"), workers=2, quiet=True)
    pd.testing.assert_frame_equal(one, two)
    assert len(one) == 6 * 50


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    full = run_sweep(cells(), noisy_mean_cell, ResultStore(tmp_path / "full"), workers=1, quiet=True)
    store = ResultStore(tmp_path / "resumed")
    broken = cells()
    broken[3] = Cell("demo", "b", dict(mu=1.0, n=50, fail=True), 0)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(broken, noisy_mean_cell, store, workers=1, quiet=True)
    done = [c for c in cells() if store.has(c)]
    assert len(done) == 3  # everything finished before the interruption is kept
    mtimes = {c.key: os.path.getmtime(store.path(c)) for c in done}
    resumed = run_sweep(cells(), noisy_mean_cell, store, workers=1, quiet=True)
    pd.testing.assert_frame_equal(resumed, full)
    assert all(os.path.getmtime(store.path(c)) == mtimes[c.key] for c in done)


def test_dask_local_cluster_matches_local(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    local = run_sweep(cells(2), noisy_mean_cell, ResultStore(tmp_path / "l"), workers=1, quiet=True)
    dask = run_sweep(cells(2), noisy_mean_cell, ResultStore(tmp_path / "d"), backend="dask",
                     workers=2, quiet=True)
    pd.testing.assert_frame_equal(local, dask)


def test_bad_backend_and_unreachable_scheduler(tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        run_sweep(cells(1), noisy_mean_cell, store, backend="slurm")
    with pytest.raises(ValueError, match="goes with --backend dask"):
        run_sweep(cells(1), noisy_mean_cell, store, scheduler="tcp://127.0.0.1:1")
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler"):
        run_sweep(cells(1), noisy_mean_cell, store, backend="dask", scheduler="tcp://127.0.0.1:9")


def test_corrupt_result_file_is_named_moved_aside_and_recomputed(tmp_path):
    store = ResultStore(tmp_path)
    c = cells(1)[0]
    os.makedirs(os.path.dirname(store.path(c)))
    open(store.path(c), "w").write("not parquet")
    with pytest.warns(DamagedCellWarning, match=r"damaged result file .*\.parquet"):
        df = run_sweep([c], noisy_mean_cell, store, quiet=True)
    pd.testing.assert_frame_equal(df, store.load(c))
    assert os.listdir(os.path.join(tmp_path, "quarantine", "demo"))
