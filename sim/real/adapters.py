"""Readers of real preference data: plain records of texts, labels and scores, no model.

Each reader takes a JSON-lines file (gzip-compressed when its name ends in ".gz") and returns
records plus a `ReadSummary` of what was dropped and why. Lines are numbered from 1, as an
editor shows them; a malformed line (bad JSON, a missing or mistyped field) raises ValueError
naming the file and the line. Blank lines are skipped.

- `read_ultrafeedback`: UltraFeedback binarized pairs, either the trl/H4 form
  (`metadata.score_chosen` / `score_rejected`, 1-10) or the Argilla form
  (`metadata.rating_chosen` / `rating_rejected`, 1-5).
- `read_hh_rlhf`: Anthropic HH-RLHF transcripts, split at the final "\\n\\nAssistant:" into the
  shared prompt and the two final responses.
- `read_preference_jsonl`: any {prompt, chosen, rejected} lines, optionally with
  `score_chosen`, `score_rejected` and `id`, for data of one's own.
- `read_alpacaeval`: the AlpacaEval 2.0 multi-arm table (contexts x arms, with the judge's
  probability of preferring each arm over a fixed reference).

Pairs with a problem are handled by an explicit policy per problem, each "drop" (default),
"keep" or "error" (raise naming the line):

- `empty`: the chosen or the rejected response is empty or only whitespace;
- `identical`: chosen == rejected as text;
- `ties`: score_chosen == score_rejected (only for data with scores).

A row with several problems is counted once in `ReadSummary.dropped`, under the first of
`PROBLEMS` it has; `ReadSummary.flagged` counts every row with each problem, dropped or kept.
HH-RLHF rows whose two transcripts differ before the final "\\n\\nAssistant:"
(`prefix_mismatch`) or that have no such marker (`no_assistant_turn`) are always dropped.

`shared_data_dir()` locates the project's shared data folder; `SHARED_FILES` names the files
in it that these readers know.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload

import numpy as np

DATA_ENV = "RLHF_TESTBED_DATA"
"""Environment variable naming the shared data folder; overrides the default location."""

SHARED_FILES: dict[str, str] = {
    "ultrafeedback-train": "ultrafeedback/uf_binarized_trl_seed42_train1000.jsonl",
    "ultrafeedback-eval": "ultrafeedback/uf_binarized_trl_seed42_eval200.jsonl",
    "ultrafeedback-argilla": "ultrafeedback/uf_argilla_binarized_sample1k.jsonl",
    "alpacaeval": "alpacaeval2-multiarm/alpaca_eval2_weighted_gpt4_turbo_50arms.jsonl.gz",
    "hh-rlhf-harmless-test": "hh-rlhf/harmless-base/test.jsonl.gz",
}
"""Known files of the shared data folder, by short name, as paths relative to it."""

PROBLEMS = ("no_assistant_turn", "prefix_mismatch", "empty", "identical", "tie")
"""Reasons a pair can be dropped, in the order a row with several is counted under."""

POLICIES = ("drop", "keep", "error")

HH_MARKER = "\n\nAssistant:"
_PAIR_FIELDS = ("prompt", "chosen", "rejected")
_T = TypeVar("_T")


# -------------------------------------------------------------- locations

def repository_root() -> Path | None:
    """The folder holding pyproject.toml above this package, or None (e.g. when installed)."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def shared_data_dir() -> Path | None:
    """The shared data folder: $RLHF_TESTBED_DATA if set, else ../shared/data next to the
    repository root if it exists, else None. A set variable naming no folder is an error."""
    value = os.environ.get(DATA_ENV)
    if value:
        path = Path(value)
        if not path.is_dir():
            raise ValueError(f"{DATA_ENV}={value!r} is not a folder")
        return path
    root = repository_root()
    if root is not None:
        path = root.parent / "shared" / "data"
        if path.is_dir():
            return path
    return None


