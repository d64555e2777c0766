"""Progress the way a scheduler and a person read it, through runner.py with its output to a pipe (as cron and
CI capture it): plain lines only, one per unit of work with the time left; ``--quiet`` for schedulers (only
warnings, errors and the one-line outcome); download retries said as they happen. The terminal's live lines
and bars are driven in tests/unit/runner/test_progress.py."""

from __future__ import annotations

import re

from helpers import ROOT, WINDOW, run_runner

FAKE_YFINANCE = str(ROOT / "tests" / "fake_yfinance")  # sitecustomize: yfinance.Ticker answers offline


def test_a_batch_to_a_pipe_prints_one_plain_line_per_ticker_with_the_time_left(project):
    proc = project.run("--tickers", "AAPL", "MSFT", *WINDOW, "--workers", "2", timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("ticker ")]
    assert len(lines) == 2, proc.stdout
    first, last = sorted(lines)
    assert re.fullmatch(r"ticker 1/2 (AAPL|MSFT) ok in \d+( min \d+)? s; about \d+ (s|min( \d+ s)?) left", first)
    assert re.fullmatch(r"ticker 2/2 (AAPL|MSFT) ok in \d+( min \d+)? s; all 2 done in \d+ (s|min( \d+ s)?)", last)
    assert "\r" not in proc.stdout + proc.stderr and "\x1b" not in proc.stdout + proc.stderr


def test_quiet_before_or_after_the_command_prints_only_the_outcome(project):
    for args in (["--quiet", *WINDOW], ["run", *WINDOW, "-q"]):
        proc = project.run(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "" and len(proc.stdout.splitlines()) == 1, proc.stdout
        assert re.fullmatch(r"run \S+ succeeded: \S+\n", proc.stdout)


def test_download_retries_are_warned_as_they_happen_even_when_quiet(tmp_path):
    env = {"PYTHONPATH": FAKE_YFINANCE, "AAPL_FAKE_YF_FAIL": "rate_limit"}
    args = ["-p", "source", "yfinance", "-p", "start", "2011-01-01", "-p", "end", "2012-12-31"]
    retries = ["-p", "download_retries", "3", "-p", "retry_wait_seconds", "0", "-p", "task_retries", "{}"]

    proc = run_runner("--quiet", *args, *retries, "--only", "data_ingestion", outputs=tmp_path / "out", env=env)

    assert proc.returncode == 1 and proc.stdout == ""
    said = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    assert [ln.split(" failed (")[0] for ln in said] == [
        f"warning: [1/1] data_ingestion: yfinance attempt {n} of 3" for n in (1, 2)
    ], proc.stderr
    assert all("YFRateLimitError" in ln and ln.endswith("; retrying in 0.0 s") for ln in said)
    assert proc.stderr.splitlines()[-1].startswith("error: task data_ingestion failed")
