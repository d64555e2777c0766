"""Runs the DAG: each task's notebook executed by papermill into the run folder, scraps read back with
scrapbook, the manifest and the logs kept up to date, HTML rendered for reviewers.

Checkpoints: a run folder is locked while a runner works in it; every task gets a fingerprint
(:mod:`aapl_lib.runner.fingerprints`); a task whose fingerprint matches an earlier successful one is *reused*
(its artifacts, executed notebook and HTML linked from that run) instead of executed; ``resume`` continues a
run from its first unfinished task after checking the finished ones' artifacts against their sha256.

papermill, nbformat, scrapbook and pandas are imported only when a notebook is actually executed, so a rerun
with nothing to do stays fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.io.iorw import json_digest as params_fingerprint
from aapl_lib.io.locks import LockBusyError, PathLock
from aapl_lib.io.logs import TaskFormatter, file_handler
from aapl_lib.pipeline import exit_codes
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import DONE, State
from aapl_lib.pipeline.tasks import TASKS, TaskSpec, notebook_params, producer_of, select_tasks
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.fingerprints import explain_difference, task_fingerprint
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import ReuseCache, copy_artifact

log = logging.getLogger("aapl_lib.runner")
log.propagate = False  # runner messages go to the task logs; the console gets one progress line per task

# Errors worth another attempt of a whole task (the task's own retry policy decides how many).
TRANSIENT_ERRORS = {
    "TransientSourceError",
    "DeadKernelError",
    "ConnectionError",
    "ConnectionResetError",
    "TimeoutError",
}


@dataclass
class RunResult:
    """What a run ended with."""

    exit_code: int
    run_id: str
    run_dir: Path
    message: str


@dataclass
class RunOptions:
    """How to run (not what: that is the params)."""

    outputs_dir: Path
    notebooks_dir: Path
    project: Path | None = None
    log_level: str = "INFO"
    force: bool = False
    force_tasks: tuple[str, ...] = ()
    progress: Callable[[str], None] = print
    today: dt.date | None = None
    _cache: ReuseCache | None = field(default=None, repr=False)


def make_run_id(params: dict[str, Any], now: dt.datetime | None = None) -> str:
    """``20261126T233000Z-aapl-1a2b3c``: sorts by time; ticker; first 6 hex of the params fingerprint."""
    now = now or dt.datetime.now(dt.UTC)
    safe_ticker = "".join(ch if ch.isalnum() else "_" for ch in params["ticker"].lower())
    return f"{now:%Y%m%dT%H%M%SZ}-{safe_ticker}-{params_fingerprint(params)[:6]}"


def same_interpreter_kernel_manager(stderr_path: Path | None = None, on_start: Callable[[int], None] | None = None):
    """A kernel manager class that starts ipykernel with the runner's own interpreter, whatever ``python3``
    kernelspec is installed elsewhere on the machine; the kernel process's own stderr (start-up warnings,
    crash traces) goes to ``stderr_path``; ``on_start`` receives the kernel's pid (for the watchdog)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SameInterpreterKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            if stderr_path is not None and "stderr" not in kw:
                stderr_path.parent.mkdir(parents=True, exist_ok=True)
                with open(stderr_path, "ab") as stderr:  # the child keeps its own copy of the descriptor
                    result = await super().start_kernel(**kw, stderr=stderr)
            else:
                result = await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None) or getattr(
                getattr(self.provisioner, "process", None), "pid", None
            )
            if on_start and pid:
                on_start(int(pid))
            return result

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            if self._kernel_spec is None:
                # aapl_lib.runner.kernel_launcher = ipykernel_launcher + "end when the runner (this pid) is gone"
                self._kernel_spec = KernelSpec(
                    argv=[
                        sys.executable,
                        "-m",
                        "aapl_lib.runner.kernel_launcher",
                        str(os.getpid()),
                        "-f",
                        "{connection_file}",
                    ],
                    display_name="Python 3 (ipykernel)",
                    language="python",
                    resource_dir="",
                )
            return self._kernel_spec

    return SameInterpreterKernelManager


# ------------------------------------------------------------------------------------------ small helpers
def _format(task: str, level: int, message: str) -> str:
    record = logging.LogRecord("aapl_lib.runner", level, "", 0, message, None, None)
    record.task = task
    return TaskFormatter(task).format(record)