def shared_file(name: str) -> Path | None:
    """The path of a known shared file (a key of SHARED_FILES), or None if it is absent."""
    if name not in SHARED_FILES:
        raise ValueError(f"unknown shared file {name!r}; known: {', '.join(SHARED_FILES)}")
    folder = shared_data_dir()
    if folder is None:
        return None
    path = folder / SHARED_FILES[name]
    return path if path.is_file() else None


# ---------------------------------------------------------------- records

def text_sha256(text: str) -> str:
    """sha256 of the UTF-8 bytes of text, as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_id_of(prompt: str) -> str:
    """A short content id of a prompt: the first 16 hex digits of its sha256."""
    return text_sha256(prompt)[:16]


@dataclass(frozen=True)
class PreferencePair:
    """One prompt with a chosen (preferred) and a rejected response."""

    pair_id: str
    """The source's id when it has one (`id` field), else '<file name>:<line>'."""
    prompt: str
    chosen: str
    rejected: str
    score_chosen: float | None = None
    score_rejected: float | None = None
    line: int = 0
    """Line of the source file, from 1."""
    meta: Mapping[str, object] = field(default_factory=dict)
    """Other fields of the source (e.g. source_index, chosen_model)."""

    @property
    def prompt_id(self) -> str:
        return prompt_id_of(self.prompt)

    @property
    def has_scores(self) -> bool:
        return self.score_chosen is not None and self.score_rejected is not None


@dataclass(frozen=True)
class ReadSummary:
    """What a reader read, kept and dropped."""

    path: str
    rows: int
    """Non-blank lines read (up to the limit, if one was given)."""
    kept: int
    dropped: dict[str, int]
    """Rows dropped, by reason (each row once, under its first reason in PROBLEMS)."""
    flagged: dict[str, int]
    """Rows with each problem, dropped or kept (a row may count under several)."""
    flagged_lines: dict[str, tuple[int, ...]]
    """The lines (from 1) with each problem."""

    def __str__(self) -> str:
        parts = [f"{k}: {v}" for k, v in self.dropped.items() if v]
        why = f" (dropped {', '.join(parts)})" if parts else ""
        return f"{self.path}: {self.rows} rows read, {self.kept} kept{why}"


@dataclass(frozen=True)
class PairData:
    """Records of a pairwise preference file and the summary of reading it."""

    pairs: tuple[PreferencePair, ...]
    summary: ReadSummary

    def __len__(self) -> int:
        return len(self.pairs)


@dataclass(frozen=True, eq=False)
class MultiArmData:
    """Contexts, each answered by the same K arms, with the judge's preference probabilities."""

    path: str
    context_ids: tuple[str, ...]
    """(n_x,) the source's ids."""
    contexts: tuple[str, ...]
    """(n_x,) instruction texts."""
    arm_names: tuple[str, ...]
    """(K,) the generating model of each arm, in the source's order."""
    arm_texts: tuple[tuple[str, ...], ...]
    """n_x x K output texts."""
    p: np.ndarray
    """(n_x, K) P(judge prefers the arm's output over the reference output), in [0, 1]."""
    reference_generator: str
    reference_texts: tuple[str, ...]
    """(n_x,) the reference outputs the arms were judged against."""
    datasets: tuple[str, ...]
    """(n_x,) sub-source of each context."""
    empty_outputs: int
    """Number of (context, arm) outputs that are empty or only whitespace (kept)."""

    @property
    def n_x(self) -> int:
        return len(self.contexts)

    @property
    def K(self) -> int:
        return len(self.arm_names)


# ---------------------------------------------------------------- reading

