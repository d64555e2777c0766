"""Many tickers: one full pipeline per ticker, run in parallel by a process pool on this machine or by a
Dask cluster beyond it, grouped under a batch id.

``outputs/batches/<batch_id>/`` holds the batch manifest (every ticker's run id, status, duration and message),
``summary.md``, ``summary.png`` and ``index.html`` comparing the tickers. A ticker that fails does not stop the
others; ``runner.py resume BATCH_ID`` re-runs only what did not finish. Workers write their run folders to the
same outputs path, so on a cluster that path must be on a filesystem every worker shares.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.formatting import fixed
from aapl_lib.io.iorw import atomic_write_bytes, atomic_write_text, json_digest, read_json, write_json
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.views.browser import build_batch_page

FINISHED = (State.SUCCESS,)  # a ticker whose run needs nothing more


@dataclass
class BatchResult:
    exit_code: int
    batch_id: str
    batch_dir: Path
    message: str


def make_batch_id(tickers: list[str], params: dict[str, Any], now: dt.datetime | None = None) -> str:
    """``20261127T010000Z-batch-3-1a2b3c``: time, ticker count, hash of tickers and params."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-batch-{len(tickers)}-{json_digest({'t': tickers, 'p': params})[:6]}"


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
            resume_run(resume_run_id, **kwargs) if resume_run_id else run_pipeline(params, batch_id=batch_id, **kwargs)
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


class _Executor:
    """Submits ticker jobs and yields their results as they finish."""

    def __init__(self, kind: str, workers: int, scheduler: str | None) -> None:
        self.kind, self.workers, self.scheduler = kind, workers, scheduler
        self.description = ""

    def __enter__(self) -> _Executor:
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


def run_batch(
    per_ticker: dict[str, tuple[dict | None, str | None]],
    *,
    outputs_dir: Path,
    notebooks_dir: Path,
    project: Path | None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    log_level: str = "INFO",
    progress: Callable[[str], None] = print,
    batch_id: str | None = None,
    resume: bool = False,
) -> BatchResult:
    """Run (or, with ``resume``, finish) one pipeline per ticker. ``per_ticker`` maps each ticker to
    ``(validated params, None)`` or ``(None, the reason its params are invalid)``."""
    outputs_dir = outputs_dir.resolve()
    workers = workers or os.cpu_count() or 1
    tickers = list(per_ticker)
    common = next((p for p, _ in per_ticker.values() if p), {})
    batch_id = batch_id or make_batch_id(tickers, {k: v for k, v in common.items() if k != "ticker"})
    batch_dir = layout.batch_dir(outputs_dir, batch_id)
    with PathLock(batch_dir / ".lock", f"batch {batch_id}"):
        manifest = (
            read_json(batch_dir / "manifest.json")
            if resume
            else {
                "batch_id": batch_id,
                "created_at": mf.utc_now(),
                "tickers": tickers,
                "runs": {},
                # each ticker's validated params (or why they are invalid): a resumed batch can start a ticker
                # that never got a run folder, and finish one whose run the batch manifest never heard of
                "ticker_params": {t: p for t, (p, _) in per_ticker.items()},
                "ticker_errors": {t: e for t, (_, e) in per_ticker.items() if e},
            }
        )
        todo = [t for t in tickers if manifest["runs"].get(t, {}).get("status") not in FINISHED]
        manifest.update(
            status=State.RUNNING,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            runner_pid=os.getpid(),
            runner_host=os.uname().nodename,
        )
        if resume:
            manifest.setdefault("resumed", []).append({"at": mf.utc_now(), "tickers": todo})
        write_json(batch_dir / "manifest.json", manifest)
        jobs = []
        for t in todo:
            params, error = per_ticker[t]
            previous = manifest["runs"].get(t, {}).get("run_id")
            resumable = resume and previous and (layout.run_dir(outputs_dir, previous) / layout.MANIFEST).is_file()
            jobs.append(
                (
                    params,
                    t,
                    error,
                    str(outputs_dir),
                    str(notebooks_dir),
                    str(project) if project else None,
                    log_level,
                    previous if resumable else None,
                    batch_id,
                )
            )
        started = time.perf_counter()
        done = failed = 0
        with _Executor(executor, min(workers, max(len(jobs), 1)), scheduler) as pool:
            progress(
                f"batch {batch_id}: {len(jobs)} ticker(s) on {pool.description}"
                + (f" ({len(tickers) - len(jobs)} already finished)" if resume else "")
            )
            manifest["executor_description"] = pool.description
            for result in pool.run(jobs):
                manifest["runs"][result["ticker"]] = result
                done += 1
                failed += result["status"] not in FINISHED
                write_json(batch_dir / "manifest.json", manifest)
                progress(
                    f"[batch] {result['ticker']:<8} {result['status']:<18} {result['duration_s']:>6.1f} s  "
                    f"done {done}/{len(jobs)}, failed {failed}, left {len(jobs) - done}"
                    + (f"  — {result['message']}" if result["status"] not in FINISHED else "")
                )
        statuses = {t: manifest["runs"].get(t, {}).get("status") for t in tickers}
        bad = [t for t, s in statuses.items() if s not in FINISHED and s != State.AWAITING_APPROVAL]
        waiting = [t for t, s in statuses.items() if s == State.AWAITING_APPROVAL]
        manifest["status"] = State.FAILED if bad else State.AWAITING_APPROVAL if waiting else State.SUCCESS
        manifest["duration_s"] = round(time.perf_counter() - started, 3)
        manifest["ended_at"] = mf.utc_now()
        write_json(batch_dir / "manifest.json", manifest)
        write_summary(outputs_dir, batch_dir, manifest)
    try:
        from aapl_lib.views.browser import build_index

        build_index(outputs_dir)
    except Exception as exc:  # a view only
        progress(f"warning: could not rebuild the run browser: {exc}")
    if bad:
        message = (
            f"batch {batch_id}: {len(bad)} of {len(tickers)} ticker(s) did not finish: "
            + "; ".join(f"{t} ({manifest['runs'][t]['message']})" for t in bad)
            + f". Re-run them with: python runner.py resume {batch_id}"
        )
        return BatchResult(Exit.FAILED, batch_id, batch_dir, message)
    if waiting:
        return BatchResult(
            Exit.AWAITING_APPROVAL,
            batch_id,
            batch_dir,
            f"batch {batch_id}: {', '.join(waiting)} await approval (python runner.py approve RUN_ID "
            f"--by NAME); summary: {batch_dir / 'summary.md'}",
        )
    return BatchResult(
        Exit.OK, batch_id, batch_dir, f"batch {batch_id} succeeded for {', '.join(tickers)}: {batch_dir / 'summary.md'}"
    )