def _append(path: Path, task: str, level: int, message: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(_format(task, level, message) + "\n")


def _summary_line(outputs_dir: Path, task: str, message: str, level: int = logging.INFO) -> None:
    _append(layout.summary_log(outputs_dir), task, level, message)


def find_resumable(outputs_dir: Path) -> tuple[Path | None, str]:
    """The newest run that is not finished (interrupted, failed, timed out, awaiting or just given a decision,
    stopped by a lock), and why; ``(None, reason)`` when every run finished. A run that is still running (its
    lock is held) is skipped."""
    for run_dir in layout.run_folders(outputs_dir):
        try:
            manifest = mf.load(run_dir)
        except (OSError, PipelineError):
            continue  # a damaged record is reported by status/list, never resumed blindly
        if manifest.get("batch_id"):
            continue  # a batch's runs are resumed with their batch
        status = mf.effective_status(run_dir, manifest)
        if status in mf.UNFINISHED:
            return run_dir, status
    newest = layout.run_folders(outputs_dir)
    return None, (
        f"nothing to resume: every run in {outputs_dir / 'runs'} has finished or is running"
        if newest
        else f"nothing to resume: there is no run in {outputs_dir / 'runs'} yet"
    )


def unfinished_batch_run(outputs_dir: Path, batch_id: str, ticker: str) -> Path | None:
    """The newest unfinished run that batch ``batch_id`` started for ``ticker``, if any."""
    for run_dir in layout.run_folders(outputs_dir):
        try:
            manifest = mf.load(run_dir)
        except (OSError, PipelineError):
            continue
        if (
            manifest.get("batch_id") == batch_id
            and manifest["params"].get("ticker") == ticker
            and mf.effective_status(run_dir, manifest) in mf.UNFINISHED
        ):
            return run_dir
    return None


def find_run(outputs_dir: Path, run_id: str | None) -> Path:
    """The folder of ``run_id`` (default: the run worked on most recently — started, resumed, decided or
    interrupted last — whose manifest was written last); a ParameterError naming the choices otherwise."""
    if run_id is None:
        runs = layout.run_folders(outputs_dir)
        if not runs:
            raise ParameterError(
                f"there is no run in {layout.runs_dir(outputs_dir)} yet: start one with python runner.py"
            )
        return max(runs, key=lambda p: ((p / "manifest.json").stat().st_mtime_ns, p.name))
    if "/" in run_id or run_id in ("", ".", ".."):
        raise ParameterError(f"{run_id!r} is not a run id (like 20261126T233000Z-aapl-1a2b3c)")
    run_dir = layout.run_dir(outputs_dir, run_id)
    if not (run_dir / layout.MANIFEST).is_file():
        raise ParameterError(f"no run {run_id} in {layout.runs_dir(outputs_dir)}: see python runner.py list")
    return run_dir


def _task_error_message(task: TaskSpec, exc: BaseException, executed: Path) -> str:
    """One line naming the task, the notebook, the cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first = next((ln for ln in str(exc.source).splitlines() if ln.strip() and not ln.startswith("#")), "")
        lines = str(exc.evalue).splitlines() or [""]
        detail = lines[0] + (" (the executed notebook shows the details)" if len(lines) > 1 else "")
        return (
            f"task {task.name} failed in notebooks/{task.notebook}, cell {exc.exec_count} "
            f"(`{first.strip()[:60]}`): {exc.ename}: {detail} — executed notebook: {executed}"
        )
    name = type(exc).__name__
    if name == "CellTimeoutError":
        return (
            f"task {task.name} timed out in notebooks/{task.notebook}: a cell ran longer than "
            f"cell_timeout_seconds — executed notebook: {executed}"
        )
    if name == "DeadKernelError":
        return f"task {task.name}: the kernel died while running notebooks/{task.notebook}: {exc}"
    return f"task {task.name} failed in notebooks/{task.notebook}: {name}: {exc}"


KERNEL_STARTS = 3  # attempts to start a notebook's kernel before the task counts as failed


def kernel_failed_to_start(exc: BaseException) -> bool:
    """True when the kernel died or never answered before the first cell ran — e.g. jupyter_client's port race
    ('Address already in use') when several runners start kernels at once."""
    text = str(exc)
    return "before replying to kernel_info" in text or "Kernel didn't respond in" in text


def _error_name(exc: BaseException) -> str:
    return getattr(exc, "ename", None) or type(exc).__name__


def _artifact_mismatch(run_dir: Path, record: dict[str, Any]) -> str | None:
    """The first artifact of a finished task that is missing or differs from its recorded sha256."""
    for rel, info in (record.get("artifacts") or {}).items():
        path = run_dir / rel
        if not path.is_file():
            return f"{rel} is missing"
        if mf.sha256_file(path) != info["sha256"]:
            return f"{rel} no longer matches the sha256 recorded in the manifest"
    return None


def _live_window(task: TaskSpec, params: dict[str, Any], today: dt.date) -> bool:
    return task.name == "data_ingestion" and params["source"] == "yfinance" and params["end"] >= today.isoformat()


# ------------------------------------------------------------------------------------------ upstream copy
def _plan_upstream(
    tasks: list[TaskSpec], params: dict, run_dir: Path, outputs_dir: Path, from_run: Path | None
) -> tuple[Path | None, list[TaskSpec], dict]:
    """For a run that starts after task 1: the earlier run whose outputs can stand in for the tasks before
    it — ``from_run``, else the newest run where those tasks finished with the same values of their params
    and files that still match their sha256. Raises ParameterError when there is none."""
    first = tasks[0]
    upstream = list(TASKS[: [t.name for t in TASKS].index(first.name)])
    if not upstream:
        return None, [], {}
    if all((run_dir / rel).is_file() for t in upstream for rel in t.outputs):
        return None, upstream, {}
    producer = producer_of(first.inputs[0]) if first.inputs else upstream[-1]
    candidates = [from_run] if from_run else layout.run_folders(outputs_dir)
    if not candidates:
        raise ParameterError(
            f"--start-task {first.name} needs the outputs of {producer.name}, and no earlier "
            f"run has them: run python runner.py --end-task {producer.name} first"
        )
    first_problem = None
    for base in candidates:
        try:
            base_manifest = mf.load(base)
        except PipelineError as exc:  # a damaged record cannot vouch for its files
            first_problem = first_problem or f"run {base.name}: {exc}"
            continue
        problem = _upstream_problem(base, base_manifest, upstream, params)
        if problem is None:
            return base, upstream, base_manifest
        first_problem = first_problem or f"run {base.name}: {problem}"
    raise ParameterError(
        f"--start-task {first.name}: no earlier run can supply the outputs of "
        f"{producer.name} (newest checked, {first_problem}); run python runner.py --end-task "
        f"{producer.name} with these parameters first"
    )


def _upstream_problem(base: Path, base_manifest: dict, upstream: list[TaskSpec], params: dict) -> str | None:
    for t in upstream:
        state = base_manifest["tasks"].get(t.name, {})
        if state.get("status") not in DONE:
            return f"{t.name} did not finish there"
        changed = [p for p in t.params if base_manifest["params"].get(p) != params.get(p)]
        if changed:
            return f"{t.name} ran with other values of {', '.join(changed)}"
        mismatch = _artifact_mismatch(base, state)
        if mismatch:
            return f"{t.name}: {mismatch}"
    return None


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
    )
    tasks = select_tasks(start_task, end_task)
    outputs_dir = opts.outputs_dir
    run_id = run_dir.name if run_dir else make_run_id(params)
    run_dir = (run_dir or layout.run_dir(outputs_dir, run_id)).resolve()
    in_runs = layout.is_run_dir(outputs_dir, run_dir)
    if in_runs and run_dir.exists():
        run_id = f"{run_id}-{os.getpid()}"  # same second, same params: keep both
        run_dir = layout.run_dir(outputs_dir, run_id)
    base, upstream, base_manifest = _plan_upstream(tasks, params, run_dir, outputs_dir, from_run)

    if params.get("retention_days"):
        from aapl_lib.store.retention import prune_runs

        pruned = prune_runs(outputs_dir, params["retention_days"])
        if pruned["deleted"]:
            line = f"retention: deleted {len(pruned['deleted'])} run(s) older than {params['retention_days']} days"
            _summary_line(outputs_dir, "pipeline", line)
            progress(line)
    if params.get("summary_log_days"):
        from aapl_lib.store.retention import trim_summary_log

        trim_summary_log(outputs_dir, params["summary_log_days"])

    lock = PathLock(run_dir / ".lock", f"run folder {run_dir}")
    with lock:
        if lock.took_over:
            progress(f"note: took over the lock of {run_dir} left by dead process {lock.took_over['pid']}")
        manifest: dict[str, Any] = {
            "run_id": run_id,
            "status": State.RUNNING,
            "run_dir": str(run_dir),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),  # microseconds: orders same-second runs
            "params": params,
            "params_fingerprint": params_fingerprint(params),
            "selection": {"start_task": tasks[0].name, "end_task": tasks[-1].name},
            "environment": mf.environment(project),
            "tasks": {t.name: {"status": "not_selected", "notebook": f"notebooks/{t.notebook}"} for t in TASKS},
        }
        if batch_id:
            manifest["batch_id"] = batch_id
        for t in upstream:
            if base is None:
                manifest["tasks"][t.name].update(
                    status=State.PRESENT,
                    note=f"outputs already in {run_dir}",
                    artifacts=mf.artifact_records(run_dir, t.outputs),
                )
                continue
            for rel in t.outputs:
                copy_artifact(base / rel, run_dir / rel)
            manifest["tasks"][t.name].update(
                status=State.COPIED, from_run=base.name, artifacts=base_manifest["tasks"][t.name]["artifacts"]
            )
        for t in tasks:
            manifest["tasks"][t.name]["status"] = State.PENDING
        mf.save(run_dir, manifest)
        return _execute(manifest, run_dir, tasks, opts, resume=False)


def resume_run(
    run_id: str | None,
    *,
    outputs_dir: Path,
    notebooks_dir: Path,
    log_level: str = "INFO",
    progress: Callable[[str], None] = print,
    project: Path | None = None,
    today: dt.date | None = None,
) -> RunResult:
    """Continue a run from its first task that is not finished; finished tasks are checked, not re-run."""
    opts = RunOptions(
        outputs_dir=outputs_dir.resolve(),
        notebooks_dir=notebooks_dir,
        project=project,
        log_level=log_level,
        progress=progress,
        today=today,
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
        manifest = mf.load(run_dir)
        selection = manifest.get("selection", {})
        tasks = select_tasks(selection.get("start_task"), selection.get("end_task"))
        manifest.setdefault("resumed", []).append({"at": mf.utc_now(), "previous_status": manifest["status"]})
        manifest["status"] = State.RUNNING
        mf.save(run_dir, manifest)
        return _execute(manifest, run_dir, tasks, opts, resume=True)


# ------------------------------------------------------------------------------------------ signals
class RunInterrupted(BaseException):
    """SIGTERM (systemd stop, kill) or SIGINT (Ctrl-C) arrived: stop the kernel, record, release, exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _AbandonedKernelTasks(logging.Filter):
    """After a signal stops a run, nbclient's cell task may end with ``DeadKernelError`` once its kernel is
    gone; nobody awaits it any more, and asyncio would print its traceback to stderr at exit. The run is
    already recorded as interrupted: keep the console to the one error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Task exception was never retrieved")


@contextmanager
def _signals_interrupt():
    """While a run works, SIGTERM and SIGINT raise :class:`RunInterrupted` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# ------------------------------------------------------------------------------------------ the loop
def _execute(
    manifest: dict[str, Any], run_dir: Path, tasks: list[TaskSpec], opts: RunOptions, resume: bool
) -> RunResult:
    params, run_id, outputs_dir = manifest["params"], manifest["run_id"], opts.outputs_dir
    cache = ReuseCache(outputs_dir, params.get("lock_timeout_seconds", 10.0))
    versions = {"python": manifest["environment"]["python"], **manifest["environment"]["packages"]}
    today = opts.today or dt.date.today()
    previous = _previous_manifest(outputs_dir, run_dir, params)
    run_started = time.perf_counter()
    exit_code, message = Exit.OK, f"run {run_id} succeeded: {run_dir}"
    stale = False  # once a finished task must be redone, everything after it is executed again
    interrupted: RunInterrupted | None = None
    try:
        with _signals_interrupt():
            for position, task in enumerate(tasks, 1):
                record = manifest["tasks"][task.name]
                label = f"[{position}/{len(tasks)}] {task.name:<20}"
                task_log = layout.task_log(run_dir, task.name)
                if resume and record.get("status") in DONE and not stale:
                    problem = _artifact_mismatch(run_dir, record)
                    if problem is None:
                        opts.progress(f"{label} done earlier ({record['status']}), artifacts verified")
                        continue
                    stale = True
                    record["rerun_reason"] = problem
                    _append(task_log, task.name, logging.WARNING, f"re-running: {problem}")
                    opts.progress(f"{label} re-running: {problem}")
                if task.name == "reporting":
                    waiting = _approval_gate(manifest, run_dir, opts, cache)
                    if waiting is not None:
                        exit_code, message = Exit.AWAITING_APPROVAL, waiting
                        break
                extra = (
                    {"champion_sha256": Registry(outputs_dir, params["ticker"]).champion_sha()}
                    if "approval_policy" in task.params
                    else None
                )
                fp, parts = task_fingerprint(task, params, run_dir, opts.notebooks_dir, versions, extra)
                record.update(fingerprint=fp, fingerprint_parts=parts)
                reusable = not (
                    stale or opts.force or task.name in opts.force_tasks or _live_window(task, params, today)
                )
                entry = cache.lookup(fp) if reusable else None
                if entry is not None and entry["run_id"] != run_id:
                    _reuse(entry, task, record, run_dir, outputs_dir)
                    _append(
                        task_log,
                        task.name,
                        logging.INFO,
                        f"reused from run {entry['run_id']} (fingerprint {fp[:12]}): nothing it depends on changed",
                    )
                    _summary_line(outputs_dir, task.name, f"run={run_id} status=reused from={entry['run_id']}")
                    opts.progress(f"{label} reused from run {entry['run_id']}")
                    mf.save(run_dir, manifest)
                    continue
                why = _why_run(task, record, previous, opts, stale, _live_window(task, params, today))
                record["run_reason"] = why
                ok = _run_task(task, record, manifest, run_dir, opts, why)
                opts.progress(
                    f"{label} "
                    + (
                        f"ok in {record['duration_s']:.1f} s ({why})"
                        if ok
                        else f"{record['status'].upper()} after {record['duration_s']:.1f} s"
                    )
                )
                if not ok:
                    exit_code, message = Exit.FAILED, record["error"]
                    break
                if not _live_window(task, params, today):
                    cache.record(
                        fp,
                        {
                            "run_id": run_id,
                            "task": task.name,
                            "artifacts": {rel: info["sha256"] for rel, info in record["artifacts"].items()},
                            "notebook": record.get("executed_notebook"),
                            "html": record.get("html"),
                            "report_html": record.get("report_html"),
                            "scraps": record.get("scraps", {}),
                            "duration_s": record["duration_s"],
                        },
                    )
    except LockBusyError as exc:
        exit_code, message = Exit.LOCKED, str(exc)
    except PipelineError as exc:  # e.g. a damaged champion.json: the run fails with the file named
        exit_code, message = Exit.FAILED, str(exc)
        _summary_line(outputs_dir, "pipeline", f"run={run_id} error={exc}", logging.ERROR)
    except RunInterrupted as exc:
        interrupted = exc
        logging.getLogger("asyncio").addFilter(_AbandonedKernelTasks())
        exit_code = exit_codes.for_signal(exc.signum)
        where = [t.name for t in TASKS if manifest["tasks"][t.name].get("status") == State.RUNNING]
        for name in where:
            manifest["tasks"][name].update(
                status="interrupted", ended_at=mf.utc_now(), error=f"interrupted by {exc} while running"
            )
            _append(layout.task_log(run_dir, name), name, logging.WARNING, f"interrupted by {exc}")
        message = (
            f"run {run_id} interrupted by {exc}"
            + (f" during {where[0]}" if where else "")
            + f"; its kernel was stopped. Continue it with: python runner.py resume {run_id}"
        )
    failed = [t for t in TASKS if manifest["tasks"][t.name]["status"] in (State.FAILED, State.TIMED_OUT)]
    manifest["status"] = (
        State.INTERRUPTED
        if interrupted is not None
        else State.SUCCESS
        if exit_code == Exit.OK
        else State.AWAITING_APPROVAL
        if exit_code == Exit.AWAITING_APPROVAL
        else State.TIMED_OUT
        if failed and manifest["tasks"][failed[0].name]["status"] == State.TIMED_OUT
        else State.LOCKED
        if exit_code == Exit.LOCKED
        else State.FAILED
    )
    manifest["ended_at"] = mf.utc_now()
    manifest["duration_s"] = round(time.perf_counter() - run_started, 3)
    hook = params.get("on_success") if exit_code == Exit.OK else params.get("on_failure")  # incl. awaiting approval
    if hook:
        from aapl_lib.runner.hooks import run_hook

        manifest["hook"] = run_hook(hook, run_id=run_id, status=manifest["status"], run_dir=run_dir)
        if manifest["hook"]["exit_code"] != 0:
            opts.progress(
                f"warning: the {'on_success' if exit_code == Exit.OK else 'on_failure'} hook "
                f"exited {manifest['hook']['exit_code']}: {manifest['hook']['output'][-200:]}"
            )
    mf.save(run_dir, manifest)
    if layout.is_run_dir(outputs_dir, run_dir):
        layout.update_latest(outputs_dir, run_dir)
    _summary_line(
        outputs_dir,
        "pipeline",
        f"run={run_id} status={manifest['status']} duration={manifest['duration_s']}s dir={run_dir}",
        logging.INFO if exit_code == Exit.OK else logging.ERROR,
    )
    refresh_browser(outputs_dir, run_dir, opts.progress)
    return RunResult(exit_code, run_id, run_dir, message)


def refresh_browser(outputs_dir: Path, run_dir: Path | None, progress: Callable[[str], None] = print) -> None:
    """Rebuild the run browser pages; a failure here is reported, never fatal to the run."""
    try:
        from aapl_lib.views.browser import refresh

        refresh(outputs_dir, run_dir)
    except Exception as exc:  # the browser is a view: the run's own result stands
        progress(f"warning: could not rebuild the run browser: {type(exc).__name__}: {exc}")


def _approval_gate(manifest: dict[str, Any], run_dir: Path, opts: RunOptions, cache: ReuseCache) -> str | None:
    """Decide on the challenger before reporting. Returns None to go on, or the message of a run that must
    wait for a person (exit 3)."""
    from aapl_lib.io.iorw import json_digest as digest
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    params, run_id = manifest["params"], manifest["run_id"]
    record = manifest.setdefault("gate", {})
    decision_path = run_dir / "reports" / "decision.json"
    if (
        record.get("status") == State.DECIDED
        and decision_path.is_file()
        and mf.sha256_file(decision_path) == record.get("sha256")
    ):
        return None
    proposal = read_json(run_dir / "reports" / "gate.json")
    registry = Registry(opts.outputs_dir, params["ticker"])
    champion = registry.champion()
    if proposal["proposal"] == State.AWAITING_APPROVAL:
        record.update(
            status=State.AWAITING_APPROVAL,
            proposal=proposal["proposal"],
            reasons=proposal["reasons"],
            since=record.get("since") or mf.utc_now(),
        )
        mf.save(run_dir, manifest)
        _summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} status=awaiting_approval")
        return (
            f"run {run_id} is awaiting approval. Read {run_dir / 'html' / '05_model_evaluation.html'} "
            f"(and 04_model_training.html), then decide:\n"
            f"  python runner.py approve {run_id} --by NAME [--note TEXT]\n"
            f"  python runner.py reject {run_id} --by NAME [--note TEXT]\n"
            f"and finish the report with: python runner.py resume {run_id}"
        )
    key = "gate:" + digest(
        {
            "proposal": mf.sha256_file(run_dir / "reports" / "gate.json"),
            "champion": champion["sha256"] if champion else None,
            "policy": params["approval_policy"],
        }
    )
    cached = cache.lookup(key) if proposal["proposal"] in ("keep", "unchanged") else None
    if cached is not None:
        copy_artifact(layout.run_dir(opts.outputs_dir, cached["run_id"]) / "reports" / "decision.json", decision_path)
        decision = read_json(decision_path)
    else:
        outcome = {"promote": "promoted", "keep": "kept"}.get(proposal["proposal"], "unchanged")
        decision = gate.apply(
            run_dir,
            run_id,
            registry,
            proposal,
            outcome=outcome,
            policy=params["approval_policy"],
            by="auto policy",
            at=mf.utc_now(),
        )
        write_json(decision_path, decision)
        if proposal["proposal"] in ("keep", "unchanged"):
            cache.record(
                key,
                {
                    "run_id": run_id,
                    "task": "approval_gate",
                    "artifacts": {"reports/decision.json": mf.sha256_file(decision_path)},
                },
            )
    record.update(
        status=State.DECIDED,
        decision=decision["decision"],
        by=decision["by"],
        at=decision["at"],
        note=decision.get("note", ""),
        reasons=decision["reasons"],
        sha256=mf.sha256_file(decision_path),
    )
    mf.save(run_dir, manifest)
    _summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} decision={decision['decision']}")
    opts.progress(f"      approval gate        {gate.describe(decision, proposal)}")
    return None


