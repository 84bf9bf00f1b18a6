"""Feature banks from records: the tables of `sim.real.bank` filled from adapter records.

The feature map is a parameter: `embed(texts) -> (n, d) array`, applied to the texts that
`compose(prompt, response)` builds (`sim.real.embed.TextEncoder` provides both; any other
function of the user's will do). Each distinct text is embedded once.

Text the model reads for a (prompt, response): what `compose` returns. The project's encoder
(`TextEncoder.compose`, text mode "pair", the default) joins them as

    prompt + "\n\n" + response

(two newlines between them; no other markup) for mean pooling and for any tokenizer without
a chat template; with last-token pooling and a chat template it renders a user turn and an
assistant turn. Mode "response" reads the response alone. The embedding cache is keyed by the
sha256 of exactly this text, so features computed by one's own code hit the cache only when
they join the texts the same way.

Ids are content hashes: a prompt's id is the first 16 hex digits of the sha256 of its text, a
response's is that of its prompt and its text (so the same response to the same prompt, met in
two pairs, is one row), and a multi-arm or rated response's is '<context id>/<arm name>' or
'<prompt id>/<index>' (two arms may write the same text). Pairs keep the data's orientation:
response_a is the response the data gave first, which for chosen/rejected data is the chosen
one (label 1); a label file's pair whose second response won has label 0.

Every response row has `response_chars`, the number of characters of the response text (the
length baseline of `paper_repro.real` reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.core.seeding import SeedLike, spawn_streams

from .adapters import (
    MultiArmData,
    PairData,
    PreferencePair,
    RatedData,
    prompt_id_of,
    text_sha256,
)
from .bank import FeatureBank

Embed = Callable[[list[str]], np.ndarray]
Compose = Callable[[str, str], str]


def response_id_of(prompt: str, response: str) -> str:
    """First 16 hex digits of the sha256 of prompt, a NUL byte, and response."""
    return text_sha256(prompt + "\x00" + response)[:16]


def _embed_unique(texts: list[str], embed: Embed) -> np.ndarray:
    """embed applied once per distinct text, rows returned in the order of texts."""
    unique: dict[str, int] = {}
    for t in texts:
        unique.setdefault(t, len(unique))
    features = np.asarray(embed(list(unique)))
    if features.ndim != 2 or features.shape[0] != len(unique):
        raise ValueError(
            f"embed returned shape {features.shape} for {len(unique)} texts; expected (n_texts, d)"
        )
    return features[[unique[t] for t in texts]]


def bank_from_pairs(sources: Sequence[tuple[PairData | Sequence[PreferencePair], str]],
                    embed: Embed, compose: Compose, *,
                    metadata: Mapping[str, str] | None = None) -> FeatureBank:
    """A bank of the pairs of each (records, split) source, with features embed(compose(...)).

    Scores go to score_a / score_b when every pair has them. Extra pair columns: `pair_id`.
    """
    prompts, ids, texts, prompt_hashes, response_hashes, chars = [], [], [], [], [], []
    seen: set[str] = set()
    rows: list[dict[str, object]] = []
    all_scored = True
    for records, split in sources:
        pairs = records.pairs if isinstance(records, PairData) else records
        for pair in pairs:
            pid = prompt_id_of(pair.prompt)
            a = response_id_of(pair.prompt, pair.chosen)
            b = response_id_of(pair.prompt, pair.rejected)
            for rid, response in ((a, pair.chosen), (b, pair.rejected)):
                if rid not in seen:
                    seen.add(rid)
                    prompts.append(pid)
                    ids.append(rid)
                    texts.append(compose(pair.prompt, response))
                    prompt_hashes.append(text_sha256(pair.prompt))
                    response_hashes.append(text_sha256(response))
                    chars.append(len(response))
            all_scored &= pair.has_scores
            if pair.chosen_first:
                rows.append(dict(prompt_id=pid, response_a=a, response_b=b, label=1, split=split,
                                 score_a=pair.score_chosen, score_b=pair.score_rejected,
                                 pair_id=pair.pair_id))
            else:
                rows.append(dict(prompt_id=pid, response_a=b, response_b=a, label=0, split=split,
                                 score_a=pair.score_rejected, score_b=pair.score_chosen,
                                 pair_id=pair.pair_id))
    features = _embed_unique(texts, embed) if texts else np.zeros((0, 0), dtype=np.float32)
    responses = pd.DataFrame({
        "prompt_id": np.array(prompts, dtype=object),
        "response_id": np.array(ids, dtype=object),
        "prompt_sha256": np.array(prompt_hashes, dtype=object),
        "response_sha256": np.array(response_hashes, dtype=object),
        "response_chars": np.array(chars, dtype=np.int64),
    })
    columns = ["prompt_id", "response_a", "response_b", "label", "split"]
    columns += ["score_a", "score_b"] if all_scored and rows else []
    pairs_table = pd.DataFrame(rows, columns=columns + ["pair_id"])
    for c in ("prompt_id", "response_a", "response_b", "split", "pair_id"):
        pairs_table[c] = pairs_table[c].to_numpy(dtype=object)
    pairs_table["label"] = pairs_table["label"].astype(np.int8)
    return FeatureBank(responses, features, pairs_table, dict(metadata or {}))


def bank_from_multiarm(data: MultiArmData, embed: Embed, compose: Compose, *,
                       metadata: Mapping[str, str] | None = None) -> FeatureBank:
    """A multi-arm bank: one response per (context, arm) with `score` = P(judge prefers the arm
    over the reference) and `arm` = the arm's name; no pairs."""
    prompts, ids, texts, prompt_hashes, response_hashes, scores, arms = [], [], [], [], [], [], []
    chars: list[int] = []
    for x, (cid, context) in enumerate(zip(data.context_ids, data.contexts)):
        pid = prompt_id_of(context)
        for k, name in enumerate(data.arm_names):
            output = data.arm_texts[x][k]
            prompts.append(pid)
            ids.append(f"{cid}/{name}")
            texts.append(compose(context, output))
            prompt_hashes.append(text_sha256(context))
            response_hashes.append(text_sha256(output))
            scores.append(float(data.p[x, k]))
            arms.append(name)
            chars.append(len(output))
    features = _embed_unique(texts, embed)
    responses = pd.DataFrame({
        "prompt_id": np.array(prompts, dtype=object),
        "response_id": np.array(ids, dtype=object),
        "prompt_sha256": np.array(prompt_hashes, dtype=object),
        "response_sha256": np.array(response_hashes, dtype=object),
        "score": np.array(scores, dtype=np.float64),
        "arm": np.array(arms, dtype=object),
        "response_chars": np.array(chars, dtype=np.int64),
    })
    return FeatureBank(responses, features, _no_pairs(), dict(metadata or {}))


