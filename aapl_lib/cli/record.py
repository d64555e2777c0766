"""``track``, ``replay`` and ``health``: a ticker's live track record, computed from its forecast ledger as it is
now; the daily schedule replayed offline; and the checks a scheduler runs on every ticker."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers, chosen_params_file, refuse_future_day
from aapl_lib.errors import ParameterError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.pipeline.exit_codes import HELP as EXIT_CODES
from aapl_lib.pipeline.exit_codes import Exit, for_signal
from aapl_lib.pipeline.trust import CODE_PARAMS
from aapl_lib.runner.progress import Console, Counted
from aapl_lib.store import layout


def register(subparsers: Subparsers) -> None:
    """Add ``track``, ``replay`` and ``health``."""
    track = subparsers.add_parser(
        "track", help="a ticker's live track record: its published forecasts scored against the baselines"
    )
    track.add_argument("ticker", metavar="TICKER")
    track.add_argument("--json", action="store_true", help="print JSON (every scored day included)")
    track.set_defaults(handler=track_command)
    replay = subparsers.add_parser(
        "replay",
        help="replay the daily schedule offline: one run as of each NYSE session in a range, then the track record",
    )
    replay.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day (YYYY-MM-DD)")
    replay.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day (YYYY-MM-DD)")
    replay.add_argument("-f", "--file", metavar="FILE", help="parameters YAML (default: params/default.yaml)")
    replay.add_argument(
        "-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[], help="as for run"
    )
    replay.set_defaults(handler=replay_command)
    health = subparsers.add_parser(
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
    health.set_defaults(handler=health_command)


def track_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Print the track record of ``args.ticker`` (``--json``: the whole record, every scored day included)."""
    from aapl_lib.narrative import track_record_summary
    from aapl_lib.tracking.ledger import read_ledger
    from aapl_lib.tracking.record import track_record

    ticker = args.ticker.upper()
    path = layout.ledger_path(outputs, ticker)
    if not path.is_file():
        known = layout.ledger_tickers(outputs)
        raise ParameterError(
            f"no forecast ledger for {ticker} in {layout.ledger_dir(outputs)}: "
            + (f"tickers with one: {', '.join(known)}" if known else "no run has recorded a forecast yet")
            + " (a run records its forecast when it reaches the approval gate)"
        )
    ledger = read_ledger(path)
    record = track_record(ledger, ticker)
    if args.json:
        print(json.dumps({**record, "ledger": str(path)}, indent=2))
        return Exit.OK
    sentences, table = track_record_summary(record)
    print(f"{ticker}: live track record ({path})")
    for sentence in sentences:
        print(sentence)
    if table:
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
    print(f"drift: {record['drift']['why']}")
    page = layout.track_page(outputs, ticker)
    if page.is_file():
        print(f"page: {page}")
    return Exit.OK


