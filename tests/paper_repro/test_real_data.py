"""The real-data specs at the tiny scale on the shared data (skipped without the data or the llm
extra), and their "skipped: ..." result when the data folder is empty."""

from __future__ import annotations

import os

import pytest

from paper_repro.real_data import run_real_active, run_real_deployment, run_real_passive
from paper_repro.synthetic import RunOptions
from sim.real.adapters import DATA_ENV
from sim.real.shared_banks import missing_llm_extra, missing_shared_files

RUNS = (run_real_passive, run_real_active, run_real_deployment)
SHARED = ("ultrafeedback-train", "ultrafeedback-eval", "alpacaeval")


@pytest.fixture(scope="module")
def shared_out(tmp_path_factory) -> str:
    """One output folder for the three specs, so that they share the feature cache."""
    reason = missing_shared_files(SHARED)
    if reason:
        pytest.skip(f"needs the shared data: {reason}")
    extra = missing_llm_extra()
    if extra:
        pytest.skip(f"needs the llm extra (pip install -e '.[llm]'): {extra} is not installed")
    return str(tmp_path_factory.mktemp("real_data"))


@pytest.mark.parametrize("run", RUNS, ids=lambda f: f.__name__)
def test_tiny_scale_on_the_shared_data(run, shared_out):
    res = run("tiny", RunOptions(out=shared_out, quiet=True))
    assert not res.markdown.startswith("skipped"), res.markdown
    assert "Oracle" in res.markdown or "oracle" in res.markdown
    assert res.figures and all(os.path.getsize(f) > 0 for f in res.figures)
    assert {f.rsplit(".", 1)[1] for f in res.figures} == {"png", "pdf"}
    assert res.tables and all(len(t) for t in res.tables.values())
    assert os.path.isdir(os.path.join(shared_out, "feature_cache", "embeddings"))


def test_tiny_deployment_names_both_oracles_and_reruns_from_the_cache(shared_out):
    res = run_real_deployment("tiny", RunOptions(out=shared_out, quiet=True))
    assert "**judge**" in res.markdown and "**semi-synthetic**" in res.markdown
    assert set(res.tables["summary"]["oracle"]) == {"judge", "semi-synthetic"}
    assert set(res.tables["curves"]["oracle"]) == {"judge", "semi-synthetic"}
    again = run_real_deployment("tiny", RunOptions(out=shared_out, quiet=True))
    assert "texts from the feature cache" in again.markdown  # nothing embedded the second time
    cols = ["oracle", "algorithm", "cum_reward", "regret", "win_rate", "final_win_rate"]
    assert again.tables["summary"][cols].equals(res.tables["summary"][cols])


def test_tiny_active_quotes_the_paper(shared_out):
    res = run_real_active("tiny", RunOptions(out=shared_out, quiet=True))
    assert "69.51 +- 0.5" in res.markdown and "70.43 +- 0.3" in res.markdown


@pytest.mark.parametrize("run", RUNS, ids=lambda f: f.__name__)
def test_empty_data_folder_is_skipped_not_raised(run, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(DATA_ENV, str(empty))
    res = run("tiny", RunOptions(out=str(tmp_path / "out"), quiet=True))
    assert res.markdown.startswith("skipped: ")
    assert "not found" in res.markdown
    assert res.figures == [] and res.tables == {}
