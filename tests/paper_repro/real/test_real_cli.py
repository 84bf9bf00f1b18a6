"""`python -m paper_repro real` end to end on small files written here (no shared data, no
model: a hash encoder stands in for the text encoder): tables, figures and report; the
feature cache on a rerun; a ready bank; files of several rated responses (deployment); the
one-line errors and the help text."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from paper_repro.cli import main as paper_repro_main
from paper_repro.real_cli import main
from tests.sim.real.fake_encoder import HashEncoder, NoModel

QUICK = ["--quick", "--bootstrap", "50", "--quiet"]


def write_pairs(path, n: int = 160, seed: int = 0, label_form: bool = False):
    """Pairs whose preferred response says "good" (80% of them; the rest are flipped), with
    random lengths and two pairs per prompt."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            good = "good answer " + "x" * rng.randint(1, 40) + f" {i}"
            bad = "bad answer " + "y" * rng.randint(1, 40) + f" {i}"
            if rng.random() < 0.2:
                good, bad = bad, good
            row = {"question": f"question {i // 2}", "better": good, "worse": bad}
            if label_form:
                first = rng.random() < 0.5
                row = {"question": row["question"], "one": good if first else bad,
                       "two": bad if first else good, "pick": int(first)}
            f.write(json.dumps(row) + "\n")
    return path


PAIR_FIELDS = ["--fields", "prompt=question,chosen=better,rejected=worse"]


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    data = write_pairs(root / "pairs.jsonl")
    out = root / "out"
    enc = HashEncoder()
    code = main(["--data", str(data), *PAIR_FIELDS, "--out", str(out), "--cache-dir",
                 str(root / "cache"), *QUICK], encoder=enc)
    return root, data, out, code, enc