def replay_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``runner.py replay --from D1 --to D2``: one run as of each NYSE session from D1 to D2, each a separate
    ``runner.py run --as-of DAY`` process exactly as a daily scheduler starts it, then the track record. Exit 0
    when every day's run succeeded or stopped at the manual gate (exit 3), else 1 (the days that did not are
    listed). The replay is recorded first (its days and options), so plain ``resume`` continues it."""
    import datetime as dt

    from aapl_lib.data.trading_calendar import trading_days
    from aapl_lib.store.runs import new_replay

    try:
        first, last = dt.date.fromisoformat(args.date_from), dt.date.fromisoformat(args.date_to)
    except ValueError as exc:
        raise ParameterError(f"--from/--to must be dates YYYY-MM-DD ({exc})") from None
    if first > last:
        raise ParameterError(f"--from {first} is after --to {last}")
    refuse_future_day(last, "--to")
    days = [f"{d:%Y-%m-%d}" for d in trading_days(first, last)]
    if not days:
        raise ParameterError(f"no NYSE session from {first} to {last}")
    options = {"file": args.file, "parameters": [list(pair) for pair in args.parameter]}
    console = Console.for_command(args.quiet)
    return _replay(new_replay(outputs, days, options), root, outputs, args.log_level, console)


def resume_replay(args: argparse.Namespace, root: Path, outputs: Path, replay_id: str, operator: dict) -> int:
    """Continue replay ``replay_id`` (plain ``resume`` or ``resume REPLAY_ID``): the day it stopped in is
    resumed (its run continued, not started again), then the days it had not reached are run. The record is
    data: the hooks and extra_features of every day come from ``operator`` (this resume's own -f FILE and -p,
    :func:`aapl_lib.pipeline.trust.operator_code`), never from the record."""
    from aapl_lib.io.iorw import read_json
    from aapl_lib.store.runs import REPLAY_FINISHED

    record = read_json(layout.replay_record(outputs, replay_id))
    if record.get("status") == REPLAY_FINISHED:
        print(f"replay {replay_id} has finished: nothing to resume")
        return Exit.OK
    return _replay(record, root, outputs, args.log_level, Console.for_command(args.quiet), operator)


def _replay(
    record: dict, root: Path, outputs: Path, log_level: str, console: Console, operator: dict | None = None
) -> int:
    """Work through the days of ``record`` that have no outcome yet, holding the replay's lock, recording each
    day's outcome as it ends; a finished replay is marked so, and its summary and track record printed."""
    from aapl_lib.io.locks import PathLock
    from aapl_lib.store.runs import REPLAY_FINISHED, REPLAY_INTERRUPTED, REPLAY_RUNNING, save_replay

    with PathLock(layout.replay_lock(outputs, record["replay_id"]), f"replay {record['replay_id']}"):
        record["status"] = REPLAY_RUNNING
        save_replay(outputs, record)
        stopped = _replay_days(record, root, outputs, log_level, console, operator)
        record["status"] = REPLAY_INTERRUPTED if stopped in _STOPPED_BY_SIGNAL + (Exit.LOCKED,) else REPLAY_FINISHED
        save_replay(outputs, record)
    if stopped is not None:
        return stopped
    return _replay_summary(record, root, outputs, console)


_STOPPED_BY_SIGNAL = (for_signal(signal.SIGINT), for_signal(signal.SIGTERM))  # Ctrl-C, systemctl stop


def _replay_days(
    record: dict, root: Path, outputs: Path, log_level: str, console: Console, operator: dict | None
) -> int | None:
    """Each day of ``record`` without an outcome: its run resumed when the replay had started one, else
    started; None once every day has an outcome, else the exit code the replay stops with. ``operator``
    (when resumed): the code-naming parameters every day is given instead of the record's. ``console`` shows
    the days as a bar with an ETA on a terminal, a line per day otherwise."""
    import sys
    import time

    from aapl_lib.store.runs import replay_day_run, save_replay

    days, options, replay_id = record["days"], record["options"], record["replay_id"]
    common = ["--outputs", str(outputs), "--log-level", log_level] + (["--quiet"] if console.quiet else [])
    data = [pair for pair in options["parameters"] if operator is None or pair[0] not in CODE_PARAMS]
    code = _pairs((name, _as_word(operator[name])) for name in CODE_PARAMS) if operator is not None else []
    pending = Counted(console, [day for day in days if day not in record["outcomes"]], "day")
    for day in pending:
        n = days.index(day) + 1
        found = replay_day_run(outputs, replay_id, day)
        if found is None:
            console(f"replay {n}/{len(days)}: run --as-of {day}")
            given = ["-f", options["file"]] if options["file"] else []
            words = ["run", *common, *given, *_pairs(data), *code, "--as-of", day, "--replay-id", replay_id]
        else:
            console(f"replay {n}/{len(days)}: resume {found[0]} (the run as of {day}: {found[1]})")
            words = ["resume", found[0], *common, *code]
        started = time.monotonic()
        returncode = _day_run([sys.executable, str(root / "runner.py"), *words], root, console)
        pending.finished(day, _day_outcome(returncode), time.monotonic() - started)
        if returncode in _STOPPED_BY_SIGNAL + (Exit.LOCKED,):
            _say_stopped(record, outputs, day, n, returncode, console)
            return returncode
        if returncode == Exit.USAGE:
            return Exit.USAGE  # bad parameters: every day would say the same
        record["outcomes"][day] = returncode
        save_replay(outputs, record)
    return None


