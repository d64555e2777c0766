"""``runner.py health`` as a scheduler calls it (exit 0 healthy, 5 with one line per problem): a fresh
successful run, an old one, a streak of failed runs, a drift alarm from the forecast ledger; the on_failure
hook (deploy/on_failure.sh) as the runner calls it.

``project`` (conftest.py) is this module's copy of a project with one finished run of ``WINDOW``; the failing
runs are made once, in a clone of it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import ROOT, WINDOW, Project, run_runner, sample_frame

HOOK = ROOT / "deploy" / "on_failure.sh"


def health(outputs: Path, *args: str) -> subprocess.CompletedProcess:
    return run_runner("health", *args, outputs=outputs)


def report(outputs: Path, *args: str) -> tuple[int, dict]:
    proc = health(outputs, "--json", *args)
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def failing(project: Project, tmp_path_factory) -> tuple[Project, list[str]]:
    """A clone of ``project`` whose two newest runs failed at data ingestion (a CSV without price columns),
    each calling deploy/on_failure.sh as its on_failure hook."""
    clone = project.clone(tmp_path_factory.mktemp("failing"))
    bad = clone.root / "prices.csv"
    bad.write_text("Date,Open,High\n2005-01-03,abc,\n", encoding="utf-8")
    for _ in range(2):
        proc = clone.run(
            *WINDOW,
            *("-p", "source", "csv", "-p", "csv_path", str(bad), "-p", "on_failure", f"sh {HOOK}"),
            env={"AAPL_PYTHON": sys.executable},
        )
        assert proc.returncode == 1 and "data_ingestion" in proc.stderr, proc.stderr
    runs = sorted(p.name for p in (clone.outputs / "runs").iterdir())
    return clone, runs[-2:]


def age_runs(outputs: Path, days: float) -> None:
    """Make every run in ``outputs/runs`` look as if it ran ``days`` ago: its times and its id (which starts
    with its start time) moved back, as a run made then would have them."""
    shift = dt.timedelta(days=days)
    for run_dir in sorted((outputs / "runs").iterdir()):
        manifest = json.loads((run_dir / "manifest.json").read_text())

        def back(value: object) -> object:
            if isinstance(value, dict):
                return {k: back(v) for k, v in value.items()}
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*\+00:00", value):
                return (dt.datetime.fromisoformat(value) - shift).isoformat()
            return value

        manifest = {
            k: back(v) if k in ("created_at", "ended_at", "updated_at", "tasks") else v for k, v in manifest.items()
        }
        stamp = dt.datetime.fromisoformat(manifest["created_at"]).strftime("%Y%m%dT%H%M%SZ")
        manifest["run_id"] = stamp + run_dir.name[len(stamp) :]
        new_dir = run_dir.with_name(manifest["run_id"])
        manifest["run_dir"] = str(new_dir)
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        run_dir.rename(new_dir)


def test_a_fresh_successful_run_is_healthy_and_a_five_day_old_one_is_not(project, tmp_path):
    proc = health(project.outputs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"^AAPL: ok: newest successful run {project.seed_run} \(success\)", proc.stdout, re.M)
    assert proc.stdout.splitlines()[-1].startswith("healthy: 1 ticker(s), 1 run(s)")

    proc = health(project.outputs, "--max-age", "0.0001")
    assert proc.returncode == 5
    assert f"AAPL: the newest successful run {project.seed_run} (success) started" in proc.stdout
    assert "more than --max-age 0.0001 h" in proc.stdout

    old = project.copy_outputs(tmp_path / "outputs")
    age_runs(old, days=5)
    # an analyst's --run-dir folder (a fresh copy of the run, outside outputs/runs) and a batch's bookkeeping
    # must not make the ticker look fresh
    shutil.copytree(project.latest(), old / "interactive")
    (old / "batches" / "20261130T000000Z-batch-1-abcdef").mkdir(parents=True)
    (old / "batches" / "20261130T000000Z-batch-1-abcdef" / "manifest.json").write_text(
        json.dumps({"batch_id": "20261130T000000Z-batch-1-abcdef", "status": "success", "tickers": {"AAPL": {}}})
    )
    proc = health(old)
    assert proc.returncode == 5, proc.stdout
    found = re.search(r"^AAPL: the newest successful run (\S+) \(success\) started ([\d.]+) h ago", proc.stdout, re.M)
    assert found and 120 <= float(found.group(2)) < 121.5, proc.stdout
    assert found.group(1) != project.seed_run and found.group(1) < project.seed_run  # the aged run
    assert proc.stdout.splitlines()[-1].startswith("UNHEALTHY: 1 problem(s) (AAPL)")
    assert health(old, "--max-age", "200").returncode == 0


def test_an_outputs_folder_without_runs_is_unhealthy(tmp_path):
    (tmp_path / "outputs" / "batches").mkdir(parents=True)  # bookkeeping is not a run
    proc = health(tmp_path / "outputs")
    assert proc.returncode == 5
    assert proc.stdout.startswith(f"no runs in {tmp_path / 'outputs' / 'runs'}: ")
    proc = health(tmp_path / "outputs", "--failures", "0")
    assert proc.returncode == 2 and "--failures 0 must be 1 or more" in proc.stderr


def test_the_last_n_runs_failing_is_a_problem_naming_them(failing):
    clone, failed = failing
    code, rep = report(clone.outputs)  # the last 3: failed, failed, success: no streak
    assert code == 0, rep["problems"]
    assert rep["tickers"]["AAPL"]["recent_statuses"] == ["failed", "failed", "success"]
    proc = health(clone.outputs, "--failures", "2")
    assert proc.returncode == 5
    (line,) = [ln for ln in proc.stdout.splitlines() if "the last 2 runs all failed" in ln]
    assert line.startswith("AAPL: ")
    for run_id in failed:
        assert f"{run_id} failed (data_ingestion: DataSourceError: {clone.root / 'prices.csv'} has columns" in line
    assert f"python runner.py resume {failed[-1]}" in line


def test_the_on_failure_hook_writes_an_alert_naming_the_run_and_the_problems(failing):
    clone, failed = failing
    log = clone.outputs / "logs" / "alerts.log"
    alerts = log.read_text()
    for run_id in failed:  # each failed run called the hook, which exited 0
        assert re.search(rf"ALERT run {run_id} ended failed: \S+/runs/{run_id}$", alerts, re.M)
        assert clone.manifest(clone.outputs / "runs" / run_id)["hook"]["exit_code"] == 0
    # the hook as the runner calls it, for the last failed run, with a stricter failure count
    env = {
        **os.environ,
        "AAPL_OUTPUTS_DIR": str(clone.outputs),
        "AAPL_RUN_ID": failed[-1],
        "AAPL_RUN_STATUS": "failed",
        "AAPL_RUN_DIR": str(clone.outputs / "runs" / failed[-1]),
        "AAPL_PYTHON": sys.executable,
        "AAPL_HEALTH_ARGS": "--failures 2",
    }
    proc = subprocess.run(["/bin/sh", "-c", f"sh {HOOK}", "aapl-hook", failed[-1], "failed"], env=env, **_TEXT)
    assert proc.returncode == 0, proc.stderr
    new = log.read_text()[len(alerts) :]
    assert new == proc.stderr  # what it printed is what it logged
    assert f"ALERT run {failed[-1]} ended failed" in new.splitlines()[0]
    assert re.search(r"health: AAPL: the last 2 runs all failed: .*" + re.escape(failed[0]), new)
    # a run stopped at the manual approval gate (the live profile's daily outcome) is a notice, not an alert
    env["AAPL_RUN_STATUS"] = "awaiting_approval"
    proc = subprocess.run(["/bin/sh", "-c", f"sh {HOOK}"], env=env, **_TEXT)
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1
    assert f"NOTICE run {failed[-1]} awaits approval" in proc.stderr and "ALERT" not in proc.stderr


_TEXT = {"capture_output": True, "text": True, "timeout": 120, "cwd": ROOT}


def _ledger(outputs: Path, how: str) -> float | None:
    """Add 40 days of published, scored forecasts to ``outputs``' AAPL ledger through the ledger's own
    functions, from the offline sample's 2011 prices: ``bad`` predicts a 4 % move against each day's real
    move, ``good`` half the real move. Returns the drift p-value the ledger then has."""
    from aapl_lib.tracking import ledger as lg
    from aapl_lib.tracking.record import drift
    from aapl_lib.tracking.scoring import score_pending

    cleaned = sample_frame("2011-01-01", "2011-12-31")
    days, close = cleaned.index, cleaned["close"]
    path = outputs / "ledger" / "AAPL.csv"
    frame = lg.read_ledger(path)
    for i in range(40):
        realised = float(close.iloc[i + 1] / close.iloc[i] - 1)
        predicted = -0.04 * (1 if realised > 0 else -1) if how == "bad" else 0.5 * realised
        forecast = {
            "challenger": {
                "available": True,
                "last_price_date": f"{days[i]:%Y-%m-%d}",
                "for_date": f"{days[i + 1]:%Y-%m-%d}",
                "predicted_return": predicted,
            }
        }
        rows = lg.forecast_rows(
            forecast,
            ticker="AAPL",
            run_id=f"20110101T000000Z-aapl-{i:06d}",
            cleaned=cleaned.iloc[: i + 1],
            published=("challenger", "challenger"),
            models={"challenger": {"sha256": "ab" * 32, "trained_to": "2010-12-31"}},
            recorded_at=f"{days[i]:%Y-%m-%d}T22:30:00+00:00",
        )
        frame, _, _ = lg.append_new(frame, rows)
        score_pending(
            frame,
            cleaned.iloc[: i + 2],
            retrieved_at=f"{days[i + 1] + pd.Timedelta(hours=23):%Y-%m-%dT%H:%M:%S}+00:00",
            run_id=f"r{i}",
        )
    lg.write_ledger(path, frame)
    return drift(frame)["p_value"]


def test_a_drift_alarm_is_a_problem_with_its_p_value_and_a_good_ledger_is_not(project, tmp_path):
    bad = project.copy_outputs(tmp_path / "bad")
    p = _ledger(bad, "bad")
    assert p is not None and p < 0.05
    proc = health(bad)
    assert proc.returncode == 5, proc.stdout
    (line,) = [ln for ln in proc.stdout.splitlines() if "drift alarm" in ln]
    assert line.startswith("AAPL: drift alarm: the last 40 scored published forecasts (window 60)")
    assert f"Diebold-Mariano p = {p:.3g} < 0.05" in line

    good = project.copy_outputs(tmp_path / "good")
    p = _ledger(good, "good")
    code, rep = report(good)
    assert code == 0, rep["problems"]
    assert rep["tickers"]["AAPL"]["drift"]["days"] == 40 and rep["tickers"]["AAPL"]["drift"]["alarm"] is False
    assert rep["tickers"]["AAPL"]["drift"]["p_value"] == pytest.approx(p) and p > 0.05
    assert f"no significant drift over the last 40 forecasts (p = {p:.3g})" in health(good).stdout


def test_the_clis_defaults_are_the_health_modules():
    from aapl_lib.cli import build_parser
    from aapl_lib.tracking.health import DEFAULT_FAILURES, DEFAULT_MAX_AGE_HOURS

    args = build_parser().parse_args(["health"])
    assert (args.max_age, args.failures) == (DEFAULT_MAX_AGE_HOURS, DEFAULT_FAILURES)
    proc = subprocess.run([sys.executable, str(ROOT / "runner.py"), "health", "--help"], **_TEXT)
    text = " ".join(proc.stdout.split())
    assert f"(default {DEFAULT_MAX_AGE_HOURS:g}:" in text and f"(default {DEFAULT_FAILURES})" in text
