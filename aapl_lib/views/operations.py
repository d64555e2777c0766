"""The numbers of the operations page, from run manifests alone: no file is read here and the clock is an
argument (``now``), so the same manifests and ``now`` always give the same page.

How each number is counted (``docs/operations.md`` says the same to a reader):

* **Success rate** over the runs that *ended* in the last ``days`` (30) days (their ``ended_at``; a run a
  killed runner left ``running`` ends at its manifest's last write). Ended well: ``success`` and the runs the
  approval gate stopped (``awaiting_approval``, ``approved``, ``rejected``): the pipeline did its part, the
  decision is a person's under the manual policy. Ended badly: ``failed``, ``timed_out``, ``interrupted``,
  ``locked`` and any status this module does not know. A run still ``running`` (or ``pending``) has not ended
  and is not counted. Rate = ended well / ended; it meets the target (95 %) when rate >= target.
* **Task durations**: every task that executed and succeeded (``success``), over every run on record; a reused
  task (0 s, its files copied) and a failed one are left out. Median and slowest, with the slowest run's id.
* **Reuse**: per task, executed (``success``) and ``reused`` counts, share = reused / (executed + reused).
* **Freshness**: per ticker, the newest ``success`` run, the last price date its ingestion recorded
  (``data_ingestion`` scrap ``last_date``, kept when the task is reused) and the hours since that run ended.
* **Awaiting approval**: every run in ``awaiting_approval``, oldest first, with the commands that decide it.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import parse_utc as when
from aapl_lib.pipeline.states import AT_GATE, ENDED_BADLY, ENDED_WELL, State
from aapl_lib.pipeline.tasks import TASKS

WINDOW_DAYS = 30  # the success rate's window
TARGET = 0.95  # DESIGN: 95 %+ run success
NOT_ENDED = (State.RUNNING, State.PENDING)
FAILURES = ENDED_BADLY  # named on the page; any other status: "other"


def ended_at(manifest: dict[str, Any]) -> dt.datetime | None:
    """When a run ended: ``ended_at``; for a run a killed runner left behind, its manifest's last write."""
    return when(manifest.get("ended_at")) or when(manifest.get("updated_at")) or when(manifest.get("created_at"))


def _hours(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds() / 3600, 1)


def success_rate(
    manifests: list[dict[str, Any]], now: dt.datetime, days: int = WINDOW_DAYS, target: float = TARGET
) -> dict[str, Any]:
    """The runs that ended in the ``days`` before ``now``, by outcome, and the share that ended well."""
    since = now - dt.timedelta(days=days)
    ended: Counter[str] = Counter()
    running = 0
    for m in manifests:
        status = str(m.get("status", "?"))
        if status in NOT_ENDED:
            running += 1
            continue
        end = ended_at(m)
        if end is not None and since <= end <= now:
            ended[status] += 1
    well = sum(ended[s] for s in ENDED_WELL)
    total = sum(ended.values())
    rate = well / total if total else None
    return {
        "days": days,
        "since": since,
        "target": target,
        "ended": total,
        "succeeded": ended[State.SUCCESS],
        "at_gate": sum(ended[s] for s in AT_GATE),
        "awaiting_approval": ended[State.AWAITING_APPROVAL],
        "ended_well": well,
        "failed": ended[State.FAILED],
        "timed_out": ended[State.TIMED_OUT],
        "interrupted": ended[State.INTERRUPTED],
        "locked": ended[State.LOCKED],
        "other": total - well - sum(ended[s] for s in FAILURES),
        "ended_badly": total - well,
        "still_running": running,
        "rate": rate,
        "meets_target": rate is not None and rate >= target,
    }


def task_names(manifests: list[dict[str, Any]]) -> list[str]:
    """The DAG's tasks in order, then any other task a manifest names (an older DAG's)."""
    names = [t.name for t in TASKS]
    for m in manifests:
        names += [n for n in m.get("tasks", {}) if n not in names]
    return names


def duration_series(manifests: list[dict[str, Any]]) -> dict[str, list[tuple[dt.datetime, float, str]]]:
    """Per task, ``(run start, seconds, run id)`` of each successful execution, oldest first."""
    series: dict[str, list[tuple[dt.datetime, float, str]]] = {n: [] for n in task_names(manifests)}
    for m in manifests:
        start = when(m.get("created_at"))
        for name, rec in m.get("tasks", {}).items():
            seconds = rec.get("duration_s")
            if rec.get("status") == State.SUCCESS and isinstance(seconds, int | float) and start is not None:
                series[name].append((start, float(seconds), str(m.get("run_id"))))
    for points in series.values():
        points.sort()
    return series


