"""Sweep runner: run the cells of a sweep on local worker processes or a Dask cluster,
skipping cells already in the result store, with a progress bar.

Each cell's randomness comes from its own seed only, so its table does not depend on the
backend, the number of workers or the order in which cells finish; the combined table is
assembled in the order of the cell list. Columns measuring time (names containing "wall")
are measurements and naturally differ between runs.

Reuse. A stored cell is reused only when the code fingerprint recorded with it
(`paper_repro.fingerprint`) equals this process's; a cell stored by other code is recomputed,
unless `reuse_stale=True` asks to reuse it on purpose. Every sweep appends a `SweepRecord` (what
was computed, reused, or reused from which older fingerprint) to the open `sweep_session`s, from
which the report states the provenance of its tables.

Stops. SIGINT, SIGTERM and SIGHUP to the main process stop a sweep at once: no further cell
starts, the worker processes are ended, the finished cells stay in the store, and
`SweepInterrupted` (a KeyboardInterrupt) is raised; the next run resumes. Worker processes
ignore SIGINT (the main process decides) and end themselves when the main process dies, even
by SIGKILL (PR_SET_PDEATHSIG on Linux, and a watchdog thread everywhere).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import pandas as pd

from .fingerprint import algorithm_fingerprint, code_fingerprint
from .store import Cell, ResultStore

BACKENDS = ("local", "dask")

CellFunction = Callable[[Cell], pd.DataFrame]

SCHEDULER_TIMEOUT = 5.0
"""Seconds allowed for a Dask scheduler to accept a connection and send its handshake."""

UNRECORDED = "unrecorded"
"""Stands for the fingerprint of a cell stored before fingerprints were recorded."""

_STOP_SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s))


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by a signal (or Ctrl-C); its finished cells are in the store."""

    def __init__(self, signum: int, finished: int, total: int, store: str) -> None:
        self.signum, self.finished, self.total, self.store = signum, finished, total, store
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"interrupted by {name}: {finished} of {total} cells of the sweep are "
                         f"stored in {store}; rerun the same command to resume")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT)."""
        return 128 + int(self.signum)


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by the handler of SIGTERM / SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class SweepRecord:
    """Where the tables of one sweep came from."""

    label: str
    cells: int
    fingerprint: str
    """This process's code fingerprint."""
    computed: int = 0
    """Cells computed by this run."""
    reused: int = 0
    """Cells taken from the store, computed earlier by the same code."""
    stale_reused: dict[str, int] = field(default_factory=dict)
    """Cells taken from the store although computed by other code, by fingerprint."""
    stale_recomputed: dict[str, int] = field(default_factory=dict)
    """Stored cells of other code that were recomputed, by their old fingerprint."""
    quarantined: list[str] = field(default_factory=list)
    """Damaged cell files moved aside (and recomputed)."""


@dataclass
class SweepSession:
    """Collects the `SweepRecord`s of the sweeps run while it is open; sets their policy."""

    reuse_stale: bool = False
    records: list[SweepRecord] = field(default_factory=list)


_SESSIONS: list[SweepSession] = []


@contextlib.contextmanager
def sweep_session(reuse_stale: bool = False) -> Iterator[SweepSession]:
    """Open a session: every sweep run inside it appends its record to it, and reuses stale
    cells when `reuse_stale` (unless the sweep's own argument says otherwise)."""
    session = SweepSession(reuse_stale=bool(reuse_stale))
    _SESSIONS.append(session)
    try:
        yield session
    finally:
        _SESSIONS.remove(session)


CellCosts = Mapping[str, float] | Callable[[Cell], float | None]
"""Predicted seconds of the cells of a sweep: a mapping cell key -> seconds, or a function
cell -> seconds (None: unknown)."""

_COST_MODEL: list[Callable[[Cell], float | None]] = []


