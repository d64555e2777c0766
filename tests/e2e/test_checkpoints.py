"""Checkpoints: resume (after a failure and after kill -9), incremental reuse, locks, timeouts, retries,
hooks, retention, and the cost of a rerun with nothing to do.

These tests run a copy of the project (runner.py, notebooks/, params/, aapl_lib/) in a temporary folder, so
they can edit notebooks and library code without touching the repository. PYTHONPATH points the runner and
its kernels at the copy's aapl_lib.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from helpers import WINDOW, hold_lock, kernels_under

ALL = ["data_ingestion", "data_cleaning", "feature_engineering", "model_training", "model_evaluation", "reporting"]


SLEEP = "import os, time\ntime.sleep(float(os.environ.get('AAPL_TEST_SLEEP', '0')))"


# `project` (conftest.py): this module's copy of a project with one finished run of WINDOW.


def test_a_rerun_with_nothing_changed_reuses_every_task(project):
    first = project.latest()
    proc = project.run(*WINDOW)
    assert proc.returncode == 0, proc.stderr
    second = project.latest()
    assert second != first
    manifest = project.manifest(second)
    assert {rec["status"] for rec in manifest["tasks"].values()} == {"reused"}
    assert {rec["reused_from"] for rec in manifest["tasks"].values()} == {first.name}
    for task in manifest["tasks"].values():
        for rel in task["artifacts"]:
            assert (second / rel).is_file()
    assert (second / "notebooks" / "05_model_evaluation.ipynb").is_file()
    assert (second / "html" / "06_reporting.html").is_file()
    assert proc.stdout.count("reused from run") == 6


def test_a_rerun_with_nothing_changed_imports_no_heavy_library(project):
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['runner.py', *{WINDOW!r}]\n"
        "try:\n    runpy.run_path('runner.py', run_name='__main__')\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(sorted(m for m in ('pandas', 'papermill', 'nbformat', 'numpy', 'scrapbook') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=project.root, env=project.env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_editing_a_reused_file_in_place_leaves_the_run_it_came_from_intact(project):
    """Reused files are copies: an analyst who edits one in place (pandas' ``to_csv``, an editor) changes
    only that run, never the earlier run it was reused from."""
    proc = project.run(*WINDOW)
    assert proc.returncode == 0, proc.stderr
    reused = project.latest()
    source = project.outputs / "runs" / project.manifest(reused)["tasks"]["data_cleaning"]["reused_from"]
    with open(reused / "data" / "cleaned.csv", "a", encoding="utf-8") as handle:  # in place, same inode
        handle.write("# an analyst's note\n")
    recorded = project.manifest(source)["tasks"]["data_cleaning"]["artifacts"]["data/cleaned.csv"]["sha256"]
    from aapl_lib.io.iorw import sha256_file

    assert sha256_file(source / "data" / "cleaned.csv") == recorded
    assert project.run("resume", reused.name).returncode == 0  # the edited copy is found changed and redone
    assert sha256_file(reused / "data" / "cleaned.csv") == recorded


def test_editing_a_notebook_reruns_that_task_only(project):
    project.add_cell("05_model_evaluation.ipynb", "# a reviewer's note: nothing computed differently")
    try:
        proc = project.run(*WINDOW)
    finally:
        project.restore("05_model_evaluation.ipynb")
    assert proc.returncode == 0, proc.stderr
    # reporting's inputs came out byte-identical, so it is reused too
    assert project.executed() == {"model_evaluation"}
    assert "changed: notebook source" in proc.stdout


def test_changing_a_parameter_reruns_the_tasks_that_read_it_and_what_follows(project):
    # test_fraction is read by training only; the new split changes the model, its evaluation and the report
    proc = project.run(*WINDOW, "-p", "test_fraction", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert project.executed() == {"model_training", "model_evaluation", "reporting"}
    statuses = project.statuses()
    assert [statuses[t] for t in ALL[:3]] == ["reused"] * 3


def test_editing_an_aapl_lib_module_reruns_the_tasks_that_import_it(project):
    path = project.root / "aapl_lib" / "features" / "build.py"
    original = path.read_text()
    path.write_text(
        original.replace(
            '    """Wilder\'s relative strength index (0..100), from closes up to each day."""',
            '    """Wilder\'s RSI (0..100), from closes up to each day."""',
        )
    )
    try:
        proc = project.run(*WINDOW)
    finally:
        path.write_text(original)
    assert proc.returncode == 0, proc.stderr
    # features/build.py is imported by notebooks 03, 04 (TARGET) and 05; not by 01, 02 or 06
    assert project.executed() == {"feature_engineering", "model_training", "model_evaluation"}
    reasons = {name: rec.get("run_reason") for name, rec in project.manifest()["tasks"].items()}
    assert reasons["feature_engineering"] == "changed: aapl_lib code"


