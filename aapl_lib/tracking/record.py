"""A ticker's live track record from its ledger: the published forecasts that have been scored, against the
zero-return and last-return baselines on the same days, with significance once there are enough days.

Which forecasts count: the one the report presented (``published_as`` set), one per day it is for — the first
recorded, so a rerun's second opinion cannot replace a miss. In-sample and pending rows are counted, never
scored. Significance (``MIN_DAYS``+ scored days): Diebold–Mariano on squared errors against each baseline
(one-sided, "the model is more accurate"), and the Pesaran–Timmermann test of the direction calls against the
chance level the up-day rate and the forecast's own up-call rate imply (one-sided, days with a zero return left
out; :func:`aapl_lib.modeling.significance.direction_test`, the same test as the held-out tables and the gate).
Never a coin: a constant "up" call in a rising market is right on most days with no skill, and has no timing to
test. These forecasts were published before their day closed, so no configuration tried on a held-out window
can spend this test. The drift alarm asks the opposite question of the recent
published forecasts: are they significantly *worse* than forecasting a zero return?"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MIN_DAYS = 20  # fewer scored days: the p-values are not computed (they would be noise)
DRIFT_WINDOW = 60  # the drift alarm looks at the last this-many scored published forecasts
DRIFT_ALPHA = 0.05


def first_published(ledger: pd.DataFrame) -> pd.DataFrame:
    """The forecast published first for each day (the one that counts, whatever reruns said later), in day
    order."""
    rows = ledger[ledger["published_as"] != ""]
    rows = rows.sort_values(["for_date", "recorded_at"], kind="stable").drop_duplicates("for_date", keep="first")
    return rows.reset_index(drop=True)


def published_scored(ledger: pd.DataFrame) -> pd.DataFrame:
    """The days whose first published forecast has been scored, in day order."""
    rows = first_published(ledger)
    return rows[rows["status"] == "scored"].reset_index(drop=True)


def _errors(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    realised = rows["realised_return"].to_numpy(float)
    return {
        "model": rows["error"].to_numpy(float),
        "zero_return": -realised,
        "last_return": rows["last_return_error"].to_numpy(float),
    }


def _accuracy(errors: np.ndarray) -> dict[str, float | None]:
    if not len(errors):
        return {"mae": None, "rmse": None}
    return {"mae": float(np.mean(np.abs(errors))), "rmse": float(np.sqrt(np.mean(errors**2)))}


def _direction(pred: np.ndarray, realised: np.ndarray) -> dict[str, Any]:
    """Hits of the direction calls and, from :data:`MIN_DAYS` days with a sign on, the Pesaran–Timmermann
    p-value against chance (None, with ``why``, for a forecast that never changes its call)."""
    mask = (realised != 0) & (pred != 0) & ~np.isnan(pred)
    n, hits = int(mask.sum()), int((np.sign(pred[mask]) == np.sign(realised[mask])).sum())
    out: dict[str, Any] = {"hits": hits, "n": n, "accuracy": hits / n if n else None}
    out.update(chance_level=None, p_value=None, why=f"{n} days with a sign; the test needs {MIN_DAYS}")
    if n >= MIN_DAYS:
        # lazy: `runner.py health` reads ledgers and should stay quick (scipy comes with significance)
        from aapl_lib.modeling.significance import direction_test

        test = direction_test(realised[mask], pred[mask])
        out.update(chance_level=test["chance_level"], p_value=test["p_value"], why=test["why"])
    return out


def track_record(ledger: pd.DataFrame, ticker: str) -> dict[str, Any]:
    """The track record of ``ticker``'s published forecasts (a JSON-ready dict; no timestamps of its own, so
    the same ledger gives the same bytes)."""
    published = first_published(ledger)
    rows = published[published["status"] == "scored"].reset_index(drop=True)
    realised = rows["realised_return"].to_numpy(float)
    errors = _errors(rows)
    preds = {
        "model": rows["predicted_return"].to_numpy(float),
        "last_return": rows["last_return"].to_numpy(float),
    }
    record: dict[str, Any] = {
        "ticker": ticker,
        "scored_days": int(len(rows)),
        "first_day": rows["for_date"].iloc[0] if len(rows) else None,
        "last_day": rows["for_date"].iloc[-1] if len(rows) else None,
        "published_pending": int((published["status"] == "pending").sum()),
        "published_in_sample": int((published["status"] == "in_sample").sum()),
        "revised_days": int(sum(bool(_bool(value)) for value in rows["revised"])),
        "min_days_for_tests": MIN_DAYS,
        "accuracy": {name: _accuracy(e) for name, e in errors.items()},
        "direction": {name: _direction(p, realised) for name, p in preds.items()},
        "mean_error": float(errors["model"].mean()) if len(rows) else None,
        "tests": None,
    }
    if len(rows) >= MIN_DAYS:
        from aapl_lib.modeling.significance import diebold_mariano  # lazy, as scipy above

        model = preds["model"]
        record["tests"] = {
            "dm_vs_zero_return_p": diebold_mariano(realised, model, np.zeros_like(realised))["p_value_a_better"],
            "dm_vs_last_return_p": diebold_mariano(realised, model, preds["last_return"])["p_value_a_better"],
            "direction_p": record["direction"]["model"]["p_value"],
            "direction_chance": record["direction"]["model"]["chance_level"],
            "direction_why": record["direction"]["model"]["why"],
        }
    record["by_role"] = {
        role: {
            "days": int((rows["published_as"] == role).sum()),
            "mae": _accuracy(errors["model"][(rows["published_as"] == role).to_numpy()])["mae"],
            "zero_return_mae": _accuracy(errors["zero_return"][(rows["published_as"] == role).to_numpy()])["mae"],
        }
        for role in ("champion", "challenger")
    }
    record["drift"] = drift(ledger)
    record["daily"] = [
        {
            "for_date": r.for_date,
            "published_as": r.published_as,
            "predicted_return": r.predicted_return,
            "realised_return": r.realised_return,
            "error": r.error,
            "last_return_error": r.last_return_error,
            "direction_right": None
            if r.direction_right is None or pd.isna(r.direction_right)
            else bool(r.direction_right),
            "revised": bool(r.revised) if r.revised is not None and not pd.isna(r.revised) else False,
            "run_id": r.run_id,
            "scored_by_run": r.scored_by_run,
        }
        for r in rows.itertuples(index=False)
    ]
    return _finite(record)


def drift(ledger: pd.DataFrame, window: int = DRIFT_WINDOW, alpha: float = DRIFT_ALPHA) -> dict[str, Any]:
    """The drift alarm: over the last ``window`` scored published forecasts (the champion's; the challenger's
    while a ticker has no champion, since that is what the report publishes), the one-sided Diebold–Mariano
    p-value of "the zero-return forecast is more accurate". Alarm when it is below ``alpha`` with at least
    :data:`MIN_DAYS` days."""
    rows = published_scored(ledger).tail(window)
    out: dict[str, Any] = {"days": int(len(rows)), "window": window, "alpha": alpha, "p_value": None, "alarm": False}
    if len(rows) < MIN_DAYS:
        out["why"] = f"{len(rows)} scored published forecasts; the test needs {MIN_DAYS}"
        return out
    from aapl_lib.modeling.significance import diebold_mariano  # lazy, as scipy above

    realised = rows["realised_return"].to_numpy(float)
    p = diebold_mariano(realised, np.zeros_like(realised), rows["predicted_return"].to_numpy(float))["p_value_a_better"]
    out.update(p_value=float(p), alarm=bool(p < alpha))
    out["why"] = (
        f"the last {len(rows)} published forecasts are significantly worse than a zero-return forecast "
        f"(Diebold-Mariano p = {p:.3g} < {alpha})"
        if out["alarm"]
        else f"no significant drift over the last {len(rows)} forecasts (p = {p:.3g})"
    )
    return out


def _bool(value: Any) -> bool | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)


def _finite(obj: Any) -> Any:
    """NaN becomes None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
