"""What every step of the DAG does the same way, notebook or runner step alike (kedro's ``Task.execute``): skip
what this run already finished and can verify, fingerprint, take a result another run made from the reuse
cache, else execute. A step only says how (:class:`Step`); :func:`run_step` is the one shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aapl_lib.pipeline.states import DONE
from aapl_lib.pipeline.tasks import TASKS, TaskSpec
from aapl_lib.runner.fingerprints import task_fingerprint
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.planning import artifact_mismatch
from aapl_lib.store.reuse_cache import ReuseCache
from aapl_lib.store.run_record import RunRecord

Stop = tuple[int, str] | None  # the (exit code, message) that stops the run, or None to go on


@dataclass
class StepContext:
    """What the loop carries from one step to the next."""

    run: RunRecord
    opts: RunOptions
    cache: ReuseCache
    resume: bool
    today: dt.date
    previous: dict[str, Any] | None  # the latest other run's manifest: why a task runs again
    stale: bool = False  # once a finished task must be redone, everything after it is executed again

    def fingerprint(self, spec: TaskSpec, state: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """``spec``'s fingerprint in this run, with ``state`` the values of its ``state_inputs``."""
        env = self.run.environment
        versions = {"python": env["python"], **env["packages"]}
        return task_fingerprint(spec, self.run.params, self.run.run_dir, self.opts.notebooks_dir, versions, state)


class Step(Protocol):
    """How one kind of step is verified, fingerprinted, reused and executed."""

    spec: TaskSpec

    def guard(self, ctx: StepContext) -> AbstractContextManager[Any]:
        """Held from the fingerprint to the record (the forecast ledger's lock); a null context for most."""

    def finished(self, ctx: StepContext, label: str) -> bool:
        """Whether this run already did the step and its files still match: nothing to do."""

    def fingerprint(self, ctx: StepContext) -> str:
        """Everything the step's result depends on, as one digest (its reuse cache key)."""

    def cacheable(self, ctx: StepContext) -> bool:
        """Whether a result made by another run may stand in for executing it now."""

    def reuse(self, ctx: StepContext, entry: dict[str, Any], fingerprint: str, label: str) -> None:
        """Take the cached ``entry``'s files into this run and record that."""

    def execute(self, ctx: StepContext, fingerprint: str, label: str) -> Stop:
        """Do the step; the stop it ends the run with, or None."""


def run_step(step: Step, ctx: StepContext, label: str) -> Stop:
    """Verify, reuse or execute one step; the (exit code, message) that stops the run, or None."""
    with step.guard(ctx):
        if step.finished(ctx, label):
            return None
        fingerprint = step.fingerprint(ctx)
        entry = ctx.cache.lookup(fingerprint) if step.cacheable(ctx) else None
        if entry is not None and entry["run_id"] != ctx.run.run_id:
            step.reuse(ctx, entry, fingerprint, label)
            return None
        return step.execute(ctx, fingerprint, label)


def consumers_finished(ctx: StepContext, spec: TaskSpec) -> bool:
    """On resume, whether every notebook task reading ``spec``'s outputs finished and its files still match:
    a runner step before them has nothing left to give (resuming a finished report passes neither the gate
    nor the ledger again)."""
    if not ctx.resume or ctx.stale:
        return False
    consumers = [t for t in TASKS if set(spec.outputs) & {*t.inputs, *t.optional_inputs}]
    records = [ctx.run.tasks[t.name] for t in consumers]
    return all(r.status in DONE and artifact_mismatch(ctx.run.run_dir, r.fields) is None for r in records)


def labels(steps: list[TaskSpec]) -> Iterator[tuple[TaskSpec, str, bool]]:
    """Each step with its progress label (``[3/6] feature_engineering``; a runner step indented under the
    numbered notebooks) and whether notebook tasks follow it (worth a kernel started ahead)."""
    notebooks = [s for s in steps if s in TASKS]
    for spec in steps:
        if spec in notebooks:
            position = notebooks.index(spec) + 1
            yield spec, f"[{position}/{len(notebooks)}] {spec.name:<20}", position < len(notebooks)
        else:
            yield spec, f"      {spec.title.lower():<20}", True