def decide(run_id: str, *, approve: bool, by: str, note: str, outputs_dir: Path) -> str:
    """``runner.py approve|reject``: record a person's decision on an awaiting run (approval promotes its
    challenger); ``resume`` then finishes the report."""
    from aapl_lib.errors import IntegrityError
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    if not by.strip():
        raise ParameterError("--by NAME is required: say who decides")
    run_dir = find_run(outputs_dir, run_id)
    with PathLock(run_dir / ".lock", f"run {run_dir.name}"):
        manifest = mf.load(run_dir)
        record = manifest.get("gate", {})
        if record.get("status") != State.AWAITING_APPROVAL:
            raise ParameterError(
                f"run {run_dir.name} is not awaiting approval (its gate is "
                f"{record.get('status', 'not reached')}; run status {manifest['status']})"
            )
        model_record = manifest["tasks"]["model_training"].get("artifacts", {}).get("model/model.joblib", {})
        if mf.sha256_file(run_dir / "model" / "model.joblib") != model_record.get("sha256"):
            raise IntegrityError(
                f"run {run_dir.name}'s model file does not match the sha256 in its manifest: "
                "it was changed after training; it will not be promoted"
            )
        proposal = read_json(run_dir / "reports" / "gate.json")
        registry = Registry(outputs_dir, manifest["params"]["ticker"])
        at = mf.utc_now()
        decision = gate.apply(
            run_dir,
            run_dir.name,
            registry,
            proposal,
            outcome="approved" if approve else "rejected",
            policy="manual",
            by=by,
            at=at,
            note=note,
        )
        path = write_json(run_dir / "reports" / "decision.json", decision)
        record.update(
            status=State.DECIDED, decision=decision["decision"], by=by, at=at, note=note, sha256=mf.sha256_file(path)
        )
        manifest["status"] = decision["decision"]
        mf.save(run_dir, manifest)
        _summary_line(outputs_dir, "approval_gate", f"run={run_dir.name} decision={decision['decision']} by={by}")
    refresh_browser(outputs_dir, run_dir)
    return (
        f"run {run_dir.name} {decision['decision']} by {by}"
        + (
            ": the challenger is now the champion of " + manifest["params"]["ticker"]
            if approve
            else ": the champion is unchanged"
        )
        + f". Finish the report with: python runner.py resume {run_dir.name}"
    )


