"""``runner.py verify`` and ``runner.py reproduce``: is a run's evidence still what it recorded, and does running
it again give the same results?

``verify`` checks every artifact a run's manifest records (each task's files with their sha256, and the
approval gate's ``reports/decision.json``) against the files in its folder: ok, changed or missing.
``reproduce`` re-executes a run into a scratch outputs folder (:mod:`aapl_lib.runner.reproduce`) and says,
artifact by artifact, whether the reproduction wrote the same (:mod:`aapl_lib.views.artifact_diff`).

Only the standard library at module level: ``cli.py`` imports this on its no-op path.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.tasks import TASKS

OK, CHANGED, MISSING = "ok", "changed", "missing"
DECISION = "reports/decision.json"


def recorded_artifacts(manifest: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(task, artifact, sha256)`` of every artifact the manifest records, in DAG order; the approval gate's
    decision before reporting, where the gate stands."""
    gate = manifest.get("gate") or {}
    for task in TASKS:
        if task.name == "reporting" and gate.get("sha256"):
            yield "approval_gate", DECISION, gate["sha256"]
        for rel, info in (manifest["tasks"].get(task.name, {}).get("artifacts") or {}).items():
            yield task.name, rel, info["sha256"]


def verify_run(run_dir: Path) -> dict[str, Any]:
    """Each recorded artifact of the run at ``run_dir`` against its file: ``ok``, ``changed`` (expected and
    actual sha256) or ``missing``; ``summary`` says it in one line."""
    from aapl_lib.store import manifest as mf

    manifest = mf.load(run_dir)
    rows = []
    for task, rel, expected in recorded_artifacts(manifest):
        path = run_dir / rel
        actual = mf.sha256_file(path) if path.is_file() else None
        status = MISSING if actual is None else OK if actual == expected else CHANGED
        rows.append({"artifact": rel, "task": task, "status": status, "expected_sha256": expected, "sha256": actual})
    changed = [r["artifact"] for r in rows if r["status"] == CHANGED]
    missing = [r["artifact"] for r in rows if r["status"] == MISSING]
    summary = f"run {manifest['run_id']}: {len(rows)} artifacts verified"
    if changed:
        summary += f", {len(changed)} changed: {', '.join(changed)}"
    if missing:
        summary += f"{';' if changed else ','} {len(missing)} missing: {', '.join(missing)}"
    if not changed and not missing:
        summary += ", every one matches the sha256 in its manifest"
    return {
        "run_id": manifest["run_id"],
        "run_dir": str(run_dir),
        "ok": not changed and not missing,
        "artifacts": rows,
        "summary": summary,
    }


def verify_command(args: argparse.Namespace, outputs: Path) -> int:
    """``verify [RUN_ID] [--json]``: exit 0 when every recorded artifact matches, 1 otherwise."""
    from aapl_lib.store.runs import find_run

    report = verify_run(find_run(outputs, args.run_id))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"run {report['run_id']}  {report['run_dir']}")
        print(f"{'artifact':<36}{'task':<21}result")
        for row in report["artifacts"]:
            line = f"{row['artifact']:<36}{row['task']:<21}{row['status'].upper() if row['status'] != OK else OK}"
            if row["status"] == CHANGED:
                line += f"  expected sha256 {row['expected_sha256'][:16]}…, now {row['sha256'][:16]}…"
            print(line)
        print(report["summary"])
    return Exit.OK if report["ok"] else Exit.FAILED


def reproduce_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``reproduce RUN_ID [--into DIR] [--json]``: exit 0 when every artifact came out the same (timestamps
    aside), 1 otherwise."""
    from aapl_lib.runner.reproduce import reproduce
    from aapl_lib.views.artifact_diff import ASIDE, DIFFERENT, IDENTICAL

    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print
    report = reproduce(
        args.run_id,
        outputs_dir=outputs,
        project=root,
        into=Path(args.into) if args.into else None,
        log_level=args.log_level,
        progress=progress,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return Exit.OK if report["ok"] else Exit.FAILED
    print(f"\nreproduction of run {report['run_id']}: {report['reproduction_dir']}")
    print(f"  (in its own outputs folder {report['scratch_outputs']}: the real registry, reuse cache and latest")
    print("   are untouched; every task was executed, nothing reused)")
    for note in report["notes"]:
        print(f"note: {note}")
    if report["run_message"]:
        print(f"reproduction run: {report['run_message']}")
    print(f"{'artifact':<36}{'result':<31}hint")
    for row in report["artifacts"]:
        print(f"{row['artifact']:<36}{row['result']:<31}{row['hint']}")
    counts = {v: sum(r["result"] == v for r in report["artifacts"]) for v in (IDENTICAL, ASIDE, DIFFERENT)}
    different = [r["artifact"] for r in report["artifacts"] if r["result"] == DIFFERENT]
    line = (
        f"run {report['run_id']}: {len(report['artifacts'])} artifacts compared, {counts[IDENTICAL]} identical, "
        f"{counts[ASIDE]} identical (timestamps aside), {counts[DIFFERENT]} DIFFERENT"
    )
    print(line + (f": {', '.join(different)}" if different else ""))
    if not report["run_ok"]:
        print(f"the reproduction did not finish as the original did ({report['run_status']})")
    return Exit.OK if report["ok"] else Exit.FAILED
