"""The README's command line, option by option, through ``runner.py`` in a subprocess: ``--list-params``,
``--from-run``, ``browse``, the runner's own parameters (never part of a fingerprint), ``retention_days`` at a
run's start, hooks that fail, and batches as a scheduler
starts them (``tickers:`` in a params file, the default number of workers, exit 3, an external Dask cluster).

``project`` (conftest.py) is this module's copy of a project with one finished run of ``WINDOW``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from helpers import UNCOPIED, WINDOW, Project, hold_lock, newest_batch

# Parameters the runner reads for itself; no task reads them, so none may change a fingerprint.
RUNNER_OWN = {
    "cell_timeout_seconds": "900",
    "task_timeout_seconds": "2400",
    "warm_kernels": "false",
    "warm_kernels_keep_seconds": "5",
    "task_retries": "{model_training: 1}",
    "task_retry_wait_seconds": "1",
    "lock_timeout_seconds": "3",
    "retention_days": "36500",
    "summary_log_days": "30",
    "on_success": "true",
    "on_failure": "true",
}


def run_ids(project: Project) -> list[str]:
    return sorted(p.name for p in (project.outputs / "runs").iterdir())


def test_list_params_prints_every_parameter_with_type_default_and_meaning(project):
    from aapl_lib.pipeline.parameters import PARAMETERS

    before = run_ids(project)
    proc = project.run("--list-params")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: " ".join(line.split()) for line in proc.stdout.splitlines() if line.strip()}
    assert set(lines) == set(PARAMETERS)
    for name, param in PARAMETERS.items():
        assert f"default {param.default!r}" in lines[name] and " ".join(param.help.split()) in lines[name], name
    assert run_ids(project) == before  # it only prints


def test_the_runners_own_parameters_change_no_fingerprint(project):
    from aapl_lib.pipeline.parameters import PARAMETERS
    from aapl_lib.pipeline.tasks import TASKS

    read_by_a_task = set().union(*(t.params for t in TASKS))
    assert set(RUNNER_OWN) | {"tickers"} == set(PARAMETERS) - read_by_a_task  # every one of them, tried at once
    args = [a for name, value in RUNNER_OWN.items() for a in ("-p", name, value)]
    proc = project.run(*WINDOW, *args)
    assert proc.returncode == 0, proc.stderr
    assert set(project.statuses().values()) == {"reused"}, proc.stdout
    # while a parameter a task reads does change one
    proc = project.run(*WINDOW, "-p", "transaction_cost_bps", "7")
    assert proc.returncode == 0, proc.stderr
    assert "success" in project.statuses().values()


def test_from_run_takes_the_earlier_outputs_from_the_named_run_not_the_newest(project):
    seed = project.seed_run
    assert project.run(*WINDOW).returncode == 0  # a newer run that could supply them too
    newest = run_ids(project)[-1]
    assert newest != seed
    proc = project.run(*WINDOW, "--start-task", "model_training", "-p", "ridge_alpha", "4", "--from-run", seed)
    assert proc.returncode == 0, proc.stderr
    manifest = project.manifest()
    for task in ("data_ingestion", "data_cleaning", "feature_engineering"):
        assert manifest["tasks"][task]["status"] == "copied" and manifest["tasks"][task]["from_run"] == seed
    assert manifest["tasks"]["model_training"]["status"] == "success"
    # without --from-run the newest run that can supply them is taken
    proc = project.run(*WINDOW, "--start-task", "model_training", "-p", "ridge_alpha", "5")
    assert proc.returncode == 0, proc.stderr
    assert project.manifest()["tasks"]["feature_engineering"]["from_run"] != seed
    # a named run whose upstream read other parameter values cannot stand in: one message, nothing run
    other = project.run(*WINDOW, "-p", "lags", "3", "--end-task", "feature_engineering")
    assert other.returncode == 0, other.stderr
    lags_run = run_ids(project)[-1]
    before = run_ids(project)
    proc = project.run(*WINDOW, "--start-task", "model_training", "--from-run", lags_run)
    assert proc.returncode == 2
    assert "lags" in proc.stderr and lags_run in proc.stderr
    proc = project.run(*WINDOW, "--start-task", "model_training", "--from-run", "20200101T000000Z-aapl-000000")
    assert proc.returncode == 2 and "20200101T000000Z-aapl-000000" in proc.stderr
    assert run_ids(project) == before


def test_browse_rebuilds_the_run_browser_and_prints_its_path(project):
    index = project.outputs / "index.html"
    page = project.outputs / "runs" / project.seed_run / "index.html"
    index.unlink(missing_ok=True)
    page.unlink()
    proc = project.run("browse")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(index)
    text = index.read_text()
    for run_id in run_ids(project):
        assert run_id in text
    assert page.is_file() and project.seed_run in page.read_text()


def test_a_failing_hook_is_logged_and_keeps_the_exit_code(project):
    proc = project.run(*WINDOW, "-p", "on_success", "echo hook-was-here >&2; exit 7")
    assert proc.returncode == 0, proc.stderr
    run_dir = project.latest()
    assert "warning: the on_success hook exited 7: hook-was-here" in proc.stdout
    assert project.manifest(run_dir)["hook"]["exit_code"] == 7
    project.add_cell("06_reporting.ipynb", "raise RuntimeError('report broke')")
    try:
        proc = project.run(*WINDOW, "-p", "on_failure", "exit 9")
    finally:
        project.restore("06_reporting.ipynb")
    assert proc.returncode == 1, proc.stderr
    assert project.latest() != run_dir and project.manifest()["status"] == "failed"
    assert "warning: the on_failure hook exited 9" in proc.stdout


def test_retention_days_at_a_runs_start_deletes_old_runs_but_never_a_locked_one(project):
    """Two runs from 2020 (a copy of a real run under an id of that day, as a run started then is named): the
    unlocked one goes when a run starts with ``retention_days``, the one a live process works in stays."""
    from aapl_lib.store.reuse_cache import ReuseCache

    runs = project.outputs / "runs"
    old, busy = "20200106T220000Z-aapl-0ld001", "20200107T220000Z-aapl-0ld002"
    for run_id in (old, busy):
        shutil.copytree(
            runs / project.seed_run,
            runs / run_id,
            symlinks=True,
            ignore=UNCOPIED,
        )
        manifest = json.loads((runs / run_id / "manifest.json").read_text())
        (runs / run_id / "manifest.json").write_text(json.dumps({**manifest, "run_id": run_id}))
    ReuseCache(project.outputs).record("an-old-fingerprint", {"run_id": old, "artifacts": {}})
    holder = hold_lock(project.env, runs / busy / ".lock")
    try:
        proc = project.run(*WINDOW, "-p", "retention_days", "30")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0, proc.stderr
    assert not (runs / old).exists() and (runs / busy).is_dir()
    assert (runs / project.seed_run).is_dir()  # a recent run stays
    assert set(project.statuses().values()) == {"reused"}  # retention_days changed no fingerprint either
    index = json.loads((project.outputs / "cache" / "index.json").read_text())
    assert old not in {entry.get("run_id") for entry in index.values()}
    assert "retention: deleted 1 run(s) older than 30 days" in proc.stdout
    shutil.rmtree(runs / busy)


def test_tickers_in_a_params_file_run_a_batch_on_every_core_and_exit_3_when_all_await_approval(project, tmp_path):
    profile = tmp_path / "batch.yaml"
    profile.write_text(
        "tickers: [AAPL, IBM]\nstart: 2004-06-01\nend: 2006-12-31\ngb_n_estimators: 25\n"
        "walk_forward_folds: 3\napproval_policy: manual\n"
    )
    proc = project.run("-f", str(profile))
    assert proc.returncode == 3, proc.stderr + proc.stdout
    batch_dir, manifest = newest_batch(project.outputs)
    assert manifest["tickers"] == ["AAPL", "IBM"]
    assert manifest["workers"] == os.cpu_count()
    assert f"local process pool, {min(os.cpu_count(), 2)} worker(s)" in manifest["executor_description"]
    assert {r["status"] for r in manifest["runs"].values()} == {"awaiting_approval"}
    assert "approve" in proc.stdout + proc.stderr


def test_a_batch_on_an_external_dask_scheduler(project, tmp_path):
    """``--scheduler`` with a real ``dask scheduler`` and ``dask worker`` started as an operator would: the
    ticker's notebooks execute in the worker's process."""
    dask = Path(sys.executable).with_name("dask")
    scheduler_file = tmp_path / "scheduler.json"
    env = {**project.env, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen(
        [
            str(dask),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(scheduler_file),
        ],
        env=env,
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        deadline, address = time.time() + 60, None
        while address is None and time.time() < deadline:  # dask writes the file in place: wait until it parses
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        assert address, "the dask scheduler did not write its address"
        worker = subprocess.Popen(
            [
                str(dask),
                "worker",
                "--scheduler-file",
                str(scheduler_file),
                "--no-nanny",
                "--nthreads",
                "1",
                "--dashboard-address",
                ":0",
            ],
            env=env,
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc = project.run(
            "--tickers",
            "AAPL",
            *WINDOW,
            "-p",
            "ridge_alpha",
            "6",
            "--executor",
            "dask",
            "--scheduler",
            address,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        _, manifest = newest_batch(project.outputs)
        assert manifest["executor_description"] == f"dask cluster at {address}"
        run = manifest["runs"]["AAPL"]
        assert run["status"] == "success" and run["worker_pid"] == worker.pid
        assert (
            project.manifest(project.outputs / "runs" / run["run_id"])["tasks"]["model_training"]["status"] == "success"
        )
    finally:
        for proc_ in (worker, scheduler):
            if proc_ is not None:
                proc_.terminate()
                try:
                    proc_.wait(30)
                except subprocess.TimeoutExpired:
                    proc_.kill()


def test_the_exit_codes_in_the_readme_and_the_help_are_the_runners():
    """aapl_lib.pipeline.exit_codes owns the numbers: the README's table and ``runner.py --help`` list exactly them."""
    import signal as signals

    from aapl_lib.pipeline.exit_codes import Exit, for_signal
    from helpers import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    codes = [row.split("|")[1].strip() for row in table.splitlines()[2:]]
    signalled = f"{for_signal(signals.SIGINT)}, {for_signal(signals.SIGTERM)}"
    assert codes == [str(int(code)) for code in Exit] + [signalled]
    proc = subprocess.run([sys.executable, str(ROOT / "runner.py"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for code in Exit:
        assert f"\n  {int(code)}  " in proc.stdout
    assert signalled in proc.stdout


def test_the_global_options_go_before_or_after_the_command(tmp_path):
    """``--outputs`` and ``--log-level`` before the command (``runner.py --outputs DIR list``) mean what they mean
    after it; before them, the command line was read as ``run --outputs DIR list`` and refused."""
    from helpers import ROOT

    outputs = tmp_path / "outputs"
    outputs.mkdir()

    def runner(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "AAPL_OUTPUTS_DIR": str(tmp_path / "elsewhere")}
        return subprocess.run(
            [sys.executable, str(ROOT / "runner.py"), *args], cwd=ROOT, capture_output=True, text=True, env=env
        )

    before = runner("--outputs", str(outputs), "--log-level", "WARNING", "list")
    after = runner("list", "--log-level", "WARNING", "--outputs", str(outputs))
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout == f"no runs in {outputs / 'runs'}\n"
    refused = runner("--outputs", str(outputs), "approve", "NO-SUCH-RUN", "--by", "me")
    assert refused.returncode == 2 and "NO-SUCH-RUN" in refused.stderr, refused.stderr
    assert not (tmp_path / "elsewhere").exists()