def _json_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line number from 1, object) for each non-blank line; malformed lines raise."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            # Bytes, decoded line by line, so that a decoding error is pinned to its line.
            for line_no, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ValueError(f"{path} line {line_no}: not UTF-8 text: {exc}") from None
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"{path} line {line_no}: invalid JSON: {exc.msg} (column {exc.colno})"
                    ) from None
                if not isinstance(obj, dict):
                    raise ValueError(
                        f"{path} line {line_no}: expected a JSON object, got {type(obj).__name__}"
                    )
                yield line_no, obj
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise ValueError(f"{path}: no such file") from None
        raise ValueError(f"{path}: cannot read: {exc}") from None


@overload
def _get(obj: Mapping, dotted: str, path: str, line: int, kind: type[_T]) -> _T: ...


@overload
def _get(obj: Mapping, dotted: str, path: str, line: int, kind: tuple[type, ...]) -> object: ...


def _get(obj: Mapping, dotted: str, path: str, line: int, kind: type | tuple[type, ...]) -> object:
    """obj['a']['b'] for dotted 'a.b', required to exist and be of `kind`."""
    value: object = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(f"{path} line {line}: missing field {dotted!r}")
        value = value[part]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(
                f"{path} line {line}: field {dotted!r} must be a finite number, got {value!r}"
            )
        return float(value)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ValueError(
            f"{path} line {line}: field {dotted!r} must be a {name}, got {type(value).__name__}"
        )
    return value


def _check_policies(**policies: str) -> None:
    for name, value in policies.items():
        if value not in POLICIES:
            raise ValueError(f"{name} must be one of {', '.join(POLICIES)}, got {value!r}")


class _Tally:
    """Applies the drop policies to pairs one by one and builds the summary."""

    def __init__(self, path: str, policies: Mapping[str, str]) -> None:
        self.path = path
        self.policies = dict(policies)
        self.rows = 0
        self.kept: list[PreferencePair] = []
        self.dropped = {p: 0 for p in PROBLEMS}
        self.lines: dict[str, list[int]] = {p: [] for p in PROBLEMS}

    def reject(self, line: int, reason: str) -> None:
        """A row that can never be kept (no pair could be formed)."""
        self.lines[reason].append(line)
        self.dropped[reason] += 1

    def offer(self, pair: PreferencePair) -> None:
        problems = []
        if not pair.chosen.strip() or not pair.rejected.strip():
            problems.append("empty")
        if pair.chosen == pair.rejected:
            problems.append("identical")
        if pair.has_scores and pair.score_chosen == pair.score_rejected:
            problems.append("tie")
        for p in problems:
            self.lines[p].append(pair.line)
        for p in problems:
            policy = self.policies[p]
            if policy == "error":
                raise ValueError(
                    f"{self.path} line {pair.line}: {_DESCRIPTIONS[p]}"
                    f" (policy {_POLICY_NAMES[p]}='error')"
                )
        for p in problems:
            if self.policies[p] == "drop":
                self.dropped[p] += 1
                return
        self.kept.append(pair)

    def result(self) -> PairData:
        flagged = {p: len(v) for p, v in self.lines.items()}
        summary = ReadSummary(self.path, self.rows, len(self.kept), dict(self.dropped), flagged,
                              {p: tuple(v) for p, v in self.lines.items()})
        return PairData(tuple(self.kept), summary)


_DESCRIPTIONS = {
    "empty": "empty chosen or rejected response",
    "identical": "chosen and rejected are the same text",
    "tie": "score_chosen == score_rejected",
}
_POLICY_NAMES = {"empty": "empty", "identical": "identical", "tie": "ties"}


def _limit_reached(tally: _Tally, limit: int | None) -> bool:
    return limit is not None and len(tally.kept) >= limit


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")


