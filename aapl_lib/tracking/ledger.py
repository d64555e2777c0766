"""The forecast ledger, ``outputs/ledger/<TICKER>.csv``: one row per forecast a run made (the day it was made
from, the day it is for, the predicted return and close, the model's sha256, champion or challenger, the run),
and, once a later run's prices hold that day's close, its score (``aapl_lib.tracking.scoring``).

The file is rewritten whole, under a lock, by an atomic rename: a reader never sees half a row, two runs
never interleave, a killed run leaves the previous ledger. A forecast already in the ledger (same day made
from, same day for, same model, same role) is not appended again, so a rerun that reuses everything adds
nothing."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd

from aapl_lib.errors import CorruptStateError
from aapl_lib.io.iorw import atomic_write_text
from aapl_lib.store.reuse_cache import copy_artifact

# Columns in file order. The first block is written when the forecast is made and never changed; the second
# is filled once, when the forecast is scored.
FORECAST_COLUMNS = [
    "ticker",
    "forecast_date",  # the last price row the forecast was made from
    "for_date",  # the trading day it is for
    "predicted_return",
    "last_close",  # the close of forecast_date the forecast was made with (kept: prices can be revised later)
    "implied_close",  # last_close * (1 + predicted_return)
    "last_return",  # forecast_date's own return: what the last-return baseline predicts
    "model_role",  # champion (the registry's) or challenger (this run's model)
    "published_as",  # champion / challenger when it is the forecast the report presents, else empty
    "model_sha256",
    "model_trained_to",  # the model's last training day: on or after for_date the forecast is in-sample
    "model_fit",  # refit (the method refit on every labelled row) or evaluated (the held-out-judged model)
    "run_id",
    "recorded_at",
]
SCORE_COLUMNS = [
    "status",  # pending, scored, in_sample (never scored: the model had seen the day)
    "scored_by_run",
    "close_used",  # the close of for_date the score was computed with
    "base_close_used",  # the close of forecast_date in the scoring run's prices
    "realised_return",
    "error",  # predicted_return - realised_return
    "direction_right",
    "last_return_error",  # last_return - realised_return (the last-return baseline's error)
    "revised",  # the scoring run's close of forecast_date differs from last_close
    "note",
]
COLUMNS = FORECAST_COLUMNS + SCORE_COLUMNS
ADDED_LATER = ["model_fit"]  # columns a ledger from before them lacks (filled with "" when read)
KEY = ["forecast_date", "for_date", "model_role", "model_sha256"]
FLAGS = ["direction_right", "revised"]  # True / False / unknown (empty)
TEXT = [
    "ticker",
    "forecast_date",
    "for_date",
    "model_role",
    "published_as",
    "model_sha256",
    "model_trained_to",
    "model_fit",
    "run_id",
    "recorded_at",
    "status",
    "scored_by_run",
    "note",
]


def empty() -> pd.DataFrame:
    """A ledger with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object" if c in TEXT + FLAGS else "float64") for c in COLUMNS})


