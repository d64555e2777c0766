"""One direction test everywhere, the tries ledger and the gate's correction for it, and the champion decided by
a Diebold–Mariano test (issue 24, parts 2-4).

The constant "up" call over Q1 2012 (41 of 62 days right, binomial p = 0.0076 against a coin) must be
significant nowhere; forty configurations tried on a random-walk window must not buy a promotion; the tries
count must grow through the CLI and the gate's limits with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aapl_lib.modeling import evaluation as ev
from aapl_lib.modeling.significance import direction_test
from aapl_lib.narrative import track_record_summary, tries_sentence
from aapl_lib.promotion import gate, tries
from aapl_lib.store import layout
from aapl_lib.tracking.record import track_record
from helpers import sample_frame, scored_ledger

THRESHOLDS = {"auto_min_rmse_gain_pct": 1.0, "auto_min_direction_edge_pct": 1.0, "auto_max_p_value": 0.05}


def _q1_2012() -> pd.Series:
    """AAPL's adjusted closes from the sample, so that the scored days are the 62 sessions of Q1 2012."""
    return sample_frame("2011-12-29", "2012-03-30")["adj_close"]


# ------------------------------------------------------------------------------------- one direction test
def test_constant_up_over_q1_2012_is_significant_nowhere():
    from scipy import stats

    record = track_record(scored_ledger(_q1_2012(), lambda r: 0.001), "AAPL")
    d = record["direction"]["model"]
    assert (record["scored_days"], d["hits"], d["n"]) == (62, 41, 62)
    # what the coin said: "skill" at p = 0.0076, from a call that never changes
    assert stats.binomtest(41, 62, 0.5, alternative="greater").pvalue == pytest.approx(0.0076, abs=1e-4)
    assert record["tests"]["direction_p"] is None and d["p_value"] is None
    assert record["tests"]["direction_why"].startswith("no timing to test")
    assert d["chance_level"] == pytest.approx(41 / 62)  # what always saying "up" scores by luck here
    sentences, _ = track_record_summary(record)
    assert "Pesaran-Timmermann, direction calls better than chance: n/a (no timing to test" in " ".join(sentences)
    assert "coin" not in " ".join(sentences) and "binomial" not in json.dumps(record)

    # the same days through evaluation and the gate: no direction p-value, so the direction check fails
    prices = _q1_2012()
    actual = (prices.shift(-1) / prices - 1).iloc[1:-1].to_numpy()
    table = pd.DataFrame({"actual": actual, "model": 0.001, "zero_return": 0.0, "always_up": 0.002,
                          "last_return": np.r_[0.0, actual[:-1]], "rolling_mean": 0.001})  # fmt: skip
    metrics = ev.compare(table, train_mean=0.001)
    assert metrics["model"]["direction_p"] is None
    proposal = gate.propose("auto", metrics, ev.best_baseline(metrics), THRESHOLDS, "a" * 64, None)
    (pt,) = [c for c in proposal["checks"] if c["check"].startswith("Pesaran-Timmermann")]
    assert pt["value"] is None and pt["passed"] is False and proposal["proposal"] == "keep"


def test_a_rising_random_walk_with_mostly_up_calls_is_not_significant_in_the_track_record():
    """A random walk with drift and a forecast that says "up" on 90 % of days at random: right more often than
    a coin (the old binomial test said skill), never better than chance."""
    from scipy import stats

    rng = np.random.default_rng(24)
    days = pd.bdate_range("2015-01-01", periods=250)
    prices = pd.Series(100 * np.cumprod(1 + rng.normal(0.004, 0.01, len(days))), index=days)
    calls = iter(np.where(rng.random(len(days)) < 0.9, 0.001, -0.001))
    record = track_record(scored_ledger(prices, lambda r: next(calls)), "AAPL")
    d = record["direction"]["model"]
    assert stats.binomtest(d["hits"], d["n"], 0.5, alternative="greater").pvalue < 0.05  # the coin is fooled
    assert d["p_value"] > 0.05 and record["tests"]["direction_p"] == d["p_value"]
    # and its size is honest: on 400 such walks it rejects at about its level, not at the coin's 100 %
    rejected = 0
    for seed in range(400):
        r = np.random.default_rng(seed)
        actual, pred = r.normal(0.004, 0.01, 250), np.where(r.random(250) < 0.9, 1.0, -1.0)
        rejected += direction_test(actual, pred)["p_value"] < 0.05
    assert rejected / 400 < 0.08


