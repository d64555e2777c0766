"""The forecast ledger, live scoring and the track record (issue 16), through the runner as a daily scheduler
drives it (``--as-of``, the offline sample) and, for the statistics, on ledgers built from real sample prices."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import UNCOPIED, hold_lock, run_runner, sample_frame

FAST = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]
DAYS = ["2013-01-09", "2013-01-10", "2013-01-11", "2013-01-14"]  # a weekend between the last two


def ledger(outputs: Path) -> pd.DataFrame:
    return pd.read_csv(outputs / "ledger" / "AAPL.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """Four daily runs, as a weekday schedule would make them (the last one finds the ledger busy, exits 4 and
    is resumed), then a rerun of the last day."""
    outputs = tmp_path_factory.mktemp("track") / "outputs"
    snapshots = {}
    # the first three days as `replay` steps them: one `run --as-of DAY` process per NYSE session
    replay = run_runner("replay", "--from", DAYS[0], "--to", "2013-01-12", *FAST, outputs=outputs, timeout=600)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replayed 3 trading day(s) 2013-01-09..2013-01-11; 0 did not succeed" in replay.stdout
    assert "2 published forecast(s) scored" in replay.stdout  # the track record it ends with
    day = DAYS[-1]
    before = (outputs / "ledger" / "AAPL.csv").read_bytes()
    holder = hold_lock({**os.environ, "AAPL_OUTPUTS_DIR": str(outputs)}, outputs / "ledger" / "AAPL.csv.lock")
    try:
        busy = run_runner("--as-of", day, *FAST, "-p", "lock_timeout_seconds", "1", outputs=outputs)
    finally:
        holder.kill()
        holder.wait()
    busy.unchanged = (outputs / "ledger" / "AAPL.csv").read_bytes() == before
    proc = run_runner("resume", outputs=outputs)  # what a person types once the other writer is gone
    assert proc.returncode == 0, proc.stdout + proc.stderr
    snapshots[day] = ledger(outputs)
    rerun = run_runner("--as-of", DAYS[-1], *FAST, outputs=outputs)
    assert rerun.returncode == 0, rerun.stderr
    return outputs, snapshots, rerun, busy


def runs_by_day(outputs: Path) -> dict[str, Path]:
    """The run folder that made each day's forecast (the first run as of that day)."""
    out: dict[str, Path] = {}
    for run_dir in sorted((outputs / "runs").iterdir()):
        out.setdefault(json.loads((run_dir / "manifest.json").read_text())["params"]["end"], run_dir)
    return out


def test_each_daily_run_appends_its_forecast_and_scores_exactly_the_closed_days(month):
    outputs, snapshots, _, _ = month
    prices = sample_frame("2013-01-01", "2013-01-31")["adj_close"]  # the cleaned close is the adjusted close
    runs = runs_by_day(outputs)
    rows = snapshots[DAYS[-1]]
    published = rows[rows["published_as"] != ""]
    assert list(published["forecast_date"]) == DAYS  # one published forecast per daily run, in order
    # each is for the next NYSE session: Friday 2013-01-11 -> Monday 2013-01-14
    assert list(published["for_date"]) == [*DAYS[1:], "2013-01-15"]
    assert list(published["run_id"]) == [runs[d].name for d in DAYS]
    # exactly the forecasts whose day has closed are scored, each by the first run whose prices hold that close
    assert list(published["status"]) == ["scored", "scored", "scored", "pending"]
    assert list(published["scored_by_run"]) == [runs[d].name for d in DAYS[1:]] + [""]
    for row in published[published["status"] == "scored"].itertuples():
        realised = prices[row.for_date] / prices[row.forecast_date] - 1
        assert float(row.realised_return) == pytest.approx(realised, rel=1e-9, abs=1e-12)
        assert float(row.close_used) == pytest.approx(prices[row.for_date], rel=1e-12)
        assert float(row.last_close) == pytest.approx(prices[row.forecast_date], rel=1e-12)
        assert float(row.error) == pytest.approx(float(row.predicted_return) - realised, abs=1e-12)
        assert row.revised == "False"
    # what each day's run saw: i scored days and its own forecast waiting
    for i, day in enumerate(DAYS):
        record = json.loads((runs[day] / "reports" / "track_record.json").read_text())
        assert (record["scored_days"], record["published_pending"]) == (i, 1), day
        assert json.loads((runs[day] / "manifest.json").read_text())["ledger"]["appended"] >= 1


