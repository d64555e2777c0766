"""Refit to publish (issue 24): the held-out numbers judge the method; the forecast is made by the same method
refit on every labelled row up to the forecast day, and the champion is promoted with its refit. Through the
runner as a daily scheduler drives it (``--as-of``, the offline sample)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import run_runner

FAST = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]


def _latest(outputs: Path) -> Path:
    return (outputs / "latest").resolve()


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """Day 1 (2013-01-15) under the manual policy, approved: its challenger and refit become the champion.
    Day 2 (2013-01-16) by default (refit publishes), then again with ``publish_model evaluated``."""
    outputs = tmp_path_factory.mktemp("refit") / "outputs"
    first = run_runner("--as-of", "2013-01-15", *FAST, "-p", "approval_policy", "manual", outputs=outputs)
    assert first.returncode == 3, first.stdout + first.stderr
    day1 = _latest(outputs)
    approved = run_runner("approve", day1.name, "--by", "alice", outputs=outputs)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    resumed = run_runner("resume", day1.name, outputs=outputs)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    second = run_runner("--as-of", "2013-01-16", *FAST, outputs=outputs)
    assert second.returncode == 0, second.stdout + second.stderr
    day2 = _latest(outputs)
    third = run_runner("--as-of", "2013-01-16", *FAST, "-p", "publish_model", "evaluated", outputs=outputs)
    assert third.returncode == 0, third.stdout + third.stderr
    return outputs, day1, day2, _latest(outputs)


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
