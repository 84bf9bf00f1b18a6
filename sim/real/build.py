"""Feature banks from records: the tables of `sim.real.bank` filled from adapter records.

The feature map is a parameter: `embed(texts) -> (n, d) array`, applied to the texts that
`compose(prompt, response)` builds (`sim.real.embed.TextEncoder` provides both; any other
function of the user's will do). Each distinct text is embedded once.

Ids are content hashes: a prompt's id is the first 16 hex digits of the sha256 of its text, a
response's is that of its prompt and its text (so the same response to the same prompt, met in
two pairs, is one row), and a multi-arm response's is '<context id>/<arm name>' (two arms may
write the same text). Pairs keep the data's orientation: response_a is the chosen response,
label 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .adapters import MultiArmData, PairData, PreferencePair, prompt_id_of, text_sha256
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
    prompts, ids, texts, prompt_hashes, response_hashes = [], [], [], [], []
    seen: set[str] = set()
    rows: list[dict[str, object]] = []
    all_scored = True
    for records, split in sources:
        pairs = records.pairs if isinstance(records, PairData) else records
        for pair in pairs:
            pid = prompt_id_of(pair.prompt)
            a, b = response_id_of(pair.prompt, pair.chosen), response_id_of(pair.prompt, pair.rejected)
            for rid, response in ((a, pair.chosen), (b, pair.rejected)):
                if rid not in seen:
                    seen.add(rid)
                    prompts.append(pid)
                    ids.append(rid)
                    texts.append(compose(pair.prompt, response))
                    prompt_hashes.append(text_sha256(pair.prompt))
                    response_hashes.append(text_sha256(response))
            all_scored &= pair.has_scores
            rows.append(dict(prompt_id=pid, response_a=a, response_b=b, label=1, split=split,
                             score_a=pair.score_chosen, score_b=pair.score_rejected,
                             pair_id=pair.pair_id))
    features = _embed_unique(texts, embed) if texts else np.zeros((0, 0), dtype=np.float32)
    responses = pd.DataFrame({
        "prompt_id": np.array(prompts, dtype=object),
        "response_id": np.array(ids, dtype=object),
        "prompt_sha256": np.array(prompt_hashes, dtype=object),
        "response_sha256": np.array(response_hashes, dtype=object),
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
    features = _embed_unique(texts, embed)
    responses = pd.DataFrame({
        "prompt_id": np.array(prompts, dtype=object),
        "response_id": np.array(ids, dtype=object),
        "prompt_sha256": np.array(prompt_hashes, dtype=object),
        "response_sha256": np.array(response_hashes, dtype=object),
        "score": np.array(scores, dtype=np.float64),
        "arm": np.array(arms, dtype=object),
    })
    columns = ("prompt_id", "response_a", "response_b", "split")
    pairs = pd.DataFrame({c: np.array([], dtype=object) for c in columns})
    pairs.insert(3, "label", np.array([], dtype=np.int8))
    return FeatureBank(responses, features, pairs, dict(metadata or {}))
