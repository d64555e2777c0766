"""Step 1: fetch prices from the chosen source and describe where they came from (provenance)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd

from aapl_lib.data import sources
from aapl_lib.errors import DataSourceError
from aapl_lib.io.iorw import sha256_file

log = logging.getLogger(__name__)


def fetch_prices(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fetch the raw price frame for ``params`` (ticker, source, start, end, csv_path, retry settings).

    Returns ``(frame, provenance)``; provenance lacks the sha256 of the saved file, which
    :func:`finish_provenance` adds once the frame is written.
    """
    ticker, source, start, end = params["ticker"], params["source"], params["start"], params["end"]
    details: dict[str, Any] = {}
    retrieved_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    if source == "sample":
        frame = sources.load_sample(ticker, start, end)
        details = {
            "package": "bokeh_sampledata",
            "package_version": sources.sample_version(),
            "origin": "Quandl WIKI prices (public domain)",
            "prices_adjusted": False,
            "adjustment_note": "open/high/low/close/volume unadjusted; adj_close split- and "
            "dividend-adjusted by the source",
        }
    elif source == "yfinance":
        attempts: list[dict[str, Any]] = []

        def on_retry(state) -> None:  # each attempt logged with its delay
            delay = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            attempts.append({"attempt": state.attempt_number, "error": str(error), "delay_s": round(delay, 3)})
            log.warning("yfinance attempt %d failed (%s); retrying in %.2f s", state.attempt_number, error, delay)

        frame = sources.download_yfinance(
            ticker,
            start,
            end,
            attempts=params["download_retries"],
            wait_seconds=params["retry_wait_seconds"],
            max_wait_seconds=params["retry_max_wait_seconds"],
            on_retry=on_retry,
        )
        details = {
            "package": "yfinance",
            "package_version": sources.yfinance_version(),
            "call": "yfinance.download(auto_adjust=False, actions=False, interval='1d')",
            "prices_adjusted": False,
            "adjustment_note": "close is split-adjusted by Yahoo; adj_close is split- and dividend-adjusted",
            "failed_attempts": attempts,
        }
    elif source == "csv":
        frame, layout = sources.load_csv(params["csv_path"], ticker, start, end)
        details = {
            "csv_path": params["csv_path"],
            "csv_sha256": sha256_file(params["csv_path"]),
            "layout": layout,
            "prices_adjusted": "unknown",
            "adjustment_note": (
                "adj_close given: cleaning adjusts OHLC by adj_close/close"
                if "adj_close" in frame.columns
                else "no adjusted close: cleaning detects split-sized jumps"
            ),
        }
    else:  # validated earlier; kept for direct callers
        raise DataSourceError(f"unknown source {source!r}: use sample, yfinance or csv")
    provenance = {
        "source": source,
        "ticker": ticker,
        "requested_window": {"start": start, "end": end},
        "window": {"first": f"{frame.index.min():%Y-%m-%d}", "last": f"{frame.index.max():%Y-%m-%d}"},
        "rows": int(len(frame)),
        "columns": list(frame.columns),
        "has_adj_close": "adj_close" in frame.columns,
        "retrieved_at": retrieved_at,
        "details": details,
    }
    log.info(
        "fetched %d rows of %s from %s (%s..%s)",
        len(frame),
        ticker,
        source,
        provenance["window"]["first"],
        provenance["window"]["last"],
    )
    return frame, provenance


def finish_provenance(provenance: dict[str, Any], raw_path) -> dict[str, Any]:
    """Provenance with the saved raw file's name and sha256 added."""
    return {**provenance, "raw_file": str(raw_path.name), "sha256": sha256_file(raw_path)}
