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
from .candidates import BASELINES, baseline_predictions  # noqa: E402
from .significance import diebold_mariano, direction_test  # noqa: E402

TRADING_DAYS = 252


def predictions_table(estimator, test: pd.DataFrame, features: list[str], champion=None,
                      champion_features: list[str] | None = None) -> pd.DataFrame:
    """Actual next-day return, the challenger's prediction, each baseline's and (when there is one) the
    champion's, one row per held-out day."""
    table = pd.DataFrame({"actual": test[TARGET].to_numpy(),
                          "model": estimator.predict(test[features].to_numpy())}, index=test.index)
    for name, pred in baseline_predictions(test).items():
        table[name] = pred
    if champion is not None:
        table["champion"] = champion.predict(test[champion_features or features].to_numpy())
    return table


def compare(predictions: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Metrics of every predictor on the same days, with a Diebold–Mariano test against the zero return and
    against the best naive baseline, and a binomial test of directional accuracy."""
    actual = predictions["actual"].to_numpy()
    names = [c for c in predictions.columns if c != "actual"]
    out = {name: regression_metrics(actual, predictions[name]) for name in names}
    best = min(BASELINES, key=lambda b: out[b]["rmse"])
    for name in names:
        pred = predictions[name].to_numpy()
        out[name]["dm_vs_zero_return_p"] = (None if name == "zero_return" else
                                            diebold_mariano(actual, pred, predictions["zero_return"])["p_value_a_better"])
        out[name]["dm_vs_best_baseline_p"] = (None if name == best else
                                              diebold_mariano(actual, pred, predictions[best])["p_value_a_better"])
        out[name]["direction_p"] = direction_test(actual, pred)["p_value"]
        out[name]["kind"] = "baseline" if name in BASELINES else name if name == "champion" else "challenger"
    return out


def best_baseline(metrics: dict[str, Any]) -> str:
    """Name of the naive baseline with the lowest RMSE."""
    return min((b for b in BASELINES if b in metrics), key=lambda b: metrics[b]["rmse"])


def verdict(metrics: dict[str, dict[str, Any]]) -> str:
    """One honest sentence: does the model beat doing nothing, and the best naive baseline?"""
    model, zero = metrics["model"], metrics["zero_return"]
    best = best_baseline(metrics)
    change = (model["rmse"] - zero["rmse"]) / zero["rmse"]
    da = model["directional_accuracy"]
    da_text = f"{100 * da:.1f} %" if da is not None else "n/a"
    if change < -0.005:
        head = f"The model's RMSE is {100 * -change:.1f} % lower than always predicting a zero return"
    elif change > 0.005:
        head = f"The model's RMSE is {100 * change:.1f} % higher than always predicting a zero return"
    else:
        head = "The model's RMSE is within 0.5 % of always predicting a zero return"
    p = model.get("dm_vs_zero_return_p")
    sig = f", Diebold-Mariano p = {p:.2f} for 'better than zero'" if p is not None else ""
    direction = (f"; it calls the direction right on {da_text} of test days (binomial p = "
                 f"{model['direction_p']:.2f})" if model.get("direction_p") is not None else "")
    return (f"{head} (R² {model['r2']:+.4f}{sig}; best naive baseline: {best}){direction}. Daily returns are "
            "close to unpredictable: treat any edge this small as noise until it holds out of sample over a "
            "long period.")


def metrics_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The comparison as a table (one row per predictor), with p-values."""
    table = pd.DataFrame(metrics).T[["kind", "mae", "rmse", "r2", "directional_accuracy", "dm_vs_zero_return_p",
                                  "dm_vs_best_baseline_p", "direction_p", "n"]]
    table.index.name = "predictor"
    return table


def _strategy(actual: np.ndarray, position: np.ndarray, cost: float) -> np.ndarray:
    changes = np.abs(np.diff(np.concatenate([[0.0], position])))
    return position * actual - cost * changes


def backtest(predictions: pd.DataFrame, cost_bps: float = 0.0) -> pd.DataFrame:
    """Daily returns of buy-and-hold and of trading on the predicted sign: long/flat (long when a rise is
    predicted) and long/short, each paying ``cost_bps`` per unit of position change."""
    actual = predictions["actual"].to_numpy()
    pred = predictions["model"].to_numpy()
    cost = cost_bps / 1e4
    positions = {"buy_and_hold": np.ones(len(actual)), "long_flat": (pred > 0).astype(float),
                 "long_short": np.sign(pred)}
    frame = pd.DataFrame({name: _strategy(actual, pos, cost) for name, pos in positions.items()},
                         index=predictions.index)
    for name, pos in positions.items():
        frame[f"{name}_position"] = pos
    return frame


def backtest_summary(daily: pd.DataFrame, cost_bps: float = 0.0) -> dict[str, Any]:
    """Cumulative return, annualised Sharpe, max drawdown and turnover of each strategy."""
    out: dict[str, Any] = {"transaction_cost_bps": cost_bps,
                           "caveat": "in-sample research backtest on the held-out period: no slippage, no "
                                     "borrowing costs, close-to-close fills; not a trading record"}
    for name in ("buy_and_hold", "long_flat", "long_short"):
        r = daily[name].to_numpy()
        equity = np.cumprod(1 + r)
        peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
        sd = r.std(ddof=1) if len(r) > 1 else 0.0
        pos = daily[f"{name}_position"].to_numpy()
        out[name] = {"cumulative_return": float(equity[-1] - 1),
                     "sharpe_annualised": float(r.mean() / sd * np.sqrt(TRADING_DAYS)) if sd > 0 else None,
                     "max_drawdown": float((equity / peak - 1).min()),
                     "turnover_per_day": float(np.abs(np.diff(np.concatenate([[0.0], pos]))).mean()),
                     "days_long": float((pos > 0).mean())}
    return out


def backtest_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The backtest summary as a table."""
    rows = {k: v for k, v in summary.items() if isinstance(v, dict)}
    return pd.DataFrame(rows).T


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


def plot_cumulative(daily: pd.DataFrame, path: str | Path, ticker: str, cost_bps: float = 0.0) -> Path:
    """Growth of 1 for buy-and-hold and for trading on the predicted sign (long/flat and long/short)."""
    fig, ax = plt.subplots(figsize=(11, 4))
    labels = {"buy_and_hold": "buy and hold", "long_flat": "long when the model predicts up, else flat",
              "long_short": "long when up, short when down"}
    for name, label in labels.items():
        ax.plot(daily.index, (1 + daily[name]).cumprod(), label=label)
    ax.set_ylabel("growth of 1")
    ax.set_title(f"{ticker}: cumulative return on the held-out period (costs {cost_bps:g} bps per trade)")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return _save(fig, path)