def read_ultrafeedback(path: str | os.PathLike, *, ties: str = "drop", empty: str = "drop",
                       identical: str = "drop", limit: int | None = None) -> PairData:
    """UltraFeedback binarized pairs, trl/H4 form (metadata.score_chosen/score_rejected) or
    Argilla form (metadata.rating_chosen/rating_rejected); the form is read per line.

    `limit` stops after that many kept pairs. Other metadata fields and `source_index` go to
    `PreferencePair.meta`.
    """
    _check_policies(ties=ties, empty=empty, identical=identical)
    _check_limit(limit)
    path = os.fspath(path)
    tally = _Tally(path, {"tie": ties, "empty": empty, "identical": identical})
    name = os.path.basename(path)
    for line, row in _json_lines(path):
        if _limit_reached(tally, limit):
            break
        tally.rows += 1
        prompt, chosen, rejected = (_get(row, k, path, line, str) for k in _PAIR_FIELDS)
        metadata = _get(row, "metadata", path, line, dict)
        if "score_chosen" in metadata or "score_rejected" in metadata:
            keys = ("metadata.score_chosen", "metadata.score_rejected")
        elif "rating_chosen" in metadata or "rating_rejected" in metadata:
            keys = ("metadata.rating_chosen", "metadata.rating_rejected")
        else:
            raise ValueError(
                f"{path} line {line}: missing field 'metadata.score_chosen' (or"
                " 'metadata.rating_chosen' in the Argilla form)"
            )
        sc, sr = (_get(row, k, path, line, float) for k in keys)
        score_fields = {dotted.split(".")[1] for dotted in keys}
        meta = {k: v for k, v in metadata.items() if k not in score_fields}
        if "source_index" in row:
            meta["source_index"] = row["source_index"]
        pair_id = str(row["id"]) if "id" in row else f"{name}:{line}"
        tally.offer(PreferencePair(pair_id, prompt, chosen, rejected, sc, sr, line, meta))
    return tally.result()


def read_preference_jsonl(path: str | os.PathLike, *, ties: str = "drop", empty: str = "drop",
                          identical: str = "drop", limit: int | None = None) -> PairData:
    """Generic pairs: one JSON object per line with string fields `prompt`, `chosen`,
    `rejected`, and optionally `score_chosen` and `score_rejected` (numbers, both or neither)
    and `id` (the pair id). Other fields go to `PreferencePair.meta`."""
    _check_policies(ties=ties, empty=empty, identical=identical)
    _check_limit(limit)
    path = os.fspath(path)
    tally = _Tally(path, {"tie": ties, "empty": empty, "identical": identical})
    name = os.path.basename(path)
    known = {"prompt", "chosen", "rejected", "score_chosen", "score_rejected", "id"}
    for line, row in _json_lines(path):
        if _limit_reached(tally, limit):
            break
        tally.rows += 1
        prompt, chosen, rejected = (_get(row, k, path, line, str) for k in _PAIR_FIELDS)
        has = ["score_chosen" in row, "score_rejected" in row]
        if has[0] != has[1]:
            missing = "score_rejected" if has[0] else "score_chosen"
            raise ValueError(f"{path} line {line}: missing field {missing!r} (scores come in pairs)")
        sc = _get(row, "score_chosen", path, line, float) if has[0] else None
        sr = _get(row, "score_rejected", path, line, float) if has[1] else None
        pair_id = str(row["id"]) if "id" in row else f"{name}:{line}"
        meta = {k: v for k, v in row.items() if k not in known}
        tally.offer(PreferencePair(pair_id, prompt, chosen, rejected, sc, sr, line, meta))
    return tally.result()


def split_hh_transcript(transcript: str) -> tuple[str, str] | None:
    """(prompt, response) of an HH-RLHF transcript: the prompt runs up to and including the
    final "\\n\\nAssistant:", the response is the rest without surrounding whitespace; None if
    there is no assistant turn."""
    i = transcript.rfind(HH_MARKER)
    if i < 0:
        return None
    cut = i + len(HH_MARKER)
    return transcript[:cut], transcript[cut:].strip()