def test_force_and_force_task(project):
    proc = project.run(*WINDOW, "--force-task", "data_cleaning")
    assert proc.returncode == 0, proc.stderr
    assert project.executed() == {"data_cleaning"}  # its output is identical, so the rest is reused
    proc = project.run(*WINDOW, "--only", "reporting", "--force")
    assert proc.returncode == 0, proc.stderr
    assert project.executed() == {"reporting"}


def test_resume_after_a_task_failure(project):
    project.add_cell("04_model_training.ipynb", "raise RuntimeError('simulated failure in training')")
    try:
        proc = project.run(*WINDOW, "-p", "test_fraction", "0.3")
    finally:
        project.restore("04_model_training.ipynb")
    assert proc.returncode == 1
    assert not kernels_under(project.root)  # a failed notebook's kernel is shut down, not left behind
    assert "model_training" in proc.stderr and "simulated failure" in proc.stderr
    failed_run = project.latest()
    assert project.statuses(failed_run)["model_training"] == "failed"
    before = {t: project.manifest(failed_run)["tasks"][t].get("ended_at") for t in ALL[:3]}

    proc = project.run("resume", failed_run.name)
    assert proc.returncode == 0, proc.stderr
    manifest = project.manifest(failed_run)
    assert manifest["status"] == "success"
    assert [manifest["tasks"][t]["status"] for t in ALL[3:]] == ["success"] * 3
    assert {t: manifest["tasks"][t].get("ended_at") for t in ALL[:3]} == before  # not executed again
    assert proc.stdout.count("artifacts verified") == 3


def test_resume_rechecks_artifacts_and_redoes_a_changed_one(project):
    run_dir = project.latest()
    target = run_dir / "data" / "cleaned.csv"
    with open(target, "a") as fh:  # edited in place, as `>>` or a careless script would (the file may be a
        fh.write("tampered\n")  # hard link shared with the run it was reused from)
    proc = project.run("resume")  # a finished run is not what plain `resume` is for
    assert proc.returncode == 0 and "nothing to resume" in proc.stdout
    proc = project.run("resume", run_dir.name)  # naming it re-verifies every artifact
    assert proc.returncode == 0, proc.stderr
    assert "data_cleaning" in proc.stdout and "no longer matches the sha256" in proc.stdout
    manifest = project.manifest(run_dir)
    assert manifest["tasks"]["data_cleaning"]["rerun_reason"].startswith("data/cleaned.csv")
    assert all(manifest["tasks"][t]["status"] == "success" for t in ALL[1:])
    assert "tampered" not in target.read_text()


# kill -9 of the runner, then plain `resume` as a person types it: tests/e2e/test_recovery.py


def test_a_busy_run_folder_exits_4_and_a_dead_holder_is_taken_over(project):
    from aapl_lib.io.locks import PathLock

    run_dir = project.latest()
    holder = hold_lock(project.env, run_dir / ".lock")
    try:
        proc = project.run("resume", run_dir.name)
        assert proc.returncode == 4
        assert f"pid {holder.pid}" in proc.stderr and "locked" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    lock = PathLock(run_dir / ".lock", "run")
    with lock:
        assert lock.took_over and lock.took_over["pid"] == holder.pid
    proc = project.run("resume", run_dir.name)
    assert proc.returncode == 0, proc.stderr


def test_a_busy_reuse_cache_exits_4(project):
    from aapl_lib.store.reuse_cache import ReuseCache

    holder = hold_lock(project.env, ReuseCache(project.outputs).lock().lock_path)
    try:
        proc = project.run(*WINDOW, "--only", "reporting", "--force", "-p", "lock_timeout_seconds", "0")
        assert proc.returncode == 4
        assert "reuse cache" in proc.stderr and f"pid {holder.pid}" in proc.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_timed_out_cell_is_recorded_as_timed_out(project):
    project.add_cell("04_model_training.ipynb", SLEEP)
    try:
        proc = project.run(
            *WINDOW,
            "--only",
            "model_training",
            "--force",
            "-p",
            "cell_timeout_seconds",
            "2",
            env={"AAPL_TEST_SLEEP": "30"},
        )
    finally:
        project.restore("04_model_training.ipynb")
    assert proc.returncode == 1
    manifest = project.manifest()
    assert manifest["tasks"]["model_training"]["status"] == "timed_out"
    assert manifest["status"] == "timed_out"
    assert "timed out" in proc.stderr
    log = (project.latest() / "logs" / "model_training.log").read_text()
    assert "[model_training] [ERROR]" in log and "timed out" in log


