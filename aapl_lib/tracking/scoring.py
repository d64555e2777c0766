"""Scoring the ledger's forecasts against a later run's cleaned prices, without look-ahead.

A forecast is scored only when the scoring run's prices hold a row for the day it is for **and** that day's
NYSE session had closed when the prices were retrieved (a live download during trading hours holds a partial
bar for today: it is not a close). The realised return is ``close[for_date] / close[forecast_date] - 1`` in the
scoring run's own (adjusted) prices; the closes used are kept in the row. When the scoring run's close of the
forecast day differs from the one the forecast was made with (a split or dividend adjustment, a correction),
the row says so (``revised``) instead of hiding it. A scored row is never scored again."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aapl_lib.data.trading_calendar import has_closed

REVISION_TOLERANCE = 1e-9  # relative: a close written and read back is exact, anything larger is a revision


def _sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)


def score_pending(ledger: pd.DataFrame, cleaned: pd.DataFrame, *, retrieved_at: str, run_id: str) -> list[int]:
    """Score, in place, every pending row of ``ledger`` whose day has closed in ``cleaned`` (a run's cleaned
    prices, retrieved at ``retrieved_at``); returns the positions scored. Pure apart from the frame it edits."""
    close = cleaned["close"]
    last_day = close.index.max()
    scored = []
    for position in np.flatnonzero((ledger["status"] == "pending").to_numpy()):
        row = ledger.iloc[position]
        for_day, made_day = pd.Timestamp(row["for_date"]), pd.Timestamp(row["forecast_date"])
        if for_day > last_day or not has_closed(for_day, retrieved_at):
            continue  # not closed yet in these prices: stays pending
        if for_day not in close.index or made_day not in close.index:
            missing = for_day if for_day not in close.index else made_day
            ledger.iat[position, ledger.columns.get_loc("note")] = (
                f"run {run_id}'s prices have no row for {missing:%Y-%m-%d}: left pending"
            )
            continue
        base, final = float(close[made_day]), float(close[for_day])
        realised = final / base - 1
        predicted, last_return = float(row["predicted_return"]), float(row["last_return"])
        revised = abs(base / float(row["last_close"]) - 1) > REVISION_TOLERANCE
        values = {
            "status": "scored",
            "scored_by_run": run_id,
            "close_used": final,
            "base_close_used": base,
            "realised_return": realised,
            "error": predicted - realised,
            "direction_right": None if _sign(realised) == 0 else _sign(predicted) == _sign(realised),
            "last_return_error": last_return - realised,
            "revised": revised,
            "note": (
                f"prices revised after the forecast: the close of {made_day:%Y-%m-%d} was {row['last_close']:.6g} "
                f"when it was made and {base:.6g} in run {run_id}'s prices (scored with the latter, both kept)"
                if revised
                else ""
            ),
        }
        for column, value in values.items():
            ledger.iat[position, ledger.columns.get_loc(column)] = value
        scored.append(int(position))
    return scored