def _as_word(value) -> str:
    """A code-naming parameter's value as ``-p`` takes it (extra_features: comma-separated)."""
    return ",".join(value) if isinstance(value, list) else str(value or "")


def _pairs(parameters) -> list[str]:
    """``-p KEY VALUE`` words for each pair."""
    return [word for key, value in parameters for word in ("-p", key, value)]


def _say_stopped(record: dict, outputs: Path, day: str, n: int, returncode: int, console: Console) -> None:
    """The lines a stopped replay prints (warnings: shown even with ``--quiet``): where it stopped, and the
    commands that continue it."""
    days = record["days"]
    if returncode == Exit.LOCKED:
        console.warning(
            f"replay stopped at {day}: its run is still running in another process; once it ends, continue the "
            f"replay with: {follow_up('resume ' + record['replay_id'], outputs)}"
        )
        return
    again = follow_up(_replay_words(record, day), outputs)
    console.warning(
        f"replay stopped during {day} (day {n} of {len(days)}, exit {returncode}); that day's run is "
        f"interrupted. Continue the replay from that day with: {again}"
    )
    console.warning(
        f"(plain resume continues it too, that day's run resumed rather than started again: "
        f"{follow_up('resume', outputs)})"
    )


def _replay_summary(record: dict, root: Path, outputs: Path, console: Console) -> int:
    """The replay's last lines: how many days did not succeed, which await approval; then the track record."""
    from aapl_lib.pipeline.config import resolve_params

    days, outcomes = record["days"], record["outcomes"]
    failed = [f"{day} (exit {code})" for day, code in outcomes.items() if code not in (Exit.OK, Exit.AWAITING_APPROVAL)]
    waiting = [day for day, code in outcomes.items() if code == Exit.AWAITING_APPROVAL]
    options = record["options"]
    params_file = chosen_params_file(argparse.Namespace(file=options["file"]), root)
    ticker = resolve_params(params_file, [tuple(p) for p in options["parameters"]])["ticker"]
    print(
        f"replayed {len(days)} trading day(s) {days[0]}..{days[-1]}; {len(failed)} did not succeed"
        + (f"; {len(waiting)} await approval ({follow_up('list', outputs)})" if waiting else "")
    )
    for day in failed:
        print(f"  {day}")
    if layout.ledger_path(outputs, ticker).is_file() and not console.quiet:
        track_command(argparse.Namespace(ticker=ticker, json=False), root, outputs)
    return Exit.OK if not failed else Exit.FAILED


def _day_run(command: list[str], root: Path, console: Console) -> int:
    """One day's run; on Ctrl-C (or SIGTERM) the replay passes the signal on once and gives the run the time to
    record its interruption. The run has a session of its own, so the terminal's Ctrl-C reaches the replay only:
    a second signal would cut the run's own clean-up short. ``console`` starts it (on a terminal its lines come
    above the replay's bar)."""
    import signal
    import subprocess

    proc = console.start_child(command, cwd=root, stdin=subprocess.DEVNULL, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a run that will not stop: killed, left for plain resume
            proc.kill()
            proc.wait()
        return for_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _day_outcome(returncode: int) -> str:
    """A replayed day's run as its progress line says it: ``ok``, ``awaiting approval`` or ``exit N``."""
    return {Exit.OK: "ok", Exit.AWAITING_APPROVAL: "awaiting approval"}.get(returncode, f"exit {returncode}")


def _replay_words(record: dict, day: str) -> str:
    """The replay command line again, from ``day``: same file and parameters."""
    import shlex

    words = ["replay", "--from", day, "--to", record["days"][-1]]
    if record["options"]["file"]:
        words += ["-f", record["options"]["file"]]
    words += _pairs(record["options"]["parameters"])
    return " ".join(shlex.quote(w) for w in words)


def health_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
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
