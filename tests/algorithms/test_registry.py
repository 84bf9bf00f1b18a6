"""One registry for both stages: typed entries, typed options, user registration."""

import sys

import numpy as np
import pandas as pd
import pytest

from algorithms.deployment_registry import DEPLOYMENT_ALGORITHMS
from algorithms.models import OMD_MODEL
from algorithms.records import CONFIG_COLUMNS, conform, schema, seed_fields
from algorithms.registry import Algorithm, Option, find, get, load, names, register, run, unregister
from algorithms.training import TRAINING_ALGORITHMS
from sim import random_directions_env


def test_names_by_stage_and_views():
    assert names("passive")[0] == "passive-omd-pessimistic"
    assert names("active")[0] == "active-omd"
    assert names("deployment")[0] == "algorithm4"
    assert set(TRAINING_ALGORITHMS) == set(names(("passive", "active")))
    assert set(DEPLOYMENT_ALGORITHMS) == set(names("deployment"))
    assert len(set(names())) == len(names())


def test_entries_are_typed_tuples_not_names():
    a = get("algorithm4-rule-mle")
    assert (a.stage, a.selector, a.model, a.output) == ("deployment", "algorithm4", "mle",
                                                         "greedy")
    assert get("dueling-rl-mle").selector == "maxinp"
    assert find("deployment", "llm", "omd", strategy="quantile").name == "llm-quantile-omd"
    assert get("apo").variant["matrix"] == "V"


@pytest.mark.parametrize("kwargs, match", [
    (dict(stage="training"), "stage must be one of"),
    (dict(selector="max-norm"), "selector must be one of"),
    (dict(output="average"), "output must be one of"),
    (dict(model="newton"), "model must be one of"),
    (dict(name="a:b"), "without ':'"),
])
def test_bad_entries(kwargs, match):
    base = dict(name="x", stage="deployment", selector="algorithm4", model="omd",
                output="greedy")
    with pytest.raises(ValueError, match=match):
        Algorithm(**{**base, **kwargs})


def test_register_and_unregister():
    alg = Algorithm("test-registry-omd", "deployment", "algorithm4", OMD_MODEL, "greedy")
    register(alg)
    try:
        assert get("test-registry-omd") is alg
        assert "test-registry-omd" in DEPLOYMENT_ALGORITHMS
        assert "test-registry-omd" in names(builtin=False)
        with pytest.raises(ValueError, match="already registered"):
            register(Algorithm("test-registry-omd", "passive", "behaviour", "omd", "greedy"))
    finally:
        unregister("test-registry-omd")
    assert "test-registry-omd" not in DEPLOYMENT_ALGORITHMS
    with pytest.raises(ValueError, match="already registered"):
        register(Algorithm("algorithm4", "deployment", "algorithm4", OMD_MODEL, "greedy"),
                 replace=True)
    with pytest.raises(ValueError, match="built in"):
        unregister("algorithm4")


def test_load_errors(tmp_path, monkeypatch):
    (tmp_path / "reg_mod.py").write_text(
        "from algorithms.registry import Algorithm\n"
        "from algorithms.models import OMD_MODEL\n"
        "ok = Algorithm('reg-mod-ok', 'passive', 'behaviour', OMD_MODEL, 'greedy')\n"
        "def make():\n    return ok\n"
        "not_alg = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load("reg_mod:ok").name == "reg-mod-ok"
    assert load("reg_mod:make") is load("reg_mod:ok")
    assert get("reg_mod:ok").name == "reg-mod-ok"
    with pytest.raises(ValueError, match="cannot import module 'no_such_mod'"):
        load("no_such_mod:x")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        load("reg_mod:missing")
    with pytest.raises(ValueError, match="must be an algorithms.registry.Algorithm"):
        load("reg_mod:not_alg")
    with pytest.raises(ValueError, match="module:attribute"):
        load("reg_mod")
    unregister("reg-mod-ok")
    sys.modules.pop("reg_mod", None)


@pytest.mark.parametrize("option, value, match", [
    (Option("p", "bool", True, ""), "False", "must be True or False"),
    (Option("p", "bool", True, ""), 0, "must be True or False"),
    (Option("n", "int", 1, "", minimum=1), 0, "must be >= 1"),
    (Option("n", "int", 1, ""), 2.5, "must be an int"),
    (Option("x", "float", 1.0, "", positive=True), 0.0, "must be > 0"),
    (Option("x", "float", 1.0, ""), float("nan"), "finite number"),
    (Option("s", "choice", "a", "", choices=("a", "b")), "c", "must be one of a, b"),
])
def test_options_are_parsed_by_type(option, value, match):
    with pytest.raises(ValueError, match=match):
        option.parse(value, "alg")


def test_training_options_are_typed_and_recorded():
    env = random_directions_env(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match="option project must be True or False"):
        run("passive-omd-greedy", env, 10, 0, project="False")
    res = run("passive-omd-greedy", env, 10, 0, project=False, checkpoints=2, n_eval=10)
    assert res.records["options"].iloc[0] == '{"project": false, "skew_eps": 0.05}'
    assert res.config["options"] == {"project": False, "skew_eps": 0.05}


def test_records_follow_the_schema_and_survive_parquet(tmp_path):
    env = random_directions_env(4, 3, 2, seed=0)
    for name, kw in (("passive-sgd-greedy", dict(checkpoints=3, n_eval=20)),
                     ("maxinp-mle", dict(checkpoints=3))):
        res = run(name, env, 30, np.random.SeedSequence(5), **kw)
        cols = schema(res.stage)
        assert list(res.records.columns) == [c.name for c in cols]
        assert {c.name: str(res.records[c.name].dtype) for c in cols} == \
            {c.name: str(pd.Series([], dtype=c.dtype).dtype) for c in cols}
        assert (res.records["seed"] == -1).all() and (res.records["seed_key"] == "5").all()
        path = tmp_path / f"{name}.parquet"
        res.records.to_parquet(path)
        back = pd.read_parquet(path)
        assert dict(back.dtypes.astype(str)) == dict(res.records.dtypes.astype(str))


def test_conform_names_missing_columns_and_seed_fields():
    with pytest.raises(ValueError, match="deployment records lack column"):
        conform(pd.DataFrame({"t": [1]}), "deployment", {})
    assert seed_fields(3) == (3, "")
    assert seed_fields(np.random.SeedSequence(9).spawn(2)[1]) == (-1, "9/1")
    assert {c.name for c in CONFIG_COLUMNS} >= {"seed", "options", "selector", "output"}