def _previous_manifest(outputs_dir: Path, run_dir: Path, params: dict) -> dict | None:
    """The latest other run's manifest (to explain why a task runs again)."""
    latest = layout.latest_run_dir(outputs_dir)
    if latest is None or latest == run_dir or not (latest / "manifest.json").is_file():
        return None
    try:
        return mf.load(latest)
    except (OSError, ValueError, PipelineError):
        return None


def _why_run(task: TaskSpec, record: dict, previous: dict | None, opts: RunOptions, stale: bool, live: bool) -> str:
    if stale:
        return "an earlier task was redone"
    if opts.force or task.name in opts.force_tasks:
        return "forced"
    if live:
        return "live download window reaches today"
    old = (previous or {}).get("tasks", {}).get(task.name, {}).get("fingerprint_parts")
    if not old:
        return "first run of this task"
    changed = explain_difference(old, record["fingerprint_parts"])
    return f"changed: {changed}" if changed != "nothing" else "no reusable result in the cache"


def _reuse(entry: dict, task: TaskSpec, record: dict, run_dir: Path, outputs_dir: Path) -> None:
    source = layout.run_dir(outputs_dir, entry["run_id"])
    for rel in entry["artifacts"]:
        copy_artifact(source / rel, run_dir / rel)
    for key in ("notebook", "html", "report_html"):
        rel = entry.get(key)
        if rel and (source / rel).is_file():
            copy_artifact(source / rel, run_dir / rel)
    record.update(
        status=State.REUSED,
        reused_from=entry["run_id"],
        duration_s=0.0,
        original_duration_s=entry.get("duration_s"),
        executed_notebook=entry.get("notebook"),
        html=entry.get("html"),
        report_html=entry.get("report_html"),
        scraps=entry.get("scraps", {}),
        artifacts=mf.artifact_records(run_dir, task.outputs),
        ended_at=mf.utc_now(),
    )


