"""``runner.py reproduce``: run a finished run again from its manifest and compare what comes out.

The reproduction is written into a scratch outputs folder of its own (``outputs/reproductions/<run_id>-<stamp>/``
or ``--into DIR``): its runs, champion registry, reuse cache and ``latest`` are not the real ones, and every
task is executed (``force``). What it needs to see what the original saw is put there first:

* the same input: source ``sample`` loads the same sample; source ``csv`` must read a file whose sha256 is the
  one the original recorded in ``data/provenance.json`` (else it stops, exit 1); source ``yfinance`` cannot be
  downloaded again identically, so the original's raw data (sha256 checked) is copied in and the tasks from
  ``data_cleaning`` on are executed;
* the same champion: the one the original's ``reports/evaluation.json`` names, from the registry's
  content-addressed model files (its record from ``champion.json`` or ``history.jsonl``);
* the same gate decision: a person's (``manual`` policy) is applied again with the same name and note, then the
  report is finished, as ``approve``/``reject`` and ``resume`` do.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aapl_lib.errors import IntegrityError, ParameterError, PipelineError
from aapl_lib.io.iorw import read_json, sha256_file, write_json
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASK_NAMES, TASKS
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.planning import artifact_mismatch
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.integrity import recorded_artifacts, verify_run
from aapl_lib.store.runs import find_run
from aapl_lib.views.artifact_diff import ASIDE, IDENTICAL, compare_files

FIRST = "data_ingestion"


def scratch_outputs(outputs_dir: Path, run_id: str, into: Path | None) -> Path:
    """The reproduction's outputs folder: ``into`` (new or empty, not the real outputs folder or one holding
    it), else a new ``outputs/reproductions/<run_id>-<stamp>``."""
    if into is None:
        stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
        path = layout.reproduction_dir(outputs_dir, run_id, stamp)
        return path.with_name(f"{path.name}-{os.getpid()}") if path.exists() else path
    into = into.resolve()
    if into == outputs_dir or outputs_dir.is_relative_to(into) or into.is_relative_to(layout.runs_dir(outputs_dir)):
        raise ParameterError(
            f"--into {into} is (or holds) the outputs folder {outputs_dir} or lies in its runs: give a new folder"
        )
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ParameterError(f"--into {into} is not an empty folder: give a new or empty folder")
    return into


def check_csv_input(original: Path, manifest: dict[str, Any]) -> str:
    """The original's CSV input must be the file it read (the sha256 in its provenance); IntegrityError else."""
    run_id = manifest["run_id"]
    problem = artifact_mismatch(original, manifest["tasks"][FIRST])
    if problem:
        raise IntegrityError(
            f"run {run_id}'s {problem}: its record of which input file it read cannot be trusted; nothing reproduced"
        )
    details = read_json(original / "data" / "provenance.json").get("details", {})
    path, recorded = Path(details.get("csv_path") or manifest["params"]["csv_path"]), details.get("csv_sha256")
    if not recorded:
        raise IntegrityError(f"run {run_id}'s data/provenance.json records no sha256 of its input file {path}")
    if not path.is_file():
        raise IntegrityError(f"the input file {path} that run {run_id} read is gone: restore it to reproduce the run")
    now = sha256_file(path)
    if now != recorded:
        raise IntegrityError(
            f"the input file {path} changed since run {run_id} read it (sha256 then {recorded[:16]}…, now "
            f"{now[:16]}…): a reproduction would read other prices. Restore the file; nothing was reproduced"
        )
    return f"input: {path}, the same file run {run_id} read (sha256 {recorded[:16]}… as recorded in its provenance)"


def _champion_record(registry: Registry, sha: str) -> dict[str, Any] | None:
    try:
        current = registry.champion()
    except PipelineError:
        current = None
    if current and current["sha256"] == sha:
        return current
    history = registry.dir / "history.jsonl"
    found = None
    for line in history.read_text(encoding="utf-8", errors="replace").splitlines() if history.is_file() else []:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "promoted" and event.get("sha256") == sha:
            found = {k: v for k, v in event.items() if k != "event"}
    return found