def summary_rows(outputs_dir: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ticker: status, challenger, metrics against the best baseline, gate, backtest."""
    rows = []
    for ticker in manifest["tickers"]:
        run = manifest["runs"].get(ticker, {})
        row: dict[str, Any] = {
            "ticker": ticker,
            "status": run.get("status", "not run"),
            "run_id": run.get("run_id"),
            "seconds": run.get("duration_s"),
        }
        run_dir = layout.run_dir(outputs_dir, run.get("run_id") or "-")
        evaluation = run_dir / "reports" / "evaluation.json"
        if evaluation.is_file():
            ev = read_json(evaluation)
            m, best = ev["metrics"]["model"], ev.get("best_baseline", "zero_return")
            row.update(
                challenger=ev.get("challenger"),
                model_rmse=m["rmse"],
                best_baseline=best,
                baseline_rmse=ev["metrics"][best]["rmse"],
                rmse_gain_pct=100 * (ev["metrics"][best]["rmse"] - m["rmse"]) / ev["metrics"][best]["rmse"],
                directional_accuracy=m.get("directional_accuracy"),
                dm_p=m.get("dm_vs_zero_return_p"),
                long_flat=ev["backtest"]["long_flat"]["cumulative_return"],
                buy_and_hold=ev["backtest"]["buy_and_hold"]["cumulative_return"],
                implausible=bool((ev.get("plausibility") or {}).get("implausible")),
            )
        decision = run_dir / "reports" / "decision.json"
        row["gate"] = (
            read_json(decision)["decision"]
            if decision.is_file()
            else ("awaiting approval" if row["status"] == State.AWAITING_APPROVAL else None)
        )
        rows.append(row)
    return rows


def write_summary(outputs_dir: Path, batch_dir: Path, manifest: dict[str, Any]) -> Path:
    """``summary.md``, ``summary.png`` and ``index.html`` comparing the batch's tickers."""
    rows = summary_rows(outputs_dir, manifest)
    head = [
        "ticker",
        "status",
        "challenger",
        "model RMSE",
        "best baseline",
        "baseline RMSE",
        "RMSE gain",
        "direction right",
        "DM p vs zero",
        "gate",
        "long/flat",
        "buy & hold",
        "seconds",
        "run",
    ]
    table = [
        [
            r["ticker"],
            r["status"],
            fixed(r.get("challenger")),
            fixed(r.get("model_rmse"), percent=True),
            fixed(r.get("best_baseline")),
            fixed(r.get("baseline_rmse"), percent=True),
            "-" if r.get("rmse_gain_pct") is None else f"{r['rmse_gain_pct']:+.2f} %",
            fixed(r.get("directional_accuracy"), 1, percent=True),
            fixed(r.get("dm_p")),
            fixed(r.get("gate")) + (" (IMPLAUSIBLE: too good to be true)" if r.get("implausible") else ""),
            fixed(r.get("long_flat"), 1, percent=True),
            fixed(r.get("buy_and_hold"), 1, percent=True),
            fixed(r.get("seconds"), 1),
            r.get("run_id") or "-",
        ]
        for r in rows
    ]
    lines = [
        f"# Batch {manifest['batch_id']}",
        "",
        f"{len(rows)} ticker(s) on {manifest.get('executor_description', manifest.get('executor'))}; status "
        f"**{manifest['status']}**; wall time {manifest.get('duration_s', 0):.1f} s.",
        "",
        "RMSE gain: how much lower the challenger's held-out RMSE is than the best naive baseline's "
        "(negative: the model is worse than doing nothing). Backtests: held-out period, with costs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines += ["", "![model vs best baseline](summary.png)", ""]
    atomic_write_text(batch_dir / "summary.md", "\n".join(lines))
    _plot(rows, batch_dir / "summary.png", manifest["batch_id"])
    build_batch_page(batch_dir, manifest, head, table)
    return batch_dir / "summary.md"


def _plot(rows: list[dict[str, Any]], path: Path, batch_id: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    have = [r for r in rows if r.get("model_rmse") is not None]
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(rows)), 3.6))
    x = np.arange(len(have))
    ax.bar(x - 0.2, [100 * r["model_rmse"] for r in have], 0.4, label="challenger")
    ax.bar(x + 0.2, [100 * r["baseline_rmse"] for r in have], 0.4, label="best naive baseline")
    ax.set_xticks(x, [f"{r['ticker']}\n{r.get('gate') or ''}" for r in have])
    ax.set_ylabel("held-out RMSE (%)")
    ax.set_title(f"Batch {batch_id}: challenger vs best naive baseline")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
