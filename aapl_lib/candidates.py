"""Candidate models and naive baselines, built from params (scikit-learn estimator conventions: fit/predict,
no hidden state, seeds explicit).

Baselines need no fitting: ``zero_return`` (a random walk), ``last_return`` (tomorrow repeats today) and
``rolling_mean`` (the mean of the last ``max(windows)`` daily returns, a feature already computed up to day t).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

CANDIDATES = ("linear", "ridge", "gradient_boosting")
BASELINES = {
    "zero_return": "predicts 0 % every day (a random walk)",
    "last_return": "predicts that tomorrow repeats today's return",
    "rolling_mean": "predicts the mean of the last N daily returns",
}


def hyperparameters(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of candidate ``name`` taken from params."""
    if name == "linear":
        return {}
    if name == "ridge":
        return {"alpha": params["ridge_alpha"]}
    if name == "gradient_boosting":
        return {"n_estimators": params["gb_n_estimators"], "max_depth": params["gb_max_depth"],
                "learning_rate": params["gb_learning_rate"], "subsample": params["gb_subsample"]}
    raise ValueError(f"unknown candidate {name!r}: use one of {', '.join(CANDIDATES)}")


def make_candidate(name: str, params: dict[str, Any]) -> Pipeline:
    """StandardScaler + the named regressor, seeded with ``params['random_seed']``."""
    hp = hyperparameters(name, params)
    seed = params["random_seed"]
    if name == "linear":
        regressor = LinearRegression()
    elif name == "ridge":
        regressor = Ridge(random_state=seed, **hp)
    else:
        regressor = GradientBoostingRegressor(random_state=seed, **hp)
    return Pipeline([("scaler", StandardScaler()), ("regressor", regressor)])


def rolling_feature(features: list[str] | pd.Index) -> str:
    """The rolling-mean feature the ``rolling_mean`` baseline uses (the longest window)."""
    windows = [int(f.split("_")[2][:-1]) for f in features if f.startswith("ret_mean_")]
    return f"ret_mean_{max(windows)}d"


def baseline_predictions(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each baseline's prediction for ``frame``'s rows (from information up to each day only)."""
    return {"zero_return": np.zeros(len(frame)),
            "last_return": frame["ret_1d"].to_numpy(),
            "rolling_mean": frame[rolling_feature(frame.columns)].to_numpy()}