def _no_pairs() -> pd.DataFrame:
    columns = ("prompt_id", "response_a", "response_b", "split")
    pairs = pd.DataFrame({c: np.array([], dtype=object) for c in columns})
    pairs.insert(3, "label", np.array([], dtype=np.int8))
    return pairs


REFERENCE_COLUMN = "reference"
"""Bool column of a rated bank's responses: True for a prompt's fixed reference answer (the
one the scores were judged against), which is a feature phi_ref(x), not an arm."""


def bank_from_rated(data: RatedData, embed: Embed, compose: Compose, *,
                    metadata: Mapping[str, str] | None = None) -> FeatureBank:
    """A bank of several rated responses per prompt, no pairs (`score_pairs` makes them).

    Responses: '<prompt id>/<index>' ids, `score`, `response_chars`, `arm` (the source's name
    of each response, when the data names them) and REFERENCE_COLUMN; a prompt's reference
    answer, when the data has one, is one more row with reference True and score 1/2 (the
    probability that the reference beats itself). A prompt met twice keeps its first record.
    """
    prompts, ids, texts, p_hashes, r_hashes, scores, chars, arms, refs = ([] for _ in range(9))
    named = all(r.names is not None for r in data.prompts)
    seen: set[str] = set()
    for record in data.prompts:
        pid = prompt_id_of(record.prompt)
        if pid in seen:
            continue
        seen.add(pid)
        entries = [(str(k), text, score, False) for k, (text, score)
                   in enumerate(zip(record.responses, record.scores))]
        if record.reference is not None:
            entries.append(("reference", record.reference, 0.5, True))
        for k, (key, text, score, is_ref) in enumerate(entries):
            prompts.append(pid)
            ids.append(f"{pid}/{key}")
            texts.append(compose(record.prompt, text))
            p_hashes.append(text_sha256(record.prompt))
            r_hashes.append(text_sha256(text))
            scores.append(float(score))
            chars.append(len(text))
            refs.append(is_ref)
            if named:
                names = record.names or ()
                arms.append(f"reference:{data.reference_name or ''}" if is_ref else names[k])
    features = _embed_unique(texts, embed) if texts else np.zeros((0, 0), dtype=np.float32)
    columns: dict[str, np.ndarray] = {
        "prompt_id": np.array(prompts, dtype=object),
        "response_id": np.array(ids, dtype=object),
        "prompt_sha256": np.array(p_hashes, dtype=object),
        "response_sha256": np.array(r_hashes, dtype=object),
        "score": np.array(scores, dtype=np.float64),
        "response_chars": np.array(chars, dtype=np.int64),
        REFERENCE_COLUMN: np.array(refs, dtype=bool),
    }
    if named:
        columns["arm"] = np.array(arms, dtype=object)
    return FeatureBank(pd.DataFrame(columns), features, _no_pairs(), dict(metadata or {}))


