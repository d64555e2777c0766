"""The ``yfinance`` source: Yahoo Finance through yfinance's public API, ``yfinance.Ticker(t).history``, with
retries (tenacity). yfinance's typed errors (``yfinance.exceptions``) and network errors are mapped to ours:
transient ones (rate limit, Yahoo down, connection, time-out, HTTP 5xx) to TransientSourceError, which is
retried; the rest (unknown or delisted ticker, no prices in the window, invalid period) to DataSourceError,
which is not.

``yfinance`` is imported inside the download, so a test's or sitecustomize's replacement of
``yfinance.Ticker`` is the one called.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from aapl_lib.data.sources.raw_frame import ALIASES, OPTIONAL_COLUMNS, PRICE_COLUMNS, norm
from aapl_lib.errors import DataSourceError, TransientSourceError

log = logging.getLogger(__name__)

CALL = "yfinance.Ticker(ticker).history(start, end + 1 day, interval='1d', auto_adjust=False, actions=False)"
# HTTP answers worth asking again: Yahoo's cookie/crumb refusals, time-outs, rate limits and server errors.
# Any other 4xx (404: no such symbol) is permanent.
_TRANSIENT_HTTP = (401, 403, 408, 429)


def flatten_yfinance_frame(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Turn what yfinance returns (``Ticker.history``'s flat columns with a tz-aware ``Date`` index, or
    ``download``'s MultiIndex ``(Price, Ticker)`` columns) into a raw price frame."""
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
    frame = frame.rename(columns=lambda c: ALIASES.get(norm(str(c)), norm(str(c))))
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
    """Daily prices of ``ticker`` for ``start..end`` (inclusive) from ``yfinance.Ticker(ticker).history``
    (``auto_adjust=False``: ``close`` is split-adjusted by Yahoo, ``adj_close`` also dividend-adjusted).
    Transient failures are retried ``attempts`` times with exponential backoff and full jitter; an unknown
    ticker or an empty answer raises DataSourceError at once."""
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
    log.warning(  # each attempt logged with its delay
        "yfinance attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        state.outcome.exception() if state.outcome else "?",
        delay,
    )


@contextmanager
def _errors_raised(yf: Any) -> Iterator[None]:
    """By default yfinance hides errors: it logs them and returns an empty frame, and a failed network call
    while it looks up the ticker's time zone even becomes "no timezone found" (an unknown ticker's error).
    ``yf.config.debug.hide_exceptions = False`` (public since yfinance 1.0, replacing the deprecated
    ``raise_errors``) makes it raise the network error or its typed error instead. The setting is global:
    restored afterwards (one download runs at a time in a notebook's kernel)."""
    debug = yf.config.debug
    before = debug.hide_exceptions
    debug.hide_exceptions = False
    try:
        yield
    finally:
        debug.hide_exceptions = before


def _download_once(ticker: str, start: str, end: str) -> pd.DataFrame:
    import yfinance as yf

    # yfinance's ``end`` is exclusive; ours is inclusive.
    end_exclusive = (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        with _errors_raised(yf), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            frame = yf.Ticker(ticker).history(
                start=start, end=end_exclusive, interval="1d", auto_adjust=False, actions=False
            )
    except Exception as exc:
        raise _our_error(exc, ticker, start, end) from exc
    if frame is None or frame.dropna(how="all").empty:
        raise DataSourceError(
            f"yfinance returned no prices for {ticker} in {start}..{end}: check the dates (a window of "
            "holidays has none), or use -p source csv"
        )
    return flatten_yfinance_frame(frame, ticker)


def _our_error(exc: Exception, ticker: str, start: str, end: str) -> DataSourceError:
    """yfinance's exception as ours: TransientSourceError (retried) or DataSourceError (not)."""
    from yfinance.exceptions import YFDataException, YFInvalidPeriodError, YFRateLimitError, YFTickerMissingError

    said = f"{type(exc).__name__}: {exc}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    http_error = isinstance(status, int) and status >= 400
    if isinstance(exc, YFTickerMissingError) or (http_error and status == 404):
        # YFTzMissingError / YFPricesMissingError: the symbol is unknown or delisted, or has no rows here.
        return DataSourceError(
            f"yfinance returned no prices for {ticker} in {start}..{end} (yfinance said: {said}): check "
            "the symbol on finance.yahoo.com and the dates, or use -p source csv"
        )
    if isinstance(exc, YFInvalidPeriodError):
        return DataSourceError(f"yfinance refused the window of {ticker} ({said}): check -p start and -p end")
    transient = (
        isinstance(exc, YFRateLimitError | YFDataException)  # rate limited; "Yahoo! Finance is currently down"
        or (http_error and (status in _TRANSIENT_HTTP or status >= 500))
        or (not http_error and isinstance(exc, OSError))  # connection, time-out, DNS (curl_cffi's and requests')
    )
    if transient:
        return TransientSourceError(f"yfinance download of {ticker} failed: {said}")
    return DataSourceError(
        f"yfinance download of {ticker} failed: {said}: check -p ticker/start/end, or use -p source csv"
    )


def yfinance_version() -> str:
    """Installed yfinance version (recorded in provenance)."""
    from importlib.metadata import version

    return version("yfinance")


def fetch(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The registry's entry: ``params``' window from Yahoo, with the failed attempts in the provenance."""
    attempts: list[dict[str, Any]] = []

    def record(state: RetryCallState) -> None:
        delay = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        attempts.append({"attempt": state.attempt_number, "error": str(error), "delay_s": round(delay, 3)})
        _log_retry(state)

    frame = download_yfinance(
        params["ticker"],
        params["start"],
        params["end"],
        attempts=params["download_retries"],
        wait_seconds=params["retry_wait_seconds"],
        max_wait_seconds=params["retry_max_wait_seconds"],
        on_retry=record,
    )
    return frame, {
        "package": "yfinance",
        "package_version": yfinance_version(),
        "call": CALL,
        "prices_adjusted": False,
        "adjustment_note": "close is split-adjusted by Yahoo; adj_close is split- and dividend-adjusted",
        "failed_attempts": attempts,
    }
