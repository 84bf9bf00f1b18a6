import os

import pandas as pd

from paper_repro.theory_cli import main
from paper_repro.theory_runs import SCALES, cells_by_part


def test_tiny_run_writes_verdicts_and_exit_code_follows_them(tmp_path, capsys):
    code = main(["--tiny", "--out", str(tmp_path), "--workers", "1"])
    table = pd.read_csv(os.path.join(tmp_path, "verdicts.csv"))
    assert list(table.columns) == ["check", "claim", "measured", "threshold", "verdict", "detail"]
    assert set(table["verdict"]) <= {"pass", "fail", "report"}
    assert code == (1 if (table["verdict"] == "fail").any() else 0)
    for part in ("coverage[", "instance[", "rate[", "kappa-ordering[", "cost["):
        assert table["check"].str.startswith(part).any(), part
    out = capsys.readouterr().out
    assert "checks in" in out
    # theory radius: a claim (pass/fail); practical radius: reported only
    cov = table[table["check"].str.startswith("coverage[")]
    assert set(cov[cov["check"].str.contains("practical")]["verdict"]) == {"report"}
    assert set(cov[cov["check"].str.contains("theory")]["verdict"]) <= {"pass", "fail"}


def test_bad_workers_exit_2(tmp_path):
    assert main(["--tiny", "--out", str(tmp_path), "--workers", "0"]) == 2


def test_every_scale_defines_every_part():
    for scale in SCALES:
        parts = cells_by_part(scale)
        assert set(parts) == {"coverage", "instance", "rates", "kappa", "cost"}
        assert all(parts.values())
