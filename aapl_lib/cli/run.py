"""``run`` (the default command) and ``resume``: start a run, or continue one from its first unfinished task;
with tickers, the same for a batch (its side is in :mod:`aapl_lib.cli.batch`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers, add_operator_code, chosen_params_file, refuse_future_day
from aapl_lib.cli.batch import (
    add_batch_options,
    batch_tickers,
    check_batch_options,
    newest_unfinished_batch,
    resume_batch,
    start_batch,
)
from aapl_lib.cli.outcome import print_outcome
from aapl_lib.errors import ParameterError, PipelineError
from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.spelling import did_you_mean
from aapl_lib.pipeline.tasks import TASK_NAMES
from aapl_lib.store import layout

RUN = "run"  # the default command: ``runner.py`` with no command starts a run


def register(subparsers: Subparsers) -> None:
    """Add ``run`` and ``resume``."""
    _add_run(subparsers)
    resume = subparsers.add_parser(
        "resume", help="continue a run from its first unfinished task, or a batch's unfinished tickers"
    )
    resume.add_argument(
        "run_id", nargs="?", metavar="RUN_ID|BATCH_ID", help="default: the newest run (or batch) that did not finish"
    )
    add_operator_code(resume, "on_success/on_failure hooks and extra_features")
    add_batch_options(resume)
    resume.set_defaults(handler=resume_command)


def _add_run(subparsers: Subparsers) -> None:
    run = subparsers.add_parser(
        RUN,
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
        type=task_name("--start-task"),
        metavar="TASK",
        help=f"first task to run ({', '.join(TASK_NAMES)}); earlier outputs are copied from the "
        "latest run (or --from-run) after checking their sha256",
    )
    run.add_argument("--end-task", type=task_name("--end-task"), metavar="TASK", help="last task to run")
    run.add_argument(
        "--only", type=task_name("--only"), metavar="TASK", help="run just this task (= --start-task T --end-task T)"
    )
    run.add_argument("--force", action="store_true", help="execute every task, reuse nothing")
    run.add_argument(
        "--force-task",
        action="append",
        default=[],
        type=task_name("--force-task"),
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
    add_batch_options(run)
    # the replay that starts this run (``replay``'s own day runs); plain resume then leaves the run to it
    run.add_argument("--replay-id", metavar="REPLAY_ID", help=argparse.SUPPRESS)
    run.add_argument(
        "--tickers",
        nargs="+",
        metavar="TICKER",
        help="run one pipeline per ticker as a batch (also: tickers: in params)",
    )
    run.set_defaults(handler=run_command)


def task_name(option: str) -> Callable[[str], str]:
    """The ``type`` of a task option: the name itself, or a ParameterError (raised through argparse, which
    converts only ValueError and TypeError into its usage message) in one line with the nearest names."""

    def check(word: str) -> str:
        if word in TASK_NAMES:
            return word
        hint = did_you_mean(word, TASK_NAMES)
        raise ParameterError(
            f"{option}: invalid choice {word!r} — " + (hint if hint else f"the tasks are {', '.join(TASK_NAMES)}")
        )

    return check


def run_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Start a new run (or, with tickers, a batch); ``--list-params`` only prints the parameters."""
    from aapl_lib.pipeline.config import describe_parameters, resolve_params

    if args.list_params:
        print(describe_parameters())
        return Exit.OK
    if args.only and (args.start_task or args.end_task):
        raise PipelineError("--only cannot be combined with --start-task/--end-task")
    params_file = chosen_params_file(args, root)
    overrides = [(key, value) for key, value in args.parameter]
    if args.as_of:
        refuse_future_day(args.as_of, "--as-of")
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
    from aapl_lib.runner.progress import Console

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
        progress=Console.for_command(args.quiet),
        replay_id=args.replay_id,
    )
    return print_outcome(result)


def resume_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Continue the named run, batch or replay, else the newest that did not finish (a replay, a batch or a
    run: the newest start wins); hooks and extra_features come from this command's params file and -p, never
    from the manifest (it says which hooks will run)."""
    from aapl_lib.pipeline.trust import describe_hooks, operator_code
    from aapl_lib.runner.progress import Console

    operator = operator_code(chosen_params_file(args, root), args.parameter)
    console = Console.for_command(args.quiet)
    replay = _newest_replay_first(outputs) if args.run_id is None else None
    if args.run_id is None and replay is None:
        args.run_id = newest_unfinished_batch(outputs, console)  # a newer interrupted batch goes before its runs
    console(describe_hooks(operator))
    if replay is not None or (args.run_id and layout.is_replay(outputs, args.run_id)):
        from aapl_lib.cli.record import resume_replay

        return resume_replay(args, root, outputs, replay or args.run_id, operator)
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
        progress=console,
    )
    return print_outcome(result)


def _newest_replay_first(outputs: Path) -> str | None:
    """The id of the newest interrupted replay when it started after the newest unfinished run and batch (ids
    begin with their UTC start time, so they compare as times); its own runs do not count, they are its days."""
    from aapl_lib.store.manifest import BATCH_UNFINISHED, list_batches
    from aapl_lib.store.runs import find_resumable, newest_unfinished_replay

    replay, status = newest_unfinished_replay(outputs)
    if replay is None:
        return None
    run_dir, _ = find_resumable(outputs)
    batch = next((b["batch_id"] for b in list_batches(outputs) if b.get("status") in BATCH_UNFINISHED), "")
    newest_other = max(run_dir.name if run_dir else "", batch)[:16]
    if newest_other > replay["replay_id"][:16]:
        return None
    print(f"resuming replay {replay['replay_id']} ({status})")
    return replay["replay_id"]
