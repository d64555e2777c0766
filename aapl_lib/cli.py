"""``runner.py``: the command line (papermill's cli, in spirit).

python runner.py [run] [-f FILE] [-p KEY VALUE]... [--start-task T] [--end-task T] [--only T]
                 [--force] [--force-task T]... [--log-level L] [--outputs DIR] [--run-dir DIR]
python runner.py resume [RUN_ID]
python runner.py status [RUN_ID]
python runner.py list
python runner.py prune --keep-days N [--dry-run]
python runner.py approve|reject RUN_ID --by NAME [--note TEXT]
python runner.py compare RUN_A RUN_B [--json]
python runner.py dag [--output FILE.png|FILE.svg] [--format mermaid|png|svg]
python runner.py browse
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aapl_lib.errors import IntegrityError, PipelineError, StorageError
from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.tasks import TASK_NAMES
from aapl_lib.store import layout

COMMANDS = ("run", "resume", "status", "list", "prune", "approve", "reject", "compare", "dag", "browse")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", metavar="DIR", help="outputs folder (default: $AAPL_OUTPUTS_DIR or ./outputs)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="console and task-log verbosity (default INFO)",
    )


def _batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="batches: a local process pool (default) or a Dask cluster",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="batches: parallel pipelines (default: the cores)")
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --executor dask: an existing dask.distributed scheduler (default: a LocalCluster on loopback)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``runner.py`` (``run`` is the default command)."""
    parser = argparse.ArgumentParser(
        prog="python runner.py",
        description="Run the six-notebook stock prediction pipeline with papermill. Each run writes a folder "
        "outputs/runs/<run_id>/ with the executed notebooks, their HTML, artifacts, logs and "
        "manifest.json. Without a command, 'run' is meant.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="start a new run (the default)",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("-f", "--file", metavar="FILE", help="parameters YAML (default: params/default.yaml)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        default=[],
        help="override one parameter; repeatable (see --list-params)",
    )
    run.add_argument(
        "--start-task",
        choices=TASK_NAMES,
        metavar="TASK",
        help=f"first task to run ({', '.join(TASK_NAMES)}); earlier outputs are copied from the "
        "latest run (or --from-run) after checking their sha256",
    )
    run.add_argument("--end-task", choices=TASK_NAMES, metavar="TASK", help="last task to run")
    run.add_argument(
        "--only", choices=TASK_NAMES, metavar="TASK", help="run just this task (= --start-task T --end-task T)"
    )
    run.add_argument("--force", action="store_true", help="execute every task, reuse nothing")
    run.add_argument(
        "--force-task",
        action="append",
        default=[],
        choices=TASK_NAMES,
        metavar="TASK",
        help="execute this task even if an earlier result could be reused; repeatable",
    )
    run.add_argument(
        "--run-dir",
        metavar="DIR",
        help="write into this folder instead of a new outputs/runs/<run_id>/ "
        "(e.g. outputs/interactive, the notebooks' own default)",
    )
    run.add_argument("--from-run", metavar="RUN_ID", help="with --start-task: take earlier outputs from this run")
    run.add_argument("--list-params", action="store_true", help="print every parameter and exit")
    _batch_options(run)
    run.add_argument(
        "--tickers",
        nargs="+",
        metavar="TICKER",
        help="run one pipeline per ticker as a batch (also: tickers: in params)",
    )
    _common(run)

    resume = sub.add_parser(
        "resume", help="continue a run from its first unfinished task, or a batch's unfinished tickers"
    )
    resume.add_argument(
        "run_id", nargs="?", metavar="RUN_ID|BATCH_ID", help="default: the newest run (or batch) that did not finish"
    )
    _batch_options(resume)
    _common(resume)
    status = sub.add_parser("status", help="each task's state, duration, reused-or-run and notebook")
    status.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the run worked on last")
    status.add_argument("--json", action="store_true", help="print JSON")
    _common(status)
    lst = sub.add_parser("list", help="list runs, newest first, with their status")
    lst.add_argument("--json", action="store_true", help="print JSON")
    _common(lst)
    prune = sub.add_parser("prune", help="delete runs older than N days (never the latest or a locked one)")
    prune.add_argument("--keep-days", type=int, required=True, metavar="N")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    _common(prune)
    for verb, text in (
        ("approve", "approve a run awaiting approval: its challenger becomes the champion"),
        ("reject", "reject a run awaiting approval: the champion stays"),
    ):
        cmd = sub.add_parser(verb, help=text)
        cmd.add_argument("run_id", metavar="RUN_ID")
        cmd.add_argument("--by", required=True, metavar="NAME", help="who decides (recorded)")
        cmd.add_argument("--note", default="", metavar="TEXT", help="why (recorded)")
        _common(cmd)
    cmp_ = sub.add_parser("compare", help="parameter, artifact (sha256) and metric differences of two runs")
    cmp_.add_argument("run_a", metavar="RUN_A")
    cmp_.add_argument("run_b", metavar="RUN_B")
    cmp_.add_argument("--json", action="store_true", help="print JSON")
    _common(cmp_)
    dag = sub.add_parser("dag", help="draw the DAG from the task specs")
    dag.add_argument("--output", metavar="FILE", help="FILE.png or FILE.svg (default: print Mermaid text)")
    dag.add_argument("--format", choices=["mermaid", "png", "svg"], help="default: from --output, else mermaid")
    _common(dag)
    browse = sub.add_parser("browse", help="rebuild the run browser (outputs/index.html) and print its path")
    _common(browse)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    args = build_parser().parse_args(argv)
    from aapl_lib.io.locks import LockBusyError
    from aapl_lib.io.logs import configure_console
    from aapl_lib.io.project import project_root
    from aapl_lib.store.layout import OUTPUTS_ENV, outputs_root

    configure_console(args.log_level)
    root = project_root() or Path.cwd()
    outputs = Path(args.outputs).resolve() if args.outputs else outputs_root()
    os.environ[OUTPUTS_ENV] = str(outputs)  # kernels resolve the same outputs folder
    try:
        if args.command == "run":
            return _run(args, root, outputs)
        if args.command == "resume" and args.run_id is None:
            args.run_id = _newest_unfinished_batch(outputs)  # a newer interrupted batch goes before its runs
        if args.command == "resume" and args.run_id and layout.is_batch(outputs, args.run_id):
            return _resume_batch(args, root, outputs)
        if args.command == "resume":
            from aapl_lib.runner.orchestration import resume_run

            result = resume_run(
                args.run_id,
                outputs_dir=outputs,
                notebooks_dir=root / "notebooks",
                log_level=args.log_level,
                project=root,
            )
            return _finish(result)
        if args.command in ("approve", "reject"):
            from aapl_lib.runner.approval import decide

            print(
                decide(args.run_id, approve=args.command == "approve", by=args.by, note=args.note, outputs_dir=outputs)
            )
            return Exit.OK
        if args.command == "compare":
            from aapl_lib.store.runs import find_run
            from aapl_lib.views.compare import compare_runs, format_text

            run_a, run_b = find_run(outputs, args.run_a), find_run(outputs, args.run_b)
            diff = compare_runs(run_a, run_b)
            print(json.dumps(diff, indent=2, default=str) if args.json else format_text(diff))
            from aapl_lib.views.browser import build_compare_page

            build_compare_page(run_a, run_b)
            return Exit.OK
        if args.command == "dag":
            return _dag(args)
        if args.command == "browse":
            from aapl_lib.runner.batch import write_summary
            from aapl_lib.store.manifest import list_batches
            from aapl_lib.views.browser import build_run_page, refresh

            for run_dir in layout.all_run_dirs(outputs):
                if (run_dir / layout.MANIFEST).is_file():
                    try:
                        build_run_page(run_dir)
                    except PipelineError as exc:  # a damaged manifest: say so, build the other pages
                        print(f"warning: {exc}", file=sys.stderr)
            for batch in list_batches(outputs):  # pages with each batch's status as it is now (interrupted...)
                write_summary(outputs, layout.batch_dir(outputs, batch["batch_id"]), batch)
            print(refresh(outputs))
            return Exit.OK
        if args.command == "status":
            return _status(args, outputs)
        if args.command == "list":
            return _list(args, outputs)
        if args.command == "prune":
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
    except LockBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.LOCKED
    except (IntegrityError, StorageError) as exc:  # damaged state or a full disk: not a usage error
        print(f"error: {exc}", file=sys.stderr)
        return Exit.FAILED
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except OSError as exc:
        from aapl_lib.io.iorw import disk_error

        if disk_error(exc.filename or outputs, exc) is None:
            raise
        print(f"error: {disk_error(exc.filename or outputs, exc)}", file=sys.stderr)
        return Exit.FAILED
    return Exit.USAGE


