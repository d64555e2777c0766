"""Step 1's data sources. Each returns a *raw price frame*: a tz-naive DatetimeIndex named ``date``
(one row a trading day, as the source gave it) and columns ``open, high, low, close, volume`` plus
``adj_close`` when the source has one. Values are not changed here; cleaning does that.

* ``sample``   the public-domain Quandl WIKI prices that ``bokeh_sampledata`` ships (offline).
* ``yfinance`` Yahoo Finance through ``yfinance.download`` with retries (tenacity).
* ``csv``      a local file in the layouts people really have (see :func:`read_price_csv`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from aapl_lib.errors import DataSourceError, TransientSourceError
from aapl_lib.pipeline.config import SAMPLE_RANGE

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS = ("adj_close",)
# Names seen in real files, normalised (lower case, no spaces/underscores/dashes) -> our column.
_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "time": "date",
    "day": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "vol": "volume",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "adjclosing": "adj_close",
}


def _restrict(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    return frame.loc[(frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))]


# --------------------------------------------------------------------------------------------- sample
def load_sample(ticker: str, start: str, end: str) -> pd.DataFrame:
    """Daily prices of ``ticker`` from the offline sample, restricted to ``start..end`` (inclusive)."""
    from bokeh_sampledata import stocks

    if ticker not in SAMPLE_RANGE:
        raise DataSourceError(
            f"ticker {ticker} is not in the offline sample (it has "
            f"{', '.join(SAMPLE_RANGE)}): use -p source yfinance or csv"
        )
    data = getattr(stocks, ticker)
    frame = pd.DataFrame({col: data[col] for col in ("date", *PRICE_COLUMNS, "adj_close")})
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.set_index("date").astype({c: "float64" for c in (*PRICE_COLUMNS, "adj_close")})
    frame = _restrict(frame, start, end)
    if frame.empty:
        first, last = SAMPLE_RANGE[ticker]
        raise DataSourceError(
            f"the offline sample has no {ticker} rows in {start}..{end} (it covers "
            f"{first}..{last}): pick dates inside that range"
        )
    return frame


def sample_version() -> str:
    """Version of the installed ``bokeh_sampledata`` package (recorded in provenance)."""
    from importlib.metadata import version

    return version("bokeh_sampledata")


# --------------------------------------------------------------------------------------------- yfinance
_TRANSIENT_WORDS = (
    "timed out",
    "timeout",
    "connection",
    "rate limit",
    "too many requests",
    "temporar",
    "reset by peer",
    "502",
    "503",
    "504",
    "network",
    "resolve host",
)


def _is_transient(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _TRANSIENT_WORDS)


def flatten_yfinance_frame(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Turn what ``yfinance.download`` returns (MultiIndex ``(Price, Ticker)`` columns, or flat ones)
    into a raw price frame."""
    if isinstance(frame.columns, pd.MultiIndex):
        names = list(frame.columns.names)
        level = names.index("Ticker") if "Ticker" in names else frame.columns.nlevels - 1
        tickers = frame.columns.get_level_values(level).unique()
        if ticker in tickers:
            frame = frame.xs(ticker, axis=1, level=level)
        elif len(tickers) == 1:
            frame = frame.droplevel(level, axis=1)
        else:
            raise DataSourceError(f"yfinance returned tickers {list(tickers)}, not {ticker}")
    frame = frame.rename(columns=lambda c: _ALIASES.get(_norm(str(c)), _norm(str(c))))
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataSourceError(f"yfinance answer lacks columns {missing}; it has {list(frame.columns)}")
    cols = [c for c in (*PRICE_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
    out = frame[cols].copy()
    index = pd.DatetimeIndex(out.index)
    if index.tz is not None:
        index = index.tz_convert("America/New_York").tz_localize(None)
    out.index = index.normalize().rename("date")
    out.columns.name = None
    return out.astype("float64")


def download_yfinance(
    ticker: str,
    start: str,
    end: str,
    *,
    attempts: int = 4,
    wait_seconds: float = 1.0,
    max_wait_seconds: float = 30.0,
    on_retry: Callable[[RetryCallState], None] | None = None,
) -> pd.DataFrame:
    """Download daily prices with ``yfinance.download`` (``auto_adjust=False``: ``close`` is split-adjusted
    by Yahoo, ``adj_close`` also dividend-adjusted). Transient failures are retried ``attempts`` times with
    exponential backoff and full jitter; an unknown ticker or an empty answer raises DataSourceError."""
    retrying = Retrying(
        retry=retry_if_exception_type(TransientSourceError),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=wait_seconds, max=max_wait_seconds),
        before_sleep=on_retry or _log_retry,
        reraise=True,
    )
    try:
        return retrying(_download_once, ticker, start, end)
    except TransientSourceError as exc:
        raise TransientSourceError(
            f"{exc} (gave up after {attempts} attempt(s)): check the network, raise "
            "-p download_retries, or use -p source sample / csv"
        ) from exc


def _log_retry(state: RetryCallState) -> None:
    delay = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "yfinance attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        state.outcome.exception() if state.outcome else "?",
        delay,
    )


