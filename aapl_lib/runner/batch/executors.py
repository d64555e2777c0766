"""What runs a batch's jobs: one spawned process per ticker on this machine (``_LocalProcesses``), or a Dask
cluster beyond it. Each runs :func:`aapl_lib.runner.batch.ticker.run_ticker` on a job and yields its result as it
finishes; a ticker whose worker died without answering is reported as failed, so the others run on.

A local worker process ends with the batch's runner: when the runner dies it records its run as interrupted and
ends, rather than run on unsupervised.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner.batch.ticker import JOB_RESUME_RUN_ID, JOB_TICKER, run_ticker

ORPHAN_GRACE_SECONDS = 20  # time an orphaned worker gets to record its run as interrupted


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

    def run(self, jobs: list[tuple]) -> Iterator[dict[str, Any]]:
        """Each job's result (:func:`run_ticker`'s record), in the order they finish."""
        if self.kind == "local":
            yield from self.pool.run(run_ticker, jobs)
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
    """One spawned process per job (a ticker), at most ``workers`` at a time. Unlike a ``ProcessPoolExecutor`` —
    which a single killed worker breaks for every ticker still queued — a process that dies (the OOM killer, a
    segfault, ``kill -9``) fails only its own ticker, with the signal named; the others run on."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, function: Callable[..., dict[str, Any]], jobs: list[tuple]) -> Iterator[dict[str, Any]]:
        """``function(*job)`` for each job, each in a process of its own (``function`` must be importable by its
        module path: the processes are spawned); the results as they finish."""
        import multiprocessing
        from multiprocessing.connection import wait

        ctx = multiprocessing.get_context("spawn")
        queue, running = list(jobs), {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.pop(0)
                    reader, writer = ctx.Pipe(duplex=False)
                    process = ctx.Process(target=_job_process, args=(writer, os.getpid(), function, job), daemon=False)
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


def _job_process(conn, parent_pid: int, function: Callable[..., dict[str, Any]], job: tuple) -> None:
    """A job's own process: end with the batch's runner, run the job, send its result back."""
    _end_with_parent(parent_pid)
    result = function(*job)
    if os.getppid() != parent_pid:  # the batch's runner died while the job ran: nobody waits for the answer
        os._exit(128 + signal.SIGTERM)
    conn.send(result)
    conn.close()


def _end_with_parent(parent_pid: int) -> None:
    """When the batch's runner dies (``kill -9``, a crash), send this worker SIGTERM, so that its run is recorded
    as interrupted and its kernel stopped rather than left running unsupervised; then make sure the worker ends
    (an orphan would wait for work from its dead parent forever)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _how_it_ended(process) -> str:
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
