"""``runner.py``: the command line (papermill's cli, in spirit).

python runner.py [GLOBALS] [run] [-f FILE] [-p KEY VALUE]... [--start-task T] [--end-task T] [--only T]
                 [--force] [--force-task T]... [--run-dir DIR] [GLOBALS]
python runner.py resume [RUN_ID] [-f FILE] [-p on_success|on_failure|extra_features VALUE]...
python runner.py status [RUN_ID]
python runner.py list
python runner.py prune --keep-days N [--dry-run]
python runner.py approve|reject RUN_ID --by NAME [--note TEXT]
python runner.py convert-model TICKER --trust-sha256 SHA256 --by NAME
python runner.py compare RUN_A RUN_B [--json]
python runner.py verify [RUN_ID] [--json]
python runner.py reproduce RUN_ID [--into DIR] [--json] [-f FILE] [-p extra_features VALUE]
python runner.py dag [--output FILE.png|FILE.svg] [--format mermaid|png|svg]
python runner.py browse
python runner.py track TICKER [--json]
python runner.py replay --from DATE --to DATE [-f FILE] [-p KEY VALUE]...
python runner.py health [--max-age HOURS] [--failures N] [--ticker T]... [--json]

GLOBALS (``--outputs DIR``, ``--log-level L``, ``-q/--quiet``) go before or after the command, for every command.

Each module of ``COMMAND_MODULES`` adds its commands with ``register(subparsers)``, each command's parser naming
its ``handler(args, root, outputs) -> exit code``; a new command is one new module and one entry in that tuple.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import NamedTuple

from aapl_lib.cli import audit, decisions, record, run, runs, views
from aapl_lib.cli.arguments import GLOBAL_FLAGS, add_global_options
from aapl_lib.errors import IntegrityError, ParameterError, PipelineError, StorageError
from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES
from aapl_lib.pipeline.exit_codes import Exit, for_signal
from aapl_lib.pipeline.spelling import did_you_mean

# in the order --help lists them
COMMAND_MODULES = (run, runs, decisions, audit, views, record)
DEFAULT_COMMAND = run.RUN
# the exit code when stdout's reader has gone (``| head -1``): 141, 128 + SIGPIPE, what the shell reports for
# ``yes | head -1`` or ``git log | head -1`` under ``set -o pipefail`` (without it, the pipeline's status is head's)
CLOSED_PIPE = for_signal(signal.SIGPIPE)


class CommandLine(NamedTuple):
    """The parser with every command registered, each command's own parser by name, and the spellings of the
    global options."""

    parser: argparse.ArgumentParser
    commands: dict[str, argparse.ArgumentParser]
    global_options: tuple[str, ...]


def command_line(prog: str = "python runner.py") -> CommandLine:
    """Build the parser of ``runner.py``: the global options, then each module of ``COMMAND_MODULES``'s
    commands, each with the global options again (without defaults, so they may come after the command)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the six-notebook stock prediction pipeline with papermill. Each run writes a folder "
        "outputs/runs/<run_id>/ with the executed notebooks, their HTML, artifacts, logs and "
        "manifest.json. Without a command, 'run' is meant. --outputs, --log-level and --quiet may come "
        "before or after the command.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global_actions = add_global_options(parser, defaults=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    for command_parser in dict.fromkeys(subparsers.choices.values()):  # an alias names the same parser again
        add_global_options(command_parser, defaults=False)
    spellings = tuple(s for action in global_actions for s in action.option_strings)
    return CommandLine(parser, dict(subparsers.choices), spellings)


def build_parser(prog: str = "python runner.py") -> argparse.ArgumentParser:
    """The argument parser of ``runner.py``: the global options, then one sub-parser per command."""
    return command_line(prog).parser


def with_default_command(argv: Sequence[str], commands: Collection[str], global_options: Collection[str]) -> list[str]:
    """``argv`` with ``run`` put where the command belongs when none is given: after the global options (each
    with its value, as ``--outputs DIR`` or ``--outputs=DIR``, or a flag, ``--quiet``) that come first.
    ``-h``/``--help`` there is the top-level help, not a missing command. A word there that is neither a command
    nor an option is a misspelt command (``run`` takes no positional argument): a ParameterError naming the
    nearest commands."""
    argv = list(argv)
    position = 0
    while position < len(argv):
        word = argv[position]
        if word in global_options:
            position += 1 if word in GLOBAL_FLAGS else 2
        elif word.partition("=")[0] in global_options:
            position += 1
        else:
            break
    if position > len(argv):  # a global option without its value: argparse says so
        return argv
    if position < len(argv) and (argv[position] in commands or argv[position] in ("-h", "--help")):
        return argv
    if position < len(argv) and not argv[position].startswith("-"):
        raise ParameterError(unknown_command(argv[position], commands))
    return [*argv[:position], DEFAULT_COMMAND, *argv[position:]]


def unknown_command(word: str, commands: Collection[str]) -> str:
    """The one line that answers a misspelt command: the nearest commands, else every command."""
    hint = did_you_mean(word, commands)
    return f"unknown command {word!r} — " + (hint if hint else f"the commands are {', '.join(commands)}")


