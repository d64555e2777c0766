"""Runs the DAG: each task's notebook executed by papermill into the run folder, scraps read back with
scrapbook, the manifest and the logs kept up to date, HTML rendered for reviewers.

Checkpoints: a run folder is locked while a runner works in it; every task gets a fingerprint
(:mod:`aapl_lib.runner.fingerprints`); a task whose fingerprint matches an earlier successful one is *reused*
(its artifacts, executed notebook and HTML linked from that run) instead of executed; ``resume`` continues a
run from its first unfinished task after checking the finished ones' artifacts against their sha256.

papermill, nbformat, scrapbook and pandas are imported only when a notebook is actually executed, so a rerun
with nothing to do stays fast.

This module holds the loop; what it does with each task is in :mod:`aapl_lib.runner.planning`,
:mod:`aapl_lib.runner.steps` and :mod:`aapl_lib.runner.task`, how a run ends in
:mod:`aapl_lib.runner.finish`.
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

from aapl_lib.errors import PipelineError
from aapl_lib.io.iorw import json_digest as params_fingerprint
from aapl_lib.io.locks import LockBusyError, PathLock
from aapl_lib.pipeline import exit_codes
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import DONE
from aapl_lib.pipeline.tasks import TASKS, TaskSpec, select_tasks
from aapl_lib.pipeline.trust import HOOKS, NO_CODE, adopt
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner import import_closure
from aapl_lib.runner.fingerprints import task_fingerprint
from aapl_lib.runner.finish import finish_run
from aapl_lib.runner.interrupts import RunInterrupted, record_interruption, signals_interrupt
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.planning import (
    artifact_mismatch,
    cache_entry,
    live_window,
    plan_upstream,
    reuse,
    take_upstream,
    why_run,
)
from aapl_lib.runner.renders import BackgroundRenders
from aapl_lib.runner.run_logs import append, summary_line
from aapl_lib.runner.steps.approval_gate import approval_gate
from aapl_lib.runner.steps.forecast_ledger import record_forecasts
from aapl_lib.runner.steps.tries import record_run_try
from aapl_lib.runner.task import run_task
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import ReuseCache
from aapl_lib.store.run_record import RunRecord, TaskRecord
from aapl_lib.store.runs import find_resumable, find_run, previous_manifest

log = logging.getLogger("aapl_lib.runner")
log.propagate = False  # runner messages go to the task logs; the console gets one progress line per task


@dataclass
class RunResult:
    """What a run ended with."""

    exit_code: int
    run_id: str
    run_dir: Path
    message: str


def make_run_id(params: dict[str, Any], now: dt.datetime | None = None) -> str:
    """``20261126T233000Z-aapl-1a2b3c``: sorts by time; ticker; first 6 hex of the params fingerprint."""
    now = now or dt.datetime.now(dt.UTC)
    safe_ticker = "".join(ch if ch.isalnum() else "_" for ch in params["ticker"].lower())
    return f"{now:%Y%m%dT%H%M%SZ}-{safe_ticker}-{params_fingerprint(params)[:6]}"


# ------------------------------------------------------------------------------------------ entry points
def run_pipeline(
    params: dict[str, Any],
    *,
    outputs_dir: Path,
    notebooks_dir: Path,
    start_task: str | None = None,
    end_task: str | None = None,
    run_dir: Path | None = None,
    from_run: Path | None = None,
    log_level: str = "INFO",
    progress: Callable[[str], None] = print,
    project: Path | None = None,
    force: bool = False,
    force_tasks: tuple[str, ...] = (),
    today: dt.date | None = None,
    batch_id: str | None = None,
) -> RunResult:
    """Start a new run of the selected tasks. Parameters must already be validated. ``batch_id`` is recorded
    when a batch started the run (a plain ``resume`` then leaves it to its batch)."""
    opts = RunOptions(
        outputs_dir=outputs_dir.resolve(),
        notebooks_dir=notebooks_dir,
        project=project,
        log_level=log_level,
        force=force,
        force_tasks=tuple(force_tasks),
        progress=progress,
        today=today,
        hooks={name: params.get(name, "") for name in HOOKS},  # the operator's params, validated just now
    )
    tasks = select_tasks(start_task, end_task)
    outputs_dir = opts.outputs_dir
    run_id = run_dir.name if run_dir else make_run_id(params)
    run_dir = (run_dir or layout.run_dir(outputs_dir, run_id)).resolve()
    in_runs = layout.is_run_dir(outputs_dir, run_dir)
    if in_runs and run_dir.exists():
        run_id = f"{run_id}-{os.getpid()}"  # same second, same params: keep both
        run_dir = layout.run_dir(outputs_dir, run_id)
    base, upstream, base_manifest = plan_upstream(tasks, params, run_dir, outputs_dir, from_run)
    _apply_retention(params, outputs_dir, progress)

    lock = PathLock(run_dir / ".lock", f"run folder {run_dir}")
    with lock:
        if lock.took_over:
            progress(f"note: took over the lock of {run_dir} left by dead process {lock.took_over['pid']}")
        run = RunRecord.new(
            run_dir,
            run_id=run_id,
            params=params,
            params_fingerprint=params_fingerprint(params),
            selection=(tasks[0].name, tasks[-1].name),
            environment=mf.environment(project, outputs_dir),
            created_at=dt.datetime.now(dt.UTC).isoformat(),  # microseconds: orders same-second runs
            notebooks={t.name: layout.executed_notebook_rel(t.notebook) for t in TASKS},
            batch_id=batch_id,
        )
        take_upstream(run, upstream, base, base_manifest)
        for t in tasks:
            run.tasks[t.name].select()
        run.save()
        return _execute(run, tasks, opts, resume=False)


def _apply_retention(params: dict[str, Any], outputs_dir: Path, progress: Callable[[str], None]) -> None:
    """Delete runs older than ``retention_days`` and trim the summary log, as the params ask."""
    if params.get("retention_days"):
        from aapl_lib.store.retention import prune_runs

        pruned = prune_runs(outputs_dir, params["retention_days"])
        if pruned["deleted"]:
            line = f"retention: deleted {len(pruned['deleted'])} run(s) older than {params['retention_days']} days"
            summary_line(outputs_dir, "pipeline", line)
            progress(line)
    if params.get("summary_log_days"):
        from aapl_lib.store.retention import trim_summary_log

        trim_summary_log(outputs_dir, params["summary_log_days"])


def resume_run(
    run_id: str | None,
    *,
    outputs_dir: Path,
    notebooks_dir: Path,
    log_level: str = "INFO",
    progress: Callable[[str], None] = print,
    project: Path | None = None,
    today: dt.date | None = None,
    operator: dict[str, Any] | None = None,
) -> RunResult:
    """Continue a run from its first task that is not finished; finished tasks are checked, not re-run.

    ``operator`` holds the code-naming parameters the operator gives now (:func:`aapl_lib.pipeline.trust.
    operator_code`): the hooks that run at the end and the extra_features the run must record; None gives
    none. The manifest's own are never used (docs/trust.md)."""
    operator = operator if operator is not None else dict(NO_CODE)
    opts = RunOptions(
        outputs_dir=outputs_dir.resolve(),
        notebooks_dir=notebooks_dir,
        project=project,
        log_level=log_level,
        progress=progress,
        today=today,
        hooks={name: operator.get(name, "") for name in HOOKS},
    )
    if run_id is None:  # what a person types after a crash: the newest run that did not finish
        run_dir, why = find_resumable(opts.outputs_dir)
        if run_dir is None:
            return RunResult(Exit.OK, "", None, why)  # type: ignore[arg-type]
        progress(f"resuming run {run_dir.name} ({why})")
    else:
        run_dir = find_run(opts.outputs_dir, run_id)
    lock = PathLock(run_dir / ".lock", f"run {run_dir.name}")
    with lock:
        if lock.took_over:
            progress(f"note: took over the lock of run {run_dir.name} left by dead process {lock.took_over['pid']}")
        run = RunRecord.load(run_dir)
        run.resume(
            adopt(
                run.get("params"),
                operator,
                f"the manifest of run {run_dir.name}",
                f"python runner.py resume {run_dir.name}",
            )
        )
        tasks = select_tasks(run.selection.get("start_task"), run.selection.get("end_task"))
        run.save()
        return _execute(run, tasks, opts, resume=True)


