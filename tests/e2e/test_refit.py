"""Refit to publish (issue 24): the held-out numbers judge the method; the forecast is made by the same method
refit on every labelled row up to the forecast day, and the champion is promoted with its refit. Through the
runner as a daily scheduler drives it (``--as-of``, the offline sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from aapl_lib.errors import IntegrityError, UntrustedFileError
from aapl_lib.io.iorw import read_frame
from aapl_lib.modeling import persistence
from aapl_lib.promotion.registry import Registry
from helpers import run_runner

FAST = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _ledger(outputs: Path) -> pd.DataFrame:
    return pd.read_csv(outputs / "ledger" / "AAPL.csv", dtype=str, keep_default_na=False)


def _latest(outputs: Path) -> Path:
    return (outputs / "latest").resolve()


def _prediction(estimator, run_dir: Path, names: list[str]) -> float:
    """``estimator``'s prediction from the run's last feature row (the forecast's input)."""
    features = read_frame(run_dir / "data" / "features.csv")
    return float(estimator.predict(features.loc[[features.index.max()]][names].to_numpy())[0])


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """Day 1 (2013-01-15) under the manual policy, approved: its challenger and refit become the champion.
    Day 2 (2013-01-16) by default (refit publishes), then again with ``publish_model evaluated``."""
    outputs = tmp_path_factory.mktemp("refit") / "outputs"
    first = run_runner("--as-of", "2013-01-15", *FAST, "-p", "approval_policy", "manual", outputs=outputs)
    assert first.returncode == 3, first.stdout + first.stderr
    day1 = _latest(outputs)
    approved = run_runner("approve", day1.name, "--by", "alice", outputs=outputs)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    resumed = run_runner("resume", day1.name, outputs=outputs)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    second = run_runner("--as-of", "2013-01-16", *FAST, outputs=outputs)
    assert second.returncode == 0, second.stdout + second.stderr
    day2 = _latest(outputs)
    third = run_runner("--as-of", "2013-01-16", *FAST, "-p", "publish_model", "evaluated", outputs=outputs)
    assert third.returncode == 0, third.stdout + third.stderr
    return outputs, day1, day2, _latest(outputs)


def test_promotion_stores_the_refit_and_the_next_runs_champion_forecast_uses_it(promoted):
    outputs, day1, day2, _ = promoted
    registry = Registry(outputs, "AAPL")
    record = registry.champion()
    meta, refit_meta = _json(day1 / "model" / "model_meta.json"), _json(day1 / "model" / "model_refit_meta.json")
    # champion.json names both: the evaluated model (compared with challengers on held-out days) and its refit
    assert record["sha256"] == meta["sha256"] and record["refit_sha256"] == refit_meta["sha256"]
    assert record["refit_sha256"] != record["sha256"]
    assert record["refit_file"] == f"{refit_meta['sha256'][:16]}.skops"
    assert (registry.dir / record["refit_file"]).is_file()
    assert record["refit_trained_to"] == refit_meta["trained_to"] == "2013-01-14"  # day 1's last labelled row
    assert record["train_window"]["last"] < "2012-12-01"  # the evaluated model stopped at its training split
    # the next day's champion forecast is the champion's refit's, and the ledger names that model
    forecast = _json(day2 / "reports" / "forecast.json")
    champion = forecast["champion"]
    assert champion["published_by"] == {
        "fit": "refit",
        "model_file": record["refit_file"],
        "sha256": record["refit_sha256"],
        "trained_to": "2013-01-14",
    }
    refit_model = registry.load_refit(record)
    assert champion["predicted_return"] == pytest.approx(_prediction(refit_model, day2, record["features"]), abs=0)
    rows = _ledger(outputs)
    row = rows[(rows["run_id"] == day2.name) & (rows["model_role"] == "champion")].iloc[0]
    assert (row["model_sha256"], row["model_trained_to"], row["model_fit"]) == (
        record["refit_sha256"],
        "2013-01-14",
        "refit",
    )
    assert row["published_as"] == "champion" and row["status"] == "pending"
    report = (day2 / "reports" / "analysis.md").read_text()
    assert f"Made by the refit model, sha256 {record['refit_sha256'][:12]}, trained to 2013-01-14" in report
    assert "the same method refit on every labelled row, up to 2013-01-14" in report
    page = (day2 / "index.html").read_text()  # the run page says it too
    row = page.split('<td id="published-by">', 1)[1].split("</td>", 1)[0]
    assert (
        row.startswith("champion")
        and f"refit model, sha256 {record['refit_sha256'][:12]}, trained to 2013-01-14" in row
    )


def test_publish_model_evaluated_publishes_the_held_out_judged_models_as_before(promoted):
    outputs, day1, day2, evaluated = promoted
    record = _json(outputs / "models" / "AAPL" / "champion.json")
    meta = _json(evaluated / "model" / "model_meta.json")
    assert meta == _json(day2 / "model" / "model_meta.json")  # the same training, reused
    forecast = _json(evaluated / "reports" / "forecast.json")
    assert forecast["publish_model"] == "evaluated"
    challenger, champion = forecast["challenger"], forecast["champion"]
    assert challenger["published_by"]["fit"] == "evaluated"
    assert challenger["published_by"]["sha256"] == meta["sha256"]
    assert challenger["published_by"]["trained_to"] == meta["split"]["train_window"]["last"]
    model = persistence.load_model(evaluated / "model" / "model.skops", meta["sha256"])
    assert challenger["predicted_return"] == pytest.approx(_prediction(model, evaluated, meta["features"]), abs=0)
    assert champion["published_by"]["sha256"] == record["sha256"]  # the champion's evaluated model
    # the refit and the evaluated forecasts of the same day differ: the switch changes the model that publishes
    refit_forecast = _json(day2 / "reports" / "forecast.json")["challenger"]
    assert refit_forecast["predicted_return"] != challenger["predicted_return"]
    rows = _ledger(outputs)
    mine = rows[rows["run_id"] == evaluated.name].set_index("model_role")
    assert mine.loc["challenger", "model_sha256"] == meta["sha256"]
    assert mine.loc["challenger", "model_trained_to"] == meta["split"]["train_window"]["last"]
    assert list(mine["model_fit"]) == ["evaluated", "evaluated"]


def test_a_champion_refit_file_gets_every_check_the_model_file_gets(promoted, tmp_path):
    """The refit is loaded like the evaluated model: a plain name inside the ticker's folder, its sha256, and
    (through load_model) only allowed types."""
    outputs = promoted[0]
    registry = Registry(outputs, "AAPL")
    record = registry.champion()
    for name in ("../outside.skops", "/etc/passwd", "sub/x.skops"):
        with pytest.raises(UntrustedFileError, match="refused"):
            registry.load_refit({**record, "refit_file": name})
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        registry.load_refit({**record, "refit_sha256": "0" * 64})
    with pytest.raises(UntrustedFileError, match="skops"):
        registry.load_refit({**record, "refit_file": "model.joblib"})
    assert registry.load_refit({k: v for k, v in record.items() if not k.startswith("refit_")}) is None
