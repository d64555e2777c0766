"""One task executed: its notebook run by papermill in a fresh kernel under the cell timeout and a wall-clock
watchdog, a kernel that failed to start started again, transient errors retried by the task's policy, scraps
and HTML collected, the outcome written to the manifest and the logs.

papermill, scrapbook and tenacity are imported only when a notebook is actually executed."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from aapl_lib.io.logs import file_handler
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TaskSpec, injected_parameters
from aapl_lib.runner.kernels.manager import (
    KERNEL_STARTS,
    KernelStart,
    NextKernel,
    kernel_failed_to_start,
    same_interpreter_kernel_manager,
    shutdown,
)
from aapl_lib.runner.kernels.warm_pool import params_keep_s, params_warm, warm_kernels
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.renders import BackgroundRenders
from aapl_lib.runner.run_logs import append, summary_line
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.run_record import RunRecord, TaskRecord

# Errors worth another attempt of a whole task (the task's own retry policy decides how many).
TRANSIENT_ERRORS = {
    "TransientSourceError",
    "DeadKernelError",
    "ConnectionError",
    "ConnectionResetError",
    "TimeoutError",
}


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


def _error_name(exc: BaseException) -> str:
    return getattr(exc, "ename", None) or type(exc).__name__


class _AttemptFailed(Exception):
    def __init__(self, error: BaseException, transient: bool) -> None:
        super().__init__(str(error))
        self.error, self.transient = error, transient


def run_task(task: TaskSpec, record: TaskRecord, run: RunRecord, opts: RunOptions, why: str) -> bool:
    """Execute the task's notebook with its retry policy and time limits (``why``: the run reason); the
    outcome goes into ``record``, saved with ``run`` after each transition."""
    params, run_dir = run.params, run.run_dir
    if params_warm(params):
        warm_kernels(params_keep_s(params))  # the warm process imports the stack while this process imports papermill
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

    retries = int(params.get("task_retries", {}).get(task.name, 0))
    task_log = layout.task_log(run_dir, task.name)
    record.start(why, layout.executed_notebook_rel(task.notebook))
    run.save()
    append(task_log, task.name, logging.INFO, f"start {task.notebook} in {run_dir} ({why})")
    started = time.perf_counter()

    def attempt() -> None:
        for start in range(1, KERNEL_STARTS + 1):
            error, timed_out = _execute_notebook(task, params, run_dir, opts, record)
            if error is None or not kernel_failed_to_start(error) or start == KERNEL_STARTS:
                break
            # no cell ran: starting the kernel again is always safe, whatever the task's retry policy
            record.kernel_restarted()
            append(
                task_log,
                task.name,
                logging.WARNING,
                f"the kernel failed to start ({error}; see logs/kernel_stderr.log); starting it again",
            )
        if error is not None:
            raise _AttemptFailed(error, transient=not timed_out and _error_name(error) in TRANSIENT_ERRORS) from error
        record.attempt_succeeded()

    def before_sleep(state) -> None:
        delay = state.next_action.sleep if state.next_action else 0.0
        failure = state.outcome.exception()
        text = _task_error_message(task, failure.error, layout.executed_notebook(run_dir, task.notebook))
        record.attempt_failed(state.attempt_number, text, delay)
        append(
            task_log,
            task.name,
            logging.WARNING,
            f"attempt {state.attempt_number} of {retries + 1} failed with a transient error; retrying in "
            f"{delay:.2f} s: {text}",
        )
        run.save()

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
    record.ended(round(time.perf_counter() - started, 3), injected_parameters(task, params, run_dir, opts.outputs_dir))
    return _record_outcome(task, record, run, opts, error, timed_out)


def _record_outcome(
    task: TaskSpec, record: TaskRecord, run: RunRecord, opts: RunOptions, error: BaseException | None, timed_out: bool
) -> bool:
    """The executed notebook's scraps and pages collected, its outputs checked and recorded, the task finished
    or failed (manifest, task log, summary log); True when it succeeded."""
    run_dir, task_log = run.run_dir, layout.task_log(run.run_dir, task.name)
    executed = layout.executed_notebook(run_dir, task.notebook)
    _collect_notebook(record, executed, run_dir, opts.renders)
    if error is None:
        missing = [rel for rel in task.outputs if not (run_dir / rel).is_file()]
        if missing:
            error = RuntimeError(f"notebook finished but did not write {', '.join(missing)}")
    artifacts = mf.artifact_records(run_dir, task.outputs)
    if error is not None:
        text = _task_error_message(task, error, executed)
        if timed_out and _error_name(error) != "CellTimeoutError":
            text = (
                f"task {task.name} timed out: notebooks/{task.notebook} ran longer than task_timeout_seconds="
                f"{run.params['task_timeout_seconds']} s and its kernel was stopped — executed notebook: {executed}"
            )
        status = State.TIMED_OUT if timed_out or _error_name(error) == "CellTimeoutError" else State.FAILED
        record.fail(artifacts, status, text)
        append(task_log, task.name, logging.ERROR, text)
        summary_line(
            opts.outputs_dir,
            task.name,
            f"run={run.run_id} status={status} duration={record.duration_s}s error={text}",
            logging.ERROR,
        )
        run.save()
        return False
    record.finish(artifacts)
    append(
        task_log,
        task.name,
        logging.INFO,
        f"success in {record.duration_s:.2f} s; artifacts: "
        + ", ".join(f"{k} sha256={v['sha256'][:12]}" for k, v in record.artifacts.items()),
    )
    summary_line(opts.outputs_dir, task.name, f"run={run.run_id} status=success duration={record.duration_s}s")
    run.save()
    return True


def _execute_notebook(
    task: TaskSpec, params: dict, run_dir: Path, opts: RunOptions, record: TaskRecord
) -> tuple[BaseException | None, bool]:
    """One papermill execution, with the cell timeout and a wall-clock watchdog that stops the kernel; how
    the kernel started goes into ``record`` (its ``kernel`` field) and the task's log."""
    import papermill as pm

    from aapl_lib.runner.kernels.papermill_engine import register as register_engine

    executed = layout.executed_notebook(run_dir, task.notebook)
    executed.parent.mkdir(parents=True, exist_ok=True)
    level = getattr(logging, opts.log_level.upper())
    handler = file_handler(layout.task_log(run_dir, task.name), task.name, level)
    pm_logger = logging.getLogger("papermill")
    pm_logger.addHandler(handler)
    pm_logger.setLevel(logging.INFO)
    state: dict[str, Any] = {}
    stderr_log = layout.task_log(run_dir, "kernel_stderr")
    taken = opts.next_kernel.take() if opts.next_kernel is not None else None
    opts.next_kernel = None
    km, start = taken if taken else (None, KernelStart(warm=params_warm(params)))
    if params_warm(params) and opts.more_to_run:  # the next notebook's kernel starts meanwhile
        opts.next_kernel = NextKernel(stderr_log, opts.notebooks_dir, warm=True)

    def stop_kernel() -> None:
        state["fired"] = True
        start.kill()

    watchdog = threading.Timer(params["task_timeout_seconds"], stop_kernel)
    watchdog.daemon = True
    kernel = (
        {"km": km}
        if km is not None
        else {"kernel_manager_class": same_interpreter_kernel_manager(stderr_log, start=start)}
    )
    error: BaseException | None = None
    try:
        watchdog.start()
        pm.execute_notebook(
            str(opts.notebooks_dir / task.notebook),
            str(executed),
            parameters=injected_parameters(task, params, run_dir, opts.outputs_dir),
            kernel_name="python3",
            language="python",
            progress_bar=False,
            log_output=True,
            cwd=str(opts.notebooks_dir),
            execution_timeout=params["cell_timeout_seconds"],
            engine_name=register_engine(),
            **kernel,
        )
    except Exception as exc:  # papermill/nbclient errors of every kind are recorded by the caller
        error = exc
    except BaseException:  # SIGTERM/SIGINT (RunInterrupted): never leave the kernel running
        start.kill()
        raise
    finally:
        watchdog.cancel()
        pm_logger.removeHandler(handler)
        handler.close()
        if km is not None:  # started before this task: ours to shut down, not nbclient's
            shutdown(km, start)
        if start.launcher_pid is not None:
            kernel_record = {**start.record(), "started_ahead": km is not None}
            record.kernel_started(kernel_record)
            _log_kernel_start(layout.task_log(run_dir, task.name), task.name, kernel_record)
    timed_out = bool(state.get("fired")) and error is not None
    if error is not None:
        error._aapl_timed_out = timed_out  # type: ignore[attr-defined]
    return error, timed_out


def _log_kernel_start(task_log: Path, task_name: str, kernel: dict) -> None:
    if kernel["start"] == "fork":
        text = (
            f"kernel: forked from the warm process (preloaded {', '.join(kernel['preloaded'])}; "
            f"warm process {kernel.get('warm_pid')} started at {kernel.get('warm_started_at')})"
        )
    else:
        text = f"kernel: ordinary start ({kernel['reason']})"
    append(task_log, task_name, logging.INFO, text)


def _collect_notebook(record: TaskRecord, executed: Path, run_dir: Path, renders: BackgroundRenders) -> None:
    """Scraps into the manifest and the executed notebook rendered to HTML (failed ones too) in the
    background."""
    if not executed.is_file():
        return
    try:
        import scrapbook as sb

        scraps = {name: scrap.data for name, scrap in sb.read_notebook(str(executed)).scraps.items()}
    except Exception as exc:  # a half-written notebook must not hide the real error
        record.collected(scraps_error=str(exc))
    else:
        record.collected(scraps=scraps)
    renders.submit(record, executed, run_dir)  # HTML is written while the next task runs
