"""Numbers as people read them, the same in notebooks, ``analysis.md``, ``summary.pdf`` and the browser:
percentages with their unit, p-values to three places, ``n/a`` where there is no value (never ``None``/NaN);
and a value quoted from a file, cut to a length a message can carry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas only for the tables: the run browser formats numbers without it
    import pandas as pd


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def clipped(value: Any, limit: int = 60) -> str:
    """``str(value)``, or its first ``limit`` characters and how long it is: a 1 MB cell quoted in an error
    message would make a 1 MB message in the log, the manifest and the run page."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def quoted(value: Any, limit: int = 60) -> str:
    """``repr(value)`` as :func:`clipped` cuts it: ``'12O.5'``, ``'1111…' (1,000,000 characters)``."""
    text = str(value)
    return repr(value) if len(text) <= limit else f"{text[:limit]!r}… ({len(text):,} characters)"


def pct(x: float | None, digits: int = 2, missing: str = "n/a") -> str:
    """``0.0123 -> "1.23 %"``; ``missing`` (``n/a``) for a missing value."""
    return missing if _missing(x) else f"{100 * x:.{digits}f} %"


def general(x: Any, missing: str = "-") -> str:
    """A value in a table of mixed things: floats to six significant digits, the rest as text."""
    if x is None:
        return missing
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def fixed(x: Any, digits: int = 3, percent: bool = False, missing: str = "-") -> str:
    """Floats to ``digits`` places (as a percentage with ``percent``), the rest as text."""
    if x is None:
        return missing
    if isinstance(x, float):
        return pct(x, digits) if percent else f"{x:.{digits}f}"
    return str(x)


def points(x: float | None, digits: int = 1) -> str:
    """A difference of two shares in percentage points, signed: ``0.012 -> "+1.2 pp"``."""
    return "n/a" if _missing(x) else f"{100 * x:+.{digits}f} pp"


def pvalue(x: float | None) -> str:
    """A p-value to three places (``< 0.001`` below that); ``n/a`` when no test applies."""
    if _missing(x):
        return "n/a"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def signed(x: float | None, digits: int = 4) -> str:
    """``+0.0123``; ``n/a`` for a missing value."""
    return "n/a" if _missing(x) else f"{x:+.{digits}f}"


METRIC_COLUMNS = [
    "predictor",
    "MAE",
    "RMSE",
    "R² OOS",
    "direction right",
    "chance",
    "vs always_up",
    "DM p vs zero",
    "DM p vs best",
    "direction p",
    "days",
]


def metrics_rows(metrics: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Header plus one row per predictor, lowest RMSE first: errors, out-of-sample R², directional accuracy
    with its chance level and its edge over ``always_up``, and the p-values."""
    rows = [list(METRIC_COLUMNS)]
    for name, m in sorted(metrics.items(), key=lambda kv: kv[1]["rmse"]):
        rows.append(
            [
                name,
                pct(m["mae"], 3),
                pct(m["rmse"], 3),
                signed(m["r2"]),
                pct(m["directional_accuracy"], 1),
                pct(m.get("direction_chance"), 1),
                points(m.get("direction_edge_vs_always_up")),
                pvalue(m.get("dm_vs_zero_return_p")),
                pvalue(m.get("dm_vs_best_baseline_p")),
                pvalue(m.get("direction_p")),
                str(m["n"]),
            ]
        )
    return rows


METRICS_NOTE = (
    "R² OOS: out-of-sample R² against the training period's mean return (negative: worse than "
    "forecasting that mean every day). Direction right: share of days whose sign the forecast called "
    "right; chance: what a forecast with the same share of up calls scores by luck, given the share of "
    "up days; vs always_up: percentage points above the always_up baseline on the same days. "
    "p-values, one-sided: Diebold-Mariano for a lower squared error than the zero return / the best "
    "naive baseline; Pesaran-Timmermann for direction calls better than chance (n/a for a forecast "
    "that never changes its call)."
)


def metrics_frame(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """:func:`metrics_rows` as a DataFrame indexed by predictor (for notebooks)."""
    import pandas as pd

    rows = metrics_rows(metrics)
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index("predictor")


def metrics_line(m: dict[str, Any]) -> str:
    """One predictor's metrics in a line: ``RMSE 1.234 %, MAE 0.987 %, R² +0.0123, direction right 52.1 %``."""
    return (
        f"RMSE {pct(m['rmse'], 3)}, MAE {pct(m['mae'], 3)}, R² {signed(m['r2'])}, direction right "
        f"{pct(m.get('directional_accuracy'), 1)} ({m['n']} days)"
    )


def backtest_rows(summary: dict[str, Any]) -> list[list[str]]:
    """Header plus one row per strategy, formatted to read."""
    rows = [
        [
            "strategy",
            "cumulative return",
            "Sharpe (annualised)",
            "Sharpe 95 % interval",
            "max drawdown",
            "turnover / day",
            "days long",
        ]
    ]
    for name in ("buy_and_hold", "long_flat", "long_short"):
        b = summary[name]
        ci = b.get("sharpe_ci95")
        rows.append(
            [
                name,
                pct(b["cumulative_return"], 1),
                "n/a"
                if b["sharpe_annualised"] is None
                else f"{b['sharpe_annualised']:.2f}"
                + ("" if b.get("sharpe_se") is None else f" ± {b['sharpe_se']:.2f}"),
                "n/a" if not ci else f"{ci[0]:.2f} .. {ci[1]:.2f}",
                pct(b["max_drawdown"], 1),
                f"{b['turnover_per_day']:.3f}",
                pct(b["days_long"], 0),
            ]
        )
    return rows
