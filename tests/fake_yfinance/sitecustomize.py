"""On PYTHONPATH of a runner started by a test, this makes ``yfinance.Ticker(symbol).history`` answer offline,
from the offline sample, in the shape yfinance 1.x gives (``scrapers/history.py``): flat columns ``Open, High,
Low, Close, Adj Close, Volume`` (then ``Dividends, Stock Splits`` unless ``actions=False``), ``Volume`` int64,
a DatetimeIndex named ``Date`` in New York time, ``end`` exclusive. The runner and its kernels (which inherit
PYTHONPATH) all see it; the pipeline's own yfinance code is unchanged.

Errors are yfinance's own types, raised as yfinance raises them: a symbol the sample lacks is
``YFTzMissingError`` when ``yf.config.debug.hide_exceptions`` is False, else logged with an empty frame; with
``AAPL_FAKE_YF_FAIL=rate_limit`` every call raises ``YFRateLimitError`` (always raised, like the real one); with
``AAPL_FAKE_YF_FAIL=connection`` every call fails to connect (curl_cffi's ConnectionError, hidden like the real
one unless hide_exceptions is False). Each call is appended to ``AAPL_FAKE_YF_LOG``: ``SYMBOL START END`` and
the error's name when it failed."""

import logging
import os


def _history_frame(base, actions):
    from yf_history_shape import history_frame  # next to this file, on the same PYTHONPATH

    return history_frame(base, actions)


def _empty_frame():
    import pandas as pd

    columns = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"), dtype="float64")


class FakeTicker:
    def __init__(self, ticker, session=None):
        self.ticker = ticker.upper()

    def history(self, period=None, interval="1d", start=None, end=None, actions=True, auto_adjust=True, **_kw):
        import pandas as pd
        import yfinance as yf
        from yfinance.exceptions import YFRateLimitError, YFTzMissingError

        from aapl_lib.data.sources import load_sample

        failure, error = os.environ.get("AAPL_FAKE_YF_FAIL", ""), None
        base = None
        if failure == "rate_limit":
            error = YFRateLimitError()
        elif failure == "connection":
            from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError

            error = CurlConnectionError("Failed to perform, curl: (7) Failed to connect to query2.finance.yahoo.com")
        else:
            try:
                last = (pd.Timestamp(end) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
                base = load_sample(self.ticker, start, min(last, "2013-03-01"))
            except Exception:
                error = YFTzMissingError(self.ticker)
        with open(os.environ.get("AAPL_FAKE_YF_LOG", os.devnull), "a") as log:  # proof that the download ran
            log.write(f"{self.ticker} {start} {end}" + (f" {type(error).__name__}" if error else "") + "\n")
        if error is not None:
            if isinstance(error, YFRateLimitError) or not yf.config.debug.hide_exceptions:
                raise error
            logging.getLogger("yfinance").error(str(error))
            return _empty_frame()
        if auto_adjust:  # the pipeline asks for Yahoo's prices as they are; the adjusted shape is not faked
            raise NotImplementedError("fake yfinance: only auto_adjust=False")
        return _history_frame(base, actions)


try:
    import yfinance

    yfinance.Ticker = FakeTicker
except ImportError:  # pragma: no cover
    pass
