"""What each command of ``runner.py`` does, once ``aapl_lib/cli.py`` has parsed its arguments: start or resume a
run, approve or reject one, compare two, draw the DAG, rebuild the run browser, print a run's status or the
list of runs, prune old runs, check every ticker's health. Each returns the exit code; a batch's commands are
in ``batch_commands``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aapl_lib.errors import PipelineError
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.runner.batch_commands import (
    batch_tickers,
    check_batch_options,
    finish,
    newest_unfinished_batch,
    resume_batch,
    start_batch,
)
from aapl_lib.store import layout


def run_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    from aapl_lib.pipeline.config import describe_parameters, resolve_params

    if args.list_params:
        print(describe_parameters())
        return Exit.OK
    if args.only and (args.start_task or args.end_task):
        raise PipelineError("--only cannot be combined with --start-task/--end-task")
    params_file = Path(args.file) if args.file else root / "params" / "default.yaml"
    overrides = [tuple(p) for p in args.parameter]
    if args.as_of:
        if any(key == "end" and value != args.as_of for key, value in overrides):
            raise PipelineError(f"--as-of {args.as_of} sets end; drop -p end or make it the same date")
        overrides.append(("end", args.as_of))
    if args.tickers:
        overrides.append(("tickers", " ".join(args.tickers)))
    tickers = batch_tickers(params_file, overrides)
    if tickers:
        return start_batch(args, root, outputs, params_file, overrides, tickers)
    check_batch_options(args)
    params = resolve_params(params_file, overrides)
    run_dir = Path(args.run_dir).resolve() if args.run_dir else None
    if run_dir is not None and (run_dir == outputs or not run_dir.is_relative_to(outputs)):
        raise PipelineError(
            f"--run-dir {args.run_dir} is outside the outputs folder {outputs}: runs are written "
            "below it (e.g. --run-dir outputs/interactive), or choose another --outputs"
        )
    from_run = None
    if args.from_run:
        from aapl_lib.store.runs import find_run

        from_run = find_run(outputs, args.from_run)
    from aapl_lib.runner.orchestration import run_pipeline

    result = run_pipeline(
        params,
        outputs_dir=outputs,
        notebooks_dir=root / "notebooks",
        start_task=args.only or args.start_task,
        end_task=args.only or args.end_task,
        run_dir=run_dir,
        from_run=from_run,
        log_level=args.log_level,
        project=root,
        force=args.force,
        force_tasks=tuple(args.force_task),
    )
    return finish(result)


def resume_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Continue the named run or batch, else the newest that did not finish; hooks and extra_features come
    from this command's params file and -p, never from the manifest (it says which hooks will run)."""
    from aapl_lib.pipeline.trust import describe_hooks, operator_code

    operator = operator_code(Path(args.file) if args.file else root / "params" / "default.yaml", args.parameter)
    if args.run_id is None:
        args.run_id = newest_unfinished_batch(outputs)  # a newer interrupted batch goes before its runs
    print(describe_hooks(operator))
    if args.run_id and layout.is_batch(outputs, args.run_id):
        return resume_batch(args, root, outputs, operator)
    from aapl_lib.runner.orchestration import resume_run

    result = resume_run(
        args.run_id,
        outputs_dir=outputs,
        notebooks_dir=root / "notebooks",
        log_level=args.log_level,
        project=root,
        operator=operator,
    )
    return finish(result)


def decide_command(args: argparse.Namespace, outputs: Path) -> int:
    """``approve`` or ``reject``: record the decision on a run awaiting approval."""
    from aapl_lib.runner.approval import decide

    print(decide(args.run_id, approve=args.command == "approve", by=args.by, note=args.note, outputs_dir=outputs))
    return Exit.OK


def convert_model_command(args: argparse.Namespace, outputs: Path) -> int:
    """``convert-model TICKER --trust-sha256 SHA --by NAME``: the operator vouches for a legacy pickle champion;
    it is unpickled once and stored as a skops file (say first what is trusted and why it matters)."""
    from aapl_lib.promotion.registry import Registry
    from aapl_lib.store.manifest import utc_now

    registry = Registry(outputs, args.ticker.strip().upper())
    record = registry.champion()
    if record is None:
        raise PipelineError(
            f"{registry.ticker} has no champion ({registry.record_path} is missing): nothing to convert"
        )
    print(
        f"trusting {registry.dir / str(record.get('model_file'))} because you vouch for sha256 {args.trust_sha256}: "
        "unpickling it runs any code it holds, so do this only for a file you made or received from someone you trust"
    )
    converted = registry.convert_legacy(args.trust_sha256, by=args.by, at=utc_now())
    print(
        f"converted: {registry.dir / converted['model_file']} (skops, sha256 {converted['sha256'][:16]}…, only the "
        f"types our candidates use); {registry.record_path} names it and history.jsonl records the conversion"
    )
    return Exit.OK


def compare_command(args: argparse.Namespace, outputs: Path) -> int:
    """Print the differences of two runs and build their compare page."""
    from aapl_lib.store.runs import find_run
    from aapl_lib.views.compare import compare_runs, format_text

    run_a, run_b = find_run(outputs, args.run_a), find_run(outputs, args.run_b)
    diff = compare_runs(run_a, run_b)
    print(json.dumps(diff, indent=2, default=str) if args.json else format_text(diff))
    from aapl_lib.views.browser import build_compare_page

    build_compare_page(run_a, run_b)
    return Exit.OK


def dag_command(args: argparse.Namespace) -> int:
    from aapl_lib.views import dag

    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "mermaid")
    if fmt == "mermaid":
        text = dag.mermaid()
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(args.output)
        else:
            print(text, end="")
        return Exit.OK
    if not args.output or Path(args.output).suffix.lower() != f".{fmt}":
        raise PipelineError(f"--format {fmt} needs --output FILE.{fmt}")
    print(dag.draw(args.output))
    return Exit.OK


def browse_command(outputs: Path) -> int:
    """Rebuild every run's and batch's page, the operations page and the index; print their paths (the index's
    last)."""
    from aapl_lib.store.manifest import list_batches
    from aapl_lib.views.batch_summary import write_summary
    from aapl_lib.views.browser import build_run_page, refresh

    for run_dir in layout.all_run_dirs(outputs):
        if (run_dir / layout.MANIFEST).is_file():
            try:
                build_run_page(run_dir)
            except PipelineError as exc:  # a damaged manifest: say so, build the other pages
                print(f"warning: {exc}", file=sys.stderr)
    for batch in list_batches(outputs):  # pages with each batch's status as it is now (interrupted...)
        write_summary(outputs, layout.batch_dir(outputs, batch["batch_id"]), batch)
    from aapl_lib.views.track_page import build_track_pages

    build_track_pages(outputs)  # one page per ticker with a forecast ledger
    index = refresh(outputs)
    print(f"operations page: {layout.operations_page(outputs)}")
    print(index)
    return Exit.OK


def status_command(args: argparse.Namespace, outputs: Path) -> int:
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


def list_command(args: argparse.Namespace, outputs: Path) -> int:
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


def prune_command(args: argparse.Namespace, outputs: Path) -> int:
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


def health_command(args: argparse.Namespace, outputs: Path) -> int:
    """Check every ticker's freshness, failures and drift; exit 5 when there is a problem."""
    import datetime as dt

    from aapl_lib.tracking.health import check_health, format_text

    report = check_health(
        outputs,
        now=dt.datetime.now(dt.UTC),
        max_age_hours=args.max_age,
        failures=args.failures,
        tickers=args.ticker,
    )
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return Exit.OK if report["healthy"] else Exit.UNHEALTHY
