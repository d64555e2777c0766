"""Step 2: turn a raw price frame into a clean, split- and dividend-adjusted daily series, and say
exactly what was changed (the quality report; its checks against the thresholds are
:mod:`aapl_lib.data.quality_report`'s).

Order of work: types -> sort -> duplicates -> missing values -> non-positive prices -> OHLC repair ->
adjustment (adj_close factor, else split detection) -> calendar gaps -> largest moves.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.data import trading_calendar
from aapl_lib.data.quality_report import DEFAULT_THRESHOLDS, calendar_report, quality_checks
from aapl_lib.errors import DataQualityError
from aapl_lib.pipeline.parameters import default

log = logging.getLogger(__name__)

OHLC = ["open", "high", "low", "close"]
# Split ratios looked for when no adjusted close is given (k-for-1 and 1-for-k).
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 10.0, 1.5, 20.0)
SPLIT_TOLERANCE = 0.04


def clean_prices(
    raw: pd.DataFrame,
    *,
    split_detection: bool = default("split_detection"),
    max_abs_daily_return: float = default("max_abs_daily_return"),
    thresholds: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Clean ``raw`` (a raw price frame, see :mod:`aapl_lib.data.sources`). Returns ``(cleaned, quality)``.

    ``cleaned`` has columns ``open, high, low, close, volume`` adjusted for splits and dividends.
    ``quality`` is a JSON-ready dict of everything that was found and done, with ``checks`` (each
    pass/warn/fail against ``thresholds``) and an overall ``status``;
    :func:`~aapl_lib.data.quality_report.enforce_quality` turns a ``fail`` into an error.
    """
    q: dict[str, Any] = {"rows_in": int(len(raw))}
    frame = _numeric(raw, q)
    frame = _without_duplicates(frame, q)
    frame = _usable_rows(frame, q)
    if "adj_close" in frame.columns:
        frame, q["adjustment"] = adjust_by_adj_close(frame)
    elif split_detection:
        frame, q["adjustment"] = adjust_detected_splits(frame)
    else:
        q["adjustment"] = {"method": "none", "note": "no adjusted close and split detection is off"}
    q["calendar"] = calendar_report(frame.index)
    _moves(frame, q, max_abs_daily_return)
    q["rows_out"] = int(len(frame))
    q["window"] = {"first": f"{frame.index.min():%Y-%m-%d}", "last": f"{frame.index.max():%Y-%m-%d}"}
    q["checks"] = quality_checks(
        q, {**DEFAULT_THRESHOLDS, "max_abs_daily_return": max_abs_daily_return, **(thresholds or {})}
    )
    statuses = {c["status"] for c in q["checks"]}
    q["status"] = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    cleaned = frame[OHLC + ["volume"]].copy()
    return cleaned, q


def _numeric(raw: pd.DataFrame, q: dict[str, Any]) -> pd.DataFrame:
    """Dates normalised, every value a float (±inf a missing value); an all-empty price column refused, an
    all-empty adj_close dropped. Records what it found in ``q``."""
    frame = raw.copy()
    frame.index = pd.DatetimeIndex(frame.index).normalize()
    frame.index.name = "date"
    frame = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    non_finite = np.isinf(frame.to_numpy())
    q["non_finite_values"] = {c: int(n) for c, n in zip(frame.columns, non_finite.sum(axis=0), strict=True) if n}
    frame = frame.mask(non_finite)  # ±inf is no price: a missing value, counted and dropped like one
    empty = [c for c in OHLC + ["volume"] if c in frame.columns and len(frame) and frame[c].isna().all()]
    if empty:
        raise DataQualityError(
            f"column {empty[0]} has no values at all ({len(frame)} rows): the file or the "
            "source is broken; fix that column or use another file"
        )
    if "adj_close" in frame.columns and len(frame) and frame["adj_close"].isna().all():
        frame = frame.drop(columns="adj_close")  # documented repair: treated as absent
        q["adj_close_dropped"] = "the adj_close column was empty: treated as absent"
    return frame


