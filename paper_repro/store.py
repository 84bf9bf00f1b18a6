"""Resumable result store: one Parquet file per finished cell, keyed by a hash of its config.

A sweep is a set of cells (spec, algorithm, config, seed). A cell's result is a tidy table
written atomically (temporary file, then rename) under root/<spec>/<key>.parquet, so that a
sweep interrupted at any point keeps every finished cell and a resumed sweep recomputes none
of them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def _canonical(obj):
    """JSON-ready canonical form: dicts sorted, tuples as lists, numpy scalars as Python."""
    if isinstance(obj, dict):
        return {str(k): _canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ValueError("config values must be JSON-like (numbers, strings, lists, dicts), got "
                     f"{type(obj).__name__}: {obj!r}")


@dataclass(frozen=True)
class Cell:
    """One unit of a sweep: run `algorithm` of `spec` with `config` under `seed`."""

    spec: str
    algorithm: str
    config: dict = field(default_factory=dict)
    seed: int = 0

    def canonical(self) -> str:
        return json.dumps(_canonical(dict(spec=self.spec, algorithm=self.algorithm,
                                          config=self.config, seed=int(self.seed))),
                          sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """sha256 of the canonical JSON of the full cell, first 20 hex digits."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:20]


class ResultStore:
    """Parquet tables of finished cells under a root folder."""

    def __init__(self, root: str) -> None:
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)

    def path(self, cell: Cell) -> str:
        return os.path.join(self.root, cell.spec, f"{cell.key}.parquet")

    def has(self, cell: Cell) -> bool:
        return os.path.exists(self.path(cell))

    def save(self, cell: Cell, table: pd.DataFrame) -> str:
        """Write the cell's table atomically; the cell key and canonical config go along."""
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"a cell must return a pandas DataFrame, got {type(table).__name__}")
        p = self.path(cell)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        t = table.copy()
        t["cell_key"] = cell.key
        t["seed"] = int(cell.seed)
        tmp = f"{p}.tmp-{os.getpid()}"
        t.to_parquet(tmp, index=False)
        with open(tmp + ".json", "w") as f:
            f.write(cell.canonical())
        os.replace(tmp + ".json", p[: -len(".parquet")] + ".json")
        os.replace(tmp, p)
        return p

    def load(self, cell: Cell) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.path(cell))
        except Exception as e:  # a truncated or foreign file: name it
            raise ValueError(f"cannot read result file {self.path(cell)}: {e}") from e
