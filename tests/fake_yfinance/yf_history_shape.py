"""The frame ``yfinance.Ticker(t).history(auto_adjust=False, actions=...)`` returns in 1.x (scrapers/history.py),
built from a price frame of ours: flat columns Open, High, Low, Close, Adj Close, Volume (int64), then Dividends
and Stock Splits unless ``actions=False``; a DatetimeIndex named Date in New York time. One owner for both
fakes: the runner's (``sitecustomize.py`` here, on a test runner's PYTHONPATH) and test_sources.py's."""

import pandas as pd


def history_frame(base: pd.DataFrame, actions: bool = True) -> pd.DataFrame:
    columns = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close"}
    frame = pd.DataFrame({name: base[col].to_numpy() for name, col in columns.items()})
    frame["Volume"] = base["volume"].to_numpy().astype("int64")
    if actions:
        frame["Dividends"] = 0.0
        frame["Stock Splits"] = 0.0
    frame.index = pd.DatetimeIndex(base.index).tz_localize("America/New_York").rename("Date")
    return frame
