"""Reliability of the sweep runner, the store and the command lines: no stale results after a
code change, a store that heals, clean stops on real signals, one-line errors at the
boundaries (output folder, Dask address). Processes that could hang or crash run in
subprocesses with time limits."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from paper_repro import cli, theory_cli
from paper_repro.fingerprint import PACKAGES, code_fingerprint, source_digest
from paper_repro.report import provenance_lines, write_report
from paper_repro.runner import (
    SweepInterrupted,
    SweepRecord,
    parse_scheduler_address,
    probe_scheduler,
    run_sweep,
    sweep_session,
)
from paper_repro.spec_result import SpecResult
from paper_repro.store import FINGERPRINT_KEY, QUARANTINE, Cell, DamagedCellWarning, ResultStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mean_cell(cell: Cell) -> pd.DataFrame:
    rng = np.random.default_rng(cell.seed)
    x = rng.normal(cell.config["mu"], 1.0, 20)
    return pd.DataFrame({"algorithm": cell.algorithm, "t": np.arange(1, 21), "mean": np.cumsum(x)})


def demo_cells(n=3):
    return [Cell("demo", "a", {"mu": 1.0}, s) for s in range(n)]


# ----------------------------------------------------------------- code fingerprint

def test_fingerprint_follows_code_not_docstrings_or_comments(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""Doc 1."""\nX = 4.0  # a comment\n\ndef g():\n    """Doc."""\n    return X\n')
    base = source_digest(str(f))
    f.write_text('"""Doc 2, edited."""\nX = 4.0  # another comment\n\ndef g():\n    return X\n')
    assert source_digest(str(f)) == base
    f.write_text('"""Doc 2, edited."""\nX = 3.0\n\ndef g():\n    return X\n')
    assert source_digest(str(f)) != base
    assert len(code_fingerprint()) == 16


CELLS_MODULE = '''
import pandas as pd


def lam_cell(cell):
    """The practical lambda of algorithms.constants, for one (d, L, B)."""
    from algorithms.constants import practical_constants

    c = practical_constants(cell.config["d"], 1.0, 2.0)
    return pd.DataFrame({"algorithm": [cell.algorithm], "lam": [c.lam]})
'''

USER_MODULE = '''
SCALE = 1.0
'''

CODE_EDIT = '''

_unedited = practical_constants


def practical_constants(d, L, B, lam=None, eta=None):
    c = _unedited(d, L, B, lam)
    return OMDConstants(eta=c.eta, lam=2.0 * c.lam, kind=c.kind)
'''

SWEEP_SCRIPT = '''
import json
import sys

import algorithms.constants
from paper_repro.runner import run_sweep, sweep_session
from paper_repro.store import Cell, ResultStore

import fp_cells

out, reuse = sys.argv[1], sys.argv[2] == "reuse"
cells = [Cell("fp", alg, {"d": d}, 0) for alg in ("builtin", "fp_user:alg") for d in (2, 3)]
with sweep_session(reuse_stale=reuse) as s:
    df = run_sweep(cells, fp_cells.lam_cell, ResultStore(out), workers=1, quiet=True)
r = s.records[0]
print(json.dumps({"computed": r.computed, "reused": r.reused, "fingerprint": r.fingerprint,
                  "stale_recomputed": r.stale_recomputed, "stale_reused": r.stale_reused,
                  "lam": df["lam"].tolist(), "constants": algorithms.constants.__file__}))
'''