def durations(series: dict[str, list[tuple[dt.datetime, float, str]]]) -> list[dict[str, Any]]:
    """Per task: executions, median and slowest seconds, the slowest run's id (None where it never ran)."""
    rows = []
    for name, points in series.items():
        seconds = [s for _, s, _ in points]
        slowest = max(points, key=lambda p: p[1]) if points else None
        rows.append(
            {
                "task": name,
                "executed": len(points),
                "median_s": statistics.median(seconds) if seconds else None,
                "slowest_s": slowest[1] if slowest else None,
                "slowest_run": slowest[2] if slowest else None,
            }
        )
    return rows


def reuse(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: how often it executed (``success``) and how often it was ``reused``, and the reused share."""
    executed: Counter[str] = Counter()
    reused: Counter[str] = Counter()
    for m in manifests:
        for name, rec in m.get("tasks", {}).items():
            if rec.get("status") == State.SUCCESS:
                executed[name] += 1
            elif rec.get("status") == State.REUSED:
                reused[name] += 1
    rows = []
    for name in task_names(manifests):
        total = executed[name] + reused[name]
        rows.append(
            {
                "task": name,
                "executed": executed[name],
                "reused": reused[name],
                "share": reused[name] / total if total else None,
            }
        )
    return rows


def freshness(manifests: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Per ticker (alphabetical): the newest successful run, its last price date and how old each is."""
    newest: dict[str, dict[str, Any]] = {}
    for m in manifests:
        ticker = str((m.get("params") or {}).get("ticker", "?"))
        if m.get("status") != State.SUCCESS:
            continue
        key = (m.get("created_at") or "", str(m.get("run_id")))
        if ticker not in newest or key > (newest[ticker].get("created_at") or "", str(newest[ticker].get("run_id"))):
            newest[ticker] = m
    rows = []
    for ticker in sorted(newest):
        m = newest[ticker]
        scraps = (m["tasks"].get("data_ingestion") or {}).get("scraps") or {}
        last = scraps.get("last_date")
        price_day = when(f"{last}T00:00:00") if isinstance(last, str) else None
        rows.append(
            {
                "ticker": ticker,
                "run_id": m.get("run_id"),
                "last_price_date": last if price_day else None,
                "price_age_days": (now.date() - price_day.date()).days if price_day else None,
                "run_ended": ended_at(m),
                "run_age_hours": _hours(now, ended_at(m)),
            }
        )
    return rows


def awaiting(
    manifests: list[dict[str, Any]], now: dt.datetime, outputs_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Every run awaiting approval, oldest first: since when (the gate's ``since``) and the deciding commands."""
    rows = []
    for m in manifests:
        if m.get("status") != State.AWAITING_APPROVAL:
            continue
        run_id = str(m.get("run_id"))
        since = when((m.get("gate") or {}).get("since")) or ended_at(m)
        target = m.get("batch_id") or run_id
        rows.append(
            {
                "run_id": run_id,
                "ticker": (m.get("params") or {}).get("ticker", "?"),
                "since": since,
                "waiting_hours": _hours(now, since),
                "approve": follow_up(f"approve {run_id} --by NAME [--note TEXT]", outputs_dir),
                "reject": follow_up(f"reject {run_id} --by NAME [--note TEXT]", outputs_dir),
                "resume": follow_up(f"resume {target}", outputs_dir),
            }
        )
    rows.sort(key=lambda r: (r["since"] or now, r["run_id"]))
    return rows


def summarize(
    manifests: list[dict[str, Any]],
    now: dt.datetime,
    days: int = WINDOW_DAYS,
    target: float = TARGET,
    outputs_dir: Path | None = None,
) -> dict[str, Any]:
    """Everything the operations page shows, from manifests as ``status`` reads them (``manifest.as_read``:
    a run a killed runner left ``running`` reads ``interrupted``) and an aware ``now``; the commands it prints
    are for ``outputs_dir``."""
    series = duration_series(manifests)
    return {
        "now": now,
        "runs": len(manifests),
        "success": success_rate(manifests, now, days, target),
        "series": series,
        "durations": durations(series),
        "reuse": reuse(manifests),
        "freshness": freshness(manifests, now),
        "awaiting": awaiting(manifests, now, outputs_dir),
    }
