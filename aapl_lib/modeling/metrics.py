"""Forecast-quality metrics shared by training and evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


def directional_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Share of days where the predicted sign equals the actual sign. Days with an actual return of exactly
    zero are left out; ``None`` when the prediction never has a sign (the zero-return baseline)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    mask = (y_true != 0) & (y_pred != 0)
    if not mask.any():
        return None
    return float(np.mean(np.sign(y_true[mask]) == np.sign(y_pred[mask])))


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, benchmark: np.ndarray | float | None = None
) -> dict[str, Any]:
    """MAE, RMSE, R² and directional accuracy, as plain floats.

    ``r2`` is **out-of-sample** R² against ``benchmark`` — the training period's mean return, the forecast one
    could make without any model (Campbell & Thompson, 2008): ``1 - SSE(model) / SSE(benchmark)``. Without a
    benchmark (in-sample metrics) it is the usual R² against the mean of ``y_true``."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if benchmark is None:
        r2 = float(r2_score(y_true, y_pred))
    else:
        base = np.broadcast_to(np.asarray(benchmark, float), y_true.shape)
        sse_base = float(np.sum((y_true - base) ** 2))
        r2 = float(1 - np.sum((y_true - y_pred) ** 2) / sse_base) if sse_base > 0 else float("nan")
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": r2,
        "directional_accuracy": directional_accuracy(y_true, y_pred),
        "n": int(len(y_true)),
    }


R2_DEFINITION = (
    "out-of-sample R² = 1 - SSE(forecast) / SSE(training-period mean return), on the same days; "
    "negative means worse than forecasting the training mean every day"
)
