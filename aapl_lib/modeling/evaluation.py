"""Step 5: the trained model on the held-out period against naive baselines, a trade-on-sign backtest and the
next trading day's forecast, with tables to read them (the figures: ``modeling/evaluation_plots.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.data.trading_calendar import next_trading_day
from aapl_lib.features.build import TARGET
from aapl_lib.formatting import backtest_rows, metrics_frame, pct, pvalue
from aapl_lib.modeling.candidates import BASELINES, baseline_predictions
from aapl_lib.modeling.metrics import R2_DEFINITION, regression_metrics  # noqa: F401 (R2_DEFINITION: for notebooks)
from aapl_lib.modeling.plausibility import assess as plausibility  # noqa: F401 (notebook 05: too good to be true?)
from aapl_lib.modeling.significance import diebold_mariano, predictor_tests, sharpe_standard_error

TRADING_DAYS = 252


def predictions_table(
    estimator,
    test: pd.DataFrame,
    features: list[str],
    train_target: pd.Series,
    champion=None,
    champion_features: list[str] | None = None,
) -> pd.DataFrame:
    """Actual next-day return, the challenger's prediction, each baseline's and (when there is one) the
    champion's, one row per held-out day. ``train_target`` (the training rows' targets) sizes ``always_up``."""
    table = pd.DataFrame(
        {"actual": test[TARGET].to_numpy(), "model": estimator.predict(test[features].to_numpy())}, index=test.index
    )
    for name, pred in baseline_predictions(test, train_target).items():
        table[name] = pred
    if champion is not None:
        table["champion"] = champion.predict(test[champion_features or features].to_numpy())
    return table


def compare(predictions: pd.DataFrame, train_mean: float) -> dict[str, dict[str, Any]]:
    """Metrics of every predictor on the same days (R² out-of-sample against ``train_mean``, the training
    period's mean return), with Diebold–Mariano tests against the zero return and the best naive baseline,
    and the Pesaran–Timmermann test of direction calls against chance; with a champion, the challenger's
    one-sided Diebold–Mariano p-value of "more accurate than the champion" (``dm_vs_champion_p``)."""
    actual = predictions["actual"].to_numpy()
    names = [c for c in predictions.columns if c != "actual"]
    out = {name: regression_metrics(actual, predictions[name], benchmark=train_mean) for name in names}
    best = min(BASELINES, key=lambda b: out[b]["rmse"])
    columns = {name: predictions[name].to_numpy() for name in names}
    for name in names:
        out[name].update(predictor_tests(actual, columns[name], columns, best, name))
        out[name]["kind"] = "baseline" if name in BASELINES else name if name == "champion" else "challenger"
    if "champion" in columns:  # the gate's champion check: a loss differential on the same days, not raw RMSEs
        dm = diebold_mariano(actual, columns["model"], columns["champion"])
        out["model"]["dm_vs_champion_p"] = dm["p_value_a_better"]
    return out


def best_baseline(metrics: dict[str, Any]) -> str:
    """Name of the naive baseline with the lowest RMSE."""
    return min((b for b in BASELINES if b in metrics), key=lambda b: metrics[b]["rmse"])


def verdict(metrics: dict[str, dict[str, Any]], plausible: dict[str, Any] | None = None) -> str:
    """One honest sentence: does the model beat doing nothing, the best naive baseline and always_up?"""
    model, zero = metrics["model"], metrics["zero_return"]
    best = best_baseline(metrics)
    change = (model["rmse"] - zero["rmse"]) / zero["rmse"]
    if change < -0.005:
        head = f"The model's RMSE is {100 * -change:.1f} % lower than always predicting a zero return"
    elif change > 0.005:
        head = f"The model's RMSE is {100 * change:.1f} % higher than always predicting a zero return"
    else:
        head = "The model's RMSE is within 0.5 % of always predicting a zero return"
    p = model.get("dm_vs_zero_return_p")
    sig = f", Diebold-Mariano p = {p:.2f} for 'better than zero'" if p is not None else ""
    direction = ""
    if model.get("directional_accuracy") is not None:
        up = metrics.get("always_up", {}).get("directional_accuracy")
        chance = model.get("direction_chance")
        direction = (
            f"; it calls the direction right on {pct(model['directional_accuracy'], 1)} of test days"
            + (
                f" against {pct(up, 1)} for always predicting the training period's majority direction"
                if up is not None
                else ""
            )
            + (
                f" and a chance level of {pct(chance, 1)} (Pesaran-Timmermann p = {pvalue(model.get('direction_p'))})"
                if chance is not None
                else ""
            )
        )
    warning = ""
    if plausible and plausible["implausible"]:
        warning = (
            "IMPLAUSIBLE: " + "; ".join(plausible["reasons"]) + ". Beating the series' own past by more than "
            "luck explains almost always means a feature sees the future; it is not promoted automatically. "
        )
    return (
        f"{warning}{head} (out-of-sample R² {model['r2']:+.4f} against the training mean{sig}; best naive "
        f"baseline: {best}){direction}. Daily returns are close to unpredictable: treat any edge this small "
        "as noise until it holds out of sample over a long period."
    )


def metrics_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The comparison as a table to read (one row per predictor, lowest RMSE first), with p-values."""
    return metrics_frame(metrics)


def _strategy(actual: np.ndarray, position: np.ndarray, cost: float) -> np.ndarray:
    changes = np.abs(np.diff(np.concatenate([[0.0], position])))
    return position * actual - cost * changes


def backtest(predictions: pd.DataFrame, cost_bps: float = 0.0) -> pd.DataFrame:
    """Daily returns of buy-and-hold and of trading on the predicted sign: long/flat (long when a rise is
    predicted) and long/short, each paying ``cost_bps`` per unit of position change."""
    actual = predictions["actual"].to_numpy()
    pred = predictions["model"].to_numpy()
    cost = cost_bps / 1e4
    positions = {
        "buy_and_hold": np.ones(len(actual)),
        "long_flat": (pred > 0).astype(float),
        "long_short": np.sign(pred),
    }
    frame = pd.DataFrame(
        {name: _strategy(actual, pos, cost) for name, pos in positions.items()}, index=predictions.index
    )
    for name, pos in positions.items():
        frame[f"{name}_position"] = pos
    return frame


def backtest_caveat(cost_bps: float) -> str:
    """What the backtest is and is not, in one sentence."""
    return (
        f"a research backtest of the challenger on the held-out period (days it was not trained on): "
        f"positions from its predicted sign, close-to-close fills, {cost_bps:g} bps per unit of position "
        "change; no slippage, borrowing costs or taxes; Sharpe ratios with 95 % intervals from their "
        "standard errors (Lo, 2002), so overlapping intervals cannot be told apart; not a trading record"
    )


def backtest_summary(daily: pd.DataFrame, cost_bps: float = 0.0) -> dict[str, Any]:
    """Cumulative return, annualised Sharpe with its standard error and 95 % interval, max drawdown and
    turnover of each strategy."""
    out: dict[str, Any] = {"transaction_cost_bps": cost_bps, "caveat": backtest_caveat(cost_bps)}
    for name in ("buy_and_hold", "long_flat", "long_short"):
        r = daily[name].to_numpy()
        equity = np.cumprod(1 + r)
        peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
        sd = r.std(ddof=1) if len(r) > 1 else 0.0
        pos = daily[f"{name}_position"].to_numpy()
        sharpe = se = None
        if sd > 0:
            daily_sharpe = r.mean() / sd
            sharpe = float(daily_sharpe * np.sqrt(TRADING_DAYS))
            se = float(sharpe_standard_error(daily_sharpe, len(r)) * np.sqrt(TRADING_DAYS))
        out[name] = {
            "cumulative_return": float(equity[-1] - 1),
            "sharpe_annualised": sharpe,
            "sharpe_se": se,
            "sharpe_ci95": None if se is None else [sharpe - 1.96 * se, sharpe + 1.96 * se],
            "max_drawdown": float((equity / peak - 1).min()),
            "turnover_per_day": float(np.abs(np.diff(np.concatenate([[0.0], pos]))).mean()),
            "days_long": float((pos > 0).mean()),
        }
    return out


def backtest_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The backtest summary as a table to read."""
    rows = backtest_rows(summary)
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index("strategy")


def forecast(
    estimator, features_frame: pd.DataFrame, features: list[str], cleaned: pd.DataFrame, rmse: float, model: str
) -> dict[str, Any]:
    """``model``'s predicted return for the trading day after the last price row, from that row's features,
    with the held-out ``rmse`` as a rough error band.

    The forecast is always for the day after the **last price row**: when that row has no complete features
    (a feature needs data it lacks), there is no forecast and the record says why — never a forecast for a
    day that is already in the data."""
    last_price_day = cleaned.index.max()
    base = {
        "model": model,
        "last_price_date": f"{last_price_day:%Y-%m-%d}",
        "for_date": f"{next_trading_day(last_price_day):%Y-%m-%d}",
    }
    if features_frame.index.max() != last_price_day:
        missing = [f for f in features if f not in features_frame.columns]
        return {
            **base,
            "available": False,
            "predicted_return": None,
            "direction": None,
            "reason": (
                f"the last price row ({last_price_day:%Y-%m-%d}) has no complete features (the newest "
                f"feature row is {features_frame.index.max():%Y-%m-%d}"
                + (f"; missing columns {missing}" if missing else "")
                + "): no forecast is made "
                "rather than one for a day already in the data"
            ),
        }
    last = features_frame.loc[[last_price_day]]
    predicted = float(estimator.predict(last[features].to_numpy())[0])
    return {
        **base,
        "available": True,
        "predicted_return": predicted,
        "band_1rmse": [predicted - rmse, predicted + rmse],
        "direction": "up" if predicted > 0 else ("down" if predicted < 0 else "flat"),
        "caveat": (
            "A statistical estimate, not advice: on the held-out period the typical error (RMSE "
            f"{100 * rmse:.2f} %) is larger than the forecast itself ({100 * predicted:+.3f} %)."
            if abs(predicted) < rmse
            else f"A statistical estimate, not advice; the held-out RMSE was {100 * rmse:.2f} %."
        ),
    }


def forecasts(
    estimator,
    features_frame: pd.DataFrame,
    features: list[str],
    cleaned: pd.DataFrame,
    metrics: dict[str, dict[str, Any]],
    champion=None,
    champion_features: list[str] | None = None,
) -> dict[str, Any]:
    """The challenger's forecast and, when there is a comparable champion, the champion's: the report shows
    the champion's (or, without one, the challenger's labelled as not promoted) once the gate has decided."""
    out = {
        "challenger": forecast(estimator, features_frame, features, cleaned, metrics["model"]["rmse"], "challenger"),
        "champion": None,
    }
    if champion is not None and "champion" in metrics:
        out["champion"] = forecast(
            champion, features_frame, champion_features or features, cleaned, metrics["champion"]["rmse"], "champion"
        )
    out["last_price_date"] = out["challenger"]["last_price_date"]
    out["for_date"] = out["challenger"]["for_date"]
    return out


def forecasts_table(fc: dict[str, Any]) -> pd.DataFrame:
    """The forecasts side by side, formatted to read."""
    rows = {}
    for key in ("challenger", "champion"):
        f = fc.get(key)
        if f:
            rows[key] = {
                "for": f["for_date"],
                "from prices up to": f["last_price_date"],
                "predicted return": pct(f["predicted_return"], 3) if f["available"] else "n/a",
                "direction": f["direction"] or "n/a",
                "1-RMSE band": (
                    f"{pct(f['band_1rmse'][0], 2)} .. {pct(f['band_1rmse'][1], 2)}" if f["available"] else f["reason"]
                ),
            }
    return pd.DataFrame(rows).T
