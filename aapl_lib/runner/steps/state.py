"""The values of a step's ``state_inputs``: what it reads outside the run folder, read once per step for its
fingerprint. A new champion re-decides the gate and re-evaluates; a new try on the held-out window re-evaluates
(its gate proposal is corrected for the number of tries); a ledger another run changed is scored again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aapl_lib.pipeline.tasks import TaskSpec
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.steps.base import StepContext
from aapl_lib.runner.steps.tries import record_run_try
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf


def champion_sha256(ctx: StepContext) -> str:
    """The registry's champion for the run's ticker (``none``); a damaged champion.json fails the run here."""
    return Registry(ctx.opts.outputs_dir, ctx.run.params["ticker"]).champion_sha()


def tries_on_window(ctx: StepContext) -> int | None:
    """Records this run's try on its held-out window (every evaluation there is one) and counts them."""
    return record_run_try(ctx.run, ctx.opts)


def ledger_sha256(ctx: StepContext) -> str | None:
    """The forecast ledger's sha256 as it is now (None before its first forecast)."""
    path = layout.ledger_path(ctx.opts.outputs_dir, ctx.run.params["ticker"])
    return mf.sha256_file(path) if path.is_file() else None


READERS: dict[str, Callable[[StepContext], Any]] = {
    "champion_sha256": champion_sha256,
    "tries_on_window": tries_on_window,
    "ledger_sha256": ledger_sha256,
}


def state_values(spec: TaskSpec, ctx: StepContext) -> dict[str, Any] | None:
    """``spec``'s state inputs with their values now, in the order declared; None when it declares none."""
    return {name: READERS[name](ctx) for name in spec.state_inputs} or None