def read_hh_rlhf(path: str | os.PathLike, *, empty: str = "drop", identical: str = "drop",
                 limit: int | None = None) -> PairData:
    """HH-RLHF pairs of transcripts (`chosen`, `rejected`), split into the shared prompt and the
    two final responses; rows whose prompts differ are dropped as `prefix_mismatch`."""
    _check_policies(empty=empty, identical=identical)
    _check_limit(limit)
    path = os.fspath(path)
    tally = _Tally(path, {"tie": "keep", "empty": empty, "identical": identical})
    name = os.path.basename(path)
    for line, row in _json_lines(path):
        if _limit_reached(tally, limit):
            break
        tally.rows += 1
        chosen, rejected = (_get(row, k, path, line, str) for k in ("chosen", "rejected"))
        a, b = split_hh_transcript(chosen), split_hh_transcript(rejected)
        if a is None or b is None:
            tally.reject(line, "no_assistant_turn")
            continue
        if a[0] != b[0]:
            tally.reject(line, "prefix_mismatch")
            continue
        tally.offer(PreferencePair(f"{name}:{line}", a[0], a[1], b[1], line=line))
    return tally.result()


def read_alpacaeval(path: str | os.PathLike, *, limit: int | None = None) -> MultiArmData:
    """The AlpacaEval multi-arm table: one line per instruction with `id`, `instruction`,
    `dataset`, `reference_generator`, `reference_output` and `arms`, a list of
    {generator, output, preference} in the same generator order on every line, with preference
    in [1, 2] = 1 + P(judge prefers the arm over the reference). `limit`: first contexts only."""
    _check_limit(limit)
    path = os.fspath(path)
    ids: list[str] = []
    contexts, texts, probs, refs, datasets = [], [], [], [], []
    arm_names: tuple[str, ...] | None = None
    reference: str | None = None
    empty = 0
    for line, row in _json_lines(path):
        if limit is not None and len(ids) >= limit:
            break
        ids.append(str(_get(row, "id", path, line, (int, str))))
        contexts.append(_get(row, "instruction", path, line, str))
        datasets.append(_get(row, "dataset", path, line, str))
        generator = _get(row, "reference_generator", path, line, str)
        if reference is None:
            reference = generator
        elif generator != reference:
            raise ValueError(
                f"{path} line {line}: reference_generator {generator!r} differs from"
                f" {reference!r} of the first line"
            )
        refs.append(_get(row, "reference_output", path, line, str))
        arms = _get(row, "arms", path, line, list)
        names, outputs, p = [], [], []
        for k, arm in enumerate(arms):
            if not isinstance(arm, dict):
                raise ValueError(f"{path} line {line}: arms[{k}] must be an object")
            names.append(_get(arm, "generator", path, line, str))
            outputs.append(_get(arm, "output", path, line, str))
            pref = _get(arm, "preference", path, line, float)
            if not 1.0 <= pref <= 2.0:
                raise ValueError(
                    f"{path} line {line}: arms[{k}].preference = {pref!r} is outside [1, 2]"
                )
            p.append(pref - 1.0)
            empty += not outputs[-1].strip()
        if arm_names is None:
            arm_names = tuple(names)
            if not arm_names:
                raise ValueError(f"{path} line {line}: no arms")
        elif tuple(names) != arm_names:
            k = next((k for k in range(max(len(names), len(arm_names)))
                      if k >= len(names) or k >= len(arm_names) or names[k] != arm_names[k]), 0)
            raise ValueError(
                f"{path} line {line}: arms differ from the first line's at arms[{k}]"
                f" ({len(names)} arms here, {len(arm_names)} on the first line)"
            )
        texts.append(tuple(outputs))
        probs.append(p)
    if not ids:
        raise ValueError(f"{path}: no rows")
    p_matrix = np.array(probs, dtype=np.float64)
    p_matrix.setflags(write=False)
    return MultiArmData(path, tuple(ids), tuple(contexts), arm_names or (), tuple(texts), p_matrix,
                        reference or "", tuple(refs), tuple(datasets), empty)
