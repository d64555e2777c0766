"""Step 2's quality report, judged: each figure of the report against its threshold (pass/warn/fail), the
gaps against the NYSE calendar, the report and its checks as tables, and the stop on a failed check.
:func:`aapl_lib.data.cleaning.clean_prices` fills the report.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from aapl_lib.data import trading_calendar
from aapl_lib.errors import DataQualityError
from aapl_lib.pipeline.parameters import default

DEFAULT_THRESHOLDS: dict[str, Any] = {
    name: default(name)
    for name in (
        "quality_max_missing_days_pct",
        "quality_max_dropped_rows_pct",
        "quality_max_repaired_rows_pct",
        "max_abs_daily_return",
        "quality_fail_on_large_moves",
    )
}


def quality_checks(q: dict[str, Any], t: dict[str, Any]) -> list[dict[str, Any]]:
    """Each quality figure against its threshold: ``pass``, ``warn`` or ``fail``."""
    rows_in = max(q["rows_in"], 1)
    dropped = (
        q["rows_dropped_missing"]
        + q["rows_dropped_nonpositive"]
        + len(q["conflicting_duplicate_dates"])
        + len(q.get("rows_dropped_non_trading", []))
    )
    expected = max(q["calendar"].get("expected_trading_days", 0), 1)

    def check(name: str, value: float, limit: float, over: str, unit: str = "") -> dict[str, Any]:
        return {
            "check": name,
            "value": round(float(value), 4),
            "limit": limit,
            "unit": unit,
            "status": over if value > limit else "pass",
        }

    large = "fail" if t["quality_fail_on_large_moves"] else "warn"
    return [
        check(
            "trading days missing (% of expected)",
            100 * q["calendar"].get("missing_days", 0) / expected,
            t["quality_max_missing_days_pct"],
            "fail",
            "%",
        ),
        check("rows dropped (% of rows in)", 100 * dropped / rows_in, t["quality_max_dropped_rows_pct"], "fail", "%"),
        check(
            "rows with OHLC repaired (% of rows in)",
            100 * q["ohlc_repairs"]["rows"] / rows_in,
            t["quality_max_repaired_rows_pct"],
            "fail",
            "%",
        ),
        check(
            f"daily moves beyond {100 * t['max_abs_daily_return']:.0f} % after adjustment",
            len(q["suspicious_moves"]),
            0,
            large,
        ),
        check("dates given twice with different values", len(q["conflicting_duplicate_dates"]), 0, "warn"),
        check("rows on non-trading days (dropped)", len(q.get("rows_dropped_non_trading", [])), 0, "warn"),
        check("zero-volume days", q["zero_volume_days"], 0, "warn"),
    ]


def enforce_quality(quality: dict[str, Any]) -> None:
    """Raise DataQualityError naming every failed check (after the report has been saved)."""
    failed = [c for c in quality.get("checks", []) if c["status"] == "fail"]
    if failed:
        text = "; ".join(
            f"{c['check']} is {c['value']:g}{c['unit']}, over the limit {c['limit']:g}{c['unit']}" for c in failed
        )
        raise DataQualityError(
            f"data quality check failed: {text}. See reports/quality.json; raise the "
            "quality_* thresholds with -p only if the data is known to be right"
        )


def checks_table(quality: dict[str, Any]) -> pd.DataFrame:
    """The threshold checks as a table (check, value, limit, status)."""
    return pd.DataFrame(quality.get("checks", []), columns=["check", "value", "limit", "unit", "status"]).set_index(
        "check"
    )


def calendar_report(index: pd.DatetimeIndex) -> dict[str, Any]:
    """Days missing against the NYSE calendar, and rows on days the exchange was closed."""
    if len(index) == 0:
        return {"expected_trading_days": 0, "missing_days": 0, "non_trading_rows": 0}
    expected = trading_calendar.trading_days(index.min(), index.max())
    missing = expected.difference(index)
    extra = index.difference(expected)
    return {
        "expected_trading_days": int(len(expected)),
        "missing_days": int(len(missing)),
        "missing_dates": [f"{d:%Y-%m-%d}" for d in missing[:20]],
        "non_trading_rows": int(len(extra)),
        "non_trading_dates": [f"{d:%Y-%m-%d}" for d in extra[:20]],
    }


def quality_table(quality: dict[str, Any]) -> pd.DataFrame:
    """The quality report as a two-column table for notebooks and reports."""
    adj = quality.get("adjustment", {})
    cal = quality.get("calendar", {})
    repairs = quality.get("ohlc_repairs", {})
    rows = [
        ("rows in", quality["rows_in"]),
        ("rows out", quality["rows_out"]),
        ("input sorted by date", "yes" if quality["was_sorted"] else "no (sorted)"),
        ("exact duplicate rows dropped", quality["duplicates_dropped"]),
        ("dates given twice with different values (last kept)", len(quality["conflicting_duplicate_dates"])),
        ("missing values (all columns)", sum(quality["missing_values"].values())),
        ("rows dropped for missing prices", quality["rows_dropped_missing"]),
        ("rows dropped for non-positive prices", quality["rows_dropped_nonpositive"]),
        ("rows with OHLC violations (repaired)", repairs.get("rows", 0)),
        ("zero-volume days", quality["zero_volume_days"]),
        ("trading days missing vs NYSE calendar", cal.get("missing_days", 0)),
        ("rows on non-trading days (dropped)", len(quality.get("rows_dropped_non_trading", []))),
        ("adjustment", adj.get("method", "none")),
        ("splits", ", ".join(f"{s['date']} x{s['ratio']:g}" for s in adj.get("splits", [])) or "none"),
        (
            "largest daily move",
            ", ".join(f"{m['date']} {100 * m['return']:+.1f}%" for m in quality["largest_moves"][:1]) or "n/a",
        ),
        ("moves beyond the flag threshold", len(quality["suspicious_moves"])),
        ("overall", quality.get("status", "n/a")),
    ]
    return pd.DataFrame(rows, columns=["check", "value"]).set_index("check")
