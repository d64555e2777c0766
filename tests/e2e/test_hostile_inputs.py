"""The hostile input corpus, end to end: ``runner.py -p source csv`` on spoiled copies of a good file.

Every fixture starts from a classic Yahoo CSV of the offline sample (AAPL 2010-2012, 754 rows) and spoils
it the way real files are spoiled. Each case ends one of three ways:

* **failure** — exit 1, one stderr line (and no traceback) names the task, its notebook and the problem;
  the manifest says ``failed``, and neither the failed task's outputs nor any later task's exist;
* **repair** — a repair the library documents: exit 0 (``--end-task data_cleaning``) and the repair
  recorded in the run's ``reports/quality.json``;
* **refused** — a bad parameter: exit 2, one line, nothing written.

The runs are subprocesses (as a scheduler starts them). To keep the file fast they are started together,
a few at a time, by a module fixture the first time a case needs its result; each test then checks one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aapl_lib.pipeline.tasks import TASKS
from helpers import ROOT, run_runner, sample_frame, write_classic_yahoo, write_yfinance_multiheader

START, END = "2010-01-01", "2012-12-31"
ROWS = 754  # AAPL trading days in START..END in the sample
WORKERS = max(2, min(4, (os.cpu_count() or 2) + 1))  # notebook kernels wait on I/O: one more than the cores
TASK_INDEX = {t.name: i for i, t in enumerate(TASKS)}


@cache
def _base() -> pd.DataFrame:
    frame = sample_frame(START, END)
    assert len(frame) == ROWS
    return frame


def base() -> pd.DataFrame:
    return _base().copy()


def csv_args(path: Path, *extra: str, start: str = START, end: str = END) -> list[str]:
    return ["-p", "source", "csv", "-p", "csv_path", str(path), "-p", "start", start, "-p", "end", end, *extra]


def classic(folder: Path, frame: pd.DataFrame | None = None, name: str = "AAPL.csv") -> Path:
    return write_classic_yahoo(folder / name, base() if frame is None else frame)


def text_of_classic(folder: Path) -> list[str]:
    return classic(folder, name="clean.csv").read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def blank_column(folder: Path, column: str) -> Path:
    """The classic file with every value of ``column`` left empty."""
    frame = pd.read_csv(classic(folder), dtype=str, keep_default_na=False)
    frame[column] = ""
    path = folder / "AAPL.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def rows(count: int, step: int = 7, first: int = 40) -> list[int]:
    """``count`` row positions spread over the file (never the first rows, never adjacent)."""
    positions = list(range(first, ROWS, step))[:count]
    assert len(positions) == count
    return positions


def dates(positions: list[int]) -> list[str]:
    return [f"{_base().index[i]:%Y-%m-%d}" for i in positions]


# --------------------------------------------------------------------------------------------- fixtures (spoils)
def empty_file(folder: Path) -> list[str]:
    return csv_args(write_lines(folder / "AAPL.csv", []))


def header_only(folder: Path) -> list[str]:
    return csv_args(write_lines(folder / "AAPL.csv", text_of_classic(folder)[:1]))


def colon_delimiter(folder: Path) -> list[str]:
    return csv_args(write_lines(folder / "AAPL.csv", [ln.replace(",", ":") for ln in text_of_classic(folder)]))


def non_numeric_price(folder: Path) -> list[str]:
    lines = text_of_classic(folder)
    cells = lines[101].split(",")
    cells[4] = "12O.5"  # Close typed with a letter O
    lines[101] = ",".join(cells)
    return csv_args(write_lines(folder / "AAPL.csv", lines))


NUMERIC_ROW = 101  # the data row (1-based, after the header) that gets the hostile cell
CLOSE, VOLUME = 4, 6  # columns of the classic layout: Date,Open,High,Low,Close,Adj Close,Volume


def hostile_cell(column: int, text: str, *extra: str):
    """The classic file with one cell replaced by ``text`` as written (quotes included)."""

    def spoil(folder: Path) -> list[str]:
        lines = text_of_classic(folder)
        cells = lines[NUMERIC_ROW].split(",")
        cells[column] = text
        lines[NUMERIC_ROW] = ",".join(cells)
        return csv_args(write_lines(folder / "AAPL.csv", lines), *extra)

    return spoil


SPELLINGS = ["nan", "NaN", "#N/A", "null", ""]  # how files say "no value", one per row from NUMERIC_ROW


def missing_spellings(folder: Path) -> list[str]:
    lines = text_of_classic(folder)
    for offset, text in enumerate(SPELLINGS):
        cells = lines[NUMERIC_ROW + 2 * offset].split(",")
        cells[CLOSE] = text
        lines[NUMERIC_ROW + 2 * offset] = ",".join(cells)
    return csv_args(write_lines(folder / "AAPL.csv", lines), "--end-task", "data_cleaning")


def dollar_prices(folder: Path) -> list[str]:
    """Every price written with a dollar sign (``$30.57``), and one volume with quoted thousands separators."""
    lines = text_of_classic(folder)
    out = [lines[0]] + [",".join([c[0], *("$" + v for v in c[1:6]), c[6]]) for c in (ln.split(",") for ln in lines[1:])]
    cells = out[NUMERIC_ROW].split(",")
    cells[VOLUME] = '"1,234,500"'
    out[NUMERIC_ROW] = ",".join(cells)
    return csv_args(write_lines(folder / "AAPL.csv", out), "--end-task", "data_cleaning")


def check_missing_close(run_dir: Path) -> None:
    q = quality(run_dir)
    n = len(SPELLINGS)
    assert q["rows_out"] == ROWS - n and q["missing_values"]["close"] == n and q["status"] == "pass"
    kept = set(f"{d:%Y-%m-%d}" for d in cleaned_csv(run_dir).index)
    assert not kept & set(dates([NUMERIC_ROW - 1 + 2 * k for k in range(n)]))


def check_dollar_prices(run_dir: Path) -> None:
    raw = pd.read_csv(run_dir / "data/raw.csv", index_col=0, parse_dates=[0])
    assert raw["close"].to_numpy() == pytest.approx(_base()["close"].to_numpy(), rel=1e-12)
    assert raw["volume"].iloc[NUMERIC_ROW - 1] == 1234500.0
    assert quality(run_dir)["rows_out"] == ROWS


def nonpositive_prices(count: int):
    """Zero or negative prices on ``count`` rows: close 0, open -1, low -5 in turn."""

    def spoil(folder: Path) -> list[str]:
        frame = base()
        for n, pos in enumerate(rows(count, step=3 if count > 10 else 97)):
            frame.iloc[pos, frame.columns.get_loc(("close", "open", "low")[n % 3])] = (0.0, -1.0, -5.0)[n % 3]
        return csv_args(classic(folder, frame), *(["--end-task", "data_cleaning"] if count <= 10 else []))

    return spoil


def high_below_low(count: int):
    def spoil(folder: Path) -> list[str]:
        frame = base()
        positions = rows(count, step=11 if count > 10 else 101)
        high, low = frame.columns.get_loc("high"), frame.columns.get_loc("low")
        for pos in positions:
            frame.iloc[pos, high], frame.iloc[pos, low] = frame.iloc[pos, low], frame.iloc[pos, high]
        return csv_args(classic(folder, frame), *(["--end-task", "data_cleaning"] if count <= 10 else []))

    return spoil


def missing_trading_days(folder: Path) -> list[str]:
    """Every 12th trading day left out (about 8 % of the calendar), over ``quality_max_missing_days_pct``."""
    frame = base()
    return csv_args(classic(folder, frame.drop(frame.index[40::12])))


LARGE_MOVE_ROW = 300


def large_move(folder: Path) -> list[str]:
    """One day printed 70 % above its neighbours (a bad tick), with ``quality_fail_on_large_moves`` on."""
    frame = base()
    for column in ("open", "high", "low", "close", "adj_close"):
        frame.iloc[LARGE_MOVE_ROW, frame.columns.get_loc(column)] *= 1.7
    return csv_args(classic(folder, frame), "-p", "quality_fail_on_large_moves", "true")


DUPLICATED = [120, 480]  # row positions given twice


def conflicting_duplicates(folder: Path) -> list[str]:
    """Two dates given twice, the second time with every price 1 % higher (a corrected row appended)."""
    lines = text_of_classic(folder)
    out = []
    for number, line in enumerate(lines):
        out.append(line)
        if number - 1 in DUPLICATED:
            cells = line.split(",")
            cells[1:6] = [repr(round(float(v) * 1.01, 6)) for v in cells[1:6]]
            out.append(",".join(cells))
    return csv_args(write_lines(folder / "AAPL.csv", out), "--end-task", "data_cleaning")


def newest_first(folder: Path) -> list[str]:
    lines = text_of_classic(folder)
    return csv_args(write_lines(folder / "AAPL.csv", lines[:1] + lines[1:][::-1]), "--end-task", "data_cleaning")


def volume_empty(folder: Path) -> list[str]:
    return csv_args(blank_column(folder, "Volume"))


def adj_close_empty(folder: Path) -> list[str]:
    return csv_args(blank_column(folder, "Adj Close"), "--end-task", "data_cleaning")


def future_dates(folder: Path) -> list[str]:
    lines = text_of_classic(folder)
    future = (pd.Timestamp.now().normalize() + pd.Timedelta(days=45)).strftime("%Y-%m-%d")
    lines.append(future + "," + lines[-1].split(",", 1)[1])
    return csv_args(write_lines(folder / "AAPL.csv", lines))


def single_row(folder: Path) -> list[str]:
    return csv_args(write_lines(folder / "AAPL.csv", text_of_classic(folder)[:2]))


def flat_prices(folder: Path) -> list[str]:
    """Every price and volume the same on every day: a frozen or placeholder series."""
    frame = base()
    for column in frame.columns:
        frame[column] = frame[column].iloc[0]
    return csv_args(classic(folder, frame))


def binary_params_file(folder: Path) -> list[str]:
    """`-f` given a binary file (or a profile saved in another encoding)."""
    profile = folder / "profile.yaml"
    profile.write_bytes(bytes(range(256)) * 8)
    return ["-f", str(profile)]


def short_window(folder: Path) -> list[str]:
    # the file is fine; the window holds its last 60 trading days
    return csv_args(classic(folder), start=f"{_base().index[-60]:%Y-%m-%d}")


def other_ticker_yfinance(folder: Path) -> list[str]:
    path = write_yfinance_multiheader(folder / "MSFT.csv", sample_frame(START, END, "MSFT"), ticker="MSFT")
    return csv_args(path, "-p", "ticker", "AAPL")


def other_ticker_symbol_column(folder: Path) -> list[str]:
    frame = pd.read_csv(classic(folder, sample_frame(START, END, "MSFT"), name="clean.csv"), dtype=str)
    frame.insert(1, "Symbol", "MSFT")
    path = folder / "prices.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    return csv_args(path, "-p", "ticker", "AAPL")


def path_ticker(folder: Path) -> list[str]:
    return ["-p", "ticker", "../../etc"]


def path_run_dir(folder: Path) -> list[str]:
    return ["--run-dir", "../../etc"]


# --------------------------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    build: Callable[[Path], list[str]]
    exit_code: int
    task: str | None = None  # the failing task (exit 1)
    error: str | None = None  # its exception class, in the last stderr line
    words: tuple[str, ...] = ()  # phrases the last stderr line must hold
    evidence: tuple[str, ...] = ()  # outputs of the failed task that are kept on purpose
    check: Callable[[Path], None] | None = None  # more checks of the run folder
    cost: int = 1  # notebooks it executes (longest first)


def quality(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "reports/quality.json").read_text(encoding="utf-8"))


def cleaned_csv(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "data/cleaned.csv", index_col=0, parse_dates=[0])


def check_quality_fail(name: str, more: tuple[str, ...] = ()):
    def check(run_dir: Path) -> None:
        q = quality(run_dir)  # saved before the check stops the run: it is the evidence
        assert q["status"] == "fail"
        failed = [c["check"] for c in q["checks"] if c["status"] == "fail"]
        assert name in failed and all(m in failed for m in more), failed

    return check


def check_nonpositive_dropped(run_dir: Path) -> None:
    q = quality(run_dir)
    assert q["rows_dropped_nonpositive"] == 3 and q["rows_in"] == ROWS and q["rows_out"] == ROWS - 3
    assert q["status"] != "fail"
    assert not cleaned_csv(run_dir).index.isin(pd.to_datetime(dates(rows(3, step=97)))).any()


def check_ohlc_repaired(run_dir: Path) -> None:
    q = quality(run_dir)
    repairs = q["ohlc_repairs"]
    assert repairs["rows"] == 3 and repairs["high_below_low"] == 3
    assert repairs["first_dates"] == dates(rows(3, step=101))
    assert q["rows_out"] == ROWS  # repaired, not dropped
    cleaned = cleaned_csv(run_dir)
    assert (cleaned["high"] >= cleaned[["open", "close", "low"]].max(axis=1)).all()
    assert (cleaned["low"] <= cleaned[["open", "close"]].min(axis=1)).all()


def check_duplicates(run_dir: Path) -> None:
    q = quality(run_dir)
    assert q["conflicting_duplicate_dates"] == dates(DUPLICATED)
    assert q["duplicates_dropped"] == 0 and q["rows_in"] == ROWS + 2 and q["rows_out"] == ROWS
    assert q["status"] == "warn"  # dates given twice with different values: a warning, not a failure
    warned = {c["check"]: c["status"] for c in q["checks"]}
    assert warned["dates given twice with different values"] == "warn"
    cleaned, adj = cleaned_csv(run_dir), _base()["adj_close"]
    for day in dates(DUPLICATED):  # the last row given wins (prices 1 % higher)
        assert cleaned.loc[day, "close"] == pytest.approx(round(adj[day] * 1.01, 6), rel=1e-9)
    assert cleaned.index.is_unique


def check_sorted(run_dir: Path) -> None:
    q = quality(run_dir)
    assert q["was_sorted"] is False and q["rows_out"] == ROWS and q["status"] == "pass"
    cleaned = cleaned_csv(run_dir)
    assert cleaned.index.is_monotonic_increasing and len(cleaned) == ROWS
    assert cleaned.index[0] == _base().index[0]


def check_adj_close_absent(run_dir: Path) -> None:
    q = quality(run_dir)
    assert q["adj_close_dropped"] == "the adj_close column was empty: treated as absent"
    assert q["adjustment"]["method"] == "detected splits" and q["rows_out"] == ROWS
    provenance = json.loads((run_dir / "data/provenance.json").read_text(encoding="utf-8"))
    assert provenance["rows"] == ROWS


def check_message_is_short(run_dir: Path) -> None:
    """A 1 MB cell is quoted cut, so the manifest and the run page stay small."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    error = manifest["tasks"]["data_ingestion"]["error"]
    assert "(1,000,000 characters)" in error and len(error) < 1_000, len(error)
    assert (run_dir / "manifest.json").stat().st_size < 100_000


