"""The ``yfinance`` source: Yahoo Finance through ``yfinance.download`` with retries (tenacity).

``yfinance`` is imported inside the download, so a test's or sitecustomize's replacement of
``yfinance.download`` is the one called.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from aapl_lib.data.sources.raw_frame import ALIASES, OPTIONAL_COLUMNS, PRICE_COLUMNS, norm
from aapl_lib.errors import DataSourceError, TransientSourceError

log = logging.getLogger(__name__)

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
    log.warning(  # each attempt logged with its delay
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
        "call": "yfinance.download(auto_adjust=False, actions=False, interval='1d')",
        "prices_adjusted": False,
        "adjustment_note": "close is split-adjusted by Yahoo; adj_close is split- and dividend-adjusted",
        "failed_attempts": attempts,
    }