def seed_champion(original: Path, run_id: str, outputs_dir: Path, scratch: Path, ticker: str) -> tuple[bool, str]:
    """Put the champion the original was evaluated against into the scratch registry; ``(found, note)``."""
    evaluation = original / "reports" / "evaluation.json"
    if not evaluation.is_file():
        return True, f"champion: run {run_id} has no evaluation; the reproduction starts with an empty registry"
    champion = read_json(evaluation).get("champion")
    if not champion:
        return True, (
            f"champion: run {run_id} was evaluated without a champion; so is the reproduction (an empty "
            "registry, whatever the real one holds now)"
        )
    sha, source = champion["sha256"], Registry(outputs_dir, ticker)
    record = _champion_record(source, sha)
    model = source.champion_path(record) if record else None
    if record is None or not model.is_file() or sha256_file(model) != sha:
        where = "has no record of it" if record is None else f"no longer holds its model file {model} unchanged"
        return False, (
            f"champion NOT AVAILABLE: run {run_id} was compared against the champion from run {champion['run_id']} "
            f"(sha256 {sha[:16]}…), and the registry {source.dir} {where}: the reproduction runs without it, so "
            "the evaluation and what follows cannot match"
        )
    target = Registry(scratch, ticker)
    target.dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model, target.dir / model.name)
    if record.get("refit_file"):  # the model the champion published with (refit to publish)
        refit = source.champion_path(record, "refit_file")
        if refit.is_file():
            shutil.copy2(refit, target.dir / refit.name)
    write_json(target.record_path, record)
    return True, (
        f"champion: the model of run {champion['run_id']} (sha256 {sha[:16]}…) that run {run_id} was compared "
        f"against, copied from {model} into the reproduction's registry"
    )


def seed_ledger(outputs_dir: Path, scratch: Path, ticker: str, run_id: str) -> str:
    """Write the forecast ledger as run ``run_id`` found it into the scratch outputs; returns the note."""
    from aapl_lib.tracking.ledger import as_before, read_ledger, write_ledger

    before = as_before(read_ledger(layout.ledger_path(outputs_dir, ticker)), run_id)
    write_ledger(layout.ledger_path(scratch, ticker), before)
    return f"ledger: the {len(before)} forecast(s) recorded before run {run_id}, scored as it found them"


def seed_tries(outputs_dir: Path, scratch: Path, ticker: str, run_id: str) -> str:
    """Write the tries ledger as run ``run_id`` found it into the scratch outputs; returns the note."""
    from aapl_lib.io.iorw import atomic_write_text
    from aapl_lib.promotion.tries import as_before, read_tries

    entries, unreadable = read_tries(layout.tries_path(outputs_dir, ticker))
    before = as_before(entries, run_id)
    target = layout.tries_path(scratch, ticker)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, "".join(json.dumps(e, sort_keys=True) + "\n" for e in before))
    return f"tries: the {len(before)} configuration(s) recorded before run {run_id}" + (
        f" ({unreadable} unreadable line(s) left out)" if unreadable else ""
    )


def _differences_of_environment(original: dict[str, Any], repro: dict[str, Any]) -> list[str]:
    notes = []
    old, new = original.get("environment", {}), repro.get("environment", {})
    versions = [("python", old.get("python"), new.get("python"))] + [
        (name, version, new.get("packages", {}).get(name)) for name, version in old.get("packages", {}).items()
    ]
    moved = [f"{name} {a} -> {b}" for name, a, b in versions if a != b]
    if moved:
        notes.append("environment differs from the original's: " + ", ".join(moved))
    changed = []
    for name, rec in original["tasks"].items():
        before, after = rec.get("fingerprint_parts") or {}, repro["tasks"].get(name, {}).get("fingerprint_parts")
        parts = [k for k in ("notebook", "code") if before and after and before.get(k) != after.get(k)]
        if parts:
            changed.append(f"{name} ({', '.join(parts)})")
    if changed:
        notes.append("changed since the original ran (notebook or aapl_lib code): " + "; ".join(changed))
    return notes


