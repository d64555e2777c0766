"""What an analyst expects of the package in their own Jupyter kernel and shell: importing it leaves their
plotting backend alone, the figures are still written, and the pipeline is a console command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

# An analyst's kernel has its own backend (inline in Jupyter); "svg" stands in for it here. Importing the
# library and drawing every figure it draws must leave it as it was.
KEEP_THE_BACKEND = """
import matplotlib
matplotlib.use("svg")
import numpy as np, pandas as pd, sys
from pathlib import Path
import aapl_lib.modeling.evaluation_plots as plots
import aapl_lib.views.dag as dag
import aapl_lib.views.batch_summary as batch_summary
out = Path(sys.argv[1])
days = pd.bdate_range("2020-01-01", periods=60)
rng = np.random.default_rng(0)
pred = pd.DataFrame({"actual": rng.normal(0, 0.01, 60), "model": rng.normal(0, 0.005, 60)}, index=days)
daily = pd.DataFrame({k: rng.normal(0, 0.01, 60) for k in ("buy_and_hold", "long_flat", "long_short")}, index=days)
plots.plot_predicted_vs_actual(pred, out / "pva.png", "AAPL")
plots.plot_residuals(pred, out / "resid.png", "AAPL")
plots.plot_cumulative(daily, out / "cum.png", "AAPL", 5.0)
dag.draw(out / "dag.png")
print(matplotlib.get_backend())
"""


def test_the_library_never_switches_an_analysts_plotting_backend(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KEEP_THE_BACKEND, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "svg"
    for name in ("pva.png", "resid.png", "cum.png", "dag.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name  # PNGs, drawn by Agg


def test_aapl_pipeline_is_the_runner_as_a_console_command(tmp_path):
    """`aapl-pipeline` (installed with the package) is `python runner.py`: same help, same commands."""
    command = shutil.which("aapl-pipeline", path=str(Path(sys.executable).parent))
    assert command, "aapl-pipeline is not installed next to the interpreter: pip install -e ."
    mine = subprocess.run([command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    theirs = subprocess.run(
        [sys.executable, "runner.py", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert mine.returncode == theirs.returncode == 0, mine.stderr
    # argparse wraps the usage lines by the program name's length: compare the words, not the line breaks
    assert mine.stdout.replace("aapl-pipeline", "python runner.py").split() == theirs.stdout.split()
    listed = subprocess.run([command, "--list-params"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert listed.returncode == 0 and "warm_kernels_keep_seconds" in listed.stdout, listed.stderr


def test_make_dev_keeps_outputs_out_of_commits(tmp_path):
    """`make dev` installs nbstripout as the clone's git filter: a notebook saved with outputs is committed
    without them, while the analyst's file keeps its outputs."""
    import json

    repo = tmp_path / "clone"
    (repo / "notebooks").mkdir(parents=True)
    git = ["git", "-c", "user.name=analyst", "-c", "user.email=a@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    nb = json.loads((ROOT / "notebooks" / "05_model_evaluation.ipynb").read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["RMSE 0.0123\n"]}]
    code["execution_count"] = 7
    saved = repo / "notebooks" / "05.ipynb"
    saved.write_text(json.dumps(nb, indent=1))
    nbstripout = Path(sys.executable).parent / "nbstripout"
    make_dev = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "nbstripout --install" in line)
    assert make_dev.strip() == "$(VENV)/bin/nbstripout --install"  # the command `make dev` runs, run here
    subprocess.run([str(nbstripout), "--install"], cwd=repo, check=True)
    subprocess.run([*git, "add", "notebooks/05.ipynb"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "analysis"], cwd=repo, check=True)
    committed = json.loads(
        subprocess.run(["git", "show", "HEAD:notebooks/05.ipynb"], cwd=repo, capture_output=True, text=True).stdout
    )
    cells = [c for c in committed["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells)
    assert "RMSE 0.0123" in saved.read_text()  # the working copy is untouched
