"""``runner.py health``: is each ticker's pipeline running, succeeding and still forecasting better than doing
nothing? For schedulers: a dict (``--json``), one line per problem naming the ticker and what to do, and
exit 5 when there is any.

Per ticker, a problem when

- **stale**: its newest run that got through evaluation started more than ``max_age_hours`` ago, or there is
  none. "Got through evaluation" is ``success``, ``awaiting_approval``, ``approved`` or ``rejected``: a run
  stopped at the manual approval gate has fetched the prices, trained and evaluated a model and written its
  forecast — the live profile's normal daily outcome — so it counts as the pipeline having run. The age is
  measured from the run's start (``created_at``): its price window is fixed then, so a run resumed later still
  holds the prices it started with;
- **failing**: its last ``failures`` finished runs all ended ``failed``, ``timed_out``, ``interrupted`` or
  ``locked`` (a run still running is not counted);
- **drifting**: the drift alarm of its forecast ledger is on (:func:`aapl_lib.tracking.record.drift`).

Only run folders in ``outputs/runs`` count: a ``--run-dir`` folder elsewhere (``outputs/interactive``) is an
analyst's, and batch folders are bookkeeping (their tickers' runs are in ``outputs/runs``). An outputs folder
without any run is unhealthy."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from aapl_lib.errors import IntegrityError, ParameterError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import parse_utc
from aapl_lib.pipeline.parameters import TICKER_RE
from aapl_lib.pipeline.states import ENDED_BADLY, ENDED_WELL, State
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.runs import scan_runs

# A weekday timer (Mon..Fri 22:15) leaves 72 h between Friday's and Monday's runs; 96 h also covers a Monday
# holiday on which the scheduler is off, or one missed evening, before health complains.
DEFAULT_MAX_AGE_HOURS = 96.0
DEFAULT_FAILURES = 3
RAN, FAILED = ENDED_WELL, ENDED_BADLY  # got through evaluation; failed (pipeline/states.py owns both)
DRIFT_ADVICE = (
    "review the newest run's reports/track_record.json, retrain on recent prices (python runner.py -p end today) "
    "and approve a better challenger, or stop publishing this ticker's forecasts"
)


def check_health(
    outputs_dir: Path,
    *,
    now: dt.datetime,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
    failures: int = DEFAULT_FAILURES,
    tickers: list[str] | None = None,
) -> dict[str, Any]:
    """The health of ``outputs_dir``'s tickers (those named, else every ticker with a run or a ledger) as a
    JSON-ready dict: ``healthy``, ``problems`` (one line each) and per ticker its runs and drift."""
    if not max_age_hours > 0:
        raise ParameterError(f"--max-age {max_age_hours} must be a number of hours above 0 (e.g. 30 or 96)")
    if failures < 1:
        raise ParameterError(f"--failures {failures} must be 1 or more (the number of failed runs in a row)")
    named = [_ticker(t) for t in tickers or []]
    runs, unreadable = read_runs(outputs_dir)
    chosen = named or sorted({r["ticker"] for r in runs} | set(layout.ledger_tickers(outputs_dir)))
    drifts = {t: read_drift(outputs_dir, t) for t in chosen}
    return assess(
        runs,
        drifts,
        now=now,
        max_age_hours=max_age_hours,
        failures=failures,
        tickers=chosen,
        runs_folder=str(layout.runs_dir(outputs_dir)),
        unreadable=unreadable,
    )


def _ticker(text: str) -> str:
    ticker = text.strip().upper()
    if not TICKER_RE.match(ticker):
        raise ParameterError(f"--ticker {text!r} is not a stock symbol: use letters, digits and . - ^ = (e.g. AAPL)")
    return ticker


def read_runs(outputs_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run in ``outputs/runs`` as a small record (newest first), and the lines of those whose manifest
    cannot be read."""
    runs, unreadable = [], []
    for run in scan_runs(outputs_dir):
        run_dir, manifest = run.run_dir, run.manifest
        if manifest is None:
            unreadable.append(f"{run_dir.name}: {run.error}")
            continue
        status = mf.effective_status(run_dir, manifest)
        runs.append(
            {
                "run_id": manifest.get("run_id") or run_dir.name,
                "ticker": str(manifest["params"].get("ticker", "?")),
                "status": status,
                "created_at": manifest.get("created_at"),
                "ended_at": manifest.get("ended_at"),
                "batch_id": manifest.get("batch_id"),
                "failure": _failure(manifest, status),
            }
        )
    runs.sort(key=lambda r: (r["created_at"] or "", r["run_id"]), reverse=True)
    return runs, unreadable


def _failure(manifest: dict[str, Any], status: str) -> str:
    """Where and why a run failed, in a few words ("" for a run that did not fail)."""
    if status not in FAILED:
        return ""
    for name, rec in manifest["tasks"].items():
        if rec.get("status") in (State.FAILED, State.TIMED_OUT, State.RUNNING, State.INTERRUPTED):
            error = " ".join(str(rec.get("error") or "").split())
            cause = re.search(r"\b\w+(Error|Exception|Interrupt)\b.*", error)  # past "task T failed in ...:"
            error = cause.group(0) if cause else error
            return f"{name}: {error[:160]}" if error else name
    return status


def read_drift(outputs_dir: Path, ticker: str) -> dict[str, Any] | None:
    """The drift alarm of ``ticker``'s ledger (None without a ledger); a damaged ledger is ``{"error": ...}``."""
    path = layout.ledger_path(outputs_dir, ticker)
    if not path.is_file():
        return None
    from aapl_lib.tracking.ledger import read_ledger
    from aapl_lib.tracking.record import drift

    try:
        return drift(read_ledger(path))
    except IntegrityError as exc:
        return {"error": str(exc), "alarm": False}