def test_a_notebook_over_its_wall_clock_limit_is_stopped(project):
    project.add_cell("04_model_training.ipynb", SLEEP)
    try:
        started = time.time()
        proc = project.run(
            *WINDOW,
            "--only",
            "model_training",
            "--force",
            "-p",
            "task_timeout_seconds",
            "4",
            env={"AAPL_TEST_SLEEP": "60"},
        )
        elapsed = time.time() - started
    finally:
        project.restore("04_model_training.ipynb")
    assert proc.returncode == 1 and elapsed < 45
    assert not kernels_under(project.root)  # the watchdog stopped it; nothing waits for it to notice
    record = project.manifest()["tasks"]["model_training"]
    assert record["status"] == "timed_out" and "task_timeout_seconds=4" in record["error"]


def test_transient_failures_are_retried_with_logged_delays(project, tmp_path):
    marker = tmp_path / "failed-once"
    project.add_cell(
        "01_data_ingestion.ipynb",
        "from pathlib import Path\nfrom aapl_lib.errors import TransientSourceError\n"
        f"if not Path({str(marker)!r}).exists():\n"
        f"    Path({str(marker)!r}).touch()\n"
        "    raise TransientSourceError('simulated network outage')",
    )
    try:
        proc = project.run(
            *WINDOW,
            "--end-task",
            "data_ingestion",
            "--force",
            "-p",
            "task_retries",
            "{data_ingestion: 2}",
            "-p",
            "task_retry_wait_seconds",
            "0.01",
        )
    finally:
        project.restore("01_data_ingestion.ipynb")
    assert proc.returncode == 0, proc.stderr
    record = project.manifest()["tasks"]["data_ingestion"]
    assert record["status"] == "success"
    assert len(record["attempts"]) == 1 and "simulated network outage" in record["attempts"][0]["error"]
    assert record["attempts"][0]["delay_s"] >= 0
    log = (project.latest() / "logs" / "data_ingestion.log").read_text()
    assert "attempt 1 of 3 failed with a transient error; retrying in" in log


def test_other_tasks_do_not_retry_by_default(project):
    project.add_cell(
        "03_feature_engineering.ipynb",
        "from aapl_lib.errors import TransientSourceError\nraise TransientSourceError('x')",
    )
    try:
        proc = project.run(*WINDOW, "--only", "feature_engineering", "--force", "-p", "task_retry_wait_seconds", "0")
    finally:
        project.restore("03_feature_engineering.ipynb")
    assert proc.returncode == 1
    assert project.manifest()["tasks"]["feature_engineering"]["attempts"] == []


def test_hooks_receive_run_id_and_status(project, tmp_path):
    out = tmp_path / "hook.txt"
    proc = project.run(*WINDOW, "-p", "on_success", f'echo "$1 $2 $AAPL_RUN_STATUS" > {out}')
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == [project.latest().name, "success", "success"]
    proc = project.run(
        *WINDOW,
        "--only",
        "model_training",
        "-p",
        "ridge_alpha",
        "oops",
        "-p",
        "on_failure",
        f"echo $AAPL_RUN_ID > {out}",
    )
    assert proc.returncode == 2  # bad parameter: nothing ran, no hook
    project.add_cell("06_reporting.ipynb", "raise RuntimeError('report broke')")
    try:
        proc = project.run(*WINDOW, "-p", "on_failure", f'echo "$1 $2" > {out}')
    finally:
        project.restore("06_reporting.ipynb")
    assert proc.returncode == 1
    assert out.read_text().split() == [project.latest().name, "failed"]


def test_status_and_list(project):
    proc = project.run("status")
    assert proc.returncode == 0, proc.stderr
    for task in ALL:
        assert task in proc.stdout
    assert str(project.latest() / "notebooks") in proc.stdout
    data = json.loads(project.run("status", "--json").stdout)
    assert data["run_id"] == project.latest().name and len(data["tasks"]) == 6
    listing = json.loads(project.run("list", "--json").stdout)
    assert listing[0]["run_id"] == project.latest().name
    assert len(listing) == len(list((project.outputs / "runs").iterdir()))
    proc = project.run("status", "20990101T000000Z-none-000000")
    assert proc.returncode == 2 and "no run" in proc.stderr