def set_cost_model(fn: Callable[[Cell], float | None] | None) -> None:
    """Set (or with None clear) the cost model every `run_sweep` consults when it is given no
    `costs`: a function cell -> predicted seconds (None when it cannot tell). The command line
    sets it from `paper_repro.estimate`, so that the progress bars of sweeps built anywhere
    show a cost-weighted ETA without their callers passing costs."""
    _COST_MODEL.clear()
    if fn is not None:
        _COST_MODEL.append(fn)


def get_cost_model() -> Callable[[Cell], float | None] | None:
    """The cost model set by `set_cost_model`, or None."""
    return _COST_MODEL[0] if _COST_MODEL else None


def predicted_costs(cells: Sequence[Cell], costs: CellCosts | None = None) -> list[float] | None:
    """Predicted seconds per cell from `costs` (or the module's cost model): None when there is
    no cost model or it knows none of the cells; cells it does not know get the mean of those
    it knows (every cell gets a positive weight)."""
    if costs is None:
        costs = get_cost_model()
        if costs is None:
            return None
    out: list[float | None] = []
    for c in cells:
        try:
            v = costs.get(c.key) if isinstance(costs, Mapping) else costs(c)
        except Exception:  # a cost model never stops a sweep
            v = None
        out.append(float(v) if v is not None and v == v and v >= 0 else None)
    known = [v for v in out if v is not None]
    if not known:
        return None
    fill = max(sum(known) / len(known), 1e-6)
    return [max(v, 1e-6) if v is not None else fill for v in out]


class _Progress:
    """Cells done, cells taken from the store, and an ETA; silent when quiet.

    Without costs the bar counts cells. With predicted costs (seconds per cell) it advances
    by each finished cell's predicted seconds (total = their sum, the stored cells counted as
    done), so that its ETA is weighted by cost; the postfix shows cells done / total."""

    def __init__(self, total: int, cached: int, label: str, quiet: bool,
                 costs: Mapping[str, float] | None = None, cached_cost: float = 0.0) -> None:
        self.bar = None
        self.costs = costs
        self.done, self.total = cached, total
        if not quiet and total > 0:
            from tqdm.auto import tqdm

            if costs is None:
                self.bar = tqdm(total=total, initial=cached, desc=label, unit="cell",
                                dynamic_ncols=True)
                self.bar.set_postfix(cached=cached)
            else:
                self.bar = tqdm(total=float(sum(costs.values())), initial=float(cached_cost),
                                desc=label, unit="s", unit_scale=False, dynamic_ncols=True,
                                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} predicted s "
                                           "[{elapsed}<{remaining}{postfix}]")
                self.bar.set_postfix_str(self._cells(cached))

    def _cells(self, cached: int) -> str:
        return f"cells {self.done}/{self.total}, cached {cached}"

    def step(self, key: str | None = None) -> None:
        self.done += 1
        if self.bar is None:
            return
        if self.costs is None:
            self.bar.update(1)
        else:
            self.bar.set_postfix_str(f"cells {self.done}/{self.total}", refresh=False)
            self.bar.update(self.costs.get(key, 0.0) if key is not None else 0.0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------ worker processes

_PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int, main: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent or not _alive(main):
            os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_init(main: int) -> None:
    """Runs first in every local worker: ignore SIGINT (the main process stops the sweep) and
    die with the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent == 1 or not _alive(main):  # the main process died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent, main), daemon=True,
                     name="paper_repro-parent-watch").start()


def _run_and_store(fn: CellFunction, cell: Cell, root: str) -> str:
    """Compute a cell and store it with the fingerprint of the code of the process that ran it;
    returns that fingerprint."""
    fp = algorithm_fingerprint(cell.algorithm)
    ResultStore(root).save(cell, fn(cell), fingerprint=fp)
    return fp


def _end_pool(pool: ProcessPoolExecutor, root: str) -> None:
    """Stop a pool now: cancel what has not started, end the workers (SIGTERM, then SIGKILL),
    and remove the temporary files they leave."""
    procs = list(getattr(pool, "_processes", None) or {})
    handles = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in procs:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    for pid, proc in handles.items():
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            proc.join(1.0)
    suffixes = tuple(f".tmp-{pid}" for pid in procs)
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(suffixes):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, f))


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """While open (in the main thread), SIGTERM and SIGHUP raise _Stop like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Stop(signum)

    previous = {}
    for s in _STOP_SIGNALS:
        try:
            previous[s] = signal.signal(s, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ------------------------------------------------------------------------------ dask

_ADDRESS = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-_]*[A-Za-z0-9])?)"
                      r":(?P<port>[0-9]{1,5})$")


