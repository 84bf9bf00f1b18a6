"""A user's preference data as a feature bank: read the records, embed through the cache, build.

`load_user_data(options, encoder=None)` takes a JSON-lines file (pairs or several rated
responses per prompt, `sim.real.adapters.detect_format`) or a ready feature bank folder and
returns the bank (normalised to max ||phi|| = 1) with what happened on the way: rows read and
dropped, texts found in the feature cache and texts embedded. The model is loaded only when some
text is not in the cache; `encoder` replaces the project's `TextEncoder` (anything with its
`key`, `compose`, `encode`, `pooling`, `model_id`, `metadata` attributes).

Subsampling (seeded, stream "subsample" of the experiment seed): `max_prompts` keeps a random
subset of the prompts (all their pairs or responses), `max_responses` a random subset of each
prompt's responses (the same subset of named sources for every prompt when the data names them,
as AlpacaEval's models). A file of rated responses becomes pairs by `sim.real.build.score_pairs`
(the higher score wins; at most `pairs_per_prompt` per prompt).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sim.core.seeding import SeedLike, spawn_streams
from sim.real import adapters
from sim.real.adapters import PairData, PreferencePair, RatedData, RatedPrompt
from sim.real.bank import FeatureBank
from sim.real.build import REFERENCE_COLUMN, bank_from_pairs, bank_from_rated, score_pairs
from sim.real.shared_banks import missing_llm_extra

DATA_STREAMS: tuple[str, ...] = ("subsample", "pairs")
"""Streams of the data preparation, children of the experiment seed's "data" stream."""

FORMAT_CHOICES: tuple[str, ...] = ("auto", "pairs", "multi", "bank")


@dataclass(frozen=True)
class DataOptions:
    """Where the data are and how to read and embed them (the command's options)."""

    path: str
    format: str = "auto"
    fields: dict[str, str] = field(default_factory=dict)
    eval_path: str | None = None
    model: str = "all-MiniLM-L6-v2"
    pooling: str = "mean"
    text: str = "pair"
    cache_dir: str | None = None
    """None: the default embedding cache (`sim.real.embed.default_cache_dir`)."""
    batch_size: int = 32
    device: str = "cpu"
    max_prompts: int | None = None
    max_responses: int | None = None
    pairs_per_prompt: int | None = 10
    progress: bool = True


@dataclass(frozen=True, eq=False)
class UserData:
    """The bank and the story of how it was made."""

    bank: FeatureBank
    """Normalised to max ||phi|| = 1; pairs in split 'eval' when an eval file or the bank's own
    eval split fixes them, else all 'train'."""
    kind: str
    """'pairs', 'multi' or 'bank'."""
    reader: str
    description: str
    notes: tuple[str, ...]
    """Lines for the report: rows read and dropped, subsampling, pairs made from scores."""
    fixed_eval: bool
    """True when the eval pairs come from the data (an eval file, a bank's eval split)."""
    texts: int = 0
    embedded: int = 0
    seconds: float = 0.0
    model: str = ""
    scores_vs_reference: bool = False
    """Scores are P(response beats the prompt's reference answer) (AlpacaEval)."""
    score_meaning: str = ""
    source: str = ""
    """The paths read (--data, and --eval-data when given)."""


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[real] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- reading

def _read_pairs(path: str, reader: str, fields: dict[str, str]) -> PairData:
    if reader == "ultrafeedback":
        return adapters.read_ultrafeedback(path)
    if reader == "hh-rlhf":
        return adapters.read_hh_rlhf(path)
    return adapters.read_pairs(path, fields)


def _read_rated(path: str, reader: str, fields: dict[str, str]) -> RatedData:
    if reader == "alpacaeval":
        return adapters.rated_from_alpacaeval(adapters.read_alpacaeval(path))
    return adapters.read_rated(path, fields)