# ------------------------------------------------------------------------------------------ the loop
@dataclass
class _Loop:
    """What the loop carries from one task to the next."""

    run: RunRecord
    tasks: list[TaskSpec]
    opts: RunOptions
    cache: ReuseCache
    resume: bool
    today: dt.date
    previous: dict[str, Any] | None  # the latest other run's manifest: why a task runs again
    stale: bool = False  # once a finished task must be redone, everything after it is executed again

    def step(self, position: int, task: TaskSpec) -> tuple[int, str] | None:
        """Verify, reuse or execute one task; the (exit code, message) that stops the run, or None."""
        run, opts = self.run, self.opts
        if opts.renders.apply(self.cache):  # the notebooks rendered while the last task ran
            run.save()
        record = run.tasks[task.name]
        label = f"[{position}/{len(self.tasks)}] {task.name:<20}"
        if self.resume and record.status in DONE and not self.stale:
            problem = artifact_mismatch(run.run_dir, record.fields)
            if problem is None:
                opts.progress(f"{label} done earlier ({record.status}), artifacts verified")
                return None
            self.stale = True
            record.rerun_because(problem)
            append(layout.task_log(run.run_dir, task.name), task.name, logging.WARNING, f"re-running: {problem}")
            opts.progress(f"{label} re-running: {problem}")
        if task.name == "reporting":
            waiting = approval_gate(run, opts, self.cache)
            # the forecast in effect tonight, even while a person has yet to decide (the champion's, or
            # the challenger's labelled as awaiting); the report shows the track record
            record_forecasts(run, opts, self.cache)
            if waiting is not None:
                return Exit.AWAITING_APPROVAL, waiting
        fp = self._fingerprint(task, record)
        live = live_window(task, run.params, self.today)
        reusable = not (self.stale or opts.force or task.name in opts.force_tasks or live)
        entry = self.cache.lookup(fp) if reusable else None
        if entry is not None and entry["run_id"] != run.run_id:
            self._reuse(task, record, entry, fp, label)
            return None
        return self._run(position, task, record, fp, label, live)

    def _fingerprint(self, task: TaskSpec, record: TaskRecord) -> str:
        run, env = self.run, self.run.environment
        extra = (
            {"champion_sha256": Registry(self.opts.outputs_dir, run.params["ticker"]).champion_sha()}
            if "approval_policy" in task.params
            else None
        )
        if task.name == "model_evaluation":  # every evaluation on a held-out window is a try
            extra = {**(extra or {}), "tries_on_window": record_run_try(run, self.opts)}
        versions = {"python": env["python"], **env["packages"]}
        fp, parts = task_fingerprint(task, run.params, run.run_dir, self.opts.notebooks_dir, versions, extra)
        record.fingerprinted(fp, parts)
        return fp

    def _reuse(self, task: TaskSpec, record: TaskRecord, entry: dict[str, Any], fp: str, label: str) -> None:
        run, outputs_dir = self.run, self.opts.outputs_dir
        reuse(entry, task, record, run.run_dir, outputs_dir)
        append(
            layout.task_log(run.run_dir, task.name),
            task.name,
            logging.INFO,
            f"reused from run {entry['run_id']} (fingerprint {fp[:12]}): nothing it depends on changed",
        )
        summary_line(outputs_dir, task.name, f"run={run.run_id} status=reused from={entry['run_id']}")
        self.opts.progress(f"{label} reused from run {entry['run_id']}")
        run.save()

    def _run(
        self, position: int, task: TaskSpec, record: TaskRecord, fp: str, label: str, live: bool
    ) -> tuple[int, str] | None:
        opts = self.opts
        why = why_run(task, record, self.previous, opts, self.stale, live)
        opts.more_to_run = position < len(self.tasks)
        ok = run_task(task, record, self.run, opts, why)
        opts.progress(
            f"{label} "
            + (
                f"ok in {record.duration_s:.1f} s ({why})"
                if ok
                else f"{record.status.upper()} after {record.duration_s:.1f} s"
            )
        )
        if not ok:
            return Exit.FAILED, record.error
        if not live:
            entry = cache_entry(self.run.run_id, task, record)
            if not opts.renders.remember_cache_entry(record, fp, entry):
                self.cache.record(fp, entry)
        return None


