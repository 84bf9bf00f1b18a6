"""Resumable result store: one Parquet file per finished cell, keyed by a hash of its config and
stamped with the fingerprint of the code that computed it.

A sweep is a set of cells (spec, algorithm, config, seed). A cell's result is a tidy table
written atomically under root/<spec>/<key>.parquet: the table goes to a temporary file, which
is flushed to disk (fsync) before it is renamed over the final name, and the folder is synced
after the rename. A sweep interrupted at any point therefore keeps every finished cell, and a
resumed sweep recomputes none of them.

Each file's Parquet key-value metadata holds the cell (`CELL_KEY`, its canonical JSON) and the
code fingerprint (`FINGERPRINT_KEY`, `paper_repro.fingerprint`) of the process that computed it;
a sweep reuses a stored cell only when that fingerprint matches its own (paper_repro.runner).

A store heals: a cell file that cannot be read (empty, truncated, foreign, or written for
another cell) is moved into root/quarantine/<spec>/ with a `DamagedCellWarning` naming it, and
the cell counts as missing, so the sweep recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.files import fsync_folder as _fsync_folder

FINGERPRINT_KEY = "paper_repro.code_fingerprint"
"""Parquet metadata key: the code fingerprint of the process that computed the cell."""
CELL_KEY = "paper_repro.cell"
"""Parquet metadata key: the canonical JSON of the cell."""
QUARANTINE = "quarantine"
"""Subfolder of the store root that receives damaged cell files."""


class DamagedCellWarning(UserWarning):
    """A stored cell file could not be read; it was moved aside and will be recomputed."""


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


class StoredCell(NamedTuple):
    """A cell's table as stored, with the fingerprint of the code that computed it."""

    table: pd.DataFrame
    fingerprint: str | None
    """None for a file written before fingerprints were recorded."""




def write_atomic(path: str, write) -> None:
    """Write a file by `write(f)` on a temporary file beside `path`, fsync it, rename it over
    `path`, and sync the folder: a reader sees the old file or the complete new one."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


class ResultStore:
    """Parquet tables of finished cells under a root folder (module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create the result store {self.root}: {e.strerror or e}"
                             ) from None
        if not os.path.isdir(self.root):
            raise ValueError(f"the result store {self.root} is not a folder")
        self.quarantined: list[str] = []
        """Damaged files this store object moved aside (their new paths)."""

    def path(self, cell: Cell) -> str:
        return os.path.join(self.root, cell.spec, f"{cell.key}.parquet")

    def has(self, cell: Cell) -> bool:
        """True when a readable file of the cell is stored (whatever code computed it)."""
        return self.fingerprint(cell) is not False

    def fingerprint(self, cell: Cell) -> str | None | bool:
        """The stored cell's code fingerprint (None: not recorded), or False when no readable
        file is stored (a damaged one is quarantined). Reads the file footer only."""
        p = self.path(cell)
        if not os.path.exists(p):
            return False
        try:
            meta = pq.read_schema(p).metadata or {}
        except Exception as e:  # empty, truncated or foreign: heal
            self.quarantine(cell, f"{type(e).__name__}: {e}")
            return False
        fp = meta.get(FINGERPRINT_KEY.encode())
        return fp.decode() if fp is not None else None

    def save(self, cell: Cell, table: pd.DataFrame, fingerprint: str | None = None) -> str:
        """Write the cell's table atomically with the cell key, the seed and `fingerprint`
        (default: this process's fingerprint for the cell's algorithm); returns the path."""
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"a cell must return a pandas DataFrame, got {type(table).__name__}")
        if fingerprint is None:
            from .fingerprint import algorithm_fingerprint

            fingerprint = algorithm_fingerprint(cell.algorithm)
        p = self.path(cell)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        t = table.copy()
        t["cell_key"] = cell.key
        t["seed"] = int(cell.seed)
        arrow = pa.Table.from_pandas(t, preserve_index=False)
        meta = dict(arrow.schema.metadata or {})
        meta[FINGERPRINT_KEY.encode()] = fingerprint.encode()
        meta[CELL_KEY.encode()] = cell.canonical().encode()
        arrow = arrow.replace_schema_metadata(meta)
        canonical = cell.canonical().encode()
        write_atomic(p[: -len(".parquet")] + ".json", lambda f: f.write(canonical))
        write_atomic(p, lambda f: pq.write_table(arrow, f, compression="snappy"))
        return p

    def read(self, cell: Cell) -> StoredCell | None:
        """The stored table and its fingerprint, or None when the cell is not stored. A file
        that cannot be read, or that holds another cell, is quarantined (None)."""
        p = self.path(cell)
        if not os.path.exists(p):
            return None
        try:
            meta = pq.read_schema(p).metadata or {}
            table = pd.read_parquet(p)
        except Exception as e:  # empty, truncated or foreign: heal
            self.quarantine(cell, f"{type(e).__name__}: {e}")
            return None
        keys: list = list(table["cell_key"].unique()) if "cell_key" in table.columns else []
        if len(keys) != 1 or keys[0] != cell.key:
            self.quarantine(cell, f"it does not hold cell {cell.key}")
            return None
        fp = meta.get(FINGERPRINT_KEY.encode())
        return StoredCell(table, fp.decode() if fp is not None else None)

    def load(self, cell: Cell) -> pd.DataFrame:
        """The stored table of the cell; ValueError naming the file when it is missing or
        damaged (a damaged file is quarantined first)."""
        got = self.read(cell)
        if got is None:
            raise ValueError(f"no readable result file {self.path(cell)} for cell {cell.key} "
                             f"({cell.spec}, {cell.algorithm}, seed {cell.seed})")
        return got.table

    def quarantine(self, cell: Cell, reason: str) -> str | None:
        """Move the cell's file (and its .json) into root/quarantine/<spec>/ with a warning;
        returns the new path (None when another process moved it first)."""
        p = self.path(cell)
        dest_dir = os.path.join(self.root, QUARANTINE, cell.spec)
        os.makedirs(dest_dir, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        dest = os.path.join(dest_dir, f"{cell.key}.parquet.{stamp}-{os.getpid()}")
        try:
            os.replace(p, dest)
        except FileNotFoundError:
            return None
        self.quarantined.append(dest)
        side = p[: -len(".parquet")] + ".json"
        if os.path.exists(side):
            try:
                os.replace(side, dest + ".json")
            except OSError:
                pass
        warnings.warn(f"damaged result file {p} ({reason.splitlines()[0] if reason else ''}) "
                      f"moved to {dest}; the cell is recomputed", DamagedCellWarning,
                      stacklevel=3)
        return dest