def with_split_parameters(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``-p KEY=VALUE`` (kedro's ``--params key=value`` habit; ``--param`` is argparse's
    abbreviation of ``--parameter``) written as papermill's ``-p KEY VALUE``: split only when the word after
    ``-p`` holds ``=`` and no value follows it (the end, or another option), so ``-p csv_path a=b.csv`` stays."""
    argv = list(argv)
    out: list[str] = []
    position = 0
    while position < len(argv):
        word = argv[position]
        out.append(word)
        position += 1
        is_parameter = word == "-p" or (len(word) > 2 and "--parameter".startswith(word))
        if is_parameter and position < len(argv) and "=" in argv[position].strip("="):
            following = argv[position + 1] if position + 1 < len(argv) else None
            if following is None or following.startswith("-"):
                out.extend(argv[position].split("=", 1))
                position += 1
    return out


def parse_args(argv: Sequence[str], prog: str = "python runner.py") -> argparse.Namespace:
    """Parse a command line of ``runner.py`` (``run`` when no command is named); argparse exits on bad usage."""
    parser, commands, global_options = command_line(prog)
    return parser.parse_args(with_default_command(with_split_parameters(argv), commands, global_options))


def exit_code_for(exc: Exception, outputs: Path) -> tuple[int, str] | None:
    """The exit code a command ends with for ``exc`` and the message to print; None for an unexpected error
    (its traceback is shown). A disk that refused a write counts as a StorageError."""
    from aapl_lib.io.iorw import disk_error

    if isinstance(exc, OSError):
        exc = disk_error(exc.filename or outputs, exc) or exc
    # the most specific first: LockBusyError, IntegrityError and StorageError are PipelineErrors
    kinds: list[tuple[type[Exception] | tuple[type[Exception], ...], int]] = [
        ((IntegrityError, StorageError), Exit.FAILED),  # damaged state or a full disk: not a usage error
        (PipelineError, Exit.USAGE),
    ]
    try:
        from aapl_lib.io.locks import LockBusyError  # filelock: imported only once a command has failed
    except ModuleNotFoundError:
        pass  # an interpreter without filelock (not the project's .venv) never took a lock
    else:
        kinds.insert(0, (LockBusyError, Exit.LOCKED))
    for kind, code in kinds:
        if isinstance(exc, kind):
            return code, str(exc)
    return None


def missing_dependency(exc: BaseException, argv: Sequence[str], root: Path) -> str | None:
    """For an import of a third-party module that failed (``python3 runner.py`` by an interpreter without the
    project's dependencies): the one line saying what is missing and the command that has them; None for any
    other error (a module of ``aapl_lib`` that fails to import is a bug, and shows its traceback)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name or exc.name.partition(".")[0] == "aapl_lib":
        return None
    # the same words again, run by the project's .venv (from the project folder, else by absolute paths)
    here = root == Path.cwd().resolve()
    venv_python, runner = (".venv/bin/python", "runner.py") if here else (root / ".venv/bin/python", root / "runner.py")
    arguments = f" {shlex.join(argv)}" if argv else ""
    return (
        f"{sys.executable} lacks the project's dependencies (no module named {exc.name!r}): run "
        f"{venv_python} {runner}{arguments} (or aapl-pipeline{arguments} with .venv activated); "
        f"make .venv/.installed-stamp{'' if here else f' (in {root})'} installs them into .venv"
    )


def console() -> None:
    """The ``aapl-pipeline`` console command: ``python runner.py`` under its installed name."""
    sys.exit(main(prog="aapl-pipeline"))


def main(argv: Sequence[str] | None = None, prog: str = "python runner.py") -> int:
    """Entry point; returns the exit code. A reader that stops early (``runner.py list | head -1``) ends the
    command quietly with :data:`CLOSED_PIPE`, as the shell's own tools do."""
    try:
        code = _command(list(sys.argv[1:] if argv is None else argv), prog)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # the Python docs' recipe (signal module, "Note on SIGPIPE"): the rest of stdout goes nowhere, so the
        # interpreter's own flush at exit cannot fail again and print "Exception ignored ... BrokenPipeError"
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return CLOSED_PIPE


def _command(argv: list[str], prog: str) -> int:
    """Parse ``argv`` and run its command's handler; the exit code (a known error printed in one line)."""
    try:
        args = parse_args(argv, prog)
    except ParameterError as exc:  # a misspelt command or task name: one line, not argparse's usage
        print(f"error: {exc}", file=sys.stderr)
        return Exit.USAGE
    from aapl_lib.io.logs import configure_console
    from aapl_lib.io.project import OUTPUTS_ENV, outputs_root, project_root

    configure_console(args.log_level)
    root = project_root() or Path.cwd()
    outputs = Path(args.outputs).resolve() if args.outputs else outputs_root()
    os.environ[OUTPUTS_ENV] = str(outputs)  # kernels resolve the same outputs folder
    try:
        return args.handler(args, root, outputs)
    except BrokenPipeError:
        raise  # the reader went away: main ends quietly
    except Exception as exc:
        message = missing_dependency(exc, argv, root)
        known = (Exit.USAGE, message) if message else exit_code_for(exc, outputs)
        if known is None:
            raise
        code, message = known
        print(f"error: {message}", file=sys.stderr)
        return code
