"""A run stopped by a signal: SIGTERM and SIGINT raise :class:`RunInterrupted` while a run works, and the
tasks it stopped are recorded as interrupted."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from aapl_lib.io.follow_up import follow_up
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.runner.run_logs import append
from aapl_lib.store import layout
from aapl_lib.store.run_record import RunRecord


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
def signals_interrupt():
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


def record_interruption(run: RunRecord, exc: RunInterrupted, outputs_dir: Path) -> str:
    """Mark the tasks the signal stopped as interrupted (manifest and task logs); returns the run's message,
    with the command that continues it in ``outputs_dir``."""
    logging.getLogger("asyncio").addFilter(_AbandonedKernelTasks())
    where = [t.name for t in TASKS if run.tasks[t.name].status == State.RUNNING]
    for name in where:
        run.tasks[name].interrupt(f"interrupted by {exc} while running")
        append(layout.task_log(run.run_dir, name), name, logging.WARNING, f"interrupted by {exc}")
    return (
        f"run {run.run_id} interrupted by {exc}"
        + (f" during {where[0]}" if where else "")
        + f"; its kernel was stopped. Continue it with: {follow_up(f'resume {run.run_id}', outputs_dir)}"
    )