def _copy_project(dst) -> None:
    for p in PACKAGES:
        shutil.copytree(os.path.join(ROOT, p), dst / p,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _sweep(copy, out, reuse=False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(copy))
    r = subprocess.run([sys.executable, str(copy / "fp_sweep.py"), str(out),
                        "reuse" if reuse else "fresh"], cwd=copy, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _edit(path, old, new) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_code_change_recomputes_the_cells_it_affects(tmp_path):
    """Copy the packages, sweep into a folder, edit the copy, sweep into the same folder."""
    copy = tmp_path / "copy"
    copy.mkdir()
    _copy_project(copy)
    (copy / "fp_cells.py").write_text(CELLS_MODULE)
    (copy / "fp_user.py").write_text(USER_MODULE)
    (copy / "fp_sweep.py").write_text(SWEEP_SCRIPT)
    out = tmp_path / "store"
    constants = copy / "algorithms" / "constants.py"

    first = _sweep(copy, out)
    assert first["constants"].startswith(str(copy))  # the copy is what runs
    assert (first["computed"], first["reused"]) == (4, 0)

    # no code edit (a docstring only): nothing is recomputed
    _edit(constants, '"""', '"""(An edited docstring.) ')
    doc = _sweep(copy, out)
    assert (doc["computed"], doc["reused"], doc["fingerprint"]) == (0, 4, first["fingerprint"])

    # a change of code: every cell depends on it
    constants.write_text(constants.read_text() + CODE_EDIT)
    edited = _sweep(copy, out)
    assert edited["fingerprint"] != first["fingerprint"]
    assert (edited["computed"], edited["reused"]) == (4, 0)
    # by the fingerprint each cell had: the code's, or the code's with the user module's
    assert sum(edited["stale_recomputed"].values()) == 4
    assert edited["stale_recomputed"][first["fingerprint"]] == 2
    assert edited["lam"] == [2.0 * v for v in first["lam"]]

    _edit(copy / "fp_user.py", "SCALE = 1.0", "SCALE = 2.0")  # only the user's cells depend on it
    user = _sweep(copy, out)
    assert (user["computed"], user["reused"]) == (2, 2)

    constants.write_text(constants.read_text().replace(CODE_EDIT, ""))
    stale = _sweep(copy, out, reuse=True)  # on purpose: old cells reused, and said so
    assert stale["fingerprint"] == first["fingerprint"]
    assert stale["computed"] == 0 and sum(stale["stale_reused"].values()) == 4
    assert stale["lam"] == edited["lam"]


def test_stale_cells_are_recomputed_unless_reused_on_purpose_and_the_report_says_so(tmp_path):
    store = ResultStore(tmp_path / "store")
    cells = demo_cells()
    for c in cells:
        store.save(c, mean_cell(c).assign(mean=0.0), fingerprint="0123456789abcdef")
    with sweep_session(reuse_stale=True) as s:
        reused = run_sweep(cells, mean_cell, store, workers=1, quiet=True)
    assert (reused["mean"] == 0.0).all()
    assert s.records[0].stale_reused == {"0123456789abcdef": 3} and s.records[0].computed == 0
    lines, stale = provenance_lines(s.records)
    assert stale and "Stale cells" in "\n".join(lines) and "0123456789abcdef" in "\n".join(lines)
    res = SpecResult({"t1": reused.head(2)}, [], "table markdown")
    report = open(write_report(str(tmp_path), "tiny", {"demo": res}, [], 1.0,
                               provenance={"demo": s.records})).read()
    assert "**Stale results**" in report and "(stale: reuse cells of other code)" in report

    with sweep_session() as s:
        fresh = run_sweep(cells, mean_cell, store, workers=1, quiet=True)
    assert (fresh["mean"] != 0.0).any()
    assert s.records[0].computed == 3 and s.records[0].stale_recomputed == {"0123456789abcdef": 3}
    assert pq.read_schema(store.path(cells[0])).metadata[FINGERPRINT_KEY.encode()].decode() == \
        code_fingerprint()
    assert "Stale" not in "\n".join(provenance_lines(s.records)[0])


# ------------------------------------------------------------------- healing store

@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign"])
def test_a_damaged_cell_file_is_moved_aside_and_recomputed(tmp_path, damage):
    store = ResultStore(tmp_path)
    cells = demo_cells()
    expected = run_sweep(cells, mean_cell, store, workers=1, quiet=True)
    p = store.path(cells[1])
    if damage == "truncated":
        data = open(p, "rb").read()
        open(p, "wb").write(data[: len(data) // 2])
    elif damage == "empty":
        open(p, "wb").close()
    else:  # a readable Parquet file of another cell
        shutil.copy(store.path(cells[0]), p)
    with pytest.warns(DamagedCellWarning, match=r"damaged result file .*moved to"):
        healed = run_sweep(cells, mean_cell, ResultStore(tmp_path), workers=1, quiet=True)
    pd.testing.assert_frame_equal(healed, expected)
    moved = os.listdir(os.path.join(tmp_path, QUARANTINE, "demo"))
    assert any(f.startswith(cells[1].key) for f in moved)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healed: nothing to quarantine any more
        run_sweep(cells, mean_cell, ResultStore(tmp_path), workers=1, quiet=True)


def test_cell_files_are_synced_before_the_rename(tmp_path, monkeypatch):
    import paper_repro.store as store_module

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(store_module.os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b)))
    ResultStore(tmp_path).save(demo_cells(1)[0], mean_cell(demo_cells(1)[0]))
    # each of the two files (.json, .parquet): fsync of the file, rename, fsync of the folder
    assert events == ["fsync", "replace", "fsync", "fsync", "replace", "fsync"]


# ------------------------------------------------------------------------ signals

SLOW_CELLS = '''
import os
import time

import pandas as pd


def slow_cell(cell):
    open(os.path.join(cell.config["pids"], str(os.getpid())), "w").close()
    for _ in range(10):  # about 0.5 s
        time.sleep(0.05)
    return pd.DataFrame({"algorithm": [cell.algorithm], "i": [cell.config["i"]]})
'''

SIGNAL_SCRIPT = '''
import json
import sys

from paper_repro.cli import interrupted
from paper_repro.runner import run_sweep, sweep_session
from paper_repro.store import Cell, ResultStore

import slow_cells

out, pids, N_CELLS = sys.argv[1], sys.argv[2], 8
cells = [Cell("slow", "sleep", {"i": i, "pids": pids}, 0) for i in range(N_CELLS)]
try:
    with sweep_session() as s:
        run_sweep(cells, slow_cells.slow_cell, ResultStore(out), workers=2, quiet=True)
except KeyboardInterrupt as e:
    sys.exit(interrupted(e))
r = s.records[0]
print(json.dumps({"computed": r.computed, "found": r.reused + sum(r.stale_recomputed.values())}))
'''


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _stored(out) -> int:
    folder = os.path.join(out, "slow")
    return sum(f.endswith(".parquet") for f in os.listdir(folder)) if os.path.isdir(folder) else 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("how", ["SIGINT-main", "SIGINT-group", "SIGTERM", "SIGKILL"])
def test_signals_end_the_workers_keep_finished_cells_and_the_next_run_resumes(tmp_path, how):
    (tmp_path / "slow_cells.py").write_text(SLOW_CELLS)
    (tmp_path / "sweep.py").write_text(SIGNAL_SCRIPT)
    out, pids = tmp_path / "out", tmp_path / "pids"
    pids.mkdir()
    cmd = [sys.executable, str(tmp_path / "sweep.py"), str(out), str(pids)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _stored(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored(out) >= 2, "the sweep did not start"
        sig = {"SIGINT-main": signal.SIGINT, "SIGINT-group": signal.SIGINT,
               "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}[how]
        if how == "SIGINT-group":
            os.killpg(proc.pid, sig)  # what Ctrl-C in a terminal does
        else:
            os.kill(proc.pid, sig)  # the main process alone
        _, err = proc.communicate(timeout=15)
        workers = [int(p) for p in os.listdir(pids)]
        assert workers
        deadline = time.monotonic() + 10
        while not all(_dead(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_dead(p) for p in workers), "worker processes outlived the main process"
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:
            assert proc.returncode == 128 + sig, err
            assert "rerun the same command to resume" in err
        finished = _stored(out)
        assert 2 <= finished < 8, finished  # stopped early, finished cells kept
        if sig != signal.SIGKILL:  # the main process removed its killed workers' partial files
            assert not [f for f in os.listdir(out / "slow") if ".tmp-" in f]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if how == "SIGINT-main":  # the next run finds every finished cell and completes the sweep
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert got["found"] == finished and _stored(out) == 8


def test_the_cli_exits_130_with_a_message_when_interrupted(tmp_path, monkeypatch, capsys):
    from paper_repro import specs

    def stop(scale, opts):
        raise SweepInterrupted(signal.SIGINT, 3, 10, os.path.join(opts.out, "store"))

    monkeypatch.setitem(specs.REGISTRY, "stop-now", specs.Spec("stop-now", "stops", stop))
    assert cli.main(["stop-now", "--out", str(tmp_path), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted by SIGINT: 3 of 10 cells" in err and "resume" in err


# ------------------------------------------------------------------ output folder

def _refuses_files(folder: str) -> bool:
    try:
        open(os.path.join(folder, ".probe"), "wb").close()
    except OSError:
        return True
    os.remove(os.path.join(folder, ".probe"))
    return False


def _unwritable_folder(tmp_path) -> str | None:
    """A folder this user cannot write to: a read-only one, or for root a sysfs folder."""
    if os.name == "posix" and os.geteuid() == 0:
        ok = os.path.isdir("/sys/kernel") and _refuses_files("/sys/kernel")
        return "/sys/kernel" if ok else None
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return str(d) if _refuses_files(str(d)) else None


@pytest.mark.parametrize("case", ["empty", "file", "source", "project-root", "store-is-a-file",
                                  "not-creatable", "unwritable"])
def test_bad_output_folders_are_refused_before_any_work(tmp_path, case, capsys):
    if case == "empty":
        out, message = "", "--out must name a folder"
    elif case == "file":
        out = str(tmp_path / "f")
        open(out, "w").close()
        message = "exists and is not a folder"
    elif case == "source":
        out, message = os.path.join(ROOT, "figures", "out"), "inside the project's source"
    elif case == "project-root":
        out, message = ROOT, "inside the project's source"
    elif case == "store-is-a-file":
        out = str(tmp_path / "o")
        os.makedirs(out)
        open(os.path.join(out, "store"), "w").close()
        message = "store exists and is not a folder"
    elif case == "not-creatable":
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs /proc")
        out, message = "/proc/self/no/such", "cannot be created"
    else:
        out = _unwritable_folder(tmp_path)
        if out is None:
            pytest.skip("no unwritable folder available to this user")
        message = "is not writable"
    t0 = time.perf_counter()
    assert cli.main(["passive-synthetic", "--scale", "tiny", "--out", out, "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert time.perf_counter() - t0 < 10  # refused before any work
    assert theory_cli.main(["--tiny", "--out", out]) == 2
    assert message in capsys.readouterr().err
    if case in ("source", "not-creatable"):
        assert not os.path.exists(out)


# ------------------------------------------------------------------------- Dask

@pytest.mark.parametrize("address", ["127.0.0.1:8786", "tcp://127.0.0.1", "tcp://host:99999",
                                     "http://127.0.0.1:80", "tcp://:80", "tcp://a b:1", ""])
def test_malformed_scheduler_addresses_are_refused(address, tmp_path, capsys):
    with pytest.raises(ValueError, match="is not of the form tcp://HOST:PORT"):
        parse_scheduler_address(address)
    argv = ["passive-synthetic", "--out", str(tmp_path), "--backend", "dask", "--scheduler",
            address]
    assert cli.main(argv) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_an_http_server_is_not_taken_for_a_scheduler(tmp_path, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        t0 = time.perf_counter()
        argv = ["passive-synthetic", "--scale", "tiny", "--out", str(tmp_path), "--quiet",
                "--backend", "dask", "--scheduler", address]
        assert cli.main(argv) == 2
        assert time.perf_counter() - t0 < 15
        err = capsys.readouterr().err
        assert "sent no Dask handshake" in err and len(err.strip().splitlines()) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_answers_garbage_is_not_a_scheduler():
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            time.sleep(0.5)

    threading.Thread(target=serve, daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match="answers, but not as a Dask scheduler"):
            probe_scheduler(f"tcp://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
    finally:
        listener.close()


def test_a_closed_port_and_a_real_scheduler(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler"):
        probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=5)
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        probe_scheduler(cluster.scheduler_address, timeout=10)


# --------------------------------------------------------------------- records

def test_sweep_records_count_computed_and_reused(tmp_path):
    store = ResultStore(tmp_path)
    with sweep_session() as s:
        run_sweep(demo_cells(2), mean_cell, store, workers=1, quiet=True)
        run_sweep(demo_cells(3), mean_cell, store, workers=1, quiet=True)
    a, b = s.records
    assert isinstance(a, SweepRecord) and (a.computed, a.reused) == (2, 0)
    assert (b.computed, b.reused) == (1, 2)
    assert "3 computed by this run, 2 reused" in provenance_lines(s.records)[0][0]


def test_unwritable_store_is_found_before_computing(tmp_path, monkeypatch):
    import paper_repro.runner as runner

    def refuse(root):
        raise ValueError(f"the result store {root} is not writable: read-only")

    monkeypatch.setattr(runner, "_check_writable", refuse)
    calls = []
    with pytest.raises(ValueError, match="not writable"):
        run_sweep(demo_cells(2), lambda c: calls.append(c), ResultStore(tmp_path), workers=1,
                  quiet=True)
    assert calls == []



def test_run_times_table_puts_prediction_beside_measurement(tmp_path):
    from paper_repro.report import run_times_table

    t = run_times_table([dict(spec="a", predicted_s=10.0, measured_s=15.0, cells_computed=3,
                              cells_from_store=1, backend="dask", workers=2),
                         dict(spec="b", predicted_s=None, measured_s=2.0)])
    assert t.loc[0, "measured_over_predicted"] == pytest.approx(1.5)
    assert np.isnan(t.loc[1, "predicted_s"]) and np.isnan(t.loc[1, "measured_over_predicted"])
    assert list(t["cells_from_store"]) == [1, 0]
    res = SpecResult({}, [], "md")
    report = open(write_report(str(tmp_path), "tiny", {"a": res}, [], 1.0,
                               run_times=[dict(spec="a", predicted_s=10.0, measured_s=15.0)])).read()
    assert report.index("## Run times") < report.index("## a")
    assert "| a | 10 | 15 | 1.5 |" in report
