"""``-q/--quiet`` is a global flag: accepted before or after any command, and before the other global options
without taking their value (``run`` is still put where the command belongs)."""

from __future__ import annotations

import pytest

from aapl_lib.cli import parse_args


@pytest.mark.parametrize(
    "argv, command",
    [
        (["--quiet", "list"], "list"),
        (["-q", "--outputs", "/srv/out", "approve", "R1", "--by", "me"], "approve"),
        (["--outputs", "/srv/out", "--quiet", "-p", "ticker", "MSFT"], "run"),
        (["--quiet"], "run"),
        (["replay", "--from", "2013-01-02", "--to", "2013-01-04", "-q"], "replay"),
    ],
)
def test_quiet_is_a_global_flag_before_or_after_the_command(argv, command):
    args = parse_args(argv)
    assert args.command == command and args.quiet is True
    if "--outputs" in argv:
        assert args.outputs == "/srv/out"


def test_without_quiet_progress_is_shown():
    assert parse_args(["list"]).quiet is False and parse_args([]).quiet is False