def _dropped(summary: adapters.ReadSummary) -> str:
    parts = [f"{v} {k}" for k, v in summary.dropped.items() if v]
    return f"{summary.rows} rows read, {summary.kept} pairs kept" + (
        f" (dropped: {', '.join(parts)})" if parts else "")


def _subsample_prompts(prompts: Sequence[str], n: int | None, rng: np.random.Generator
                       ) -> set[str] | None:
    unique = list(dict.fromkeys(prompts))
    if n is None or n >= len(unique):
        return None
    keep = rng.permutation(len(unique))[:n]
    return {unique[i] for i in keep}


def _subsample_rated(data: RatedData, max_prompts: int | None, max_responses: int | None,
                     rng: np.random.Generator) -> tuple[RatedData, list[str]]:
    notes = []
    prompts = list(data.prompts)
    keep = _subsample_prompts([p.prompt for p in prompts], max_prompts, rng)
    if keep is not None:
        prompts = [p for p in prompts if p.prompt in keep]
        notes.append(f"subsample: {len(prompts)} of {len(data.prompts)} prompts (seeded)")
    if max_responses is not None:
        names = prompts[0].names if prompts else None
        shared = names is not None and all(p.names == names for p in prompts)
        if shared and names is not None and max_responses < len(names):
            cols = np.sort(rng.permutation(len(names))[:max_responses])
            prompts = [_take(p, cols) for p in prompts]
            chosen = ", ".join(names[c] for c in cols)
            notes.append(f"subsample: {max_responses} of {len(names)} sources per prompt "
                         f"(seeded, the same for every prompt: {chosen})")
        elif not shared:
            prompts = [_take(p, np.sort(rng.permutation(len(p.responses))[:max_responses]))
                       if len(p.responses) > max_responses else p for p in prompts]
            notes.append(f"subsample: at most {max_responses} responses per prompt (seeded)")
    return replace(data, prompts=tuple(prompts)), notes


def _take(p: RatedPrompt, cols: np.ndarray) -> RatedPrompt:
    return replace(p, responses=tuple(p.responses[c] for c in cols),
                   scores=tuple(p.scores[c] for c in cols),
                   names=None if p.names is None else tuple(p.names[c] for c in cols))


# ----------------------------------------------------------------------- embedding

class _Embedder:
    """embed(texts) through the cache, announcing what is cached and what the model must do."""

    def __init__(self, encoder, cache, opts: DataOptions) -> None:
        self.encoder, self.cache, self.opts = encoder, cache, opts
        self.texts = 0
        self.embedded = 0

    def compose(self, prompt: str, response: str) -> str:
        return self.encoder.compose(prompt, response, self.opts.text)

    def __call__(self, texts: list[str]) -> np.ndarray:
        from sim.real.adapters import text_sha256
        from sim.real.embed import embed_texts

        unique = set(texts)
        todo = (len(unique) if self.cache is None
                else sum(self.cache.get(text_sha256(t)) is None for t in unique))
        self.texts += len(unique)
        self.embedded += todo
        quiet = not self.opts.progress
        if todo:
            if getattr(self.encoder, "needs_llm_extra", True):
                missing = missing_llm_extra()
                if missing is not None:
                    raise ValueError(f"{todo} of {len(unique)} texts are not in the feature cache"
                                     f" and the llm extra is not installed (missing {missing}):"
                                     " run make llm, or pass a feature bank")
            _say(f"{len(unique)} distinct texts: {len(unique) - todo} from the feature cache, "
                 f"{todo} to embed with {self.encoder.model_id}"
                 + ("" if getattr(self.encoder, "loaded", True) else " (loading the model)"),
                 quiet)
        else:
            _say(f"{len(unique)} distinct texts, all from the feature cache (no model loaded)",
                 quiet)
        return embed_texts(texts, self.encoder, cache=self.cache,
                           batch_size=self.opts.batch_size, progress=self.opts.progress)


