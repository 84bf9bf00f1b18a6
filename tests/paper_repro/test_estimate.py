import glob
import json
import os

import numpy as np
import pandas as pd
import pytest

from paper_repro import estimate as E
from paper_repro import runner
from paper_repro.cli import main
from paper_repro.runner import run_sweep, set_cost_model
from paper_repro.specs import get_spec
from paper_repro.store import Cell, ResultStore
from paper_repro.synthetic import RunOptions


def fake_timer(cell: Cell) -> float:
    """A deterministic stand-in for a probe run: 0.01 + 1e-5 T seconds (1e-8 T^2 more for the
    algorithms that refit every round)."""
    T = cell.config["T"]
    extra = 1e-8 * T * (T + 1) / 2 if E.refits_every_round(cell.algorithm) else 0.0
    return 0.01 + 1e-5 * T + extra


@pytest.fixture
def fake_probes(monkeypatch):
    monkeypatch.setattr(E, "_time_cell", fake_timer)


def stored_keys(out) -> set[str]:
    files = glob.glob(os.path.join(out, "store", "*", "*.parquet"))
    return {os.path.basename(f)[: -len(".parquet")] for f in files}


def test_fit_recovers_a_and_b_from_synthetic_timings():
    rng = np.random.default_rng(0)
    T = np.array([100, 200, 400, 800, 1600], dtype=float)
    c0, a, b = 0.05, 2e-5, 3e-8
    exact = c0 + a * T + b * T * (T + 1) / 2
    law = E.fit_cost_law(T, exact, quadratic=True)
    assert law.c0 == pytest.approx(c0, rel=1e-6)
    assert law.a == pytest.approx(a, rel=1e-6)
    assert law.b == pytest.approx(b, rel=1e-6)
    assert law.seconds(20_000) == pytest.approx(c0 + a * 20_000 + b * 20_000 * 20_001 / 2)
    noisy = exact * (1 + 0.01 * rng.standard_normal(T.size))
    law = E.fit_cost_law(T, noisy, quadratic=True)
    assert law.b == pytest.approx(b, rel=0.15)
    lin = E.fit_cost_law([250, 1000, 4000], [0.1 + 1e-6 * t for t in (250, 1000, 4000)],
                         quadratic=False)
    assert (lin.c0, lin.b) == (pytest.approx(0.1), 0.0)
    assert lin.a == pytest.approx(1e-6)
    with pytest.raises(ValueError, match="finite"):
        E.fit_cost_law([10, 20], [0.1, float("nan")], quadratic=False)


def test_refitters_are_the_mle_algorithms_that_refit_every_round():
    assert E.refits_every_round("dueling-rl-mle") and E.refits_every_round("llm-random-mle")
    assert E.refits_every_round("active-mle") and E.refits_every_round("apo")
    for name in ("algorithm4", "random-mle", "passive-mle-greedy", "passive-omd-pessimistic"):
        assert not E.refits_every_round(name)


def test_lpt_wall_and_sweeps_in_sequence():
    assert E.lpt_wall([3, 3, 2, 2, 2], 2) == 7
    items = [E.CellCost("s", g, "a", 10, "cell", seconds=s)
             for g, s in (("one", 4.0), ("one", 4.0), ("two", 3.0), ("two", 1.0))]
    assert E.wall_seconds(items, 2, cores=2) == 4.0 + 3.0
    assert E.wall_seconds(items, 1, cores=2) == 12.0
    items.append(E.CellCost("s", "serial", "a", 10, "in-process", seconds=5.0, serial=True))
    items.append(E.CellCost("s", "serial", "a", 10, "in-process", seconds=5.0, serial=True))
    assert E.wall_seconds(items, 2, cores=2) == 17.0
    # a sweep on new worker processes pays their start and its kernels' loading, once
    assert E.wall_seconds(items, 2, cores=2, sweep_start=0.5) == 18.0
    items += [E.CellCost("s", "three", "b", 10, "cell", seconds=1.0, load=x) for x in (2.0, 3.0)]
    assert E.wall_seconds(items, 2, cores=2, sweep_start=0.5) == 18.0 + 1.0 + 0.5 + 3.0


@pytest.mark.parametrize("spec", [
    "deployment-synthetic",
    pytest.param("active-synthetic", marks=pytest.mark.slow),
    pytest.param("passive-synthetic", marks=pytest.mark.slow),
])
def test_plan_of_tiny_scale_is_exactly_what_the_run_computes(spec, tmp_path, fake_probes):
    out = str(tmp_path)
    before = E.plan(spec, "tiny", out)
    assert not any(i.stored for i in before)
    evaluation = [i for i in before if i.kind == "cell"]
    get_spec(spec).run("tiny", RunOptions(out=out, quiet=True, workers=1))
    after = E.plan(spec, "tiny", out)
    # every planned run is an exact cell, and the store holds exactly those cells
    assert all(i.cell is not None and i.stored for i in after)
    assert {i.cell.key for i in after} == stored_keys(out)
    # before the run: the same evaluation cells (their keys wait for the fitted constants)
    assert sorted(i.ident for i in evaluation) == \
        sorted(i.ident for i in after if i.kind == "cell")
    # and the calibration passes not yet run counted at their maximum (an upper bound)
    n_cal = sum(i.kind == "calibration" for i in after)
    assert 0 < n_cal <= sum(i.kind == "calibration" for i in before)
    # stored cells cost nothing
    est = E.estimate_spec(spec, "tiny", E.CostModel(out), 2)
    assert est.stored == est.cells == len(after) and est.cpu == 0.0 and est.wall == 0.0


