"""Finding run folders and describing them: the run to resume, a batch's unfinished run for a ticker, a run
by id (or the one worked on last), the latest other run's manifest, and the rows of ``status`` and ``list``.

Also what plain ``resume`` finds besides run folders: a run's *intent* (``outputs/intents/<run_id>.json``,
written before anything slow, so a run killed before its folder had a manifest is still resumable) and a
*replay record* (``outputs/replays/<replay_id>.json``: a replay's days, options and each day's outcome)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.io.iorw import json_digest, read_json, write_json
from aapl_lib.io.locks import is_held
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


NEVER_BEGAN = "killed before its run folder was written"  # why plain resume takes an orphaned intent


def find_resumable(outputs_dir: Path) -> tuple[Path | None, str]:
    """The newest run that is not finished (interrupted, failed, timed out, awaiting or just given a decision,
    stopped by a lock) or never began (an orphaned intent, :func:`orphaned_intents`), and why; ``(None,
    reason)`` when every run finished. A run that is still running (its lock is held) is skipped, and so is a
    run a batch or an unfinished replay started (they are resumed with it)."""
    found: tuple[Path | None, str] = (None, "")
    for run in scan_runs(outputs_dir):
        if run.manifest is None:
            continue  # a damaged record is reported by status/list, never resumed blindly
        if run.manifest.get("batch_id") or replay_unfinished(outputs_dir, run.manifest.get("replay_id")):
            continue  # a batch's or a replay's runs are resumed with it
        status = mf.effective_status(run.run_dir, run.manifest)
        if status in mf.UNFINISHED:
            found = run.run_dir, status
            break
    intent = next(iter(orphaned_intents(outputs_dir)), None)
    if intent is not None and (found[0] is None or intent["run_id"] > found[0].name):  # ids sort by start time
        return layout.run_dir(outputs_dir, intent["run_id"]), NEVER_BEGAN
    if found[0] is not None:
        return found
    newest = layout.run_folders(outputs_dir)
    return None, (
        f"nothing to resume: every run in {outputs_dir / 'runs'} has finished or is running"
        if newest
        else f"nothing to resume: there is no run in {outputs_dir / 'runs'} yet"
    )


# ------------------------------------------------------------------------------------------ intents
def write_intent(outputs_dir: Path, intent: dict[str, Any]) -> Path:
    """Record, atomically, what the run ``intent["run_id"]`` was asked to do (its resolved params, task
    selection and options), before anything slow; the caller holds :func:`layout.intent_lock` meanwhile."""
    return write_json(layout.intent_path(outputs_dir, intent["run_id"]), intent)


def drop_intent(outputs_dir: Path, run_id: str) -> None:
    """Forget the intent of ``run_id``: its run folder has a manifest now (or it never will: nothing ran)."""
    layout.intent_path(outputs_dir, run_id).unlink(missing_ok=True)


def read_intent(outputs_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The intent of ``run_id`` when it is orphaned — no live process holds it and its run folder has no
    manifest — else None."""
    path = layout.intent_path(outputs_dir, run_id)
    if not path.is_file() or is_held(layout.intent_lock(outputs_dir, run_id)):
        return None
    if (layout.run_dir(outputs_dir, run_id) / layout.MANIFEST).is_file():
        return None  # killed after the manifest was written, before the intent was dropped: the run stands
    try:
        intent = read_json(path)
    except (OSError, ValueError):
        return None  # written atomically, so only a hand could damage it; the run is not guessed from it
    return intent if isinstance(intent, dict) and intent.get("run_id") == run_id else None


def orphaned_intents(outputs_dir: Path) -> Iterator[dict[str, Any]]:
    """Every orphaned intent (:func:`read_intent`) plain ``resume`` may take, newest first: not one a batch or
    an unfinished replay will take care of."""
    for path in layout.intent_paths(outputs_dir):
        intent = read_intent(outputs_dir, path.stem)
        if intent is not None and not replay_unfinished(outputs_dir, intent.get("replay_id")):
            yield intent


# ------------------------------------------------------------------------------------------ replays
REPLAY_RUNNING, REPLAY_INTERRUPTED, REPLAY_FINISHED = "running", "interrupted", "finished"


