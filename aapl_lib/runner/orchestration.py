"""Runs the DAG: each task's notebook executed by papermill into the run folder, scraps read back with
scrapbook, the manifest and the logs kept up to date, HTML rendered for reviewers.

Checkpoints: a run folder is locked while a runner works in it; every task gets a fingerprint
(:mod:`aapl_lib.runner.fingerprints`); a task whose fingerprint matches an earlier successful one is *reused*
(its artifacts, executed notebook and HTML linked from that run) instead of executed; ``resume`` continues a
run from its first unfinished task after checking the finished ones' artifacts against their sha256.

papermill, nbformat, scrapbook and pandas are imported only when a notebook is actually executed, so a rerun
with nothing to do stays fast.

This module holds the entry points and the loop over the DAG's steps (:data:`aapl_lib.pipeline.tasks.DAG`): each
step, notebook or the runner's own (approval gate, forecast ledger), goes through the same shape
(:func:`aapl_lib.runner.steps.base.run_step`); what a step does is in :mod:`aapl_lib.runner.steps`, how a run
ends in :mod:`aapl_lib.runner.finish`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import json_digest as params_fingerprint
from aapl_lib.io.iorw import read_json
from aapl_lib.io.locks import LockBusyError, PathLock
from aapl_lib.pipeline import exit_codes
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.tasks import TASKS, TaskSpec, dag_steps, select_tasks
from aapl_lib.pipeline.trust import HOOKS, NO_CODE, adopt
from aapl_lib.runner import import_closure
from aapl_lib.runner.finish import finish_run
from aapl_lib.runner.hooks import pause_point
from aapl_lib.runner.interrupts import RunInterrupted, record_interruption, signals_interrupt
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.planning import plan_upstream, take_upstream
from aapl_lib.runner.renders import BackgroundRenders
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.runner.steps.base import StepContext, Stop, labels, run_step
from aapl_lib.runner.steps.registry import step_for
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import ReuseCache
from aapl_lib.store.run_record import RunRecord
from aapl_lib.store.runs import drop_intent, find_resumable, find_run, previous_manifest, read_intent, write_intent

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
    replay_id: str | None = None,
) -> RunResult:
    """Start a new run of the selected tasks. Parameters must already be validated. ``batch_id`` / ``replay_id``
    are recorded when a batch or a replay started the run (a plain ``resume`` then leaves it to them).

    A run in ``outputs/runs`` that no batch started records its intent first, before anything slow (planning,
    retention, the environment): a kill from then on leaves it for plain ``resume`` (:func:`resume_run`)."""
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
    if in_runs and (run_dir.exists() or layout.intent_path(outputs_dir, run_id).exists()):
        run_id = f"{run_id}-{os.getpid()}"  # same second, same params: keep both
        run_dir = layout.run_dir(outputs_dir, run_id)
    intent = {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),  # microseconds: orders same-second runs
        "params": params,
        "start_task": tasks[0].name,
        "end_task": tasks[-1].name,
        "from_run": from_run.name if from_run else None,
        "force": force,
        "force_tasks": list(force_tasks),
        "replay_id": replay_id,
    }
    # a batch records its runs from its own first instant; a --run-dir folder is not resumed by plain resume
    kept = in_runs and batch_id is None
    with _intent_kept(outputs_dir, intent if kept else None):
        return _start(intent, tasks, opts, run_dir, from_run, batch_id)


@contextmanager
def _intent_kept(outputs_dir: Path, intent: dict[str, Any] | None, claimed: PathLock | None = None) -> Iterator[None]:
    """Hold the intent's lock and, unless ``claimed`` (taken over by resume), write the intent; it is dropped
    once the run's manifest exists (:func:`_start`) or when an error ends the start (nothing ran: exit 2, 4),
    and kept when a signal or a kill does, for plain resume."""
    if intent is None:
        yield
        return
    run_id = intent["run_id"]
    # a refused start writes nothing: the folders the intent needed go again if this start made them
    made = [d for d in (layout.intent_path(outputs_dir, run_id).parent, outputs_dir) if not d.exists()]
    lock = claimed or PathLock(layout.intent_lock(outputs_dir, run_id), f"the start of run {run_id}").acquire()
    refused = False
    try:
        if claimed is None:
            write_intent(outputs_dir, intent)
        pause_point("intent-written")
        yield
    except Exception:
        refused = True
        drop_intent(outputs_dir, run_id)
        raise
    finally:
        lock.release()
        if not layout.intent_path(outputs_dir, run_id).exists():
            layout.intent_lock(outputs_dir, run_id).unlink(missing_ok=True)
        for folder in made if refused else ():
            with suppress(OSError):  # not empty: something else lives there now
                folder.rmdir()


def _start(
    intent: dict[str, Any],
    tasks: list[TaskSpec],
    opts: RunOptions,
    run_dir: Path,
    from_run: Path | None,
    batch_id: str | None,
) -> RunResult:
    """Plan the upstream copies, apply retention, write the run's folder and manifest (then its intent is
    dropped), and execute."""
    outputs_dir, params, run_id = opts.outputs_dir, intent["params"], intent["run_id"]
    base, upstream, base_manifest = plan_upstream(tasks, params, run_dir, outputs_dir, from_run)
    _apply_retention(params, outputs_dir, opts.progress)

    lock = PathLock(run_dir / ".lock", f"run folder {run_dir}")
    with lock:
        if lock.took_over:
            opts.progress(f"note: took over the lock of {run_dir} left by dead process {lock.took_over['pid']}")
        run = RunRecord.new(
            run_dir,
            run_id=run_id,
            params=params,
            params_fingerprint=params_fingerprint(params),
            selection=(tasks[0].name, tasks[-1].name),
            environment=mf.environment(opts.project, outputs_dir),
            created_at=intent["created_at"],
            notebooks={t.name: layout.executed_notebook_rel(t.notebook) for t in TASKS},
            batch_id=batch_id,
            replay_id=intent.get("replay_id"),
        )
        take_upstream(run, upstream, base, base_manifest)
        for t in tasks:
            run.tasks[t.name].select()
        run.save()
        drop_intent(outputs_dir, run_id)  # the manifest stands for the run from now on
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
    """Continue a run from its first task that is not finished; finished tasks are checked, not re-run. A run
    killed before its folder had a manifest is started from its intent, with the same id and parameters.

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
    elif "/" not in run_id and read_intent(opts.outputs_dir, run_id) is not None:
        run_dir = layout.run_dir(opts.outputs_dir, run_id)
    else:
        run_dir = find_run(opts.outputs_dir, run_id)
    if not (run_dir / layout.MANIFEST).is_file():
        return _start_from_intent(run_dir, opts, operator)
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
                follow_up(f"resume {run_dir.name}", opts.outputs_dir),
            )
        )
        tasks = select_tasks(run.selection.get("start_task"), run.selection.get("end_task"))
        run.save()
        return _execute(run, tasks, opts, resume=True)


