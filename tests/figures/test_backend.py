"""Importing figures and making a figure leave matplotlib's backend and global rcParams alone."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import matplotlib
    import pandas as pd

    def state():
        rc = {k: repr(v) for k, v in matplotlib.rcParams.items() if k != "backend"}
        return matplotlib.get_backend(), rc, matplotlib.colors.to_rgb("k")

    before = state()
    import figures
    from figures.curves import plot_regret
    from figures.real_data import plot_active_table
    from figures.timing import plot_throughput
    imported = state()
    out = sys.argv[1]
    df = pd.DataFrame(dict(algorithm=["omd", "omd", "mle", "mle"], seed=[0, 1, 0, 1], t=[1, 1, 1, 1],
                           regret=[1.0, 2.0, 3.0, 4.0], eval_acc=[0.6, 0.7, 0.5, 0.6],
                           wall_time=[1.0, 1.2, 3.0, 3.3]))
    plot_regret(df, out + "/regret")
    plot_active_table(df, out + "/active")
    plot_throughput(pd.DataFrame(dict(mode=["a", "a"], d=[4, 8], updates_per_s=[2.0, 1.0])),
                    out + "/throughput")
    drawn = state()
    print(json.dumps(dict(before=before[0], imported=imported[0], drawn=drawn[0],
                          rc_after_import=imported[1] == before[1],
                          rc_after_drawing=drawn[1] == before[1],
                          black=[list(imported[2]), list(drawn[2])])))
""")


@pytest.mark.parametrize("backend", ["svg", "pdf"])
def test_figures_keep_the_backend(tmp_path, backend):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "MPLBACKEND": backend,
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["before"].lower() == backend
    assert got["imported"] == got["before"] and got["drawn"] == got["before"]
    assert got["rc_after_import"] and got["rc_after_drawing"]
    assert got["black"] == [[0.0, 0.0, 0.0]] * 2
    assert sorted(os.listdir(tmp_path)) == sorted(
        f"{stem}.{ext}" for stem in ("regret", "active", "throughput") for ext in ("png", "pdf"))
