"""Warm kernels, through the runner: every notebook still runs in a fresh kernel of its own (forked from a
process that imported the stack once), over IPC sockets; a warm process that is gone or unusable means
ordinary kernel starts, never a failed task; the artifacts are the same bytes as with ordinary kernels."""

from __future__ import annotations

import json
import os
import time

from helpers import WINDOW, kernels_under, stop_warm_processes_under, warm_processes_under

# Notebook 03 leaves everything it can behind: a name, a module in sys.modules, a changed matplotlib
# default, an environment variable, a changed working folder. Notebook 04 must see none of it.
LEAVE_STATE_BEHIND = """
import json, os, sys
import matplotlib
LEAKED_FROM_03 = 1
sys.modules["aapl_test_leaked_module"] = sys
matplotlib.rcParams["lines.linewidth"] = 7.5
os.environ["AAPL_TEST_LEAKED"] = "1"
from ipykernel import get_connection_info
assert json.loads(get_connection_info())["transport"] == "ipc", get_connection_info()
"""
SEE_NOTHING = """
import os, sys
import matplotlib
assert "LEAKED_FROM_03" not in globals()
assert "aapl_test_leaked_module" not in sys.modules
assert matplotlib.rcParams["lines.linewidth"] != 7.5
assert "AAPL_TEST_LEAKED" not in os.environ
"""
# A sitecustomize that makes the warm process fail while it starts (as a broken preload would).
WARM_PROCESS_FAILS = """
import os, pathlib
if b"aapl_lib.runner.kernels.fork_server" in pathlib.Path("/proc/self/cmdline").read_bytes():
    os._exit(3)
"""
ARTIFACTS = ("data/raw.csv", "data/cleaned.csv", "data/features.csv", "model/model.skops", "data/predictions.csv")


def _kernel_starts(project) -> dict[str, str]:
    """How the kernel of each task executed in the newest run started."""
    return {name: rec["kernel"]["start"] for name, rec in project.manifest()["tasks"].items() if "kernel" in rec}


def test_each_notebook_runs_in_a_fresh_kernel_forked_warm_over_ipc(project):
    project.add_cell("03_feature_engineering.ipynb", LEAVE_STATE_BEHIND)
    project.add_cell("04_model_training.ipynb", SEE_NOTHING)
    try:
        proc = project.run(*WINDOW, "--start-task", "feature_engineering", "--end-task", "model_training")
    finally:
        project.restore("03_feature_engineering.ipynb")
        project.restore("04_model_training.ipynb")
    assert proc.returncode == 0, proc.stderr
    assert _kernel_starts(project) == {"feature_engineering": "fork", "model_training": "fork"}
    record = project.manifest()["tasks"]["model_training"]["kernel"]
    assert "pandas" in record["preloaded"] and "sklearn.linear_model" in record["preloaded"]
    assert record["prebuilt"] == ["aapl_lib.data.trading_calendar:sessions"]
    assert record["started_ahead"]  # started while notebook 03 ran, and still a kernel of its own
    log = (project.latest() / "logs" / "model_training.log").read_text()
    assert "kernel: forked from the warm process (preloaded numpy, pandas" in log
    assert not kernels_under(project.root)  # no kernel or launcher outlives the run
    assert warm_processes_under(project.root) == [record["warm_pid"]]  # kept for the next run


def _warm(project, *args: str) -> dict:
    proc = project.run(*WINDOW, "--only", "data_cleaning", "--force", *args)
    assert proc.returncode == 0, proc.stderr
    return project.manifest()["tasks"]["data_cleaning"]["kernel"]


