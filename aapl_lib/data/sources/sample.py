"""The ``sample`` source: the public-domain Quandl WIKI prices that ``bokeh_sampledata`` ships (offline)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from aapl_lib.data.sources.raw_frame import PRICE_COLUMNS, restrict
from aapl_lib.errors import DataSourceError
from aapl_lib.pipeline.parameters import SAMPLE_RANGE


def load_sample(ticker: str, start: str, end: str) -> pd.DataFrame:
    """Daily prices of ``ticker`` from the offline sample, restricted to ``start..end`` (inclusive)."""
    from bokeh_sampledata import stocks

    if ticker not in SAMPLE_RANGE:
        raise DataSourceError(
            f"ticker {ticker} is not in the offline sample (it has "
            f"{', '.join(SAMPLE_RANGE)}): use -p source yfinance or csv"
        )
    data = getattr(stocks, ticker)
    frame = pd.DataFrame({col: data[col] for col in ("date", *PRICE_COLUMNS, "adj_close")})
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.set_index("date").astype({c: "float64" for c in (*PRICE_COLUMNS, "adj_close")})
    frame = restrict(frame, start, end)
    if frame.empty:
        first, last = SAMPLE_RANGE[ticker]
        raise DataSourceError(
            f"the offline sample has no {ticker} rows in {start}..{end} (it covers "
            f"{first}..{last}): pick dates inside that range"
        )
    return frame


def sample_version() -> str:
    """Version of the installed ``bokeh_sampledata`` package (recorded in provenance)."""
    from importlib.metadata import version

    return version("bokeh_sampledata")


def fetch(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The registry's entry: ``params``' window of the sample and what provenance records about it."""
    frame = load_sample(params["ticker"], params["start"], params["end"])
    return frame, {
        "package": "bokeh_sampledata",
        "package_version": sample_version(),
        "origin": "Quandl WIKI prices (public domain)",
        "prices_adjusted": False,
        "adjustment_note": "open/high/low/close/volume unadjusted; adj_close split- and "
        "dividend-adjusted by the source",
    }