# ------------------------------------------------------------------------------------------ tries ledger
def _window(first: str, last: str) -> dict[str, str]:
    return {"first": first, "last": last}


def test_window_families_count_the_daily_schedule_as_one_window():
    a = tries.parse_window(_window("2012-01-02", "2012-12-31"))
    shifted = tries.parse_window(_window("2012-01-03", "2013-01-02"))  # tomorrow's run of the daily schedule
    later = tries.parse_window(_window("2012-07-01", "2013-06-30"))
    assert tries.same_family(a, shifted) and tries.window_overlap(a, shifted) > 0.99
    assert not tries.same_family(a, later)  # about a third shared: another test
    assert tries.window_overlap(a, tries.parse_window(_window("2014-01-01", "2014-02-01"))) == 0.0


def test_one_line_per_configuration_and_window_and_damage_cannot_lower_the_count(tmp_path):
    params = {"ridge_alpha": 1.0, "lags": 5, "candidates": ["ridge"], "ticker": "AAPL", "test_fraction": 0.2}
    window = _window("2012-01-03", "2012-12-31")
    first = tries.record_try(tmp_path, "AAPL", window, params, run_id="r1", at="t1")
    again = tries.record_try(tmp_path, "AAPL", window, {**params, "ticker": "AAPL"}, run_id="r2", at="t2")
    assert (first["new"], first["count"], again["new"], again["count"]) == (True, 1, False, 1)
    # test_fraction and ticker define the window, not the configuration; a shifted window is the same family
    moved = tries.record_try(tmp_path, "AAPL", _window("2012-01-04", "2013-01-02"), params, run_id="r3", at="t3")
    assert moved["new"] is True and moved["count"] == 1
    other = tries.record_try(tmp_path, "AAPL", window, {**params, "ridge_alpha": 2.0}, run_id="r4", at="t4")
    assert other["count"] == 2
    path = layout.tries_path(tmp_path, "AAPL")
    assert len(path.read_text().splitlines()) == 3
    # hostile lines: parsed as JSON and checked, never executed; each counts as a try
    with path.open("a") as f:
        f.write('{"config": "__import__(\'os\').system(\'touch pwned\')", "window": {}}\nnot json\n[]\n')
    counted = tries.tries_on_window(tmp_path, "AAPL", window)
    assert counted == {**counted, "count": 5, "configurations": 2, "unreadable_lines": 3}
    assert not (Path.cwd() / "pwned").exists()
    assert tries.tries_on_window(tmp_path, "AAPL", _window("2015-01-02", "2015-12-31"))["configurations"] == 0


def _random_walk_window(seed: int, n_train: int = 750, n_test: int = 120) -> tuple[pd.DataFrame, float]:
    """The held-out predictions table of a random walk with drift (actual and the naive baselines)."""
    r = pd.Series(np.random.default_rng(seed).normal(0.0005, 0.02, n_train + n_test + 21))
    table = pd.DataFrame({"actual": r.shift(-1), "zero_return": 0.0, "last_return": r,
                          "rolling_mean": r.rolling(20).mean()}).iloc[20:-1]  # fmt: skip
    train_mean = float(table["actual"].iloc[:n_train].mean())
    test = table.iloc[n_train:].reset_index(drop=True).assign(always_up=train_mean)
    return test, float(table["actual"].iloc[:n_train].std())