CASES: dict[str, Case] = {
    # ---- ingestion refuses the file
    "empty_file": Case(empty_file, 1, "data_ingestion", "DataSourceError", ("is empty",)),
    "header_only": Case(header_only, 1, "data_ingestion", "DataSourceError", ("has a header but no data rows",)),
    "colon_delimiter": Case(
        colon_delimiter,
        1,
        "data_ingestion",
        "DataSourceError",
        ("has columns ['Date:Open:High:Low:Close:Adj Close:Volume']", "needs Date, Open, High, Low, Close, Volume"),
    ),
    "non_numeric_price": Case(
        non_numeric_price, 1, "data_ingestion", "DataSourceError", ("column close: value '12O.5' is not a number",)
    ),
    "close_inf": Case(
        hostile_cell(CLOSE, "inf"),
        1,
        "data_ingestion",
        "DataSourceError",
        (
            f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column close: value 'inf' "
            "is not a plausible close",
        ),
    ),
    "close_minus_inf": Case(
        hostile_cell(CLOSE, "-inf"),
        1,
        "data_ingestion",
        "DataSourceError",
        (
            f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column close: value '-inf' "
            "is not a plausible close",
        ),
    ),
    "close_1e308": Case(
        hostile_cell(CLOSE, "1e308"),
        1,
        "data_ingestion",
        "DataSourceError",
        (
            f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column close: value '1e308' "
            "is not a plausible close",
        ),
    ),
    "close_Infinity": Case(
        hostile_cell(CLOSE, "Infinity"),
        1,
        "data_ingestion",
        "DataSourceError",
        (
            f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column close: value 'Infinity' "
            "is not a plausible close",
        ),
    ),
    "missing_value_spellings": Case(missing_spellings, 0, check=check_missing_close, cost=2),
    "dollar_prices_and_thousands_separators": Case(dollar_prices, 0, check=check_dollar_prices, cost=2),
    "a_1_mb_numeric_field": Case(
        hostile_cell(CLOSE, "1" * 1_000_000),
        1,
        "data_ingestion",
        "DataSourceError",
        (
            f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column close: value '1111",
            "(1,000,000 characters)",
        ),
        check=check_message_is_short,
    ),
    "volume_word": Case(
        hostile_cell(VOLUME, "lots"),
        1,
        "data_ingestion",
        "DataSourceError",
        (f"data row {NUMERIC_ROW} (date {dates([NUMERIC_ROW - 1])[0]}), column volume: value 'lots' is not a number",),
    ),
    "dates_in_the_future": Case(
        future_dates, 1, "data_ingestion", "DataSourceError", ("1 row(s) are dated in the future",)
    ),
    "other_ticker_yfinance_header": Case(
        other_ticker_yfinance,
        1,
        "data_ingestion",
        "DataSourceError",
        ("holds prices of MSFT, not AAPL", "-p ticker MSFT"),
    ),
    "other_ticker_symbol_column": Case(
        other_ticker_symbol_column,
        1,
        "data_ingestion",
        "DataSourceError",
        ("holds prices of MSFT, not AAPL", "-p ticker MSFT"),
    ),
    # ---- cleaning repairs (documented) or refuses
    "nonpositive_prices_few": Case(nonpositive_prices(3), 0, check=check_nonpositive_dropped, cost=2),
    "nonpositive_prices_many": Case(
        nonpositive_prices(60),
        1,
        "data_cleaning",
        "DataQualityError",
        ("data quality check failed", "rows dropped (% of rows in) is 7.9576%", "over the limit 5%", "quality_*"),
        evidence=("reports/quality.json",),
        check=check_quality_fail("rows dropped (% of rows in)"),
        cost=2,
    ),
    "high_below_low_few": Case(high_below_low(3), 0, check=check_ohlc_repaired, cost=2),
    "high_below_low_many": Case(
        high_below_low(30),
        1,
        "data_cleaning",
        "DataQualityError",
        ("data quality check failed", "rows with OHLC repaired (% of rows in) is 3.9788%", "over the limit 2%"),
        evidence=("reports/quality.json",),
        check=check_quality_fail("rows with OHLC repaired (% of rows in)"),
        cost=2,
    ),
    "missing_trading_days": Case(
        missing_trading_days,
        1,
        "data_cleaning",
        "DataQualityError",
        ("data quality check failed", "trading days missing (% of expected) is", "over the limit 5%"),
        evidence=("reports/quality.json",),
        check=check_quality_fail("trading days missing (% of expected)"),
        cost=2,
    ),
    "large_move_with_fail_on_large_moves": Case(
        large_move,
        1,
        "data_cleaning",
        "DataQualityError",
        ("data quality check failed", "daily moves beyond 40 % after adjustment is 2, over the limit 0"),
        evidence=("reports/quality.json",),
        check=check_quality_fail("daily moves beyond 40 % after adjustment"),
        cost=2,
    ),
    "duplicated_dates_different_values": Case(conflicting_duplicates, 0, check=check_duplicates, cost=2),
    "unsorted_dates": Case(newest_first, 0, check=check_sorted, cost=2),
    "volume_all_empty": Case(
        volume_empty, 1, "data_cleaning", "DataQualityError", ("column volume has no values at all (754 rows)",), cost=2
    ),
    "adj_close_all_empty": Case(adj_close_empty, 0, check=check_adj_close_absent, cost=2),
    # ---- too little data for the later steps
    "single_row": Case(
        single_row, 1, "feature_engineering", "DataQualityError", ("only 1 cleaned rows", "widen the window"), cost=3
    ),
    "flat_prices": Case(
        flat_prices,
        1,
        "feature_engineering",
        "DataQualityError",
        ("no day of the 754 cleaned rows has every feature", "the close never changes", "frozen or placeholder"),
        cost=3,
    ),
    "window_too_short_to_train": Case(
        short_window,
        1,
        "model_training",
        "DataQualityError",
        ("labelled rows are too few", "widen the window (-p start / -p end)"),
        cost=4,
    ),
    # ---- refused before anything runs
    "ticker_is_a_path": Case(path_ticker, 2, words=("ticker '../../etc' is not a plausible stock symbol",), cost=0),
    "binary_params_file": Case(
        binary_params_file,
        2,
        words=("profile.yaml is not UTF-8 text (byte 0x80 at offset 128): pass a YAML profile",),
        cost=0,
    ),
    "run_dir_outside_outputs": Case(
        path_run_dir, 2, words=("--run-dir ../../etc is outside the outputs folder",), cost=0
    ),
}


