"""The ``csv`` source: a local price file in the layouts people really have (see :func:`read_price_csv`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from aapl_lib.data.sources.raw_frame import ALIASES, OPTIONAL_COLUMNS, PRICE_COLUMNS, norm, restrict
from aapl_lib.errors import DataSourceError
from aapl_lib.formatting import clipped, quoted
from aapl_lib.io.iorw import sha256_file


def _sniff_delimiter(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_price_csv(path: str | Path, ticker: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a local price file into a raw price frame. Returns ``(frame, layout)``, where ``layout``
    describes what was recognised.

    Accepted layouts: the classic Yahoo export (``Date,Open,High,Low,Close,Adj Close,Volume``); yfinance's
    three-line header (``Price,...`` / ``Ticker,...`` / ``Date,,,``); Nasdaq.com's historical-data export
    (``Date,Close/Last,Volume,Open,High,Low``: ``$`` prices, MM/DD/YYYY dates, newest first, no adjusted
    close); any order of columns, any case, ``Adj Close``/``adj_close``; dates with a time of day or a UTC
    offset; extra columns (ignored); ``,`` ``;`` tab or ``|`` as delimiter. Anything else raises
    DataSourceError naming the columns found and the columns needed.
    """
    path = Path(path)
    lines = _lines(path)
    delimiter = _sniff_delimiter("\n".join(lines[:20]))
    layout: dict[str, Any] = {"delimiter": delimiter, "file_ticker": None}
    first, skip, symbols_row = _header(lines, delimiter, layout)
    nasdaq = layout["layout"] == NASDAQ_LAYOUT
    mapped = _map_columns(path, first, symbols_row, layout["file_ticker"], ticker)

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
    frame = _parse_columns(raw, path, delimiter, month_first=nasdaq)
    if nasdaq and len(frame) > 1 and frame.index.is_monotonic_decreasing:
        # Newest first is this layout's convention, not a defect: turned over here. Any other disorder is left
        # for cleaning, which sorts and counts it.
        frame = frame.iloc[::-1]
        layout["order"] = "newest first in the file: reversed to oldest first"
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
    _check_ticker_column(path, first, body, layout, ticker)
    return frame, layout


def _lines(path: Path) -> list[str]:
    """The file's lines (UTF-8, a BOM dropped); DataSourceError for an unreadable, binary or empty file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataSourceError(f"{path} is not a UTF-8 text file: export it as CSV") from None
    except OSError as exc:
        raise DataSourceError(f"cannot read {path}: {exc.strerror}") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataSourceError(f"{path} is empty: it needs a header line and one row per day")
    return lines


def _header(lines: list[str], delimiter: str, layout: dict[str, Any]) -> tuple[list[str], int, list[str] | None]:
    """The column names, how many lines the header takes and yfinance's row of symbols (None in other
    layouts). Sets ``layout["layout"]`` and, from yfinance's header, ``layout["file_ticker"]``."""
    first = [c.strip() for c in next(csv.reader([lines[0]], delimiter=delimiter))]
    skip = 1
    symbols_row: list[str] | None = None
    if first and norm(first[0]) == "price" and len(lines) >= 3:
        # yfinance's multi-row header: Price,<fields> / Ticker,<symbols> / Date,,,
        second = [c.strip() for c in next(csv.reader([lines[1]], delimiter=delimiter))]
        if second and norm(second[0]) == "ticker":
            symbols = sorted({s for s in second[1:] if s})
            symbols_row = second
            layout["file_ticker"] = symbols[0] if len(symbols) == 1 else symbols
            third = [c.strip() for c in next(csv.reader([lines[2]], delimiter=delimiter))]
            skip = 3 if third and norm(third[0]) in ("date", "datetime") else 2
            first = ["Date"] + first[1:]
            layout["layout"] = "yfinance multi-row header"
    nasdaq = any(norm(c) == "close/last" for c in first)
    layout.setdefault("layout", NASDAQ_LAYOUT if nasdaq else "single header")
    return first, skip, symbols_row


