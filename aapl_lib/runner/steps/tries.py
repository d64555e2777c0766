"""The tries ledger as the runner keeps it: before notebook 05 evaluates (or reuses) a model on its held-out
window, the run records its configuration there (:mod:`aapl_lib.promotion.tries`). The count on the window goes
into notebook 05's fingerprint, so a reused gate proposal was corrected for the same number of tries."""

from __future__ import annotations

from aapl_lib.pipeline.tasks import MODEL_META
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.store import layout
from aapl_lib.store.run_record import RunRecord


def record_run_try(run: RunRecord, opts: RunOptions) -> int | None:
    """Record this run's configuration on its held-out window and return the tries count there (None when the
    run has no trained model to evaluate yet). The run record gets a ``tries`` record."""
    from aapl_lib.io.iorw import read_json, utc_now
    from aapl_lib.promotion.tries import record_try

    meta_path = run.run_dir / MODEL_META
    if not meta_path.is_file():
        return None
    params, run_id = run.params, run.run_id
    window = (read_json(meta_path).get("split") or {}).get("test_window")
    summary = record_try(
        opts.outputs_dir,
        params["ticker"],
        window,
        params,
        run_id=run_id,
        at=utc_now(),
        timeout=params.get("lock_timeout_seconds", 10.0),
    )
    run.tries_recorded({**summary, "ledger": str(layout.tries_path(opts.outputs_dir, params["ticker"]))})
    line = f"{summary['count']} configuration(s) tried on this window" + (" (this one new)" if summary["new"] else "")
    summary_line(opts.outputs_dir, "tries", f"run={run_id} {line}")
    opts.progress(f"      tries ledger         {line}")
    return summary["count"]
