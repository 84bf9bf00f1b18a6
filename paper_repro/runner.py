"""Sweep runner: run the cells of a sweep on local worker processes or a Dask cluster,
skipping cells already in the result store, with a progress bar.

Each cell's randomness comes from its own seed only, so its table does not depend on the
backend, the number of workers or the order in which cells finish; the combined table is
assembled in the order of the cell list. Columns measuring time (names containing "wall")
are measurements and naturally differ between runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import pandas as pd

from .store import Cell, ResultStore

BACKENDS = ("local", "dask")

CellFunction = Callable[[Cell], pd.DataFrame]


class _Progress:
    """Cells done, cells taken from the store, and an ETA; silent when quiet."""

    def __init__(self, total: int, cached: int, label: str, quiet: bool) -> None:
        self.bar = None
        if not quiet and total > 0:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=cached, desc=label, unit="cell",
                            dynamic_ncols=True)
            self.bar.set_postfix(cached=cached)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_and_store(fn: CellFunction, cell: Cell, root: str) -> str:
    ResultStore(root).save(cell, fn(cell))
    return cell.key


def _dask_client(scheduler: str | None, workers: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("the dask backend needs the 'distributed' package: "
                           "pip install 'rlhf-bandit-testbed[dask]'") from e
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError) as e:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from e


def run_sweep(cells: Sequence[Cell], fn: CellFunction, store: ResultStore, *,
              backend: str = "local", workers: int | None = None, scheduler: str | None = None,
              quiet: bool = False, label: str = "sweep") -> pd.DataFrame:
    """Run every cell not yet in `store` with `fn` (a picklable top-level function returning a
    tidy DataFrame), then return the tables of all cells concatenated in cell order.

    backend "local": `workers` processes (default: all cores; 1 runs in this process);
    backend "dask": the cluster at `scheduler` (tcp://HOST:PORT), or a LocalCluster of
    `workers` processes when no address is given.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if scheduler is not None and backend != "dask":
        raise ValueError("--scheduler goes with --backend dask")
    workers = int(workers or os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("the sweep lists the same cell twice")
    todo = [c for c in cells if not store.has(c)]
    progress = _Progress(len(cells), len(cells) - len(todo), label, quiet)
    try:
        if backend == "local" and (workers == 1 or len(todo) <= 1):
            for c in todo:
                _run_and_store(fn, c, store.root)
                progress.step()
        elif backend == "local":
            with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
                futures = [pool.submit(_run_and_store, fn, c, store.root) for c in todo]
                for f in as_completed(futures):
                    f.result()
                    progress.step()
        elif todo:
            client, cluster = _dask_client(scheduler, workers)
            try:
                from distributed import as_completed as dask_completed

                futures = [client.submit(_run_and_store, fn, c, store.root, key=f"cell-{c.key}",
                                         pure=False) for c in todo]
                for f in dask_completed(futures):
                    f.result()
                    progress.step()
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    finally:
        progress.close()
    if not cells:
        return pd.DataFrame()
    return pd.concat([store.load(c) for c in cells], ignore_index=True)

