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

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from aapl_lib.data import cleaning, sources
from aapl_lib.errors import DataSourceError
from helpers import sample_frame, write_classic_yahoo

START, END = "2010-01-01", "2012-12-31"
ROWS = 754  # AAPL trading days in START..END in the sample


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


def rows(count: int, step: int = 7, first: int = 40) -> list[int]:
    """``count`` row positions spread over the file (never the first rows, never adjacent)."""
    positions = list(range(first, ROWS, step))[:count]
    assert len(positions) == count
    return positions


def colon_delimiter(folder: Path) -> list[str]:
    return csv_args(write_lines(folder / "AAPL.csv", [ln.replace(",", ":") for ln in text_of_classic(folder)]))


CLOSE, VOLUME = 4, 6  # columns of the classic layout: Date,Open,High,Low,Close,Adj Close,Volume


# --------------------------------------------------------------------------------------------- running them


# --------------------------------------------------------------------------------------------- no runner


def test_zero_or_negative_adj_close_rows_are_dropped_like_other_prices() -> None:
    raw = base()
    positions = rows(3, step=97)
    raw.iloc[positions, raw.columns.get_loc("adj_close")] = [0.0, -1.0, 0.0]

    cleaned, q = cleaning.clean_prices(raw)

    assert q["rows_dropped_nonpositive"] == 3 and len(cleaned) == ROWS - 3
    assert not cleaned.index.isin(raw.index[positions]).any()
    assert (cleaned[["open", "high", "low", "close"]] > 0).all(axis=None)
    assert q["status"] != "fail"


def test_wrong_delimiter_message_points_at_the_delimiter(tmp_path: Path) -> None:
    colon_delimiter(tmp_path)

    with pytest.raises(DataSourceError) as info:
        sources.read_price_csv(tmp_path / "AAPL.csv", "AAPL")

    message = str(info.value)
    assert "looks like ','" not in message
    assert "delimiter" in message and all(d in message for d in (",", ";", "tab", "|"))