def _gone(pid: int, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        if pid not in warm_processes_under(PROJECT_ROOT[0]):
            return True
        time.sleep(0.2)
    return False


PROJECT_ROOT: list = []


def test_the_warm_process_is_kept_for_the_next_run_until_idle_or_out_of_date(project):
    PROJECT_ROOT[:] = [project.root]
    stop_warm_processes_under(project.root)
    first = _warm(project)
    again = _warm(project)  # the next run forks from the same process: no imports to wait for
    assert first["start"] == again["start"] == "fork" and again["warm_pid"] == first["warm_pid"]
    assert again["warm_started_at"] == first["warm_started_at"] <= project.manifest()["created_at"]
    # a file it imported changed (an upgrade, an edit): it refuses and ends; a new one serves the run
    package = project.root / "aapl_lib" / "__init__.py"
    os.utime(package, ns=(package.stat().st_atime_ns, package.stat().st_mtime_ns + 10**9))
    fresh = _warm(project)
    assert fresh["start"] == "fork" and fresh["warm_pid"] != first["warm_pid"]
    assert _gone(first["warm_pid"], within=10)
    # idle for warm_kernels_keep_seconds: it ends by itself
    stop_warm_processes_under(project.root)
    brief = _warm(project, "-p", "warm_kernels_keep_seconds", "15")  # room for a loaded machine
    assert warm_processes_under(project.root) == [brief["warm_pid"]]
    assert _gone(brief["warm_pid"], within=40)
    # 0: it ends with its run
    assert _warm(project, "-p", "warm_kernels_keep_seconds", "0")["start"] == "fork"
    assert not warm_processes_under(project.root) and not kernels_under(project.root)


def test_a_warm_process_that_cannot_start_means_ordinary_kernels_not_failed_tasks(project, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(WARM_PROCESS_FAILS)
    proc = project.run(
        *WINDOW, "--only", "data_cleaning", "--force", env={"PYTHONPATH": f"{tmp_path / 'site'}:{project.root}"}
    )
    assert proc.returncode == 0, proc.stderr
    kernel = project.manifest()["tasks"]["data_cleaning"]["kernel"]
    assert kernel["start"] == "cold" and "the warm process exited with 3" in kernel["reason"]
    assert (
        "kernel: ordinary start (the warm process exited with 3"
        in (project.latest() / "logs" / "data_cleaning.log").read_text()
    )


KILL_WARM_PROCESS_AND_NEXT_KERNEL = """
import os, signal, pathlib
warm = os.getppid()  # a forked kernel's parent is the warm process; its other children are kernels too
for proc in pathlib.Path("/proc").iterdir():
    if proc.name.isdigit() and int(proc.name) != os.getpid():
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == warm:
                os.kill(int(proc.name), signal.SIGKILL)  # the kernel started ahead for notebook 03
        except (OSError, ValueError):
            pass
os.kill(warm, signal.SIGKILL)
"""


def test_a_warm_process_killed_mid_run_is_replaced_and_every_task_succeeds(project):
    project.add_cell("02_data_cleaning.ipynb", KILL_WARM_PROCESS_AND_NEXT_KERNEL)
    try:
        proc = project.run(*WINDOW, "--force", "--end-task", "feature_engineering")
    finally:
        project.restore("02_data_cleaning.ipynb")
    assert proc.returncode == 0, proc.stderr
    assert set(project.executed()) == {"data_ingestion", "data_cleaning", "feature_engineering"}
    assert _kernel_starts(project)["feature_engineering"] == "fork"  # from a new warm process
    assert not kernels_under(project.root)


def test_warm_and_ordinary_kernels_write_the_same_bytes(project):
    proc = project.run(*WINDOW, "--force")
    assert proc.returncode == 0, proc.stderr
    warm = project.manifest()
    proc = project.run(*WINDOW, "--force", "-p", "warm_kernels", "false")
    assert proc.returncode == 0, proc.stderr
    cold = project.manifest()
    assert set(_kernel_starts(project).values()) == {"cold"}
    assert {t["kernel"]["start"] for t in warm["tasks"].values()} == {"fork"}

    def shas(manifest: dict) -> dict[str, str]:
        return {k: v["sha256"] for t in manifest["tasks"].values() for k, v in (t.get("artifacts") or {}).items()}

    same = {k for k in shas(warm) if shas(warm)[k] == shas(cold)[k]}
    assert set(ARTIFACTS) <= same
    # all but the files that carry the run's id or the time: provenance, the gate's stamp and the report
    assert set(shas(warm)) - same <= {
        "data/provenance.json",
        "reports/gate.json",
        "reports/decision.json",
        "reports/analysis.md",
        "reports/summary.pdf",
    }, json.dumps(sorted(set(shas(warm)) - same))


def test_a_rendering_failure_is_reported_and_never_fails_a_task(project):
    # notebook 01 puts a file where the HTML folder goes: every rendering of the run fails
    project.add_cell(
        "01_data_ingestion.ipynb", "import pathlib\n(pathlib.Path(run_dir) / 'html').write_text('not a folder')"
    )
    try:
        proc = project.run(*WINDOW, "--force", "--end-task", "data_cleaning")
    finally:
        project.restore("01_data_ingestion.ipynb")
    assert proc.returncode == 0, proc.stderr
    tasks = project.manifest()["tasks"]
    for name in ("data_ingestion", "data_cleaning"):
        assert tasks[name]["status"] == "success" and "html" not in tasks[name]
        assert "html_error" in tasks[name]
    page = (project.latest() / "index.html").read_text()
    assert page.count("HTML rendering failed") == 2


def test_the_run_waits_for_its_pages_and_the_cache_learns_them(project):
    proc = project.run(*WINDOW, "--force", "--end-task", "data_cleaning")
    assert proc.returncode == 0, proc.stderr
    run = project.latest()
    executed = [rec for rec in project.manifest()["tasks"].values() if rec["status"] == "success"]
    assert len(executed) == 2
    for rec in executed:
        assert (run / rec["html"]).is_file() and (run / rec["report_html"]).is_file()
    # the next run reuses both tasks from that run, HTML included (the cache learnt the pages' paths)
    proc = project.run(*WINDOW, "--end-task", "data_cleaning")
    assert proc.returncode == 0, proc.stderr
    again = project.latest()
    assert again != run
    for name in ("data_ingestion", "data_cleaning"):
        rec = project.manifest()["tasks"][name]
        assert rec["status"] == "reused" and rec["reused_from"] == run.name, rec
        assert (again / rec["html"]).is_file() and (again / rec["report_html"]).is_file()


def test_executed_notebooks_are_written_as_papermill_writes_them(project):
    """The runner's engine saves faster while a notebook runs; the notebook it leaves is papermill's own bytes:
    validated nbformat, as nbformat writes it."""
    import nbformat

    proc = project.run(*WINDOW, "--only", "data_cleaning", "--force")
    assert proc.returncode == 0, proc.stderr
    text = (project.latest() / "notebooks" / "02_data_cleaning.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nbformat.writes(nb) == text
    assert all(c.metadata.papermill.status == "completed" for c in nb.cells if "papermill" in c.metadata)