def _without_duplicates(frame: pd.DataFrame, q: dict[str, Any]) -> pd.DataFrame:
    """Sorted by date; exact duplicate rows dropped; of rows sharing a date with different values, the last."""
    q["was_sorted"] = bool(frame.index.is_monotonic_increasing)
    frame = frame.sort_index(kind="mergesort")
    exact_dupes = frame.reset_index().duplicated(keep="first").to_numpy()
    frame = frame[~exact_dupes]
    date_dupes = frame.index.duplicated(keep="last")
    q["duplicates_dropped"] = int(exact_dupes.sum())
    q["conflicting_duplicate_dates"] = sorted({f"{d:%Y-%m-%d}" for d in frame.index[date_dupes]})
    return frame[~date_dupes]  # same date, different values: the last row given wins (documented repair)


def _usable_rows(frame: pd.DataFrame, q: dict[str, Any]) -> pd.DataFrame:
    """Rows with every price present and positive, OHLC consistent, on trading days; DataQualityError when
    none is left."""
    q["missing_values"] = {c: int(v) for c, v in frame.isna().sum().items()}
    required = OHLC + ["volume"]
    missing_rows = frame[required].isna().any(axis=1)
    if "adj_close" in frame.columns:
        missing_adj = frame["adj_close"].isna() & ~missing_rows
        if missing_adj.any():  # fill the factor from the neighbours rather than drop a good price row
            factor = (frame["adj_close"] / frame["close"]).ffill().bfill()
            frame.loc[missing_adj, "adj_close"] = frame.loc[missing_adj, "close"] * factor[missing_adj]
        q["adj_close_filled"] = int(missing_adj.sum())
    q["rows_dropped_missing"] = int(missing_rows.sum())
    frame = frame[~missing_rows]

    prices = OHLC + (["adj_close"] if "adj_close" in frame.columns else [])  # a zero adj_close is no price either
    nonpositive = (frame[prices] <= 0).any(axis=1) | (frame["volume"] < 0)
    q["rows_dropped_nonpositive"] = int(nonpositive.sum())
    frame = frame[~nonpositive]

    frame, q["ohlc_repairs"] = repair_ohlc(frame)
    q["zero_volume_days"] = int((frame["volume"] == 0).sum())
    if len(frame):
        closed = frame.index.difference(trading_calendar.trading_days(frame.index.min(), frame.index.max()))
        q["rows_dropped_non_trading"] = [f"{d:%Y-%m-%d}" for d in closed]
        frame = frame.drop(index=closed)  # a row on a weekend or an exchange holiday is not a trading day
    if frame.empty:
        raise DataQualityError(
            "no usable price rows are left after cleaning (all rows had missing or "
            "non-positive prices): check the input file"
        )
    return frame


def _moves(frame: pd.DataFrame, q: dict[str, Any], max_abs_daily_return: float) -> None:
    """The five largest daily moves after adjustment, and every move over ``max_abs_daily_return`` (logged)."""
    returns = frame["close"].pct_change()
    largest = returns.abs().nlargest(5).index
    q["largest_moves"] = [{"date": f"{d:%Y-%m-%d}", "return": round(float(returns[d]), 6)} for d in largest]
    suspicious = returns[returns.abs() > max_abs_daily_return]
    q["suspicious_moves"] = [{"date": f"{d:%Y-%m-%d}", "return": round(float(r), 6)} for d, r in suspicious.items()]
    for item in q["suspicious_moves"]:
        log.warning(
            "daily move of %+.1f%% on %s after adjustment: check for an unadjusted corporate action",
            100 * item["return"],
            item["date"],
        )


