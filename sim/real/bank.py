"""Feature banks: LLM-derived features of real responses and the preference pairs over them.

A feature bank is a folder with two Parquet files. It is the contract between feature
extraction (`sim.real.embed`, or any tool of the user's own) and the learners, which see only
z = phi(x, a) - phi(x, b) and a label y (ALGORITHMS.md section 1).

    BANK/
        responses.parquet   one row per (prompt, response) with its feature vector
        pairs.parquet       one row per labelled comparison of two responses to one prompt

responses.parquet
-----------------
One row per response. Rows are numbered from 0 in file order ("row 12" in an error message).

=================  ========================================  ==================================
column             type                                      meaning
=================  ========================================  ==================================
prompt_id          string, required                          the prompt (context) x
response_id        string, required, unique in the bank      the response (arm) a
feature            fixed_size_list<float32>[d], required     phi(x, a); every row has the same
                                                             d and only finite values
prompt_sha256      string, optional                          sha256 (hex) of the prompt text
response_sha256    string, optional                          sha256 (hex) of the response text
score              float64, optional                         a per-response judge score, e.g.
                                                             P(judge prefers a over a fixed
                                                             reference) in a multi-arm bank
anything else      any, optional                             kept as is (e.g. `arm`, the
                                                             generating model)
=================  ========================================  ==================================

Ids are non-empty strings; they need not be meaningful (`sim.real.build` uses short content
hashes). The text hashes let a user check that features belong to the texts they think, without
shipping the texts. A `feature` written as a variable-size list (list<float> or
list<double>) is accepted on load if every row has the same length; it is held as float32.

The Parquet schema metadata of responses.parquet (key -> string) describes how the features
were made. Keys written by `sim.real.embed`: `model` (name or path), `pooling` (`mean` or
`last-token`), `text` (`pair`: prompt and response read together, or `response`),
`max_length`, `truncation_side`, `dtype`, `dataset`; and `feature_scale`, the common factor every
feature has been multiplied by since extraction (see normalisation below; 1 when absent).
Text `pair` is the string prompt + "\n\n" + response (two newlines, nothing else; a chat
template instead for last-token pooling with a tokenizer that has one: `sim.real.build`), and
the embedding cache is keyed by its sha256.
Other keys are free. The key `rlhf_testbed.bank_format` holds the format version, "1".

pairs.parquet
-------------
One row per comparison (x, a, b). Rows are numbered from 0 in file order.

=================  ========================================  ==================================
column             type                                      meaning
=================  ========================================  ==================================
prompt_id          string, required                          the prompt x of the comparison
response_a         string, required                          response id of a
response_b         string, required                          response id of b, b != a
label              integer 0/1                               1: a preferred, 0: b preferred
score_a, score_b   float64 (both or neither)                 judge scores of a and b
split              string, optional (default "train")        "train", "eval", or any name
anything else      any, optional                             kept as is (e.g. `pair_id`)
=================  ========================================  ==================================

A table needs `label` or both scores (or all three). Where `label` is absent it is derived as
1[score_a > score_b]; a pair with score_a == score_b is a tie, handled by the `ties=` option of
`FeatureBank` and `FeatureBank.load`:

- `"drop"` (default): ties are removed; `FeatureBank.dropped_ties` counts them;
- `"keep"`: ties are kept with the derived label 0 (b "preferred"), flagged by `tie`;
- `"error"`: a tie raises ValueError naming its row.

Where `label` is present it is the label, and the scores are kept as information only (a
binarised data set may label ties by its own rule). Whenever scores are present the in-memory
pairs table has a boolean column `tie` (score_a == score_b); it is derived, never written.
Response ids must resolve in responses.parquet, and both responses must belong to the pair's
prompt_id. A bank may have no pairs: a multi-arm bank (several scored responses per prompt) is
used through `features_by_prompt` and `arm_features`.

Validation
----------
Construction and `load` check everything above and raise ValueError naming the file, the row
(0-based) and the problem: a missing column, inconsistent feature dimensions, non-finite
values, duplicate or empty ids, malformed hashes, pair ids that do not resolve, a response
whose prompt_id differs from the pair's, labels outside {0, 1}, a == b.

Normalisation
-------------
The learners need a declared bound ||phi(x, a)||_2 <= L (so ||z||_2 <= 2L). Features from a
language model have arbitrary scale, so `FeatureBank.normalized(L)` multiplies every feature by
one common factor c = L / max ||phi|| (rounded so that the float32 features satisfy the bound),
which keeps all directions and ratios; the cumulative factor is `feature_scale` in the
metadata. Since the BT model depends on z' theta only, scaling features by c is the same as
scaling theta by 1/c: accuracy and the ranking of responses do not change, the bound B on
theta does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import NamedTuple, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.files import fsync_folder as _fsync_folder

FORMAT_VERSION = "1"
"""Version of the bank format, written under FORMAT_KEY in both files' schema metadata."""

