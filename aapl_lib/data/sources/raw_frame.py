"""What every source returns, a *raw price frame*: its columns, the names real files and yfinance give them
(:data:`ALIASES`, matched through :func:`norm`), and the cut to the asked window (:func:`restrict`).
"""

from __future__ import annotations

import re

import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS = ("adj_close",)
# Names seen in real files, normalised (lower case, no spaces/underscores/dashes) -> our column.
ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "time": "date",
    "day": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "close/last": "close",  # Nasdaq.com's historical-data export
    "volume": "volume",
    "vol": "volume",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "adjclosing": "adj_close",
}


def restrict(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """The rows of ``frame`` dated ``start..end`` (both inclusive)."""
    return frame.loc[(frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))]


def norm(name: str) -> str:
    """A column name as :data:`ALIASES` spells it: lower case, no quotes, spaces, underscores, dashes or dots."""
    return re.sub(r"[\s_\-\.]+", "", name.strip().strip('"').lower())
