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
- `read_pairs`: pairs from any field names (`fields`: role -> dotted field, roles
  `PAIR_ROLES` for chosen/rejected files or `LABEL_ROLES` for files with a label column).
- `read_rated`: several rated responses per prompt (`RATED_ROLES`), nested or flat.
- `detect_format`: which of these readers fits a file, from its first line.

Every failure to read names the file and the line: malformed JSON, nesting too deep to parse,
an escaped lone surrogate (not Unicode text), a number too large for a float, a missing field
(with the fields the line has), a repeated pair id (with the line of its first use).

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
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast, overload

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
    chosen_first: bool = True
    """The order the source gave: True when the chosen response came first (always, for
    chosen/rejected data), False when a label said the second response won."""

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

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _parse_line(line: str, path: str, line_no: int) -> dict:
    """One JSON object; every way a line can fail names the file and the line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} line {line_no}: invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise ValueError(
            f"{path} line {line_no}: invalid JSON: nested too deeply to read"
        ) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise ValueError(f"{path} line {line_no}: invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path} line {line_no}: expected a JSON object, got {type(obj).__name__}"
        )
    # JSON admits an escaped lone surrogate (\ud800), which is not Unicode text: it could be
    # neither hashed nor embedded. Paired surrogates decode to one character and pass.
    if _SURROGATE_ESCAPE.search(line):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start:exc.end].encode("unicode_escape").decode("ascii")
            raise ValueError(
                f"{path} line {line_no}: a string holds the lone surrogate escape {bad}, which"
                " is not Unicode text"
            ) from None
    return obj


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
                yield line_no, _parse_line(line, path, line_no)
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
    seen: list[str] = []
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            where = f"field {'.'.join(seen)!r}" if seen else "the line"
            has = (f"; {where} has fields: {_field_list(value)}" if isinstance(value, Mapping)
                   else f"; {where} is a {type(value).__name__}, not an object")
            raise ValueError(f"{path} line {line}: missing field {dotted!r}{has}")
        value = value[part]
        seen.append(part)
    if kind is float:
        return _finite_number(value, dotted, path, line)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ValueError(
            f"{path} line {line}: field {dotted!r} must be a {name}, got {type(value).__name__}"
        )
    return value


def _short(value: object) -> str:
    """repr of a value, cut to 60 characters (a 400-digit number is not shown whole)."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value)))
        if digits > 40:
            return f"an integer of {digits} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_number(value: object, dotted: str, path: str, line: int) -> float:
    """value as a finite float (an int too large for a float is refused, not overflowed)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(number)
    if not ok:
        raise ValueError(
            f"{path} line {line}: field {dotted!r} must be a finite number, got {_short(value)}"
        )
    return number


def _field_list(obj: Mapping, limit: int = 12) -> str:
    names = sorted(str(k) for k in obj)
    shown = ", ".join(names[:limit])
    return (shown + f", ... ({len(names)} in all)" if len(names) > limit else shown) or "none"


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
        self.ids: dict[str, int] = {}

    def pair_id(self, row: Mapping, line: int, name: str, field: str = "id") -> str:
        """The source's id of the row (unique in the file: a repeat names both lines), else
        '<file name>:<line>'."""
        if field not in row:
            return f"{name}:{line}"
        value = row[field]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(
                f"{self.path} line {line}: field {field!r} (the pair id) must be a string or an"
                f" integer, got {type(value).__name__}"
            )
        pid = str(value)
        if pid in self.ids:
            raise ValueError(
                f"{self.path} line {line}: duplicate pair id {_short(pid)} (first at line"
                f" {self.ids[pid]})"
            )
        self.ids[pid] = line
        return pid

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
        pair_id = tally.pair_id(row, line, name)
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
            raise ValueError(
                f"{path} line {line}: missing field {missing!r} (scores come in pairs)")
        sc = _get(row, "score_chosen", path, line, float) if has[0] else None
        sr = _get(row, "score_rejected", path, line, float) if has[1] else None
        pair_id = tally.pair_id(row, line, name)
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


# ------------------------------------------------- a user's own files, any field names

PAIR_ROLES: dict[str, str] = {
    "prompt": "the prompt (context) text",
    "chosen": "the preferred response text",
    "rejected": "the other response text",
    "score_chosen": "optional score of the chosen response (with score_rejected)",
    "score_rejected": "optional score of the rejected response",
    "id": "optional pair id (unique in the file)",
}
"""Roles of a chosen/rejected pairs file; the default field of each role is its name."""

LABEL_ROLES: dict[str, str] = {
    "prompt": "the prompt (context) text",
    "response_a": "the first response text",
    "response_b": "the second response text",
    "label": "1 (or true) when response_a is preferred, 0 (or false) when response_b is",
    "id": "optional pair id (unique in the file)",
}
"""Roles of a pairs file with a label column."""

RATED_ROLES: dict[str, str] = {
    "prompt": "the prompt (context) text",
    "responses": "a list of rated responses, one object each (nested form)",
    "text": "the response text inside each object of `responses` (nested form)",
    "score": "the response's score: higher is better (both forms)",
    "response": "the response text, one response per line (flat form)",
    "name": "optional name of each response's source, e.g. the generating model",
}
"""Roles of a file with several rated responses per prompt: nested (one line per prompt with
a list of responses) or flat (one line per response; lines of one prompt share its text)."""

FORMATS: tuple[str, ...] = ("pairs", "multi")
"""Kinds of record files: pairs (two responses and which one won) and multi (several rated
responses per prompt)."""


def parse_fields(text: str | None) -> dict[str, str]:
    """'role=field,role=field' as a dict (dotted fields reach into nested objects, e.g.
    score_chosen=metadata.score_chosen). ValueError for a malformed item or an unknown role."""
    if text is None or not text.strip():
        return {}
    known = {**PAIR_ROLES, **LABEL_ROLES, **RATED_ROLES}
    out: dict[str, str] = {}
    for item in text.split(","):
        role, eq, name = item.partition("=")
        role, name = role.strip(), name.strip()
        if not eq or not role or not name:
            raise ValueError(f"--fields item {item.strip()!r} is not ROLE=FIELD")
        if role not in known:
            raise ValueError(f"--fields: unknown role {role!r}; roles: {', '.join(known)}")
        if role in out:
            raise ValueError(f"--fields: role {role!r} given twice")
        out[role] = name
    return out


def _has(obj: Mapping, dotted: str) -> bool:
    value: object = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


def _role(obj: Mapping, fields: Mapping[str, str], role: str, path: str, line: int,
          kind: type | tuple[type, ...]) -> object:
    """The role's field of a line; a missing field names the role, the --fields item and the
    fields the line has."""
    dotted = fields.get(role, role)
    try:
        return _get(obj, dotted, path, line, kind)
    except ValueError as exc:
        meaning = PAIR_ROLES.get(role) or LABEL_ROLES.get(role) or RATED_ROLES[role]
        message = str(exc).replace(
            f"missing field {dotted!r}",
            f"missing field {dotted!r} ({meaning}; set it with --fields {role}=FIELD)", 1)
        raise ValueError(message) from None


def _binary_label(value: object, dotted: str, path: str, line: int) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
        return int(value)
    raise ValueError(f"{path} line {line}: field {dotted!r} (the label) must be 0 or 1, got "
                     f"{_short(value)}")


def label_form(fields: Mapping[str, str]) -> bool:
    """True when the fields name the label form (response_a, response_b, label)."""
    return any(r in fields for r in ("label", "response_a", "response_b"))


def read_pairs(path: str | os.PathLike, fields: Mapping[str, str] | None = None, *,
               ties: str = "drop", empty: str = "drop", identical: str = "drop",
               limit: int | None = None) -> PairData:
    """Pairs from any JSON-lines file whose fields play the roles of PAIR_ROLES (chosen/rejected)
    or, when `fields` names any of label, response_a, response_b, of LABEL_ROLES; `fields` maps
    a role to a (dotted) field name, and a role not given is read from the field of its own
    name. In the label form a pair whose label is 0 has response_b as its chosen response
    (`PreferencePair.chosen_first` False). Other fields go to `PreferencePair.meta`."""
    fields = dict(fields or {})
    roles = LABEL_ROLES if label_form(fields) else PAIR_ROLES
    unknown = [r for r in fields if r not in roles]
    if unknown:
        form = "label" if roles is LABEL_ROLES else "chosen/rejected"
        raise ValueError(f"--fields: role {unknown[0]!r} does not belong to the {form} form of"
                         f" pairs; its roles: {', '.join(roles)}")
    _check_policies(ties=ties, empty=empty, identical=identical)
    _check_limit(limit)
    path = os.fspath(path)
    tally = _Tally(path, {"tie": ties, "empty": empty, "identical": identical})
    name = os.path.basename(path)
    used = {fields.get(r, r).split(".")[0] for r in roles}
    for line, row in _json_lines(path):
        if _limit_reached(tally, limit):
            break
        tally.rows += 1
        prompt = cast(str, _role(row, fields, "prompt", path, line, str))
        sc = sr = None
        if roles is LABEL_ROLES:
            a = cast(str, _role(row, fields, "response_a", path, line, str))
            b = cast(str, _role(row, fields, "response_b", path, line, str))
            label = _binary_label(_role(row, fields, "label", path, line, (int, float, bool)),
                                  fields.get("label", "label"), path, line)
            chosen, rejected, first = (a, b, True) if label == 1 else (b, a, False)
        else:
            chosen = cast(str, _role(row, fields, "chosen", path, line, str))
            rejected = cast(str, _role(row, fields, "rejected", path, line, str))
            first = True
            keys = [fields.get(r, r) for r in ("score_chosen", "score_rejected")]
            has = [_has(row, k) for k in keys]
            required = "score_chosen" in fields or "score_rejected" in fields
            if has[0] != has[1] or (required and not all(has)):
                role = "score_rejected" if has[0] else "score_chosen"
                if required:  # a field the user named: say which fields the line has
                    _role(row, fields, role, path, line, float)
                raise ValueError(f"{path} line {line}: missing field {fields.get(role, role)!r}"
                                 " (scores come in pairs)")
            if has[0]:
                sc = _get(row, keys[0], path, line, float)
                sr = _get(row, keys[1], path, line, float)
        pair_id = tally.pair_id(row, line, name, fields.get("id", "id"))
        meta = {k: v for k, v in row.items() if k not in used}
        tally.offer(PreferencePair(pair_id, prompt, chosen, rejected, sc, sr, line, meta,
                                   chosen_first=first))
    return tally.result()


@dataclass(frozen=True)
class RatedPrompt:
    """One prompt with several responses and a score for each (higher is better)."""

    prompt: str
    responses: tuple[str, ...]
    scores: tuple[float, ...]
    line: int
    """Line of the source file (the first line of the prompt in the flat form), from 1."""
    names: tuple[str, ...] | None = None
    """The source of each response (e.g. its model), when the file names them."""
    reference: str | None = None
    """A fixed reference answer the scores were judged against (AlpacaEval), if any."""


@dataclass(frozen=True)
class RatedData:
    """Records of a file with several rated responses per prompt."""

    path: str
    prompts: tuple[RatedPrompt, ...]
    rows: int
    """Non-blank lines read."""
    score_meaning: str
    """What a score is, for the report (e.g. 'the file's score field')."""
    scores_are_reference_probabilities: bool = False
    """True when each score is P(response beats the prompt's reference answer), in [0, 1]."""
    reference_name: str | None = None

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def n_responses(self) -> int:
        return sum(len(p.responses) for p in self.prompts)


def read_rated(path: str | os.PathLike, fields: Mapping[str, str] | None = None, *,
               limit: int | None = None) -> RatedData:
    """Several rated responses per prompt (RATED_ROLES), nested (a `responses` list of objects
    with `text` and `score`) or flat (one `response` and `score` per line, grouped by the prompt
    text, in order of first appearance); the form is that of the first line. `limit`: the first
    prompts only."""
    fields = dict(fields or {})
    unknown = [r for r in fields if r not in RATED_ROLES]
    if unknown:
        raise ValueError(f"--fields: role {unknown[0]!r} does not belong to the multi form; its"
                         f" roles: {', '.join(RATED_ROLES)}")
    _check_limit(limit)
    path = os.fspath(path)
    nested: bool | None = None
    rows = 0
    grouped: dict[str, dict] = {}
    records: list[RatedPrompt] = []
    name_field = fields.get("name", "name")
    for line, row in _json_lines(path):
        if nested is None:
            nested = "response" not in fields and (
                "responses" in fields or _has(row, fields.get("responses", "responses"))
                or not _has(row, "response"))
        if nested and limit is not None and len(records) >= limit:
            break
        prompt = cast(str, _role(row, fields, "prompt", path, line, str))
        if not nested and limit is not None and len(grouped) >= limit and prompt not in grouped:
            continue  # flat form: later lines may still belong to a kept prompt
        rows += 1
        if nested:
            items = cast(list, _role(row, fields, "responses", path, line, list))
            texts, scores, names = [], [], []
            for k, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ValueError(f"{path} line {line}: responses[{k}] must be an object, got "
                                     f"{type(item).__name__}")
                try:
                    texts.append(cast(str, _role(item, fields, "text", path, line, str)))
                    scores.append(cast(float, _role(item, fields, "score", path, line, float)))
                except ValueError as exc:
                    message = str(exc).replace(f"line {line}:", f"line {line}: responses[{k}]:", 1)
                    raise ValueError(message) from None
                names.append(str(item[name_field]) if name_field in item else None)
            if len(texts) < 2:
                raise ValueError(f"{path} line {line}: {len(texts)} responses; a prompt needs at "
                                 "least 2")
            records.append(RatedPrompt(prompt, tuple(texts), tuple(scores), line, _names(names)))
        else:
            text = cast(str, _role(row, fields, "response", path, line, str))
            score = cast(float, _role(row, fields, "score", path, line, float))
            g = grouped.setdefault(prompt, {"line": line, "texts": [], "scores": [], "names": []})
            g["texts"].append(text)
            g["scores"].append(score)
            g["names"].append(str(row[name_field]) if name_field in row else None)
    if nested is None:
        raise ValueError(f"{path}: no rows")
    if not nested:
        for prompt, g in grouped.items():
            records.append(RatedPrompt(prompt, tuple(g["texts"]), tuple(g["scores"]), g["line"],
                                       _names(g["names"])))
    return RatedData(path, tuple(records), rows, "the file's score field (higher is better)")


def _names(names: list[str | None]) -> tuple[str, ...] | None:
    return tuple(cast(str, n) for n in names) if all(n is not None for n in names) else None


def rated_from_alpacaeval(data: MultiArmData) -> RatedData:
    """The AlpacaEval table as rated prompts: each arm's score is P(judge prefers it over the
    reference answer), the reference answer kept with each prompt."""
    prompts = tuple(
        RatedPrompt(data.contexts[x], data.arm_texts[x], tuple(float(v) for v in data.p[x]), x + 1,
                    data.arm_names, data.reference_texts[x])
        for x in range(data.n_x))
    return RatedData(data.path, prompts, data.n_x,
                     f"P(judge prefers the answer over the {data.reference_generator} reference)",
                     scores_are_reference_probabilities=True,
                     reference_name=data.reference_generator)


@dataclass(frozen=True)
class DetectedFormat:
    """What a record file is, as read from its first line (or from --fields)."""

    kind: str
    """'pairs' or 'multi' (FORMATS)."""
    reader: str
    """'ultrafeedback', 'hh-rlhf', 'pairs', 'label-pairs', 'alpacaeval' or 'rated'."""
    description: str


def first_object(path: str | os.PathLike) -> tuple[int, dict]:
    """(line, object) of the first non-blank line; ValueError for an empty file."""
    for line, row in _json_lines(path):
        return line, row
    raise ValueError(f"{os.fspath(path)}: no rows")


def detect_format(path: str | os.PathLike, fields: Mapping[str, str] | None = None,
                  kind: str = "auto") -> DetectedFormat:
    """The reader for a record file: from `fields` when they name roles, else from the fields
    of its first line. kind 'pairs' or 'multi' restricts the choice. A file that fits no form
    raises ValueError naming the fields its first line has."""
    if kind not in ("auto", *FORMATS):
        raise ValueError(f"format must be auto, {', '.join(FORMATS)}, got {kind!r}")
    fields = dict(fields or {})
    path = os.fspath(path)
    line, row = first_object(path)
    rated_roles = {"responses", "text", "score", "response", "name"}
    if fields:
        wants_multi = bool(rated_roles & set(fields)) and not label_form(fields)
        if kind == "pairs" or (kind == "auto" and not wants_multi):
            if label_form(fields):
                return DetectedFormat("pairs", "label-pairs", "pairs with a label field")
            return DetectedFormat("pairs", "pairs", "chosen/rejected pairs")
        return DetectedFormat("multi", "rated", "several rated responses per prompt")
    has = set(row)
    if kind in ("auto", "multi"):
        if {"instruction", "arms"} <= has:
            return DetectedFormat("multi", "alpacaeval",
                                  "AlpacaEval table: answers judged against a reference")
        if "responses" in has or {"response", "score"} <= has:
            return DetectedFormat("multi", "rated", "several rated responses per prompt")
    if kind in ("auto", "pairs"):
        if {"chosen", "rejected"} <= has and "prompt" not in has:
            if isinstance(row["chosen"], str) and HH_MARKER in row["chosen"]:
                return DetectedFormat("pairs", "hh-rlhf",
                                      "HH-RLHF transcripts, split at the final Assistant turn")
        if {"prompt", "chosen", "rejected"} <= has:
            meta = row.get("metadata")
            if isinstance(meta, dict) and ({"score_chosen", "rating_chosen"} & set(meta)):
                return DetectedFormat("pairs", "ultrafeedback",
                                      "UltraFeedback binarized pairs with scores")
            return DetectedFormat("pairs", "pairs", "chosen/rejected pairs")
        if {"prompt", "response_a", "response_b", "label"} <= has:
            return DetectedFormat("pairs", "label-pairs", "pairs with a label field")
    wanted = {"auto": "pairs or multi", "pairs": "pairs", "multi": "multi"}[kind]
    raise ValueError(
        f"{path} line {line}: cannot tell the {wanted} form from the fields {_field_list(row)};"
        " name them with --fields, e.g. prompt=...,chosen=...,rejected=... (pairs),"
        " prompt=...,response_a=...,response_b=...,label=... (pairs with a label) or"
        " prompt=...,responses=...,text=...,score=... (multi)")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths are one file, or two files with the same bytes."""
    a, b = os.fspath(a), os.fspath(b)
    try:
        if os.path.samefile(a, b):
            return True
        if os.path.getsize(a) != os.path.getsize(b):
            return False
    except OSError:
        return False
    return _file_sha256(a) == _file_sha256(b)


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
