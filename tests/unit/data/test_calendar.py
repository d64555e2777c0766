"""The NYSE calendar (exchange_calendars' XNYS) as cleaning, the gap report and the forecast date use it:
no real trading day is dropped or counted missing, the unscheduled closures are known, and a date the
calendar does not cover is refused with a clear message."""

from __future__ import annotations

import exchange_calendars
import pandas as pd
import pytest
from pandas.tseries.holiday import USMartinLutherKingJr

from aapl_lib.data import cleaning, trading_calendar
from aapl_lib.errors import DataQualityError
from helpers import random_walk


def test_a_1985_1999_history_on_every_nyse_session_keeps_every_row():
    # The rows are exchange_calendars' own sessions, not our module's: a calendar that closed the NYSE on
    # Martin Luther King Day before 1998 would drop those rows; one that missed a closure would report a gap.
    sessions = exchange_calendars.get_calendar("XNYS", start="1985-01-01", end="1999-12-31").sessions
    mlk_before_1998 = USMartinLutherKingJr.dates("1990-01-01", "1997-12-31")
    assert len(mlk_before_1998) == 8 and mlk_before_1998.isin(sessions).all()
    closures = pd.DatetimeIndex(["1985-09-27", "1994-04-27"])  # Hurricane Gloria, Nixon's funeral: weekdays
    assert not closures.isin(sessions).any()
    lost = pd.Timestamp("1994-04-28")  # a real trading day the file lacks: the one gap to report
    raw = random_walk(sessions.drop(lost))

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["rows_dropped_non_trading"] == []
    assert cleaned.index.equals(raw.index)
    assert mlk_before_1998.isin(cleaned.index).all()
    assert quality["calendar"]["missing_dates"] == ["1994-04-28"]
    assert quality["calendar"]["expected_trading_days"] == len(sessions)
    assert quality["status"] == "pass"


def test_a_row_on_a_closure_is_dropped_as_non_trading():
    index = pd.DatetimeIndex(["1985-09-25", "1985-09-26", "1985-09-27", "1985-09-30", "1998-01-16", "1998-01-19"])
    index = index.append(pd.DatetimeIndex(["1998-01-20", "1998-01-21"]))

    cleaned, quality = cleaning.clean_prices(random_walk(index))

    # Hurricane Gloria closed the exchange; Martin Luther King Day is a holiday from 1998
    assert quality["rows_dropped_non_trading"] == ["1985-09-27", "1998-01-19"]
    assert len(cleaned) == 6


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2024-01-12", "2024-01-16"),  # Friday before Martin Luther King Day
        ("2024-01-13", "2024-01-16"),  # from a Saturday
        ("2012-10-26", "2012-10-31"),  # Hurricane Sandy closed 29 and 30 October
        ("1985-09-26", "1985-09-30"),  # Hurricane Gloria, 27 September
        ("2001-09-10", "2001-09-17"),  # 11 September: closed until the Monday after
        ("2025-01-08", "2025-01-10"),  # Jimmy Carter's funeral
    ],
)
def test_next_trading_day_skips_weekends_holidays_and_closures(day, expected):
    assert trading_calendar.next_trading_day(day) == pd.Timestamp(expected)


def test_regular_holidays_before_1970_are_closed():
    # exchange_calendars counts its regular holidays only from 1970 in its sessions; ours are taken out
    days = trading_calendar.trading_days("1960-01-01", "1969-12-31")
    holidays = pd.DatetimeIndex(["1960-01-01", "1961-12-25", "1963-07-04", "1965-11-25", "1969-12-25"])
    assert not holidays.isin(days).any()
    assert pd.Timestamp("1963-11-25") not in days  # Kennedy's funeral
    assert pd.Timestamp("1963-11-26") in days
    assert not (days.day_of_week >= 5).any()


@pytest.mark.parametrize("day", ["1950-03-01", "2200-01-03"])
def test_a_date_the_calendar_does_not_cover_is_refused(day):
    with pytest.raises(DataQualityError, match=f"the date {day} is outside the NYSE calendar .XNYS"):
        trading_calendar.next_trading_day(day)
    raw = random_walk(pd.DatetimeIndex([day, "1990-01-02", "1990-01-03"]).sort_values())
    with pytest.raises(DataQualityError, match="outside the NYSE calendar"):
        cleaning.clean_prices(raw)


def test_next_trading_day_after_the_last_covered_session_is_refused():
    last = trading_calendar.trading_days("2000-01-03", trading_calendar.calendar_end())[-1]
    with pytest.raises(DataQualityError, match="no NYSE session is known after"):
        trading_calendar.next_trading_day(last)


def test_the_calendar_version_is_a_key_package_even_with_an_older_environment_cache(tmp_path):
    # The version is part of every task's fingerprint: an upgrade that changes the sessions reruns cleaning.
    from importlib.metadata import version

    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.store.manifest import package_versions

    cache = tmp_path / "environment.json"
    package_versions(cache)
    older = read_json(cache)  # as written before exchange_calendars was a key package
    del older["packages"]["exchange_calendars"]
    write_json(cache, older)

    assert package_versions(cache)["exchange_calendars"] == version("exchange_calendars")
    assert "exchange_calendars" in read_json(cache)["packages"]