def score_pairs(bank: FeatureBank, max_per_prompt: int | None,
                seed: SeedLike | np.random.Generator) -> FeatureBank:
    """The bank with pairs made from its response scores: within each prompt, every two
    responses (not reference answers) with different scores and different texts, the higher
    score first (label 1, score_a > score_b); at most max_per_prompt of them per prompt, a
    seeded uniform subset (stream "pairs"), kept in (i, j) order. Replaces any pairs the bank
    had. Needs the `score` column."""
    if "score" not in bank.responses.columns:
        raise ValueError("the bank has no response scores to make pairs from (column 'score')")
    if max_per_prompt is not None and (isinstance(max_per_prompt, bool)
                                       or not isinstance(max_per_prompt, (int, np.integer))
                                       or max_per_prompt < 1):
        raise ValueError(f"max_per_prompt must be a positive int or None, got {max_per_prompt!r}")
    rng = seed if isinstance(seed, np.random.Generator) else spawn_streams(seed, ("pairs",))[
        "pairs"]
    r = bank.responses
    is_ref = (r[REFERENCE_COLUMN].to_numpy(dtype=bool) if REFERENCE_COLUMN in r.columns
              else np.zeros(len(r), dtype=bool))
    text_key = (r["response_sha256"].to_numpy(dtype=object) if "response_sha256" in r.columns
                else r["response_id"].to_numpy(dtype=object))
    score = r["score"].to_numpy(dtype=np.float64)
    rid = r["response_id"].to_numpy(dtype=object)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(r["prompt_id"].to_numpy(dtype=object)):
        if not is_ref[i]:
            groups.setdefault(p, []).append(i)
    rows: list[dict[str, object]] = []
    for p, members in groups.items():
        cand = [(i, j) for a, i in enumerate(members) for j in members[a + 1:]
                if score[i] != score[j] and text_key[i] != text_key[j]]
        if max_per_prompt is not None and len(cand) > max_per_prompt:
            keep = np.sort(rng.choice(len(cand), size=int(max_per_prompt), replace=False))
            cand = [cand[k] for k in keep]
        for i, j in cand:
            hi, lo = (i, j) if score[i] > score[j] else (j, i)
            rows.append(dict(prompt_id=p, response_a=rid[hi], response_b=rid[lo], label=1,
                             split="train", score_a=score[hi], score_b=score[lo]))
    columns = ["prompt_id", "response_a", "response_b", "label", "split", "score_a", "score_b"]
    pairs = pd.DataFrame(rows, columns=columns)
    for c in ("prompt_id", "response_a", "response_b", "split"):
        pairs[c] = pairs[c].to_numpy(dtype=object)
    pairs["label"] = pairs["label"].astype(np.int8)
    pairs["score_a"] = pairs["score_a"].astype(np.float64)
    pairs["score_b"] = pairs["score_b"].astype(np.float64)
    return FeatureBank(bank.responses, bank.features, pairs, dict(bank.metadata))
