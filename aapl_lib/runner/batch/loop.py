"""Many tickers: one full pipeline per ticker, run in parallel by a process pool on this machine or by a
Dask cluster beyond it, grouped under a batch id.

``outputs/batches/<batch_id>/`` holds the batch manifest (every ticker's run id, status, duration and message),
``summary.md``, ``summary.png`` and ``index.html`` comparing the tickers. A ticker that fails does not stop the
others; ``runner.py resume BATCH_ID`` re-runs only what did not finish. Workers write their run folders to the
same outputs path, so on a cluster that path must be on a filesystem every worker shares.

Here the batch loop and its manifest; one ticker's run in a worker is ``runner/batch/ticker.py``, the executors
that run them ``runner/batch/executors.py``, the summary ``views/batch_summary.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import json_digest, read_json, utc_now, write_json
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner.batch.executors import Executor
from aapl_lib.runner.kernels.warm_pool import SHARED_SOCKET_ENV, params_keep_s, params_warm, warm_kernels
from aapl_lib.runner.progress import units
from aapl_lib.store import layout
from aapl_lib.views.batch_summary import write_summary

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
    operator: dict | None = None,
) -> BatchResult:
    """Run (or, with ``resume``, finish) one pipeline per ticker. ``per_ticker`` maps each ticker to
    ``(validated params, None)`` or ``(None, the reason its params are invalid)``; ``operator`` holds the hooks
    and extra_features a resumed ticker's run takes (never its manifest's: pipeline.trust)."""
    outputs_dir = outputs_dir.resolve()
    workers = workers or os.cpu_count() or 1
    tickers = list(per_ticker)
    common = next((p for p, _ in per_ticker.values() if p), {})
    batch_id = batch_id or make_batch_id(tickers, {k: v for k, v in common.items() if k != "ticker"})
    batch_dir = layout.batch_dir(outputs_dir, batch_id)
    with PathLock(batch_dir / ".lock", f"batch {batch_id}"):
        manifest = read_json(batch_dir / layout.MANIFEST) if resume else new_manifest(batch_id, per_ticker)
        todo = tickers_to_run(manifest, tickers)
        _mark_running(manifest, todo, executor, workers, scheduler, resume)
        write_json(batch_dir / layout.MANIFEST, manifest)
        run_args = (str(outputs_dir), str(notebooks_dir), str(project) if project else None, log_level)
        jobs = plan_jobs(
            todo, per_ticker, manifest["runs"] if resume else {}, outputs_dir, run_args, batch_id, operator
        )
        started = time.perf_counter()
        if executor == "local" and jobs:
            _share_warm_process(common)
        with Executor(executor, min(workers, max(len(jobs), 1)), scheduler) as pool:
            progress(
                f"batch {batch_id}: {len(jobs)} ticker(s) on {pool.description}"
                + (f" ({len(tickers) - len(jobs)} already finished)" if resume else "")
            )
            _run_jobs(pool, jobs, manifest, batch_dir, progress)
        close_manifest(manifest, tickers, started)
        write_json(batch_dir / layout.MANIFEST, manifest)
        write_summary(outputs_dir, batch_dir, manifest)
    _rebuild_browser(outputs_dir, progress)
    return outcome(manifest, tickers, batch_id, batch_dir, outputs_dir)


def new_manifest(batch_id: str, per_ticker: dict[str, tuple[dict | None, str | None]]) -> dict[str, Any]:
    """A new batch's manifest, before any ticker ran."""
    return {
        "batch_id": batch_id,
        "created_at": utc_now(),
        "tickers": list(per_ticker),
        "runs": {},
        # each ticker's validated params (or why they are invalid): a resumed batch can start a ticker that never
        # got a run folder, and finish one whose run the batch manifest never heard of
        "ticker_params": {t: p for t, (p, _) in per_ticker.items()},
        "ticker_errors": {t: e for t, (_, e) in per_ticker.items() if e},
    }


def tickers_to_run(manifest: dict[str, Any], tickers: list[str]) -> list[str]:
    """The tickers whose run is not finished yet (all of them in a new batch), in the batch's order."""
    return [t for t in tickers if manifest["runs"].get(t, {}).get("status") not in FINISHED]


def _mark_running(
    manifest: dict[str, Any], todo: list[str], executor: str, workers: int, scheduler: str | None, resume: bool
) -> None:
    """The manifest of a batch that starts (or resumes) now, in this process, on this executor."""
    manifest.update(
        status=State.RUNNING,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        runner_pid=os.getpid(),
        runner_host=os.uname().nodename,
    )
    if resume:
        manifest.setdefault("resumed", []).append({"at": utc_now(), "tickers": todo})


