"""The NYSE trading calendar (regular holidays plus the unscheduled closures since 2000), built on pandas'
holiday rules. Used by cleaning (gap report) and evaluation (next trading day)."""

from __future__ import annotations

import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)
from pandas.tseries.offsets import CustomBusinessDay


class NYSEHolidayCalendar(AbstractHolidayCalendar):
    """Regular NYSE full-day holidays."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


# Closures outside the regular rules (national days of mourning, 9/11, Hurricane Sandy).
SPECIAL_CLOSURES = pd.DatetimeIndex(
    [
        "2001-09-11",
        "2001-09-12",
        "2001-09-13",
        "2001-09-14",
        "2004-06-11",
        "2007-01-02",
        "2012-10-29",
        "2012-10-30",
        "2018-12-05",
        "2025-01-09",
    ]
)


def holidays(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE closures on weekdays between ``start`` and ``end``."""
    regular = NYSEHolidayCalendar().holidays(
        start=pd.Timestamp(start) - pd.Timedelta(days=7), end=pd.Timestamp(end) + pd.Timedelta(days=7)
    )
    # New Year's Day on a Saturday is not observed on the Friday before (NYSE rule).
    regular = regular[~((regular.month == 12) & (regular.day == 31))]
    days = regular.union(SPECIAL_CLOSURES)
    return days[(days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))]


def trading_days(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Every NYSE trading day from ``start`` to ``end`` inclusive."""
    return pd.bdate_range(start, end, freq=CustomBusinessDay(holidays=holidays(start, end)))


def next_trading_day(day: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE trading day after ``day``."""
    day = pd.Timestamp(day)
    candidates = trading_days(day + pd.Timedelta(days=1), day + pd.Timedelta(days=15))
    return candidates[0]
