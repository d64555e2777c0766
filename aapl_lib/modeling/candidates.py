"""Candidate models and naive baselines, built from params (scikit-learn estimator conventions: fit/predict,
no hidden state, seeds explicit).

Baselines need no model: ``zero_return`` (a random walk), ``last_return`` (tomorrow repeats today),
``rolling_mean`` (the mean of the last ``max(windows)`` daily returns, a feature already computed up to day t)
and ``always_up`` (the training period's majority direction every day, sized by the training mean return: in
a rising market it calls the direction right more than half the time without any skill).
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
    "always_up": "predicts the training period's majority direction every day (sized by its mean return)",
}


def hyperparameters(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of candidate ``name`` taken from params."""
    if name == "linear":
        return {}
    if name == "ridge":
        return {"alpha": params["ridge_alpha"]}
    if name == "gradient_boosting":
        return {
            "n_estimators": params["gb_n_estimators"],
            "max_depth": params["gb_max_depth"],
            "learning_rate": params["gb_learning_rate"],
            "subsample": params["gb_subsample"],
        }
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


def describe_baselines(features: list[str] | pd.Index) -> dict[str, str]:
    """Each baseline's description, with the rolling-mean baseline's window named."""
    window = rolling_feature(features).split("_")[2][:-1]
    return {**BASELINES, "rolling_mean": f"predicts the mean of the last {window} daily returns"}


def always_up_value(train_target: pd.Series | np.ndarray) -> float:
    """The ``always_up`` baseline's constant: the sign of the training period's majority direction times the
    size of its mean return (the mean itself when the two agree, as they usually do)."""
    y = np.asarray(train_target, float)
    y = y[~np.isnan(y)]
    majority = 1.0 if (y > 0).sum() >= (y < 0).sum() else -1.0
    return majority * max(abs(float(y.mean())), 1e-12)


def baseline_predictions(frame: pd.DataFrame, train_target: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    """Each baseline's prediction for ``frame``'s rows, from information up to each day and from the
    training period's targets (``train_target``) only."""
    return {
        "zero_return": np.zeros(len(frame)),
        "last_return": frame["ret_1d"].to_numpy(),
        "rolling_mean": frame[rolling_feature(frame.columns)].to_numpy(),
        "always_up": np.full(len(frame), always_up_value(train_target)),
    }