def plan_jobs(
    todo: list[str],
    per_ticker: dict[str, tuple[dict | None, str | None]],
    earlier_runs: dict[str, dict[str, Any]],
    outputs_dir: Path,
    run_args: tuple[str, str, str | None, str],
    batch_id: str,
    operator: dict | None,
) -> list[tuple]:
    """One job (the arguments of :func:`aapl_lib.runner.batch.ticker.run_ticker`) per ticker to run; ``run_args``
    are the arguments every ticker shares (outputs and notebooks folders, project, log level). A ticker's earlier
    run (``earlier_runs``: a resumed batch manifest's records) is continued when its folder still holds a manifest;
    otherwise the ticker starts afresh."""
    jobs = []
    for t in todo:
        params, error = per_ticker[t]
        previous = earlier_runs.get(t, {}).get("run_id")
        resumable = previous and (layout.run_dir(outputs_dir, previous) / layout.MANIFEST).is_file()
        jobs.append((params, t, error, *run_args, previous if resumable else None, batch_id, operator))
    return jobs


def _share_warm_process(common: dict[str, Any]) -> None:
    """Let the spawned ticker processes fork their kernels from this process's one warm process (inherited
    through the environment), when warm kernels are on and it is ready."""
    if params_warm(common) and (warm := warm_kernels(params_keep_s(common))).wait_ready() is None:
        os.environ[SHARED_SOCKET_ENV] = str(warm.socket)


def _run_jobs(
    pool: Executor, jobs: list[tuple], manifest: dict[str, Any], batch_dir: Path, progress: Callable[[str], None]
) -> None:
    """Run the jobs on ``pool``, recording each ticker's result in the manifest (written after each) and
    reporting it with the time the batch has left (a bar with an ETA on a terminal)."""
    manifest["executor_description"] = pool.description
    with units(progress, len(jobs), "ticker") as tickers:
        for result in pool.run(jobs):
            manifest["runs"][result["ticker"]] = result
            write_json(batch_dir / layout.MANIFEST, manifest)
            tickers.finished(result["ticker"], *ticker_outcome(result))


def ticker_outcome(result: dict[str, Any]) -> tuple[str, float, str]:
    """How a finished ticker is reported: ``ok`` or its status in words, its duration, and why a ticker that
    did not finish (nor waits for a person) did not."""
    status = result["status"]
    words = "ok" if status in FINISHED else status.replace("_", " ")
    why = "" if status in FINISHED or status == State.AWAITING_APPROVAL else result["message"]
    return words, result["duration_s"], why


def ticker_outcomes(manifest: dict[str, Any], tickers: list[str]) -> tuple[list[str], list[str]]:
    """(the tickers that did not finish, the tickers awaiting approval), in the batch's order."""
    statuses = {t: manifest["runs"].get(t, {}).get("status") for t in tickers}
    bad = [t for t, s in statuses.items() if s not in FINISHED and s != State.AWAITING_APPROVAL]
    waiting = [t for t, s in statuses.items() if s == State.AWAITING_APPROVAL]
    return bad, waiting


def close_manifest(manifest: dict[str, Any], tickers: list[str], started: float) -> None:
    """The batch's status (failed if any ticker did not finish, else awaiting approval if any waits), its
    duration and end."""
    bad, waiting = ticker_outcomes(manifest, tickers)
    manifest["status"] = State.FAILED if bad else State.AWAITING_APPROVAL if waiting else State.SUCCESS
    manifest["duration_s"] = round(time.perf_counter() - started, 3)
    manifest["ended_at"] = utc_now()


def _rebuild_browser(outputs_dir: Path, progress: Callable[[str], None]) -> None:
    try:
        from aapl_lib.views.browser import build_index

        build_index(outputs_dir)
    except Exception as exc:  # a view only
        progress(f"warning: could not rebuild the run browser: {exc}")


def outcome(
    manifest: dict[str, Any], tickers: list[str], batch_id: str, batch_dir: Path, outputs_dir: Path | None = None
) -> BatchResult:
    """What the command reports: exit 1 naming each ticker that did not finish and how to resume them, else 3
    naming those awaiting approval, else 0 with the summary's path; the commands it names are for
    ``outputs_dir``."""
    bad, waiting = ticker_outcomes(manifest, tickers)
    if bad:
        message = (
            f"batch {batch_id}: {len(bad)} of {len(tickers)} ticker(s) did not finish: "
            + "; ".join(f"{t} ({manifest['runs'][t]['message']})" for t in bad)
            + f". Re-run them with: {follow_up(f'resume {batch_id}', outputs_dir)}"
        )
        return BatchResult(Exit.FAILED, batch_id, batch_dir, message)
    if waiting:
        return BatchResult(
            Exit.AWAITING_APPROVAL,
            batch_id,
            batch_dir,
            f"batch {batch_id}: {', '.join(waiting)} await approval "
            f"({follow_up('approve RUN_ID --by NAME', outputs_dir)}); summary: {batch_dir / 'summary.md'}",
        )
    return BatchResult(
        Exit.OK, batch_id, batch_dir, f"batch {batch_id} succeeded for {', '.join(tickers)}: {batch_dir / 'summary.md'}"
    )