def _execute(run: RunRecord, tasks: list[TaskSpec], opts: RunOptions, resume: bool) -> RunResult:
    run_id, run_dir, outputs_dir = run.run_id, run.run_dir, opts.outputs_dir
    loop = _Loop(
        run,
        tasks,
        opts,
        ReuseCache(outputs_dir, run.params.get("lock_timeout_seconds", 10.0)),
        resume,
        opts.today or dt.date.today(),
        previous_manifest(outputs_dir, run_dir, run.params),
    )
    run_started = time.perf_counter()
    exit_code, message = Exit.OK, f"run {run_id} succeeded: {run_dir}"
    interrupted: RunInterrupted | None = None
    opts.renders = BackgroundRenders()
    import_closure.use_store(layout.imports_cache(outputs_dir))
    try:
        with signals_interrupt():
            for position, task in enumerate(tasks, 1):
                stop = loop.step(position, task)
                if stop is not None:
                    exit_code, message = stop
                    break
    except LockBusyError as exc:
        exit_code, message = Exit.LOCKED, str(exc)
    except PipelineError as exc:  # e.g. a damaged champion.json: the run fails with the file named
        exit_code, message = Exit.FAILED, str(exc)
        summary_line(outputs_dir, "pipeline", f"run={run_id} error={exc}", logging.ERROR)
    except RunInterrupted as exc:
        interrupted = exc
        exit_code = exit_codes.for_signal(exc.signum)
        message = record_interruption(run, exc)
    import_closure.save_store()
    if opts.next_kernel is not None:  # started ahead for a task that never ran
        opts.next_kernel.discard()
        opts.next_kernel = None
    opts.renders.apply(loop.cache, wait=True)  # a run ends once every page it owes is written
    opts.renders.close()
    opts.renders = None
    finish_run(run, opts, exit_code, interrupted, run_started)
    return RunResult(exit_code, run_id, run_dir, message)