def test_forty_tries_on_a_random_walk_window_cannot_buy_a_promotion(tmp_path):
    """Forty configurations (signals with no information, as forty feature sets on a random walk are) on one
    held-out window. Seed 18: the uncorrected gate promotes the luckiest of them; with the forty in the tries
    ledger none passes."""
    test, sd = _random_walk_window(18)
    window = _window("2012-01-03", "2012-06-29")
    results = []
    for k in range(40):
        params = {"ridge_alpha": float(k), "lags": 5}
        tries.record_try(tmp_path, "RWX", window, params, run_id=f"r{k:02d}", at="t")
        signal = np.random.default_rng([18, k]).normal(0, 1, len(test))
        metrics = ev.compare(test.assign(model=0.2 * sd * signal), train_mean=float(test["always_up"].iloc[0]))
        results.append(metrics)
    count = tries.tries_on_window(tmp_path, "RWX", window)
    assert count["count"] == 40

    def decide(metrics, tried):
        return gate.propose("auto", metrics, ev.best_baseline(metrics), THRESHOLDS, "a" * 64, None, tries=tried)

    assert any(decide(m, None)["proposal"] == "promote" for m in results)  # one try in forty passes by luck
    proposals = [decide(m, count) for m in results]
    assert [p["proposal"] for p in proposals] == ["keep"] * 40
    limits = {c["limit"] for p in proposals for c in p["checks"] if "p-value" in c["check"]}
    assert limits == {"< 0.00125 (0.05 / 40 configurations tried)"}
    assert tries_sentence(count).startswith("40 configuration(s) tried on this window (same ticker, held-out")


def test_the_champion_is_replaced_only_on_a_significant_loss_differential():
    """A challenger whose RMSE is lower than the champion's by noise (a raw comparison promoted it) is kept out;
    one that is clearly more accurate on the same days passes the champion check."""
    rng = np.random.default_rng(5)
    actual = rng.normal(0, 0.02, 250)
    signal = actual + rng.normal(0, 0.04, 250)  # some real information
    champion = 0.1 * signal + rng.normal(0, 0.0005, 250)
    table = pd.DataFrame({"actual": actual, "zero_return": 0.0, "always_up": 0.0005, "rolling_mean": 0.0,
                          "last_return": np.r_[0.0, actual[:-1]], "champion": champion})  # fmt: skip
    noisy = ev.compare(table.assign(model=0.1 * signal + rng.normal(0, 0.0005, 250)), train_mean=0.0)
    assert noisy["model"]["rmse"] < noisy["champion"]["rmse"]  # the old check passed
    better = ev.compare(table.assign(model=0.2 * signal), train_mean=0.0)
    for metrics, passed in ((noisy, False), (better, True)):
        proposal = gate.propose("auto", metrics, ev.best_baseline(metrics), THRESHOLDS, "a" * 64, {"sha256": "b"})
        (check,) = [c for c in proposal["checks"] if "champion" in c["check"]]
        assert check["check"].startswith("Diebold-Mariano p-value against the champion on the same days")
        assert check["passed"] is passed and check["value"] == round(metrics["model"]["dm_vs_champion_p"], 4)


# --------------------------------------------------------------------------------------------------- CLI


def test_the_batch_page_shows_the_direction_test_against_chance(tmp_path):
    """A batch's summary gives each ticker's Pesaran-Timmermann p; a constant "up" call's is n/a ("-")."""
    from aapl_lib.io.iorw import write_json
    from aapl_lib.views.batch_summary import summary_rows, write_summary

    def model(da, p):
        return {"rmse": 0.02, "directional_accuracy": da, "direction_p": p, "dm_vs_zero_return_p": 0.4}

    runs = {}
    for ticker, da, p in (("UPX", 0.661, None), ("ARX", 0.58, 0.0123)):
        run_id = f"20260101T000000Z-{ticker.lower()}-000000"
        bt = {"long_flat": {"cumulative_return": 0.1}, "buy_and_hold": {"cumulative_return": 0.2}}
        metrics = {"model": model(da, p), "zero_return": {"rmse": 0.021}}
        evaluation = {"metrics": metrics, "best_baseline": "zero_return", "backtest": bt, "challenger": "ridge"}
        write_json(layout.run_dir(tmp_path, run_id) / "reports" / "evaluation.json", evaluation)
        runs[ticker] = {"run_id": run_id, "status": "succeeded", "duration_s": 1.0}
    manifest = {"batch_id": "b1", "tickers": list(runs), "runs": runs, "status": "succeeded", "executor": "local"}
    assert [r["direction_p"] for r in summary_rows(tmp_path, manifest)] == [None, 0.0123]
    summary = write_summary(tmp_path, layout.batch_dir(tmp_path, "b1"), manifest).read_text()
    head = next(line for line in summary.splitlines() if line.startswith("| ticker"))
    column = head.split(" | ").index("PT p vs chance")
    cells = {line.split(" | ")[0]: line.split(" | ")[column] for line in summary.splitlines() if line[2:5] in runs}
    assert cells == {"| UPX": "-", "| ARX": "0.012"}