def _apply_decision(original: Path, manifest: dict, result, scratch: Path, run_kwargs: dict, notes: list[str]):
    """The reproduction stopped at the manual gate: apply the original's decision and finish the report."""
    from aapl_lib.runner.orchestration import resume_run
    from aapl_lib.runner.steps.approval_gate import decide

    gate, run_id = manifest.get("gate") or {}, manifest["run_id"]
    decision_path = original / "reports" / "decision.json"
    if gate.get("status") != State.DECIDED or not decision_path.is_file():
        notes.append(f"approval gate: run {run_id} still awaits a person's decision; the reproduction stops there too")
        return result
    decision = read_json(decision_path)
    approve = decision["decision"] in (State.APPROVED, "promoted")
    decide(
        result.run_id,
        approve=approve,
        by=decision.get("by") or "reproduce",
        note=decision.get("note", ""),
        outputs_dir=scratch,
    )
    notes.append(
        f"approval gate: run {run_id}'s decision was a person's ({decision['decision']} by {decision.get('by')}); "
        f"the reproduction stopped at the gate too, and the same decision (name and note) was applied to it with "
        f"'{'approve' if approve else 'reject'}', then its report finished with 'resume' (in the scratch registry)"
    )
    return resume_run(result.run_id, outputs_dir=scratch, **run_kwargs)


def _task_range(
    original: Path, manifest: dict[str, Any], params: dict[str, Any], notes: list[str]
) -> tuple[str, str, Path | None]:
    """The tasks the reproduction executes (``start``, ``end``) and the run its earlier outputs are copied from
    (None: all from the first task); the original's input checked and the choice said in ``notes``."""
    run_id = manifest["run_id"]
    selection = manifest.get("selection") or {}
    start, end = selection.get("start_task") or FIRST, selection.get("end_task") or TASK_NAMES[-1]
    from_run = original if start != FIRST else None
    if from_run is not None:
        notes.append(f"tasks before {start} did not run in {run_id}: their outputs are copied from it (sha256 checked)")
    if start == FIRST and params["source"] == "csv":
        notes.append(check_csv_input(original, manifest))
    elif start == FIRST and params["source"] == "yfinance":
        if end == FIRST:
            raise ParameterError(f"run {run_id} only downloaded prices, and a download cannot be repeated identically")
        problem = artifact_mismatch(original, manifest["tasks"][FIRST])
        if problem:
            raise IntegrityError(
                f"run {run_id}'s {problem}: its downloaded prices cannot be reused; nothing reproduced"
            )
        start, from_run = "data_cleaning", original
        notes.append(
            "source yfinance: prices cannot be downloaded again identically (Yahoo revises its history), so the "
            f"run's recorded raw data (data/raw.csv, data/provenance.json, sha256 checked) was copied from {run_id} "
            "and the tasks from data_cleaning on were executed"
        )
    elif start == FIRST:
        notes.append(f"input: source {params['source']}, loaded again as run {run_id} did")
    return start, end, from_run


def _seed_scratch(
    original: Path, manifest: dict[str, Any], outputs_dir: Path, scratch: Path, ticker: str, notes: list[str]
) -> bool:
    """Put in the scratch outputs what the original found: its champion, and the forecast and tries ledgers
    as they were before it. Returns whether the champion was found."""
    run_id = manifest["run_id"]
    champion_ok, note = seed_champion(original, run_id, outputs_dir, scratch, ticker)
    notes.append(note)
    if manifest.get("ledger"):  # the track record it reported came from the ledger as it found it
        notes.append(seed_ledger(outputs_dir, scratch, ticker, run_id))
    if manifest.get("tries"):  # its gate was corrected for the tries recorded before it
        notes.append(seed_tries(outputs_dir, scratch, ticker, run_id))
    return champion_ok


def _run_in_scratch(
    params: dict[str, Any],
    original: Path,
    manifest: dict[str, Any],
    *,
    scratch: Path,
    tasks: tuple[str, str, Path | None],
    operator: dict[str, Any],
    run_kwargs: dict[str, Any],
    notes: list[str],
):
    """Execute ``tasks`` (start, end, the run earlier outputs come from) into ``scratch`` with every task forced,
    the kernels pointed at the scratch outputs; a manual gate gets the original's decision applied."""
    from aapl_lib.runner.orchestration import run_pipeline

    start, end, from_run = tasks
    # the kernels are handed the scratch outputs as a parameter (their registry, tries and ledger)
    result = run_pipeline(
        params, outputs_dir=scratch, start_task=start, end_task=end, from_run=from_run, force=True, **run_kwargs
    )
    if result.exit_code == Exit.AWAITING_APPROVAL:
        result = _apply_decision(original, manifest, result, scratch, {**run_kwargs, "operator": operator}, notes)
    return result