def _run(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    from aapl_lib.pipeline.config import describe_parameters, resolve_params

    if args.list_params:
        print(describe_parameters())
        return Exit.OK
    if args.only and (args.start_task or args.end_task):
        raise PipelineError("--only cannot be combined with --start-task/--end-task")
    params_file = Path(args.file) if args.file else root / "params" / "default.yaml"
    overrides = [tuple(p) for p in args.parameter]
    if args.tickers:
        overrides.append(("tickers", " ".join(args.tickers)))
    tickers = _batch_tickers(params_file, overrides)
    if tickers:
        return _run_batch(args, root, outputs, params_file, overrides, tickers)
    _check_batch_options(args)
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
    return _finish(result)


def _batch_tickers(params_file: Path, overrides: list) -> list[str]:
    from aapl_lib.pipeline.config import load_params_file, parse_override

    tickers = load_params_file(params_file).get("tickers") or []
    for name, text in overrides:
        if name == "tickers":
            tickers = parse_override("tickers", text)
    if not isinstance(tickers, list):
        raise PipelineError(f"tickers must be a list of symbols, got {tickers!r}")
    return list(dict.fromkeys(str(t).strip().upper() for t in tickers if str(t).strip()))


def _check_batch_options(args: argparse.Namespace) -> None:
    if args.executor != "local" or args.workers or args.scheduler:
        raise PipelineError("--executor, --workers and --scheduler apply to batches: add --tickers T1 T2 ...")
    if args.scheduler and args.executor != "dask":
        raise PipelineError("--scheduler needs --executor dask")


def _per_ticker(params_file: Path, overrides: list, tickers: list[str]) -> dict:
    """Each ticker's validated params, or why they are invalid (a bad ticker fails alone, not the batch)."""
    from aapl_lib.errors import ParameterError
    from aapl_lib.pipeline.config import resolve_params

    base = [o for o in overrides if o[0] not in ("tickers", "ticker")]
    out = {}
    for ticker in tickers:
        try:
            out[ticker] = (resolve_params(params_file, base + [("ticker", ticker), ("tickers", "[]")]), None)
        except ParameterError as exc:
            out[ticker] = (None, str(exc))
    return out


def _run_batch(args, root: Path, outputs: Path, params_file: Path, overrides: list, tickers: list[str]) -> int:
    if args.start_task or args.end_task or args.only or args.run_dir or args.from_run:
        raise PipelineError(
            "a batch runs whole pipelines: --start-task/--end-task/--only/--run-dir/--from-run apply to single runs"
        )
    return _batch(args, root, outputs, _per_ticker(params_file, overrides, tickers))


def _batch(args, root: Path, outputs: Path, per_ticker: dict, batch_id: str | None = None) -> int:
    """Run (or, given ``batch_id``, resume) a batch with the executor options of the command line."""
    from aapl_lib.runner.batch import run_batch

    if args.scheduler and args.executor != "dask":
        raise PipelineError("--scheduler needs --executor dask")
    if args.workers is not None and args.workers < 1:
        raise PipelineError("--workers must be 1 or more")
    result = run_batch(
        per_ticker,
        outputs_dir=outputs,
        notebooks_dir=root / "notebooks",
        project=root,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        log_level=args.log_level,
        batch_id=batch_id,
        resume=batch_id is not None,
    )
    return _finish(result)


def _newest_unfinished_batch(outputs: Path) -> str | None:
    """The id of the newest unfinished batch when it is newer than the newest unfinished single run."""
    from aapl_lib.store.manifest import BATCH_UNFINISHED, list_batches
    from aapl_lib.store.runs import find_resumable

    batch = next((b for b in list_batches(outputs) if b.get("status") in BATCH_UNFINISHED), None)
    if batch is None:
        return None
    run_dir, _ = find_resumable(outputs)
    # ids begin with their UTC start time (20261127T010000Z-...), so they compare as times
    if run_dir is not None and run_dir.name[:16] > batch["batch_id"][:16]:
        return None
    print(f"resuming batch {batch['batch_id']} ({batch['status']})")
    return batch["batch_id"]


def _resume_batch(args, root: Path, outputs: Path) -> int:
    from aapl_lib.io.iorw import read_json
    from aapl_lib.store.runs import unfinished_batch_run

    manifest = read_json(layout.batch_dir(outputs, args.run_id) / layout.MANIFEST)
    per_ticker = {}
    for ticker in manifest["tickers"]:
        run_id = manifest["runs"].get(ticker, {}).get("run_id")
        run_dir = layout.run_dir(outputs, run_id) if run_id else unfinished_batch_run(outputs, args.run_id, ticker)
        params = (
            read_json(run_dir / "manifest.json")["params"]
            if run_dir is not None and (run_dir / "manifest.json").is_file()
            else (manifest.get("ticker_params") or {}).get(ticker)
        )
        error = (
            None
            if params
            else (manifest.get("ticker_errors") or {}).get(ticker)
            or manifest["runs"].get(ticker, {}).get("message", "never started")
        )
        per_ticker[ticker] = (params, error)
    return _batch(args, root, outputs, per_ticker, batch_id=args.run_id)


def _finish(result) -> int:
    # success, or waiting for a person (or nothing to resume): not an error
    if result.exit_code in (Exit.OK, Exit.AWAITING_APPROVAL):
        print(result.message)
    else:
        print("error: " + result.message, file=sys.stderr)
    return result.exit_code


def _dag(args: argparse.Namespace) -> int:
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


def _status(args: argparse.Namespace, outputs: Path) -> int:
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


def _list(args: argparse.Namespace, outputs: Path) -> int:
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
