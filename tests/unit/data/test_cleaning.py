"""Step 2's cleaning: split/dividend adjustment (by adj_close or by detected split-sized jumps), the repairs
it makes and the quality report that says what it did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aapl_lib.data import cleaning, quality_report, sources, trading_calendar
from aapl_lib.errors import DataQualityError

OHLC = ["open", "high", "low", "close"]


def synthetic(days: int = 40, start: str = "2023-01-03", seed: int = 7, adj_close: bool = False) -> pd.DataFrame:
    """A well-formed raw price frame on NYSE trading days: a quiet random walk (|daily move| < 3 %)."""
    index = trading_calendar.trading_days(start, pd.Timestamp(start) + pd.Timedelta(days=3 * days))[:days]
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.uniform(-0.02, 0.02, days)))
    open_ = close * (1 + rng.uniform(-0.005, 0.005, days))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(1_000_000, 1_200_000, days).astype("float64"),
        },
        index=pd.DatetimeIndex(index, name="date"),
    )
    if adj_close:
        frame["adj_close"] = frame["close"] * 0.98
    return frame


def returns(frame: pd.DataFrame) -> pd.Series:
    return frame["close"].pct_change().dropna()


# --------------------------------------------------------------------------------------------- sample
@pytest.fixture(scope="module")
def sample_2000_2012() -> pd.DataFrame:
    return sources.load_sample("AAPL", "2000-03-01", "2012-12-31")


def test_sample_with_adj_close_is_split_adjusted(sample_2000_2012):
    raw = sample_2000_2012.loc["2003-01-01":"2012-12-31"]
    assert returns(raw).min() < -0.49  # the unadjusted 2:1 split of 2005-02-28

    cleaned, quality = cleaning.clean_prices(raw)

    assert returns(cleaned).min() > -0.40
    assert quality["suspicious_moves"] == []
    assert quality["adjustment"]["method"] == "adj_close factor"
    assert quality["adjustment"]["splits"] == [{"date": "2005-02-28", "ratio": 2.0}]
    assert list(cleaned.columns) == ["open", "high", "low", "close", "volume"]
    np.testing.assert_allclose(cleaned["close"], raw["adj_close"])
    # volumes before the split are counted in post-split shares
    assert cleaned.loc["2005-02-25", "volume"] == 2 * raw.loc["2005-02-25", "volume"]
    assert cleaned.loc["2005-03-01", "volume"] == raw.loc["2005-03-01", "volume"]
    assert quality_report.quality_table(quality).loc["splits", "value"] == "2005-02-28 x2"


def test_detected_splits_on_sample_without_adj_close_spare_the_2000_crash(sample_2000_2012):
    raw = sample_2000_2012.drop(columns="adj_close")

    adjusted, info = cleaning.adjust_detected_splits(raw)

    assert info["method"] == "detected splits"
    assert [s["date"] for s in info["splits"]] == ["2000-06-21", "2005-02-28"]
    assert [s["ratio"] for s in info["splits"]] == [2.0, 2.0]
    r = returns(adjusted)
    assert r.loc["2000-09-29"] == pytest.approx(25.75 / 53.50 - 1)  # the real -52 % crash stays
    assert r.drop(pd.Timestamp("2000-09-29")).min() > -0.40
    assert adjusted.loc["2000-06-20", "close"] == pytest.approx(101.25 / 4)  # two 2:1 splits later


def test_clean_prices_without_adj_close_flags_the_2000_crash(sample_2000_2012):
    raw = sample_2000_2012.drop(columns="adj_close").loc["2000-03-01":"2001-12-31"]

    _, quality = cleaning.clean_prices(raw)

    assert [s["date"] for s in quality["adjustment"]["splits"]] == ["2000-06-21"]
    assert [m["date"] for m in quality["suspicious_moves"]] == ["2000-09-29"]
    assert quality["largest_moves"][0]["date"] == "2000-09-29"


# --------------------------------------------------------------------------------------------- synthetic splits
def _split(frame: pd.DataFrame, day: int, shares_factor: float) -> pd.DataFrame:
    """Raw data as a source would give it after a ``shares_factor``-for-1 split effective on row ``day``."""
    raw = frame.copy()
    raw.iloc[day:, raw.columns.get_indexer(OHLC)] /= shares_factor
    raw.iloc[day:, raw.columns.get_loc("volume")] *= shares_factor
    return raw


@pytest.mark.parametrize("shares_factor", [3.0, 0.1], ids=["3_for_1", "1_for_10_reverse"])
def test_synthetic_split_is_detected_and_adjusted(shares_factor):
    truth = synthetic()
    raw = _split(truth, 25, shares_factor)
    split_day = f"{raw.index[25]:%Y-%m-%d}"
    assert returns(raw).abs().max() > 0.6

    adjusted, info = cleaning.adjust_detected_splits(raw)

    assert info["splits"] == [{"date": split_day, "ratio": shares_factor, "volume_adjusted": True}]
    # The adjusted series is the truth expressed in post-split shares.
    np.testing.assert_allclose(adjusted[OHLC], truth[OHLC] / shares_factor)
    np.testing.assert_allclose(adjusted["volume"], truth["volume"] * shares_factor)
    assert returns(adjusted).abs().max() < 0.05


def test_split_detection_can_be_switched_off():
    raw = _split(synthetic(), 25, 2.0)

    _, quality = cleaning.clean_prices(raw, split_detection=False)

    assert quality["adjustment"]["method"] == "none"
    assert len(quality["suspicious_moves"]) == 1


def test_crash_of_half_with_a_non_split_opening_gap_is_not_a_split():
    raw = synthetic()
    day = raw.index[20]
    previous = raw["close"].iloc[19]
    raw.loc[day, ["open", "high", "low", "close"]] = [
        0.58 * previous,
        0.60 * previous,
        0.47 * previous,
        0.48 * previous,
    ]
    raw.iloc[21:, raw.columns.get_indexer(OHLC)] *= 0.5

    _, info = cleaning.adjust_detected_splits(raw)

    assert info["splits"] == []


# --------------------------------------------------------------------------------------------- repairs
def test_exact_duplicates_are_dropped_and_counted():
    frame = synthetic()
    raw = pd.concat([frame, frame.iloc[[3, 10, 10]]])

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["rows_in"] == 43 and quality["rows_out"] == 40
    assert quality["duplicates_dropped"] == 3
    assert quality["conflicting_duplicate_dates"] == []
    assert cleaned.index.is_unique


def test_same_date_with_different_values_keeps_the_last_and_reports_it():
    frame = synthetic()
    day = frame.index[5]
    corrected = frame.loc[[day]].copy()
    corrected["close"] *= 1.01
    corrected["high"] = corrected[["high", "close"]].max(axis=1)
    raw = pd.concat([frame, corrected])

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["conflicting_duplicate_dates"] == [f"{day:%Y-%m-%d}"]
    assert quality["duplicates_dropped"] == 0
    assert cleaned.loc[day, "close"] == corrected.loc[day, "close"]
    assert len(cleaned) == 40


def test_unsorted_input_is_sorted_and_reported():
    frame = synthetic()
    raw = frame.sample(frac=1.0, random_state=1)
    assert not raw.index.is_monotonic_increasing

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["was_sorted"] is False
    assert cleaned.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(cleaned, frame[["open", "high", "low", "close", "volume"]], check_freq=False)
    assert cleaning.clean_prices(frame)[1]["was_sorted"] is True


def test_ohlc_violations_are_repaired_and_counted():
    raw = synthetic()
    high_day, low_day = raw.index[4], raw.index[9]
    raw.loc[high_day, "high"] = max(raw.loc[high_day, ["open", "close"]]) - 0.1
    raw.loc[low_day, "low"] = max(raw.loc[low_day, ["open", "close"]]) + 0.1

    cleaned, quality = cleaning.clean_prices(raw)

    repairs = quality["ohlc_repairs"]
    assert repairs["rows"] == 2
    assert repairs["high_below_open_or_close"] == 1 and repairs["low_above_open_or_close"] == 1
    assert repairs["first_dates"] == [f"{high_day:%Y-%m-%d}", f"{low_day:%Y-%m-%d}"]
    assert (cleaned["high"] >= cleaned[["open", "close"]].max(axis=1)).all()
    assert (cleaned["low"] <= cleaned[["open", "close"]].min(axis=1)).all()
    assert cleaned.loc[high_day, "high"] == max(raw.loc[high_day, ["open", "close"]])


def test_non_positive_prices_are_dropped():
    raw = synthetic()
    raw.loc[raw.index[3], "close"] = 0.0
    raw.loc[raw.index[7], "open"] = -1.0
    raw.loc[raw.index[8], "volume"] = 0.0  # no trades is allowed, only counted

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["rows_dropped_nonpositive"] == 2
    assert quality["zero_volume_days"] == 1
    assert raw.index[3] not in cleaned.index and raw.index[7] not in cleaned.index
    assert len(cleaned) == 38


def test_missing_values_are_counted_and_rows_without_prices_dropped():
    raw = synthetic(adj_close=True)
    raw.loc[raw.index[2], "close"] = np.nan
    raw.loc[raw.index[6], "volume"] = np.nan
    raw.loc[raw.index[11], "adj_close"] = np.nan  # refilled from the neighbours' factor, row kept

    cleaned, quality = cleaning.clean_prices(raw)

    assert quality["missing_values"] == {"open": 0, "high": 0, "low": 0, "close": 1, "volume": 1, "adj_close": 1}
    assert quality["rows_dropped_missing"] == 2
    assert quality["adj_close_filled"] == 1
    assert len(cleaned) == 38 and raw.index[11] in cleaned.index
    assert cleaned.loc[raw.index[11], "close"] == pytest.approx(0.98 * raw.loc[raw.index[11], "close"])
    assert not cleaned.isna().any().any()


@pytest.mark.parametrize("spoil", ["missing", "non_positive"])
def test_all_rows_bad_raises_data_quality_error(spoil):
    raw = synthetic(days=10)
    raw["close"] = np.nan if spoil == "missing" else 0.0

    with pytest.raises(
        DataQualityError, match="no usable price rows" if spoil != "missing" else "column close has no values at all"
    ):
        cleaning.clean_prices(raw)


# --------------------------------------------------------------------------------------------- calendar
def test_missing_trading_day_is_reported_but_holidays_are_not():
    raw = synthetic(days=15, start="2023-01-03")  # spans Martin Luther King Day, 2023-01-16
    assert pd.Timestamp("2023-01-16") not in raw.index
    dropped = pd.Timestamp("2023-01-11")
    raw = raw.drop(dropped)

    _, quality = cleaning.clean_prices(raw)

    calendar = quality["calendar"]
    assert calendar["missing_days"] == 1 and calendar["missing_dates"] == ["2023-01-11"]
    assert calendar["non_trading_rows"] == 0
    assert calendar["expected_trading_days"] == 15


def test_saturday_row_is_reported_as_non_trading():
    index = pd.DatetimeIndex(["2023-01-05", "2023-01-06", "2023-01-07", "2023-01-09"], name="date")

    report = quality_report.calendar_report(index)

    assert report["non_trading_rows"] == 1 and report["non_trading_dates"] == ["2023-01-07"]
    assert report["missing_days"] == 0


def test_times_of_day_in_the_index_are_normalised():
    raw = synthetic(days=5)
    raw.index = raw.index + pd.Timedelta(hours=5)

    cleaned, quality = cleaning.clean_prices(raw)

    assert (cleaned.index == cleaned.index.normalize()).all()
    assert quality["calendar"]["missing_days"] == 0 and quality["calendar"]["non_trading_rows"] == 0


# --------------------------------------------------------------------------------------------- report
def test_quality_table_lists_the_checks():
    raw = synthetic()
    raw = pd.concat([raw, raw.iloc[[0]]])
    raw.loc[raw.index[5], "close"] = -1.0

    _, quality = cleaning.clean_prices(raw)
    table = quality_report.quality_table(quality)

    assert list(table.columns) == ["value"]
    assert list(table.index) == [
        "rows in",
        "rows out",
        "input sorted by date",
        "exact duplicate rows dropped",
        "dates given twice with different values (last kept)",
        "missing values (all columns)",
        "rows dropped for missing prices",
        "rows dropped for non-positive prices",
        "rows with OHLC violations (repaired)",
        "zero-volume days",
        "trading days missing vs NYSE calendar",
        "rows on non-trading days (dropped)",
        "adjustment",
        "splits",
        "largest daily move",
        "moves beyond the flag threshold",
        "overall",
    ]
    assert table.loc["rows in", "value"] == 41 and table.loc["rows out", "value"] == 39
    assert table.loc["input sorted by date", "value"] == "no (sorted)"
    assert table.loc["exact duplicate rows dropped", "value"] == 1
    assert table.loc["rows dropped for non-positive prices", "value"] == 1
    assert table.loc["trading days missing vs NYSE calendar", "value"] == 1
    assert table.loc["adjustment", "value"] == "detected splits"
    assert table.loc["splits", "value"] == "none"