def test_one_command_writes_the_report_tables_and_figures(pairs_run):
    root, _, out, code, enc = pairs_run
    assert code == 0 and enc.texts_encoded == 320
    report = (out / "report.md").read_text()
    for section in ("## Data", "## Splits", "## Constants", "## Main table", "## Active selection",
                    "## Deployment", "## Run"):
        assert section in report
    assert "Skipped: the data have no per-response scores" in report
    for name in ("split", "tuning", "passive_summary", "passive_curves", "passive_curves_ci",
                 "active_curves", "active_runs", "active_baselines"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    for stem in ("passive_curves", "active_curves"):
        assert (out / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "figures" / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"
    config = json.loads((out / "config.json").read_text())
    assert set(config["chosen"]) == {"omd", "mle", "sgd"}


def test_main_table_has_intervals_and_trivial_baselines(pairs_run):
    _, _, out, _, _ = pairs_run
    summary = pd.read_csv(out / "tables" / "passive_summary.csv")
    assert summary["method"].tolist()[:3] == ["sgd", "mle", "omd"]
    assert {"chance", "majority"} <= set(summary["method"])
    assert summary["method"].str.contains("response wins").sum() == 1
    assert (summary["acc_lo_eval"] <= summary["eval_acc"] + 1e-12).all()
    assert (summary["eval_acc"] <= summary["acc_hi_eval"] + 1e-12).all()
    learners = summary[summary["kind"] == "learner"]
    assert learners["acc_lo_seeds"].notna().all() and (learners["eval_acc"] > 0.6).all()
    chance = summary.set_index("method").loc["chance"]
    assert chance["eval_acc"] == 0.5 and chance["eval_loss"] == pytest.approx(np.log(2))
    report = (out / "report.md").read_text()
    assert "acc 95% CI (eval pairs)" in report and "acc 95% CI (seeds)" in report
    assert "loss 95% CI (eval pairs)" in report and "loss 95% CI (seeds)" in report
    assert "one-pass OMD" in report and "full MLE" in report
    split = pd.read_csv(out / "tables" / "split.csv").set_index("split")
    assert split["pairs"].sum() == 160
    assert split.loc["eval", "pairs"] == pytest.approx(32, abs=2)


def test_constants_come_from_validation_and_curves_from_one_run_per_seed(pairs_run):
    _, _, out, _, _ = pairs_run
    tuning = pd.read_csv(out / "tables" / "tuning.csv")
    assert tuning.groupby("method")["chosen"].sum().to_dict() == {"mle": 1, "omd": 1, "sgd": 1}
    for _, g in tuning.groupby("method"):
        assert g.loc[g["chosen"], "validation_loss"].iloc[0] == g["validation_loss"].min()
    runs = pd.read_csv(out / "tables" / "active_runs.csv")
    assert runs["repetition"].nunique() == 2 and runs["queries"].nunique() > 3
    # cumulative learner time along each run: the budgets are checkpoints of one run
    for _, g in runs.groupby(["method", "repetition"]):
        assert g["wall_time"].is_monotonic_increasing


def test_a_rerun_reads_every_feature_from_the_cache_and_gives_the_same_numbers(pairs_run):
    root, data, out, _, _ = pairs_run
    out2 = root / "again"
    assert main(["--data", str(data), *PAIR_FIELDS, "--out", str(out2), "--cache-dir",
                 str(root / "cache"), "--no-active", *QUICK], encoder=NoModel()) == 0
    a = pd.read_csv(out / "tables" / "passive_summary.csv")
    b = pd.read_csv(out2 / "tables" / "passive_summary.csv")
    pd.testing.assert_frame_equal(a.drop(columns="wall_time"), b.drop(columns="wall_time"))
    assert "not run (--no-active)" in (out2 / "report.md").read_text()


def test_a_ready_bank_prints_its_summary_and_runs(pairs_run, capsys):
    root, _, out, _, _ = pairs_run
    code = main(["--data", str(out / "bank"), "--out", str(root / "from_bank"), "--quick",
                 "--bootstrap", "50", "--no-active"])
    err = capsys.readouterr().err
    assert code == 0
    assert "FeatureBank(320 responses of 80 prompts, d = 6, 160 pairs (train 160)" in err
    a = pd.read_csv(out / "tables" / "passive_summary.csv")
    b = pd.read_csv(root / "from_bank" / "tables" / "passive_summary.csv")
    np.testing.assert_allclose(a["eval_acc"], b["eval_acc"], atol=1e-9)


def test_a_label_column_and_a_separate_eval_file(tmp_path):
    data = write_pairs(tmp_path / "train.jsonl", label_form=True)
    ev = write_pairs(tmp_path / "eval.jsonl", n=40, seed=1, label_form=True)
    fields = ["--fields", "prompt=question,response_a=one,response_b=two,label=pick"]
    code = main(["--data", str(data), "--eval-data", str(ev), *fields, "--out",
                 str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--no-active",
                 *QUICK], encoder=HashEncoder())
    assert code == 0
    split = pd.read_csv(tmp_path / "out" / "tables" / "split.csv").set_index("split")
    # the eval file's prompts repeat the training file's "question 0".. "question 19": those
    # training pairs are left out, so that no prompt is on both sides
    assert split.loc["eval", "pairs"] == 40
    assert split.loc["train", "pairs"] + split.loc["validation", "pairs"] == 160 - 40
    summary = pd.read_csv(tmp_path / "out" / "tables" / "passive_summary.csv")
    rule = summary.set_index("method").loc["majority", "constants"]
    assert "in the data's order" in rule  # a label column: the first response's wins count
    # the saved bank keeps the eval split: a rerun from it evaluates on the same 40 pairs
    assert main(["--data", str(tmp_path / "out" / "bank"), "--out", str(tmp_path / "again"),
                 "--no-active", *QUICK]) == 0
    again = pd.read_csv(tmp_path / "again" / "tables" / "split.csv").set_index("split")
    pd.testing.assert_frame_equal(again, split)
    assert "the bank's split 'eval' is the eval split" in (tmp_path / "again" / "report.md"
                                                           ).read_text()


def write_rated(path, n_prompts: int = 14, k: int = 5, seed: int = 0):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n_prompts):
            responses = []
            for j in range(k):
                quality = rng.randint(0, 3)
                text = " ".join(["good"] * quality + ["bad"] * (3 - quality)) + f" r{i}-{j}" \
                    + "z" * rng.randint(0, 20)
                responses.append({"text": text, "score": quality + rng.random(),
                                  "model": f"m{j}"})
            f.write(json.dumps({"prompt": f"instruction {i}", "responses": responses}) + "\n")
    return path


def test_several_rated_responses_per_prompt_run_the_deployment_comparison(tmp_path):
    data = write_rated(tmp_path / "rated.jsonl")
    out = tmp_path / "out"
    code = main(["--data", str(data), "--fields", "name=model", "--out", str(out), "--cache-dir",
                 str(tmp_path / "c"), "--deployment-rounds", "40", "--deployment-dim", "4",
                 "--budgets", "5,10,20", "--max-responses", "4", *QUICK], encoder=HashEncoder())
    assert code == 0
    report = (out / "report.md").read_text()
    assert "pairs from the scores" in report and "4 of 5 sources per prompt" in report
    assert "14 prompts x 4 responses" in report and "Skipped" not in report
    dep = pd.read_csv(out / "tables" / "deployment_summary.csv")
    assert set(dep["oracle"]) == {"judge", "semi-synthetic"}
    assert len(dep) == 2 * 4 * 2 and dep["final_win_rate_lo"].notna().all()
    base = pd.read_csv(out / "tables" / "deployment_baselines.csv")
    assert set(base["policy"]) >= {"uniform answer (chance)", "best answer (oracle)"}
    for oracle in ("judge", "semi-synthetic"):
        assert (out / "figures" / f"deployment_{oracle}.png").stat().st_size > 0


def test_bad_input_is_one_line_naming_what_exists(tmp_path, capsys):
    data = write_pairs(tmp_path / "p.jsonl", n=20)
    cases = [
        (["--fields", "prompt=promt,chosen=better,rejected=worse"],
         "p.jsonl line 1: missing field 'promt'", "the line has fields: better, question, worse"),
        ([], "cannot tell the pairs or multi form from the fields better, question, worse", ""),
        (["--format", "multi"], "cannot tell the multi form", ""),
        (["--fields", "promt=question"], "unknown role 'promt'; roles: prompt", ""),
        ([*PAIR_FIELDS, "--eval-data", str(data)], "the same file is used for train and eval", ""),
        ([*PAIR_FIELDS, "--budgets", "5,500"], "the largest budget 500 exceeds the pool", ""),
        ([*PAIR_FIELDS, "--eval-fraction", "1.5"], "--eval-fraction must be in (0, 1)", ""),
    ]
    for extra, expected, also in cases:
        code = main(["--data", str(data), "--out", str(tmp_path / "o"), "--cache-dir",
                     str(tmp_path / "c"), *QUICK, *extra], encoder=HashEncoder())
        err = capsys.readouterr().err
        assert code == 2, extra
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert expected in err and also in err, err
    code = main(["--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 2 and "missing.jsonl: no such file" in capsys.readouterr().err


def test_help_shows_every_default_and_the_text_format(capsys):
    with pytest.raises(SystemExit) as done:
        paper_repro_main(["real", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert 'prompt + "\\n\\n" + response' in text
    for default in ("(default: auto)", "(default: 0.2)", "(default: 0)", "(default: 10)",
                    "(default: all-MiniLM-L6-v2)", "(default: mean)", "(default: pair)",
                    "(default: 32)", "(default: 0.8)", "(default: 1000)", "(default: real_out)",
                    "(default: 5; 2 with --quick)", "(default: 500; 200 with --quick)"):
        assert default in " ".join(text.split()), default