def test_prune_command_line(project, tmp_path):
    proc = project.run("prune", "--keep-days", "30", "--dry-run")
    assert proc.returncode == 0 and "would delete 0 run(s)" in proc.stdout
    # for real, on a copy of the outputs: every run but the latest goes, and the cache forgets them
    copy = tmp_path / "outputs"
    shutil.copytree(project.outputs, copy, symlinks=True)
    for alpha in ("2", "3"):  # at least three runs, whatever ran before in this module
        if len(list((copy / "runs").iterdir())) < 3:
            assert project.run(*WINDOW, "-p", "ridge_alpha", alpha, "--outputs", str(copy)).returncode == 0
    runs = sorted(p.name for p in (copy / "runs").iterdir())
    latest = (copy / "latest").resolve().name
    assert len(runs) >= 3
    proc = project.run("prune", "--keep-days", "0", "--outputs", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert f"deleted {len(runs) - 1} run(s)" in proc.stdout and f"kept {latest}" in proc.stdout
    assert [p.name for p in (copy / "runs").iterdir()] == [latest]
    index = json.loads((copy / "cache" / "index.json").read_text())
    assert {e["run_id"] for e in index.values()} <= {latest}
    assert project.run("status", "--outputs", str(copy)).returncode == 0


# Loaded by every Python process of a run through PYTHONPATH: a kernel (its command line names the launcher)
# exits at once while the counter file says so, as a kernel that loses jupyter_client's port race does.
KERNEL_DIES_AT_START = """
import os, pathlib
_counter = os.environ.get("AAPL_TEST_KERNEL_DEATHS")
if _counter and b"aapl_lib.runner.kernels.launcher" in pathlib.Path("/proc/self/cmdline").read_bytes():
    _left = int(pathlib.Path(_counter).read_text() or 0)
    if _left > 0:
        pathlib.Path(_counter).write_text(str(_left - 1))
        os._exit(1)
"""


def test_a_kernel_that_fails_to_start_is_started_again(project, tmp_path):
    """Several runners starting kernels at once can lose jupyter_client's port race ('Address already in use'):
    the kernel dies before the first cell, and starting it again is safe whatever the retry policy."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(KERNEL_DIES_AT_START)
    counter = tmp_path / "deaths"
    counter.write_text("1")
    proc = project.run(
        *WINDOW,
        "--only",
        "data_cleaning",
        "--force",
        "-p",
        "task_retries",
        "{}",
        env={"PYTHONPATH": f"{tmp_path / 'site'}:{project.root}", "AAPL_TEST_KERNEL_DEATHS": str(counter)},
    )
    assert proc.returncode == 0, proc.stderr
    assert counter.read_text() == "0"  # the first kernel did die
    record = project.manifest()["tasks"]["data_cleaning"]
    assert record["status"] == "success" and record["kernel_restarts"] == 1 and record["attempts"] == []
    assert "the kernel failed to start" in (project.latest() / "logs" / "data_cleaning.log").read_text()


def test_a_kernel_that_dies_mid_task_is_reported_and_retried_when_allowed(project, tmp_path):
    marker = tmp_path / "die-once"
    project.add_cell(
        "02_data_cleaning.ipynb",
        f"import os, pathlib\nif pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).unlink()\n    os._exit(1)",
    )
    try:
        marker.touch()
        proc = project.run(*WINDOW, "--only", "data_cleaning", "--force", "-p", "task_retries", "{}")
        assert proc.returncode == 1
        assert "task data_cleaning: the kernel died while running notebooks/02_data_cleaning.ipynb" in proc.stderr
        record = project.manifest()["tasks"]["data_cleaning"]
        assert record["status"] == "failed" and record["attempts"] == []
        marker.touch()
        proc = project.run(
            *WINDOW,
            "--only",
            "data_cleaning",
            "--force",
            "-p",
            "task_retries",
            "{data_cleaning: 1}",
            "-p",
            "task_retry_wait_seconds",
            "0",
        )
    finally:
        project.restore("02_data_cleaning.ipynb")
    assert proc.returncode == 0, proc.stderr
    record = project.manifest()["tasks"]["data_cleaning"]
    assert record["status"] == "success" and len(record["attempts"]) == 1
    assert "DeadKernelError" in record["attempts"][0]["error"] or "kernel died" in record["attempts"][0]["error"]
