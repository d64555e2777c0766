"""The parser of ``runner.py``, in process: every command registered with a handler, the global options
(``--outputs``, ``--log-level``) before or after the command, and ``run`` when no command is named."""

from __future__ import annotations

import inspect
import re

import pytest

from aapl_lib.cli import COMMAND_MODULES, build_parser, command_line, parse_args
from helpers import ROOT

# The least each command needs to parse; a command missing here fails test_every_command_has_minimal_arguments.
MINIMAL = {
    "run": [],
    "resume": [],
    "status": [],
    "list": [],
    "prune": ["--keep-days", "3"],
    "approve": ["RUN", "--by", "me"],
    "reject": ["RUN", "--by", "me", "--note", "not yet"],
    "convert-model": ["AAPL", "--trust-sha256", "ab" * 32, "--by", "me"],
    "compare": ["RUN_A", "RUN_B"],
    "verify": ["RUN", "--json"],
    "reproduce": ["RUN", "--into", "scratch"],
    "dag": ["--format", "mermaid"],
    "browse": [],
    "track": ["AAPL"],
    "replay": ["--from", "2013-01-02", "--to", "2013-01-31"],
    "health": ["--max-age", "30"],
}
GLOBALS = ["--outputs", "/srv/out", "--log-level", "DEBUG"]


def test_every_command_has_minimal_arguments():
    assert set(command_line().commands) == set(MINIMAL)


def test_every_command_in_the_readme_is_registered_with_a_handler_of_args_root_outputs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    usage = readme.split("## Command line", 1)[1].split("```", 2)[1]
    documented = set(re.findall(r"^python runner\.py ([a-z][a-z-]*)", usage, re.MULTILINE))
    documented |= {"run"}  # the first line: python runner.py [run] ...
    commands = command_line().commands
    assert set(commands) == documented
    for name, parser in commands.items():
        handler = parser.get_default("handler")
        assert callable(handler), name
        assert list(inspect.signature(handler).parameters) == ["args", "root", "outputs"], name


def test_each_command_module_registers_commands_of_its_own():
    """A new command is one module in COMMAND_MODULES: each adds at least one command, none adds another's."""
    import argparse

    seen: set[str] = set()
    for module in COMMAND_MODULES:
        subparsers = argparse.ArgumentParser().add_subparsers()
        module.register(subparsers)
        names = set(subparsers.choices)
        assert names and not names & seen, module.__name__
        seen |= names
    assert seen == set(command_line().commands)


@pytest.mark.parametrize("command", sorted(MINIMAL))
def test_globals_before_and_after_the_command_give_the_same_namespace(command):
    before = parse_args([*GLOBALS, command, *MINIMAL[command]])
    after = parse_args([command, *MINIMAL[command], *GLOBALS])
    assert vars(before) == vars(after)
    assert (before.command, before.outputs, before.log_level) == (command, "/srv/out", "DEBUG")
    plain = parse_args([command, *MINIMAL[command]])
    assert (plain.outputs, plain.log_level) == (None, "INFO")
    assert {k: v for k, v in vars(plain).items() if k not in ("outputs", "log_level")} == {
        k: v for k, v in vars(before).items() if k not in ("outputs", "log_level")
    }


def test_a_global_given_before_is_kept_and_one_given_after_wins():
    assert parse_args(["--outputs", "A", "list"]).outputs == "A"
    assert parse_args(["--outputs", "A", "list", "--outputs", "B"]).outputs == "B"
    assert parse_args(["--log-level=ERROR", "status", "RUN"]).log_level == "ERROR"
    assert parse_args(["--outputs=A", "status"]).outputs == "A"


def test_run_is_the_default_command_with_or_without_globals_first():
    assert parse_args([]).command == "run"
    bare = parse_args(["-p", "ticker", "MSFT"])
    assert bare.command == "run" and bare.parameter == [["ticker", "MSFT"]]
    after_globals = parse_args(["--outputs", "X", "-p", "ticker", "MSFT"])
    assert after_globals.command == "run" and after_globals.parameter == [["ticker", "MSFT"]]
    assert after_globals.outputs == "X"
    assert parse_args(["--outputs", "X"]).command == "run"
    assert parse_args(["--outputs", "X", "--force"]).force is True


def test_bad_usage_exits_2(capsys):
    for argv in (["--outputs"], ["--log-level", "LOUD", "list"], ["approve", "RUN"], ["-p", "ticker"]):
        with pytest.raises(SystemExit) as exited:
            parse_args(argv)
        assert exited.value.code == 2, argv
    assert "--outputs: expected one argument" in capsys.readouterr().err


def test_help_lists_every_command_and_the_exit_codes(capsys):
    from aapl_lib.pipeline.exit_codes import Exit

    with pytest.raises(SystemExit) as exited:
        parse_args(["--outputs", "X", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text == build_parser().format_help()
    for name in MINIMAL:
        assert re.search(rf"^    {re.escape(name)} ", text, re.MULTILINE), name
    for code in Exit:
        assert f"\n  {int(code)}  " in text
    assert "--outputs DIR" in text and "--log-level" in text