def _download_once(ticker: str, start: str, end: str) -> pd.DataFrame:
    import yfinance as yf

    # yfinance's ``end`` is exclusive; ours is inclusive.
    end_exclusive = (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    # yf.download does not raise for a failed symbol: it logs the error and returns an empty frame.
    captured = _CapturedErrors()
    yf_logger = logging.getLogger("yfinance")
    yf_logger.addHandler(captured)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*inplace.*")
            frame = yf.download(
                ticker,
                start=start,
                end=end_exclusive,
                interval="1d",
                auto_adjust=False,
                actions=False,
                progress=False,
                threads=False,
                multi_level_index=True,
            )
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientSourceError(f"yfinance download of {ticker} failed: {exc}") from exc
    except Exception as exc:  # yfinance raises its own types (YFRateLimitError...)
        if _is_transient(f"{type(exc).__name__} {exc}"):
            raise TransientSourceError(f"yfinance download of {ticker} failed: {exc}") from exc
        raise DataSourceError(f"yfinance download of {ticker} failed: {exc}") from exc
    finally:
        yf_logger.removeHandler(captured)
    if frame is None or frame.empty or frame.dropna(how="all").empty:
        reason = _yfinance_error(ticker) or "; ".join(captured.messages)
        if reason and _is_transient(reason):
            raise TransientSourceError(f"yfinance could not reach Yahoo for {ticker}: {reason}")
        detail = f" (yfinance said: {reason})" if reason else ""
        raise DataSourceError(
            f"yfinance returned no prices for {ticker} in {start}..{end}{detail}: check the "
            "symbol on finance.yahoo.com and the dates, or use -p source csv"
        )
    return flatten_yfinance_frame(frame, ticker)


class _CapturedErrors(logging.Handler):
    """Collects the error messages yfinance logs during one download."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split())[:300])


def _yfinance_error(ticker: str) -> str:
    try:
        import yfinance.shared as shared

        errors = getattr(shared, "_ERRORS", {}) or {}
        return str(errors.get(ticker) or errors.get(ticker.upper()) or "")
    except Exception:  # pragma: no cover - depends on yfinance internals
        return ""


def yfinance_version() -> str:
    """Installed yfinance version (recorded in provenance)."""
    from importlib.metadata import version

    return version("yfinance")


# --------------------------------------------------------------------------------------------- csv
def _norm(name: str) -> str:
    return re.sub(r"[\s_\-\.]+", "", name.strip().strip('"').lower())


def _sniff_delimiter(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_price_csv(path: str | Path, ticker: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a local price file into a raw price frame. Returns ``(frame, layout)``, where ``layout``
    describes what was recognised.

    Accepted layouts: the classic Yahoo export (``Date,Open,High,Low,Close,Adj Close,Volume``); yfinance's
    three-line header (``Price,...`` / ``Ticker,...`` / ``Date,,,``); any order of columns, any case,
    ``Adj Close``/``adj_close``; dates with a time of day or a UTC offset; extra columns (ignored);
    ``,`` ``;`` tab or ``|`` as delimiter. Anything else raises DataSourceError naming the columns found
    and the columns needed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataSourceError(f"{path} is not a UTF-8 text file: export it as CSV") from None
    except OSError as exc:
        raise DataSourceError(f"cannot read {path}: {exc.strerror}") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataSourceError(f"{path} is empty: it needs a header line and one row per day")
    delimiter = _sniff_delimiter("\n".join(lines[:20]))
    first = [c.strip() for c in next(csv.reader([lines[0]], delimiter=delimiter))]
    layout: dict[str, Any] = {"delimiter": delimiter, "file_ticker": None}

    skip = 1
    symbols_row: list[str] | None = None
    if first and _norm(first[0]) == "price" and len(lines) >= 3:
        # yfinance's multi-row header: Price,<fields> / Ticker,<symbols> / Date,,,
        second = [c.strip() for c in next(csv.reader([lines[1]], delimiter=delimiter))]
        if second and _norm(second[0]) == "ticker":
            symbols = sorted({s for s in second[1:] if s})
            symbols_row = second
            layout["file_ticker"] = symbols[0] if len(symbols) == 1 else symbols
            third = [c.strip() for c in next(csv.reader([lines[2]], delimiter=delimiter))]
            skip = 3 if third and _norm(third[0]) in ("date", "datetime") else 2
            first = ["Date"] + first[1:]
            layout["layout"] = "yfinance multi-row header"
    layout.setdefault("layout", "single header")

    wanted = None
    if isinstance(layout["file_ticker"], list):  # several tickers side by side: keep the asked one's columns
        if not ticker or ticker.upper() not in {s.upper() for s in layout["file_ticker"]}:
            raise DataSourceError(
                f"{path} holds prices of {', '.join(layout['file_ticker'])}, not {ticker}: "
                "pass -p ticker with one of them"
            )
        wanted = ticker.upper()
    mapped: dict[int, str] = {}
    for i, name in enumerate(first):
        if wanted and i > 0 and (i >= len(symbols_row) or symbols_row[i].upper() != wanted):
            continue
        target = _ALIASES.get(_norm(name))
        if target and target not in mapped.values():
            mapped[i] = target
    if "date" not in mapped.values() and first and first[0] == "":
        mapped[0] = "date"  # pandas' to_csv with an unnamed date index
    needed = ("date", *PRICE_COLUMNS)
    missing = [c for c in needed if c not in mapped.values()]
    if missing:
        raise DataSourceError(
            f"{path} has columns {first} but needs Date, Open, High, Low, Close, Volume (Adj Close optional; "
            f"any case or order): missing {', '.join(missing)}"
            + (
                ". The delimiter looks like none of , ; tab or | (the header was read as a single column)"
                if len(first) == 1
                else ""
            )
        )

    body = "\n".join(lines[skip:])
    if not body.strip():
        raise DataSourceError(f"{path} has a header but no data rows")
    raw = pd.read_csv(
        io.StringIO(body),
        header=None,
        delimiter=delimiter,
        dtype=str,
        skipinitialspace=True,
        usecols=sorted(mapped),
        keep_default_na=True,
    )
    raw.columns = [mapped[i] for i in sorted(mapped)]
    frame = _parse_columns(raw, path, delimiter)
    frame = frame[[c for c in (*PRICE_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]]
    layout["columns_found"] = first
    layout["columns_used"] = [mapped[i] for i in sorted(mapped)]
    layout["extra_columns"] = [c for i, c in enumerate(first) if i not in mapped]
    future = frame.index[frame.index > pd.Timestamp.now().normalize()]
    if len(future):
        raise DataSourceError(
            f"{path}: {len(future)} row(s) are dated in the future (first {future.min():%Y-%m-%d})"
            ": the file's dates are wrong (day and month swapped?)"
        )
    if layout["file_ticker"] is None:
        symbol_col = next((i for i, c in enumerate(first) if _norm(c) in ("ticker", "symbol")), None)
        if symbol_col is not None:
            values = (
                pd.read_csv(io.StringIO(body), header=None, delimiter=delimiter, dtype=str, usecols=[symbol_col])
                .iloc[:, 0]
                .dropna()
                .str.strip()
                .str.upper()
                .unique()
            )
            layout["file_ticker"] = values[0] if len(values) == 1 else sorted(values)
            if ticker and len(values) > 1:
                raise DataSourceError(
                    f"{path} mixes several tickers ({', '.join(sorted(values)[:5])}) in one "
                    f"column: keep only the {ticker} rows"
                )
    if (
        ticker
        and layout["file_ticker"]
        and isinstance(layout["file_ticker"], str)
        and layout["file_ticker"].upper() != ticker.upper()
    ):
        raise DataSourceError(
            f"{path} holds prices of {layout['file_ticker']}, not {ticker}: pass "
            f"-p ticker {layout['file_ticker']} or the right file"
        )
    return frame, layout


def _parse_columns(raw: pd.DataFrame, path: Path, delimiter: str = ",") -> pd.DataFrame:
    dates = raw["date"].str.strip()
    if dates.isna().any():
        raise DataSourceError(f"{path}: {int(dates.isna().sum())} row(s) have an empty date: fill or remove them")
    slashed = dates.str.extract(r"^(\d{1,2})[/.](\d{1,2})[/.]\d{4}$").astype("float64")
    if slashed.notna().all(axis=None):  # DD/MM/YYYY or MM/DD/YYYY: one reading for the whole file
        day_first = bool((slashed[0] > 12).any())
        if day_first and (slashed[1] > 12).any():
            raise DataSourceError(f"{path}: the dates mix DD/MM and MM/DD orders; use YYYY-MM-DD")
        parsed = pd.to_datetime(
            dates.str.replace(".", "/", regex=False),
            errors="coerce",
            utc=True,
            format="%d/%m/%Y" if day_first else "%m/%d/%Y",
        )
    else:
        parsed = pd.to_datetime(dates, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & dates.notna()
    if bad.any():
        examples = dates[bad].head(3).tolist()
        raise DataSourceError(
            f"{path}: {int(bad.sum())} value(s) in the date column are not dates, e.g. {examples}; use YYYY-MM-DD"
        )
    has_offset = dates.str.contains(r"[+-]\d\d:?\d\d$|Z$", regex=True, na=False).any()
    if has_offset:
        # A time zone is given: the trading day is the New York calendar day.
        parsed = parsed.dt.tz_convert("America/New_York")
    frame = pd.DataFrame(index=pd.DatetimeIndex(parsed.dt.tz_localize(None).dt.normalize(), name="date"))
    prices = raw[[c for c in raw.columns if c in ("open", "high", "low", "close", "adj_close")]]
    # With ';' or tab as delimiter a comma followed by other than 3 digits is a decimal comma (130,28).
    decimal_comma = delimiter != "," and bool(
        prices.apply(lambda c: c.str.strip().str.contains(r"^-?[\d.]+,(?:\d{1,2}|\d{4,})$", na=False)).any(axis=None)
    )
    for col in [c for c in raw.columns if c != "date"]:
        text = raw[col].str.strip().str.replace(r"^\$\s*", "", regex=True)  # "$130.50": a dollar sign is no number
        if decimal_comma:
            values = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            values = text.str.replace(",", "", regex=False)  # "1,234.50": thousands separators
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna() & (values != "")
        if bad.any():
            raise DataSourceError(_bad_value(path, raw, bad, col, "is not a number", int(bad.sum())))
        # "inf", "1e308": numbers to Python, never prices; NaN-like cells ("nan", "#N/A", "null", "") are
        # missing values, which cleaning counts and handles.
        limit = MAX_VOLUME if col == "volume" else MAX_PRICE
        absurd = numbers.notna() & ~numbers.abs().le(limit)
        if absurd.any():
            raise DataSourceError(
                _bad_value(
                    path,
                    raw,
                    absurd,
                    col,
                    f"is not a plausible {col} (non-finite or beyond {limit:.0e})",
                    int(absurd.sum()),
                )
            )
        frame[col] = numbers.to_numpy(dtype="float64")
    return frame


MAX_PRICE = 1e9  # no share has traded above a billion; a larger value is a broken cell
MAX_VOLUME = 1e13  # shares traded in a day


def _bad_value(path: Path, raw: pd.DataFrame, mask: pd.Series, col: str, what: str, count: int) -> str:
    """``FILE: row 12 (date 2023-03-01), column close: value 'inf' is not a number (2 row(s)): ...``."""
    position = int(mask.to_numpy().nonzero()[0][0])
    value = raw[col].iloc[position]
    return (
        f"{path}: data row {position + 1} (date {raw['date'].iloc[position]}), column {col}: value "
        f"{value!r} {what}" + (f"; {count} row(s) like it" if count > 1 else "") + ": fix or remove those rows"
    )


def file_window(frame: pd.DataFrame) -> str:
    """``first..last`` dates of a frame, for messages."""
    if frame.empty:
        return "no rows"
    return f"{frame.index.min():%Y-%m-%d}..{frame.index.max():%Y-%m-%d}"


def load_csv(path: str | Path, ticker: str, start: str, end: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``path`` (see :func:`read_price_csv`) and keep ``start..end``."""
    frame, layout = read_price_csv(path, ticker)
    window = _restrict(frame, start, end)
    if window.empty:
        raise DataSourceError(
            f"{path} has no rows in {start}..{end} (it covers {file_window(frame)}): change -p start/-p end"
        )
    return window, layout
