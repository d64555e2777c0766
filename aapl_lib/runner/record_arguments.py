"""The arguments of the commands about a ticker's live track record and the pipeline's health: ``track``,
``replay`` and ``health`` (``aapl_lib/cli.py`` adds them to its parser; standard library only)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES


def add_record_commands(sub, _common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``track``, ``replay`` and ``health`` to the subparsers ``sub``; ``_common`` adds --outputs etc."""
    track = sub.add_parser(
        "track", help="a ticker's live track record: its published forecasts scored against the baselines"
    )
    track.add_argument("ticker", metavar="TICKER")
    track.add_argument("--json", action="store_true", help="print JSON (every scored day included)")
    _common(track)
    replay = sub.add_parser(
        "replay",
        help="replay the daily schedule offline: one run as of each NYSE session in a range, then the track record",
    )
    replay.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day (YYYY-MM-DD)")
    replay.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day (YYYY-MM-DD)")
    replay.add_argument("-f", "--file", metavar="FILE", help="parameters YAML (default: params/default.yaml)")
    replay.add_argument(
        "-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[], help="as for run"
    )
    _common(replay)
    health = sub.add_parser(
        "health",
        help="for schedulers: exit 5 when a ticker has no recent successful run, keeps failing, or drifts",
        description="Check every ticker with runs in outputs/runs or a forecast ledger (or those named): a "
        "problem when its newest run that got through evaluation (success, or stopped at / decided by the "
        "approval gate) started more than --max-age hours ago, when its last --failures runs all failed "
        "(failed, timed_out, interrupted, locked), or when its drift alarm is on (the last 60 scored "
        "published forecasts significantly worse than a zero return). One line per ticker, then a summary.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    health.add_argument(
        "--max-age",
        type=float,
        default=96.0,
        metavar="HOURS",
        help="the newest successful run may be this old (default 96: the weekday timer leaves 72 h from "
        "Friday's run to Monday's, 96 also covers a Monday holiday or one missed evening; 30 for a check "
        "the morning after each weekday run)",
    )
    health.add_argument(
        "--failures", type=int, default=3, metavar="N", help="a problem when the last N runs all failed (default 3)"
    )
    health.add_argument(
        "--ticker", action="append", default=[], metavar="T", help="check this ticker (repeatable; default: all)"
    )
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(health)
