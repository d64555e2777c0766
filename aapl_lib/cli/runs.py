"""``status``, ``list`` and ``prune``: what the runs in the outputs folder are, and deleting old ones."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers
from aapl_lib.errors import PipelineError
from aapl_lib.pipeline.exit_codes import Exit


def register(subparsers: Subparsers) -> None:
    """Add ``status``, ``list`` and ``prune``."""
    status = subparsers.add_parser("status", help="each task's state, duration, reused-or-run and notebook")
    status.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the run worked on last")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=status_command)
    lst = subparsers.add_parser("list", help="list runs, newest first, with their status")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(handler=list_command)
    prune = subparsers.add_parser("prune", help="delete runs older than N days (never the latest or a locked one)")
    prune.add_argument("--keep-days", type=int, required=True, metavar="N")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    prune.set_defaults(handler=prune_command)


def status_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Each task of a run: state, duration, reused or run, executed notebook (``--json``: the same as JSON)."""
    from aapl_lib.store.manifest import as_read, load
    from aapl_lib.store.runs import describe_run, find_run

    run_dir = find_run(outputs, args.run_id)
    rows = describe_run(run_dir)
    manifest = as_read(run_dir, load(run_dir))
    status, hint = manifest["status"], manifest["resume"]
    if args.json:
        print(json.dumps({"run_id": manifest["run_id"], "status": status, "resume": hint, "tasks": rows}, indent=2))
        return Exit.OK
    print(f"run {manifest['run_id']}  status {status}  {run_dir}")
    if hint:
        print(f"continue it with: {hint}")
    print(f"{'task':<21}{'state':<12}{'seconds':>8}  {'how':<40} executed notebook")
    for row in rows:
        secs = "" if row["duration_s"] is None else f"{row['duration_s']:.1f}"
        print(f"{row['task']:<21}{row['status']:<12}{secs:>8}  {row['how']:<40} {row['notebook']}")
        if row["error"]:
            print(f"    {row['error']}")
    return Exit.OK


def list_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Every run, newest first, with its status (``--json``: the same as JSON)."""
    from aapl_lib.store.runs import list_runs

    rows = list_runs(outputs)
    if args.json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    if not rows:
        print(f"no runs in {outputs / 'runs'}")
        return Exit.OK
    print(f"{'run id':<36}{'status':<13}{'ticker':<8}{'source':<10}{'window':<24}{'seconds':>8}  tasks")
    for r in rows:
        tasks = ", ".join(f"{n} {s}" for s, n in sorted((r.get("tasks") or {}).items()))
        secs = "" if r.get("duration_s") is None else f"{r['duration_s']:.1f}"
        print(
            f"{r['run_id']:<36}{str(r.get('status')):<13}{r.get('ticker', ''):<8}{r.get('source', ''):<10}"
            f"{r.get('window', ''):<24}{secs:>8}  {tasks}"
        )
        if r.get("resume"):
            print(f"{'':<36}continue with: {r['resume']}")
        if r.get("error"):
            print(f"{'':<36}{r['error']}")
    return Exit.OK


def prune_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Delete the runs older than ``--keep-days`` (or, with ``--dry-run``, say which)."""
    from aapl_lib.store.retention import prune_runs

    if args.keep_days < 0:
        raise PipelineError("--keep-days must be 0 or more")
    report = prune_runs(outputs, args.keep_days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(report['deleted'])} run(s) started before {report['cutoff']}")
    for run_id in report["deleted"]:
        print(f"  {run_id}")
    for item in report["skipped"]:
        print(f"  kept {item['run_id']} ({item['reason']})")
    return Exit.OK
