"""The run browser's track-record page of a ticker, ``outputs/track/<TICKER>.html``: the live track record
(forecast vs the baselines on the same scored days, p-values, drift), its cumulative-error plot, the scored
forecasts and those still waiting for their day to close. Built from the ledger alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aapl_lib.formatting import pct
from aapl_lib.io.iorw import atomic_write_text
from aapl_lib.narrative import track_record_summary
from aapl_lib.store import layout


def _rows(ledger) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scored, pending = [], []
    for r in ledger.iloc[::-1].itertuples(index=False):
        if r.status == "scored" and r.published_as:
            scored.append(
                {
                    "for_date": r.for_date,
                    "forecast_date": r.forecast_date,
                    "published_as": r.published_as,
                    "predicted": pct(r.predicted_return, 3),
                    "realised": pct(r.realised_return, 3),
                    "error": pct(r.error, 3),
                    "direction": {True: "right", False: "wrong"}.get(r.direction_right, "-"),
                    "close": f"{r.close_used:.4f}",
                    "run_id": r.run_id,
                    "scored_by_run": r.scored_by_run,
                    "note": r.note,
                }
            )
        elif r.status in ("pending", "in_sample"):
            pending.append(
                {
                    "for_date": r.for_date,
                    "forecast_date": r.forecast_date,
                    "model_role": r.model_role,
                    "published_as": r.published_as,
                    "predicted": pct(r.predicted_return, 3),
                    "implied_close": f"{r.implied_close:.4f}",
                    "run_id": r.run_id,
                    "note": r.note,
                }
            )
    return scored, pending


def build_track_page(outputs_dir: Path, ticker: str) -> Path:
    """Write ``outputs/track/<TICKER>.html`` and its plot from the ticker's ledger; returns the page's path."""
    from aapl_lib.tracking.ledger import read_ledger
    from aapl_lib.tracking.plots import plot_cumulative_error
    from aapl_lib.tracking.record import track_record
    from aapl_lib.views.browser import templates

    ledger_path = layout.ledger_path(outputs_dir, ticker)
    ledger = read_ledger(ledger_path)
    record = track_record(ledger, ticker)
    plot = plot_cumulative_error(record, layout.track_plot(outputs_dir, ticker))
    sentences, table = track_record_summary(record)
    scored, pending = _rows(ledger)
    page = (
        templates()
        .get_template("track.html")
        .render(
            title=f"{ticker}: live track record",
            r=record,
            sentences=sentences,
            table=table,
            plot=plot.name,
            scored=scored,
            pending=pending,
            ledger=str(ledger_path),
            others=[t for t in layout.ledger_tickers(outputs_dir) if t != ticker],
        )
    )
    return atomic_write_text(layout.track_page(outputs_dir, ticker), page)


def build_track_pages(outputs_dir: Path) -> list[Path]:
    """Every ticker's track-record page (the tickers with a ledger)."""
    return [build_track_page(outputs_dir, t) for t in layout.ledger_tickers(outputs_dir)]