def _map_columns(
    path: Path, first: list[str], symbols_row: list[str] | None, file_ticker: Any, ticker: str | None
) -> dict[int, str]:
    """Column position -> our column name (of several tickers side by side, the asked one's columns);
    DataSourceError naming the columns found and those missing."""
    wanted = None
    if isinstance(file_ticker, list):  # several tickers side by side: keep the asked one's columns
        if not ticker or ticker.upper() not in {s.upper() for s in file_ticker}:
            raise DataSourceError(
                f"{path} holds prices of {', '.join(file_ticker)}, not {ticker}: pass -p ticker with one of them"
            )
        wanted = ticker.upper()
    mapped: dict[int, str] = {}
    for i, name in enumerate(first):
        if wanted and i > 0 and (i >= len(symbols_row) or symbols_row[i].upper() != wanted):
            continue
        target = ALIASES.get(norm(name))
        if target and target not in mapped.values():
            mapped[i] = target
    if "date" not in mapped.values() and first and first[0] == "":
        mapped[0] = "date"  # pandas' to_csv with an unnamed date index
    missing = [c for c in ("date", *PRICE_COLUMNS) if c not in mapped.values()]
    if missing:
        raise DataSourceError(
            f"{path} has columns {clipped(first, 200)} but needs Date, Open, High, Low, Close, Volume "
            f"(Adj Close optional; any case or order): missing {', '.join(missing)}"
            + (
                ". The delimiter looks like none of , ; tab or | (the header was read as a single column)"
                if len(first) == 1
                else ""
            )
        )
    return mapped


def _check_ticker_column(path: Path, first: list[str], body: str, layout: dict[str, Any], ticker: str | None) -> None:
    """The file's own ticker (a Ticker/Symbol column, when the header named none) into ``layout``;
    DataSourceError when the file holds another ticker than the one asked for, or several in one column."""
    delimiter = layout["delimiter"]
    if layout["file_ticker"] is None:
        symbol_col = next((i for i, c in enumerate(first) if norm(c) in ("ticker", "symbol")), None)
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


def _parse_columns(raw: pd.DataFrame, path: Path, delimiter: str = ",", month_first: bool = False) -> pd.DataFrame:
    dates = raw["date"].str.strip()
    if dates.isna().any():
        raise DataSourceError(f"{path}: {int(dates.isna().sum())} row(s) have an empty date: fill or remove them")
    slashed = dates.str.extract(r"^(\d{1,2})[/.](\d{1,2})[/.]\d{4}$").astype("float64")
    if slashed.notna().all(axis=None):  # DD/MM/YYYY or MM/DD/YYYY: one reading for the whole file
        # A layout known to be MM/DD/YYYY (Nasdaq's) is never guessed day-first: a 13th month is an error.
        day_first = not month_first and bool((slashed[0] > 12).any())
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
        examples = [clipped(d) for d in dates[bad].head(3)]
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


NASDAQ_LAYOUT = "Nasdaq.com historical data"
MAX_PRICE = 1e9  # no share has traded above a billion; a larger value is a broken cell
MAX_VOLUME = 1e13  # shares traded in a day


def _bad_value(path: Path, raw: pd.DataFrame, mask: pd.Series, col: str, what: str, count: int) -> str:
    """``FILE: row 12 (date 2023-03-01), column close: value 'inf' is not a number (2 row(s)): ...``."""
    position = int(mask.to_numpy().nonzero()[0][0])
    value = raw[col].iloc[position]
    return (
        f"{path}: data row {position + 1} (date {clipped(raw['date'].iloc[position])}), column {col}: value "
        f"{quoted(value)} {what}" + (f"; {count} row(s) like it" if count > 1 else "") + ": fix or remove those rows"
    )


def file_window(frame: pd.DataFrame) -> str:
    """``first..last`` dates of a frame, for messages."""
    if frame.empty:
        return "no rows"
    return f"{frame.index.min():%Y-%m-%d}..{frame.index.max():%Y-%m-%d}"


def load_csv(path: str | Path, ticker: str, start: str, end: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``path`` (see :func:`read_price_csv`) and keep ``start..end``."""
    frame, layout = read_price_csv(path, ticker)
    window = restrict(frame, start, end)
    if window.empty:
        raise DataSourceError(
            f"{path} has no rows in {start}..{end} (it covers {file_window(frame)}): change -p start/-p end"
        )
    return window, layout


def fetch(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The registry's entry: ``params``' window of ``csv_path`` and what provenance records about it."""
    frame, layout = load_csv(params["csv_path"], params["ticker"], params["start"], params["end"])
    return frame, {
        "csv_path": params["csv_path"],
        "csv_sha256": sha256_file(params["csv_path"]),
        "layout": layout,
        "prices_adjusted": "unknown",
        "adjustment_note": (
            "adj_close given: cleaning adjusts OHLC by adj_close/close"
            if "adj_close" in frame.columns
            else "no adjusted close: cleaning detects split-sized jumps"
        ),
    }