def _params():
    return [pytest.param(name, id=name) for name in CASES]


# --------------------------------------------------------------------------------------------- running them
@dataclass
class Outcome:
    args: list[str]
    outputs: Path
    proc: subprocess.CompletedProcess | None = None
    error: BaseException | None = None
    seconds: float = 0.0


def _execute(name: str, folder: Path) -> Outcome:
    folder.mkdir(parents=True)
    outcome = Outcome(args=[], outputs=folder / "out")
    started = time.perf_counter()
    try:
        outcome.args = CASES[name].build(folder)
        outcome.proc = run_runner(*outcome.args, outputs=outcome.outputs, timeout=240)
    except BaseException as exc:  # reported by the case's own test
        outcome.error = exc
    outcome.seconds = time.perf_counter() - started
    return outcome


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Outcome]:
    """Run every selected case once, ``WORKERS`` at a time, the longest first."""
    selected = {
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and "case" in getattr(getattr(item, "callspec", None), "params", {})
    }
    folder = tmp_path_factory.mktemp("hostile")
    order = sorted(selected, key=lambda n: -CASES[n].cost)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(_execute, name, folder / name) for name in order}
        return {name: future.result() for name, future in futures.items()}


def the_run(outputs: Path) -> Path:
    runs = sorted((outputs / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def downstream_outputs(task: str) -> list[str]:
    """The outputs of every task after ``task``."""
    return [rel for t in TASKS[TASK_INDEX[task] + 1 :] for rel in t.outputs]


@pytest.mark.parametrize("case", _params())
def test_hostile_input(case: str, outcomes: dict[str, Outcome]) -> None:
    spec, outcome = CASES[case], outcomes[case]
    if outcome.error is not None:
        raise outcome.error
    proc = outcome.proc
    context = f"\nargs: {outcome.args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == spec.exit_code, context
    assert "Traceback" not in proc.stderr, context
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]

    if spec.exit_code == 2:  # refused: one line, nothing written
        assert len(lines) == 1 and lines[0].startswith("error: "), context
        assert all(w in lines[0] for w in spec.words), context
        written = list(outcome.outputs.rglob("*")) if outcome.outputs.exists() else []
        assert written == [], written
        return

    run_dir = the_run(outcome.outputs)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    if spec.exit_code == 0:  # repaired, and the repair recorded
        assert manifest["status"] == "success", context
        assert manifest["tasks"]["data_cleaning"]["status"] == "success"
        for rel in TASKS[TASK_INDEX["data_cleaning"]].outputs:
            assert (run_dir / rel).is_file(), rel
        assert not (run_dir / "data/features.csv").exists()  # --end-task data_cleaning
        spec.check(run_dir)
        return

    # failed: one clear line (the only one on stderr) naming the task, the notebook and the problem
    task = TASKS[TASK_INDEX[spec.task]]
    assert len(lines) == 1, context
    last = lines[-1]
    assert last.startswith(f"error: task {task.name} failed in notebooks/{task.notebook}, cell "), context
    assert f"{spec.error}: " in last, context
    for words in spec.words:
        assert words in last, f"{words!r} not in the last line:\n{last}"
    assert last.endswith(str(run_dir / "notebooks" / task.notebook)), last
    assert manifest["status"] == "failed"
    assert manifest["tasks"][task.name]["status"] == "failed"
    assert all(manifest["tasks"][t.name]["status"] == "success" for t in TASKS[: TASK_INDEX[task.name]])
    assert all(manifest["tasks"][t.name]["status"] == "pending" for t in TASKS[TASK_INDEX[task.name] + 1 :])
    assert (run_dir / "notebooks" / task.notebook).is_file()  # the executed notebook is kept as evidence
    # nothing the failed task would have written (except its evidence), and nothing downstream
    unexpected = [rel for rel in task.outputs if rel not in spec.evidence] + downstream_outputs(task.name)
    assert [rel for rel in unexpected if (run_dir / rel).exists()] == []
    for rel in spec.evidence:
        assert (run_dir / rel).is_file(), rel
    if task.name == "data_ingestion":
        assert not (run_dir / "data").exists() or not any((run_dir / "data").iterdir())
    if spec.check:
        spec.check(run_dir)


def test_run_dir_outside_outputs_writes_nothing_there(outcomes: dict[str, Outcome]) -> None:
    if "run_dir_outside_outputs" not in outcomes:
        pytest.skip("the run_dir_outside_outputs case is not selected")
    target = (ROOT / "../../etc").resolve()
    assert not (target / "manifest.json").exists()
    assert not (target / "notebooks" / "01_data_ingestion.ipynb").exists()


# --------------------------------------------------------------------------------------------- no runner