def _encoder_and_cache(opts: DataOptions, encoder):
    from sim.real.embed import EmbeddingCache, TextEncoder, default_cache_dir

    if encoder is None:
        encoder = TextEncoder(opts.model, opts.pooling, device=opts.device)
    root = opts.cache_dir or default_cache_dir()
    return encoder, EmbeddingCache(root, encoder.key)


# --------------------------------------------------------------------------- public

def load_user_data(opts: DataOptions, *, seed: SeedLike = 0, encoder=None,
                   quiet: bool = False) -> UserData:
    """The data of `opts` as a normalised feature bank (module docstring). ValueError with a
    one-line reason for anything wrong with the data or the options."""
    start = time.perf_counter()
    path = opts.path
    if opts.format not in FORMAT_CHOICES:
        raise ValueError(f"--format must be one of {', '.join(FORMAT_CHOICES)}, got "
                         f"{opts.format!r}")
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file or folder")
    if opts.eval_path is not None:
        if not os.path.exists(opts.eval_path):
            raise ValueError(f"{opts.eval_path}: no such file or folder")
        if adapters.same_file(path, opts.eval_path):
            raise ValueError(f"the same file is used for train and eval: {path} and "
                             f"{opts.eval_path}; leave out --eval-data to split it by prompt")
    streams = spawn_streams(seed, DATA_STREAMS)
    if os.path.isdir(path) or opts.format == "bank":
        if opts.eval_path is not None:
            raise ValueError("--eval-data goes with a record file; a bank carries its own "
                             "splits (an 'eval' split is used as the eval pairs)")
        return _from_bank(path, opts, streams, start, quiet)
    detected = adapters.detect_format(path, opts.fields,
                                      "auto" if opts.format == "auto" else opts.format)
    _say(f"{path}: {detected.description} (reader {detected.reader})", quiet)
    encoder, cache = _encoder_and_cache(opts, encoder)
    embed = _Embedder(encoder, cache, opts)
    meta = {"dataset": os.path.basename(path), "text": opts.text}
    notes: list[str] = []
    if detected.kind == "pairs":
        train = _read_pairs(path, detected.reader, opts.fields)
        notes.append(f"{os.path.basename(path)}: {_dropped(train.summary)}")
        sources: list[tuple[Sequence[PreferencePair], str]] = [(train.pairs, "train")]
        if opts.eval_path is not None:
            ev_format = adapters.detect_format(opts.eval_path, opts.fields, "pairs")
            ev = _read_pairs(opts.eval_path, ev_format.reader, opts.fields)
            notes.append(f"{os.path.basename(opts.eval_path)} (eval): {_dropped(ev.summary)}")
            sources.append((ev.pairs, "eval"))
        if opts.max_prompts is not None:
            keep = _subsample_prompts([p.prompt for s, _ in sources for p in s], opts.max_prompts,
                                      streams["subsample"])
            if keep is not None:
                before = sum(len(s) for s, _ in sources)
                sources = [([p for p in s if p.prompt in keep], name) for s, name in sources]
                notes.append(f"subsample: {len(keep)} prompts (seeded), "
                             f"{sum(len(s) for s, _ in sources)} of {before} pairs")
        if opts.max_responses is not None:
            raise ValueError("--max-responses applies to files of several rated responses per "
                             "prompt (multi), not to pairs")
        if not sum(len(s) for s, _ in sources):
            raise ValueError(f"{path}: no pairs left to use ({notes[0]})")
        bank = bank_from_pairs(sources, embed, embed.compose, metadata=meta)
        bank = _with_metadata(bank, {**meta, **encoder.metadata(cache)}).normalized(1.0)
        return UserData(bank, "pairs", detected.reader, detected.description, tuple(notes),
                        opts.eval_path is not None, embed.texts, embed.embedded,
                        time.perf_counter() - start, encoder.model_id,
                        source=path + (f" (eval: {opts.eval_path})" if opts.eval_path else ""))
    if opts.eval_path is not None:
        raise ValueError("--eval-data goes with pairs; a file of rated responses is split by "
                         "prompt")
    data = _read_rated(path, detected.reader, opts.fields)
    notes.append(f"{os.path.basename(path)}: {data.rows} rows read, {len(data)} prompts, "
                 f"{data.n_responses} rated responses")
    data, sub = _subsample_rated(data, opts.max_prompts, opts.max_responses, streams["subsample"])
    notes += sub
    bank = bank_from_rated(data, embed, embed.compose, metadata=meta)
    bank = _with_metadata(bank, {**meta, **encoder.metadata(cache)})
    bank = score_pairs(bank.normalized(1.0), opts.pairs_per_prompt, streams["pairs"])
    notes.append(_pairs_note(bank, opts.pairs_per_prompt))
    return UserData(bank, "multi", detected.reader, detected.description, tuple(notes), False,
                    embed.texts, embed.embedded, time.perf_counter() - start, encoder.model_id,
                    data.scores_are_reference_probabilities, data.score_meaning, source=path)


