"""The notebooks themselves: parameters cells match the task specs and params/default.yaml, they are
committed without outputs, and a notebook whose input is missing says which command produces it (and after
that command it runs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import papermill as pm
import pytest

from aapl_lib.pipeline.tasks import TASKS
from helpers import ROOT


def committed_text(relative: str) -> str:
    """The file as committed (HEAD) in a git checkout, else as it is on disk: an analyst's working copy may hold
    outputs that the nbstripout filter (``make dev``) keeps out of every commit."""
    import subprocess

    shown = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else (ROOT / relative).read_text()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_committed_without_outputs(task):
    nb = json.loads(committed_text(f"notebooks/{task.notebook}"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_missing_upstream_input_names_the_producing_command(tmp_path, monkeypatch):
    from aapl_lib.runner.kernels.manager import same_interpreter_kernel_manager

    monkeypatch.setenv("AAPL_OUTPUTS_DIR", str(tmp_path))
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "03_feature_engineering.ipynb"),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(ROOT / "notebooks"),
            kernel_manager_class=same_interpreter_kernel_manager(),
        )
    err = info.value
    assert err.ename == "MissingInputError"
    assert "data/cleaned.csv" in err.evalue and "02_data_cleaning.ipynb" in err.evalue
    assert "python runner.py --run-dir" in err.evalue and "--end-task data_cleaning" in err.evalue

    # the analyst runs the command it names, as printed, and the notebook then runs with its defaults
    command = re.search(r"python runner\.py (--run-dir \S+ --end-task \w+)", err.evalue).group(1).split()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "runner.py"), *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AAPL_OUTPUTS_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "interactive" / "data" / "cleaned.csv").is_file()
    pm.execute_notebook(
        str(ROOT / "notebooks" / "03_feature_engineering.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(ROOT / "notebooks"),
        kernel_manager_class=same_interpreter_kernel_manager(),
    )
    assert (tmp_path / "interactive" / "data" / "features.csv").is_file()
