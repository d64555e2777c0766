"""One ticker of a batch, in a worker process: ``run_ticker`` runs (or resumes) the ticker's pipeline and always
answers with a result record — the batch manifest's entry for that ticker — whatever happened to the run.

A job is the argument tuple of ``run_ticker``, built by the batch loop and shipped by the executors (to a spawned
process, or pickled by module path to a Dask worker): keep it top-level and its arguments plain.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from aapl_lib.io.project import OUTPUTS_ENV
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.store import manifest as mf

# The fields of a job read back when its worker dies without answering:
JOB_TICKER, JOB_RESUME_RUN_ID = 1, 7


def run_ticker(
    params: dict[str, Any] | None,
    ticker: str,
    error: str | None,
    outputs_dir: str,
    notebooks_dir: str,
    project: str | None,
    log_level: str,
    resume_run_id: str | None = None,
    batch_id: str | None = None,
    operator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ticker's pipeline, in a worker process (top-level so process pools and Dask can ship it).

    The run records ``batch_id``; when a batch is resumed, a ticker whose run was interrupted before the batch
    manifest learnt its id is found by that record and resumed rather than started again."""
    os.environ[OUTPUTS_ENV] = outputs_dir
    from aapl_lib.store.runs import unfinished_batch_run

    if resume_run_id is None and batch_id is not None:
        found = unfinished_batch_run(Path(outputs_dir), batch_id, ticker)
        resume_run_id = found.name if found else None

    started = time.perf_counter()
    base = {"ticker": ticker, "worker_pid": os.getpid(), "worker_host": os.uname().nodename}
    if error is not None:  # the parameters of this ticker did not validate
        return answer(base, State.FAILED, Exit.USAGE, error, None, 0.0)
    try:
        result = _pipeline(
            params, resume_run_id, batch_id, operator, Path(outputs_dir), Path(notebooks_dir), project, log_level
        )
    except Exception as exc:  # a worker must always answer
        return answer(base, *failure(exc), resume_run_id, _since(started))
    status = mf.load(result.run_dir).get("status", State.FAILED)
    return answer(base, status, result.exit_code, result.message.splitlines()[0], result.run_id, _since(started))


def _pipeline(
    params: dict[str, Any] | None,
    resume_run_id: str | None,
    batch_id: str | None,
    operator: dict[str, Any] | None,
    outputs_dir: Path,
    notebooks_dir: Path,
    project: str | None,
    log_level: str,
) -> Any:
    """The ticker's run: its earlier run resumed (with the operator's hooks and extra features), or a new one."""
    # imported here: the runner's loop and its stack load in the worker, not in every process importing this
    from aapl_lib.runner.orchestration import resume_run, run_pipeline

    kwargs = dict(
        outputs_dir=outputs_dir,
        notebooks_dir=notebooks_dir,
        log_level=log_level,
        progress=lambda _line: None,
        project=Path(project) if project else None,
    )
    if resume_run_id:
        return resume_run(resume_run_id, operator=operator, **kwargs)
    return run_pipeline(params, batch_id=batch_id, **kwargs)


def failure(exc: Exception) -> tuple[State, Exit, str]:
    """How a run that raised ends for its ticker: (status, exit code, message). Another runner holding the lock
    is ``locked``; a refused parameter or state (a ``PipelineError``) is a usage error; anything else a failure
    named by its type."""
    from aapl_lib.errors import PipelineError
    from aapl_lib.io.locks import LockBusyError

    if isinstance(exc, LockBusyError):
        return State.LOCKED, Exit.LOCKED, str(exc)
    if isinstance(exc, PipelineError):
        return State.FAILED, Exit.USAGE, str(exc)
    return State.FAILED, Exit.FAILED, f"{type(exc).__name__}: {exc}"


def answer(
    base: dict[str, Any], status: str, exit_code: int, message: str, run_id: str | None, duration_s: float
) -> dict[str, Any]:
    """A ticker's result record: who ran it (``base``: ticker, worker pid and host), then how it ended."""
    return {
        **base,
        "status": status,
        "exit_code": exit_code,
        "message": message,
        "run_id": run_id,
        "duration_s": duration_s,
    }


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
