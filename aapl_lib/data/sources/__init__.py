"""Step 1's data sources: the registry of source name -> loader (:data:`LOADERS`) and the entry points
ingestion calls. Each loader returns a *raw price frame* (:mod:`~aapl_lib.data.sources.raw_frame`): a
tz-naive DatetimeIndex named ``date`` (one row a trading day, as the source gave it) and columns
``open, high, low, close, volume`` plus ``adj_close`` when the source has one. Values are not changed here;
cleaning does that.

* ``sample``   (``sample``) the public-domain Quandl WIKI prices that ``bokeh_sampledata`` ships (offline).
* ``yfinance`` (``yahoo``) Yahoo Finance through ``yfinance.Ticker(t).history`` with retries (tenacity).
* ``csv``      (``csv_file``) a local file in the layouts people really have (see :func:`read_price_csv`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from aapl_lib.data.sources import csv_file, sample, yahoo
from aapl_lib.data.sources.csv_file import file_window, load_csv, read_price_csv
from aapl_lib.data.sources.sample import load_sample, sample_version
from aapl_lib.data.sources.yahoo import download_yfinance, flatten_yfinance_frame, yfinance_version
from aapl_lib.errors import DataSourceError

Fetch = Callable[[dict[str, Any]], tuple[pd.DataFrame, dict[str, Any]]]

# Every value of the ``source`` parameter (aapl_lib.pipeline.parameters.SOURCES) -> its ``fetch(params)``,
# which returns the raw frame and the source's own provenance details.
LOADERS: dict[str, Fetch] = {
    "sample": sample.fetch,
    "yfinance": yahoo.fetch,
    "csv": csv_file.fetch,
}


def fetch(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The raw frame of ``params["source"]`` and its provenance details."""
    loader = LOADERS.get(params["source"])
    if loader is None:  # validated earlier; kept for direct callers
        raise DataSourceError(f"unknown source {params['source']!r}: use {', '.join(LOADERS)}")
    return loader(params)


__all__ = [
    "LOADERS",
    "download_yfinance",
    "fetch",
    "file_window",
    "flatten_yfinance_frame",
    "load_csv",
    "load_sample",
    "read_price_csv",
    "sample_version",
    "yfinance_version",
]
