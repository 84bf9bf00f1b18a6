"""The README's API example runs as written."""

import os
import re

import numpy as np


def test_readme_example_runs():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    assert ns["path"].shape == (ns["T"] + 1, ns["env"].d)
    assert np.linalg.norm(ns["path"], axis=1).max() <= ns["env"].B * (1 + 1e-14)
    assert ns["env"].suboptimality(ns["greedy"]) >= 0.0