def repair_ohlc(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Make every row satisfy ``low <= min(open, close)`` and ``high >= max(open, close)`` by widening
    high/low (a documented repair); report how many rows needed it."""
    frame = frame.copy()
    body_high = frame[["open", "close"]].max(axis=1)
    body_low = frame[["open", "close"]].min(axis=1)
    bad_high = frame["high"] < body_high
    bad_low = frame["low"] > body_low
    inverted = frame["high"] < frame["low"]
    frame["high"] = np.maximum.reduce([frame["high"], frame["low"], body_high])
    frame["low"] = np.minimum.reduce([frame["high"], frame["low"], body_low])
    rows = bad_high | bad_low | inverted
    report = {
        "rows": int(rows.sum()),
        "high_below_open_or_close": int(bad_high.sum()),
        "low_above_open_or_close": int(bad_low.sum()),
        "high_below_low": int(inverted.sum()),
        "first_dates": [f"{d:%Y-%m-%d}" for d in frame.index[rows][:5]],
    }
    return frame, report


def adjust_by_adj_close(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scale open/high/low/close by ``adj_close / close`` (the source's split+dividend factor) and volume
    by the split part of it, so volumes stay comparable across splits."""
    frame = frame.copy()
    factor = frame["adj_close"] / frame["close"]
    for col in OHLC:
        frame[col] = frame[col] * factor
    # Split events are where the factor jumps by a split-sized ratio between consecutive days.
    ratio = factor / factor.shift(1)
    splits = []
    for day, r in ratio.dropna().items():
        k = _match_split(1.0 / r) if r < 1 else None
        k = k if k is not None else (_match_split(r) if r > 1 else None)
        if k is not None and abs(np.log(r)) > np.log(1.3):
            splits.append({"date": f"{day:%Y-%m-%d}", "ratio": k if r > 1 else 1.0 / k})
    split_factor = pd.Series(1.0, index=frame.index)
    for s in splits:
        split_factor[frame.index < pd.Timestamp(s["date"])] *= s["ratio"]
    frame["volume"] = frame["volume"] * split_factor
    # Dividend events: small downward steps of the factor that are not splits.
    dividends = int(((ratio > 1.0001) & (ratio < 1.1)).sum())
    return frame, {
        "method": "adj_close factor",
        "splits": splits,
        "dividend_steps": dividends,
        "factor_first": round(float(factor.iloc[0]), 8),
        "factor_last": round(float(factor.iloc[-1]), 8),
    }


def _match_split(x: float, tolerance: float = SPLIT_TOLERANCE) -> float | None:
    for k in SPLIT_RATIOS:
        if abs(x / k - 1) < tolerance:
            return k
    return None


def adjust_detected_splits(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Find split-sized jumps and scale earlier prices by them.

    A k-for-1 split is detected where the opening gap (open / previous close) is within 3 % of 1/k and the
    close-to-close ratio within 15 % of it (reverse splits likewise with k). A crash of about -50 % is
    usually not a split: its opening gap rarely lands that close to 1/2 (AAPL's -52 % on 2000-09-29 opened
    at 0.527 of the previous close). Volumes before the split are multiplied by k only when the volume
    level itself jumps by about k (some sources already split-adjust volume)."""
    frame = frame.copy()
    prev = frame["close"].shift(1)
    ratio = frame["close"] / prev
    gap = frame["open"] / prev
    vol_before = frame["volume"].rolling(20, min_periods=5).median().shift(1)
    vol_after = frame["volume"][::-1].rolling(20, min_periods=5).median()[::-1]
    splits = []
    for day in ratio.index[1:]:
        r, g = ratio[day], gap[day]
        if not (np.isfinite(r) and np.isfinite(g)) or abs(np.log(g)) < np.log(1.3):
            continue
        k = _match_split(1 / g if g < 1 else g, tolerance=0.03)
        if k is None or _match_split(1 / r if g < 1 else r, tolerance=0.15) is None:
            continue
        split = k if g < 1 else 1 / k  # shares are multiplied by ``split``
        vb, va = vol_before.get(day), vol_after.get(day)
        volume_jumped = bool(
            vb
            and va
            and np.isfinite(vb)
            and np.isfinite(va)
            and vb > 0
            and va > 0
            and abs(np.log(va / vb) - np.log(split)) < abs(np.log(va / vb))
        )
        splits.append({"date": f"{day:%Y-%m-%d}", "ratio": split, "volume_adjusted": volume_jumped})
    for s in splits:
        before = frame.index < pd.Timestamp(s["date"])
        frame.loc[before, OHLC] = frame.loc[before, OHLC] / s["ratio"]
        if s["volume_adjusted"]:
            frame.loc[before, "volume"] = frame.loc[before, "volume"] * s["ratio"]
        log.info("split %g-for-1 detected on %s and adjusted", s["ratio"], s["date"])
    return frame, {
        "method": "detected splits",
        "splits": splits,
        "note": "no adjusted close given: split-sized jumps adjusted, dividends are not",
    }
