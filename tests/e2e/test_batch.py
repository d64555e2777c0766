"""Batches: one pipeline per ticker, in parallel on a local process pool and on a Dask LocalCluster, with a
failing ticker that does not stop the others, and batch resume."""

from __future__ import annotations

import json

from helpers import WINDOW, newest_batch, run_runner


def test_batch_of_three_sample_tickers_on_the_local_executor(project):
    outputs = project.outputs  # AAPL's tasks are reused from the seeded run; MSFT and IBM run in full
    proc = project.run("--tickers", "AAPL", "MSFT", "IBM", *WINDOW, "--workers", "2", timeout=600)
    assert proc.returncode == 0, proc.stderr
    batch_dir, manifest = newest_batch(outputs)
    assert manifest["status"] == "success" and manifest["tickers"] == ["AAPL", "MSFT", "IBM"]
    assert "local process pool, 2 worker(s)" in manifest["executor_description"]
    runs = {t: r["run_id"] for t, r in manifest["runs"].items()}
    assert len(set(runs.values())) == 3
    for ticker, run_id in runs.items():
        run = json.loads((outputs / "runs" / run_id / "manifest.json").read_text())
        assert run["params"]["ticker"] == ticker and run["status"] == "success"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("ticker ")]
    assert len(lines) == 3 and lines[-1].startswith("ticker 3/3 ") and "; all 3 done in " in lines[-1]
    summary = (batch_dir / "summary.md").read_text()
    for ticker in ("AAPL", "MSFT", "IBM"):
        assert f"| {ticker} | success |" in summary
    assert "RMSE gain" in summary and (batch_dir / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert f"batches/{batch_dir.name}/index.html" in (outputs / "index.html").read_text()
    workers = {r["worker_pid"] for r in manifest["runs"].values()}
    assert len(workers) == 3 and manifest["runner_pid"] not in workers  # a process of its own for each ticker


# In model training, MSFT's notebook kills the process that runs its pipeline (the pool worker), as the OOM
# killer would, once: while the marker file exists.
CRASH_WORKER = """import os, pathlib, signal
_marker = pathlib.Path(os.environ.get("AAPL_TEST_CRASH_MARKER", "/nonexistent"))
if ticker == "MSFT" and _marker.exists():
    _marker.unlink()
    os.kill(int(os.environ["JPY_PARENT_PID"]), signal.SIGKILL)  # the process that started this kernel
"""


def test_a_failing_ticker_does_not_stop_the_others_and_resume_reruns_only_it(project, tmp_path):
    """Two ways a ticker fails: a symbol the source does not have (ZZZZ), and a worker process killed in the
    middle of MSFT's model training. AAPL finishes all the same; plain ``resume`` re-runs only those two, and
    MSFT's interrupted run is continued in its own folder, not started again."""
    marker = tmp_path / "crash-once"
    marker.touch()
    runs_before = set((project.outputs / "runs").iterdir())
    project.add_cell("04_model_training.ipynb", CRASH_WORKER)
    try:
        proc = project.run(
            "--tickers",
            "AAPL",
            "ZZZZ",
            "MSFT",
            *WINDOW,
            "--workers",
            "2",
            env={"AAPL_TEST_CRASH_MARKER": str(marker)},
            timeout=600,
        )
        assert not marker.exists()  # the worker was killed
        assert proc.returncode == 1, proc.stderr
        assert "ZZZZ" in proc.stderr and "not in the offline sample" in proc.stderr
        assert "MSFT (the worker process running it was killed by signal 9 (SIGKILL)" in proc.stderr
        assert "python runner.py resume" in proc.stderr
        batch_dir = sorted((project.outputs / "batches").iterdir())[-1]
        manifest = json.loads((batch_dir / "manifest.json").read_text())
        assert {t: r["status"] for t, r in manifest["runs"].items()} == {
            "AAPL": "success",
            "ZZZZ": "failed",
            "MSFT": "failed",
        }
        assert "| ZZZZ | failed |" in (batch_dir / "summary.md").read_text()
        msft_runs = [
            p
            for p in set((project.outputs / "runs").iterdir()) - runs_before
            if json.loads((p / "manifest.json").read_text())["params"]["ticker"] == "MSFT"
        ]
        assert len(msft_runs) == 1
        msft_run = msft_runs[0]
        assert project.manifest(msft_run)["tasks"]["model_training"]["status"] in ("running", "interrupted")
        aapl_before = (project.outputs / "runs" / manifest["runs"]["AAPL"]["run_id"] / "manifest.json").read_text()

        proc = project.run("resume", timeout=600)  # as a person types it
    finally:
        project.restore("04_model_training.ipynb")
    assert proc.returncode == 1  # ZZZZ still cannot run
    after = json.loads((batch_dir / "manifest.json").read_text())
    assert after["runs"]["MSFT"]["status"] == "success"
    assert after["runs"]["MSFT"]["run_id"] == msft_run.name  # the same run, resumed
    assert after["resumed"][-1]["tickers"] == ["ZZZZ", "MSFT"]
    assert (project.outputs / "runs" / manifest["runs"]["AAPL"]["run_id"] / "manifest.json").read_text() == aapl_before
    resumed = project.manifest(msft_run)
    assert resumed["status"] == "success" and resumed["tasks"]["model_training"]["status"] == "success"
    assert resumed["resumed"]
    assert len(set((project.outputs / "runs").iterdir()) - runs_before) == 2  # AAPL's, MSFT's: no new run


def test_batch_on_a_dask_local_cluster(project):
    """Two tickers whose model tasks execute on the LocalCluster's worker processes (their data tasks are
    reused from the runs above: another ridge_alpha changes only the models)."""
    outputs = project.outputs
    proc = project.run(
        "--tickers",
        "AAPL",
        "MSFT",
        *WINDOW,
        "-p",
        "ridge_alpha",
        "3",
        "--executor",
        "dask",
        "--workers",
        "2",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    _, manifest = newest_batch(outputs)
    assert manifest["status"] == "success"
    assert "dask LocalCluster on loopback, 2 worker process(es)" == manifest["executor_description"]
    pids = {r["worker_pid"] for r in manifest["runs"].values()}
    assert 1 <= len(pids) <= 2 and manifest["runner_pid"] not in pids
    for r in manifest["runs"].values():
        assert (outputs / "runs" / r["run_id"] / "reports" / "summary.pdf").is_file()
        run = json.loads((outputs / "runs" / r["run_id"] / "manifest.json").read_text())
        assert run["tasks"]["model_training"]["status"] == "success"  # executed there, not reused


def test_batch_options_need_a_batch(tmp_path):
    proc = run_runner("--workers", "2", outputs=tmp_path / "out")
    assert proc.returncode == 2 and "--tickers" in proc.stderr


def test_a_folder_of_per_ticker_csv_files_is_a_batch_source_sharing_one_warm_process(project, tmp_path):
    from helpers import sample_frame, write_classic_yahoo

    prices = tmp_path / "prices"
    prices.mkdir()
    for ticker in ("MSFT", "IBM"):
        write_classic_yahoo(prices / f"{ticker}.csv", sample_frame("2003-01-01", "2007-12-31", ticker))
    proc = project.run(
        "--tickers", "MSFT", "IBM", "GOOG", *WINDOW, "-p", "source", "csv",
        "-p", "csv_path", str(prices / "{ticker}.csv"), "--workers", "2", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # GOOG has no file: it fails alone, named
    _, manifest = newest_batch(project.outputs)
    assert manifest["ticker_errors"]["GOOG"].startswith(f"csv_path {prices / 'GOOG.csv'} does not exist")
    warm = set()
    for ticker in ("MSFT", "IBM"):
        run = json.loads((project.outputs / "runs" / manifest["runs"][ticker]["run_id"] / "manifest.json").read_text())
        assert run["status"] == "success" and run["params"]["csv_path"] == str(prices / f"{ticker}.csv")
        kernels = [t["kernel"] for t in run["tasks"].values() if "kernel" in t]  # the tasks it executed
        assert kernels and {k["start"] for k in kernels} == {"fork"}
        warm |= {k["warm_pid"] for k in kernels}
    assert len(warm) == 1 and manifest["runner_pid"] not in warm  # one warm process for the whole batch