def test_a_forecast_scored_days_late_uses_the_close_of_its_own_day(month, tmp_path):
    """A schedule that skipped days: the pending forecast is first scored by a run as of three sessions after
    the day it is for. Its close and realised return are those of its own day in that run's cleaned prices,
    not of the run's last row. Works on a copy of the month's outputs, whatever the other tests added."""
    outputs = shutil.copytree(month[0], tmp_path / "outputs", symlinks=True, ignore=UNCOPIED)
    before = ledger(outputs)
    pending = before[(before["published_as"] != "") & (before["status"] == "pending")]
    assert len(pending) == 1
    waiting = pending.iloc[0]
    sessions = sample_frame("2013-01-01", "2013-02-28").index
    late = f"{sessions[sessions.get_loc(waiting['for_date']) + 3]:%Y-%m-%d}"
    proc = run_runner("--as-of", late, *FAST, outputs=outputs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = sorted((outputs / "runs").iterdir())[-1]
    close = pd.read_csv(run_dir / "data" / "cleaned.csv", index_col=0)["close"]
    assert close.index[-1] == late and abs(close[late] / close[waiting["for_date"]] - 1) > 1e-3
    after = ledger(outputs)
    row = after[(after["run_id"] == waiting["run_id"]) & (after["model_sha256"] == waiting["model_sha256"])]
    assert len(row) == 1
    row = row.iloc[0]
    assert (row["status"], row["scored_by_run"], row["revised"]) == ("scored", run_dir.name, "False")
    realised = close[row["for_date"]] / close[row["forecast_date"]] - 1
    assert float(row["close_used"]) == pytest.approx(close[row["for_date"]], rel=1e-12)
    assert float(row["base_close_used"]) == pytest.approx(close[row["forecast_date"]], rel=1e-12)
    assert float(row["realised_return"]) == pytest.approx(realised, rel=1e-9, abs=1e-12)


def test_each_day_publishes_from_the_refit_trained_to_its_last_labelled_row(month):
    """Issue 24: the forecast for day t+1 made on day t comes from the method refit on every row whose next-day
    return is known (the last one is the session before t), not from the model stopped at the training split;
    each day of the replay moves trained_to on by one session, and the ledger names the model."""
    outputs, snapshots, _, _ = month
    runs = runs_by_day(outputs)
    rows = snapshots[DAYS[-1]]
    published = rows[rows["published_as"] != ""].set_index("forecast_date")
    sessions = sample_frame("2012-12-01", "2013-01-31").index
    trained_to = []
    for day in DAYS:
        run_dir = runs[day]
        features = pd.read_csv(run_dir / "data" / "features.csv", index_col=0)
        last_labelled = features.index[features["target_next_return"].notna()][-1]
        assert last_labelled == f"{sessions[sessions.get_loc(day) - 1]:%Y-%m-%d}"  # the session before day
        by = json.loads((run_dir / "reports" / "forecast.json").read_text())["challenger"]["published_by"]
        refit = json.loads((run_dir / "model" / "model_refit_meta.json").read_text())
        meta = json.loads((run_dir / "model" / "model_meta.json").read_text())
        assert by == {"fit": "refit", "model_file": "model/model_refit.skops", "sha256": refit["sha256"],
                      "trained_to": last_labelled}  # fmt: skip
        assert meta["split"]["train_window"]["last"] < "2012-12-01"  # the evaluated model: the training split
        row = published.loc[day]
        assert (row["model_sha256"], row["model_trained_to"], row["model_fit"]) == (refit["sha256"], last_labelled,
                                                                                    "refit")  # fmt: skip
        trained_to.append(last_labelled)
    assert trained_to == ["2013-01-08", *DAYS[:-1]]  # one session further each day


def test_a_rerun_that_reuses_everything_appends_nothing(month):
    outputs, snapshots, rerun, _ = month
    assert "reused from run" in rerun.stdout and "forecast ledger      nothing new" in rerun.stdout
    assert ledger(outputs).equals(snapshots[DAYS[-1]])
    run_dir = sorted((outputs / "runs").iterdir())[-1]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["ledger"]["status"] == "reused" and manifest["ledger"]["appended"] == 0


def test_track_command_report_section_and_browser_page(month):
    outputs, _, _, _ = month
    proc = run_runner("track", "AAPL", "--json", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["scored_days"] == 3 and record["published_pending"] == 1
    assert [d["for_date"] for d in record["daily"]] == DAYS[1:]
    errors = np.array([d["error"] for d in record["daily"]])
    assert record["accuracy"]["model"]["mae"] == pytest.approx(np.abs(errors).mean())
    assert record["tests"] is None  # fewer than 20 scored days: no p-values
    # the default auto policy promoted nothing: every published forecast was a challenger's, and it says so
    assert record["by_role"]["challenger"]["days"] == 3 and record["by_role"]["champion"]["days"] == 0
    text = run_runner("track", "AAPL", outputs=outputs)
    assert "3 published forecast(s) scored" in text.stdout and "zero return" in text.stdout
    assert "Published 3 by a challenger (no champion yet)" in text.stdout
    unknown = run_runner("track", "MSFT", outputs=outputs)
    assert unknown.returncode == 2 and "no forecast ledger for MSFT" in unknown.stderr
    run_dir = sorted((outputs / "runs").iterdir())[-1]
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "## Live track record" in report and "3 published forecast(s) scored" in report
    assert (run_dir / "figures" / "track_record.png").read_bytes()[:4] == b"\x89PNG"
    assert 'href="track/AAPL.html"' in (outputs / "index.html").read_text()
    page = (outputs / "track" / "AAPL.html").read_text()
    assert "live track record" in page and "2013-01-14" in page and "AAPL.png" in page


def test_a_busy_ledger_exits_4_loses_nothing_and_resume_records(month):
    _, snapshots, _, busy = month
    assert busy.returncode == 4, busy.stdout + busy.stderr
    assert "forecast ledger" in busy.stdout + busy.stderr
    assert busy.unchanged  # the ledger as it was: nothing half-written, nothing appended
    rows = snapshots[DAYS[-1]]  # after `resume`
    assert list(rows[rows["published_as"] != ""]["forecast_date"])[-1] == DAYS[-1]


def test_reproduce_of_a_daily_run_sees_the_ledger_as_that_run_found_it(month):
    """Later runs have scored this day's forecast since; the reproduction must report what the run reported."""
    outputs = month[0]
    run = runs_by_day(outputs)[DAYS[2]]
    proc = run_runner("reproduce", run.name, "--json", outputs=outputs)
    report = json.loads(proc.stdout)
    different = [r for r in report["artifacts"] if r["result"] == "DIFFERENT"]
    assert proc.returncode == 0, (different, report["notes"], report["run_message"], proc.stderr[-2000:])
    rows = {r["artifact"]: r["result"] for r in report["artifacts"]}
    assert rows["reports/track_record.json"] == "identical (timestamps aside)"  # run ids aside: same numbers
    assert rows["figures/track_record.png"] == "identical"
    assert rows["reports/analysis.md"].startswith("identical")
    assert any("2 forecast(s) recorded before run" in note for note in report["notes"])


def test_a_damaged_ledger_fails_the_run_with_one_message_and_its_previous_copy_restores_it(month):
    outputs = month[0]
    path, previous = outputs / "ledger" / "AAPL.csv", outputs / "ledger" / "AAPL.csv.prev"
    assert previous.is_file()  # the ledger before its last write, kept by every write
    damaged = path.read_text()[:-30] + '"an unclosed quote\n'  # a hand edit gone wrong
    path.write_text(damaged)
    proc = run_runner("--as-of", "2013-01-15", *FAST, outputs=outputs)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert f"the forecast ledger {path} is damaged" in said and "AAPL.csv.prev" in said
    assert path.read_text() == damaged  # nothing overwritten, nothing guessed
    path.write_bytes(previous.read_bytes())  # what the message says to do
    resumed = run_runner("resume", outputs=outputs)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = ledger(outputs)
    assert list(rows[rows["published_as"] != ""]["forecast_date"])[-1] == "2013-01-15"


# ------------------------------------------------------------------------------------------ library


def test_the_runner_draws_the_track_record_while_a_render_thread_imports_ipython(tmp_path):
    """A bug the suite found: the ledger step draws its plot in the runner's process while notebook 05's pages
    render in a thread that imports IPython; matplotlib's Figure() peeked at the half-imported module and the
    run failed. The control (no settling) shows the race is real; the runner's path settles it first."""
    import subprocess
    import sys

    from helpers import ROOT

    script = (
        "import sys, threading\n"
        "from aapl_lib.tracking.plots import plot_cumulative_error\n"
        "from aapl_lib.runner.renders import settle_render_imports\n"
        "threading.Thread(target=lambda: __import__('IPython')).start()\n"
        "while 'IPython' not in sys.modules:\n    pass\n"
        "if sys.argv[1] == 'settle':\n    settle_render_imports()\n"
        "record = {'ticker': 'AAPL', 'scored_days': 0, 'daily': []}\n"
        f"plot_cumulative_error(record, {str(tmp_path / 'plot.png')!r})\n"
        "print('drawn')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    control = subprocess.run([sys.executable, "-c", script, "none"], capture_output=True, text=True, env=env)
    assert control.returncode != 0 and "partially initialized module 'IPython'" in control.stderr
    settled = subprocess.run([sys.executable, "-c", script, "settle"], capture_output=True, text=True, env=env)
    assert settled.returncode == 0 and settled.stdout.strip() == "drawn", settled.stderr
    source = (ROOT / "aapl_lib" / "runner" / "steps" / "forecast_ledger.py").read_text()
    assert source.count("settle_render_imports()") == 2  # before both plots the step draws in the runner
