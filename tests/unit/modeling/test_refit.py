"""Refit to publish (issue 24): the held-out numbers judge the method; the forecast is made by the same method
refit on every labelled row up to the forecast day, and the champion is promoted with its refit. Through the
runner as a daily scheduler drives it (``--as-of``, the offline sample)."""

from __future__ import annotations

import pandas as pd


def test_a_ledger_from_before_model_fit_reads_with_it_empty(tmp_path):
    """Ledgers written before the ``model_fit`` column are read (it is empty there), and the next write adds it."""
    from aapl_lib.tracking.ledger import COLUMNS, append_new, forecast_rows, ledger_text, read_ledger, write_ledger

    prices = pd.DataFrame({"close": [10.0, 11.0]}, index=pd.to_datetime(["2013-01-07", "2013-01-08"]))
    forecast = {"challenger": {"available": True, "last_price_date": "2013-01-08", "for_date": "2013-01-09",
                               "predicted_return": 0.01}}  # fmt: skip
    models = {"challenger": {"sha256": "a" * 64, "trained_to": "2013-01-07", "fit": "refit"}}
    rows = forecast_rows(forecast, ticker="AAPL", run_id="r1", cleaned=prices, published=("challenger", "challenger"),
                         models=models, recorded_at="t")  # fmt: skip
    assert rows[0]["model_fit"] == "refit"
    frame, _, _ = append_new(read_ledger(tmp_path / "none.csv"), rows)
    old = tmp_path / "AAPL.csv"
    old.write_text(ledger_text(frame).replace(",model_fit", "").replace(",refit", ""))  # as written before
    assert "model_fit" not in old.read_text()
    read = read_ledger(old)
    assert list(read.columns) == COLUMNS and read.loc[0, "model_fit"] == ""
    write_ledger(old, read)
    assert read_ledger(old).loc[0, "model_sha256"] == "a" * 64 and "model_fit" in old.read_text().splitlines()[0]
