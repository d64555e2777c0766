"""Step 4: a chronological train/test split, the challenger chosen walk-forward and fitted (saving and
loading it: :mod:`aapl_lib.modeling.persistence`).

Estimator conventions: no hidden state, seeds explicit. The split holds out the newest ``test_fraction``
of the labelled rows, with a gap of one row (the target horizon) between the last training row and the
first test row, so no training target overlaps a test day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from aapl_lib.errors import DataQualityError
from aapl_lib.features.build import TARGET
from aapl_lib.modeling.metrics import regression_metrics
from aapl_lib.modeling.persistence import library_versions
from aapl_lib.pipeline.parameters import default

HORIZON = 1  # trading days between a feature row and the return it predicts


@dataclass(frozen=True)
class Split:
    """Row positions of a chronological split of the labelled rows."""

    train: pd.DataFrame
    test: pd.DataFrame
    gap_rows: int

    def describe(self) -> dict[str, Any]:
        """Sizes and windows, JSON-ready."""
        return {
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "gap_rows": self.gap_rows,
            "train_window": _window(self.train),
            "test_window": _window(self.test),
        }


def split_table(split: Split) -> pd.DataFrame:
    """The split as a small table to read: rows and first/last day of training and test."""
    return pd.DataFrame(
        [
            {
                "part": part,
                "rows": len(frame),
                "first day": f"{frame.index.min():%Y-%m-%d}",
                "last day": f"{frame.index.max():%Y-%m-%d}",
            }
            for part, frame in (("training", split.train), ("test (held out)", split.test))
        ]
    ).set_index("part")


def _window(frame: pd.DataFrame) -> dict[str, str]:
    return {"first": f"{frame.index.min():%Y-%m-%d}", "last": f"{frame.index.max():%Y-%m-%d}"}


def chronological_split(
    features: pd.DataFrame,
    test_fraction: float = default("test_fraction"),
    *,
    gap: int = HORIZON,
    min_train_rows: int = default("min_train_rows"),
) -> Split:
    """Split the labelled rows (target not NaN) by time: oldest for training, newest ``test_fraction``
    for testing, ``gap`` rows dropped between them. Never shuffles."""
    labelled = features[features[TARGET].notna()].sort_index()
    n_test = max(int(round(len(labelled) * test_fraction)), 1)
    n_train = len(labelled) - n_test - gap
    if n_train < min_train_rows or n_test < 20:
        raise DataQualityError(
            f"{len(labelled)} labelled rows are too few: training needs at least "
            f"{min_train_rows} rows and the test period 20 (got {max(n_train, 0)} and "
            f"{n_test}); widen the window (-p start / -p end)"
        )
    return Split(train=labelled.iloc[:n_train], test=labelled.iloc[n_train + gap :], gap_rows=gap)


def train_model(
    split: Split, features: list[str], name: str, params: dict[str, Any]
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit candidate ``name`` on the training rows only. Returns ``(fitted, in_sample_metrics)``."""
    from aapl_lib.modeling.candidates import make_candidate

    estimator = make_candidate(name, params)
    X, y = split.train[features].to_numpy(), split.train[TARGET].to_numpy()
    estimator.fit(X, y)
    return estimator, regression_metrics(y, estimator.predict(X))


def feature_importance(estimator: Pipeline, features: list[str]) -> pd.Series:
    """Standardised coefficients (linear models) or impurity importances (trees), largest first."""
    regressor = estimator.named_steps["regressor"]
    values = getattr(regressor, "coef_", None)
    if values is None:
        values = regressor.feature_importances_
    series = pd.Series(values, index=features, name="coefficient" if hasattr(regressor, "coef_") else "importance")
    return series.reindex(series.abs().sort_values(ascending=False).index)


def model_metadata(
    *,
    ticker: str,
    features: list[str],
    split: Split,
    name: str,
    params: dict[str, Any],
    in_sample: dict[str, Any],
    sha256: str,
    model_file: str,
) -> dict[str, Any]:
    """Everything a reviewer needs to know about a saved model."""
    from aapl_lib.modeling.candidates import hyperparameters

    return {
        "ticker": ticker,
        "model_file": model_file,
        "sha256": sha256,
        "estimator": name,
        "hyperparameters": hyperparameters(name, params),
        "random_seed": params["random_seed"],
        "features": features,
        "target": TARGET,
        "target_definition": "close[t+1] / close[t] - 1 (next trading day's return)",
        "split": split.describe(),
        "test_fraction": params["test_fraction"],
        "in_sample_metrics": in_sample,
        "library_versions": library_versions(),
        # no timestamp here: the same data and params give a byte-identical file (the manifest has the time)
    }


def held_out_rows(features: pd.DataFrame, model_meta: dict[str, Any]) -> pd.DataFrame:
    """The labelled rows of the test window recorded in ``model_meta`` (the same rows training held out)."""
    window = model_meta["split"]["test_window"]
    labelled = features[features[TARGET].notna()]
    rows = labelled.loc[window["first"] : window["last"]]
    if len(rows) != model_meta["split"]["test_rows"]:
        raise DataQualityError(
            f"the features hold {len(rows)} rows in the test window {window['first']}.."
            f"{window['last']} but training held out {model_meta['split']['test_rows']}: "
            "features changed after training; re-run model_training"
        )
    return rows


def training_rows(features: pd.DataFrame, model_meta: dict[str, Any]) -> pd.DataFrame:
    """The labelled rows of the training window recorded in ``model_meta`` (what the baselines may learn from:
    ``always_up``'s direction and the training mean that out-of-sample R² is measured against)."""
    window = model_meta["split"]["train_window"]
    labelled = features[features[TARGET].notna()]
    return labelled.loc[window["first"] : window["last"]]


def check_chronology(split: Split, estimator: Pipeline, features: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    """The leakage guard's chronology check for this split and fitted pipeline (raises LeakageError)."""
    from aapl_lib.features import leakage

    labelled = features.index[features[TARGET].notna()]
    report = leakage.chronology(
        split.train.index,
        split.test.index,
        labelled,
        HORIZON,
        estimator.named_steps["scaler"].mean_,
        split.train[names].mean().to_numpy(),
    )
    leakage.enforce(report)
    return report
