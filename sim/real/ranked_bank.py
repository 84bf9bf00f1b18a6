"""Ranked feature banks: m responses per prompt, each with a rank or a score (ALGORITHMS.md 7).

The format of K-wise (Plackett-Luce) data on real responses: one table, one row per
(prompt, response), read from Parquet (`.parquet`) or CSV (`.csv`, `.csv.gz`). Rows are
numbered from 0 in file order ("row 12" in an error message).

=================  ========================================  ==================================
column             type                                      meaning
=================  ========================================  ==================================
prompt_id          string, required                          the prompt (context) x
response_id        string, optional                          the response; default "<row>"
rank               integer, rank or score required           place of the response among its
                                                             prompt's responses, 0 = best; the
                                                             ranks of a prompt are a
                                                             permutation of 0..m-1
score              float, rank or score required             a judge score, higher = better
f0, f1, ..., f{d-1} float, required (or `feature`)           phi(x, a), finite
feature            list<float> (Parquet), instead of f*      phi(x, a) as one list column
split              string, optional                          "train" / "eval" / any name, the
                                                             same for every row of a prompt
=================  ========================================  ==================================

Every prompt has the same number m >= 2 of responses (the query size of the data). Rows of a
prompt need not be consecutive; the responses of a prompt keep their file order (the order in
which they are "shown").

Ranks and scores. With a `rank` column the ranking is the data (a `score` column beside it is
kept as information). With a `score` column only, the ranking is the order of decreasing score,
and **ties are broken by a seeded uniformly random order** (`ties="random"`, the default: the
stream "ties" of the loader's seed, drawn once for the whole file, so the same seed gives the
same ranking), or rejected (`ties="error"`). A tie broken at random is one PL-consistent
reading: under Plackett-Luce with equal utilities every order of the tied items is equally
likely. The number of tied pairs is recorded (`RankedBank.tied_pairs`).

In memory (`RankedBank`) a bank is arrays in the convention of `sim.rankings`: F (n, m, d) the
features of prompt i's responses in their file order, and rank (n, m) with rank[i, j] = the index
(into F[i]) of the response at place j (0 = best).

`read_ranked_bank(path)` validates everything and raises a one-line ValueError naming the file,
the row or prompt, and the problem (a missing column, NaN features, m < 2, prompts of unequal
m, ranks that are not a permutation, a split that differs within a prompt);
`write_ranked_bank(bank, path)` writes the format (feature columns f0..f{d-1}).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.core.seeding import SeedLike, spawn_streams

TIE_RULES: tuple[str, ...] = ("random", "error")
"""What to do with equal scores of one prompt (module docstring)."""

_FEATURE_COLUMN = re.compile(r"^f(\d+)$")


@dataclass(frozen=True, eq=False)
class RankedBank:
    """Ranked responses of n prompts, m per prompt, as arrays (module docstring)."""

    prompt_ids: tuple[str, ...]
    F: np.ndarray
    """(n, m, d) float64 features, finite."""
    rank: np.ndarray
    """(n, m) int64: rank[i, j] = index of the response of prompt i at place j."""
    scores: np.ndarray | None = None
    """(n, m) float64 judge scores (higher = better) when the data have them."""
    response_ids: tuple[tuple[str, ...], ...] = ()
    split: tuple[str, ...] | None = None
    """Per prompt, when the data fix a split."""
    tied_pairs: int = 0
    """Pairs of equal scores within a prompt whose order was broken at random."""
    source: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"ranked bank {self.source}: " if self.source else "ranked bank: "
        F = np.asarray(self.F)
        if F.ndim != 3 or F.shape[1] < 2 or F.shape[2] < 1:
            raise ValueError(f"{where}F must have shape (n, m, d) with m >= 2, got {F.shape}")
        if not np.issubdtype(F.dtype, np.number) or not np.all(np.isfinite(F)):
            raise ValueError(f"{where}features must be finite numbers")
        F = np.ascontiguousarray(F, dtype=np.float64)
        n, m, _ = F.shape
        rank = np.asarray(self.rank)
        if rank.shape != (n, m) or (rank.size and not np.issubdtype(rank.dtype, np.integer)):
            raise ValueError(f"{where}rank must be an int array of shape {(n, m)}, got "
                             f"{rank.shape} {rank.dtype}")
        rank = np.ascontiguousarray(rank, dtype=np.int64)
        ok = np.all(np.sort(rank, axis=1) == np.arange(m), axis=1)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"{where}the ranking of prompt {i} is {rank[i].tolist()}, not a "
                             f"permutation of 0..{m - 1}")
        if len(self.prompt_ids) != n:
            raise ValueError(f"{where}{len(self.prompt_ids)} prompt ids for {n} prompts")
        scores = None
        if self.scores is not None:
            scores = np.ascontiguousarray(self.scores, dtype=np.float64)
            if scores.shape != (n, m) or not np.all(np.isfinite(scores)):
                raise ValueError(f"{where}scores must be finite, of shape {(n, m)}")
        if self.split is not None and len(self.split) != n:
            raise ValueError(f"{where}{len(self.split)} split names for {n} prompts")
        ids = self.response_ids or tuple(tuple(f"{p}:{k}" for k in range(m))
                                         for p in self.prompt_ids)
        for arr in (F, rank) + ((scores,) if scores is not None else ()):
            arr.setflags(write=False)
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "response_ids", ids)

    @property
    def n(self) -> int:
        return int(self.F.shape[0])

    @property
    def m(self) -> int:
        return int(self.F.shape[1])

    @property
    def d(self) -> int:
        return int(self.F.shape[2])

    def places(self) -> np.ndarray:
        """(n, m) place of each response (0 = best), the inverse of `rank`."""
        place = np.empty_like(self.rank)
        place[np.arange(self.n)[:, None], self.rank] = np.arange(self.m)[None, :]
        return place

    def normalized(self, L: float = 1.0) -> RankedBank:
        """The bank with every feature multiplied by one factor so that max ||phi|| = L."""
        top = float(np.linalg.norm(self.F, axis=2).max())
        if top == 0.0:
            raise ValueError("ranked bank: every feature vector is zero")
        c = L / top * (1.0 - 1e-12)
        meta = dict(self.metadata)
        meta["feature_scale"] = repr(c * float(meta.get("feature_scale", "1.0")))
        return RankedBank(self.prompt_ids, self.F * c, self.rank, self.scores, self.response_ids,
                          self.split, self.tied_pairs, self.source, meta)


def ranks_from_scores(scores: np.ndarray, rng: np.random.Generator | None, *,
                      ties: str = "random", where: str = "") -> tuple[np.ndarray, int]:
    """(rank (n, m), tied pairs): decreasing score order; ties in a seeded random order (rng,
    one uniform per response) or a ValueError (ties="error")."""
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    s = np.asarray(scores, dtype=np.float64)
    eq = s[:, :, None] == s[:, None, :]
    tied = int((eq.sum() - eq.shape[0] * eq.shape[1]) // 2)
    if tied and ties == "error":
        i = int(np.flatnonzero(eq.sum(axis=(1, 2)) > s.shape[1])[0])
        raise ValueError(f"{where}prompt {i} has equal scores (ties='error')")
    u = (rng.random(s.shape) if rng is not None else np.zeros(s.shape))
    # lexsort: last key primary: decreasing score, then the random key
    rank = np.empty(s.shape, dtype=np.int64)
    for i in range(s.shape[0]):
        rank[i] = np.lexsort((u[i], -s[i]))
    return rank, tied


def _kind(path: str) -> str:
    low = path.lower()
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(".csv") or low.endswith(".csv.gz"):
        return "csv"
    raise ValueError(f"ranked bank {path}: unknown file type (expected .parquet, .csv or "
                     ".csv.gz)")


def _read_table(path: str) -> pd.DataFrame:
    if _kind(path) == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"prompt_id": str, "response_id": str, "split": str})


def _features(table: pd.DataFrame, where: str) -> np.ndarray:
    cols = sorted((int(mt.group(1)), c) for c in table.columns
                  if isinstance(c, str) and (mt := _FEATURE_COLUMN.match(c)))
    if cols:
        if [k for k, _ in cols] != list(range(len(cols))):
            raise ValueError(f"{where}feature columns must be f0..f{{d-1}} without gaps, got "
                             f"{', '.join(c for _, c in cols)}")
        try:
            X = table[[c for _, c in cols]].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}feature columns must be numeric") from None
    elif "feature" in table.columns:
        rows = table["feature"].tolist()
        lens = {len(r) if hasattr(r, "__len__") else -1 for r in rows}
        if len(lens) != 1 or -1 in lens:
            raise ValueError(f"{where}the feature column must hold lists of one length")
        try:
            X = np.asarray([np.asarray(r, dtype=np.float64) for r in rows])
        except (TypeError, ValueError):
            raise ValueError(f"{where}the feature column must hold numbers") from None
    else:
        raise ValueError(f"{where}missing feature columns (f0, f1, ... or a list column "
                         "'feature')")
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{where}non-finite feature at row {r}, column f{c}")
    return X


def ranked_bank_from_table(table: pd.DataFrame, *, seed: SeedLike = 0, ties: str = "random",
                           source: str = "") -> RankedBank:
    """A RankedBank from a table of the format (module docstring)."""
    where = f"ranked bank {source}: " if source else "ranked bank: "
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    if "prompt_id" not in table.columns:
        raise ValueError(f"{where}missing column 'prompt_id'")
    has_rank, has_score = "rank" in table.columns, "score" in table.columns
    if not (has_rank or has_score):
        raise ValueError(f"{where}missing column 'rank' or 'score' (one is required)")
    if len(table) == 0:
        raise ValueError(f"{where}no rows")
    X = _features(table, where)
    pids = table["prompt_id"]
    if pids.isna().any():
        raise ValueError(f"{where}empty prompt_id at row {int(np.flatnonzero(pids.isna())[0])}")
    pid_values = pids.astype(str).to_numpy()
    order: dict[str, list[int]] = {}
    for i, p in enumerate(pid_values):
        order.setdefault(p, []).append(i)
    counts = {p: len(v) for p, v in order.items()}
    first = next(iter(order))
    m = counts[first]
    for p, c in counts.items():
        if c < 2:
            raise ValueError(f"{where}prompt {p!r} has {c} response; m >= 2 are needed")
        if c != m:
            raise ValueError(f"{where}prompt {p!r} has {c} responses and prompt {first!r} {m}; "
                             "every prompt needs the same number m")
    rows = np.array([order[p] for p in order], dtype=np.int64)  # (n, m), file order
    F = X[rows]
    scores = None
    if has_score:
        try:
            sc = table["score"].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}column 'score' must be numeric") from None
        if not np.all(np.isfinite(sc)):
            raise ValueError(f"{where}non-finite score at row "
                             f"{int(np.flatnonzero(~np.isfinite(sc))[0])}")
        scores = sc[rows]
    tied = 0
    prompt_ids = tuple(order)
    if has_rank:
        rk = table["rank"]
        if rk.isna().any() or not np.all(np.mod(rk.to_numpy(dtype=np.float64), 1.0) == 0.0):
            raise ValueError(f"{where}column 'rank' must hold integers")
        place = rk.to_numpy(dtype=np.float64).astype(np.int64)[rows]
        for i in range(place.shape[0]):
            if sorted(place[i].tolist()) != list(range(m)):
                raise ValueError(f"{where}the ranks of prompt {prompt_ids[i]!r} are "
                                 f"{place[i].tolist()}, not a permutation of 0..{m - 1}")
        rank = np.argsort(place, axis=1).astype(np.int64)
    else:
        assert scores is not None
        rng = spawn_streams(seed, ("ties",))["ties"]
        rank, tied = ranks_from_scores(scores, rng, ties=ties, where=where)
    split = None
    if "split" in table.columns:
        sp = table["split"].fillna("train").astype(str).to_numpy()[rows]
        bad = np.flatnonzero(np.any(sp != sp[:, :1], axis=1))
        if bad.size:
            raise ValueError(f"{where}prompt {prompt_ids[int(bad[0])]!r} has rows in several "
                             "splits")
        split = tuple(str(s) for s in sp[:, 0])
    rids: tuple[tuple[str, ...], ...] = ()
    if "response_id" in table.columns:
        r = table["response_id"].astype(str).to_numpy()
        rids = tuple(tuple(str(v) for v in r[row]) for row in rows)
    else:
        rids = tuple(tuple(str(v) for v in row) for row in rows)
    return RankedBank(prompt_ids, F, rank, scores, rids, split, tied, source)


def read_ranked_bank(path: str | os.PathLike, *, seed: SeedLike = 0, ties: str = "random"
                     ) -> RankedBank:
    """Read and validate a ranked bank file (module docstring)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"ranked bank {path}: no such file")
    _kind(path)
    try:
        table = _read_table(path)
    except Exception as exc:  # a reader's own error: say which file and why, in one line
        raise ValueError(f"ranked bank {path}: cannot be read "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                         ) from None
    return ranked_bank_from_table(table, seed=seed, ties=ties, source=path)


