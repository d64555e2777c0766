"""The batch loop's bookkeeping, in-process on made-up ticker results: which tickers run, the jobs handed to the
workers, the progress lines, the batch's status and what the command reports."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner.batch.loop import (
    close_manifest,
    new_manifest,
    outcome,
    plan_jobs,
    ticker_outcome,
    tickers_to_run,
)
from aapl_lib.runner.batch.ticker import JOB_RESUME_RUN_ID, JOB_TICKER, run_ticker

PER_TICKER = {
    "AAPL": ({"ticker": "AAPL", "start": "2005-01-03"}, None),
    "ZZ!": (None, "ticker: 'ZZ!' is not a plausible symbol"),
    "MSFT": ({"ticker": "MSFT", "start": "2005-01-03"}, None),
}
RUN_ARGS = ("/out", "/project/notebooks", "/project", "INFO")


def _result(ticker: str, status: str, message: str = "", run_id: str | None = None) -> dict:
    return {"ticker": ticker, "status": status, "message": message, "run_id": run_id, "duration_s": 12.34}


def test_a_new_batch_records_each_tickers_params_or_why_they_are_invalid():
    manifest = new_manifest("B1", PER_TICKER)
    assert manifest["batch_id"] == "B1" and manifest["tickers"] == ["AAPL", "ZZ!", "MSFT"] and manifest["runs"] == {}
    assert manifest["ticker_params"]["MSFT"] == {"ticker": "MSFT", "start": "2005-01-03"}
    assert manifest["ticker_params"]["ZZ!"] is None
    assert manifest["ticker_errors"] == {"ZZ!": "ticker: 'ZZ!' is not a plausible symbol"}


def test_only_the_tickers_that_did_not_succeed_run_again_in_the_batchs_order():
    manifest = {
        "runs": {
            "AAPL": _result("AAPL", State.SUCCESS),
            "ZZ!": _result("ZZ!", State.FAILED),
            "MSFT": _result("MSFT", State.AWAITING_APPROVAL),
        }
    }
    assert tickers_to_run(manifest, ["AAPL", "ZZ!", "MSFT", "IBM"]) == ["ZZ!", "MSFT", "IBM"]
    assert tickers_to_run({"runs": {}}, list(PER_TICKER)) == list(PER_TICKER)


def test_each_job_is_run_tickers_arguments_and_continues_an_earlier_run_only_where_it_still_is(tmp_path: Path):
    (tmp_path / "runs" / "run-msft").mkdir(parents=True)
    (tmp_path / "runs" / "run-msft" / "manifest.json").write_text("{}")
    earlier = {"MSFT": {"run_id": "run-msft"}, "ZZ!": {"run_id": "run-gone"}}  # ZZ!'s folder was pruned
    jobs = plan_jobs(["ZZ!", "MSFT"], PER_TICKER, earlier, tmp_path, RUN_ARGS, "B1", {"hooks": []})
    names = list(inspect.signature(run_ticker).parameters)
    msft = dict(zip(names, jobs[1], strict=True))
    assert msft == {
        "params": {"ticker": "MSFT", "start": "2005-01-03"},
        "ticker": "MSFT",
        "error": None,
        "outputs_dir": "/out",
        "notebooks_dir": "/project/notebooks",
        "project": "/project",
        "log_level": "INFO",
        "resume_run_id": "run-msft",
        "batch_id": "B1",
        "operator": {"hooks": []},
    }
    zz = dict(zip(names, jobs[0], strict=True))
    assert zz["error"] == "ticker: 'ZZ!' is not a plausible symbol" and zz["resume_run_id"] is None
    # what the executors read back from a job whose worker died
    assert names[JOB_TICKER] == "ticker" and names[JOB_RESUME_RUN_ID] == "resume_run_id"
    assert plan_jobs(["MSFT"], PER_TICKER, {}, tmp_path, RUN_ARGS, "B1", None)[0][JOB_RESUME_RUN_ID] is None
    json.dumps(jobs)  # plain data: shipped to spawned processes and Dask workers


def test_a_ticker_is_reported_as_ok_or_its_status_and_says_why_it_did_not_finish():
    assert ticker_outcome(_result("AAPL", State.SUCCESS, "run R succeeded")) == ("ok", 12.34, "")
    waiting = _result("IBM", State.AWAITING_APPROVAL, "run R awaits approval")
    assert ticker_outcome(waiting) == ("awaiting approval", 12.34, "")
    lost = _result("MSFT", State.FAILED, "killed by signal 9")
    assert ticker_outcome(lost) == ("failed", 12.34, "killed by signal 9")


def test_the_batch_fails_if_any_ticker_failed_else_waits_if_any_awaits_approval(tmp_path: Path):
    tickers = ["AAPL", "MSFT", "IBM"]
    runs = {t: _result(t, State.SUCCESS, run_id=f"run-{t}") for t in tickers}
    manifest = {"runs": dict(runs)}
    close_manifest(manifest, tickers, time.perf_counter() - 2.0)
    assert manifest["status"] == State.SUCCESS and 2.0 <= manifest["duration_s"] < 60 and manifest["ended_at"]
    result = outcome(manifest, tickers, "B1", tmp_path)
    assert result.exit_code == Exit.OK
    assert result.message == f"batch B1 succeeded for AAPL, MSFT, IBM: {tmp_path / 'summary.md'}"

    manifest["runs"]["IBM"] = _result("IBM", State.AWAITING_APPROVAL)
    close_manifest(manifest, tickers, time.perf_counter())
    assert manifest["status"] == State.AWAITING_APPROVAL
    result = outcome(manifest, tickers, "B1", tmp_path)
    assert result.exit_code == Exit.AWAITING_APPROVAL and result.message.startswith("batch B1: IBM await approval")

    manifest["runs"]["MSFT"] = _result("MSFT", State.FAILED, "the worker process running it was killed")
    close_manifest(manifest, tickers, time.perf_counter())
    assert manifest["status"] == State.FAILED  # a failure outweighs a ticker awaiting approval
    result = outcome(manifest, tickers, "B1", tmp_path)
    assert result.exit_code == Exit.FAILED
    assert result.message == (
        "batch B1: 1 of 3 ticker(s) did not finish: MSFT (the worker process running it was killed). "
        "Re-run them with: python runner.py resume B1"
    )
