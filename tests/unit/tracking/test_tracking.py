"""The forecast ledger, live scoring and the track record (issue 16), through the runner as a daily scheduler
drives it (``--as-of``, the offline sample) and, for the statistics, on ledgers built from real sample prices."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import sample_frame, scored_ledger


def ledger(outputs: Path) -> pd.DataFrame:
    return pd.read_csv(outputs / "ledger" / "AAPL.csv", dtype=str, keep_default_na=False)


# ------------------------------------------------------------------------------------------ library
def test_p_values_from_20_days_and_the_drift_alarm():
    from aapl_lib.modeling.significance import direction_test
    from aapl_lib.tracking.record import published_scored, track_record

    prices = sample_frame("2012-01-01", "2012-04-30")["adj_close"]
    good = track_record(scored_ledger(prices, lambda r: 0.6 * r), "AAPL")
    assert good["scored_days"] == len(prices) - 2
    assert good["tests"]["dm_vs_zero_return_p"] < 0.01 and good["drift"]["alarm"] is False
    hits, n = good["direction"]["model"]["hits"], good["direction"]["model"]["n"]
    assert hits == n  # the right sign every day
    # the direction is judged by the project's one direction test (Pesaran-Timmermann), not a coin
    rows = published_scored(scored_ledger(prices, lambda r: 0.6 * r))
    expected = direction_test(rows["realised_return"].to_numpy(float), rows["predicted_return"].to_numpy(float))
    assert good["tests"]["direction_p"] == pytest.approx(expected["p_value"]) and expected["p_value"] < 1e-6
    bad = track_record(scored_ledger(prices, lambda r: -1.5 * r), "AAPL")
    assert bad["drift"]["alarm"] is True and bad["drift"]["p_value"] < 0.05
    assert bad["direction"]["model"]["hits"] == 0
    short = track_record(scored_ledger(prices.iloc[:15], lambda r: -1.5 * r), "AAPL")
    assert short["tests"] is None and short["drift"]["alarm"] is False  # 13 days: no test, no alarm


def test_a_day_is_scored_only_after_its_close_and_revised_prices_are_said():
    from aapl_lib.tracking.ledger import append_new, empty, forecast_rows
    from aapl_lib.tracking.scoring import score_pending

    prices = sample_frame("2013-01-02", "2013-01-10")["adj_close"].to_frame("close")
    forecast = {"challenger": {"available": True, "last_price_date": "2013-01-08", "for_date": "2013-01-09",
                               "predicted_return": 0.01}}  # fmt: skip
    rows = forecast_rows(forecast, ticker="AAPL", run_id="r1", cleaned=prices.loc[:"2013-01-08"],
                         published=("challenger", "challenger"),
                         models={"challenger": {"sha256": "a", "trained_to": "2013-01-04"}},
                         recorded_at="t")  # fmt: skip
    frame, appended, _ = append_new(empty(), rows)
    assert len(appended) == 1
    # a live download at 15:59 New York time holds a partial bar for 2013-01-09: not a close, not scored
    assert score_pending(frame, prices.loc[:"2013-01-09"], retrieved_at="2013-01-09T20:59:00Z", run_id="r2") == []
    assert frame.loc[0, "status"] == "pending"
    # prices revised after the forecast (a dividend adjustment): scored with them, and the ledger says so
    revised = prices * 0.99
    assert score_pending(frame, revised, retrieved_at="2013-01-09T21:00:00Z", run_id="r3") == [0]
    row = frame.loc[0]
    assert row["status"] == "scored" and row["revised"] is True and "revised" in row["note"]
    assert row["base_close_used"] == pytest.approx(revised.loc["2013-01-08", "close"])
    assert row["last_close"] == pytest.approx(prices.loc["2013-01-08", "close"])  # the close it was made with
    # the same forecast again (a rerun) is not appended twice
    assert append_new(frame, rows)[1] == []
    # a champion trained on the day it forecasts is in-sample: recorded, never scored
    champion = forecast_rows({"champion": {**forecast["challenger"]}}, ticker="AAPL", run_id="r4",
                             cleaned=prices.loc[:"2013-01-08"], published=None,
                             models={"champion": {"sha256": "b", "trained_to": "2013-01-10"}},
                             recorded_at="t")  # fmt: skip
    assert champion[0]["status"] == "in_sample"


def test_a_forecast_scored_days_late_uses_the_close_of_its_own_day():
    """A schedule that skipped days: the forecast made on 2013-01-08 for 2013-01-09 is first scored by a run
    whose prices end on 2013-01-15. Its realised return is the 9th's close over the 8th's, never the scoring
    run's last close."""
    from aapl_lib.tracking.ledger import append_new, empty, forecast_rows
    from aapl_lib.tracking.scoring import score_pending

    prices = sample_frame("2013-01-02", "2013-01-15")["adj_close"].to_frame("close")
    close = prices["close"]
    made, day, last = pd.Timestamp("2013-01-08"), pd.Timestamp("2013-01-09"), pd.Timestamp("2013-01-15")
    assert close.index[-1] == last and abs(close[last] / close[day] - 1) > 1e-3  # the wrong close would show
    forecast = {"challenger": {"available": True, "last_price_date": "2013-01-08", "for_date": "2013-01-09",
                               "predicted_return": 0.004}}  # fmt: skip
    rows = forecast_rows(forecast, ticker="AAPL", run_id="r1", cleaned=prices.loc[:made],
                         published=("challenger", "challenger"),
                         models={"challenger": {"sha256": "a", "trained_to": "2013-01-07"}},
                         recorded_at="t")  # fmt: skip
    frame, _, _ = append_new(empty(), rows)
    assert score_pending(frame, prices, retrieved_at="2013-01-16T00:00:00Z", run_id="late") == [0]
    row = frame.loc[0]
    realised = close[day] / close[made] - 1
    assert (row["status"], row["scored_by_run"], row["revised"]) == ("scored", "late", False)
    assert row["close_used"] == pytest.approx(close[day], rel=1e-12)
    assert row["base_close_used"] == pytest.approx(close[made], rel=1e-12)
    assert row["realised_return"] == pytest.approx(realised, rel=1e-12)
    assert row["error"] == pytest.approx(0.004 - realised, rel=1e-12)
    assert row["last_return_error"] == pytest.approx(close[made] / close[made - pd.offsets.BDay()] - 1 - realised)
