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


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, R² and directional accuracy, as plain floats."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)),
        "directional_accuracy": directional_accuracy(y_true, y_pred),
        "n": int(len(y_true)),
    }