FORMAT_KEY = "rlhf_testbed.bank_format"
SAVE_KEY = "rlhf_testbed.bank_save"
"""Schema-metadata key of both files: the token of the save that wrote them (equal in both)."""
_TMP = ".tmp-"
RESPONSES_FILE = "responses.parquet"
PAIRS_FILE = "pairs.parquet"
TIE_POLICIES = ("drop", "keep", "error")
DEFAULT_SPLIT = "train"

_L_MIN = 1e-30
"""Smallest norm `FeatureBank.normalized` scales to: float32 keeps 24 bits down to ~1.2e-38,
and the components of a vector of norm L are smaller than L."""
_L_MAX = 1e30
"""Largest norm `FeatureBank.normalized` scales to (float32 overflows at ~3.4e38)."""

_RESPONSE_COLUMNS = ("prompt_id", "response_id")
_HASH_COLUMNS = ("prompt_sha256", "response_sha256")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PromptResponses(NamedTuple):
    """The responses of one prompt, in bank order."""

    response_ids: np.ndarray
    """(k,) response ids."""
    features: np.ndarray
    """(k, d) float64 features."""
    scores: np.ndarray | None
    """(k,) per-response scores, or None when the bank has no `score` column."""


def _where(source: str | None, file: str, row: int | None = None) -> str:
    """'BANK/pairs.parquet row 3' (or 'pairs.parquet row 3' for a bank built in memory)."""
    name = os.path.join(source, file) if source else file
    return name if row is None else f"{name} row {row}"


def _feature_matrix(features: object, source: str | None) -> np.ndarray:
    """C-contiguous float32 (n, d) features; ragged rows and non-finite values name their row."""
    if isinstance(features, np.ndarray) and features.dtype != object:
        arr = features
    else:
        try:
            rows = list(features)  # type: ignore[call-overload]
            lengths = [len(r) if r is not None else -1 for r in rows]
        except TypeError as exc:
            raise ValueError(
                f"{_where(source, RESPONSES_FILE)}: features must be an (n_responses, d) array or"
                f" a sequence of rows: {exc}"
            ) from None
        for i, n in enumerate(lengths):
            if n < 0:
                raise ValueError(f"{_where(source, RESPONSES_FILE, i)}: feature is null")
            if n != lengths[0]:
                raise ValueError(
                    f"{_where(source, RESPONSES_FILE, i)}: feature has dimension {n}, but row 0"
                    f" has dimension {lengths[0]}"
                )
        arr = np.array(rows, dtype=np.float64) if rows else np.zeros((0, 0))
    if arr.ndim != 2:
        raise ValueError(
            f"{_where(source, RESPONSES_FILE)}: features must be a 2-d array (n_responses, d),"
            f" got shape {arr.shape}"
        )
    if np.iscomplexobj(arr):
        raise ValueError(f"{_where(source, RESPONSES_FILE)}: features must be real, got complex values")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.ascontiguousarray(arr, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{_where(source, RESPONSES_FILE)}: features are not numbers: {exc}") from None
    bad = np.argwhere(~np.isfinite(out))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        original = float(np.asarray(arr)[i, j])
        raise ValueError(
            f"{_where(source, RESPONSES_FILE, i)}: feature[{j}] = {original!r} is not finite"
            f" as float32 ({len(bad)} non-finite values in the features)"
        )
    return out


def _check_ids(table: pd.DataFrame, column: str, source: str | None, file: str) -> np.ndarray:
    """The column as an object array of non-empty strings."""
    values = table[column].to_numpy(dtype=object)
    for i, v in enumerate(values):
        if not isinstance(v, str) or v == "":
            if v is None or (isinstance(v, float) and math.isnan(v)):
                raise ValueError(f"{_where(source, file, i)}: {column} is missing")
            raise ValueError(
                f"{_where(source, file, i)}: {column} must be a non-empty string, got {v!r}"
            )
    return values


def _finite_column(table: pd.DataFrame, column: str, source: str | None, file: str) -> np.ndarray:
    values = table[column].to_numpy(dtype=object)
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{_where(source, file, i)}: {column} must be a number, got {v!r}")
        if not math.isfinite(float(v)):
            raise ValueError(f"{_where(source, file, i)}: {column} = {float(v)!r} is not finite")
        out[i] = float(v)
    return out


def _labels(table: pd.DataFrame, source: str | None) -> np.ndarray:
    values = table["label"].to_numpy(dtype=object)
    out = np.empty(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        ok = isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)) and v in (0, 1)
        if not ok or (isinstance(v, (float, np.floating)) and not math.isfinite(v)):
            raise ValueError(f"{_where(source, PAIRS_FILE, i)}: label must be 0 or 1, got {v!r}")
        out[i] = int(v)
    return out


