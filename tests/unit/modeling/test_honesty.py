"""Analysts' own features and a leakage guard and statistics that cannot be fooled (issue 10).

Leaks are injected the way an analyst adds a feature: a function in a module of their own, declared in
``extra_features`` and computed by ``build_features`` — never by editing a frame after its rows were dropped.
End-to-end tests drive ``runner.py`` with ``-p extra_features`` and a CSV of prices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aapl_lib.data import cleaning
from aapl_lib.data.trading_calendar import next_trading_day
from aapl_lib.errors import ParameterError
from aapl_lib.features import build as fe
from aapl_lib.features import leakage
from aapl_lib.features.extra import FeatureFunctionError
from aapl_lib.features.leakage import LeakageError
from aapl_lib.modeling import evaluation as ev
from aapl_lib.modeling import plausibility
from aapl_lib.modeling import training as modeling
from aapl_lib.modeling.candidates import always_up_value, baseline_predictions, describe_baselines
from aapl_lib.modeling.metrics import regression_metrics
from aapl_lib.modeling.significance import direction_test, sharpe_standard_error
from aapl_lib.narrative import chosen_forecast, forecast_sentences
from aapl_lib.pipeline import config
from aapl_lib.promotion import gate
from helpers import analyst_spec as spec
from helpers import sample_frame


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    frame, _ = cleaning.clean_prices(sample_frame("2009-01-01", "2012-12-31"))
    return frame


# ------------------------------------------------------------------------------------ leaks through extra_features
LEAKS = {  # function -> the column it makes
    "centred_mean": "centred_ma",
    "tomorrow": "next_ret",
    "whole_sample_zscore": "close_z",
    "filled_future": "next_close_ratio",
}


@pytest.mark.parametrize("function", list(LEAKS))
def test_a_look_ahead_feature_declared_in_extra_features_is_stopped(feature_dir, cleaned, function):
    frame, names, guard = leakage.build_and_guard(cleaned, extra_features=[spec(function)])
    column = LEAKS[function]
    assert column in names  # it went through build_features like any feature

    truncation = guard[0]
    assert truncation["passed"] is False
    assert list(truncation["offenders"]) == [column]  # the built-in features stay clean
    with pytest.raises(LeakageError) as info:
        leakage.enforce(*guard)
    message = str(info.value)
    first = truncation["first_differences"][column]
    assert message.startswith(
        f"leakage guard (truncation invariance) failed: {column} (from {spec(function)}) differs on {first}"
    )
    assert pd.Timestamp(first) in cleaned.index


def test_the_centred_mean_is_caught_on_the_first_day_that_needs_a_removed_price(feature_dir, cleaned):
    _, _, guard = leakage.build_and_guard(cleaned, extra_features=[spec("centred_mean")])
    first_cut = pd.Timestamp(guard[0]["cut_dates"][0])
    position = cleaned.index.get_loc(first_cut)
    # day t of a centred 5-day mean needs t+1 and t+2: cut after day c, day c-1 is the first to change
    assert guard[0]["first_differences"]["centred_ma"] == f"{cleaned.index[position - 1]:%Y-%m-%d}"


def test_cut_points_include_each_of_the_last_five_days(cleaned):
    _, _, guard = leakage.build_and_guard(cleaned)
    cuts = guard[0]["cut_dates"]
    assert [f"{d:%Y-%m-%d}" for d in cleaned.index[-6:-1]] == cuts[-5:]
    assert len(cuts) >= 12 and guard[0]["passed"] is True


def test_a_clean_extra_feature_passes_and_is_a_feature_like_the_others(feature_dir, cleaned):
    frame, names, guard = leakage.build_and_guard(cleaned, extra_features=[spec("momentum")])
    leakage.enforce(*guard)  # does not raise
    builtin, _ = fe.build_features(cleaned)
    assert names[-2:] == ["mom_10d", "up_days_5d"] and len(names) == len(builtin.columns) - 1 + 2
    assert frame.attrs["feature_sources"]["mom_10d"] == spec("momentum")
    assert frame.attrs["feature_sources"]["ret_1d"] == "built-in"
    # the function got the prices only, and a copy: the built-in features are unchanged by it
    pd.testing.assert_frame_equal(frame[list(builtin.columns)], builtin, check_exact=True)
    assert frame.index[-1] == cleaned.index[-1]  # the forecast row is kept


@pytest.mark.parametrize(
    "function, words",
    [
        ("raises", "extra feature analyst_features_t10:raises raised ValueError: column 'vwap' not found"),
        ("wrong_index", "returned a frame whose index is not the prices' date index (3 of the prices' dates missing)"),
        ("text_column", "returned column 'label' of type "),
        ("clashes", "returned column 'ret_1d', a name already used by a built-in feature"),
        ("a_series", "returned Series, not a DataFrame"),
        ("no_such_function", "has no function no_such_function"),
    ],
)
def test_a_broken_feature_function_stops_with_a_message_naming_it(feature_dir, cleaned, function, words):
    with pytest.raises(FeatureFunctionError) as info:
        fe.build_features(cleaned, extra_features=[spec(function)])
    assert spec(function) in str(info.value) and words in str(info.value)
    if function == "text_column":
        assert str(info.value).endswith("not numeric: features must be numbers")


# ------------------------------------------------------------------------------------ direction against the market
def test_direction_is_tested_against_chance_not_a_coin():
    rng = np.random.default_rng(3)
    actual = rng.normal(0.002, 0.01, 2000)  # a rising market: about 58 % up days
    pred = np.where(rng.random(2000) < 0.9, 1.0, -1.0) * 0.001  # mostly "up", no skill at all
    hits = np.mean(np.sign(actual) == np.sign(pred))
    assert hits > 0.54  # a binomial test against 50 % would call this significant
    test = direction_test(actual, pred)
    assert test["chance_level"] == pytest.approx(
        test["up_day_rate"] * test["up_call_rate"] + (1 - test["up_day_rate"]) * (1 - test["up_call_rate"])
    )
    assert test["p_value"] > 0.05
    assert direction_test(actual, np.full(2000, 0.001))["p_value"] is None  # a constant call has no timing
    skilled = np.sign(actual) * 0.001 * np.where(rng.random(2000) < 0.7, 1, -1)
    assert direction_test(actual, skilled)["p_value"] < 1e-6


def test_always_up_is_the_training_periods_majority_direction():
    assert always_up_value(pd.Series([0.01, 0.02, -0.01])) == pytest.approx(0.02 / 3)
    assert always_up_value(pd.Series([-0.01, -0.02, 0.05])) < 0  # mostly down days, though the mean is up
    frame = pd.DataFrame({"ret_1d": [0.1, 0.2], "ret_mean_20d": [0.0, 0.1]})
    preds = baseline_predictions(frame, pd.Series([0.01, -0.005, 0.02]))
    assert np.all(preds["always_up"] > 0) and set(preds) == {"zero_return", "last_return", "rolling_mean", "always_up"}
    assert describe_baselines(["ret_mean_5d", "ret_mean_60d"])["rolling_mean"] == (
        "predicts the mean of the last 60 daily returns"
    )


def test_r2_is_out_of_sample_against_the_training_mean():
    actual = np.array([0.01, -0.01, 0.02, 0.0])
    at_train_mean = regression_metrics(actual, np.full(4, 0.003), benchmark=0.003)
    assert at_train_mean["r2"] == 0.0  # forecasting the training mean scores zero, whatever the test mean
    assert regression_metrics(actual, actual, benchmark=0.003)["r2"] == 1.0


def test_sharpe_standard_error():
    assert sharpe_standard_error(0.0, 252) == pytest.approx(np.sqrt(1 / 252))
    assert sharpe_standard_error(0.1, 100) == pytest.approx(np.sqrt((1 + 0.005) / 100))


def _metrics(model: dict, always_up_da: float = 0.53, best_rmse: float = 0.02) -> dict:
    base = {"rmse": best_rmse, "directional_accuracy": None, "direction_p": None}
    up = {"rmse": best_rmse * 1.001, "directional_accuracy": always_up_da, "direction_p": None}
    return {"model": model, "zero_return": base, "always_up": up}


THRESHOLDS = {"auto_min_rmse_gain_pct": 1.0, "auto_min_direction_edge_pct": 1.0, "auto_max_p_value": 0.05}
GOOD = {
    "rmse": 0.0195,
    "r2": 0.02,
    "directional_accuracy": 0.56,
    "direction_edge_vs_always_up": 0.03,
    "direction_p": 0.01,
    "dm_vs_best_baseline_p": 0.01,
}


def _plausibility(model: dict) -> dict:
    """The plausibility record for an AAPL-like series: its own autoregression does no better than the training
    mean, and chance allows 0.03 of R² and 4 points of direction."""
    series = {"name": "training mean", "columns": ["ret_1d"], "r2": 0.0, "directional_accuracy": 0.53}
    chance = {"draws": 500, "seed": 42, "block_days": 5, "quantile": 0.99, "r2": 0.03, "directional_accuracy": 0.04}
    return plausibility.verdict_record(model, series, chance)


@pytest.mark.parametrize(
    "change, failed",
    [
        ({}, None),
        ({"direction_edge_vs_always_up": -0.01, "directional_accuracy": 0.52}, "directional accuracy above always_up"),
        ({"direction_p": 0.3}, "Pesaran-Timmermann"),
        ({"direction_p": None}, "Pesaran-Timmermann"),
        ({"dm_vs_best_baseline_p": 0.2}, "Diebold-Mariano p-value against zero_return"),
        ({"rmse": 0.0199}, "RMSE gain"),
    ],
)
def test_the_gate_needs_an_edge_over_always_up_chance_and_the_best_baseline(change, failed):
    metrics = _metrics({**GOOD, **change})
    plausible = _plausibility(metrics["model"])
    proposal = gate.propose("auto", metrics, "zero_return", THRESHOLDS, "a" * 64, None, plausible)
    if failed is None:
        assert proposal["proposal"] == "promote"
    else:
        assert proposal["proposal"] == "keep"
        assert [c["check"] for c in proposal["checks"] if not c["passed"]][0].startswith(failed)


@pytest.mark.parametrize("change", [{"r2": 0.79}, {"directional_accuracy": 0.857}])
def test_too_good_to_be_true_is_never_promoted_automatically(change):
    metrics = _metrics({**GOOD, **change})
    plausible = _plausibility(metrics["model"])
    assert plausible["implausible"] is True
    proposal = gate.propose("auto", metrics, "zero_return", THRESHOLDS, "a" * 64, None, plausible)
    assert proposal["proposal"] == "keep" and proposal["implausible"] is True
    assert any(r.startswith("plausible (not too good to be true") for r in proposal["reasons"])
    assert ev.verdict(metrics, plausible).startswith("IMPLAUSIBLE: ")
    (check,) = [c for c in proposal["checks"] if c["check"].startswith("plausible")]
    assert check["limit"].startswith("R² <= 0.030 (training mean 0.000 + chance 0.030), direction <= 57.0 %")
    assert "99th percentile of 500 block-shuffled draws (5-day blocks, seed 42)" in check["limit"]


@pytest.mark.parametrize("retired", ["max_plausible_r2", "max_plausible_directional_accuracy"])
def test_the_retired_fixed_plausibility_limits_say_what_replaced_them(retired):
    with pytest.raises(ParameterError, match=f"{retired}.* no longer used: .*plausibility_quantile"):
        config.resolve_params(None, [(retired, "0.02")])


# ------------------------------------------------------------------------------------ forecasts
def test_the_forecast_is_for_the_day_after_the_last_price_row_or_there_is_none(feature_dir, cleaned):
    frame, names = fe.build_features(cleaned)
    split = modeling.chronological_split(frame, 0.2)
    est, _ = modeling.train_model(split, names, "ridge", {"random_seed": 1, "ridge_alpha": 1.0})
    fc = ev.forecast(est, frame, names, cleaned, 0.02, "challenger")
    assert fc["available"] and fc["last_price_date"] == f"{cleaned.index[-1]:%Y-%m-%d}"
    assert fc["for_date"] == f"{next_trading_day(cleaned.index[-1]):%Y-%m-%d}"
    assert "implied_close" not in fc  # no price that never traded

    # the last price row loses its features (a zero volume there): no forecast for a day already in the data
    spoiled = cleaned.copy()
    spoiled.iloc[-1, spoiled.columns.get_loc("volume")] = 0
    frame2, names2 = fe.build_features(spoiled)
    assert frame2.index[-1] < spoiled.index[-1]
    none = ev.forecast(est, frame2, names2, spoiled, 0.02, "challenger")
    assert none["available"] is False and none["predicted_return"] is None
    assert none["for_date"] == fc["for_date"] and "has no complete features" in none["reason"]


CHALLENGER = {
    "available": True,
    "model": "challenger",
    "last_price_date": "2012-12-31",
    "for_date": "2013-01-02",
    "predicted_return": 0.003,
    "band_1rmse": [-0.017, 0.023],
    "direction": "up",
    "caveat": "An estimate.",
}
CHAMPION = {**CHALLENGER, "model": "champion", "predicted_return": -0.001, "direction": "down"}


@pytest.mark.parametrize(
    "decision, champion, label",
    [
        ("promoted", None, "champion (this run's challenger, promoted)"),
        ("approved", CHAMPION, "champion (this run's challenger, approved)"),
        ("kept", CHAMPION, "champion (from the registry; this run's challenger: kept by the gate)"),
        ("rejected", None, "challenger (rejected by a reviewer; there is no champion)"),
        ("kept", None, "challenger (not promoted: kept out by the gate; there is no champion)"),
        (None, None, "challenger (not promoted: awaiting a decision; there is no champion)"),
    ],
)
def test_the_report_shows_the_champions_forecast_or_labels_the_challengers(decision, champion, label):
    fc = {"challenger": CHALLENGER, "champion": champion, "for_date": "2013-01-02", "last_price_date": "2012-12-31"}
    chosen, got = chosen_forecast(fc, {"decision": decision} if decision else None, {"proposal": "awaiting_approval"})
    assert got == label
    text = forecast_sentences(fc, {"decision": decision} if decision else None, {"proposal": "awaiting_approval"})[0]
    assert f"by the {label}" in text and "2013-01-02" in text and "(2012-12-31)" in text
    shown = "-0.100 %" if chosen is CHAMPION else "0.300 %"
    assert shown in text


# ------------------------------------------------------------------------------------ end to end