def _with_metadata(bank: FeatureBank, metadata: dict[str, str]) -> FeatureBank:
    """The bank with its metadata replaced (known only once the texts are embedded: the token
    limit in force comes from the model or the cache's record of it)."""
    pairs = bank.pairs.drop(columns="tie") if "tie" in bank.pairs.columns else bank.pairs
    return FeatureBank(bank.responses, bank.features, pairs, metadata)


def _pairs_note(bank: FeatureBank, per_prompt: int | None) -> str:
    cap = "all" if per_prompt is None else f"at most {per_prompt}"
    return (f"pairs from the scores: {bank.n_pairs} ({cap} per prompt: two responses of one "
            "prompt with different scores and texts, the higher score preferred)")


def _from_bank(path: str, opts: DataOptions, streams, start: float, quiet: bool) -> UserData:
    if opts.fields:
        raise ValueError("--fields names the fields of a record file; a bank has fixed columns")
    try:
        bank = FeatureBank.load(path)
    except ValueError as exc:
        raise ValueError(f"{exc} (--format bank reads a feature bank folder)") from None
    _say(repr(bank), quiet)
    notes = [f"feature bank {path}: {bank.n_responses} responses, {bank.n_pairs} pairs, "
             f"d = {bank.d}" + (f", {bank.dropped_ties} tied pairs dropped"
                                if bank.dropped_ties else "")]
    kind = "bank"
    if bank.n_pairs == 0:
        if "score" not in bank.responses.columns:
            raise ValueError(f"{path}: the bank has no pairs and no response scores to make "
                             "pairs from")
        bank = score_pairs(bank, opts.pairs_per_prompt, streams["pairs"])
        notes.append(_pairs_note(bank, opts.pairs_per_prompt))
    if opts.max_prompts is not None:
        keep = _subsample_prompts(list(bank.responses["prompt_id"]), opts.max_prompts,
                                  streams["subsample"])
        if keep is not None:
            rows = bank.responses["prompt_id"].isin(keep).to_numpy()
            pairs = bank.pairs[bank.pairs["prompt_id"].isin(keep)]
            bank = FeatureBank(bank.responses[rows], bank.features[rows],
                               pairs.drop(columns="tie", errors="ignore"), dict(bank.metadata))
            notes.append(f"subsample: {len(keep)} prompts (seeded), {bank.n_pairs} pairs")
    has_eval = "eval" in bank.splits
    if has_eval:
        notes.append("the bank's split 'eval' is the eval split")
    reference = (REFERENCE_COLUMN in bank.responses.columns
                 and bool(bank.responses[REFERENCE_COLUMN].to_numpy(dtype=bool).any()))
    return UserData(bank.normalized(1.0), kind, "bank", "a feature bank", tuple(notes), has_eval,
                    seconds=time.perf_counter() - start, model=bank.metadata.get("model", ""),
                    scores_vs_reference=reference,
                    score_meaning="the bank's response score" if "score" in bank.responses else "",
                    source=path)