def _string_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a mapping of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError(f"metadata must map str to str, got {k!r}: {v!r}")
    return dict(metadata)


@dataclass(frozen=True, eq=False)
class FeatureBank:
    """Features of responses and labelled pairs over them, validated (see the module docstring).

    `responses` has one row per response (`prompt_id`, `response_id`, optional hash and
    `score` columns, anything else); `features[i]` is the feature of `responses` row i.
    `pairs` has `prompt_id`, `response_a`, `response_b` and `label` or `score_a`/`score_b`,
    and optionally `split`. Construction copies the tables, fills in `split` ("train") and a
    label derived from scores where absent, applies `ties` to derived labels, and validates;
    violations raise ValueError naming the file, the row and the problem. Tables are renumbered
    from 0 after dropped ties.
    """

    responses: pd.DataFrame
    features: np.ndarray
    pairs: pd.DataFrame
    metadata: Mapping[str, str] = field(default_factory=dict)
    ties: InitVar[str] = "drop"
    source: InitVar[str | None] = None
    dropped_ties: int = field(init=False, default=0)
    """Number of tied pairs removed at construction (ties="drop" with labels from scores)."""
    _a: np.ndarray = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)

    def __post_init__(self, ties: str, source: str | None) -> None:
        if ties not in TIE_POLICIES:
            raise ValueError(f"ties must be one of {', '.join(TIE_POLICIES)}, got {ties!r}")
        metadata = _string_metadata(self.metadata)
        responses, features = self._validated_responses(source)
        pairs, dropped = self._validated_pairs(responses, ties, source)
        index = {rid: i for i, rid in enumerate(responses["response_id"])}
        a = np.fromiter((index[r] for r in pairs["response_a"]), dtype=np.int64, count=len(pairs))
        b = np.fromiter((index[r] for r in pairs["response_b"]), dtype=np.int64, count=len(pairs))
        features.setflags(write=False)
        a.setflags(write=False)
        b.setflags(write=False)
        for name, value in (("responses", responses), ("features", features), ("pairs", pairs),
                            ("metadata", metadata), ("dropped_ties", dropped), ("_a", a), ("_b", b)):
            object.__setattr__(self, name, value)

    def _validated_responses(self, source: str | None) -> tuple[pd.DataFrame, np.ndarray]:
        if not isinstance(self.responses, pd.DataFrame):
            raise ValueError(
                f"responses must be a pandas DataFrame, got {type(self.responses).__name__}"
            )
        responses = self.responses.reset_index(drop=True).copy()
        for column in _RESPONSE_COLUMNS:
            if column not in responses.columns:
                raise ValueError(f"{_where(source, RESPONSES_FILE)}: missing column {column!r}")
        if "feature" in responses.columns:
            raise ValueError(
                f"{_where(source, RESPONSES_FILE)}: pass features separately, not as a 'feature'"
                " column of the responses table"
            )
        features = _feature_matrix(self.features, source)
        if features.shape[0] != len(responses):
            raise ValueError(
                f"{_where(source, RESPONSES_FILE)}: {features.shape[0]} feature rows for"
                f" {len(responses)} responses"
            )
        if len(responses) and features.shape[1] < 1:
            raise ValueError(f"{_where(source, RESPONSES_FILE)}: features have dimension 0")
        _check_ids(responses, "prompt_id", source, RESPONSES_FILE)
        ids = _check_ids(responses, "response_id", source, RESPONSES_FILE)
        first: dict[str, int] = {}
        for i, rid in enumerate(ids):
            if rid in first:
                raise ValueError(
                    f"{_where(source, RESPONSES_FILE, i)}: duplicate response_id {rid!r}"
                    f" (first at row {first[rid]})"
                )
            first[rid] = i
        for column in _HASH_COLUMNS:
            if column in responses.columns:
                for i, v in enumerate(responses[column].to_numpy(dtype=object)):
                    if not isinstance(v, str) or not _SHA256.match(v):
                        raise ValueError(
                            f"{_where(source, RESPONSES_FILE, i)}: {column} must be 64 lowercase"
                            f" hex digits, got {v!r}"
                        )
        if "score" in responses.columns:
            responses["score"] = _finite_column(responses, "score", source, RESPONSES_FILE)
        return responses, features

    def _validated_pairs(self, responses: pd.DataFrame, ties: str,
                         source: str | None) -> tuple[pd.DataFrame, int]:
        if not isinstance(self.pairs, pd.DataFrame):
            raise ValueError(f"pairs must be a pandas DataFrame, got {type(self.pairs).__name__}")
        pairs = self.pairs.reset_index(drop=True).copy()
        for column in ("prompt_id", "response_a", "response_b"):
            if column not in pairs.columns:
                raise ValueError(f"{_where(source, PAIRS_FILE)}: missing column {column!r}")
        score_columns = [c in pairs.columns for c in ("score_a", "score_b")]
        if score_columns[0] != score_columns[1]:
            present, absent = ("score_a", "score_b") if score_columns[0] else ("score_b", "score_a")
            raise ValueError(f"{_where(source, PAIRS_FILE)}: has {present!r} but not {absent!r}")
        has_scores = score_columns[0]
        if "label" not in pairs.columns and not has_scores:
            raise ValueError(
                f"{_where(source, PAIRS_FILE)}: needs a 'label' column or both 'score_a' and"
                " 'score_b'"
            )
        if "tie" in pairs.columns:
            if not has_scores:
                raise ValueError(
                    f"{_where(source, PAIRS_FILE)}: 'tie' is derived from score_a and score_b and"
                    " cannot be given without them"
                )
            pairs = pairs.drop(columns="tie")
        if "split" not in pairs.columns:
            pairs["split"] = DEFAULT_SPLIT
        pair_prompts = _check_ids(pairs, "prompt_id", source, PAIRS_FILE)
        ids_a = _check_ids(pairs, "response_a", source, PAIRS_FILE)
        ids_b = _check_ids(pairs, "response_b", source, PAIRS_FILE)
        _check_ids(pairs, "split", source, PAIRS_FILE)
        prompt_of = dict(zip(responses["response_id"], responses["prompt_id"]))
        for i in range(len(pairs)):
            if ids_a[i] == ids_b[i]:
                raise ValueError(
                    f"{_where(source, PAIRS_FILE, i)}: response_a == response_b = {ids_a[i]!r}"
                )
            for column, rid in (("response_a", ids_a[i]), ("response_b", ids_b[i])):
                if rid not in prompt_of:
                    raise ValueError(
                        f"{_where(source, PAIRS_FILE, i)}: {column} {rid!r} is not a response_id"
                        f" of {RESPONSES_FILE}"
                    )
                if prompt_of[rid] != pair_prompts[i]:
                    raise ValueError(
                        f"{_where(source, PAIRS_FILE, i)}: {column} {rid!r} belongs to prompt"
                        f" {prompt_of[rid]!r}, not to the pair's prompt {pair_prompts[i]!r}"
                    )
        if "label" in pairs.columns:
            pairs["label"] = _labels(pairs, source)
        dropped = 0
        if has_scores:
            sa = _finite_column(pairs, "score_a", source, PAIRS_FILE)
            sb = _finite_column(pairs, "score_b", source, PAIRS_FILE)
            pairs["score_a"], pairs["score_b"] = sa, sb
            tie = sa == sb
            if "label" not in pairs.columns:
                tied_rows = np.flatnonzero(tie)
                if tied_rows.size and ties == "error":
                    shown = ", ".join(map(str, tied_rows[:10]))
                    raise ValueError(
                        f"{_where(source, PAIRS_FILE)} rows {shown}"
                        f"{' ...' if tied_rows.size > 10 else ''}: {tied_rows.size} ties"
                        " (score_a == score_b) and no label; pass ties='drop' or ties='keep'"
                    )
                labels = (sa > sb).astype(np.int8)
                position = cast(int, pairs.columns.get_loc("response_b")) + 1  # a unique label
                pairs.insert(position, "label", labels)
                if ties == "drop" and tied_rows.size:
                    keep = ~tie
                    pairs = pairs.loc[keep].reset_index(drop=True)
                    tie = tie[keep]
                    dropped = int(tied_rows.size)
            pairs["tie"] = tie
        return pairs, dropped

    # ------------------------------------------------------------------ sizes

    @property
    def d(self) -> int:
        """Feature dimension."""
        return int(self.features.shape[1])

    @property
    def n_responses(self) -> int:
        """Number of responses."""
        return int(self.features.shape[0])

    @property
    def n_pairs(self) -> int:
        """Number of pairs (all splits)."""
        return int(len(self.pairs))

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names, in order of first appearance."""
        return tuple(pd.unique(self.pairs["split"].to_numpy(dtype=object)))

    @property
    def feature_scale(self) -> float:
        """The common factor the features have been multiplied by since extraction."""
        return float(self.metadata.get("feature_scale", "1"))

    def __repr__(self) -> str:
        """A one-line summary (sizes, splits, model), not the tables."""
        prompts = int(pd.unique(self.responses["prompt_id"].to_numpy(dtype=object)).size)
        counts = self.pairs["split"].value_counts()
        splits = ", ".join(f"{s} {int(counts[s])}" for s in self.splits)
        model = self.metadata.get("model")
        return (f"FeatureBank({self.n_responses} responses of {prompts} prompts, d = {self.d}, "
                f"{self.n_pairs} pairs" + (f" ({splits})" if splits else "")
                + (f", model {model!r}" if model else "")
                + f", feature scale {self.feature_scale:.4g})")

    # ----------------------------------------------------------------- arrays

    def _split_rows(self, split: str | None) -> np.ndarray:
        if split is None:
            return np.arange(self.n_pairs)
        rows = np.flatnonzero(self.pairs["split"].to_numpy(dtype=object) == split)
        if rows.size == 0 and split not in self.splits:
            known = ", ".join(self.splits) or "none"
            raise ValueError(f"no split {split!r} in the bank; splits: {known}")
        return rows

    def pair_differences(self, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(Z, y) of the pairs of one split (all pairs when split is None), in table order.

        Z[t] = phi(x_t, a_t) - phi(x_t, b_t), float64 of shape (n, d), the difference taken in
        float64 of the stored float32 features; y[t] = label_t as float64 of shape (n,).
        """
        rows = self._split_rows(split)
        phi_a = self.features[self._a[rows]].astype(np.float64)
        Z = phi_a - self.features[self._b[rows]].astype(np.float64)
        y = self.pairs["label"].to_numpy(dtype=np.float64)[rows]
        return Z, y

    def features_by_prompt(self) -> dict[str, PromptResponses]:
        """prompt_id -> its responses (ids, float64 features, scores), prompts and responses in
        bank order: the arms of each context, for multi-arm use."""
        prompts = self.responses["prompt_id"].to_numpy(dtype=object)
        ids = self.responses["response_id"].to_numpy(dtype=object)
        scores = None
        if "score" in self.responses:
            scores = self.responses["score"].to_numpy(dtype=np.float64)
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prompts):
            groups.setdefault(p, []).append(i)
        out = {}
        for p, rows in groups.items():
            r = np.asarray(rows)
            out[p] = PromptResponses(ids[r], self.features[r].astype(np.float64),
                                     None if scores is None else scores[r])
        return out

    def arm_features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(prompt_ids (n_x,), response_ids (n_x, K), phi (n_x, K, d) float64, scores (n_x, K)
        or None) for banks with the same number K of responses for every prompt, the shape of
        `sim.PreferenceEnv`."""
        groups = self.features_by_prompt()
        if not groups:
            raise ValueError("the bank has no responses")
        sizes = {p: len(g.response_ids) for p, g in groups.items()}
        first = next(iter(sizes))
        for p, k in sizes.items():
            if k != sizes[first]:
                raise ValueError(
                    f"prompts have different numbers of responses ({first!r}: {sizes[first]},"
                    f" {p!r}: {k}); arm_features needs the same number for every prompt"
                )
        prompt_ids = np.array(list(groups), dtype=object)
        response_ids = np.stack([g.response_ids for g in groups.values()])
        phi = np.stack([g.features for g in groups.values()])
        has_scores = "score" in self.responses
        scores = (np.stack([cast(np.ndarray, g.scores) for g in groups.values()]) if has_scores
                  else None)
        return prompt_ids, response_ids, phi, scores

    # ----------------------------------------------------------- normalisation

    def max_feature_norm(self) -> float:
        """max over responses of ||phi||_2, computed in float64 from the stored float32 values."""
        if self.n_responses == 0:
            return 0.0
        return float(np.sqrt(np.max(np.sum(self.features.astype(np.float64) ** 2, axis=1))))

    def normalized(self, L: float = 1.0) -> FeatureBank:
        """A copy whose features are all multiplied by one factor c so that max ||phi||_2 = L
        (up to float32 rounding, never above L). `feature_scale` of the copy is the old one
        times c. Pairs, labels and everything else are unchanged."""
        if isinstance(L, bool) or not isinstance(L, (int, float)) or not math.isfinite(L) or L <= 0:
            raise ValueError(f"L must be a positive finite number, got {L!r}")
        if not _L_MIN <= L <= _L_MAX:
            raise ValueError(
                f"L = {L!r} is outside [{_L_MIN:g}, {_L_MAX:g}]: features are stored as float32,"
                " and normalised features of that norm would lose their digits to underflow or"
                " overflow"
            )
        current = self.max_feature_norm()
        if current == 0.0:
            raise ValueError("all features are zero; there is no scale to normalise")
        c = float(L) / current
        f64 = self.features.astype(np.float64)
        shrink = 2.0**-24
        for i in range(80):
            scaled = (f64 * c).astype(np.float32)
            # Rounding to float32 can push the largest norm a few ulps past L: shrink c until not
            # (after 16 rounds by steps that double, so that this ends after a few more).
            if np.sqrt(np.max(np.sum(scaled.astype(np.float64) ** 2, axis=1))) <= L:
                break
            c = math.nextafter(c * (1.0 - shrink), 0.0)
            if i >= 16:
                shrink = min(2.0 * shrink, 0.5)
        else:  # pragma: no cover - unreachable within the accepted range of L
            raise ValueError(f"cannot scale the features to norm L = {L!r} in float32")
        metadata = dict(self.metadata)
        metadata["feature_scale"] = repr(self.feature_scale * c)
        return FeatureBank(self.responses, scaled, self._pairs_for_storage(), metadata)

    # --------------------------------------------------------------- storage

    def _pairs_for_storage(self) -> pd.DataFrame:
        return self.pairs.drop(columns="tie") if "tie" in self.pairs.columns else self.pairs

    def save(self, folder: str | os.PathLike) -> None:
        """Write responses.parquet and pairs.parquet into folder (created if needed) as one
        unit: both files are written to temporary names and flushed to disk, then renamed into
        place, and both carry the same save token (a hash of their content, `SAVE_KEY`), which
        `load` checks, so that a bank is never read with the features of one save and the
        labels of another (`load` completes a save interrupted between the two renames).
        Features are checked finite again before writing. Saving a loaded bank reproduces its
        files byte for byte."""
        folder = os.fspath(folder)
        os.makedirs(folder, exist_ok=True)
        if not np.all(np.isfinite(self.features)):
            i = int(np.argwhere(~np.isfinite(self.features))[0][0])
            raise ValueError(f"{_where(folder, RESPONSES_FILE, i)}: feature is not finite; "
                             "nothing was written")
        meta = {FORMAT_KEY: FORMAT_VERSION, **self.metadata}
        d = self.features.shape[1]
        feature = pa.FixedSizeListArray.from_arrays(pa.array(self.features.reshape(-1), pa.float32()), d)
        responses = _arrow_table(self.responses, {"feature": feature}, after="response_id")
        pairs = _arrow_table(self._pairs_for_storage(), {}, after=None)
        meta[SAVE_KEY] = _save_token(responses, pairs, meta)
        staged = []
        try:
            for name, table in ((RESPONSES_FILE, responses), (PAIRS_FILE, pairs)):
                table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
                path = os.path.join(folder, name)
                tmp = f"{path}{_TMP}{os.getpid()}"
                staged.append((tmp, path))
                with open(tmp, "wb") as f:
                    pq.write_table(table, f)
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:  # nothing renamed yet: the old bank is intact
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.remove(tmp)
            raise
        # From here on a stop leaves the staged file of the second half, which load moves in.
        for tmp, path in staged:
            os.replace(tmp, path)
        _fsync_folder(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, ties: str = "drop") -> FeatureBank:
        """Read and validate the bank in folder; `ties` applies to labels derived from scores."""
        folder = os.fspath(folder)
        _complete_interrupted_save(folder)
        tables = {}
        for name in (RESPONSES_FILE, PAIRS_FILE):
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                raise ValueError(
                    f"{path}: no such file; a feature bank folder holds {RESPONSES_FILE} and"
                    f" {PAIRS_FILE}"
                )
            try:
                tables[name] = pq.read_table(path)
            except Exception as exc:  # a truncated or foreign file: name it
                raise ValueError(f"{path}: not a readable Parquet file: {exc}") from None
        tokens = {name: (t.schema.metadata or {}).get(SAVE_KEY.encode()) for name, t in tables.items()}
        if len(set(tokens.values())) > 1:
            raise ValueError(
                f"{folder}: {RESPONSES_FILE} and {PAIRS_FILE} come from different saves (an"
                " interrupted FeatureBank.save, or one file replaced by hand): save the bank again"
            )
        responses = tables[RESPONSES_FILE]
        if "feature" not in responses.column_names:
            raise ValueError(f"{_where(folder, RESPONSES_FILE)}: missing column 'feature'")
        features = _arrow_features(responses.column("feature"), folder)
        raw_meta = responses.schema.metadata or {}
        metadata = {k.decode(): v.decode() for k, v in raw_meta.items()
                    if k.decode() not in (FORMAT_KEY, SAVE_KEY)}
        version = raw_meta.get(FORMAT_KEY.encode(), FORMAT_VERSION.encode()).decode()
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{_where(folder, RESPONSES_FILE)}: bank format version {version!r}, this code reads"
                f" version {FORMAT_VERSION!r}"
            )
        return cls(
            _to_pandas(responses.drop_columns(["feature"])),
            features,
            _to_pandas(tables[PAIRS_FILE]),
            metadata,
            ties=ties,
            source=folder,
        )


def _save_token(responses: pa.Table, pairs: pa.Table, meta: Mapping[str, str]) -> str:
    """sha256 of the content of both tables and the metadata: the same bank, the same token."""
    h = hashlib.sha256()
    for table in (responses, pairs):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        h.update(sink.getvalue().to_pybytes())
    h.update(json.dumps(dict(meta), sort_keys=True).encode())
    return h.hexdigest()




def _token_of(path: str) -> bytes | None:
    try:
        return (pq.read_schema(path).metadata or {}).get(SAVE_KEY.encode())
    except Exception:  # unreadable: not a candidate
        return None


def _complete_interrupted_save(folder: str) -> None:
    """Finish a save stopped between its two renames: when one file's token differs from the
    other's and a staged file of the missing half carries the other's token, move it in."""
    paths = {name: os.path.join(folder, name) for name in (RESPONSES_FILE, PAIRS_FILE)}
    if not all(os.path.isfile(p) for p in paths.values()):
        return
    tokens = {name: _token_of(p) for name, p in paths.items()}
    if tokens[RESPONSES_FILE] == tokens[PAIRS_FILE]:
        return
    for name, other in ((PAIRS_FILE, RESPONSES_FILE), (RESPONSES_FILE, PAIRS_FILE)):
        want = tokens[other]
        if want is None:
            continue
        for f in sorted(os.listdir(folder)):
            staged = os.path.join(folder, f)
            if f.startswith(name + _TMP) and _token_of(staged) == want:
                os.replace(staged, paths[name])
                _fsync_folder(folder)
                return


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Columns as object arrays for strings (exact Python values), numpy arrays otherwise."""
    data = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            data[name] = np.array(column.to_pylist(), dtype=object)
        else:
            data[name] = column.to_pandas()
    return pd.DataFrame(data, columns=table.column_names)


