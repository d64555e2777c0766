"""The NYSE calendar (exchange_calendars' XNYS) as cleaning, the gap report and the forecast date use it:
no real trading day is dropped or counted missing, the unscheduled closures are known, and a date the
calendar does not cover is refused with a clear message."""

from __future__ import annotations

import exchange_calendars
import pandas as pd
from pandas.tseries.holiday import USMartinLutherKingJr

from helpers import random_walk, write_classic_yahoo


def test_a_1990s_csv_keeps_every_trading_day_through_the_runner(project, tmp_path):
    """The user's path: a Yahoo export of the 1990s, `-p source csv`, steps 1-2 of the runner."""
    sessions = exchange_calendars.get_calendar("XNYS", start="1990-01-01", end="1997-12-31").sessions
    csv = write_classic_yahoo(tmp_path / "AAPL-1990s.csv", random_walk(sessions))
    proc = project.run(
        "-p", "source", "csv", "-p", "csv_path", str(csv), "-p", "start", "1990-01-02", "-p", "end", "1997-12-31",
        "--end-task", "data_cleaning", "--force",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cleaned = pd.read_csv(project.latest() / "data" / "cleaned.csv", index_col=0, parse_dates=True)
    assert len(cleaned) == len(sessions)  # before exchange_calendars, the eight MLK Days 1990-1997 were dropped
    assert USMartinLutherKingJr.dates("1990-01-01", "1997-12-31").isin(cleaned.index).all()
