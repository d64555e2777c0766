"""Retention: delete old runs (``runner.py prune --keep-days N``; ``retention_days`` at each run's start)
and keep ``outputs/logs/pipeline_summary.log`` to ``summary_log_days`` of lines."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import atomic_write_text
from aapl_lib.io.locks import LockBusyError, PathLock
from aapl_lib.pipeline.tasks import DATA_DIR
from aapl_lib.store import layout


def run_started(run_dir: Path) -> dt.datetime | None:
    """When a run started, from its id (``20261126T233000Z-...``)."""
    try:
        return dt.datetime.strptime(run_dir.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def prune_runs(
    outputs_dir: Path,
    keep_days: int,
    *,
    dry_run: bool = False,
    keep: set[str] = frozenset(),
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Delete run folders that started more than ``keep_days`` ago, except the latest run, runs in ``keep``
    and runs locked by a live runner. Returns what was (or would be) deleted and kept."""
    from aapl_lib.store.reuse_cache import ReuseCache

    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=keep_days)
    latest = layout.latest_run_dir(outputs_dir)
    deleted, skipped = [], []
    for run_dir in layout.all_run_dirs(outputs_dir):
        started = run_started(run_dir)
        if started is None or started >= cutoff:
            continue
        if run_dir.name in keep or (latest is not None and run_dir.resolve() == latest):
            skipped.append({"run_id": run_dir.name, "reason": "latest or kept"})
            continue
        try:
            with PathLock(run_dir / ".lock", f"run {run_dir.name}", timeout=0):
                if not dry_run:
                    shutil.rmtree(run_dir / DATA_DIR, ignore_errors=True)  # the biggest part first
                    shutil.rmtree(run_dir, ignore_errors=True)
        except LockBusyError:
            skipped.append({"run_id": run_dir.name, "reason": "in use"})
            continue
        deleted.append(run_dir.name)
    if deleted and not dry_run:
        ReuseCache(outputs_dir).forget_runs(set(deleted))
    return {"deleted": deleted, "skipped": skipped, "cutoff": cutoff.isoformat(), "dry_run": dry_run}


def trim_summary_log(outputs_dir: Path, keep_days: int, now: dt.datetime | None = None) -> int:
    """Drop summary-log lines older than ``keep_days``; return how many were dropped."""
    path = layout.summary_log(outputs_dir)
    if not path.is_file():
        return 0
    now = now or dt.datetime.now(dt.UTC)
    cutoff = (now - dt.timedelta(days=keep_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if not (ln.startswith("[") and ln[1:21] < cutoff)]
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))
    return len(lines) - len(kept)
