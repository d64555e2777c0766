"""Step 1: fetch prices from the chosen source and describe where they came from (provenance)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd

from aapl_lib.data import sources
from aapl_lib.io.iorw import sha256_file

log = logging.getLogger(__name__)


def fetch_prices(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fetch the raw price frame for ``params`` (ticker, source, start, end, csv_path, retry settings).

    Returns ``(frame, provenance)``; provenance lacks the sha256 of the saved file, which
    :func:`finish_provenance` adds once the frame is written.
    """
    ticker, source, start, end = params["ticker"], params["source"], params["start"], params["end"]
    retrieved_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    frame, details = sources.fetch(params)
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
