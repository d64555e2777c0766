"""Finding run folders and describing them: the run to resume, a batch's unfinished run for a ticker, a run
by id (or the one worked on last), the latest other run's manifest, and the rows of ``status`` and ``list``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf


@dataclass(frozen=True)
class ScannedRun:
    """One folder of ``outputs/runs`` as :func:`scan_runs` found it."""

    run_dir: Path
    manifest: dict[str, Any] | None  # None when it cannot be read
    error: Exception | None = None  # why not: a CorruptStateError naming the file, or the OSError


def scan_runs(outputs_dir: Path, every_folder: bool = False) -> Iterator[ScannedRun]:
    """Every run folder with a manifest, newest first (run ids sort by their start time), the manifest read
    or the error that stopped it; ``every_folder`` includes folders without one (``list`` shows them)."""
    folders = reversed(layout.all_run_dirs(outputs_dir)) if every_folder else layout.run_folders(outputs_dir)
    for run_dir in folders:
        try:
            found = ScannedRun(run_dir, mf.load(run_dir))
        except (OSError, PipelineError) as exc:
            found = ScannedRun(run_dir, None, exc)
        yield found


def find_resumable(outputs_dir: Path) -> tuple[Path | None, str]:
    """The newest run that is not finished (interrupted, failed, timed out, awaiting or just given a decision,
    stopped by a lock), and why; ``(None, reason)`` when every run finished. A run that is still running (its
    lock is held) is skipped."""
    for run in scan_runs(outputs_dir):
        if run.manifest is None:
            continue  # a damaged record is reported by status/list, never resumed blindly
        if run.manifest.get("batch_id"):
            continue  # a batch's runs are resumed with their batch
        status = mf.effective_status(run.run_dir, run.manifest)
        if status in mf.UNFINISHED:
            return run.run_dir, status
    newest = layout.run_folders(outputs_dir)
    return None, (
        f"nothing to resume: every run in {outputs_dir / 'runs'} has finished or is running"
        if newest
        else f"nothing to resume: there is no run in {outputs_dir / 'runs'} yet"
    )


def unfinished_batch_run(outputs_dir: Path, batch_id: str, ticker: str) -> Path | None:
    """The newest unfinished run that batch ``batch_id`` started for ``ticker``, if any."""
    for run in scan_runs(outputs_dir):
        if (
            run.manifest is not None
            and run.manifest.get("batch_id") == batch_id
            and run.manifest["params"].get("ticker") == ticker
            and mf.effective_status(run.run_dir, run.manifest) in mf.UNFINISHED
        ):
            return run.run_dir
    return None


def find_run(outputs_dir: Path, run_id: str | None) -> Path:
    """The folder of ``run_id`` (default: the run worked on most recently — started, resumed, decided or
    interrupted last — whose manifest was written last); a ParameterError naming the choices otherwise."""
    if run_id is None:
        runs = layout.run_folders(outputs_dir)
        if not runs:
            raise ParameterError(
                f"there is no run in {layout.runs_dir(outputs_dir)} yet: start one with python runner.py"
            )
        return max(runs, key=lambda p: ((p / layout.MANIFEST).stat().st_mtime_ns, p.name))
    if "/" in run_id or run_id in ("", ".", ".."):
        raise ParameterError(f"{run_id!r} is not a run id (like 20261126T233000Z-aapl-1a2b3c)")
    run_dir = layout.run_dir(outputs_dir, run_id)
    if not (run_dir / layout.MANIFEST).is_file():
        raise ParameterError(f"no run {run_id} in {layout.runs_dir(outputs_dir)}: see python runner.py list")
    return run_dir


def previous_manifest(outputs_dir: Path, run_dir: Path, params: dict) -> dict | None:
    """The latest other run's manifest (to explain why a task runs again)."""
    latest = layout.latest_run_dir(outputs_dir)
    if latest is None or latest == run_dir or not (latest / layout.MANIFEST).is_file():
        return None
    try:
        return mf.load(latest)
    except (OSError, ValueError, PipelineError):
        return None


def describe_run(run_dir: Path) -> list[dict[str, Any]]:
    """One row per task: state, duration, reused-or-run, executed notebook (for ``status``)."""
    manifest = mf.as_read(run_dir, mf.load(run_dir))  # a task the runner died in reads `interrupted`
    rows = []
    for task in TASKS:
        rec = manifest["tasks"].get(task.name, {})
        how = {
            "reused": f"reused from {rec.get('reused_from')}",
            "copied": f"copied from {rec.get('from_run')}",
            State.SUCCESS: "run",
            State.FAILED: "run",
            State.TIMED_OUT: "run",
        }.get(rec.get("status", ""), "")
        nb = rec.get("executed_notebook")
        rows.append(
            {
                "task": task.name,
                "status": rec.get("status", "?"),
                "duration_s": rec.get("duration_s"),
                "how": how,
                "notebook": str(run_dir / nb) if nb and (run_dir / nb).exists() else "",
                "error": rec.get("error", ""),
            }
        )
    return rows


def list_runs(outputs_dir: Path) -> list[dict[str, Any]]:
    """Every run folder, newest first, with its status (for ``list``)."""
    rows = []
    for run in scan_runs(outputs_dir, every_folder=True):
        if run.manifest is None:
            rows.append({"run_id": run.run_dir.name, "status": "unreadable", "error": str(run.error)})
            continue
        m = mf.as_read(run.run_dir, run.manifest)
        counts: dict[str, int] = {}
        for rec in m["tasks"].values():
            counts[rec.get("status", "?")] = counts.get(rec.get("status", "?"), 0) + 1
        rows.append(
            {
                "run_id": m["run_id"],
                "status": m["status"],
                "resume": m["resume"],
                "ticker": m["params"]["ticker"],
                "source": m["params"]["source"],
                "window": f"{m['params']['start']}..{m['params']['end']}",
                "created_at": m.get("created_at"),
                "duration_s": m.get("duration_s"),
                "tasks": counts,
            }
        )
    rows.sort(key=lambda r: (r.get("created_at") or "", r["run_id"]), reverse=True)
    return rows
