"""Options more than one command shares: the global ``--outputs``, ``--log-level`` and ``--quiet`` (accepted
before or after the command), the ``-f/-p`` of a command that continues or repeats a recorded run, and the params file a
command reads when it is given no ``-f``. Standard library only: every command imports this."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LOG_LEVEL = "INFO"
GLOBAL_FLAGS = ("-q", "--quiet")  # the global options that take no value

# what ArgumentParser.add_subparsers returns: argparse gives the class no public name
Subparsers = argparse._SubParsersAction


def add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> list[argparse.Action]:
    """Add ``--outputs`` and ``--log-level`` (each takes one value) and ``-q/--quiet`` (a flag:
    :data:`GLOBAL_FLAGS`) to ``parser``; returns their actions. The top parser has the defaults
    (``defaults=True``); each command's parser has none (``argparse.SUPPRESS``), so a value given before the
    command is kept unless the same option is given again after it."""
    return [
        parser.add_argument(
            "--outputs",
            metavar="DIR",
            default=None if defaults else argparse.SUPPRESS,
            help="outputs folder (default: $AAPL_OUTPUTS_DIR or ./outputs)",
        ),
        parser.add_argument(
            "--log-level",
            default=DEFAULT_LOG_LEVEL if defaults else argparse.SUPPRESS,
            choices=LOG_LEVELS,
            help="console and task-log verbosity (default INFO)",
        ),
        parser.add_argument(
            *GLOBAL_FLAGS,
            action="store_true",
            default=False if defaults else argparse.SUPPRESS,
            help="for schedulers: print only warnings, errors and the one-line outcome (exit codes unchanged)",
        ),
    ]


def add_operator_code(parser: argparse.ArgumentParser, what: str) -> None:
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


def chosen_params_file(args: argparse.Namespace, root: Path) -> Path:
    """The params YAML a command reads: ``-f FILE``, else the project's ``params/default.yaml``."""
    return Path(args.file) if args.file else root / "params" / "default.yaml"


def refuse_future_day(day: str | dt.date, option: str) -> None:
    """A ParameterError when ``day`` (``YYYY-MM-DD``) is after today: no schedule has run on it yet, and its
    prices do not exist. Text that is not a date is left to the parameter checks (``today`` included)."""
    from aapl_lib.errors import ParameterError

    try:
        date = day if isinstance(day, dt.date) else dt.date.fromisoformat(day.strip())
    except ValueError:
        return
    today = dt.date.today()  # the same "today" as the parameter checks' (``end: today``, a future start)
    if date > today:
        raise ParameterError(
            f"{option} {date} is in the future (today is {today}): no daily run can have happened on it; "
            "pick today or an earlier day"
        )