def parse_scheduler_address(address: str) -> tuple[str, int]:
    """(host, port) of a Dask scheduler address tcp://HOST:PORT; ValueError otherwise."""
    m = _ADDRESS.match(address) if isinstance(address, str) else None
    if m is None or not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"scheduler address {address!r} is not of the form tcp://HOST:PORT "
                         "(PORT in 1..65535)")
    return m["host"].strip("[]"), int(m["port"])


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            raise ConnectionError("the connection was closed")
        buf += chunk
    return buf


def probe_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Check that a Dask scheduler answers at `address` within `timeout` seconds: it accepts
    the connection and sends the handshake every Dask comm opens with (a length-prefixed
    message). RuntimeError with a one-line reason otherwise, never a hang."""
    host, port = parse_scheduler_address(address)
    where = f"the Dask scheduler at {address!r}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise RuntimeError(f"cannot reach {where}: no connection within {timeout:g} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot reach {where}: {e.strerror or e}") from None
    with sock:
        try:
            (n,) = struct.unpack("Q", _recv_exact(sock, 8, deadline))
            if not 0 < n <= 1 << 20:
                raise RuntimeError(f"{address!r} answers, but not as a Dask scheduler (its first "
                                   "message is not a Dask handshake)")
            _recv_exact(sock, n, deadline)
        except TimeoutError:
            raise RuntimeError(f"{address!r} accepts connections but sent no Dask handshake "
                               f"within {timeout:g} s: is it a Dask scheduler?") from None
        except (ConnectionError, OSError) as e:
            raise RuntimeError(f"cannot reach {where}: {e}") from None


def _dask_client(scheduler: str | None, workers: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("the dask backend needs the 'distributed' package: "
                           "pip install 'rlhf-bandit-testbed[dask]'") from e
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster), cluster
    probe_scheduler(scheduler)
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError) as e:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from e


# ----------------------------------------------------------------------------- sweep

def _check_writable(root: str) -> None:
    probe = os.path.join(root, f".write-test-{os.getpid()}")
    try:
        with open(probe, "wb") as f:
            f.write(b"")
        os.remove(probe)
    except OSError as e:
        raise ValueError(f"the result store {root} is not writable: {e.strerror or e}") from None


def run_sweep(cells: Sequence[Cell], fn: CellFunction, store: ResultStore, *,
              backend: str = "local", workers: int | None = None, scheduler: str | None = None,
              quiet: bool = False, label: str = "sweep",
              reuse_stale: bool | None = None,
              costs: CellCosts | None = None) -> pd.DataFrame:
    """Run every cell not yet in `store` with `fn` (a picklable top-level function returning a
    tidy DataFrame), then return the tables of all cells concatenated in cell order.

    backend "local": `workers` processes (default: all cores; 1 runs in this process);
    backend "dask": the cluster at `scheduler` (tcp://HOST:PORT), or a LocalCluster of
    `workers` processes when no address is given. A stored cell is reused when it was computed
    by the same code (fingerprint); one computed by other code is recomputed unless
    `reuse_stale` (default: that of the innermost `sweep_session`, else False).

    `costs`: predicted seconds per cell (a mapping cell key -> seconds, or a function cell ->
    seconds); default: the cost model set by `set_cost_model`, if any. With costs the progress
    bar advances by predicted seconds, so its ETA is weighted by cost; without, it counts cells.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if scheduler is not None and backend != "dask":
        raise ValueError("--scheduler goes with --backend dask")
    if scheduler is not None:
        parse_scheduler_address(scheduler)
    workers = int(workers or os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if reuse_stale is None:
        reuse_stale = _SESSIONS[-1].reuse_stale if _SESSIONS else False
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("the sweep lists the same cell twice")
    record = SweepRecord(label, len(cells), code_fingerprint())
    wanted = {c.key: algorithm_fingerprint(c.algorithm) for c in cells}
    n_quarantined = len(store.quarantined)
    tables: dict[str, pd.DataFrame] = {}
    stale_reused: Counter[str] = Counter()
    stale_seen: Counter[str] = Counter()
    for c in cells:
        got = store.read(c)
        if got is None:
            continue
        if got.fingerprint == wanted[c.key]:
            tables[c.key] = got.table
        elif reuse_stale:
            tables[c.key] = got.table
            stale_reused[got.fingerprint or UNRECORDED] += 1
        else:
            stale_seen[got.fingerprint or UNRECORDED] += 1
    record.quarantined = list(store.quarantined[n_quarantined:])
    todo = [c for c in cells if c.key not in tables]
    record.reused = len(cells) - len(todo) - sum(stale_reused.values())
    record.stale_reused, record.stale_recomputed = dict(stale_reused), dict(stale_seen)
    if todo:
        _check_writable(store.root)
    weights = None if quiet else predicted_costs(cells, costs)
    cost_of = None if weights is None else {c.key: w for c, w in zip(cells, weights)}
    todo_keys = {c.key for c in todo}
    progress = _Progress(len(cells), len(cells) - len(todo), label, quiet, cost_of,
                         sum(w for k, w in (cost_of or {}).items() if k not in todo_keys))
    finished: list[str] = []

    def done(key: str, fp: str) -> None:
        if fp != wanted[key]:
            raise RuntimeError(f"cell {key} was computed by code of fingerprint {fp}, but this "
                               f"process runs {wanted[key]}: the workers run other code")
        finished.append(key)
        progress.step(key)

    try:
        with _stop_signals_raise():
            try:
                if backend == "local" and (workers == 1 or len(todo) <= 1):
                    for c in todo:
                        done(c.key, _run_and_store(fn, c, store.root))
                elif backend == "local":
                    _run_local(todo, fn, store.root, min(workers, len(todo)), done)
                elif todo:
                    _run_dask(todo, fn, store.root, scheduler, workers, done)
            except KeyboardInterrupt as e:
                signum = getattr(e, "signum", signal.SIGINT)
                if isinstance(e, SweepInterrupted):
                    raise
                raise SweepInterrupted(signum, len(cells) - len(todo) + len(finished), len(cells),
                                       store.root) from None
    finally:
        progress.close()
        record.computed = len(finished)
        for s in _SESSIONS:
            s.records.append(record)
    if not cells:
        return pd.DataFrame()
    for c in todo:
        tables[c.key] = store.load(c)
    return pd.concat([tables[c.key] for c in cells], ignore_index=True)


def _run_local(todo: list[Cell], fn: CellFunction, root: str, workers: int,
               done: Callable[[str, str], None]) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        futures: dict[Future, Cell] = {pool.submit(_run_and_store, fn, c, root): c for c in todo}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in finished:
                if f.exception() is not None:
                    for p in pending:  # no new cell starts; those running finish and are kept
                        p.cancel()
                    wait(pending)
                    for p in pending:
                        if not p.cancelled() and p.exception() is None:
                            done(futures[p].key, p.result())
                    raise f.exception()  # type: ignore[misc]
                done(futures[f].key, f.result())
    except BaseException:
        _end_pool(pool, root)
        raise
    pool.shutdown(wait=True)


def _run_dask(todo: list[Cell], fn: CellFunction, root: str, scheduler: str | None,
              workers: int, done: Callable[[str, str], None]) -> None:
    client, cluster = _dask_client(scheduler, workers)
    futures = []
    try:
        from distributed import as_completed as dask_completed

        futures = [client.submit(_run_and_store, fn, c, root, key=f"cell-{c.key}", pure=False)
                   for c in todo]
        keys = {f.key: c.key for f, c in zip(futures, todo)}
        for f in dask_completed(futures):
            done(keys[f.key], f.result())
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
