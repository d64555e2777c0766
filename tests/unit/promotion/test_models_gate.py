"""Candidates, walk-forward evaluation, significance, the champion registry and the approval gate."""

from __future__ import annotations

import numpy as np
import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.features.build import build_features
from aapl_lib.modeling import training as modeling
from aapl_lib.modeling import walkforward
from aapl_lib.modeling.significance import diebold_mariano, direction_test
from aapl_lib.promotion import gate
from helpers import sample_frame

HYPER = {
    "random_seed": 42,
    "ridge_alpha": 1.0,
    "gb_n_estimators": 30,
    "gb_max_depth": 2,
    "gb_learning_rate": 0.1,
    "gb_subsample": 0.8,
}
THRESHOLDS = {"auto_min_rmse_gain_pct": 1.0, "auto_min_direction_edge_pct": 1.0, "auto_max_p_value": 0.05}


@pytest.fixture(scope="module")
def dev():
    cleaned, _ = clean_prices(sample_frame("2006-01-01", "2009-12-31"))
    feats, names = build_features(cleaned)
    split = modeling.chronological_split(feats, 0.2)
    return split.train, names


def test_walk_forward_folds_never_train_on_the_future(dev):
    frame, names = dev
    report = walkforward.walk_forward(frame, names, ["linear", "ridge", "gradient_boosting"], HYPER, folds=4, gap=1)
    assert len(report["folds"]) == 4
    index = frame.index
    for fold in report["folds"]:
        last_train, first_test = fold["train_window"]["last"], fold["test_window"]["first"]
        assert last_train < first_test
        gap = index.get_loc(np.datetime64(first_test)) - index.get_loc(np.datetime64(last_train)) - 1
        assert gap >= 1
    # expanding window: every fold trains on more rows, all starting at the first day
    assert [f["train_rows"] for f in report["folds"]] == sorted(f["train_rows"] for f in report["folds"])
    assert {f["train_window"]["first"] for f in report["folds"]} == {f"{index[0]:%Y-%m-%d}"}
    assert report["challenger"] == min(report["candidates"], key=lambda c: report["pooled"][c]["rmse"])
    assert set(report["pooled"]) == {
        "zero_return",
        "last_return",
        "rolling_mean",
        "always_up",
        "linear",
        "ridge",
        "gradient_boosting",
    }
    table = walkforward.comparison_table(report)
    assert list(table.index) == sorted(report["pooled"], key=lambda k: report["pooled"][k]["rmse"])
    assert table.loc["zero_return", "direction right"] == "n/a"  # formatted to read, no None
    assert table.loc["zero_return", "direction p"] == "n/a"  # no sign, no direction test


def test_walk_forward_is_deterministic(dev):
    frame, names = dev
    a = walkforward.walk_forward(frame, names, ["gradient_boosting"], HYPER, folds=3)
    b = walkforward.walk_forward(frame, names, ["gradient_boosting"], HYPER, folds=3)
    assert a == b
    c = walkforward.walk_forward(frame, names, ["gradient_boosting"], {**HYPER, "random_seed": 1}, folds=3)
    assert c["pooled"]["gradient_boosting"]["rmse"] != a["pooled"]["gradient_boosting"]["rmse"]


def test_significance_tests():
    rng = np.random.default_rng(0)
    actual = rng.normal(0, 0.02, 500)
    same = diebold_mariano(actual, np.zeros(500), np.zeros(500))
    assert same["p_value_a_better"] == 0.5
    good = diebold_mariano(actual, actual * 0.5, np.zeros(500))
    assert good["statistic"] < 0 and good["p_value_a_better"] < 1e-6
    bad = diebold_mariano(actual, np.zeros(500), actual * 0.5)
    assert bad["p_value_a_better"] > 0.999
    coin = direction_test(actual, rng.normal(0, 1, 500))
    assert 0.01 < coin["p_value"] < 0.99 and coin["chance_level"] == pytest.approx(0.5, abs=0.05)
    assert direction_test(actual, actual)["p_value"] < 1e-10
    assert direction_test(actual, np.zeros(500))["p_value"] is None


def _metrics(model_rmse, edge, p, dm_p=0.01, zero_rmse=0.02):
    base = {"rmse": zero_rmse, "directional_accuracy": None, "direction_p": None}
    up = {"rmse": zero_rmse * 1.01, "directional_accuracy": 0.53, "direction_p": None}
    return {
        "model": {
            "rmse": model_rmse,
            "directional_accuracy": 0.53 + edge,
            "direction_edge_vs_always_up": edge,
            "direction_p": p,
            "dm_vs_best_baseline_p": dm_p,
        },
        "zero_return": base,
        "always_up": up,
    }


def test_gate_policies():
    good = _metrics(0.019, 0.03, 0.01)
    assert gate.propose("auto", good, "zero_return", THRESHOLDS, "a" * 64, None)["proposal"] == "promote"
    weak = _metrics(0.0199, 0.03, 0.01)  # 0.5 % gain < 1 %
    kept = gate.propose("auto", weak, "zero_return", THRESHOLDS, "a" * 64, None)
    assert kept["proposal"] == "keep" and any("RMSE gain" in r for r in kept["reasons"])
    assert (
        gate.propose("auto", _metrics(0.019, 0.005, 0.01), "zero_return", THRESHOLDS, "a" * 64, None)["proposal"]
        == "keep"
    )  # half a point above always_up is not enough
    assert (
        gate.propose("auto", _metrics(0.019, 0.03, 0.2), "zero_return", THRESHOLDS, "a" * 64, None)["proposal"]
        == "keep"
    )
    assert (
        gate.propose("auto", _metrics(0.019, 0.03, 0.01, dm_p=0.3), "zero_return", THRESHOLDS, "a" * 64, None)[
            "proposal"
        ]
        == "keep"
    )  # a lower RMSE that is not significant
    manual = gate.propose("manual", good, "zero_return", THRESHOLDS, "a" * 64, None)
    assert manual["proposal"] == "awaiting_approval" and "would promote" in manual["reasons"][0]
    same = gate.propose("manual", good, "zero_return", THRESHOLDS, "a" * 64, {"sha256": "a" * 64})
    assert same["proposal"] == "unchanged"
    with_champion = {**good, "champion": {"rmse": 0.018}}
    assert (
        gate.propose("auto", with_champion, "zero_return", THRESHOLDS, "a" * 64, {"sha256": "b" * 64})["proposal"]
        == "keep"
    )


# ------------------------------------------------------------------------------------------ end to end


# promotion of a model with a real edge: tests/e2e/test_honesty.py (a predictable price series, auto policy)
