"""The workers of a batch: ``run_ticker`` runs one ticker's pipeline in a worker process, and the executors
that run those jobs — one spawned process per ticker on this machine (``_LocalProcesses``), or a Dask cluster
beyond it — and report a ticker whose worker died without answering as failed, so the others run on.

A worker whose batch's runner dies records its run as interrupted and ends, rather than run on unsupervised.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.store import manifest as mf

# A job is the argument tuple of run_ticker; the fields read back when its worker dies without answering:
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
    os.environ["AAPL_OUTPUTS_DIR"] = outputs_dir
    from aapl_lib.errors import PipelineError
    from aapl_lib.io.locks import LockBusyError
    from aapl_lib.runner.orchestration import resume_run, run_pipeline
    from aapl_lib.store.runs import unfinished_batch_run

    if resume_run_id is None and batch_id is not None:
        found = unfinished_batch_run(Path(outputs_dir), batch_id, ticker)
        resume_run_id = found.name if found else None

    started = time.perf_counter()
    base = {"ticker": ticker, "worker_pid": os.getpid(), "worker_host": os.uname().nodename}
    if error is not None:  # the parameters of this ticker did not validate
        return {
            **base,
            "status": State.FAILED,
            "exit_code": Exit.USAGE,
            "message": error,
            "run_id": None,
            "duration_s": 0.0,
        }
    kwargs = dict(
        outputs_dir=Path(outputs_dir),
        notebooks_dir=Path(notebooks_dir),
        log_level=log_level,
        progress=lambda _line: None,
        project=Path(project) if project else None,
    )
    try:
        result = (
            resume_run(resume_run_id, operator=operator, **kwargs)
            if resume_run_id
            else run_pipeline(params, batch_id=batch_id, **kwargs)
        )
    except LockBusyError as exc:
        return {
            **base,
            "status": State.LOCKED,
            "exit_code": Exit.LOCKED,
            "message": str(exc),
            "run_id": resume_run_id,
            "duration_s": round(time.perf_counter() - started, 3),
        }
    except PipelineError as exc:
        return {
            **base,
            "status": State.FAILED,
            "exit_code": Exit.USAGE,
            "message": str(exc),
            "run_id": resume_run_id,
            "duration_s": round(time.perf_counter() - started, 3),
        }
    except Exception as exc:  # a worker must always answer
        return {
            **base,
            "status": State.FAILED,
            "exit_code": Exit.FAILED,
            "message": f"{type(exc).__name__}: {exc}",
            "run_id": resume_run_id,
            "duration_s": round(time.perf_counter() - started, 3),
        }
    if _orphaned():  # the batch's runner died while this ticker ran: nobody waits for the answer
        os._exit(128 + 15)
    status = mf.load(result.run_dir).get("status", State.FAILED)
    return {
        **base,
        "status": status,
        "exit_code": result.exit_code,
        "message": result.message.splitlines()[0],
        "run_id": result.run_id,
        "duration_s": round(time.perf_counter() - started, 3),
    }


_POOL_PARENT: int | None = None  # in a pool worker: the pid of the batch's runner
ORPHAN_GRACE_SECONDS = 20  # time an orphaned worker gets to record its run as interrupted


def _end_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: when the batch's runner dies (``kill -9``, a crash), send this worker SIGTERM,
    so that its run is recorded as interrupted and its kernel stopped rather than left running unsupervised;
    then make sure the worker ends (an orphan would wait for work from its dead parent forever)."""
    import signal
    import threading

    global _POOL_PARENT
    _POOL_PARENT = parent_pid

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _orphaned() -> bool:
    return _POOL_PARENT is not None and os.getppid() != _POOL_PARENT


class Executor:
    """Submits ticker jobs and yields their results as they finish."""

    def __init__(self, kind: str, workers: int, scheduler: str | None) -> None:
        self.kind, self.workers, self.scheduler = kind, workers, scheduler
        self.description = ""

    def __enter__(self) -> Executor:
        if self.kind == "local":
            self.pool = _LocalProcesses(self.workers)
            self.description = f"local process pool, {self.workers} worker(s)"
        else:
            from distributed import Client, LocalCluster

            if self.scheduler:
                self.cluster = None
                self.client = Client(self.scheduler, timeout="30s")
                self.description = f"dask cluster at {self.scheduler}"
            else:
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
                self.description = f"dask LocalCluster on loopback, {self.workers} worker process(es)"
        return self

    def run(self, jobs: list[tuple]):
        if self.kind == "local":
            yield from self.pool.run(jobs)
        else:
            from distributed import as_completed

            started = time.perf_counter()
            futures = {
                self.client.submit(run_ticker, *job, pure=False, key=f"ticker-{job[JOB_TICKER]}-{os.getpid()}-{i}"): job
                for i, job in enumerate(jobs)
            }
            for future in as_completed(list(futures)):
                try:
                    yield future.result()
                except Exception as exc:  # e.g. KilledWorker: that ticker failed, the others run on
                    yield _lost(futures[future], None, f"its dask task failed: {type(exc).__name__}: {exc}", started)

    def __exit__(self, *exc: object) -> None:
        if self.kind != "local":
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


class _LocalProcesses:
    """One spawned process per ticker, at most ``workers`` at a time. Unlike a ``ProcessPoolExecutor`` — which a
    single killed worker breaks for every ticker still queued — a process that dies (the OOM killer, a segfault,
    ``kill -9``) fails only its own ticker, with the signal named; the others run on."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, jobs: list[tuple]):
        import multiprocessing
        from multiprocessing.connection import wait

        ctx = multiprocessing.get_context("spawn")
        queue, running = list(jobs), {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.pop(0)
                    reader, writer = ctx.Pipe(duplex=False)
                    process = ctx.Process(target=_ticker_process, args=(writer, os.getpid(), job), daemon=False)
                    process.start()
                    writer.close()  # the child holds the only writing end: EOF when it dies
                    running[reader] = (process, job, time.perf_counter())
                # a reader is ready when its process has sent its result, or when the process died (EOF)
                for reader in wait(list(running)):
                    process, job, started = running.pop(reader)
                    try:
                        result = reader.recv()
                    except (EOFError, OSError):
                        result = None
                    reader.close()
                    process.join()
                    yield result if result is not None else _lost(job, process.pid, _how_it_ended(process), started)
        finally:
            for process, _job, _started in running.values():  # interrupted: stop what still runs
                process.terminate()
            for process, _job, _started in running.values():
                process.join(ORPHAN_GRACE_SECONDS)
                if process.is_alive():
                    process.kill()


def _ticker_process(conn, parent_pid: int, job: tuple) -> None:
    """A ticker's own process: end with the batch's runner, run the ticker, send its result back."""
    _end_with_parent(parent_pid)
    result = run_ticker(*job)
    conn.send(result)
    conn.close()


def _how_it_ended(process) -> str:
    import signal

    code = process.exitcode
    if code is not None and code < 0:
        return f"the worker process running it was killed by signal {-code} ({signal.Signals(-code).name})"
    return f"the worker process running it ended with exit code {code} without a result"


def _lost(job: tuple, worker_pid: int | None, message: str, started: float) -> dict[str, Any]:
    """The result of a ticker whose worker ended without answering: failed, and ``resume`` continues its run."""
    return {
        "ticker": job[JOB_TICKER],
        "worker_pid": worker_pid,
        "worker_host": os.uname().nodename,
        "status": State.FAILED,
        "exit_code": Exit.FAILED,
        "run_id": job[JOB_RESUME_RUN_ID],
        "message": message,
        "duration_s": round(time.perf_counter() - started, 3),
    }