def new_replay(outputs_dir: Path, days: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """Record, atomically, a replay about to start: its id (``20261203T180000Z-replay-1a2b3c``: sorts by time
    like run ids), its days, its ``options`` (params file and ``-p`` pairs) and no outcome yet."""
    now = dt.datetime.now(dt.UTC)
    record = {
        "replay_id": f"{now:%Y%m%dT%H%M%SZ}-replay-{json_digest([days, options, now.isoformat()])[:6]}",
        "status": REPLAY_RUNNING,
        "created_at": now.isoformat(),
        "days": days,
        "options": options,
        "outcomes": {},
    }
    save_replay(outputs_dir, record)
    _supersede_replays(outputs_dir, record)
    return record


def _supersede_replays(outputs_dir: Path, record: dict[str, Any]) -> None:
    """Mark finished each interrupted replay with the same options whose days left this one covers (the
    ``replay --from DAY`` a stopped replay prints): plain resume must not run those days a second time."""
    for path in layout.replay_records(outputs_dir):
        try:
            older = read_json(path)
        except (OSError, ValueError):
            continue
        left = [day for day in older.get("days", []) if day not in older.get("outcomes", {})]
        if (
            older.get("replay_id") != record["replay_id"]
            and older.get("options") == record["options"]
            and replay_status(outputs_dir, older) == REPLAY_INTERRUPTED
            and set(left) <= set(record["days"])
        ):
            save_replay(outputs_dir, {**older, "status": REPLAY_FINISHED, "superseded_by": record["replay_id"]})


def save_replay(outputs_dir: Path, record: dict[str, Any]) -> Path:
    """Write a replay record atomically."""
    return write_json(layout.replay_record(outputs_dir, record["replay_id"]), record)


def replay_status(outputs_dir: Path, record: dict[str, Any]) -> str:
    """``running`` only while a live process holds the replay's lock: a record that says so with its lock free
    was killed, and reads ``interrupted``."""
    status = str(record.get("status", REPLAY_INTERRUPTED))
    if status == REPLAY_RUNNING and not is_held(layout.replay_lock(outputs_dir, record["replay_id"])):
        return REPLAY_INTERRUPTED
    return status


def replay_unfinished(outputs_dir: Path, replay_id: str | None) -> bool:
    """Whether ``replay_id`` names a replay that has days left (running or interrupted)."""
    if not replay_id:
        return False
    try:
        record = read_json(layout.replay_record(outputs_dir, replay_id))
    except (OSError, ValueError):
        return False  # no record (deleted by hand): its runs are ordinary runs
    return record.get("status") != REPLAY_FINISHED


def newest_unfinished_replay(outputs_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The newest replay with days left that no live process works through, and its status."""
    for path in layout.replay_records(outputs_dir):
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue  # a damaged record is never continued blindly
        status = replay_status(outputs_dir, record)
        if status == REPLAY_INTERRUPTED:
            return record, status
    return None, ""


def replay_day_run(outputs_dir: Path, replay_id: str, day: str) -> tuple[str, str] | None:
    """The run replay ``replay_id`` started for ``day`` (its id and status as a person reads it; ``NEVER_BEGAN``
    for an orphaned intent), newest first; None when it started none."""
    for path in layout.intent_paths(outputs_dir):
        intent = read_intent(outputs_dir, path.stem)
        if intent is not None and intent.get("replay_id") == replay_id and intent["params"].get("end") == day:
            return intent["run_id"], NEVER_BEGAN
    for run in scan_runs(outputs_dir):
        m = run.manifest
        if m is not None and m.get("replay_id") == replay_id and m["params"].get("end") == day:
            return run.run_dir.name, mf.effective_status(run.run_dir, m)
    return None


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
    """Every run folder, newest first, with its status (for ``list``); a run killed before its folder had a
    manifest (an orphaned intent) reads ``interrupted``, with the command that starts it again."""
    intents = {p.stem: i for p in layout.intent_paths(outputs_dir) if (i := read_intent(outputs_dir, p.stem))}
    rows = [_intent_row(outputs_dir, intent) for intent in intents.values()]
    for run in scan_runs(outputs_dir, every_folder=True):
        if run.manifest is None and run.run_dir.name in intents:
            continue  # its intent's row stands for it
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


def _intent_row(outputs_dir: Path, intent: dict[str, Any]) -> dict[str, Any]:
    """``list``'s row of a run that never began: its parameters, no task run yet."""
    params = intent.get("params") or {}
    return {
        "run_id": intent["run_id"],
        "status": State.INTERRUPTED,
        "resume": mf.resume_hint(intent["run_id"], State.INTERRUPTED, None, outputs_dir),
        "ticker": params.get("ticker", ""),
        "source": params.get("source", ""),
        "window": f"{params.get('start')}..{params.get('end')}",
        "created_at": intent.get("created_at"),
        "duration_s": None,
        "tasks": {},
        "error": NEVER_BEGAN,
    }
