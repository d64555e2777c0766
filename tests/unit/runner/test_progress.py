"""The console's progress in its three modes, driven in this process: a terminal (a fake tty stream: live lines
redrawn in place, bars with an ETA), plain lines (no carriage return, no escape code, one line per unit of work
with the time left) and quiet (warnings only); and the download's retry line the live task line reads."""

from __future__ import annotations

import io
import logging
import re
import time

from tenacity import Retrying

from aapl_lib.data.sources.yahoo import _log_retry
from aapl_lib.errors import TransientSourceError
from aapl_lib.runner.progress import RETRY, Console, Counted, spoken_duration, task_line

RETRY_LINE = (
    "[2026-01-05T21:30:00Z] [data_ingestion] [WARNING] yfinance attempt 1 failed "
    "(yfinance download of AAPL failed: YFRateLimitError: Too Many Requests); retrying in 2.00 s"
)


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def _terminal() -> tuple[Console, io.StringIO, FakeTerminal]:
    out, err = io.StringIO(), FakeTerminal()
    return Console(out=out, err=err, refresh_s=0.02), out, err


def test_on_a_terminal_a_running_task_has_a_live_line_with_its_elapsed_time_and_retries_a_bar():
    console, out, err = _terminal()
    assert console.live
    with console.task("[1/6] data_ingestion      ", attempts=4):
        time.sleep(0.1)
        logging.getLogger("papermill").warning(RETRY_LINE)  # as papermill relays the kernel's stderr
        time.sleep(0.1)
    console("[1/6] data_ingestion       ok in 0.2 s (first run of this task)")
    drawn = err.getvalue()
    assert drawn.count("\r[1/6] data_ingestion running 00:00") >= 3  # redrawn in place while it runs
    assert re.search(r"\r\[1/6\] data_ingestion running 00:00 \|#+ *\| 1/4 attempts failed, next in 2 s", drawn)
    assert "warning: [1/6] data_ingestion: yfinance attempt 1 of 4 failed (yfinance download of AAPL failed: " in drawn
    assert out.getvalue() == "[1/6] data_ingestion       ok in 0.2 s (first run of this task)\n"


def test_on_a_terminal_work_of_known_size_has_a_bar_with_an_eta():
    console, out, err = _terminal()
    days = Counted(console, ["2026-01-05", "2026-01-06", "2026-01-07"], "day")
    for day in days:
        time.sleep(0.05)
        days.finished(day, "ok", 0.05)
    drawn = err.getvalue()
    assert re.search(r"\rdays  33%\|#+ +\| 1/3 days \[00:00<00:00, 2026-01-0[56]\]", drawn)  # elapsed<ETA
    assert "0/3 days [00:00<?, 2026-01-05]" in drawn  # no estimate before the first day ends
    assert drawn.endswith("\r")  # cleared when the loop ends
    lines = out.getvalue().splitlines()
    assert lines[0] == "day 1/3 2026-01-05 ok in 0 s; about 0 s left" and lines[2].startswith("day 3/3 2026-01-07 ok")


def test_not_on_a_terminal_each_unit_is_one_plain_line_with_the_time_left():
    out, err = io.StringIO(), io.StringIO()  # a pipe, a cron log
    console = Console(out=out, err=err, refresh_s=0.02)
    assert not console.live
    with console.task("[1/6] data_ingestion", attempts=3):
        logging.getLogger("papermill").warning(RETRY_LINE)
        time.sleep(0.05)
    with console.units(2, "ticker") as tickers:
        tickers.finished("AAPL", "ok", 41.2)
        tickers.finished("MSFT", "failed", 3.0, "task data_ingestion failed")
    written = out.getvalue() + err.getvalue()
    assert "\r" not in written and "\x1b" not in written
    assert out.getvalue().splitlines()[0].startswith("ticker 1/2 AAPL ok in 41 s; about ")
    assert out.getvalue().splitlines()[1].startswith("ticker 2/2 MSFT failed in 3 s; all 2 done in ")
    assert out.getvalue().endswith(" — task data_ingestion failed\n")
    assert err.getvalue().startswith("warning: [1/6] data_ingestion: yfinance attempt 1 of 3 failed (")


def test_quiet_keeps_only_warnings_on_stderr_even_on_a_terminal():
    out, err = io.StringIO(), FakeTerminal()
    console = Console(quiet=True, out=out, err=err)
    assert not console.live
    console("[1/6] data_ingestion       ok in 0.2 s (first run of this task)")
    console("warning: could not rebuild the run browser: disk full")
    with console.units(1, "ticker") as tickers:
        tickers.finished("AAPL", "ok", 1.0)
    assert out.getvalue() == "" and err.getvalue() == "warning: could not rebuild the run browser: disk full\n"


def test_a_run_without_a_console_gets_no_live_line_but_its_lines():
    lines: list[str] = []
    with task_line(lines.append, "[1/6] data_ingestion") as live:
        assert live is None
    days = Counted(lines.append, ["2026-01-05"], "day")
    for day in days:
        days.finished(day, "exit 1", 12)
    assert lines == ["day 1/1 2026-01-05 exit 1 in 12 s; all 1 done in 0 s"]


def test_the_retry_line_the_live_task_reads_is_the_one_the_yfinance_source_logs(caplog):
    def fail() -> None:
        raise TransientSourceError("yfinance download of AAPL failed: YFRateLimitError: Too Many Requests")

    retrying = Retrying(stop=lambda state: state.attempt_number >= 2, sleep=lambda s: None, before_sleep=_log_retry)
    with caplog.at_level(logging.WARNING, logger="aapl_lib.data.sources.yahoo"):
        try:
            retrying(fail)
        except Exception:
            pass
    said = [r.getMessage() for r in caplog.records if "yfinance attempt" in r.getMessage()]
    found = RETRY.search(said[0])
    assert found and found["attempt"] == "1" and "YFRateLimitError" in found["why"] and found["wait"] == "0.00"


def test_durations_are_spoken():
    assert [spoken_duration(s) for s in (0.4, 41.2, 80, 120, 3725)] == [
        "0 s",
        "41 s",
        "1 min 20 s",
        "2 min",
        "1 h 2 min",
    ]
