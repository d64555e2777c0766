"""A notebook step as the loop runs it: a finished task's files checked on resume, its fingerprint recorded,
its result linked from the run that made it (:mod:`aapl_lib.runner.planning`), else its notebook executed by
papermill (:mod:`aapl_lib.runner.task`) and what it made entered in the reuse cache."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import DONE
from aapl_lib.pipeline.tasks import TaskSpec
from aapl_lib.runner.planning import artifact_mismatch, cache_entry, live_window, reuse, why_run
from aapl_lib.runner.progress import task_line
from aapl_lib.runner.run_logs import append, summary_line
from aapl_lib.runner.steps.base import StepContext, Stop
from aapl_lib.runner.steps.state import state_values
from aapl_lib.runner.task import run_task
from aapl_lib.store import layout


@dataclass(frozen=True)
class NotebookStep:
    """One notebook task of the DAG."""

    spec: TaskSpec

    def guard(self, ctx: StepContext) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    def finished(self, ctx: StepContext, label: str) -> bool:
        """On resume, a task that finished with files matching their sha256; a mismatch redoes it and
        everything after it."""
        record = ctx.run.tasks[self.spec.name]
        if not (ctx.resume and record.status in DONE and not ctx.stale):
            return False
        problem = artifact_mismatch(ctx.run.run_dir, record.fields)
        if problem is None:
            ctx.opts.progress(f"{label} done earlier ({record.status}), artifacts verified")
            return True
        ctx.stale = True
        record.rerun_because(problem)
        append(
            layout.task_log(ctx.run.run_dir, self.spec.name), self.spec.name, logging.WARNING, f"re-running: {problem}"
        )
        ctx.opts.progress(f"{label} re-running: {problem}")
        return False

    def fingerprint(self, ctx: StepContext) -> str:
        fingerprint, parts = ctx.fingerprint(self.spec, state_values(self.spec, ctx))
        ctx.run.tasks[self.spec.name].fingerprinted(fingerprint, parts)
        return fingerprint

    def cacheable(self, ctx: StepContext) -> bool:
        """Never when forced, after a redone task, or in a live download window (today's prices may change)."""
        opts = ctx.opts
        live = live_window(self.spec, ctx.run.params, ctx.today)
        return not (ctx.stale or opts.force or self.spec.name in opts.force_tasks or live)

    def reuse(self, ctx: StepContext, entry: dict[str, Any], fingerprint: str, label: str) -> None:
        run, outputs_dir, name = ctx.run, ctx.opts.outputs_dir, self.spec.name
        reuse(entry, self.spec, run.tasks[name], run.run_dir, outputs_dir)
        append(
            layout.task_log(run.run_dir, name),
            name,
            logging.INFO,
            f"reused from run {entry['run_id']} (fingerprint {fingerprint[:12]}): nothing it depends on changed",
        )
        summary_line(outputs_dir, name, f"run={run.run_id} status=reused from={entry['run_id']}")
        ctx.opts.progress(f"{label} reused from run {entry['run_id']}")
        run.save()

    def execute(self, ctx: StepContext, fingerprint: str, label: str) -> Stop:
        opts, record = ctx.opts, ctx.run.tasks[self.spec.name]
        live = live_window(self.spec, ctx.run.params, ctx.today)
        why = why_run(self.spec, record, ctx.previous, opts, ctx.stale, live)
        # a live line while it runs (on a terminal), and the download's retries as they happen
        with task_line(opts.progress, label, ctx.run.params.get("download_retries")):
            ok = run_task(self.spec, record, ctx.run, opts, why)
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
            entry = cache_entry(ctx.run.run_id, self.spec, record)
            if not opts.renders.remember_cache_entry(record, fingerprint, entry):
                ctx.cache.record(fingerprint, entry)
        return None
