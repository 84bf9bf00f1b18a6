"""A researcher's algorithm, defined in a file outside the project (the README's example),
runs through run (both stages), paper_repro, theory_checks and the estimator test kit."""

import os
import re
import sys

import numpy as np
import pandas as pd
import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", open(README).read(), flags=re.S)


@pytest.fixture(scope="module")
def user_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_code")
    (block,) = [b for b in readme_blocks() if b.startswith("# my_estimators.py")]
    (folder / "my_estimators.py").write_text(block)
    sys.path.insert(0, str(folder))
    import my_estimators

    yield my_estimators
    sys.path.remove(str(folder))
    sys.modules.pop("my_estimators", None)
    from algorithms.registry import names, unregister

    for n in names(builtin=False):
        if n.startswith("my-"):
            unregister(n)


def test_readme_usage_block_runs(user_module):
    (block,) = [b for b in readme_blocks() if "check_estimator(my_estimators.MODEL)" in b]
    ns: dict = {}
    exec(compile(block.replace("T=5_000", "T=500"), "README.md", "exec"), ns)
    assert ns["res"].records["algorithm"].iloc[0] == "my-algorithm4"


def test_user_algorithms_run_in_both_stages_and_match_the_builtins(user_module):
    from algorithms.registry import load, run
    from sim import random_directions_env

    env = random_directions_env(n_x=10, K=6, d=4, B=2.0, seed=1)
    dep = run("my_estimators:deployment", env, 800, 0)
    ref = run("algorithm4", env, 800, 0, project=False)
    np.testing.assert_allclose(dep.records["regret"], ref.records["regret"], rtol=1e-12)
    np.testing.assert_allclose(dep.theta, ref.theta, atol=1e-12)
    assert dep.records["reward_model"].iloc[0] == "my-omd"
    explore = run(load("my_estimators:explore"), env, 400, 0)
    a, a2 = explore.rounds["a"].to_numpy(), explore.rounds["a2"].to_numpy()
    assert np.all(a != a2) and a2.min() >= 0 and a2.max() < env.K
    pas = run("my_estimators:passive", env, 2000, 0, behaviour="skewed", checkpoints=4,
              n_eval=200)
    ref = run("passive-omd-pessimistic", env, 2000, 0, behaviour="skewed", checkpoints=4,
              n_eval=200, project=False)
    np.testing.assert_allclose(pas.records["subopt"], ref.records["subopt"], atol=1e-9)
    act = run("my_estimators:active", env, 300, 0, checkpoints=3, n_eval=100)
    assert act.records["stage"].iloc[0] == "active" and np.isfinite(act.theta).all()


def test_user_algorithms_through_paper_repro_and_theory_checks(user_module, tmp_path):
    from paper_repro.cli import main
    from paper_repro.theory_cli import main as theory_main

    out = tmp_path / "repro"
    code = main(["passive-synthetic", "deployment-synthetic", "--scale", "tiny", "--quiet",
                 "--workers", "1", "--out", str(out), "--algorithms",
                 "my_estimators:passive,my_estimators:deployment,my_estimators:explore"])
    assert code == 0
    report = (out / "report.md").read_text()
    for name in ("my-passive", "my-algorithm4", "my-greedy-random"):
        assert name in report
    dep = pd.read_csv(out / "tables" / "deployment-synthetic_records.csv")
    assert {"my-algorithm4", "my-greedy-random"} <= set(dep["algorithm"])
    assert any(f.startswith("deployment_regret") for f in os.listdir(out / "figures"))

    checks = tmp_path / "checks"
    code = theory_main(["--tiny", "--workers", "1", "--out", str(checks), "--algorithms",
                        "my_estimators:deployment"])
    verdicts = pd.read_csv(checks / "verdicts.csv")
    mine = verdicts[verdicts["check"].str.contains("my-algorithm4")]
    assert {"coverage", "instance", "rate"} <= {c.split("[")[0].split("-")[0] for c in mine["check"]}
    assert code in (0, 1)


def test_bad_user_algorithm_names_are_one_line_errors(user_module, tmp_path, capsys):
    from paper_repro.cli import main

    assert main(["passive-synthetic", "--scale", "tiny", "--out", str(tmp_path),
                 "--algorithms", "my_estimators:nothing"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    assert main(["passive-synthetic", "--scale", "tiny", "--out", str(tmp_path),
                 "--algorithms", "my_estimators"]) == 2
    assert "module:attribute" in capsys.readouterr().err