def _arrow_features(column: pa.ChunkedArray, folder: str) -> np.ndarray:
    """(n, d) float32 from a fixed-size or variable list column; ragged rows and nulls named."""
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    kind = array.type
    is_list = pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if not is_list or not pa.types.is_floating(kind.value_type):
        raise ValueError(
            f"{_where(folder, RESPONSES_FILE)}: column 'feature' must be a list of floats, got {kind}"
        )
    if array.null_count:
        row = int(np.flatnonzero(np.asarray(array.is_null()))[0])
        raise ValueError(f"{_where(folder, RESPONSES_FILE, row)}: feature is null")
    if pa.types.is_fixed_size_list(kind):
        n, d = len(array), kind.list_size
        values = array.flatten()
    else:
        lengths = np.asarray(array.value_lengths())
        n, d = len(array), int(lengths[0]) if len(lengths) else 0
        ragged = np.flatnonzero(lengths != d)
        if ragged.size:
            row = int(ragged[0])
            raise ValueError(
                f"{_where(folder, RESPONSES_FILE, row)}: feature has dimension {lengths[row]},"
                f" but row 0 has dimension {d}"
            )
        values = array.flatten()
    if values.null_count:
        j = int(np.flatnonzero(np.asarray(values.is_null()))[0])
        row, col = divmod(j, max(d, 1))
        raise ValueError(f"{_where(folder, RESPONSES_FILE, row)}: feature[{col}] is null")
    flat = values.to_numpy(zero_copy_only=False)
    return _feature_matrix(flat.reshape(n, d), folder)


def _arrow_column(series: pd.Series) -> pa.Array:
    """A pandas column as Arrow, strings always as `string` (never large_string)."""
    stringish = series.dtype == object or pd.api.types.is_string_dtype(series)
    values = series.to_numpy(dtype=object) if stringish else series.to_numpy()
    if values.dtype == object and all(isinstance(v, str) for v in values):
        return pa.array(values.tolist(), type=pa.string())
    arr = pa.array(values, from_pandas=True)
    return arr.cast(pa.string()) if pa.types.is_large_string(arr.type) else arr


def _arrow_table(frame: pd.DataFrame, inserted: dict[str, pa.Array], after: str | None) -> pa.Table:
    names, arrays = [], []
    for column in frame.columns:
        names.append(str(column))
        arrays.append(_arrow_column(frame[column]))
        if column == after:
            names.extend(inserted)
            arrays.extend(inserted.values())
    return pa.Table.from_arrays(arrays, names=names)
