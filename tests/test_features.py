"""Features: definitions, the target, no look-ahead, and the feature-engineering CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.errors import DataQualityError
from aapl_lib.features.build import TARGET, build_features, main, rsi
from aapl_lib.io.iorw import read_frame, write_frame
from helpers import sample_frame


@pytest.fixture(scope="module")
def cleaned():
    frame, _ = clean_prices(sample_frame("2009-01-01", "2011-12-31"))
    return frame


def test_target_is_next_day_return_and_last_row_is_the_forecast_row(cleaned):
    feats, names = build_features(cleaned)
    close = cleaned["close"]
    day = feats.index[10]
    nxt = close.index[close.index.get_loc(day) + 1]
    assert feats.loc[day, TARGET] == pytest.approx(close[nxt] / close[day] - 1)
    assert np.isnan(feats[TARGET].iloc[-1]) and feats.index[-1] == cleaned.index[-1]
    assert feats[TARGET].iloc[:-1].notna().all()
    assert TARGET not in names and feats[names].notna().all().all()


def test_features_use_no_future_data(cleaned):
    """Truncation invariance: features computed on data cut at day t equal the full computation up to t."""
    full, names = build_features(cleaned)
    for cut in [200, 400, len(cleaned) - 30]:
        part, _ = build_features(cleaned.iloc[:cut])
        common = part.index
        pd.testing.assert_frame_equal(part[names], full.loc[common, names], rtol=1e-12, atol=1e-12)


def test_no_feature_equals_the_target(cleaned):
    feats, names = build_features(cleaned)
    labelled = feats[feats[TARGET].notna()]
    for name in names:
        assert not np.allclose(labelled[name], labelled[TARGET]), name
        assert abs(labelled[name].corr(labelled[TARGET])) < 0.5, name


def test_rsi_bounds_and_extremes():
    up = pd.Series(np.arange(1.0, 60.0))
    assert rsi(up, 14).dropna().eq(100).all()
    noisy = pd.Series(100 + np.random.default_rng(0).standard_normal(300).cumsum())
    values = rsi(noisy, 14).dropna()
    assert ((values > 0) & (values < 100)).all()


def test_too_short_history_is_a_clear_error(cleaned):
    with pytest.raises(DataQualityError, match="widen the window"):
        build_features(cleaned.iloc[:30])


def test_cli_matches_the_library_function(cleaned, tmp_path):
    src, out = tmp_path / "cleaned.csv", tmp_path / "features.csv"
    write_frame(src, cleaned)
    cfg = tmp_path / "p.yaml"
    cfg.write_text("lags: 3\nwindows: [5, 10]\n")
    assert main(["--input", str(src), "--output", str(out), "--config", str(cfg)]) == 0
    expected, names = build_features(read_frame(src), lags=3, windows=[5, 10])
    got = read_frame(out)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert "ret_lag_4" not in got.columns and (tmp_path / "features.features.json").is_file()


def test_cli_reports_missing_input(tmp_path, capsys):
    assert main(["--input", str(tmp_path / "none.csv"), "--output", str(tmp_path / "o.csv")]) == 2
    assert "run the data_cleaning task first" in capsys.readouterr().err
