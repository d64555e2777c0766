"""The forecast ledger as the runner keeps it: once the approval gate has decided and before the report is
written, the run scores the ledger's pending forecasts whose day has closed in its own cleaned prices, appends
its own forecasts, and writes the ticker's track record into the run folder (``reports/track_record.json``,
``figures/track_record.png``) for the report.

The step is cached like a task: its fingerprint covers everything it reads (the ledger's sha256 included, a
``state_inputs`` of its spec). Scoring and appending twice change nothing, so the ledger it leaves is recorded
under a second fingerprint; a rerun with nothing new finds it there and copies the two files, without reading
the ledger or importing pandas."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import utc_now
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.tasks import (
    CLEANED,
    DECISION,
    EVALUATION,
    FORECAST,
    FORECAST_LEDGER,
    GATE_PROPOSAL,
    MODEL_META,
    PROVENANCE,
    TRACK_PLOT,
    TRACK_RECORD,
    TaskSpec,
)
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.renders import settle_render_imports
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.runner.steps.base import StepContext, Stop, consumers_finished
from aapl_lib.runner.steps.state import ledger_sha256, state_values
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import copy_artifact
from aapl_lib.store.run_record import RunRecord


@dataclass(frozen=True)
class ForecastLedgerStep:
    """The ledger as a step of the DAG, under the ledger's lock from its fingerprint to its record."""

    spec: TaskSpec = FORECAST_LEDGER

    def guard(self, ctx: StepContext) -> PathLock:
        path = layout.ledger_path(ctx.opts.outputs_dir, ctx.run.params["ticker"])
        return PathLock(
            layout.ledger_lock(ctx.opts.outputs_dir, ctx.run.params["ticker"]),
            f"the forecast ledger {path}",
            timeout=ctx.run.params.get("lock_timeout_seconds", 10.0),
        )

    def finished(self, ctx: StepContext, label: str) -> bool:
        return consumers_finished(ctx, self.spec)

    def fingerprint(self, ctx: StepContext) -> str:
        return ctx.fingerprint(self.spec, state_values(self.spec, ctx))[0]

    def cacheable(self, ctx: StepContext) -> bool:
        return True  # scoring and appending again would change nothing

    def reuse(self, ctx: StepContext, entry: dict[str, Any], fingerprint: str, label: str) -> None:
        run_dir, ticker = ctx.run.run_dir, ctx.run.params["ticker"]
        source = layout.run_dir(ctx.opts.outputs_dir, entry["run_id"])
        for rel in self.spec.outputs:
            copy_artifact(source / rel, run_dir / rel)
        summary = {**entry["summary"], "status": "reused", "from_run": entry["run_id"], "appended": 0, "scored": 0}
        if not layout.track_page(ctx.opts.outputs_dir, ticker).is_file():
            _track_page(ctx.opts, ticker)
        self._recorded(ctx, summary, label)

    def execute(self, ctx: StepContext, fingerprint: str, label: str) -> Stop:
        run = ctx.run
        summary = _update(run, layout.ledger_path(ctx.opts.outputs_dir, run.params["ticker"]))
        after = ctx.fingerprint(self.spec, state_values(self.spec, ctx))[0]
        summary["ledger_sha256"] = ledger_sha256(ctx)
        entry = {
            "run_id": run.run_id,
            "task": self.spec.name,
            "artifacts": {rel: mf.sha256_file(run.run_dir / rel) for rel in self.spec.outputs},
            "summary": {k: v for k, v in summary.items() if k not in ("status", "appended", "scored")},
        }
        ctx.cache.record(fingerprint, entry)
        ctx.cache.record(after, entry)  # a second pass over the ledger it leaves would change nothing
        _track_page(ctx.opts, run.params["ticker"])
        self._recorded(ctx, summary, label)
        return None

    def _recorded(self, ctx: StepContext, summary: dict[str, Any], label: str) -> None:
        """The run record's ``ledger`` record, the summary log's line and the progress line."""
        run, path = ctx.run, layout.ledger_path(ctx.opts.outputs_dir, ctx.run.params["ticker"])
        summary["artifacts"] = mf.artifact_records(run.run_dir, self.spec.outputs)
        summary["ledger"] = str(path)
        run.ledger_recorded(summary)
        run.save()
        line = (
            f"appended {summary['appended']}, scored {summary['scored']}; {summary['scored_days']} scored days"
            if summary["status"] == "recorded"
            else f"nothing new (as run {summary['from_run']}); {summary['scored_days']} scored days"
        )
        summary_line(ctx.opts.outputs_dir, self.spec.name, f"run={run.run_id} {line}")
        ctx.opts.progress(f"{label} {line} ({path})")


def _track_page(opts: RunOptions, ticker: str) -> None:
    """Rebuild the ticker's track-record page in the run browser; a view's failure never fails the run."""
    settle_render_imports()  # the page's plot is drawn here, in the runner's process
    try:
        from aapl_lib.views.track_page import build_track_page

        build_track_page(opts.outputs_dir, ticker)
    except Exception as exc:  # the page is a view of the ledger, which is written
        opts.progress(f"warning: could not rebuild the track-record page of {ticker}: {type(exc).__name__}: {exc}")


def _update(run: RunRecord, path: Path) -> dict[str, Any]:
    """Score the ledger's pending forecasts, append this run's, write the track record and its plot."""
    from aapl_lib.io.iorw import read_frame, read_json, write_json
    from aapl_lib.modeling.refit import ledger_models
    from aapl_lib.narrative import chosen_forecast
    from aapl_lib.tracking import ledger as lg
    from aapl_lib.tracking.plots import plot_cumulative_error
    from aapl_lib.tracking.record import track_record
    from aapl_lib.tracking.scoring import score_pending

    run_id, ticker, run_dir = run.run_id, run.params["ticker"], run.run_dir
    forecast = read_json(run_dir / FORECAST)
    decision = read_json(run_dir / DECISION) if (run_dir / DECISION).is_file() else None
    chosen, label = chosen_forecast(forecast, decision, read_json(run_dir / GATE_PROPOSAL))
    meta = read_json(run_dir / MODEL_META)
    champion = read_json(run_dir / EVALUATION).get("champion") or {}
    models = ledger_models(forecast, meta, champion)  # the fit that made each forecast: refit or evaluated
    cleaned = read_frame(run_dir / CLEANED)
    provenance = read_json(run_dir / PROVENANCE)
    frame = lg.read_ledger(path)
    scored = score_pending(frame, cleaned, retrieved_at=provenance["retrieved_at"], run_id=run_id)
    rows = lg.forecast_rows(
        forecast,
        ticker=ticker,
        run_id=run_id,
        cleaned=cleaned,
        published=(chosen["model"], "champion" if label.startswith("champion") else "challenger"),
        models=models,
        recorded_at=utc_now(),
    )
    frame, appended, skipped = lg.append_new(frame, rows)
    if scored or appended:
        path.parent.mkdir(parents=True, exist_ok=True)
        lg.write_ledger(path, frame)
    record = track_record(frame, ticker)
    write_json(run_dir / TRACK_RECORD, record)
    settle_render_imports()  # notebook 05's pages may be rendering in the background
    plot_cumulative_error(record, run_dir / TRACK_PLOT)
    return {
        "status": "recorded",
        "appended": len(appended),
        "already_recorded": [f"{r['model_role']} for {r['for_date']}" for r in skipped],
        "scored": len(scored),
        "scored_days": record["scored_days"],
        "drift_alarm": record["drift"]["alarm"],
    }
