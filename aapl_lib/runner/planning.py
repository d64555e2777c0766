"""What a run does with each task before executing it: the earlier run whose outputs stand in for the tasks
before ``--start-task``, whether a finished task's files still match its record, whether a task may be reused
from the cache (never in a live download window) and, when it runs, why; a reused task's files linked in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.pipeline.states import DONE
from aapl_lib.pipeline.tasks import TASKS, TaskSpec, producer_of
from aapl_lib.runner.fingerprints import explain_difference
from aapl_lib.runner.options import RunOptions
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import copy_artifact
from aapl_lib.store.run_record import RunRecord, TaskRecord
from aapl_lib.store.runs import ScannedRun, scan_runs


def artifact_mismatch(run_dir: Path, record: dict[str, Any]) -> str | None:
    """The first artifact of a finished task that is missing or differs from its recorded sha256."""
    for rel, info in (record.get("artifacts") or {}).items():
        path = run_dir / rel
        if not path.is_file():
            return f"{rel} is missing"
        if mf.sha256_file(path) != info["sha256"]:
            return f"{rel} no longer matches the sha256 recorded in the manifest"
    return None


def live_window(task: TaskSpec, params: dict[str, Any], today: dt.date) -> bool:
    return task.name == "data_ingestion" and params["source"] == "yfinance" and params["end"] >= today.isoformat()


# ------------------------------------------------------------------------------------------ upstream copy
def plan_upstream(
    tasks: list[TaskSpec], params: dict, run_dir: Path, outputs_dir: Path, from_run: Path | None
) -> tuple[Path | None, list[TaskSpec], dict]:
    """For a run that starts after task 1: the earlier run whose outputs can stand in for the tasks before
    it — ``from_run``, else the newest run where those tasks finished with the same values of their params
    and files that still match their sha256. Raises ParameterError when there is none."""
    first = tasks[0]
    upstream = list(TASKS[: [t.name for t in TASKS].index(first.name)])
    if not upstream:
        return None, [], {}
    if all((run_dir / rel).is_file() for t in upstream for rel in t.outputs):
        return None, upstream, {}
    producer = producer_of(first.inputs[0]) if first.inputs else upstream[-1]
    candidates = [_given_run(from_run)] if from_run else list(scan_runs(outputs_dir))
    if not candidates:
        raise ParameterError(
            f"--start-task {first.name} needs the outputs of {producer.name}, and no earlier "
            f"run has them: run python runner.py --end-task {producer.name} first"
        )
    first_problem = None
    for candidate in candidates:
        base, base_manifest = candidate.run_dir, candidate.manifest
        if base_manifest is None:  # a damaged record cannot vouch for its files
            first_problem = first_problem or f"run {base.name}: {candidate.error}"
            continue
        problem = _upstream_problem(base, base_manifest, upstream, params)
        if problem is None:
            return base, upstream, base_manifest
        first_problem = first_problem or f"run {base.name}: {problem}"
    raise ParameterError(
        f"--start-task {first.name}: no earlier run can supply the outputs of "
        f"{producer.name} (newest checked, {first_problem}); run python runner.py --end-task "
        f"{producer.name} with these parameters first"
    )


def _given_run(run_dir: Path) -> ScannedRun:
    """``--from-run``'s folder with its manifest read (a damaged one is a problem to report, not a crash)."""
    try:
        return ScannedRun(run_dir, mf.load(run_dir))
    except PipelineError as exc:
        return ScannedRun(run_dir, None, exc)


def _upstream_problem(base: Path, base_manifest: dict, upstream: list[TaskSpec], params: dict) -> str | None:
    for t in upstream:
        state = base_manifest["tasks"].get(t.name, {})
        if state.get("status") not in DONE:
            return f"{t.name} did not finish there"
        changed = [p for p in t.params if base_manifest["params"].get(p) != params.get(p)]
        if changed:
            return f"{t.name} ran with other values of {', '.join(changed)}"
        mismatch = artifact_mismatch(base, state)
        if mismatch:
            return f"{t.name}: {mismatch}"
    return None


def why_run(
    task: TaskSpec, record: TaskRecord, previous: dict | None, opts: RunOptions, stale: bool, live: bool
) -> str:
    if stale:
        return "an earlier task was redone"
    if opts.force or task.name in opts.force_tasks:
        return "forced"
    if live:
        return "live download window reaches today"
    old = (previous or {}).get("tasks", {}).get(task.name, {}).get("fingerprint_parts")
    if not old:
        return "first run of this task"
    changed = explain_difference(old, record.get("fingerprint_parts"))
    return f"changed: {changed}" if changed != "nothing" else "no reusable result in the cache"


def cache_entry(run_id: str, task: TaskSpec, record: TaskRecord) -> dict:
    """What the reuse cache keeps of a task this run executed (its HTML paths arrive once rendered)."""
    return {
        "run_id": run_id,
        "task": task.name,
        "artifacts": {rel: info["sha256"] for rel, info in record.artifacts.items()},
        "notebook": record.get("executed_notebook"),
        "html": record.get("html"),
        "report_html": record.get("report_html"),
        "scraps": record.get("scraps", {}),
        "duration_s": record.duration_s,
    }


def reuse(entry: dict, task: TaskSpec, record: TaskRecord, run_dir: Path, outputs_dir: Path) -> None:
    """Copy the cache ``entry``'s files (outputs, executed notebook, pages) into ``run_dir``; ``record`` says so."""
    source = layout.run_dir(outputs_dir, entry["run_id"])
    for rel in entry["artifacts"]:
        copy_artifact(source / rel, run_dir / rel)
    for key in ("notebook", "html", "report_html"):
        rel = entry.get(key)
        if rel and (source / rel).is_file():
            copy_artifact(source / rel, run_dir / rel)
    record.reuse(entry, mf.artifact_records(run_dir, task.outputs))


def take_upstream(run: RunRecord, upstream: list[TaskSpec], base: Path | None, base_manifest: dict) -> None:
    """Record the tasks before ``--start-task`` as present in the run folder (``base`` None) or copy their
    outputs from run ``base`` (:func:`plan_upstream`)."""
    for t in upstream:
        if base is None:
            run.tasks[t.name].present(f"outputs already in {run.run_dir}", mf.artifact_records(run.run_dir, t.outputs))
            continue
        for rel in t.outputs:
            copy_artifact(base / rel, run.run_dir / rel)
        run.tasks[t.name].copied(base.name, base_manifest["tasks"][t.name]["artifacts"])
