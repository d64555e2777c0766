"""One ticker in a worker, in-process: whatever happens to its run, the worker answers with a result record —
how the batch manifest and the command tell a locked run, a refused parameter and a crash apart."""

from __future__ import annotations

import os

import pytest

from aapl_lib.errors import ParameterError
from aapl_lib.io.locks import LockBusyError
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner import orchestration
from aapl_lib.runner.batch.ticker import failure, run_ticker


@pytest.fixture(autouse=True)
def _outputs_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AAPL_OUTPUTS_DIR", str(tmp_path))  # run_ticker points its process at the batch's outputs


def test_a_ticker_whose_params_did_not_validate_answers_at_once_as_a_usage_error(tmp_path):
    result = run_ticker(None, "ZZ!", "ticker: 'ZZ!' is not a plausible symbol", str(tmp_path), "nb", None, "INFO")
    assert result == {
        "ticker": "ZZ!",
        "worker_pid": os.getpid(),
        "worker_host": os.uname().nodename,
        "status": State.FAILED,
        "exit_code": Exit.USAGE,
        "message": "ticker: 'ZZ!' is not a plausible symbol",
        "run_id": None,
        "duration_s": 0.0,
    }
    assert os.environ["AAPL_OUTPUTS_DIR"] == str(tmp_path)


def test_how_a_run_that_raised_ends_for_its_ticker():
    assert failure(LockBusyError("run R is held by pid 9")) == (State.LOCKED, Exit.LOCKED, "run R is held by pid 9")
    assert failure(ParameterError("end: before start")) == (State.FAILED, Exit.USAGE, "end: before start")
    assert failure(KeyError("close")) == (State.FAILED, Exit.FAILED, "KeyError: 'close'")


def test_a_worker_answers_even_when_the_run_raises_and_names_the_run_it_was_resuming(tmp_path, monkeypatch):
    def locked(run_id, **kwargs):
        assert kwargs["outputs_dir"] == tmp_path and kwargs["operator"] == {"hooks": []}
        raise LockBusyError(f"run {run_id} is held by another runner")

    monkeypatch.setattr(orchestration, "resume_run", locked)
    result = run_ticker(
        {"ticker": "MSFT"}, "MSFT", None, str(tmp_path), "nb", None, "INFO", "run-msft", None, {"hooks": []}
    )
    assert result["status"] == State.LOCKED and result["exit_code"] == Exit.LOCKED
    assert result["run_id"] == "run-msft" and result["message"] == "run run-msft is held by another runner"
    assert result["duration_s"] >= 0.0

    def crashes(params, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(orchestration, "run_pipeline", crashes)
    result = run_ticker({"ticker": "IBM"}, "IBM", None, str(tmp_path), "nb", None, "INFO")
    assert result["status"] == State.FAILED and result["exit_code"] == Exit.FAILED
    assert result["message"] == "MemoryError: out of memory" and result["run_id"] is None
