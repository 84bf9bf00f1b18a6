"""Banks from records with a stand-in feature map (no model): ids, dedup, splits, scores."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sim.real.adapters import PreferencePair, prompt_id_of, read_alpacaeval, text_sha256
from sim.real.bank import FeatureBank
from sim.real.build import bank_from_multiarm, bank_from_pairs, response_id_of


class HashEmbed:
    """A deterministic stand-in for a model: 5 floats from the sha256 of each text."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        digests = [hashlib.sha256(t.encode()).digest()[:20] for t in texts]
        out = [np.frombuffer(b, dtype=np.uint32) / 2**32 for b in digests]
        return np.array(out, dtype=np.float32).reshape(len(texts), 5)


def compose(prompt: str, response: str) -> str:
    return f"{prompt} || {response}"


PAIRS = [
    PreferencePair("a", "prompt one", "good", "bad", 9.0, 7.0, 1),
    PreferencePair("b", "prompt one", "good", "meh", 9.0, 8.0, 2),  # "good" again: one response row
    PreferencePair("c", "prompt two", "yes", "no", 5.0, 1.0, 3),
]


def test_bank_from_pairs_dedups_responses_and_keeps_orientation(tmp_path):
    embed = HashEmbed()
    sources = [(PAIRS[:2], "train"), (PAIRS[2:], "eval")]
    bank = bank_from_pairs(sources, embed, compose, metadata={"model": "hash"})
    assert bank.n_responses == 5 and bank.n_pairs == 3 and bank.d == 5
    assert sorted(embed.seen) == sorted(set(embed.seen)) and len(embed.seen) == 5
    assert bank.pairs["label"].tolist() == [1, 1, 1]
    assert bank.pairs["split"].tolist() == ["train", "train", "eval"]
    assert bank.pairs["pair_id"].tolist() == ["a", "b", "c"]
    assert bank.pairs["score_a"].tolist() == [9.0, 9.0, 5.0]
    assert bank.pairs["score_b"].tolist() == [7.0, 8.0, 1.0]
    row = {rid: i for i, rid in enumerate(bank.responses["response_id"])}
    for pair, (_, p) in zip(PAIRS, bank.pairs.iterrows()):
        assert p["prompt_id"] == prompt_id_of(pair.prompt)
        assert p["response_a"] == response_id_of(pair.prompt, pair.chosen)
        expected = HashEmbed()([compose(pair.prompt, pair.chosen)])[0]
        np.testing.assert_array_equal(bank.features[row[p["response_a"]]], expected)
        r = bank.responses.iloc[row[p["response_b"]]]
        assert r["prompt_sha256"] == text_sha256(pair.prompt)
        assert r["response_sha256"] == text_sha256(pair.rejected)
    Z, y = bank.pair_differences("eval")
    direct = HashEmbed()([compose("prompt two", "yes"), compose("prompt two", "no")]).astype(np.float64)
    np.testing.assert_array_equal(Z[0], direct[0] - direct[1])
    bank.save(tmp_path)
    assert FeatureBank.load(tmp_path).metadata == {"model": "hash"}


def test_scores_are_written_only_when_every_pair_has_them():
    unscored = PreferencePair("d", "prompt three", "x", "y", line=4)
    bank = bank_from_pairs([(PAIRS + [unscored], "train")], HashEmbed(), compose)
    assert "score_a" not in bank.pairs.columns and bank.n_pairs == 4


def test_a_pair_of_identical_responses_cannot_enter_a_bank():
    same = PreferencePair("e", "p", "same", "same", line=5)
    with pytest.raises(ValueError, match=r"pairs\.parquet row 0: response_a == response_b"):
        bank_from_pairs([([same], "train")], HashEmbed(), compose)


def test_bank_from_multiarm_has_one_scored_response_per_arm(tmp_path):
    arms = [{"generator": "m1", "output": "same", "preference": 1.25},
            {"generator": "m2", "output": "same", "preference": 1.5},
            {"generator": "m3", "output": "other", "preference": 2.0}]
    rows = [{"id": i, "dataset": "d", "instruction": f"q{i}", "reference_generator": "ref",
             "reference_output": "r", "arms": arms} for i in range(2)]
    path = tmp_path / "multi.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = read_alpacaeval(path)
    bank = bank_from_multiarm(data, HashEmbed(), compose)
    assert bank.n_pairs == 0 and bank.n_responses == 6
    prompt_ids, response_ids, phi, scores = bank.arm_features()
    assert response_ids.tolist() == [["0/m1", "0/m2", "0/m3"], ["1/m1", "1/m2", "1/m3"]]
    np.testing.assert_array_equal(scores, data.p)
    np.testing.assert_array_equal(phi[0, 0], phi[0, 1])  # two arms wrote the same text
    assert bank.responses["arm"].tolist()[:3] == ["m1", "m2", "m3"]
    bank.save(tmp_path / "bank")
    loaded = FeatureBank.load(tmp_path / "bank")
    assert loaded.n_pairs == 0 and loaded.pair_differences()[0].shape == (0, 5)
