"""The notebooks themselves: parameters cells match the task specs and params/default.yaml, they are
committed without outputs, and a notebook whose input is missing says which command produces it (and after
that command it runs)."""

from __future__ import annotations

import json
import re

import papermill as pm
import pytest
import yaml

from aapl_lib.pipeline.tasks import TASKS
from helpers import ROOT

DEFAULTS = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_parameters_cell_matches_spec_and_default_profile(task):
    nb_path = ROOT / "notebooks" / task.notebook
    declared = pm.inspect_notebook(str(nb_path))
    assert set(declared) == set(task.params) | {"run_dir", *task.runner_values}
    for name in task.params:
        assert declared[name]["default"] == repr(DEFAULTS[name]), name
    nb = json.loads(nb_path.read_text())
    assert "parameters" in nb["cells"][0]["metadata"].get("tags", [])
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("task", [t for t in TASKS if "ticker" in t.params and t.inputs], ids=lambda t: t.name)
def test_a_notebook_given_the_ticker_has_its_step_check_it(task):
    """One run, one ticker: a notebook that declares ``ticker`` and reads upstream files hands it to
    ``start_step``, which refuses upstream data or a model of another ticker (tests/unit/runner)."""
    source = "".join(
        "".join(c["source"]) for c in json.loads((ROOT / "notebooks" / task.notebook).read_text())["cells"]
    )
    call = re.search(r"start_step\(([^)]*)\)", source)
    assert call and "ticker=ticker" in call.group(1), f"{task.notebook}: start_step(..., ticker=ticker)"
    for name in task.runner_values:
        assert f"{name}={name}" in call.group(1), f"{task.notebook}: start_step(..., {name}={name})"
