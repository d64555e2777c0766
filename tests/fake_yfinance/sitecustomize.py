"""On PYTHONPATH of a runner started by a test, this makes ``yfinance.download`` answer offline, in the shape
the real one gives (columns ``(Price, Ticker)``, a ``Date`` index, ``end`` exclusive), from the offline sample.
The runner and its kernels (which inherit PYTHONPATH) all see it; the pipeline's own yfinance code is unchanged.
Unknown symbols get the empty frame the real download returns (it logs the error instead of raising)."""

import os


def _fake_download(tickers, start=None, end=None, **_kw):
    import pandas as pd

    from aapl_lib.data.sources import load_sample

    fields = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    columns = pd.MultiIndex.from_product([fields, [tickers]], names=["Price", "Ticker"])
    try:
        last = (pd.Timestamp(end) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        base = load_sample(tickers, start, min(last, "2013-03-01"))
    except Exception:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({(f, tickers): base[f.lower().replace(" ", "_")] for f in fields})
    frame.columns = columns
    frame.index = pd.DatetimeIndex(base.index, name="Date")
    frame[("Volume", tickers)] = frame[("Volume", tickers)].astype("int64")
    with open(os.environ.get("AAPL_FAKE_YF_LOG", os.devnull), "a") as log:  # proof that the download ran
        log.write(f"{tickers} {start} {end}\n")
    return frame


try:
    import yfinance

    yfinance.download = _fake_download
except ImportError:  # pragma: no cover
    pass
