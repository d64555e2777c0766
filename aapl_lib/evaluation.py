"""Step 5: the trained model on the held-out period against naive baselines, a trade-on-sign backtest,
figures, and the next trading day's forecast."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the runner and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .features import TARGET  # noqa: E402
from .iorw import atomic_write_bytes  # noqa: E402
from .metrics import regression_metrics  # noqa: E402
from .trading_calendar import next_trading_day  # noqa: E402

BASELINES = {
    "zero_return": "predicts 0 % every day (a random walk)",
    "last_return": "predicts that tomorrow repeats today's return",
}


def predictions_table(estimator, test: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Actual next-day return, the model's prediction and each baseline's, one row per test day."""
    return pd.DataFrame({
        "actual": test[TARGET].to_numpy(),
        "model": estimator.predict(test[features].to_numpy()),
        "zero_return": 0.0,
        "last_return": test["ret_1d"].to_numpy(),
    }, index=test.index)


def compare(predictions: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Metrics of the model and of every baseline on the same days."""
    return {name: regression_metrics(predictions["actual"], predictions[name])
            for name in ["model", *BASELINES]}


def verdict(metrics: dict[str, dict[str, Any]]) -> str:
    """One honest sentence: does the model beat doing nothing?"""
    model, zero = metrics["model"], metrics["zero_return"]
    change = (model["rmse"] - zero["rmse"]) / zero["rmse"]
    da = model["directional_accuracy"]
    da_text = f"{100 * da:.1f} %" if da is not None else "n/a"
    if change < -0.005:
        head = f"The model's RMSE is {100 * -change:.1f} % lower than always predicting a zero return"
    elif change > 0.005:
        head = f"The model's RMSE is {100 * change:.1f} % higher than always predicting a zero return"
    else:
        head = "The model's RMSE is within 0.5 % of always predicting a zero return"
    return (f"{head} (R² {model['r2']:+.4f}); it calls the direction right on {da_text} of test days. "
            "Daily returns are close to unpredictable: treat any edge this small as noise until it holds "
            "out of sample over a long period.")


def backtest(predictions: pd.DataFrame) -> pd.DataFrame:
    """Cumulative growth of 1 for buy-and-hold and for a long/flat trade-on-predicted-sign strategy
    (no transaction costs, in-sample research backtest)."""
    position = (predictions["model"] > 0).astype(float)
    strat = position * predictions["actual"]
    return pd.DataFrame({
        "buy_and_hold": (1 + predictions["actual"]).cumprod(),
        "trade_on_sign": (1 + strat).cumprod(),
        "position": position,
    }, index=predictions.index)


def backtest_summary(curve: pd.DataFrame) -> dict[str, Any]:
    """Total return of both curves and how often the strategy is invested."""
    return {"buy_and_hold_return": float(curve["buy_and_hold"].iloc[-1] - 1),
            "trade_on_sign_return": float(curve["trade_on_sign"].iloc[-1] - 1),
            "share_of_days_long": float(curve["position"].mean()),
            "costs": "none (research backtest on the held-out period)"}


def forecast(estimator, features_frame: pd.DataFrame, features: list[str], cleaned: pd.DataFrame,
             test_metrics: dict[str, Any]) -> dict[str, Any]:
    """The next trading day's predicted return from the newest feature row, with the test RMSE as a
    rough error band."""
    last = features_frame.iloc[[-1]]
    as_of = last.index[0]
    predicted = float(estimator.predict(last[features].to_numpy())[0])
    close = float(cleaned.loc[as_of, "close"])
    rmse = float(test_metrics["rmse"])
    return {
        "as_of": f"{as_of:%Y-%m-%d}",
        "for_date": f"{next_trading_day(as_of):%Y-%m-%d}",
        "predicted_return": predicted,
        "last_close_adjusted": close,
        "implied_close": close * (1 + predicted),
        "band_1rmse": [predicted - rmse, predicted + rmse],
        "direction": "up" if predicted > 0 else ("down" if predicted < 0 else "flat"),
        "caveat": ("A statistical estimate, not advice: on the held-out period the typical error (RMSE "
                   f"{100 * rmse:.2f} %) is larger than the forecast itself ({100 * predicted:+.3f} %)."
                   if abs(predicted) < rmse else
                   f"A statistical estimate, not advice; the held-out RMSE was {100 * rmse:.2f} %."),
    }


def _save(fig, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_predicted_vs_actual(predictions: pd.DataFrame, path: str | Path, ticker: str) -> Path:
    """Time series and scatter of predicted vs actual next-day returns."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(predictions.index, 100 * predictions["actual"], lw=0.7, color="0.6", label="actual")
    ax1.plot(predictions.index, 100 * predictions["model"], lw=1.0, color="C0", label="model")
    ax1.set_ylabel("next-day return (%)")
    ax1.set_title(f"{ticker}: predicted vs actual (held-out period)")
    ax1.legend(loc="upper left")
    ax2.scatter(100 * predictions["model"], 100 * predictions["actual"], s=6, alpha=0.5)
    ax2.axhline(0, color="0.8", lw=0.8)
    ax2.axvline(0, color="0.8", lw=0.8)
    ax2.set_xlabel("predicted (%)")
    ax2.set_ylabel("actual (%)")
    ax2.set_title("scatter")
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_residuals(predictions: pd.DataFrame, path: str | Path, ticker: str) -> Path:
    """Residuals over time and their distribution."""
    resid = 100 * (predictions["actual"] - predictions["model"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(resid.index, resid, lw=0.7)
    ax1.axhline(0, color="0.5", lw=0.8)
    ax1.set_ylabel("actual - predicted (%)")
    ax1.set_title(f"{ticker}: residuals")
    ax2.hist(resid, bins=40)
    ax2.set_xlabel("residual (%)")
    ax2.set_title("distribution")
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_cumulative(curve: pd.DataFrame, path: str | Path, ticker: str) -> Path:
    """Growth of 1 for buy-and-hold and for trading on the predicted sign."""
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(curve.index, curve["buy_and_hold"], label="buy and hold")
    ax.plot(curve.index, curve["trade_on_sign"], label="long when the model predicts up, else flat")
    ax.set_ylabel("growth of 1")
    ax.set_title(f"{ticker}: cumulative return on the held-out period (no costs)")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return _save(fig, path)


def metrics_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The comparison as a table (one row per predictor)."""
    table = pd.DataFrame(metrics).T[["mae", "rmse", "r2", "directional_accuracy", "n"]]
    table.index.name = "predictor"
    return table