def test_estimate_prices_unstored_cells_and_caches_the_laws(tmp_path, fake_probes):
    out = str(tmp_path)
    est = E.estimate(["active-synthetic"], "tiny", out, workers=2)[0]
    start = E.CostModel(out).sweep_start(2)  # measured once, then cached
    sweeps = len({i.group for i in est.items})
    assert est.cpu > 0 and est.cpu / 2 <= est.wall <= est.cpu + sweeps * start
    assert est.rounds == sum(i.rounds for i in est.items)
    cache = json.load(open(os.path.join(out, E.COSTS_FILE)))
    assert cache["laws"] and cache["fingerprint"] == E.CostModel(out).fingerprint
    model = E.CostModel(out, timer=lambda c: pytest.fail("measured a cached law"))
    again = E.estimate_spec("active-synthetic", "tiny", model, 2)
    assert again.cpu == pytest.approx(est.cpu) and model.measured == 0


def test_estimate_flag_runs_nothing_and_prints_a_table(tmp_path, capsys, fake_probes):
    out = str(tmp_path)
    assert main(["active-synthetic", "dimension-sweep", "--scale", "tiny", "--estimate",
                 "--workers", "2", "--out", out, "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| spec" in text and "active-synthetic" in text and "dimension-sweep" in text
    assert "| total" in text and "wall s (2 workers)" in text
    assert not os.path.exists(os.path.join(out, "store"))  # nothing ran, no store was opened
    assert not os.path.exists(os.path.join(out, "report.md"))
    assert os.path.exists(os.path.join(out, E.COSTS_FILE))


@pytest.mark.parametrize("argv, message", [
    (["no-such-spec", "--estimate"], "unknown spec 'no-such-spec'"),
    (["--estimate", "--list"], "--list and --estimate"),
    (["--estimate", "--backend", "dask"], "--estimate predicts local worker processes"),
    (["--estimate", "--workers", "0"], "--workers must be >= 1"),
    (["--estimate", "--scale", "huge"], "unknown scale 'huge'"),
])
def test_bad_estimate_flags_give_one_line_errors(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_measured_specs_use_the_recorded_duration(tmp_path):
    out = str(tmp_path)
    model = E.CostModel(out, timer=lambda c: pytest.fail("no probe for a measured spec"))
    unknown = E.estimate_spec("kwise", "tiny", model, 2)
    assert np.isnan(unknown.cpu) and np.isnan(unknown.wall) and "not modelled" in unknown.note
    assert "without kwise" in E.estimate_table([unknown])["note"].iloc[-1]
    E.record_duration(out, "kwise", "tiny", 12.5)
    model = E.CostModel(out)
    assert E.estimate_spec("kwise", "tiny", model, 2).wall == 12.5
    scaled = E.estimate_spec("kwise", "quick", model, 2)
    assert scaled.wall > 12.5 and "scaled from the measured tiny run" in scaled.note


def demo_cell(cell: Cell) -> pd.DataFrame:
    return pd.DataFrame({"algorithm": [cell.algorithm], "x": [cell.config["n"] * cell.seed]})


class RecordingProgress(runner._Progress):
    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingProgress.made.append(self)

    def close(self):  # keep the bar's numbers for the test
        pass


def test_progress_bar_advances_by_predicted_cost(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_Progress", RecordingProgress)
    cells = [Cell("demo", "a", dict(n=n), s) for n in (1, 2, 3) for s in range(2)]
    costs = {c.key: float(c.config["n"] * 10) for c in cells}
    store = ResultStore(tmp_path / "s")
    run_sweep(cells[:2], demo_cell, store, workers=1, quiet=True)  # two cells stored first
    RecordingProgress.made.clear()
    run_sweep(cells, demo_cell, store, workers=1, costs=costs, label="weighted")
    bar = RecordingProgress.made[-1].bar
    assert bar.total == pytest.approx(sum(costs.values()))
    assert bar.n == pytest.approx(sum(costs.values()))
    assert RecordingProgress.made[-1].done == len(cells)
    # the module-level cost model (set by the command line) gives the same bar
    set_cost_model(lambda c: float(c.config["n"] * 10))
    try:
        RecordingProgress.made.clear()
        run_sweep(cells, demo_cell, store, workers=1, label="hook")
        assert RecordingProgress.made[-1].bar.total == pytest.approx(sum(costs.values()))
    finally:
        set_cost_model(None)
    # without costs the bar counts cells, as before
    RecordingProgress.made.clear()
    run_sweep(cells, demo_cell, store, workers=1, label="plain")
    bar = RecordingProgress.made[-1].bar
    assert bar.total == len(cells) and bar.unit == "cell"


def test_laws_of_earlier_code_stand_in_for_a_run_but_not_for_an_estimate(tmp_path, fake_probes):
    out = str(tmp_path)
    cell = E.plan("active-synthetic", "tiny", out)[0].probe
    model = E.CostModel(out)
    fresh = model.seconds(cell)
    data = json.load(open(model.path))
    data["fingerprint"] = "other-code"
    data["laws"] = {k: dict(v, c0=v["c0"] + 100.0) for k, v in data["laws"].items()}
    json.dump(data, open(model.path, "w"))
    run = E.CostModel(out, earlier_laws=True, timer=lambda c: pytest.fail("measured"))
    assert run.seconds(cell) == pytest.approx(fresh + 100.0)
    assert run.known_seconds(cell) == pytest.approx(fresh + 100.0)
    again = E.CostModel(out)  # an estimate measures the laws of the current code
    assert again.seconds(cell) == pytest.approx(fresh) and again.measured == 1
