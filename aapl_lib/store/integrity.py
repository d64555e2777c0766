"""Whether a run's files are still what its manifest recorded (``runner.py verify``; ``reproduce`` checks the
original with it first): every artifact of every task and the approval gate's decision, by sha256."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aapl_lib.pipeline.tasks import DECISION, TASKS
from aapl_lib.store import manifest as mf

OK, CHANGED, MISSING = "ok", "changed", "missing"


def recorded_artifacts(manifest: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(task, artifact, sha256)`` of every artifact the manifest records, in DAG order; the approval gate's
    decision and the forecast ledger's track record before reporting, where they stand."""
    gate = manifest.get("gate") or {}
    for task in TASKS:
        if task.name == "reporting" and gate.get("sha256"):
            yield "approval_gate", DECISION, gate["sha256"]
        if task.name == "reporting":
            for rel, info in ((manifest.get("ledger") or {}).get("artifacts") or {}).items():
                yield "forecast_ledger", rel, info["sha256"]
        for rel, info in (manifest["tasks"].get(task.name, {}).get("artifacts") or {}).items():
            yield task.name, rel, info["sha256"]


def verify_run(run_dir: Path) -> dict[str, Any]:
    """Each recorded artifact of the run at ``run_dir`` against its file: ``ok``, ``changed`` (expected and
    actual sha256) or ``missing``; ``summary`` says it in one line."""
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
