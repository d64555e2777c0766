"""Step 1's data sources: the CSV layouts people really have, the offline sample, and yfinance (never the
network: ``yfinance.Ticker`` is replaced by a fake whose ``history`` returns a frame shaped like yfinance 1.x's
and raises yfinance's own exception types).

Every CSV fixture is written into ``tmp_path`` from ~40 rows of the offline sample, in the exact layouts of
the real-world AAPL files the team collected (the tests never read them: fixtures are written here)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from curl_cffi.requests.exceptions import DNSError, ReadTimeout
from fake_yfinance.yf_history_shape import history_frame
from yfinance.exceptions import (
    YFDataException,
    YFInvalidPeriodError,
    YFPricesMissingError,
    YFRateLimitError,
    YFTickerMissingError,
    YFTzMissingError,
)

from aapl_lib.data import ingestion, sources
from aapl_lib.errors import DataSourceError, TransientSourceError
from aapl_lib.pipeline.parameters import SAMPLE_RANGE
from helpers import sample_frame, write_classic_yahoo, write_nasdaq

START, END = "2012-01-03", "2012-02-29"
PRICES = ["open", "high", "low", "close", "volume"]


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """40 AAPL trading days from the offline sample, rounded so that every text format round-trips."""
    frame = sources.load_sample("AAPL", START, END).round(4)
    assert len(frame) == 40
    return frame


def _num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _write(
    path: Path,
    header_lines: list[str],
    frame: pd.DataFrame,
    columns: list[str],
    *,
    sep: str = ",",
    date_format: str = "%Y-%m-%d",
    decimals: int = 4,
    volume_format: str = "{:.0f}",
    extra: list[str] | None = None,
) -> Path:
    """Write ``frame`` under ``header_lines``; ``columns`` are the canonical names in file order."""
    lines = list(header_lines)
    for day, row in frame.iterrows():
        cells = [day.strftime(date_format)]
        for col in columns:
            cells.append(volume_format.format(row[col]) if col == "volume" else _num(row[col], decimals))
        if extra:
            cells.extend(extra)
        lines.append(sep.join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Each layout: (header lines, canonical columns in file order, writer options, expected layout facts).
_YF_ADJ = ["adj_close", "close", "high", "low", "open", "volume"]
_YF = ["close", "high", "low", "open", "volume"]
_CLASSIC = ["open", "high", "low", "close", "adj_close", "volume"]
LAYOUTS = {
    "classic_yahoo": (
        ["Date,Open,High,Low,Close,Adj Close,Volume"],
        _CLASSIC,
        {},
        {"layout": "single header", "file_ticker": None, "extra_columns": []},
    ),
    "classic_yahoo_6_decimals": (
        ["Date,Open,High,Low,Close,Adj Close,Volume"],
        _CLASSIC,
        {"decimals": 6},
        {"layout": "single header"},
    ),
    "yfinance_multi_header_adj_close": (
        ["Price,Adj Close,Close,High,Low,Open,Volume", "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL,AAPL", "Date,,,,,,"],
        _YF_ADJ,
        {},
        {"layout": "yfinance multi-row header", "file_ticker": "AAPL", "extra_columns": []},
    ),
    "yfinance_multi_header_auto_adjust": (
        ["Price,Close,High,Low,Open,Volume", "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL", "Date,,,,,"],
        _YF,
        {},
        {"layout": "yfinance multi-row header", "file_ticker": "AAPL"},
    ),
    "yfinance_flattened": (
        ["Date,Close,High,Low,Open,Volume"],
        _YF,
        {},
        {"layout": "single header", "file_ticker": None},
    ),
    "lower_case_with_time": (
        ["Date,open,high,low,close,volume"],
        PRICES,
        {"date_format": "%Y-%m-%d 05:00:00", "volume_format": "{:.1f}"},
        {"layout": "single header"},
    ),
    "extra_columns": (
        ["Date,Adj Close,Close,High,Low,Open,Volume,Daily_Return,Extreme_Event"],
        _YF_ADJ,
        {"extra": ["-2.8171860607650534", "0"]},
        {"extra_columns": ["Daily_Return", "Extreme_Event"]},
    ),
    "semicolon": (["Date;Open;High;Low;Close;Adj Close;Volume"], _CLASSIC, {"sep": ";"}, {"delimiter": ";"}),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_parses_to_the_same_canonical_frame(tmp_path, base, name):
    header, columns, options, facts = LAYOUTS[name]
    path = _write(tmp_path / f"{name}.csv", header, base, columns, **options)

    frame, layout = sources.read_price_csv(path, "AAPL")

    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.tz is None
    assert (frame.index == frame.index.normalize()).all()
    assert sorted(frame.columns) == sorted(columns)
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    canonical = [c for c in (*PRICES, "adj_close") if c in columns]
    pd.testing.assert_frame_equal(frame[canonical], base[canonical], check_freq=False)
    for key, value in facts.items():
        assert layout[key] == value, key


def test_time_of_day_and_utc_offsets_normalise_to_the_new_york_trading_day(tmp_path):
    cases = {
        "2023-01-03 05:00:00": "2023-01-03",  # Polygon.io style (05:00 UTC is midnight in New York)
        "2023-01-04 16:00:00": "2023-01-04",
        "2023-01-05 00:00:00-05:00": "2023-01-05",  # Ticker.history().to_csv()
        "2023-01-06T14:30:00+00:00": "2023-01-06",  # the open, in UTC
        "2023-01-09T21:00:00Z": "2023-01-09",  # the close, in UTC
    }
    rows = [f"{stamp},130.28,130.90,124.17,125.07,112117500" for stamp in cases]
    path = tmp_path / "times.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")

    frame, _ = sources.read_price_csv(path, "AAPL")

    assert list(frame.index) == [pd.Timestamp(day) for day in cases.values()]
    assert frame.index.tz is None


def test_unknown_layout_names_the_columns_found_and_needed(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Day,Price,Qty\n2023-01-03,125.07,112117500\n")

    with pytest.raises(DataSourceError) as info:
        sources.read_price_csv(path, "AAPL")

    message = str(info.value)
    assert "['Day', 'Price', 'Qty']" in message  # found
    assert "Date, Open, High, Low, Close, Volume" in message  # needed
    assert "missing open, high, low, close, volume" in message  # 'Day' was accepted as the date


def test_space_separated_file_hints_at_the_delimiter(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("Date Open High Low Close Volume\n2023-01-03 130.28 130.90 124.17 125.07 112117500\n")

    with pytest.raises(DataSourceError, match="delimiter looks like"):
        sources.read_price_csv(path, "AAPL")


def test_non_numeric_price_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_price.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2023-01-03,130.28,130.90,124.17,125.07,124.22,112117500\n"
        "2023-01-04,126.89,128.66,125.08,n.a.,125.50,89113600\n"
        "2023-01-05,127.13,127.77,124.76,abc,124.17,80962700\n"
    )

    with pytest.raises(DataSourceError) as info:
        sources.read_price_csv(path, "AAPL")

    message = str(info.value)
    assert "column close" in message and "'n.a.'" in message and "2 row(s)" in message


def test_non_date_in_date_column_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_date.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2023-01-03,1,2,0.5,1.5,10\nTotal,1,2,0.5,1.5,10\n")

    with pytest.raises(DataSourceError, match=r"1 value\(s\) in the date column are not dates.*'Total'"):
        sources.read_price_csv(path, "AAPL")


def test_yahoo_null_rows_and_thousands_separators(tmp_path):
    path = tmp_path / "nulls.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        '2023-01-03,130.28,130.90,124.17,125.07,124.22,"112,117,500"\n'
        "2023-01-04,null,null,null,null,null,null\n"
    )

    frame, _ = sources.read_price_csv(path, "AAPL")

    assert frame.loc["2023-01-03", "volume"] == 112_117_500.0
    assert frame.loc["2023-01-04"].isna().all()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "is empty"),
        ("\n  \n\n", "is empty"),
        ("Date,Open,High,Low,Close,Adj Close,Volume\n", "has a header but no data rows"),
        (
            "Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n",
            "has a header but no data rows",
        ),
    ],
    ids=["empty", "blank_lines", "classic_header_only", "yfinance_header_only"],
)
def test_empty_and_header_only_files(tmp_path, text, expected):
    path = tmp_path / "prices.csv"
    path.write_text(text)

    with pytest.raises(DataSourceError, match=expected):
        sources.read_price_csv(path, "AAPL")


def test_missing_file_is_a_data_source_error(tmp_path):
    with pytest.raises(DataSourceError, match="cannot read"):
        sources.read_price_csv(tmp_path / "nope.csv", "AAPL")


def test_yfinance_file_of_another_ticker_errors(tmp_path, base):
    header = ["Price,Close,High,Low,Open,Volume", "Ticker,MSFT,MSFT,MSFT,MSFT,MSFT", "Date,,,,,"]
    path = _write(tmp_path / "msft.csv", header, base, _YF)

    with pytest.raises(DataSourceError, match="holds prices of MSFT, not AAPL"):
        sources.read_price_csv(path, "AAPL")
    frame, layout = sources.read_price_csv(path, "msft")  # the symbol's case does not matter
    assert layout["file_ticker"] == "MSFT" and len(frame) == len(base)


def test_multi_ticker_yfinance_file_gives_the_requested_ticker(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text(
        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n"
        "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n"
        "Date,,,,,,,,,,\n"
        "2023-01-03,125.07,239.58,130.90,245.75,124.17,237.40,130.28,243.08,112117500,25740000\n"
        "2023-01-04,126.36,229.10,128.66,232.87,125.08,225.96,126.89,232.28,89113600,50623400\n"
    )
    frame, _ = sources.read_price_csv(path, "MSFT")
    assert frame["close"].tolist() == [239.58, 229.10]
    assert frame["volume"].tolist() == [25740000.0, 50623400.0]


def test_empty_date_cell_is_reported_not_passed_on_as_nat(tmp_path):
    path = tmp_path / "hole.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2023-01-03,130.28,130.90,124.17,125.07,112117500\n"
        ",126.89,128.66,125.08,126.36,89113600\n"
        "2023-01-05,127.13,127.77,124.76,125.02,80962700\n"
    )
    with pytest.raises(DataSourceError, match=r"1 row\(s\) have an empty date: fill or remove them"):
        sources.read_price_csv(path, "AAPL")


def test_semicolon_file_with_decimal_commas_is_not_silently_scaled(tmp_path):
    path = tmp_path / "excel_de.csv"
    path.write_text(
        "Date;Open;High;Low;Close;Volume\n"
        "2023-01-03;130,28;130,90;124,17;125,07;112117500\n"
        "2023-01-04;126,89;128,66;125,08;126,36;89113600\n"
    )
    frame, _ = sources.read_price_csv(path, "AAPL")
    assert frame["close"].tolist() == [125.07, 126.36]
    assert frame["open"].tolist() == [130.28, 126.89] and frame["volume"].tolist() == [112117500, 89113600]


def test_day_first_dates_are_parsed_consistently(tmp_path):
    path = tmp_path / "dmy.csv"
    days = ["03/01/2023", "04/01/2023", "05/01/2023", "12/01/2023", "13/01/2023"]
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "".join(f"{d},1.0,2.0,0.5,1.5,10\n" for d in days))
    frame, _ = sources.read_price_csv(path, "AAPL")
    assert list(frame.index) == list(pd.to_datetime(days, format="%d/%m/%Y"))


def test_nasdaq_export_reads_to_the_same_prices_and_dates_as_the_classic_layout(tmp_path):
    # A whole year, so days above 12 sit where a day-first reading would put months; Nasdaq writes cents.
    frame = sample_frame("2012-01-01", "2012-12-31").round(2)
    nasdaq_path = write_nasdaq(tmp_path / "nasdaq.csv", frame)
    classic, _ = sources.read_price_csv(write_classic_yahoo(tmp_path / "classic.csv", frame), "AAPL")

    nasdaq, layout = sources.read_price_csv(nasdaq_path, "AAPL")

    lines = nasdaq_path.read_text().splitlines()
    assert lines[1].startswith("12/31/2012,$") and lines[-1].startswith("01/03/2012,$")  # newest first, in $
    assert layout["layout"] == "Nasdaq.com historical data" and "reversed" in layout["order"]
    assert nasdaq.index.is_monotonic_increasing and nasdaq.index.name == "date"
    assert "adj_close" not in nasdaq.columns  # none given: cleaning's split detection handles it
    pd.testing.assert_frame_equal(nasdaq, classic[PRICES], check_freq=False)


def test_nasdaq_export_with_a_malformed_price_names_the_row_and_column(tmp_path):
    path = tmp_path / "nasdaq.csv"
    path.write_text(
        "Date,Close/Last,Volume,Open,High,Low\n"
        "11/26/2025,$277.55,33431370,$276.96,$279.53,$276.63\n"
        "11/25/2025,$abc,46914220,$275.27,$280.38,$275.25\n"
    )

    with pytest.raises(DataSourceError) as info:
        sources.read_price_csv(path, "AAPL")

    assert "data row 2 (date 11/25/2025), column close: value '$abc' is not a number" in str(info.value)


# --------------------------------------------------------------------------------------------- load_csv
def test_load_csv_keeps_the_inclusive_window(tmp_path, base):
    path = _write(tmp_path / "classic.csv", LAYOUTS["classic_yahoo"][0], base, _CLASSIC)

    frame, layout = sources.load_csv(path, "AAPL", "2012-01-10", "2012-01-20")

    expected = base.loc["2012-01-10":"2012-01-20"].index
    assert list(frame.index) == list(expected)
    assert frame.index[0] == pd.Timestamp("2012-01-10") and frame.index[-1] == pd.Timestamp("2012-01-20")
    assert len(frame) == 8  # 2012-01-16 was Martin Luther King Day
    assert layout["layout"] == "single header"


def test_load_csv_without_rows_in_the_window_says_what_the_file_covers(tmp_path, base):
    path = _write(tmp_path / "classic.csv", LAYOUTS["classic_yahoo"][0], base, _CLASSIC)

    with pytest.raises(DataSourceError) as info:
        sources.load_csv(path, "AAPL", "2023-01-01", "2023-12-31")

    message = str(info.value)
    assert "no rows in 2023-01-01..2023-12-31" in message
    assert "2012-01-03..2012-02-29" in message


# --------------------------------------------------------------------------------------------- sample
def _sample_tickers(stocks) -> list[str]:
    return sorted(
        name
        for name in dir(stocks)
        if not name.startswith("_") and isinstance(getattr(stocks, name), dict) and "date" in getattr(stocks, name)
    )


def test_sample_range_matches_what_bokeh_sampledata_holds():
    from bokeh_sampledata import stocks

    tickers = _sample_tickers(stocks)
    assert tickers == sorted(SAMPLE_RANGE)
    for ticker in tickers:
        dates = pd.to_datetime(pd.Series(getattr(stocks, ticker)["date"]))
        first, last = SAMPLE_RANGE[ticker]
        assert (dates.min(), dates.max()) == (pd.Timestamp(first), pd.Timestamp(last)), ticker


def test_load_sample_gives_a_float_frame_restricted_to_the_window():
    frame = sources.load_sample("IBM", "2012-01-03", "2012-01-31")

    assert frame.index.name == "date" and frame.index.is_monotonic_increasing
    assert frame.index[0] == pd.Timestamp("2012-01-03") and frame.index[-1] == pd.Timestamp("2012-01-31")
    assert list(frame.columns) == [*PRICES, "adj_close"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)


def test_load_sample_of_an_unknown_ticker_errors():
    with pytest.raises(DataSourceError, match="TSLA is not in the offline sample.*AAPL"):
        sources.load_sample("TSLA", "2010-01-01", "2010-12-31")


def test_load_sample_outside_its_range_says_the_range():
    with pytest.raises(DataSourceError, match="covers 2012-05-18..2013-03-01"):
        sources.load_sample("FB", "2010-01-01", "2011-12-31")


# --------------------------------------------------------------------------------------------- yfinance
def _history_frame(base: pd.DataFrame, actions: bool = True) -> pd.DataFrame:
    """What ``yfinance.Ticker(t).history(auto_adjust=False, actions=...)`` returns in 1.x."""
    return history_frame(base, actions)


class FakeYfinance:
    """Replaces ``yfinance.Ticker``: each ``history`` call raises the next queued exception, then returns
    ``result``. Like yfinance 1.x, a queued error other than a rate limit is hidden (logged, an empty frame
    returned) unless ``yfinance.config.debug.hide_exceptions`` is False."""

    def __init__(self, result: pd.DataFrame, failures: list[Exception] | None = None):
        self.result = result
        self.failures = list(failures or [])
        self.calls: list[tuple[str, dict]] = []

    def ticker(self, symbol: str, session=None) -> FakeYfinance._Ticker:
        return self._Ticker(self, symbol)

    class _Ticker:
        def __init__(self, fake: FakeYfinance, symbol: str):
            self.fake, self.symbol = fake, symbol

        def history(self, **kwargs) -> pd.DataFrame:
            self.fake.calls.append((self.symbol, kwargs))
            if self.fake.failures:
                error = self.fake.failures.pop(0)
                if isinstance(error, YFRateLimitError) or not yfinance.config.debug.hide_exceptions:
                    raise error
                return pd.DataFrame(columns=FIELDS, index=pd.DatetimeIndex([], name="Date"), dtype="float64")
            if kwargs.get("actions", True):
                return self.fake.result.copy()
            return self.fake.result.drop(columns=["Dividends", "Stock Splits"], errors="ignore")


FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
TIMEOUT = ReadTimeout("Failed to perform, curl: (28) Operation timed out after 10001 milliseconds")


@pytest.fixture
def fake_yf(monkeypatch):
    def install(result, failures=None) -> FakeYfinance:
        fake = FakeYfinance(result, failures)
        monkeypatch.setattr(yfinance, "Ticker", fake.ticker)
        return fake

    return install


def test_download_yfinance_flattens_the_history_frame(fake_yf, base):
    fake = fake_yf(_history_frame(base))

    frame = sources.download_yfinance("AAPL", START, END, wait_seconds=0)

    assert list(frame.columns) == [*PRICES, "adj_close"]
    assert frame.index.name == "date" and frame.index.tz is None
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    pd.testing.assert_frame_equal(frame.rename_axis(columns=None), base[[*PRICES, "adj_close"]], check_freq=False)
    ((symbol, kwargs),) = fake.calls
    assert symbol == "AAPL"
    assert kwargs["start"] == START and kwargs["end"] == "2012-03-01"  # yfinance's end is exclusive
    assert kwargs["auto_adjust"] is False and kwargs["interval"] == "1d" and kwargs["actions"] is False
    assert "raise_errors" not in kwargs  # deprecated in 1.x
    assert yfinance.config.debug.hide_exceptions is True  # the global setting is given back


def test_download_yfinance_empty_answer_names_the_ticker(fake_yf, base):
    fake = fake_yf(_history_frame(base.iloc[:0]))

    with pytest.raises(DataSourceError) as info:
        sources.download_yfinance("AAPL", "2012-12-25", "2012-12-25", wait_seconds=0)

    assert not isinstance(info.value, TransientSourceError)
    assert "no prices for AAPL in 2012-12-25..2012-12-25" in str(info.value)
    assert len(fake.calls) == 1  # not retried


@pytest.mark.parametrize(
    "error",
    [
        YFTzMissingError("ZZZZQ"),
        YFPricesMissingError("ZZZZQ", "(1d 2012-01-03 -> 2012-03-01)"),
        YFTickerMissingError("ZZZZQ", "no data found, symbol may be delisted"),
    ],
    ids=["tz-missing", "prices-missing", "ticker-missing"],
)
def test_download_yfinance_unknown_ticker_fails_at_once_naming_it(fake_yf, base, error):
    fake = fake_yf(_history_frame(base), failures=[error] * 5)

    with pytest.raises(DataSourceError) as info:
        sources.download_yfinance("ZZZZQ", START, END, attempts=4, wait_seconds=0)

    message = str(info.value)
    assert not isinstance(info.value, TransientSourceError)
    assert message.startswith(f"yfinance returned no prices for ZZZZQ in {START}..{END}")
    assert type(error).__name__ in message and "check the symbol on finance.yahoo.com" in message
    assert len(fake.calls) == 1  # not retried


def test_download_yfinance_retries_a_transient_failure(fake_yf, base):
    # A rate limit (yfinance raises it even when hiding other errors) twice, then the prices.
    fake = fake_yf(_history_frame(base), failures=[YFRateLimitError(), YFRateLimitError()])

    frame = sources.download_yfinance("AAPL", START, END, attempts=4, wait_seconds=0)

    assert len(fake.calls) == 3
    pd.testing.assert_frame_equal(frame.rename_axis(columns=None), base[[*PRICES, "adj_close"]], check_freq=False)


@pytest.mark.parametrize(
    "error",
    [
        CurlConnectionError("Failed to perform, curl: (7) Failed to connect to query2.finance.yahoo.com"),
        TIMEOUT,
        YFDataException("*** YAHOO! FINANCE IS CURRENTLY DOWN! ***"),
    ],
    ids=["connection", "timeout", "yahoo-down"],
)
def test_download_yfinance_retries_network_errors(fake_yf, base, error):
    # yfinance hides these unless told not to (then a failed time-zone lookup looks like an unknown ticker):
    # this passes only if the download turns hide_exceptions off.
    fake = fake_yf(_history_frame(base), failures=[error])

    frame = sources.download_yfinance("AAPL", START, END, attempts=2, wait_seconds=0)

    assert len(fake.calls) == 2 and len(frame) == len(base)


def test_download_yfinance_gives_up_after_the_allowed_attempts(fake_yf, base):
    fake = fake_yf(_history_frame(base), failures=[TIMEOUT] * 5)

    with pytest.raises(TransientSourceError) as info:
        sources.download_yfinance("AAPL", START, END, attempts=3, wait_seconds=0)

    message = str(info.value)
    assert message.startswith("yfinance download of AAPL failed: ReadTimeout: Failed to perform")
    assert "gave up after 3 attempt(s)" in message and "-p download_retries" in message
    assert len(fake.calls) == 3


def test_download_yfinance_does_not_retry_a_permanent_error(fake_yf, base):
    fake = fake_yf(_history_frame(base), failures=[YFInvalidPeriodError("AAPL", "7d", "1d, 5d, 1mo")])

    with pytest.raises(DataSourceError, match="refused the window of AAPL.*check -p start and -p end") as info:
        sources.download_yfinance("AAPL", START, END, attempts=4, wait_seconds=0)

    assert not isinstance(info.value, TransientSourceError)
    assert len(fake.calls) == 1


def test_flatten_tz_aware_history_frame_normalises_to_dates():
    # Ticker.history(): flat columns, New York time zone, extra action columns.
    index = pd.DatetimeIndex(["2023-01-03", "2023-01-04", "2023-01-05"], name="Date").tz_localize("America/New_York")
    history = pd.DataFrame(
        {
            "Open": [130.28, 126.89, 127.13],
            "High": [130.90, 128.66, 127.77],
            "Low": [124.17, 125.08, 124.76],
            "Close": [125.07, 126.36, 125.02],
            "Volume": [112117500, 89113600, 80962700],
            "Dividends": 0.0,
            "Stock Splits": 0.0,
        },
        index=index,
    )

    frame = sources.flatten_yfinance_frame(history, "AAPL")

    assert frame.index.tz is None and frame.index.name == "date"
    assert list(frame.index) == list(pd.to_datetime(["2023-01-03", "2023-01-04", "2023-01-05"]))
    assert list(frame.columns) == PRICES
    assert frame.loc["2023-01-03", "close"] == 125.07


def test_flatten_utc_intraday_stamps_map_to_the_new_york_day():
    index = pd.DatetimeIndex(["2023-01-03 14:30", "2023-01-04 20:59"]).tz_localize("UTC")
    raw = pd.DataFrame(
        {"Open": [1.0, 2.0], "High": [1.0, 2.0], "Low": [1.0, 2.0], "Close": [1.0, 2.0], "Volume": [1, 2]}, index=index
    )

    frame = sources.flatten_yfinance_frame(raw, "AAPL")

    assert list(frame.index) == [pd.Timestamp("2023-01-03"), pd.Timestamp("2023-01-04")]


def _download_frame(base: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """What ``yfinance.download(ticker, auto_adjust=False)`` returns: ``(Price, Ticker)`` MultiIndex columns."""
    columns = pd.MultiIndex.from_product([["Adj Close", "Close", "High", "Low", "Open", "Volume"], [ticker]])
    values = base[["adj_close", "close", "high", "low", "open", "volume"]].to_numpy()
    return pd.DataFrame(values, columns=columns.set_names(["Price", "Ticker"]), index=base.index.rename("Date"))


def test_flatten_multi_ticker_frame_picks_the_requested_ticker(base):
    both = pd.concat([_download_frame(base, "AAPL"), _download_frame(base * 2, "MSFT")], axis=1)

    msft = sources.flatten_yfinance_frame(both, "MSFT")

    pd.testing.assert_series_equal(msft["close"], base["close"] * 2, check_freq=False)
    with pytest.raises(DataSourceError, match="not IBM"):
        sources.flatten_yfinance_frame(both, "IBM")


# --------------------------------------------------------------------------------------------- ingestion
def _params(source: str, **extra) -> dict:
    return {
        "ticker": "AAPL",
        "source": source,
        "start": START,
        "end": END,
        "csv_path": "",
        "download_retries": 4,
        "retry_wait_seconds": 0.5,
        "retry_max_wait_seconds": 2.0,
        **extra,
    }


def test_fetch_prices_yfinance_records_failed_attempts_with_their_delays(fake_yf, base, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)  # tenacity's default sleep calls time.sleep
    fake_yf(
        _history_frame(base),
        failures=[
            CurlConnectionError("Connection aborted"),
            DNSError("Could not resolve host: query2.finance.yahoo.com"),
        ],
    )

    frame, provenance = ingestion.fetch_prices(_params("yfinance"))

    attempts = provenance["details"]["failed_attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert "Connection aborted" in attempts[0]["error"]
    assert "Could not resolve host" in attempts[1]["error"]
    assert [a["delay_s"] for a in attempts] == [round(s, 3) for s in slept]
    assert all(0 <= s <= 2.0 for s in slept)
    assert provenance["source"] == "yfinance" and provenance["rows"] == len(base) == len(frame)
    assert provenance["window"] == {"first": START, "last": END}
    assert provenance["has_adj_close"] is True


def test_fetch_prices_yfinance_without_failures_records_none(fake_yf, base):
    fake_yf(_history_frame(base))

    _, provenance = ingestion.fetch_prices(_params("yfinance"))

    assert provenance["details"]["failed_attempts"] == []


def test_fetch_prices_csv_records_layout_and_checksum(tmp_path, base):
    import hashlib

    header, columns, _, _ = LAYOUTS["extra_columns"]
    path = _write(tmp_path / "extra.csv", header, base, columns, extra=["0.1", "0"])

    frame, provenance = ingestion.fetch_prices(_params("csv", csv_path=str(path), start="2012-02-01"))

    details = provenance["details"]
    assert details["csv_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert details["layout"]["extra_columns"] == ["Daily_Return", "Extreme_Event"]
    assert provenance["window"]["first"] == "2012-02-01" and provenance["rows"] == len(frame) == 20


def test_every_source_parameter_value_has_a_loader_in_the_registry():
    from aapl_lib.pipeline.parameters import SOURCES

    assert tuple(sources.LOADERS) == SOURCES
    with pytest.raises(DataSourceError, match="unknown source 'ftp'"):
        sources.fetch({"source": "ftp", "ticker": "AAPL", "start": START, "end": END})
