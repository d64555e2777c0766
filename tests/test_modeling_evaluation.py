"""Training, evaluation and reporting functions on the sample data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.errors import DataQualityError, IntegrityError
from aapl_lib.features.build import TARGET, build_features
from aapl_lib.modeling import evaluation as ev
from aapl_lib.modeling import persistence
from aapl_lib.modeling import training as modeling
from aapl_lib.modeling.evaluation_plots import plot_cumulative, plot_predicted_vs_actual, plot_residuals
from aapl_lib.modeling.metrics import directional_accuracy, regression_metrics
from aapl_lib.reporting.markdown import analysis_markdown
from aapl_lib.reporting.pdf import summary_pdf
from helpers import sample_frame

HYPER = {
    "random_seed": 42,
    "ridge_alpha": 1.0,
    "gb_n_estimators": 30,
    "gb_max_depth": 2,
    "gb_learning_rate": 0.1,
    "gb_subsample": 0.8,
}


@pytest.fixture(scope="module")
def data():
    cleaned, quality = clean_prices(sample_frame("2008-01-01", "2011-12-31"))
    feats, names = build_features(cleaned)
    return cleaned, quality, feats, names


def test_split_is_chronological_with_a_gap(data):
    _, _, feats, _ = data
    split = modeling.chronological_split(feats, 0.25)
    assert split.train.index.max() < split.test.index.min()
    labelled = feats[feats[TARGET].notna()]
    between = labelled.loc[split.train.index.max() : split.test.index.min()]
    assert len(between) == 2 + split.gap_rows  # the gap row lies strictly between them
    assert split.train.index.is_monotonic_increasing
    assert len(split.test) == round(len(labelled) * 0.25)


def test_too_few_rows_to_train(data):
    _, _, feats, _ = data
    with pytest.raises(DataQualityError, match="too few"):
        modeling.chronological_split(feats.iloc[:80], 0.2, min_train_rows=100)


def test_training_is_deterministic_and_scaler_sees_train_rows_only(data):
    _, _, feats, names = data
    split = modeling.chronological_split(feats, 0.2)
    a, _ = modeling.train_model(split, names, "gradient_boosting", {**HYPER, "random_seed": 7})
    b, _ = modeling.train_model(split, names, "gradient_boosting", {**HYPER, "random_seed": 7})
    np.testing.assert_array_equal(a.predict(split.test[names].to_numpy()), b.predict(split.test[names].to_numpy()))
    np.testing.assert_allclose(a.named_steps["scaler"].mean_, split.train[names].mean().to_numpy())


def test_model_file_integrity(data, tmp_path):
    _, _, feats, names = data
    split = modeling.chronological_split(feats, 0.2)
    est, _ = modeling.train_model(split, names, "ridge", HYPER)
    path = tmp_path / "m.skops"
    sha = persistence.save_model(est, path)
    loaded = persistence.load_model(path, sha)
    np.testing.assert_array_equal(
        loaded.predict(split.test[names].to_numpy()), est.predict(split.test[names].to_numpy())
    )
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="re-run model_training"):
        persistence.load_model(path, sha)


def test_metrics_and_directional_accuracy():
    y = np.array([0.01, -0.02, 0.03, 0.0])
    assert directional_accuracy(y, np.array([1, 1, 1, 1.0])) == pytest.approx(2 / 3)
    assert directional_accuracy(y, np.zeros(4)) is None
    m = regression_metrics(y, y)
    assert m["rmse"] == 0 and m["r2"] == 1 and m["n"] == 4


def test_evaluation_against_baselines_backtest_and_forecast(data, tmp_path):
    cleaned, quality, feats, names = data
    split = modeling.chronological_split(feats, 0.2)
    est, in_sample = modeling.train_model(split, names, "ridge", HYPER)
    meta = modeling.model_metadata(
        ticker="AAPL",
        features=names,
        split=split,
        name="ridge",
        in_sample=in_sample,
        sha256="x" * 64,
        model_file="model.skops",
        params={**HYPER, "test_fraction": 0.2},
    )
    test = modeling.held_out_rows(feats, meta)
    pd.testing.assert_index_equal(test.index, split.test.index)
    champion, _ = modeling.train_model(split, names, "linear", HYPER)
    train = modeling.training_rows(feats, meta)
    pd.testing.assert_index_equal(train.index, split.train.index)
    preds = ev.predictions_table(est, test, names, train[TARGET], champion=champion)
    metrics = ev.compare(preds, float(train[TARGET].mean()))
    assert set(metrics) == {"model", "zero_return", "last_return", "rolling_mean", "always_up", "champion"}
    # always_up: the training period's majority direction every day, on the test days
    assert metrics["always_up"]["directional_accuracy"] == pytest.approx(
        ((test[TARGET] > 0) if (train[TARGET] > 0).mean() >= 0.5 else (test[TARGET] < 0))[test[TARGET] != 0].mean()
    )
    # R² is out of sample: against the training mean, not the test period's own mean
    sse_train_mean = ((test[TARGET] - train[TARGET].mean()) ** 2).sum()
    assert metrics["model"]["r2"] == pytest.approx(1 - ((test[TARGET] - preds["model"]) ** 2).sum() / sse_train_mean)
    assert metrics["zero_return"]["rmse"] == pytest.approx(np.sqrt((test[TARGET] ** 2).mean()))
    assert metrics["rolling_mean"]["rmse"] == pytest.approx(
        np.sqrt(((test[TARGET] - test["ret_mean_20d"]) ** 2).mean())
    )
    assert 0 <= metrics["model"]["dm_vs_zero_return_p"] <= 1 and metrics["zero_return"]["dm_vs_zero_return_p"] is None
    assert "zero return" in ev.verdict(metrics)
    daily = ev.backtest(preds, cost_bps=10)
    free = ev.backtest(preds, cost_bps=0)
    assert (1 + free["buy_and_hold"]).prod() == pytest.approx((1 + test[TARGET]).prod())
    summary = ev.backtest_summary(daily, 10)
    assert summary["long_short"]["cumulative_return"] < ev.backtest_summary(free)["long_short"]["cumulative_return"]
    assert summary["buy_and_hold"]["turnover_per_day"] == pytest.approx(1 / len(test))
    assert summary["long_flat"]["max_drawdown"] <= 0
    fc = ev.forecasts(est, feats, names, cleaned, metrics, champion=champion, champion_features=names)
    assert fc["last_price_date"] == f"{cleaned.index[-1]:%Y-%m-%d}" and fc["for_date"] > fc["last_price_date"]
    assert "not advice" in fc["challenger"]["caveat"] and fc["champion"]["model"] == "champion"
    assert fc["champion"]["predicted_return"] == pytest.approx(
        float(champion.predict(feats[names].iloc[[-1]].to_numpy())[0])
    )
    for plot, name in [(plot_predicted_vs_actual, "a.png"), (plot_residuals, "b.png")]:
        assert plot(preds, tmp_path / "figures" / name, "AAPL").read_bytes()[:4] == b"\x89PNG"
    plot_cumulative(daily, tmp_path / "figures" / "c.png", "AAPL", 10)

    # reporting on the same objects: the PDF's text is real, searchable text
    provenance = {
        "ticker": "AAPL",
        "source": "sample",
        "window": {"first": "2008-01-02", "last": "2011-12-30"},
        "rows": len(cleaned),
        "sha256": "ab" * 32,
        "retrieved_at": "2026-11-26T00:00:00+00:00",
    }
    evaluation = {
        "metrics": metrics,
        "baselines": ev.BASELINES,
        "verdict": ev.verdict(metrics),
        "plausibility": ev.plausibility(metrics["model"], 0.1, 0.65),
        "backtest": summary,
        "test_window": meta["split"]["test_window"],
        "challenger": "ridge",
        "champion": None,
    }
    from aapl_lib.promotion import gate

    proposal = gate.propose(
        "auto",
        metrics,
        ev.best_baseline(metrics),
        {"auto_min_rmse_gain_pct": 1.0, "auto_min_direction_edge_pct": 1.0, "auto_max_p_value": 0.05},
        "x" * 64,
        None,
    )
    pdf = summary_pdf("RUN1", provenance, quality, meta, evaluation, fc, tmp_path, proposal=proposal)
    import io

    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "zero_return" in text and "always_up" in text and "Caveat" in text and "Approval gate" in text
    assert "held-out period (10 bps per unit of position change)" in text and "no costs" not in text
    assert "in-sample" not in text and "never traded" not in text
    assert f"{100 * metrics['model']['rmse']:.3f} %" in text
    md = analysis_markdown("RUN1", provenance, quality, meta, evaluation, fc, proposal=proposal)
    assert "| model |" in md and "Caveat" in md and "long_short" in md and "## Approval gate" in md
    assert "| always_up |" in md and "R² OOS" in md and "out-of-sample R²" in md
    sharpe = summary["long_flat"]
    assert f"{sharpe['sharpe_annualised']:.2f} ± {sharpe['sharpe_se']:.2f}" in md
    assert f"{sharpe['sharpe_ci95'][0]:.2f} .. {sharpe['sharpe_ci95'][1]:.2f}" in md
    assert "Trade-on-sign vs buy-and-hold (held-out period, 10 bps per unit of position change)" in md
    assert "by the challenger (not promoted: no gate decision; there is no champion)" not in md  # auto proposal
    assert "Forecast for " + fc["for_date"] in md


def test_next_trading_day_skips_weekends_and_holidays():
    from aapl_lib.data.trading_calendar import next_trading_day, trading_days

    assert next_trading_day("2023-12-29") == pd.Timestamp("2024-01-02")
    assert next_trading_day("2023-04-06") == pd.Timestamp("2023-04-10")  # Good Friday
    assert len(trading_days("2023-01-01", "2023-12-31")) == 250
