"""The local executor, in-process: each job in a spawned process of its own, at most ``workers`` at a time, and a
process that dies without answering fails only its own ticker, with the signal or exit code named."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner.batch.executors import Executor, _LocalProcesses


def _job(ticker: str, log_dir: str, resume_run_id: str | None = None) -> tuple:
    """A job shaped as run_ticker's arguments; the outputs folder doubles as where a worker logs its times."""
    return (None, ticker, None, log_dir, "nb", None, "INFO", resume_run_id, "B1", None)


def behave(params, ticker: str, error, log_dir: str, *rest) -> dict:
    """A ticker's stand-in, run in the spawned process: logs when it ran; KILLED and EXITED end without answering."""
    started = time.time()
    if ticker == "KILLED":
        os.kill(os.getpid(), signal.SIGKILL)
    if ticker == "EXITED":
        os._exit(3)
    time.sleep(0.3)
    (Path(log_dir) / f"{ticker}.times").write_text(f"{started} {time.time()}")
    return {"ticker": ticker, "status": State.SUCCESS, "worker_pid": os.getpid()}


def test_each_job_runs_in_a_process_of_its_own_at_most_workers_at_a_time(tmp_path):
    jobs = [_job(t, str(tmp_path)) for t in ("AAPL", "MSFT", "IBM")]
    results = list(_LocalProcesses(1).run(behave, jobs))
    assert sorted(r["ticker"] for r in results) == ["AAPL", "IBM", "MSFT"]
    pids = {r["worker_pid"] for r in results}
    assert len(pids) == 3 and os.getpid() not in pids
    spans = sorted(tuple(map(float, (tmp_path / f"{t}.times").read_text().split())) for t in ("AAPL", "MSFT", "IBM"))
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False))  # one at a time


def test_a_worker_that_dies_fails_only_its_own_ticker_and_resume_can_continue_its_run(tmp_path):
    jobs = [_job("KILLED", str(tmp_path), "run-k"), _job("AAPL", str(tmp_path)), _job("EXITED", str(tmp_path))]
    results = {r["ticker"]: r for r in _LocalProcesses(2).run(behave, jobs)}
    assert results["AAPL"]["status"] == State.SUCCESS
    killed = results["KILLED"]
    assert killed["status"] == State.FAILED and killed["exit_code"] == Exit.FAILED
    assert killed["message"] == "the worker process running it was killed by signal 9 (SIGKILL)"
    assert killed["run_id"] == "run-k" and killed["worker_pid"] not in (None, os.getpid())
    exited = results["EXITED"]
    assert exited["message"] == "the worker process running it ended with exit code 3 without a result"
    assert exited["status"] == State.FAILED and exited["run_id"] is None


def test_the_local_executor_runs_run_ticker_in_its_processes(tmp_path):
    """Tickers whose params did not validate: run_ticker answers at once, in the spawned process."""
    jobs = [(None, t, f"{t}: no such symbol", str(tmp_path), "nb", None, "INFO", None, None, None) for t in "XY"]
    with Executor("local", 2, None) as pool:
        assert pool.description == "local process pool, 2 worker(s)"
        results = {r["ticker"]: r for r in pool.run(jobs)}
    assert {t: (r["status"], r["exit_code"], r["message"]) for t, r in results.items()} == {
        "X": (State.FAILED, Exit.USAGE, "X: no such symbol"),
        "Y": (State.FAILED, Exit.USAGE, "Y: no such symbol"),
    }
    assert os.getpid() not in {r["worker_pid"] for r in results.values()}