def read_ledger(path: Path) -> pd.DataFrame:
    """The ledger at ``path`` (empty when there is none); a damaged file is a CorruptStateError naming it."""
    path = Path(path)
    if not path.is_file():
        return empty()
    try:
        frame = pd.read_csv(
            path, dtype={c: "string" for c in TEXT}, keep_default_na=False, na_values={}, float_precision="round_trip"
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise CorruptStateError(_damaged(path, str(exc))) from exc
    for column in ADDED_LATER:  # a ledger written before the column existed: empty, not damaged
        if column not in frame.columns:
            frame[column] = ""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CorruptStateError(_damaged(path, f"it lacks the columns {missing}"))
    for column in COLUMNS:
        if column in TEXT:
            frame[column] = frame[column].astype(object)
        elif column in FLAGS:
            frame[column] = frame[column].map(_flag)
        else:
            try:
                frame[column] = pd.to_numeric(frame[column].replace("", None), errors="raise").astype(float)
            except (ValueError, TypeError) as exc:
                raise CorruptStateError(_damaged(path, f"column {column}: {exc}")) from exc
    problem = _first_bad_row(frame)
    if problem:
        raise CorruptStateError(_damaged(path, problem))
    return frame[COLUMNS]


STATUSES = ("pending", "scored", "in_sample")
REQUIRED = ["ticker", "forecast_date", "for_date", "model_role", "run_id", "predicted_return", "last_close"]


def _first_bad_row(frame: pd.DataFrame) -> str | None:
    """The first row that no run could have written (a hand edit, a cut line), named by its line in the file."""
    for position, row in enumerate(frame.itertuples(index=False)):
        line = position + 2  # the header is line 1
        record = row._asdict()
        empty = [c for c in REQUIRED if record[c] in ("", None) or record[c] != record[c]]
        if empty:
            return f"line {line} has no {', '.join(empty)}"
        if record["status"] not in STATUSES:
            return f"line {line} has the status {record['status']!r} (one of {', '.join(STATUSES)} expected)"
        for column in ("forecast_date", "for_date"):
            if not _is_date(record[column]):
                return f"line {line} has the {column} {record[column]!r} (YYYY-MM-DD expected)"
        if record["status"] == "scored" and record["realised_return"] != record["realised_return"]:
            return f"line {line} is scored but has no realised_return"
    return None


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return len(text) == 10


def _damaged(path: Path, why: str) -> str:
    return (
        f"the forecast ledger {path} is damaged ({why}): restore it from {previous_copy(path).name} next to it "
        "(the ledger before its last write) or from a backup"
    )


def _flag(value: Any) -> Any:
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def ledger_text(frame: pd.DataFrame) -> str:
    """The ledger as CSV text (floats round-trip exactly; empty cells for values not known yet)."""
    buffer = io.StringIO()
    frame[COLUMNS].to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def forecast_rows(
    forecast: dict[str, Any],
    *,
    ticker: str,
    run_id: str,
    cleaned: pd.DataFrame,
    published: tuple[str, str] | None,
    models: dict[str, dict[str, Any]],
    recorded_at: str,
) -> list[dict[str, Any]]:
    """The ledger rows of a run's ``reports/forecast.json``: one per model that made a forecast.

    ``published`` is ``(role, label)``: the forecast the report presents (role ``challenger`` or
    ``champion``) and what it is presented as; ``models[role]`` gives ``sha256``, ``trained_to`` and ``fit``
    (``refit`` or ``evaluated``: which fit of the model made the forecast)."""
    close = cleaned["close"]
    rows = []
    for role in ("challenger", "champion"):
        made = forecast.get(role)
        if not made or not made.get("available"):
            continue
        day = pd.Timestamp(made["last_price_date"])
        position = close.index.get_loc(day)
        last_close = float(close.iloc[position])
        last_return = float(last_close / close.iloc[position - 1] - 1) if position > 0 else float("nan")
        model = models.get(role) or {}
        trained_to = model.get("trained_to") or ""
        in_sample = bool(trained_to) and trained_to >= made["for_date"]
        rows.append(
            {
                "ticker": ticker,
                "forecast_date": made["last_price_date"],
                "for_date": made["for_date"],
                "predicted_return": float(made["predicted_return"]),
                "last_close": last_close,
                "implied_close": last_close * (1 + float(made["predicted_return"])),
                "last_return": last_return,
                "model_role": role,
                "published_as": published[1] if published and published[0] == role else "",
                "model_sha256": model.get("sha256") or "",
                "model_trained_to": trained_to,
                "model_fit": model.get("fit") or "",
                "run_id": run_id,
                "recorded_at": recorded_at,
                "status": "in_sample" if in_sample else "pending",
                "note": (
                    f"never scored: the model was trained on prices up to {trained_to}, which include "
                    f"{made['for_date']}"
                    if in_sample
                    else ""
                ),
            }
        )
    return rows


def append_new(ledger: pd.DataFrame, rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """``ledger`` with the ``rows`` it does not hold yet (by :data:`KEY`); returns it, the rows appended and
    the rows skipped because an earlier run already recorded them."""
    have = {tuple(str(v) for v in key) for key in ledger[KEY].itertuples(index=False)}
    fresh, skipped = [], []
    for row in rows:
        key = tuple(str(row[k]) for k in KEY)
        (skipped if key in have else fresh).append(row)
        have.add(key)
    if not fresh:
        return ledger, [], skipped
    added = pd.DataFrame(fresh).reindex(columns=COLUMNS)
    for column in COLUMNS:
        if column in TEXT:
            added[column] = added[column].fillna("").astype(object)
        elif column in FLAGS:
            added[column] = added[column].astype(object).where(added[column].notna(), None)
    frames = [f for f in (ledger, added) if len(f)]
    return pd.concat(frames, ignore_index=True)[COLUMNS], fresh, skipped


def previous_copy(path: Path) -> Path:
    """``<TICKER>.csv.prev``: the ledger as it was before its last write (what to restore a damaged one from)."""
    return Path(path).with_name(Path(path).name + ".prev")


def write_ledger(path: Path, frame: pd.DataFrame) -> Path:
    """Write the whole ledger atomically (aside, flushed, renamed over the old one), keeping the old one as
    :func:`previous_copy`: a ledger damaged by hand can be restored without losing every score."""
    path = Path(path)
    if path.is_file():
        copy_artifact(path, previous_copy(path))
    return atomic_write_text(path, ledger_text(frame))


def as_before(ledger: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The ledger as run ``run_id`` found it (for ``reproduce``): the rows earlier runs appended, with the scores
    that ``run_id`` and later runs gave taken back to pending. Run ids sort by their start time; rows are only
    ever appended and scored once, so this is exact for runs in ``outputs/runs``."""
    earlier = ledger[ledger["run_id"].astype(str) < run_id].copy()
    later_score = (earlier["status"] == "scored") & ~(earlier["scored_by_run"].astype(str) < run_id)
    for column in SCORE_COLUMNS:
        earlier.loc[later_score, column] = (
            "pending" if column == "status" else ("" if column in TEXT else None if column in FLAGS else float("nan"))
        )
    return earlier.reset_index(drop=True)
