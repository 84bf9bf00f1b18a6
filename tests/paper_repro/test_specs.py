"""Every synthetic spec at a tiny budget, through the command line, and the backends agree."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from paper_repro.cli import main
from paper_repro.specs import REGISTRY

SYNTHETIC = ["passive-synthetic", "active-synthetic", "deployment-synthetic", "kappa-sweep",
             "dimension-sweep", "theory-checks"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    assert main([*SYNTHETIC, "--scale", "tiny", "--out", str(out), "--quiet", "--workers", "2"]) == 0
    # later tests rerun single specs into the same folder, which rewrites report.md
    shutil.copy(os.path.join(out, "report.md"), os.path.join(out, "report_all_specs.md"))
    return str(out)


def test_specs_are_registered():
    assert set(SYNTHETIC) | {"timing"} <= set(REGISTRY)


def test_every_figure_is_written_and_referenced(tiny_run):
    report = open(os.path.join(tiny_run, "report.md")).read()
    figs = os.listdir(os.path.join(tiny_run, "figures"))
    assert len([f for f in figs if f.endswith(".png")]) >= 8
    for f in figs:
        assert os.path.getsize(os.path.join(tiny_run, "figures", f)) > 1000
        assert f"figures/{f}" in report
    for spec in SYNTHETIC:
        assert f"## {spec}" in report
    assert "## Verdicts" in report and "How to reproduce" in report


def test_tables_hold_every_algorithm_and_seed(tiny_run):
    df = pd.read_csv(os.path.join(tiny_run, "tables", "deployment-synthetic_records.csv"))
    from paper_repro.synthetic import DEPLOYMENT

    cfg = DEPLOYMENT["tiny"].study
    assert set(df["algorithm"]) == set(cfg.algorithms)
    assert df.groupby("algorithm")["seed"].nunique().eq(cfg.seeds).all()
    assert (df["regret"] >= -1e-12).all()


def test_rerun_resumes_from_the_store(tiny_run, capsys):
    store = os.path.join(tiny_run, "store")
    before = {os.path.join(r, f): os.path.getmtime(os.path.join(r, f))
              for r, _, fs in os.walk(store) for f in fs}
    assert main(["passive-synthetic", "--scale", "tiny", "--out", tiny_run, "--quiet"]) == 0
    after = {p: os.path.getmtime(p) for p in before}
    assert before == after  # nothing recomputed
    # the report's run-times table says so: every cell came from the store, with the
    # prediction printed before the spec ran beside the measured time
    report = open(os.path.join(tiny_run, "report.md")).read()
    row = re.search(r"^\| passive-synthetic \|(.*)$", report, re.M)
    assert row is not None and "## Run times" in report
    predicted, measured, _, computed, from_store = [c.strip() for c in row.group(1).split("|")[:5]]
    assert int(computed) == 0 and int(from_store) > 0 and float(measured) > 0
    first = open(os.path.join(tiny_run, "report_all_specs.md")).read()
    for spec in SYNTHETIC:
        line = re.search(rf"^\| {spec} \|(.*)$", first, re.M)
        assert line is not None, spec
        cells = [c.strip() for c in line.group(1).split("|")]
        assert float(cells[1]) > 0 and cells[5] == "local" and cells[6] == "2"
        assert int(cells[3]) + int(cells[4]) > 0 or spec == "theory-checks"


def _without_time(df):
    return df[[c for c in df.columns if "wall" not in c and c != "output_time"]]


def test_dask_backend_gives_the_same_tables(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main(["deployment-synthetic", "--scale", "tiny", "--out", str(local), "--quiet", "--workers", "1"]) == 0
    assert main(["deployment-synthetic", "--scale", "tiny", "--out", str(dask), "--quiet",
                 "--backend", "dask", "--workers", "2"]) == 0
    a = pd.read_csv(local / "tables" / "deployment-synthetic_records.csv")
    b = pd.read_csv(dask / "tables" / "deployment-synthetic_records.csv")
    pd.testing.assert_frame_equal(_without_time(a), _without_time(b))


@pytest.mark.parametrize("argv, message", [
    (["--backend", "slurm"], "unknown backend"),
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler goes with --backend dask"),
    (["--workers", "0"], "--workers must be >= 1"),
])
def test_bad_run_options(argv, message, tmp_path, capsys):
    assert main(["passive-synthetic", "--scale", "tiny", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    code = main(["passive-synthetic", "--scale", "tiny", "--out", str(tmp_path), "--quiet",
                 "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert re.search(r"cannot reach the Dask scheduler", capsys.readouterr().err)


def test_every_registered_algorithm_has_its_own_figure_style():
    from algorithms.registry import names
    from figures.style import algorithm_style
    from paper_repro.synthetic import set_figure_styles

    order = set_figure_styles()
    assert set(names()) <= set(order)
    triples = {(str(algorithm_style(n)["color"]), algorithm_style(n)["marker"],
                str(algorithm_style(n)["linestyle"])) for n in order}
    assert len(triples) == len(order)


def test_comparisons_are_paired_and_figures_captioned(tiny_run):
    report = open(os.path.join(tiny_run, "report_all_specs.md")).read()
    for spec, reference in (("passive-synthetic", "passive-omd-pessimistic"),
                            ("active-synthetic", "active-omd"),
                            ("deployment-synthetic", "algorithm4"),
                            ("dimension-sweep", "algorithm4")):
        section = report.split(f"## {spec}")[1].split("\n## ")[0]
        assert f"Paired against {reference}" in section, spec
        assert "95% CI" in section
        paired = pd.read_csv(os.path.join(tiny_run, "tables", f"{spec}_paired.csv"))
        assert set(paired["reference"]) == {reference}
        assert set(paired["verdict"]) <= {"better", "tied", "worse", "identical", "undecided"}
    for spec in ("passive-synthetic", "active-synthetic"):
        section = report.split(f"## {spec}")[1].split("\n## ")[0]
        assert "Prediction:" in section  # the purpose-built instance's predicted order
    kappa = report.split("## kappa-sweep")[1].split("\n## ")[0]
    assert "Paired at each kappa" in kappa
    assert report.count("*Figure ") >= 8
    acc = pd.read_csv(os.path.join(tiny_run, "tables", "active-synthetic_accuracy_time.csv"))
    assert (acc["bayes_ceiling_pct"] > 50).all()


def test_extra_specs_are_left_out_of_the_default_run(capsys):
    assert not REGISTRY["constants-sweep"].default
    assert main(["--list"]) == 0
    assert "(extra)" in [ln for ln in capsys.readouterr().out.splitlines()
                         if ln.startswith("constants-sweep")][0]


def _stored_cells(out) -> int:
    return sum(f.endswith(".parquet") for _, _, fs in os.walk(os.path.join(out, "store"))
               for f in fs)


def test_dask_run_stopped_by_sigterm_resumes_to_the_same_tables(tmp_path):
    """Stop a Dask run once cells are stored; the rerun computes only the rest, says so in
    the report's run times, and gives the tables of an uninterrupted local run."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    out = str(tmp_path / "dask")
    cmd = [sys.executable, "-m", "paper_repro", "deployment-synthetic", "--scale", "tiny",
           "--out", out, "--quiet", "--backend", "dask", "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _stored_cells(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be stopped"
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "rerun the same command to resume" in err
    kept = _stored_cells(out)
    assert kept >= 1
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    report = open(os.path.join(out, "report.md")).read()
    row = re.search(r"^\| deployment-synthetic \|(.*)$", report, re.M)
    assert row is not None
    cells = [c.strip() for c in row.group(1).split("|")]
    assert int(cells[4]) >= kept and int(cells[3]) > 0 and cells[5] == "dask"
    local = tmp_path / "local"
    assert main(["deployment-synthetic", "--scale", "tiny", "--out", str(local), "--quiet",
                 "--workers", "1"]) == 0
    a = pd.read_csv(local / "tables" / "deployment-synthetic_records.csv")
    b = pd.read_csv(os.path.join(out, "tables", "deployment-synthetic_records.csv"))
    pd.testing.assert_frame_equal(_without_time(a), _without_time(b))
