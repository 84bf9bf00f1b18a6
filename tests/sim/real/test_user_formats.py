"""A user's own files: pairs under any field names, label columns, rated responses, format
detection, and every read failure named by file and line (lone surrogates, huge numbers, deep
nesting, repeated ids); banks of rated responses and pairs made from their scores."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from sim.real.adapters import (
    detect_format,
    parse_fields,
    read_pairs,
    read_preference_jsonl,
    read_rated,
    read_ultrafeedback,
    same_file,
)
from sim.real.build import REFERENCE_COLUMN, bank_from_pairs, bank_from_rated, score_pairs

from .fake_encoder import HashEncoder


def write_lines(path, rows=(), raw=()):
    text = "".join(json.dumps(r) + "\n" for r in rows) + "".join(raw)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def embed(texts):
    return HashEncoder().encode(texts)


def compose(prompt, response):
    return f"{prompt}\n\n{response}"


# ------------------------------------------------------------------- field names

def test_pairs_under_other_field_names_and_nested_scores(tmp_path):
    rows = [{"q": "p1", "win": "good one", "lose": "bad one", "meta": {"s1": 3, "s2": 1}},
            {"q": "p2", "win": "fine", "lose": "worse", "meta": {"s1": 2, "s2": 2}, "x": 1}]
    path = write_lines(tmp_path / "mine.jsonl", rows)
    fields = parse_fields("prompt=q,chosen=win,rejected=lose,score_chosen=meta.s1,"
                          "score_rejected=meta.s2")
    data = read_pairs(path, fields)
    assert len(data) == 1 and data.summary.dropped["tie"] == 1
    p = data.pairs[0]
    assert (p.prompt, p.chosen, p.rejected, p.score_chosen, p.score_rejected) == (
        "p1", "good one", "bad one", 3.0, 1.0)
    assert p.chosen_first and "meta" not in p.meta


def test_a_wrong_field_name_is_one_line_naming_the_fields_that_exist(tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", [{"question": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ValueError) as err:
        read_pairs(path, parse_fields("prompt=promt"))
    message = str(err.value)
    assert "\n" not in message
    assert "mine.jsonl line 1: missing field 'promt'" in message
    assert "--fields prompt=FIELD" in message
    assert "the line has fields: chosen, question, rejected" in message
    with pytest.raises(ValueError, match=r"field 'meta' has fields: a"):
        read_pairs(write_lines(tmp_path / "n.jsonl", [{"prompt": "p", "chosen": "a",
                                                       "rejected": "b", "meta": {"a": 1}}]),
                   {"score_chosen": "meta.s", "score_rejected": "meta.a"})
    with pytest.raises(ValueError, match=r"unknown role 'promt'; roles: prompt, chosen"):
        parse_fields("promt=x")
    with pytest.raises(ValueError, match=r"is not ROLE=FIELD"):
        parse_fields("prompt")


def test_label_form_keeps_the_data_order(tmp_path):
    rows = [{"prompt": "p1", "response_a": "x good", "response_b": "y", "label": 1, "id": "a"},
            {"prompt": "p2", "response_a": "u", "response_b": "v good", "label": False}]
    data = read_pairs(write_lines(tmp_path / "lab.jsonl", rows), {"label": "label"})
    assert [p.chosen_first for p in data.pairs] == [True, False]
    assert data.pairs[1].chosen == "v good" and data.pairs[1].rejected == "u"
    bank = bank_from_pairs([(data, "train")], embed, compose)
    assert bank.pairs["label"].tolist() == [1, 0]
    rid = dict(zip(bank.responses["response_id"], bank.responses["response_sha256"]))
    from sim.real.adapters import text_sha256
    assert rid[bank.pairs["response_a"][1]] == text_sha256("u")  # the data's first response
    bad = write_lines(tmp_path / "bad.jsonl", [{**rows[0], "label": 2}])
    with pytest.raises(ValueError, match=r"bad\.jsonl line 1: field 'label' \(the label\) must be "
                                         r"0 or 1, got 2"):
        read_pairs(bad, {"label": "label"})


def test_rated_nested_and_flat_forms(tmp_path):
    nested = [{"prompt": "p1", "responses": [{"text": "a", "score": 3, "name": "m1"},
                                             {"text": "b", "score": 1, "name": "m2"},
                                             {"text": "c", "score": 2, "name": "m3"}]},
              {"prompt": "p2", "responses": [{"text": "d", "score": 0, "name": "m1"},
                                             {"text": "e", "score": 5, "name": "m2"}]}]
    data = read_rated(write_lines(tmp_path / "nested.jsonl", nested))
    assert len(data) == 2 and data.n_responses == 5
    assert data.prompts[0].scores == (3.0, 1.0, 2.0) and data.prompts[0].names == ("m1", "m2", "m3")
    flat = [{"q": "p1", "r": "a", "s": 3}, {"q": "p2", "r": "d", "s": 0},
            {"q": "p1", "r": "b", "s": 1}, {"q": "p2", "r": "e", "s": 5}]
    data2 = read_rated(write_lines(tmp_path / "flat.jsonl", flat),
                       {"prompt": "q", "response": "r", "score": "s"})
    assert [(p.prompt, p.responses, p.scores) for p in data2.prompts] == [
        ("p1", ("a", "b"), (3.0, 1.0)), ("p2", ("d", "e"), (0.0, 5.0))]
    assert len(read_rated(tmp_path / "flat.jsonl", {"prompt": "q", "response": "r",
                                                    "score": "s"}, limit=1)) == 1
    with pytest.raises(ValueError, match=r"line 1: responses\[1\]: missing field 'score'"):
        read_rated(write_lines(tmp_path / "b.jsonl", [{"prompt": "p", "responses": [
            {"text": "a", "score": 1}, {"text": "b"}]}]))


def test_detect_format_reads_the_first_line(tmp_path):
    cases = {
        "uf": ({"prompt": "p", "chosen": "a", "rejected": "b",
                "metadata": {"score_chosen": 2, "score_rejected": 1}}, ("pairs", "ultrafeedback")),
        "hh": ({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "\n\nHuman: hi\n\n"
                "Assistant: b"}, ("pairs", "hh-rlhf")),
        "plain": ({"prompt": "p", "chosen": "a", "rejected": "b"}, ("pairs", "pairs")),
        "label": ({"prompt": "p", "response_a": "a", "response_b": "b", "label": 1},
                  ("pairs", "label-pairs")),
        "rated": ({"prompt": "p", "responses": []}, ("multi", "rated")),
        "flat": ({"prompt": "p", "response": "a", "score": 1}, ("multi", "rated")),
        "alpaca": ({"instruction": "p", "arms": []}, ("multi", "alpacaeval")),
    }
    for name, (row, expected) in cases.items():
        got = detect_format(write_lines(tmp_path / f"{name}.jsonl", [row]))
        assert (got.kind, got.reader) == expected, name
    odd = write_lines(tmp_path / "odd.jsonl", [{"question": "p", "answer": "a"}])
    with pytest.raises(ValueError, match=r"odd\.jsonl line 1: cannot tell the pairs or multi "
                                         r"form from the fields answer, question; name them "
                                         r"with --fields"):
        detect_format(odd)
    with pytest.raises(ValueError, match="cannot tell the multi form"):
        detect_format(tmp_path / "plain.jsonl", kind="multi")
    assert detect_format(odd, {"prompt": "question", "response": "answer"}).kind == "multi"


# --------------------------------------------------------------- failures named

def test_lone_surrogate_huge_number_deep_nesting_and_repeated_ids_name_the_line(tmp_path):
    good = '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
    surrogate = '{"prompt": "p", "chosen": "\\ud800", "rejected": "b"}\n'
    path = write_lines(tmp_path / "s.jsonl", raw=[good, surrogate])
    with pytest.raises(ValueError, match=r"s\.jsonl line 2: a string holds the lone surrogate "
                                         r"escape \\ud800"):
        read_preference_jsonl(path)
    paired = '{"prompt": "p", "chosen": "\\ud83d\\ude00", "rejected": "b"}\n'
    assert read_preference_jsonl(write_lines(tmp_path / "ok.jsonl", raw=[paired])).pairs[0].chosen \
        == "\U0001F600"
    huge = ('{"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 1' + "0" * 400
            + ', "score_rejected": 1}\n')
    with pytest.raises(ValueError, match=r"h\.jsonl line 2: field 'score_chosen' must be a finite "
                                         r"number, got an integer of 401 digits"):
        read_preference_jsonl(write_lines(tmp_path / "h.jsonl", raw=[good, huge]))
    uf = {"prompt": "p", "chosen": "a", "rejected": "b",
          "metadata": {"score_chosen": 10**400, "score_rejected": 1}}
    with pytest.raises(ValueError, match=r"u\.jsonl line 1: field 'metadata\.score_chosen' must be"
                                         r" a finite number, got an integer of 401 digits"):
        read_ultrafeedback(write_lines(tmp_path / "u.jsonl", [uf]))
    deep = "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(ValueError, match=r"d\.jsonl line 2: invalid JSON: nested too deeply"):
        read_preference_jsonl(write_lines(tmp_path / "d.jsonl", raw=[good, deep]))
    digits = ('{"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 1' + "0" * 5000
              + "}\n")
    with pytest.raises(ValueError, match=r"g\.jsonl line 1: invalid JSON"):
        read_preference_jsonl(write_lines(tmp_path / "g.jsonl", raw=[digits]))
    rows = [{"id": "x", "prompt": "p", "chosen": "a", "rejected": "b"},
            {"id": "y", "prompt": "p", "chosen": "c", "rejected": "b"},
            {"id": "x", "prompt": "q", "chosen": "a", "rejected": "b"}]
    with pytest.raises(ValueError, match=r"i\.jsonl line 3: duplicate pair id 'x' \(first at "
                                         r"line 1\)"):
        read_preference_jsonl(write_lines(tmp_path / "i.jsonl", rows))
    with pytest.raises(ValueError, match=r"line 3: duplicate pair id 'x'"):
        read_pairs(tmp_path / "i.jsonl")


def test_same_file_by_path_or_by_content(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    b = tmp_path / "copy.jsonl"
    b.write_bytes(a.read_bytes())
    c = write_lines(tmp_path / "c.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    assert same_file(a, a) and same_file(a, b) and not same_file(a, c)
    assert not same_file(a, tmp_path / "missing.jsonl")


# ------------------------------------------------------------------ rated banks

def test_rated_bank_and_pairs_from_scores(tmp_path):
    rows = [{"prompt": "p1", "responses": [{"text": t, "score": s} for t, s in
                                           [("a", 3), ("b", 1), ("c", 3), ("a", 2)]]},
            {"prompt": "p2", "responses": [{"text": "d", "score": 1}, {"text": "e", "score": 2}]}]
    data = read_rated(write_lines(tmp_path / "r.jsonl", rows))
    bank = bank_from_rated(data, embed, compose)
    assert bank.n_responses == 6 and bank.n_pairs == 0
    assert bank.responses["response_chars"].tolist() == [1, 1, 1, 1, 1, 1]
    assert not bank.responses[REFERENCE_COLUMN].any()
    paired = score_pairs(bank, None, seed=0)
    ids = bank.responses["response_id"].tolist()
    # p1: (a3, b1), (a3, a2 is the same text: no), (b1, c3), (b1, a2), (c3, a2); p2: (e, d)
    got = list(zip(paired.pairs["response_a"], paired.pairs["response_b"]))
    assert got == [(ids[0], ids[1]), (ids[2], ids[1]), (ids[3], ids[1]), (ids[2], ids[3]),
                   (ids[5], ids[4])]
    assert np.all(paired.pairs["score_a"] > paired.pairs["score_b"])
    assert paired.pairs["label"].tolist() == [1] * 5
    capped = score_pairs(bank, 2, seed=0)
    assert (capped.pairs["prompt_id"].value_counts() <= 2).all() and capped.n_pairs == 3
    np.testing.assert_array_equal(score_pairs(bank, 2, seed=0).pairs["response_a"],
                                  capped.pairs["response_a"])
    with pytest.raises(ValueError, match="no response scores"):
        score_pairs(bank_from_pairs([], embed, compose), None, 0)
