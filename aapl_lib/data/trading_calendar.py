"""The NYSE trading calendar: the sessions of exchange_calendars' ``XNYS`` (regular holidays, the early
rules such as Martin Luther King Day only from 1998, and the unscheduled closures: Hurricane Gloria,
presidents' funerals, 9/11, Hurricane Sandy...). Used by cleaning (rows on closed days, gap report) and
evaluation (the forecast's next trading day).

Covered: :data:`FIRST_DAY` to the end of the year after next (built once per process). A date outside
that range raises :class:`~aapl_lib.errors.DataQualityError` instead of a guess.
"""

from __future__ import annotations

import functools
from datetime import date

import pandas as pd

from aapl_lib.errors import DataQualityError

# The NYSE traded on Saturdays until 24 May 1952 and XNYS knows only Monday-Friday weeks, so earlier
# dates cannot be checked: the calendar starts after the last Saturday session.
FIRST_DAY = pd.Timestamp("1952-06-01")
EXCHANGE = "XNYS"


def calendar_end() -> pd.Timestamp:
    """Last day covered: 31 December of the year after next (future closures are the regular rules only)."""
    return pd.Timestamp(year=date.today().year + 2, month=12, day=31)


def sessions() -> pd.DatetimeIndex:
    """Every XNYS session from :data:`FIRST_DAY` to :func:`calendar_end` (tz-naive dates), built once (the
    runner's warm process builds it before it forks the kernels: ``fork_server.PREBUILD``)."""
    return _sessions(calendar_end())


@functools.lru_cache(maxsize=2)  # keyed by the end: a process that lives into a new year extends it
def _sessions(end: pd.Timestamp) -> pd.DatetimeIndex:
    import exchange_calendars  # lazy: importing it loads every exchange's rules (tenths of a second)

    cal = exchange_calendars.get_calendar(EXCHANGE, start=FIRST_DAY, end=end)
    # exchange_calendars (4.13) builds its business day from the regular-holiday rules with pandas' default
    # start, 1970-01-01, so before 1970 it counts Christmas, New Year's Day... as sessions. The same rules
    # evaluated over the whole range take them out (no change from 1970 on).
    return cal.sessions.difference(cal.regular_holidays.holidays(FIRST_DAY, end))


@functools.lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars

    return exchange_calendars.get_calendar(EXCHANGE, start=FIRST_DAY, end=calendar_end())


def has_closed(day: str | pd.Timestamp, at: str | pd.Timestamp) -> bool:
    """Whether the NYSE session of ``day`` had closed (its regular or early close) by the moment ``at``
    (an aware timestamp, e.g. when prices were retrieved; naive means UTC). A day that is no session is
    never "closed": it has no close to score against."""
    day = _day(day)
    if day not in sessions():
        return False
    moment = pd.Timestamp(at)
    moment = moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")
    return bool(moment >= _calendar().session_close(day))


def _day(value: str | pd.Timestamp) -> pd.Timestamp:
    """``value`` as a tz-naive date, or a clear error when the calendar does not cover it."""
    day = pd.Timestamp(value)
    day = (day.tz_localize(None) if day.tz is not None else day).normalize()
    if FIRST_DAY <= day <= calendar_end():
        return day
    fix = (
        f"before June 1952 the NYSE also traded on Saturdays: start the window later (-p start {FIRST_DAY:%Y-%m-%d})"
        if day < FIRST_DAY
        else "no price can be dated that far ahead: fix the dates in the file"
    )
    raise DataQualityError(
        f"the date {day:%Y-%m-%d} is outside the NYSE calendar ({EXCHANGE} from exchange_calendars), which covers "
        f"{FIRST_DAY:%Y-%m-%d}..{calendar_end():%Y-%m-%d}; {fix}"
    )


def trading_days(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Every NYSE trading day (XNYS session) from ``start`` to ``end`` inclusive."""
    first, last = _day(start), _day(end)
    days = sessions()
    return days[days.searchsorted(first, side="left") : days.searchsorted(last, side="right")]


def next_trading_day(day: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE trading day (XNYS session) after ``day``."""
    days = sessions()
    position = days.searchsorted(_day(day), side="right")
    if position == len(days):
        raise DataQualityError(
            f"no NYSE session is known after {pd.Timestamp(day):%Y-%m-%d}: the calendar ({EXCHANGE} from "
            f"exchange_calendars) ends {calendar_end():%Y-%m-%d}; check the dates of the prices"
        )
    return days[position]
