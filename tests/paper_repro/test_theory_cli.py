import os

import pandas as pd

from paper_repro.theory_cli import main
from paper_repro.theory_runs import PARTS, SCALES, cells_by_part, decisiveness
from theory_checks.verdicts import FAIL, PASS, Verdict


def test_tiny_run_writes_verdicts_power_and_decisiveness(tmp_path, capsys):
    code = main(["--tiny", "--out", str(tmp_path), "--workers", "1"])
    table = pd.read_csv(os.path.join(tmp_path, "verdicts.csv"))
    assert list(table.columns) == ["check", "claim", "measured", "threshold", "verdict", "detail"]
    assert set(table["verdict"]) <= {"pass", "fail", "report", "undecided"}
    assert code == (1 if (table["verdict"] == "fail").any() else 0)
    assert table["check"].iloc[0] == "power[tiny]"  # the power table comes first
    for part in ("power[", "coverage-calibrated[", "instance-bound[", "accounting[", "rate[",
                 "beats-uniform[", "stays-in-ball[", "cost-counts["):
        assert table["check"].str.startswith(part).any(), part
    for name in ("passive-omd-pessimistic", "active-omd", "algorithm4"):
        assert table["check"].str.contains(name).any(), name
    power = pd.read_csv(os.path.join(tmp_path, "power.csv"))
    assert power["harmful"].sum() >= 10 and (~power["harmful"]).sum() >= 2
    dec = pd.read_csv(os.path.join(tmp_path, "decisiveness.csv"))
    assert {"check", "decisive", "vacuous", "undecided"} <= set(dec.columns)
    assert "checks in" in capsys.readouterr().out


def test_power_only_and_bad_usage(tmp_path):
    assert main(["--tiny", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert main(["--tiny", "--power", "--algorithms", "x:y", "--out", str(tmp_path)]) == 2


def test_every_scale_defines_the_cost_cells():
    assert PARTS == ("power", "checks", "cost")
    for scale in SCALES:
        parts = cells_by_part(scale)
        assert set(parts) == {"cost"} and all(parts.values())


def test_decisiveness_counts_each_kind():
    vs = [Verdict("a[x]", "", 0, 0, PASS, "decisive"), Verdict("a[y]", "", 0, 0, FAIL, ""),
          Verdict("b[x]", "", 0, 0, PASS, "vacuous: too loose"),
          Verdict("c[x]", "", 0, 0, "undecided", "")]
    d = decisiveness(vs).set_index("check")
    assert d.loc["a", "decisive"] == 2 and d.loc["b", "vacuous"] == 1
    assert d.loc["c", "undecided"] == 1
