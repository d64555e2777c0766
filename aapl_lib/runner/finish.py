"""How a run ends: its status from the exit code and its tasks' states, the ``on_success``/``on_failure``
hook, the manifest saved, ``latest`` and the summary log updated, the run browser rebuilt."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.runner.browser_refresh import refresh_browser
from aapl_lib.runner.interrupts import RunInterrupted
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf


def finish_run(
    manifest: dict[str, Any],
    run_dir: Path,
    opts: RunOptions,
    exit_code: int,
    interrupted: RunInterrupted | None,
    run_started: float,
) -> None:
    """Record how the run ended (``run_started`` is its ``time.perf_counter()`` at the start)."""
    run_id, outputs_dir = manifest["run_id"], opts.outputs_dir
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
    # the operator's hooks of this invocation, never the manifest's params (docs/trust.md)
    hook = opts.hooks.get("on_success") if exit_code == Exit.OK else opts.hooks.get("on_failure")  # incl. awaiting
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
    summary_line(
        outputs_dir,
        "pipeline",
        f"run={run_id} status={manifest['status']} duration={manifest['duration_s']}s dir={run_dir}",
        logging.INFO if exit_code == Exit.OK else logging.ERROR,
    )
    refresh_browser(outputs_dir, run_dir, opts.progress)
