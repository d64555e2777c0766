"""How a run ends: its status from the exit code and its tasks' states, the ``on_success``/``on_failure``
hook, the manifest saved, ``latest`` and the summary log updated, the run browser rebuilt."""

from __future__ import annotations

import logging
import time

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.runner.browser_refresh import refresh_browser
from aapl_lib.runner.interrupts import RunInterrupted
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.store import layout
from aapl_lib.store.run_record import RunRecord


def finish_run(
    run: RunRecord, opts: RunOptions, exit_code: int, interrupted: RunInterrupted | None, run_started: float
) -> None:
    """Record how the run ended (``run_started`` is its ``time.perf_counter()`` at the start)."""
    run_id, run_dir, outputs_dir = run.run_id, run.run_dir, opts.outputs_dir
    failed = [t for t in TASKS if run.tasks[t.name].status in (State.FAILED, State.TIMED_OUT)]
    status = (
        State.INTERRUPTED
        if interrupted is not None
        else State.SUCCESS
        if exit_code == Exit.OK
        else State.AWAITING_APPROVAL
        if exit_code == Exit.AWAITING_APPROVAL
        else State.TIMED_OUT
        if failed and run.tasks[failed[0].name].status == State.TIMED_OUT
        else State.LOCKED
        if exit_code == Exit.LOCKED
        else State.FAILED
    )
    run.finish(status, round(time.perf_counter() - run_started, 3))
    # the operator's hooks of this invocation, never the manifest's params (docs/trust.md)
    hook = opts.hooks.get("on_success") if exit_code == Exit.OK else opts.hooks.get("on_failure")  # incl. awaiting
    if hook:
        from aapl_lib.runner.hooks import run_hook

        result = run_hook(hook, run_id=run_id, status=status, run_dir=run_dir)
        run.hook_ran(result)
        if result["exit_code"] != 0:
            opts.progress(
                f"warning: the {'on_success' if exit_code == Exit.OK else 'on_failure'} hook "
                f"exited {result['exit_code']}: {result['output'][-200:]}"
            )
    run.save()
    if layout.is_run_dir(outputs_dir, run_dir):
        layout.update_latest(outputs_dir, run_dir)
    summary_line(
        outputs_dir,
        "pipeline",
        f"run={run_id} status={status} duration={run.get('duration_s')}s dir={run_dir}",
        logging.INFO if exit_code == Exit.OK else logging.ERROR,
    )
    refresh_browser(outputs_dir, run_dir, opts.progress)