def ago(hours: float) -> str:
    """An age to read: seconds or minutes under an hour, else hours with one decimal."""
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def _hours(now: dt.datetime, stamp: str | None) -> float | None:
    then = parse_utc(stamp)
    if then is None:
        return None
    return (now - then).total_seconds() / 3600  # unrounded: a limit of minutes must still be able to fail


def assess(
    runs: list[dict[str, Any]],
    drifts: dict[str, dict[str, Any] | None],
    *,
    now: dt.datetime,
    max_age_hours: float,
    failures: int,
    tickers: list[str],
    runs_folder: str,
    unreadable: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The health report from the runs (newest first) and each ticker's drift record. Pure."""
    problems = []
    if not runs:
        problems.append(
            f"no runs in {runs_folder}: the pipeline has not run here (or --outputs/$AAPL_OUTPUTS_DIR names "
            "another folder); check the scheduler and start one with python runner.py"
        )
    report_tickers = {}
    for ticker in tickers:
        mine = [r for r in runs if r["ticker"] == ticker]
        entry = _ticker_health(ticker, mine, drifts.get(ticker), now, max_age_hours, failures, runs_folder)
        report_tickers[ticker] = entry
        problems.extend(entry["problems"])
    return {
        "healthy": not problems,
        "checked_at": now.replace(microsecond=0).isoformat(),
        "runs_folder": runs_folder,
        "max_age_hours": max_age_hours,
        "failures": failures,
        "runs": len(runs),
        "unreadable_runs": list(unreadable),
        "problems": problems,
        "tickers": report_tickers,
    }


def _ticker_health(
    ticker: str,
    runs: list[dict[str, Any]],
    drift: dict[str, Any] | None,
    now: dt.datetime,
    max_age_hours: float,
    failures: int,
    runs_folder: str,
) -> dict[str, Any]:
    problems = []
    outputs = Path(runs_folder).parent  # the commands below are pasteable for this outputs folder
    ran = next((r for r in runs if r["status"] in RAN), None)
    age = _hours(now, ran["created_at"]) if ran else None
    if ran is None:
        tried = f"{len(runs)} run(s), none got through evaluation" if runs else "no run of it at all"
        problems.append(
            f"{ticker}: no successful run in {runs_folder} ({tried}): check the scheduler and "
            f"{follow_up('list', outputs)}, then run {follow_up(f'-p ticker {ticker}', outputs)}"
        )
    elif age is None or age > max_age_hours:
        when = "at an unknown time" if age is None else f"{ago(age)} ago"
        problems.append(
            f"{ticker}: the newest successful run {ran['run_id']} ({ran['status']}) started {when}, more than "
            f"--max-age {max_age_hours:g} h: is the scheduler running it (systemctl list-timers / crontab -l, "
            "outputs/logs/pipeline_summary.log)?"
        )
    finished = [r for r in runs if r["status"] != State.RUNNING]
    recent = finished[:failures]
    if len(recent) == failures and all(r["status"] in FAILED for r in recent):
        which = "; ".join(f"{r['run_id']} {r['status']} ({r['failure']})" for r in recent)
        last = "the last run" if failures == 1 else f"the last {failures} runs all"
        newest = recent[0]["run_id"]
        problems.append(
            f"{ticker}: {last} failed: {which}: read {follow_up(f'status {newest}', outputs)}, fix the cause, "
            f"then {follow_up(f'resume {newest}', outputs)}"
        )
    if drift and drift.get("error"):
        problems.append(f"{ticker}: the forecast ledger cannot be read: {drift['error']}")
    elif drift and drift.get("alarm"):
        problems.append(
            f"{ticker}: drift alarm: the last {drift['days']} scored published forecasts (window "
            f"{drift['window']}) are worse than forecasting a zero return, Diebold-Mariano p = "
            f"{drift['p_value']:.3g} < {drift['alpha']:g}: {DRIFT_ADVICE}"
        )
    return {
        "healthy": not problems,
        "problems": problems,
        "newest_run": _brief(runs[0], now) if runs else None,
        "newest_successful_run": _brief(ran, now) if ran else None,
        "recent_statuses": [r["status"] for r in recent],
        "drift": drift,
    }


def _brief(run: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {**run, "age_hours": _hours(now, run["created_at"])}


def format_text(report: dict[str, Any]) -> str:
    """One line per ticker (``ok`` with what was checked, or its problems), then a summary line."""
    lines = [p for p in report["problems"] if not any(p.startswith(f"{t}: ") for t in report["tickers"])]
    for ticker, entry in report["tickers"].items():
        if entry["problems"]:
            lines.extend(entry["problems"])
            continue
        ran, drift = entry["newest_successful_run"], entry["drift"]
        said = (
            "no forecast ledger yet"
            if drift is None
            else drift["why"]
            if drift.get("p_value") is not None
            else f"drift not tested yet ({drift['why']})"
        )
        lines.append(
            f"{ticker}: ok: newest successful run {ran['run_id']} ({ran['status']}) started "
            f"{ago(ran['age_hours'])} ago; last runs {', '.join(entry['recent_statuses'])}; {said}"
        )
    for line in report["unreadable_runs"]:
        lines.append(f"warning: a run's manifest cannot be read (its ticker is unknown): {line}")
    bad = [t for t, e in report["tickers"].items() if not e["healthy"]]
    lines.append(
        f"healthy: {len(report['tickers'])} ticker(s), {report['runs']} run(s) in {report['runs_folder']}"
        if report["healthy"]
        else f"UNHEALTHY: {len(report['problems'])} problem(s)"
        + (f" ({', '.join(bad)})" if bad else "")
        + f" in {report['runs_folder']} (max age {report['max_age_hours']:g} h, failures {report['failures']})"
    )
    return "\n".join(lines)
