"""Walk-forward comparison of every candidate with the naive baselines on the training period.

Expanding-window folds (scikit-learn's ``TimeSeriesSplit`` with ``gap`` = the target horizon): each fold
trains on all rows before its test block, never on later ones. Per-fold and pooled MAE, RMSE, R² and
directional accuracy (R² out-of-sample, against each fold's training mean); on the pooled predictions a
Diebold–Mariano test of each predictor against the zero return and against the best naive baseline, and a
Pesaran–Timmermann test of its direction calls against chance, next to the ``always_up`` baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import TimeSeriesSplit

from aapl_lib.features.build import TARGET
from aapl_lib.formatting import metrics_frame
from aapl_lib.modeling.candidates import BASELINES, baseline_predictions, hyperparameters, make_candidate
from aapl_lib.modeling.metrics import regression_metrics
from aapl_lib.modeling.significance import predictor_tests


def _window(index: pd.Index) -> dict[str, str]:
    return {"first": f"{index.min():%Y-%m-%d}", "last": f"{index.max():%Y-%m-%d}"}


def walk_forward(
    dev: pd.DataFrame, features: list[str], candidates: list[str], params: dict[str, Any], folds: int = 5, gap: int = 1
) -> dict[str, Any]:
    """Compare ``candidates`` and the baselines over expanding-window folds of ``dev`` (labelled rows)."""
    dev = dev.sort_index()
    splitter = TimeSeriesSplit(n_splits=folds, gap=gap)
    fold_info, per_fold = [], []
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in [*BASELINES, *candidates]}
    actual_all: list[np.ndarray] = []
    train_means: list[np.ndarray] = []
    for k, (train_idx, test_idx) in enumerate(splitter.split(dev), 1):
        train, test = dev.iloc[train_idx], dev.iloc[test_idx]
        fold_info.append(
            {
                "fold": k,
                "train_rows": len(train),
                "test_rows": len(test),
                "train_window": _window(train.index),
                "test_window": _window(test.index),
            }
        )
        preds = baseline_predictions(test, train[TARGET])
        for name in candidates:
            model = make_candidate(name, params).fit(train[features].to_numpy(), train[TARGET].to_numpy())
            preds[name] = model.predict(test[features].to_numpy())
        actual = test[TARGET].to_numpy()
        actual_all.append(actual)
        train_means.append(np.full(len(test), float(train[TARGET].mean())))
        for name, pred in preds.items():
            pooled[name].append(pred)
            per_fold.append(
                {"fold": k, "predictor": name, **regression_metrics(actual, pred, benchmark=train_means[-1])}
            )
    actual = np.concatenate(actual_all)
    benchmark = np.concatenate(train_means)
    joined = {name: np.concatenate(parts) for name, parts in pooled.items()}
    summary = {name: regression_metrics(actual, pred, benchmark=benchmark) for name, pred in joined.items()}
    best_baseline = min(BASELINES, key=lambda b: summary[b]["rmse"])
    for name, pred in joined.items():
        summary[name].update(predictor_tests(actual, pred, joined, best_baseline, name))
        summary[name]["kind"] = "baseline" if name in BASELINES else "candidate"
    challenger = min(candidates, key=lambda c: summary[c]["rmse"])
    return {
        "folds": fold_info,
        "per_fold": per_fold,
        "pooled": summary,
        "best_baseline": best_baseline,
        "challenger": challenger,
        "candidates": list(candidates),
        "hyperparameters": {c: hyperparameters(c, params) for c in candidates},
        "gap_rows": gap,
    }


def comparison_table(report: dict[str, Any]) -> pd.DataFrame:
    """Pooled walk-forward metrics and p-values, one row per predictor, best RMSE first, formatted to read."""
    return metrics_frame(report["pooled"])


def folds_table(report: dict[str, Any]) -> pd.DataFrame:
    """Per-fold RMSE of every predictor (columns) with each fold's windows, formatted to read."""
    per = pd.DataFrame(report["per_fold"]).pivot(index="fold", columns="predictor", values="rmse")
    per = per.map(lambda x: f"{100 * x:.3f} %")
    info = pd.DataFrame(
        [
            {
                "fold": f["fold"],
                "train": f"{f['train_window']['first']}..{f['train_window']['last']}",
                "test": f"{f['test_window']['first']}..{f['test_window']['last']}",
            }
            for f in report["folds"]
        ]
    )
    return info.set_index("fold").join(per)
