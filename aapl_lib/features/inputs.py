"""Declared feature inputs: data an analyst's feature function needs besides the prices.

``feature_inputs: {name: path}`` names CSV files with a date column. Notebook 03 reads them (at the edge, with
the other inputs of the task; their sha256 is part of the task's fingerprint) and
:func:`aapl_lib.features.extra.compute` gives each function whose signature has an ``inputs`` keyword a dict
of them, each aligned *as of* the prices' days: the value on day t is the file's last row dated on or before
t. Aligned to the prices it is given, an input is cut wherever the prices are: the leakage guard's truncated
recomputations see no row dated after their cut day, so a function that peeks at an input's future fails
truncation invariance like one that peeks at the prices'.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from aapl_lib.errors import DataQualityError


def read_inputs(paths: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Each declared file as a frame indexed by its dates (sorted, a repeated date keeps its last row)."""
    return {name: read_input(name, path) for name, path in paths.items()}


def read_input(name: str, path: str | Path) -> pd.DataFrame:
    """One CSV with a ``date`` column (any case; else its first column) and numeric columns."""
    where = f"feature input {name} ({path})"
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataQualityError(f"{where} cannot be read as CSV: {exc}") from exc
    if raw.shape[1] < 2 or raw.empty:
        raise DataQualityError(f"{where} needs a date column and at least one value column, with rows")
    date_column = next((c for c in raw.columns if str(c).strip().lower() == "date"), raw.columns[0])
    dates = pd.to_datetime(raw.pop(date_column), errors="coerce")
    if dates.isna().any():
        bad = int(dates.isna().idxmax())
        raise DataQualityError(f"{where}: row {bad + 2} of column {date_column!r} is not a date")
    text = [str(c) for c in raw.columns if not pd.api.types.is_numeric_dtype(raw[c])]
    if text:
        raise DataQualityError(f"{where}: column {text[0]!r} is not numeric: inputs must be numbers")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    frame = raw.astype(float).set_axis(pd.DatetimeIndex(dates.dt.normalize(), name="date"))
    frame = frame.sort_index(kind="stable")
    return frame[~frame.index.duplicated(keep="last")]


def as_of(frame: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """``frame`` on ``index``: each day's value is the last row dated on or before it (NaN before the first)."""
    return frame.reindex(index, method="ffill")