def _start_from_intent(run_dir: Path, opts: RunOptions, operator: dict[str, Any]) -> RunResult:
    """Start the run an orphaned intent describes, as it was asked: same id, parameters (hooks and
    extra_features the operator's, as for any resume), task selection and options."""
    outputs_dir, run_id = opts.outputs_dir, run_dir.name
    lock = PathLock(layout.intent_lock(outputs_dir, run_id), f"the start of run {run_id}").acquire()
    try:
        try:
            intent = read_json(layout.intent_path(outputs_dir, run_id))  # ours now: no other resume takes it
        except (OSError, ValueError):
            raise ParameterError(f"run {run_id} has no manifest and no intent any more: see runner.py list") from None
        params = adopt(
            intent["params"], operator, f"the intent of run {run_id}", follow_up(f"resume {run_id}", outputs_dir)
        )
        from_run = find_run(outputs_dir, intent["from_run"]) if intent.get("from_run") else None
    except Exception:
        lock.release()
        raise
    intent = {**intent, "params": params}
    opts.force, opts.force_tasks = bool(intent.get("force")), tuple(intent.get("force_tasks") or ())
    tasks = select_tasks(intent.get("start_task"), intent.get("end_task"))
    with _intent_kept(outputs_dir, intent, claimed=lock):
        return _start(intent, tasks, opts, run_dir, from_run, None)


# ------------------------------------------------------------------------------------------ the loop
def _walk(ctx: StepContext, tasks: list[TaskSpec]) -> Stop:
    """Every step of the DAG the selection reaches, in order, one shape for all (:func:`run_step`). The gate's
    wait for a person stops the steps after it, except those that run while it waits (the forecast ledger)."""
    waiting: Stop = None
    for spec, label, more_to_run in labels(dag_steps(tasks)):
        if waiting is not None and not spec.runs_while_awaiting:
            break
        if ctx.opts.renders.apply(ctx.cache):  # the notebooks rendered while the last task ran
            ctx.run.save()
        ctx.opts.more_to_run = more_to_run
        stop = run_step(step_for(spec), ctx, label)
        if stop is not None and stop[0] == Exit.AWAITING_APPROVAL:
            waiting = stop
        elif stop is not None:
            return stop
    return waiting


def _execute(run: RunRecord, tasks: list[TaskSpec], opts: RunOptions, resume: bool) -> RunResult:
    run_id, run_dir, outputs_dir = run.run_id, run.run_dir, opts.outputs_dir
    ctx = StepContext(
        run,
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
            stop = _walk(ctx, tasks)
            if stop is not None:
                exit_code, message = stop
    except LockBusyError as exc:
        exit_code, message = Exit.LOCKED, str(exc)
    except PipelineError as exc:  # e.g. a damaged champion.json: the run fails with the file named
        exit_code, message = Exit.FAILED, str(exc)
        summary_line(outputs_dir, "pipeline", f"run={run_id} error={exc}", logging.ERROR)
    except RunInterrupted as exc:
        interrupted = exc
        exit_code = exit_codes.for_signal(exc.signum)
        message = record_interruption(run, exc, outputs_dir)
    import_closure.save_store()
    if opts.next_kernel is not None:  # started ahead for a task that never ran
        opts.next_kernel.discard()
        opts.next_kernel = None
    opts.renders.apply(ctx.cache, wait=True)  # a run ends once every page it owes is written
    opts.renders.close()
    opts.renders = None
    finish_run(run, opts, exit_code, interrupted, run_started)
    return RunResult(exit_code, run_id, run_dir, message)
