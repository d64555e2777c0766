"""``runner.py``: the command line that runs the pipeline (papermill's cli, in spirit)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .errors import PipelineError
from .tasks import TASK_NAMES

EXIT_CODES = """exit codes:
  0  success
  1  a task failed (the message names the task, notebook, cell and error)
  2  bad parameters or usage (nothing ran, nothing was written)"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``runner.py``."""
    parser = argparse.ArgumentParser(
        prog="python runner.py",
        description="Run the six-notebook stock prediction pipeline with papermill. Each run writes a folder "
                    "outputs/runs/<run_id>/ with the executed notebooks, their HTML, artifacts, logs and "
                    "manifest.json.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", metavar="FILE",
                        help="parameters YAML (default: params/default.yaml)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                        help="override one parameter; repeatable (see --list-params)")
    parser.add_argument("--start-task", choices=TASK_NAMES, metavar="TASK",
                        help=f"first task to run ({', '.join(TASK_NAMES)}); earlier outputs are copied from "
                             "the latest run (or --from-run) after checking their sha256")
    parser.add_argument("--end-task", choices=TASK_NAMES, metavar="TASK", help="last task to run")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="console and task-log verbosity (default INFO)")
    parser.add_argument("--outputs", metavar="DIR",
                        help="outputs folder (default: $AAPL_OUTPUTS_DIR or ./outputs)")
    parser.add_argument("--run-dir", metavar="DIR",
                        help="write into this folder instead of a new outputs/runs/<run_id>/ "
                             "(e.g. outputs/interactive, the notebooks' own default)")
    parser.add_argument("--from-run", metavar="RUN_ID",
                        help="with --start-task: take earlier tasks' outputs from this run")
    parser.add_argument("--list-params", action="store_true", help="print every parameter and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from .config import describe_parameters, resolve_params
    from .logs import configure_console
    from .step import OUTPUTS_ENV, outputs_root, project_root

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_params:
        print(describe_parameters())
        return 0
    configure_console(args.log_level)
    root = project_root() or Path.cwd()
    try:
        params_file = Path(args.file) if args.file else root / "params" / "default.yaml"
        params = resolve_params(params_file, [tuple(p) for p in args.parameter])
        outputs = Path(args.outputs).resolve() if args.outputs else outputs_root()
        run_dir = Path(args.run_dir).resolve() if args.run_dir else None
        from_run = None
        if args.from_run:
            from_run = outputs / "runs" / args.from_run
            if "/" in args.from_run or not (from_run / "manifest.json").is_file():
                raise PipelineError(f"--from-run {args.from_run} is not a run in {outputs / 'runs'}")
        from .orchestration import run_pipeline
        import os
        os.environ.setdefault(OUTPUTS_ENV, str(outputs))  # kernels resolve the same outputs folder
        result = run_pipeline(params, outputs_dir=outputs, notebooks_dir=root / "notebooks",
                              start_task=args.start_task, end_task=args.end_task, run_dir=run_dir,
                              from_run=from_run, log_level=args.log_level, project=root)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    print(("" if result.exit_code == 0 else "error: ") + result.message, file=stream)
    return result.exit_code