def _report(
    original: Path, manifest: dict[str, Any], result, *, start: str, scratch: Path, champion_ok: bool, notes: list[str]
) -> dict[str, Any]:
    """Compare every artifact the original recorded with the reproduction's and say whether it reproduced."""
    repro_manifest = mf.load(result.run_dir)
    notes += _differences_of_environment(manifest, repro_manifest)
    original_status = mf.effective_status(original, manifest)
    run_ok = repro_manifest["status"] == original_status or (
        result.exit_code == Exit.OK and original_status == State.SUCCESS
    )
    copied = {rel for t in TASKS[: TASK_NAMES.index(start)] for rel in t.outputs}
    aside = (str(original), str(original.resolve()), str(result.run_dir))
    rows = []
    for _task, rel, _sha in recorded_artifacts(manifest):
        verdict, hint = compare_files(rel, original / rel, result.run_dir / rel, aside)
        if rel in copied:
            hint = "copied from the original run, not executed again"
        rows.append({"artifact": rel, "result": verdict, "hint": hint})
    return {
        "run_id": manifest["run_id"],
        "original_dir": str(original),
        "scratch_outputs": str(scratch),
        "reproduction_dir": str(result.run_dir),
        "reproduction_run_id": result.run_id,
        "run_status": repro_manifest["status"],
        "run_ok": run_ok,
        "run_message": "" if result.exit_code == Exit.OK else result.message,
        "champion_available": champion_ok,
        "notes": notes,
        "artifacts": rows,
        "ok": run_ok and champion_ok and all(r["result"] in (IDENTICAL, ASIDE) for r in rows),
    }


def reproduce(
    run_id: str,
    *,
    outputs_dir: Path,
    project: Path,
    into: Path | None = None,
    log_level: str = "INFO",
    progress: Callable[[str], None] = print,
    operator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Re-execute run ``run_id`` into a scratch outputs folder and compare every artifact it recorded. The
    run's recorded extra_features must be the ones ``operator`` gives (code comes only from the operator's
    params, never from a manifest: pipeline.trust); no hook runs."""
    from aapl_lib.pipeline.trust import NO_CODE, adopt

    outputs_dir = outputs_dir.resolve()
    original = find_run(outputs_dir, run_id)
    manifest = mf.load(original)
    operator = {**(operator or NO_CODE), "on_success": "", "on_failure": ""}
    recorded_hooks = any((manifest.get("params") or {}).get(name) for name in ("on_success", "on_failure"))
    params = adopt(
        manifest.get("params"),
        operator,
        f"the manifest of run {original.name}",
        f"python runner.py reproduce {original.name}",
    )
    run_id, notes = manifest["run_id"], []
    checked = verify_run(original)
    if not checked["ok"]:
        notes.append(f"the original's files no longer match its manifest ({checked['summary']}); compared as they are")
    tasks = _task_range(original, manifest, params, notes)
    if recorded_hooks:
        notes.append("the run's on_success/on_failure hooks are not run for a reproduction")
    scratch = scratch_outputs(outputs_dir, run_id, into)
    scratch.mkdir(parents=True, exist_ok=True)
    champion_ok = _seed_scratch(original, manifest, outputs_dir, scratch, params["ticker"], notes)
    progress(f"reproducing run {run_id} into {scratch}")
    run_kwargs = {
        "notebooks_dir": project / "notebooks",
        "log_level": log_level,
        "progress": progress,
        "project": project,
    }
    result = _run_in_scratch(
        params,
        original,
        manifest,
        scratch=scratch,
        tasks=tasks,
        operator=operator,
        run_kwargs=run_kwargs,
        notes=notes,
    )
    return _report(original, manifest, result, start=tasks[0], scratch=scratch, champion_ok=champion_ok, notes=notes)