class _AttemptFailed(Exception):
    def __init__(self, error: BaseException, transient: bool) -> None:
        super().__init__(str(error))
        self.error, self.transient = error, transient


def _run_task(task: TaskSpec, record: dict, manifest: dict, run_dir: Path, opts: RunOptions, why: str) -> bool:
    """Execute the task's notebook with its retry policy and time limits; update ``record``."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

    params = manifest["params"]
    retries = int(params.get("task_retries", {}).get(task.name, 0))
    task_log = layout.task_log(run_dir, task.name)
    record.update(
        status="running", started_at=mf.utc_now(), attempts=[], executed_notebook=f"notebooks/{task.notebook}"
    )
    record.pop("error", None)
    mf.save(run_dir, manifest)
    _append(task_log, task.name, logging.INFO, f"start {task.notebook} in {run_dir} ({why})")
    started = time.perf_counter()

    def attempt() -> None:
        for start in range(1, KERNEL_STARTS + 1):
            error, timed_out = _execute_notebook(task, params, run_dir, opts)
            if error is None or not kernel_failed_to_start(error) or start == KERNEL_STARTS:
                break
            # no cell ran: starting the kernel again is always safe, whatever the task's retry policy
            record["kernel_restarts"] = record.get("kernel_restarts", 0) + 1
            _append(
                task_log,
                task.name,
                logging.WARNING,
                f"the kernel failed to start ({error}; see logs/kernel_stderr.log); starting it again",
            )
        if error is not None:
            raise _AttemptFailed(error, transient=not timed_out and _error_name(error) in TRANSIENT_ERRORS) from error
        record[State.TIMED_OUT] = False

    def before_sleep(state) -> None:
        delay = state.next_action.sleep if state.next_action else 0.0
        failure = state.outcome.exception()
        text = _task_error_message(task, failure.error, run_dir / "notebooks" / task.notebook)
        record["attempts"].append({"attempt": state.attempt_number, "error": text, "delay_s": round(delay, 3)})
        _append(
            task_log,
            task.name,
            logging.WARNING,
            f"attempt {state.attempt_number} of {retries + 1} failed with a transient error; retrying in "
            f"{delay:.2f} s: {text}",
        )
        mf.save(run_dir, manifest)

    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        reraise=True,
        before_sleep=before_sleep,
        wait=wait_random_exponential(multiplier=params.get("task_retry_wait_seconds", 5.0), max=600),
        retry=retry_if_exception(lambda e: isinstance(e, _AttemptFailed) and e.transient),
    )
    error: BaseException | None = None
    timed_out = False
    try:
        retrying(attempt)
    except _AttemptFailed as failure:
        error, timed_out = failure.error, getattr(failure.error, "_aapl_timed_out", False)
    executed = run_dir / "notebooks" / task.notebook
    record.update(
        ended_at=mf.utc_now(),
        duration_s=round(time.perf_counter() - started, 3),
        parameters={**notebook_params(task, params), "run_dir": str(run_dir)},
    )
    _collect_notebook(record, executed, run_dir)
    if error is None:
        missing = [rel for rel in task.outputs if not (run_dir / rel).is_file()]
        if missing:
            error = RuntimeError(f"notebook finished but did not write {', '.join(missing)}")
    record["artifacts"] = mf.artifact_records(run_dir, task.outputs)
    if error is not None:
        text = _task_error_message(task, error, executed)
        if timed_out and _error_name(error) != "CellTimeoutError":
            text = (
                f"task {task.name} timed out: notebooks/{task.notebook} ran longer than task_timeout_seconds="
                f"{params['task_timeout_seconds']} s and its kernel was stopped — executed notebook: {executed}"
            )
        status = State.TIMED_OUT if timed_out or _error_name(error) == "CellTimeoutError" else State.FAILED
        record.update(status=status, error=text)
        _append(task_log, task.name, logging.ERROR, text)
        _summary_line(
            opts.outputs_dir,
            task.name,
            f"run={manifest['run_id']} status={status} duration={record['duration_s']}s error={text}",
            logging.ERROR,
        )
        mf.save(run_dir, manifest)
        return False
    record["status"] = State.SUCCESS
    _append(
        task_log,
        task.name,
        logging.INFO,
        f"success in {record['duration_s']:.2f} s; artifacts: "
        + ", ".join(f"{k} sha256={v['sha256'][:12]}" for k, v in record["artifacts"].items()),
    )
    _summary_line(
        opts.outputs_dir, task.name, f"run={manifest['run_id']} status=success duration={record['duration_s']}s"
    )
    mf.save(run_dir, manifest)
    return True


def _execute_notebook(
    task: TaskSpec, params: dict, run_dir: Path, opts: RunOptions
) -> tuple[BaseException | None, bool]:
    """One papermill execution, with the cell timeout and a wall-clock watchdog that stops the kernel."""
    import papermill as pm

    executed = run_dir / "notebooks" / task.notebook
    executed.parent.mkdir(parents=True, exist_ok=True)
    level = getattr(logging, opts.log_level.upper())
    handler = file_handler(layout.task_log(run_dir, task.name), task.name, level)
    pm_logger = logging.getLogger("papermill")
    pm_logger.addHandler(handler)
    pm_logger.setLevel(logging.INFO)
    state: dict[str, Any] = {}

    def stop_kernel() -> None:
        state["fired"] = True
        if state.get("pid"):
            try:
                os.kill(state["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass

    watchdog = threading.Timer(params["task_timeout_seconds"], stop_kernel)
    watchdog.daemon = True
    kernel_manager = same_interpreter_kernel_manager(
        layout.task_log(run_dir, "kernel_stderr"), on_start=lambda pid: state.__setitem__("pid", pid)
    )
    error: BaseException | None = None
    try:
        watchdog.start()
        pm.execute_notebook(
            str(opts.notebooks_dir / task.notebook),
            str(executed),
            parameters={**notebook_params(task, params), "run_dir": str(run_dir)},
            kernel_name="python3",
            language="python",
            progress_bar=False,
            log_output=True,
            cwd=str(opts.notebooks_dir),
            execution_timeout=params["cell_timeout_seconds"],
            kernel_manager_class=kernel_manager,
        )
    except Exception as exc:  # papermill/nbclient errors of every kind are recorded by the caller
        error = exc
    except BaseException:  # SIGTERM/SIGINT (RunInterrupted): never leave the kernel running
        if state.get("pid"):
            try:
                os.kill(state["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        watchdog.cancel()
        pm_logger.removeHandler(handler)
        handler.close()
    timed_out = bool(state.get("fired")) and error is not None
    if error is not None:
        error._aapl_timed_out = timed_out  # type: ignore[attr-defined]
    return error, timed_out


def _collect_notebook(record: dict, executed: Path, run_dir: Path) -> None:
    """Scraps into the manifest and the executed notebook rendered to HTML (failed ones too)."""
    if not executed.is_file():
        return
    try:
        import scrapbook as sb

        record["scraps"] = {name: scrap.data for name, scrap in sb.read_notebook(str(executed)).scraps.items()}
    except Exception as exc:  # a half-written notebook must not hide the real error
        record["scraps_error"] = str(exc)
    try:
        from aapl_lib.views.render import render_both

        full, report = render_both(executed, run_dir / "html")
        record["html"], record["report_html"] = f"html/{full.name}", f"html/{report.name}"
    except Exception as exc:
        record["html_error"] = str(exc)


def describe_run(run_dir: Path) -> list[dict[str, Any]]:
    """One row per task: state, duration, reused-or-run, executed notebook (for ``status``)."""
    manifest = mf.as_read(run_dir, mf.load(run_dir))  # a task the runner died in reads `interrupted`
    rows = []
    for task in TASKS:
        rec = manifest["tasks"].get(task.name, {})
        how = {
            "reused": f"reused from {rec.get('reused_from')}",
            "copied": f"copied from {rec.get('from_run')}",
            State.SUCCESS: "run",
            State.FAILED: "run",
            State.TIMED_OUT: "run",
        }.get(rec.get("status", ""), "")
        nb = rec.get("executed_notebook")
        rows.append(
            {
                "task": task.name,
                "status": rec.get("status", "?"),
                "duration_s": rec.get("duration_s"),
                "how": how,
                "notebook": str(run_dir / nb) if nb and (run_dir / nb).exists() else "",
                "error": rec.get("error", ""),
            }
        )
    return rows


def list_runs(outputs_dir: Path) -> list[dict[str, Any]]:
    """Every run folder, newest first, with its status (for ``list``)."""
    rows = []
    for run_dir in reversed(layout.all_run_dirs(outputs_dir)):
        try:
            m = mf.load(run_dir)
        except (OSError, ValueError, PipelineError) as exc:
            rows.append({"run_id": run_dir.name, "status": "unreadable", "error": str(exc)})
            continue
        m = mf.as_read(run_dir, m)
        counts: dict[str, int] = {}
        for rec in m["tasks"].values():
            counts[rec.get("status", "?")] = counts.get(rec.get("status", "?"), 0) + 1
        rows.append(
            {
                "run_id": m["run_id"],
                "status": m["status"],
                "resume": m["resume"],
                "ticker": m["params"]["ticker"],
                "source": m["params"]["source"],
                "window": f"{m['params']['start']}..{m['params']['end']}",
                "created_at": m.get("created_at"),
                "duration_s": m.get("duration_s"),
                "tasks": counts,
            }
        )
    rows.sort(key=lambda r: (r.get("created_at") or "", r["run_id"]), reverse=True)
    return rows
