"""Analysts' own features and a leakage guard and statistics that cannot be fooled (issue 10).

Leaks are injected the way an analyst adds a feature: a function in a module of their own, declared in
``extra_features`` and computed by ``build_features`` — never by editing a frame after its rows were dropped.
End-to-end tests drive ``runner.py`` with ``-p extra_features`` and a CSV of prices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aapl_lib.errors import ParameterError
from aapl_lib.pipeline import config, parameters
from helpers import ANALYST_FEATURES_SOURCE as FEATURES_SOURCE
from helpers import analyst_spec as spec
from helpers import ar_prices as _ar_prices
from helpers import run_runner, write_classic_yahoo

# ------------------------------------------------------------------------------------ leaks through extra_features


def test_extra_features_are_validated_before_anything_runs(feature_dir):
    base = {**parameters.defaults()}
    ok = config.validate_params({**base, "extra_features": [spec("momentum")]})
    assert ok["extra_features"] == [spec("momentum")]
    with pytest.raises(ParameterError, match="is not of the form 'module:function'"):
        config.validate_params({**base, "extra_features": ["../evil.py"]})
    with pytest.raises(ParameterError, match="module 'no_such_module_xyz' .* is not on the project root or PYTHONPATH"):
        config.validate_params({**base, "extra_features": ["no_such_module_xyz:f"]})
    assert config.parse_override("extra_features", f'["{spec("momentum")}", "{spec("tomorrow")}"]') == [
        spec("momentum"),
        spec("tomorrow"),
    ]
    with pytest.raises(ParameterError, match="replaced by auto_min_direction_edge_pct"):
        config.resolve_params(None, [("auto_min_directional_accuracy", "0.52")])


# ------------------------------------------------------------------------------------ direction against the market


# ------------------------------------------------------------------------------------ forecasts


# ------------------------------------------------------------------------------------ end to end
FAST = ["-p", "gb_n_estimators", "30", "-p", "walk_forward_folds", "3", "-p", "approval_policy", "auto"]


def _latest(outputs: Path) -> Path:
    return (outputs / "latest").resolve()


def test_runner_stops_a_leaky_extra_feature_at_feature_engineering(feature_dir, tmp_path):
    proc = run_runner(
        "-p",
        "extra_features",
        spec("centred_mean"),
        "-p",
        "start",
        "2008-01-01",
        *FAST,
        outputs=tmp_path,
        env={"PYTHONPATH": str(feature_dir)},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "feature_engineering" in proc.stderr and "LeakageError" in proc.stderr
    assert f"centred_ma (from {spec('centred_mean')}) differs on 20" in proc.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["tasks"]["feature_engineering"]["status"] == "failed"
    assert manifest["tasks"]["model_training"]["status"] == "pending"  # nothing after the leak ran
    assert not (run_dir / "data" / "features.csv").exists() and not (run_dir / "model").exists()
    guard = json.loads((run_dir / "reports" / "leakage_features.json").read_text())
    assert guard["summary"].startswith("leakage guard: FAILED (truncation invariance")


def test_a_clean_extra_feature_reaches_the_model_and_the_report_and_its_edits_rerun_the_task(feature_dir, tmp_path):
    module = tmp_path / "mine" / "my_feats.py"
    module.parent.mkdir()
    module.write_text(FEATURES_SOURCE)
    env = {"PYTHONPATH": str(module.parent)}
    args = ["-p", "extra_features", "my_feats:momentum", "-p", "start", "2008-01-01", *FAST]
    first = run_runner(*args, outputs=tmp_path / "out", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    run_dir = _latest(tmp_path / "out")
    feature_list = json.loads((run_dir / "data" / "feature_list.json").read_text())
    assert feature_list["features"][-2:] == ["mom_10d", "up_days_5d"]
    assert feature_list["sources"]["mom_10d"] == "my_feats:momentum"
    meta = json.loads((run_dir / "model" / "model_meta.json").read_text())
    assert "mom_10d" in meta["features"] and meta["feature_sources"]["up_days_5d"] == "my_feats:momentum"
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "| own features | mom_10d, up_days_5d (from my_feats:momentum) |" in report
    assert "leakage guard: passed" in report

    module.write_text(FEATURES_SOURCE.replace("pct_change(10)", "pct_change(12)"))
    second = run_runner(*args, "--end-task", "feature_engineering", outputs=tmp_path / "out", env=env)
    assert second.returncode == 0, second.stderr
    manifest = json.loads((_latest(tmp_path / "out") / "manifest.json").read_text())
    assert manifest["tasks"]["data_cleaning"]["status"] == "reused"
    assert manifest["tasks"]["feature_engineering"]["status"] == "success"
    assert "extra feature code" in manifest["tasks"]["feature_engineering"]["run_reason"]


def _misaligned_open(prices: pd.DataFrame, strength: float, seed: int = 11) -> pd.DataFrame:
    """The same prices as a vendor file whose open column is misaligned: each day's open carries ``strength``
    times the next day's return. Every feature is computed from rows up to its day, so the leakage guard cannot
    see this; only a held-out result beyond what the series allows can."""
    out = prices.copy()
    close = out["close"].to_numpy()
    tomorrow = np.append(close[1:] / close[:-1] - 1, 0.0)
    noise = np.random.default_rng(seed).normal(0, 0.004, len(close))
    out["open"] = np.concatenate([[close[0]], close[:-1]]) * (1 + strength * tomorrow + noise)
    out["high"] = np.maximum(out[["open", "close"]].max(axis=1), out["high"])
    out["low"] = np.minimum(out[["open", "close"]].min(axis=1), out["low"])
    return out


def test_a_predictable_series_is_promoted_and_an_implausible_result_never_is(tmp_path):
    honest_csv = write_classic_yahoo(tmp_path / "AR.csv", _ar_prices(0.3))
    leaky_csv = write_classic_yahoo(tmp_path / "AR_leaky.csv", _misaligned_open(_ar_prices(0.3), 0.1))
    common = ["-p", "source", "csv", "-p", "ticker", "ARX", "-p", "start", "2004-01-01", "-p", "end", "2008-12-31"]
    outputs = tmp_path / "out"
    leaky = run_runner(*common, "-p", "csv_path", str(leaky_csv), *FAST, outputs=outputs)
    assert leaky.returncode == 0, leaky.stderr
    run_dir = _latest(outputs)
    judged = json.loads((run_dir / "reports" / "evaluation.json").read_text())["plausibility"]
    assert judged["implausible"] is True and judged["series_benchmark"]["name"] == "autoregression"
    assert judged["model"]["r2"] > judged["thresholds"]["r2"]
    decision = json.loads((run_dir / "reports" / "decision.json").read_text())
    assert decision["decision"] == "kept"
    assert [c["check"] for c in decision["checks"] if not c["passed"]] == [
        "plausible (not too good to be true for this series)"
    ]
    assert not (outputs / "models" / "ARX" / "champion.json").exists()
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "**IMPLAUSIBLE — too good to be true for this series:** held-out R²" in report
    assert "is above what this series allows: " in report and "(its own autoregression) + " in report
    assert "(99th percentile of 500 block-shuffled draws, seed 42)" in report
    assert 'class="st implausible"' in (outputs / "index.html").read_text()
    assert 'id="implausible"' in (run_dir / "index.html").read_text()
    # the forecast shown is the challenger's, labelled as not promoted, for the day after the last price row
    assert "by the challenger (not promoted: kept out by the gate; there is no champion)" in report
    assert "Forecast for 2009-01-02, the trading day after the last price row (2008-12-31)" in report

    honest = run_runner(*common, "-p", "csv_path", str(honest_csv), *FAST, outputs=outputs)
    assert honest.returncode == 0, honest.stderr
    run_dir = _latest(outputs)
    judged = json.loads((run_dir / "reports" / "evaluation.json").read_text())["plausibility"]
    assert judged["implausible"] is False and judged["reasons"] == []
    # an AR(0.3) series honestly allows an R² the retired fixed ceiling (0.10) called implausible
    assert judged["model"]["r2"] > 0.10 and judged["thresholds"]["r2"] > 0.10
    assert judged["chance"] == {**judged["chance"], "draws": 500, "seed": 42, "block_days": 5, "quantile": 0.99}
    for key in ("r2", "directional_accuracy"):
        assert judged["thresholds"][key] == pytest.approx(judged["series_benchmark"][key] + judged["chance"][key])
    decision = json.loads((run_dir / "reports" / "decision.json").read_text())
    assert decision["decision"] == "promoted", decision["reasons"]  # a real, plausible edge passes every check
    assert json.loads((outputs / "models" / "ARX" / "champion.json").read_text())["run_id"] == run_dir.name
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "by the champion (this run's challenger, promoted)" in report
    assert "are within what this series allows (R² ≤ " in report
