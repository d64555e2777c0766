"""Too good to be true, judged against what the same series allows.

A fixed ceiling on held-out R² cannot work: an honest AR(0.3) return series legitimately allows an R² near 0.09
from its own past, while for a liquid stock's returns (no autocorrelation) 0.06 is far beyond anything honest.
So the bar is learned from the run's own data:

* **what the series allows** — an autoregression (OLS of the target on ``ret_1d``, ``ret_lag_1..k``) fitted on
  the training rows and scored on the held-out days; when it does no better there than the training mean, the
  series allows nothing beyond that mean (R² 0, the training period's majority direction);
* **what chance allows** — the model's departures from that benchmark, block-shuffled so that they carry no
  information about the target, added back to the benchmark and scored on the same days; the ``quantile`` of
  those draws is as far as luck moves a forecast this volatile.

A model whose held-out R² or directional accuracy is beyond both beats its own series' past by more than luck
explains; for daily returns that almost always means a feature sees the future. No refit: the draws reuse the
held-out predictions, so the check costs milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.features.build import TARGET
from aapl_lib.modeling.metrics import directional_accuracy, regression_metrics

_LAG = re.compile(r"^ret_lag_(\d+)$")
METHOD = "block-shuffled departures from the series benchmark"


def autoregression_columns(columns: list[str] | pd.Index) -> list[str]:
    """The lagged-return columns the features frame already has: ``ret_1d`` then ``ret_lag_1..k`` in lag
    order (the series' own past, nothing else)."""
    lags = sorted((c for c in columns if _LAG.match(c)), key=lambda c: int(_LAG.match(c).group(1)))
    return (["ret_1d"] if "ret_1d" in columns else []) + lags


def autoregression_forecast(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Held-out predictions of an OLS autoregression (intercept plus ``columns``) fitted on the training rows
    only, so the benchmark sees no more of the future than the model did."""
    X = np.column_stack([np.ones(len(train)), train[columns].to_numpy(float)])
    beta, *_ = np.linalg.lstsq(X, train[TARGET].to_numpy(float), rcond=None)
    return np.column_stack([np.ones(len(test)), test[columns].to_numpy(float)]) @ beta


def series_benchmark(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """What the series' own past predicts on the held-out days. ``predictions`` is the autoregression's when
    its held-out R² is positive, else the training mean (an autoregression that loses to the mean shows the
    series allows nothing beyond it)."""
    train_mean = float(train[TARGET].mean())
    actual = test[TARGET].to_numpy(float)
    columns = autoregression_columns(list(test.columns))
    mean_forecast = np.full(len(test), train_mean)
    ar = None
    if columns and len(train) > len(columns) + 1:
        ar_pred = autoregression_forecast(train, test, columns)
        scored = regression_metrics(actual, ar_pred, benchmark=train_mean)
        ar = {"r2": scored["r2"], "directional_accuracy": scored["directional_accuracy"]}
    use_ar = ar is not None and ar["r2"] > 0
    predictions = ar_pred if use_ar else mean_forecast
    da = directional_accuracy(actual, predictions)
    return {
        "name": "autoregression" if use_ar else "training mean",
        "columns": columns,
        "fitted_on": "training rows",
        "autoregression": ar,
        "r2": ar["r2"] if use_ar else 0.0,
        # a forecast without a sign (a zero training mean) calls nothing: half the days, as a coin would
        "directional_accuracy": 0.5 if da is None else da,
        "predictions": predictions,
        "train_mean": train_mean,
    }


def block_shuffles(n: int, block_days: int, draws: int, seed: int) -> np.ndarray:
    """``draws`` permutations of ``range(n)`` (one per row) that keep runs of ``block_days`` consecutive days
    together: the days are rotated by a random offset, cut into blocks and the blocks put in a random order.
    Blocks keep the short-range autocorrelation that a day-by-day shuffle would destroy."""
    rng = np.random.default_rng(seed)
    block = max(1, min(block_days, n))
    blocks = -(-n // block)
    # the days as a (blocks x block) grid, the last block padded with -1 where n is not a multiple of block
    grid = np.full(blocks * block, -1)
    grid[:n] = np.arange(n)
    grid = grid.reshape(blocks, block)
    order = rng.random((draws, blocks)).argsort(axis=1)  # each draw's order of the blocks
    drawn = grid[order].reshape(draws, -1)
    drawn = drawn[drawn >= 0].reshape(draws, n)  # every row loses the same padding
    return (drawn + rng.integers(0, n, size=(draws, 1))) % n  # a random rotation: block edges move too


def chance_scores(
    actual: np.ndarray, predicted: np.ndarray, reference: np.ndarray, train_mean: float, shuffles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-sample R² and directional accuracy of ``reference + shuffled(predicted - reference)`` for each
    row of ``shuffles``: forecasts as volatile as the model's whose departures from the benchmark carry no
    information about the target."""
    actual, predicted, reference = (np.asarray(x, float) for x in (actual, predicted, reference))
    drawn = reference + (predicted - reference)[shuffles]
    sse_mean = float(np.sum((actual - train_mean) ** 2))
    r2 = 1 - np.sum((actual - drawn) ** 2, axis=1) / sse_mean if sse_mean > 0 else np.zeros(len(drawn))
    called = (actual != 0) & (drawn != 0)  # as directional_accuracy: days without a sign are left out
    hits = np.sum((np.sign(actual) == np.sign(drawn)) & called, axis=1)
    da = np.divide(hits, called.sum(axis=1), out=np.full(len(drawn), 0.5), where=called.sum(axis=1) > 0)
    return r2, da


def _percentile(quantile: float) -> str:
    value = 100 * quantile
    return f"{value:.0f}th" if value == round(value) else f"{value:g}th"


def judge(model: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Reasons the model's held-out R² or directional accuracy is beyond what the series and chance allow
    (empty: plausible). ``record`` is :func:`assess`'s output; each reason says what it was judged against."""
    series, chance, limit = record["series_benchmark"], record["chance"], record["thresholds"]
    against = (
        f"{_percentile(chance['quantile'])} percentile of {chance['draws']} block-shuffled draws, seed {chance['seed']}"
    )
    own = (
        "its own autoregression"
        if series["name"] == "autoregression"
        else "its training mean: its own autoregression does no better"
    )
    reasons = []
    r2 = model.get("r2")
    if r2 is not None and np.isfinite(r2) and r2 > limit["r2"]:
        reasons.append(
            f"held-out R² {r2:.3f} is above what this series allows: {series['r2']:.3f} ({own}) + "
            f"{chance['r2']:.3f} ({against})"
        )
    da = model.get("directional_accuracy")
    if da is not None and da > limit["directional_accuracy"]:
        reasons.append(
            f"held-out directional accuracy {100 * da:.1f} % is above what this series allows: "
            f"{100 * series['directional_accuracy']:.1f} % ({own}) + {100 * chance['directional_accuracy']:.1f} "
            f"pp ({against})"
        )
    return reasons


def explain(series: dict[str, Any], chance: dict[str, Any]) -> str:
    """What the plausibility check judged against and why, in two sentences."""
    return (
        "The series allows what its own past predicts: an OLS autoregression on "
        f"{', '.join(series['columns']) or 'no lagged returns'} fitted on the training rows and scored on the "
        "held-out days (or the training mean, when the autoregression does no better there). Chance allows the "
        f"{_percentile(chance['quantile'])} percentile of {chance['draws']} draws in which the model's departures "
        f"from that benchmark are shuffled in {chance['block_days']}-day blocks (seed {chance['seed']}), so that "
        "they carry no information about the target; a model beyond both beats its series' own past by more "
        "than luck explains."
    )


def verdict_record(model: dict[str, Any], series: dict[str, Any], chance: dict[str, Any]) -> dict[str, Any]:
    """The plausibility record from the model's held-out scores, the series benchmark's and chance's allowance
    (``chance["r2"]``, ``chance["directional_accuracy"]``): thresholds = series + chance, and the verdict."""
    record: dict[str, Any] = {
        "method": METHOD,
        "explanation": explain(series, chance),
        "series_benchmark": series,
        "chance": chance,
        "thresholds": {
            "r2": series["r2"] + chance["r2"],
            "directional_accuracy": series["directional_accuracy"] + chance["directional_accuracy"],
        },
        "model": {"r2": model.get("r2"), "directional_accuracy": model.get("directional_accuracy")},
    }
    reasons = judge(record["model"], record)
    return {"implausible": bool(reasons), "reasons": reasons, **record}


def assess(
    predictions: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    quantile: float = 0.99,
    draws: int = 500,
    block_days: int = 5,
    seed: int = 42,
) -> dict[str, Any]:
    """The plausibility record of evaluation.json: the series benchmark, the chance draws and the thresholds
    they imply, the model's held-out scores and the verdict. ``predictions`` holds ``actual`` and ``model``
    on the held-out days ``test``; ``train`` holds the training rows (the benchmark is fitted on them only)."""
    actual = predictions["actual"].to_numpy(float)
    predicted = predictions["model"].to_numpy(float)
    series = series_benchmark(train, test)
    shuffles = block_shuffles(len(actual), block_days, draws, seed)
    r2_draws, da_draws = chance_scores(actual, predicted, series["predictions"], series["train_mean"], shuffles)
    # chance adds what the quantile of the draws reaches beyond the benchmark itself (never less than nothing)
    chance = {
        "draws": int(draws),
        "seed": int(seed),
        "block_days": int(block_days),
        "quantile": float(quantile),
        "r2": max(0.0, float(np.quantile(r2_draws, quantile)) - series["r2"]),
        "directional_accuracy": max(0.0, float(np.quantile(da_draws, quantile)) - series["directional_accuracy"]),
    }
    scored = regression_metrics(actual, predicted, benchmark=series["train_mean"])
    public = {k: v for k, v in series.items() if k not in ("predictions", "train_mean")}
    return verdict_record(scored, public, chance)
