"""Readers of real preference data: counts on the shared data, drop policies, malformed input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from sim.real import adapters
from sim.real.adapters import (
    read_alpacaeval,
    read_hh_rlhf,
    read_preference_jsonl,
    read_ultrafeedback,
    shared_data_dir,
    shared_file,
)


def shared(name: str):
    path = shared_file(name)
    if path is None:
        pytest.skip(f"shared data file {adapters.SHARED_FILES[name]} not found "
                    f"(set {adapters.DATA_ENV} to the shared data folder)")
    return path


def write_jsonl(path, rows, *, raw_lines=()):
    """rows as JSON lines, then raw_lines as they are; .gz names are compressed."""
    text = "".join(json.dumps(r) + "\n" for r in rows) + "".join(raw_lines)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ shared data

def test_ultrafeedback_train_counts_match_source_md():
    data = read_ultrafeedback(shared("ultrafeedback-train"))
    s = data.summary
    assert s.rows == 1000
    # SOURCE.md, 0-based lines: ties 111; empty rejected 478, empty chosen 833;
    # chosen == rejected 306, 655, 910, 997 (306 is also a tie).
    assert s.flagged["tie"] == 111
    assert s.flagged_lines["empty"] == (479, 834)
    assert s.flagged_lines["identical"] == (307, 656, 911, 998)
    assert s.dropped == {"no_assistant_turn": 0, "prefix_mismatch": 0, "empty": 2, "identical": 4, "tie": 110}
    assert s.kept == len(data) == 1000 - 116
    assert all(p.score_chosen > p.score_rejected and p.chosen.strip() and p.rejected.strip()
               and p.chosen != p.rejected for p in data.pairs)
    first = data.pairs[0]
    assert first.line == 1 and first.pair_id.endswith("train1000.jsonl:1")
    assert (first.score_chosen, first.score_rejected) == (9.0, 8.0) and "source_index" in first.meta
    assert "dropped empty: 2, identical: 4, tie: 110" in str(s)


def test_ultrafeedback_eval_and_argilla_counts_match_source_md():
    ev = read_ultrafeedback(shared("ultrafeedback-eval"))
    assert ev.summary.rows == 200 and ev.summary.flagged["tie"] == 25
    assert ev.summary.flagged_lines["identical"] == (44,)
    assert ev.summary.kept == 175
    ar = read_ultrafeedback(shared("ultrafeedback-argilla"))
    assert ar.summary.rows == 1000 and ar.summary.flagged["tie"] == 0
    assert ar.summary.flagged_lines["identical"] == (184,)
    assert ar.summary.kept == 999
    assert len({p.prompt for p in ar.pairs}) == 999
    assert ar.pairs[0].score_chosen == 5.0 and ar.pairs[0].meta["chosen_model"] == "gpt-4"
    every = read_ultrafeedback(shared("ultrafeedback-argilla"), identical="keep")
    sources = Counter(p.meta["source"] for p in every.pairs)
    assert sources["sharegpt"] == 310 and sources["flan_v2_niv2"] == 252 and len(every) == 1000


def test_ultrafeedback_policies_keep_and_error():
    path = shared("ultrafeedback-train")
    everything = read_ultrafeedback(path, ties="keep", empty="keep", identical="keep")
    assert everything.summary.kept == 1000 and sum(everything.summary.dropped.values()) == 0
    assert everything.summary.flagged["tie"] == 111
    assert read_ultrafeedback(path, ties="keep").summary.kept == 1000 - 2 - 4
    first_tie = everything.summary.flagged_lines["tie"][0]
    message = rf"train1000\.jsonl line {first_tie}: score_chosen == score_rejected"
    with pytest.raises(ValueError, match=message):
        read_ultrafeedback(path, ties="error")
    with pytest.raises(ValueError, match=r"line 307: chosen and rejected are the same text"):
        read_ultrafeedback(path, ties="keep", identical="error")
    with pytest.raises(ValueError, match=r"ties must be one of drop, keep, error, got 'maybe'"):
        read_ultrafeedback(path, ties="maybe")
    limited = read_ultrafeedback(path, limit=20)
    assert len(limited) == 20 and limited.summary.rows == 24  # four ties among the first 24


def test_hh_rlhf_harmless_test_splits_2307_of_2312():
    data = read_hh_rlhf(shared("hh-rlhf-harmless-test"))
    s = data.summary
    assert s.rows == 2312
    assert s.dropped["prefix_mismatch"] == 5 and s.dropped["no_assistant_turn"] == 0
    assert s.rows - s.dropped["prefix_mismatch"] == 2307
    assert s.dropped["empty"] == 4 and s.flagged["identical"] == 0
    assert s.kept == 2303 == len(data)
    with gzip.open(shared("hh-rlhf-harmless-test"), "rt") as f:
        raw = [json.loads(line) for line in f]
    for pair in data.pairs:
        row = raw[pair.line - 1]
        assert pair.prompt.endswith("\n\nAssistant:") and pair.prompt.startswith("\n\nHuman:")
        assert row["chosen"].startswith(pair.prompt) and row["rejected"].startswith(pair.prompt)
        assert row["chosen"][len(pair.prompt):].strip() == pair.chosen
        assert row["rejected"][len(pair.prompt):].strip() == pair.rejected
        assert "\n\nAssistant:" not in pair.chosen


def test_alpacaeval_is_805_by_50_and_reproduces_the_win_rates():
    data = read_alpacaeval(shared("alpacaeval"))
    assert (data.n_x, data.K) == (805, 50) and data.p.shape == (805, 50)
    assert len(data.arm_texts) == 805 and all(len(t) == 50 for t in data.arm_texts)
    assert np.all((data.p >= 0) & (data.p <= 1))
    assert data.reference_generator == "gpt4_1106_preview"
    assert Counter(data.datasets) == {"selfinstruct": 252, "oasst": 188, "koala": 156,
                                      "helpful_base": 129, "vicuna": 80}
    arms = json.loads((shared("alpacaeval").parent / "arms.json").read_text())["arms"]
    win = {a["generator"]: a["win_rate_pct"] for a in arms}
    rates = dict(zip(data.arm_names, 100 * data.p.mean(axis=0)))
    assert set(rates) == set(win)
    for name, pct in win.items():
        assert abs(rates[name] - pct) < 0.01, name
    assert data.empty_outputs == sum(not t.strip() for row in data.arm_texts for t in row)
    assert read_alpacaeval(shared("alpacaeval"), limit=3).n_x == 3


# ----------------------------------------------------------- data location

def test_shared_data_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(adapters.DATA_ENV, str(tmp_path))
    assert shared_data_dir() == tmp_path
    assert shared_file("ultrafeedback-train") is None
    (tmp_path / "ultrafeedback").mkdir()
    write_jsonl(tmp_path / adapters.SHARED_FILES["ultrafeedback-train"], [])
    assert shared_file("ultrafeedback-train") == tmp_path / adapters.SHARED_FILES["ultrafeedback-train"]
    monkeypatch.setenv(adapters.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"RLHF_TESTBED_DATA=.*nowhere' is not a folder"):
        shared_data_dir()
    with pytest.raises(ValueError, match=r"unknown shared file 'uf'"):
        shared_file("uf")


def test_shared_data_dir_default_is_next_to_the_repository(monkeypatch):
    monkeypatch.delenv(adapters.DATA_ENV, raising=False)
    root = adapters.repository_root()
    assert (root / "pyproject.toml").is_file()
    expected = root.parent / "shared" / "data"
    assert shared_data_dir() == (expected if expected.is_dir() else None)


# ------------------------------------------------------------- malformed

GOOD_UF = {"prompt": "p", "chosen": "c", "rejected": "r",
           "metadata": {"score_chosen": 2, "score_rejected": 1}}
NO_REJECTED = {k: v for k, v in GOOD_UF.items() if k != "rejected"}


@pytest.mark.parametrize(
    "rows, raw, message",
    [
        ([GOOD_UF, GOOD_UF], ['{"prompt": "p", "chosen": \n'], r"bad\.jsonl line 3: invalid JSON"),
        ([GOOD_UF, {**GOOD_UF, "chosen": None}], [],
         r"bad\.jsonl line 2: field 'chosen' must be a str, got NoneType"),
        ([NO_REJECTED], [], r"bad\.jsonl line 1: missing field 'rejected'"),
        ([GOOD_UF, {**GOOD_UF, "metadata": {}}], [],
         r"bad\.jsonl line 2: missing field 'metadata\.score_chosen'"),
        ([{**GOOD_UF, "metadata": {"score_chosen": 1}}], [],
         r"line 1: missing field 'metadata\.score_rejected'"),
        ([{**GOOD_UF, "metadata": {"score_chosen": "9", "score_rejected": 1}}], [],
         r"line 1: field 'metadata\.score_chosen' must be a finite number, got '9'"),
        ([GOOD_UF], ["[1, 2]\n"], r"bad\.jsonl line 2: expected a JSON object, got list"),
    ],
)
def test_malformed_ultrafeedback_lines_name_file_and_line(tmp_path, rows, raw, message):
    path = write_jsonl(tmp_path / "bad.jsonl", rows, raw_lines=raw)
    with pytest.raises(ValueError, match=message):
        read_ultrafeedback(path)


def test_blank_lines_are_skipped_but_counted_in_line_numbers(tmp_path):
    raw = ["\n", json.dumps(GOOD_UF) + "\n", "{oops\n"]
    path = write_jsonl(tmp_path / "ok.jsonl", [GOOD_UF], raw_lines=raw)
    with pytest.raises(ValueError, match=r"ok\.jsonl line 4: invalid JSON"):
        read_ultrafeedback(path)


def test_generic_jsonl_reads_ids_scores_and_extras(tmp_path):
    rows = [
        {"id": "a", "prompt": "p1", "chosen": "good", "rejected": "bad", "score_chosen": 3,
         "score_rejected": 1, "topic": "x"},
        {"prompt": "p2", "chosen": "same", "rejected": "same"},
        {"prompt": "p3", "chosen": "", "rejected": "text"},
        {"prompt": "p4", "chosen": "fine", "rejected": "worse"},
    ]
    data = read_preference_jsonl(write_jsonl(tmp_path / "mine.jsonl.gz", rows))
    assert [p.pair_id for p in data.pairs] == ["a", "mine.jsonl.gz:4"]
    assert data.pairs[0].score_chosen == 3.0 and data.pairs[0].meta == {"topic": "x"}
    assert data.pairs[1].score_chosen is None
    assert data.summary.dropped["identical"] == 1 and data.summary.dropped["empty"] == 1
    kept = read_preference_jsonl(tmp_path / "mine.jsonl.gz", identical="keep", empty="keep")
    assert len(kept) == 4
    half = {"prompt": "p", "chosen": "c", "rejected": "r", "score_chosen": 1}
    bad = write_jsonl(tmp_path / "half.jsonl", [half])
    message = r"half\.jsonl line 1: missing field 'score_rejected' \(scores come in pairs\)"
    with pytest.raises(ValueError, match=message):
        read_preference_jsonl(bad)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.jsonl: no such file"):
        read_preference_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"broken\.jsonl\.gz: cannot read"):
        read_preference_jsonl(tmp_path / "broken.jsonl.gz")
    (tmp_path / "latin.jsonl").write_bytes(json.dumps(GOOD_UF).encode() + b"\n" + b'{"prompt": "\xe9"}\n')
    with pytest.raises(ValueError, match=r"latin\.jsonl line 2: not UTF-8 text"):
        read_preference_jsonl(tmp_path / "latin.jsonl")


def test_hh_rows_without_a_shared_prompt_are_dropped_and_counted(tmp_path):
    rows = [
        {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"},
        {"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "\n\nHuman: hey\n\nAssistant: b"},
        {"chosen": "\n\nHuman: no reply", "rejected": "\n\nHuman: no reply"},
        {"chosen": "\n\nHuman: q\n\nAssistant:  ", "rejected": "\n\nHuman: q\n\nAssistant: answer"},
    ]
    data = read_hh_rlhf(write_jsonl(tmp_path / "hh.jsonl", rows))
    kept = [(p.prompt, p.chosen, p.rejected) for p in data.pairs]
    assert kept == [("\n\nHuman: hi\n\nAssistant:", "hello", "go away")]
    assert data.summary.flagged_lines == {"no_assistant_turn": (3,), "prefix_mismatch": (2,), "empty": (4,),
                                          "identical": (), "tie": ()}
    with pytest.raises(ValueError, match=r"hh\.jsonl line 4: empty chosen or rejected response"):
        read_hh_rlhf(tmp_path / "hh.jsonl", empty="error")
    write_jsonl(tmp_path / "hh2.jsonl", [{"chosen": "x"}])
    with pytest.raises(ValueError, match=r"hh2\.jsonl line 1: missing field 'rejected'"):
        read_hh_rlhf(tmp_path / "hh2.jsonl")


def alpaca_row(i, arms):
    return {"id": i, "dataset": "d", "instruction": f"q{i}", "reference_generator": "ref",
            "reference_output": "r", "arms": arms}


def test_alpacaeval_malformed_rows_name_file_and_line(tmp_path):
    arms = [{"generator": "m1", "output": "a", "preference": 1.25},
            {"generator": "m2", "output": "", "preference": 2.0}]
    ok = read_alpacaeval(write_jsonl(tmp_path / "ok.jsonl", [alpaca_row(0, arms), alpaca_row(1, arms)]))
    np.testing.assert_array_equal(ok.p, [[0.25, 1.0], [0.25, 1.0]])
    assert ok.arm_names == ("m1", "m2") and ok.empty_outputs == 2 and ok.context_ids == ("0", "1")
    cases = [
        ([alpaca_row(0, arms), alpaca_row(1, arms[::-1])],
         r"a\.jsonl line 2: arms differ from the first line's at arms\[0\]"),
        ([alpaca_row(0, arms), alpaca_row(1, arms[:1])],
         r"line 2: arms differ from the first line's at arms\[1\] \(1 arms here, 2"),
        ([alpaca_row(0, [{**arms[0], "preference": 2.5}, arms[1]])],
         r"line 1: arms\[0\]\.preference = 2\.5 is outside \[1, 2\]"),
        ([alpaca_row(0, [{"generator": "m1", "output": "a"}])], r"line 1: missing field 'preference'"),
        ([{k: v for k, v in alpaca_row(0, arms).items() if k != "instruction"}],
         r"line 1: missing field 'instruction'"),
        ([alpaca_row(0, arms), {**alpaca_row(1, arms), "reference_generator": "other"}],
         r"line 2: reference_generator 'other' differs from 'ref'"),
    ]
    for rows, message in cases:
        with pytest.raises(ValueError, match=message):
            read_alpacaeval(write_jsonl(tmp_path / "a.jsonl", rows))


def test_reading_imports_no_model_library():
    code = ("import sys, sim.real, sim.real.embed, sim.real.build; "
            "heavy = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=adapters.repository_root())
