"""``runner.py``: the command line (papermill's cli, in spirit).

python runner.py [run] [-f FILE] [-p KEY VALUE]... [--start-task T] [--end-task T] [--only T]
                 [--force] [--force-task T]... [--log-level L] [--outputs DIR] [--run-dir DIR]
python runner.py resume [RUN_ID] [-f FILE] [-p on_success|on_failure|extra_features VALUE]...
python runner.py status [RUN_ID]
python runner.py list
python runner.py prune --keep-days N [--dry-run]
python runner.py approve|reject RUN_ID --by NAME [--note TEXT]
python runner.py compare RUN_A RUN_B [--json]
python runner.py verify [RUN_ID] [--json]
python runner.py reproduce RUN_ID [--into DIR] [--json] [-f FILE] [-p extra_features VALUE]
python runner.py convert-model TICKER --trust-sha256 SHA256 --by NAME
python runner.py dag [--output FILE.png|FILE.svg] [--format mermaid|png|svg]
python runner.py browse
python runner.py track TICKER [--json]
python runner.py replay --from DATE --to DATE [-f FILE] [-p KEY VALUE]...
python runner.py health [--max-age HOURS] [--failures N] [--ticker T]... [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aapl_lib.errors import IntegrityError, PipelineError, StorageError
from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.tasks import TASK_NAMES
from aapl_lib.runner.audit import reproduce_command, verify_command
from aapl_lib.runner.commands import (
    browse_command,
    compare_command,
    convert_model_command,
    dag_command,
    decide_command,
    health_command,
    list_command,
    prune_command,
    resume_command,
    run_command,
    status_command,
)
from aapl_lib.runner.record_arguments import add_record_commands

COMMANDS = (
    "run",
    "resume",
    "status",
    "list",
    "prune",
    "approve",
    "reject",
    "compare",
    "verify",
    "reproduce",
    "convert-model",
    "dag",
    "browse",
    "track",
    "replay",
    "health",
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", metavar="DIR", help="outputs folder (default: $AAPL_OUTPUTS_DIR or ./outputs)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="console and task-log verbosity (default INFO)",
    )


def _operator_code(parser: argparse.ArgumentParser, what: str) -> None:
    """-f/-p of a command that continues or repeats a recorded run: the only place it takes code from."""
    parser.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help=f"params YAML whose {what} to use (default: params/default.yaml); never taken from the manifest",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        default=[],
        help=f"give {what} on the command line (only these keys: the run's other parameters are fixed)",
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


def build_parser(prog: str = "python runner.py") -> argparse.ArgumentParser:
    """The argument parser of ``runner.py`` (``run`` is the default command)."""
    parser = argparse.ArgumentParser(
        prog=prog,
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
    run.add_argument(
        "--as-of",
        metavar="DATE",
        help="run as the daily schedule would have on DATE (YYYY-MM-DD): prices up to DATE (= -p end DATE), "
        "so a month of daily runs can be replayed through the offline sample",
    )
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
    _operator_code(resume, "on_success/on_failure hooks and extra_features")
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
    verify = sub.add_parser(
        "verify", help="check every artifact a run recorded against its sha256: ok, changed or missing (exit 1)"
    )
    verify.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the run worked on last")
    verify.add_argument("--json", action="store_true", help="print JSON")
    _common(verify)
    repro = sub.add_parser(
        "reproduce",
        help="run a run again from its manifest in a scratch outputs folder and compare every artifact "
        "(exit 1 when any differs, timestamps aside)",
    )
    repro.add_argument("run_id", metavar="RUN_ID")
    repro.add_argument(
        "--into",
        metavar="DIR",
        help="the scratch outputs folder, new or empty (default: a new outputs/reproductions/<RUN_ID>-<stamp>/)",
    )
    repro.add_argument("--json", action="store_true", help="print JSON (the run's progress goes to stderr)")
    _operator_code(repro, "extra_features")
    _common(repro)
    convert = sub.add_parser(
        "convert-model",
        help="convert a ticker's legacy joblib (pickle) champion to a skops file: unpickles it once, only when its "
        "sha256 is the one you trust (runs never load a pickle)",
    )
    convert.add_argument("ticker", metavar="TICKER")
    convert.add_argument(
        "--trust-sha256",
        required=True,
        metavar="SHA256",
        help="the sha256 you trust for the champion's file (from your own records, not only from champion.json)",
    )
    convert.add_argument("--by", required=True, metavar="NAME", help="who vouches for the file (recorded)")
    _common(convert)
    dag = sub.add_parser("dag", help="draw the DAG from the task specs")
    dag.add_argument("--output", metavar="FILE", help="FILE.png or FILE.svg (default: print Mermaid text)")
    dag.add_argument("--format", choices=["mermaid", "png", "svg"], help="default: from --output, else mermaid")
    _common(dag)
    browse = sub.add_parser(
        "browse", help="rebuild the run browser (outputs/index.html, operations.html) and print their paths"
    )
    _common(browse)
    add_record_commands(sub, _common)  # track, replay, health: the live track record and operations
    return parser


def console() -> None:
    """The ``aapl-pipeline`` console command: ``python runner.py`` under its installed name."""
    sys.exit(main(prog="aapl-pipeline"))


def main(argv: Sequence[str] | None = None, prog: str = "python runner.py") -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    args = build_parser(prog).parse_args(argv)
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
            return run_command(args, root, outputs)
        if args.command == "resume":
            return resume_command(args, root, outputs)
        if args.command in ("approve", "reject"):
            return decide_command(args, outputs)
        if args.command == "compare":
            return compare_command(args, outputs)
        if args.command == "verify":
            return verify_command(args, outputs)
        if args.command == "reproduce":
            return reproduce_command(args, root, outputs)
        if args.command == "convert-model":
            return convert_model_command(args, outputs)
        if args.command == "dag":
            return dag_command(args)
        if args.command == "browse":
            return browse_command(outputs)
        if args.command == "track":
            from aapl_lib.runner.ledger_commands import track_command

            return track_command(args, outputs)
        if args.command == "replay":
            from aapl_lib.runner.ledger_commands import replay_command

            return replay_command(args, root, outputs)
        if args.command == "status":
            return status_command(args, outputs)
        if args.command == "list":
            return list_command(args, outputs)
        if args.command == "prune":
            return prune_command(args, outputs)
        if args.command == "health":
            return health_command(args, outputs)
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