def ranked_bank_table(bank: RankedBank) -> pd.DataFrame:
    """The long table of the format: one row per (prompt, response), ranks and scores."""
    place = bank.places()
    n, m, d = bank.F.shape
    data: dict[str, object] = {
        "prompt_id": np.repeat(np.array(bank.prompt_ids, dtype=object), m),
        "response_id": np.array([r for row in bank.response_ids for r in row], dtype=object),
        "rank": place.reshape(-1),
    }
    if bank.scores is not None:
        data["score"] = bank.scores.reshape(-1)
    if bank.split is not None:
        data["split"] = np.repeat(np.array(bank.split, dtype=object), m)
    feats = bank.F.reshape(n * m, d)
    for j in range(d):
        data[f"f{j}"] = feats[:, j]
    return pd.DataFrame(data)


def write_ranked_bank(bank: RankedBank, path: str | os.PathLike) -> str:
    """Write the bank as Parquet (.parquet) or CSV (.csv, .csv.gz); returns the path."""
    path = os.fspath(path)
    table = ranked_bank_table(bank)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if _kind(path) == "parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


__all__ = ["RankedBank", "TIE_RULES", "ranked_bank_from_table", "ranked_bank_table",
           "ranks_from_scores", "read_ranked_bank", "write_ranked_bank"]
