"""The leakage guard, run in every pipeline run: features that peek at tomorrow are worse than none.

Three checks:

* **truncation invariance** — features recomputed on the prices cut at day t equal the full computation for
  every row up to t (values, and whether a row has them at all), for evenly spaced t and each of the last five
  days (a feature that uses future prices changes, or goes missing, when the future is cut);
* **no feature is the target or a future value** — no feature equals, or is near-perfectly correlated with,
  the target or the return 1..5 days ahead;
* **chronology** — the last training day is before the first test day with at least the target horizon
  between them, and the scaler's statistics are those of the training rows only.

The first two run in feature engineering (so a leak stops the pipeline before training); the third in
training, before the model is saved. Each returns a JSON-ready report; :func:`enforce` raises
:class:`LeakageError` naming the feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.errors import PipelineError
from aapl_lib.features.build import TARGET

FUTURE_LAGS = (1, 2, 3, 4, 5)
CORRELATION_LIMIT = 0.98


class LeakageError(PipelineError):
    """A feature or a split lets information from the future in."""


def build_and_guard(
    cleaned: pd.DataFrame, **feature_params: Any
) -> tuple[pd.DataFrame, list[str], list[dict[str, Any]]]:
    """What notebook 03 does: build the features (built-in and ``extra_features``) with
    :func:`~aapl_lib.features.build.build_features` and run both feature checks on that very builder.
    Returns ``(frame, names, reports)``; :func:`enforce` on the reports stops a leak."""
    from functools import partial

    from aapl_lib.features.build import build_features

    build = partial(build_features, **feature_params)
    frame, names = build(cleaned)
    reports = [
        truncation_invariance(cleaned, partial(build, complete_only=False)),
        future_values(frame, names, cleaned),
    ]
    return frame, names, reports


def cut_positions(n: int, samples: int = 8, last_days: int = 5, min_rows: int = 80) -> list[int]:
    """Row positions to cut the prices after: ``samples`` evenly spaced ones and each of the last
    ``last_days`` days (a look-ahead shows first where the future is shortest)."""
    if n <= min_rows:
        return []
    spaced = {int(x) for x in np.linspace(min_rows, n - 2, samples)}
    recent = {n - 1 - k for k in range(1, last_days + 1) if n - 1 - k >= min_rows}
    return sorted(spaced | recent)


def truncation_invariance(
    cleaned: pd.DataFrame,
    builder: Callable[[pd.DataFrame], tuple[pd.DataFrame, list[str]]],
    samples: int = 8,
    last_days: int = 5,
    min_rows: int = 80,
) -> dict[str, Any]:
    """Recompute the features on ``cleaned`` cut after each of :func:`cut_positions` and compare them with the
    full computation on every day up to the cut.

    ``builder(cleaned) -> (frame, names)`` should keep every row (``build_features(..., complete_only=False)``)
    so that a row a look-ahead feature loses on the cut prices is compared too; with a builder that drops
    incomplete rows, a row present in the full build up to the cut but missing from the cut build counts as a
    difference in every feature that is set there. Equal means equal values, or NaN in both."""
    full, names = builder(cleaned)
    cuts = cut_positions(len(cleaned), samples, last_days, min_rows)
    first_diff: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for cut in cuts:
        cut_day = cleaned.index[cut]
        part, _ = builder(cleaned.iloc[: cut + 1])
        expected = full.loc[full.index <= cut_day]
        got = part.reindex(expected.index)
        appeared = part.index.difference(expected.index)
        for name in names:
            a = expected[name].to_numpy(dtype=float)
            b = got[name].to_numpy(dtype=float) if name in got else np.full(len(a), np.nan)
            same = np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
            if not same.all():
                day = expected.index[~same][0]
            elif len(appeared) and name in part and part.loc[appeared, name].notna().any():
                day = appeared[0]
            else:
                continue
            if name not in first_diff or day < first_diff[name][0]:
                first_diff[name] = (day, cut_day)
    sources = full.attrs.get("feature_sources", {})
    offenders = {
        name: _origin(name, sources) + f"differs on {day:%Y-%m-%d} when prices after {cut_day:%Y-%m-%d} are removed"
        for name, (day, cut_day) in sorted(first_diff.items(), key=lambda kv: (kv[1][0], kv[0]))
    }
    return {
        "check": "truncation invariance",
        "cut_dates": [f"{cleaned.index[c]:%Y-%m-%d}" for c in cuts],
        "features_checked": len(names),
        "passed": not offenders,
        "offenders": offenders,
        "first_differences": {name: f"{day:%Y-%m-%d}" for name, (day, _) in first_diff.items()},
    }


def _origin(name: str, sources: dict[str, str]) -> str:
    """``(from my_features:momentum) `` for an analyst's feature, nothing for a built-in one."""
    source = sources.get(name, "built-in")
    return "" if source == "built-in" else f"(from {source}) "


def future_values(features: pd.DataFrame, names: list[str], cleaned: pd.DataFrame) -> dict[str, Any]:
    """No feature equals or near-perfectly tracks the target or the close-to-close return 1..5 days ahead."""
    ret = cleaned["close"].pct_change().reindex(features.index)
    futures = {TARGET: features[TARGET]}
    futures.update({f"return {k} day(s) ahead": ret.shift(-k) for k in FUTURE_LAGS})
    offenders: dict[str, str] = {}
    for name in names:
        x = features[name]
        for label, future in futures.items():
            both = x.notna() & future.notna()
            if both.sum() < 10:
                continue
            xs, fs = x[both].to_numpy(), future[both].to_numpy()
            origin = _origin(name, features.attrs.get("feature_sources", {}))
            if np.allclose(xs, fs, rtol=1e-9, atol=1e-12):
                offenders[name] = f"{origin}equals the {label}"
                break
            if np.std(xs) > 0 and np.std(fs) > 0:
                corr = float(np.corrcoef(xs, fs)[0, 1])
                if abs(corr) > CORRELATION_LIMIT:
                    offenders[name] = f"{origin}tracks the {label} (correlation {corr:+.3f})"
                    break
    return {
        "check": "no feature is the target or a future value",
        "compared_with": list(futures),
        "correlation_limit": CORRELATION_LIMIT,
        "features_checked": len(names),
        "passed": not offenders,
        "offenders": offenders,
    }


def chronology(
    train_index: pd.DatetimeIndex,
    test_index: pd.DatetimeIndex,
    all_index: pd.DatetimeIndex,
    horizon: int,
    scaler_mean: np.ndarray,
    train_mean: np.ndarray,
) -> dict[str, Any]:
    """The split is in time order with a gap of at least ``horizon`` rows, and the scaler saw training rows
    only (its means are the training means)."""
    last_train, first_test = train_index.max(), test_index.min()
    gap = int(all_index.get_loc(first_test) - all_index.get_loc(last_train) - 1)
    problems = {}
    if not last_train < first_test:
        problems["split"] = (
            f"last training day {last_train:%Y-%m-%d} is not before first test day {first_test:%Y-%m-%d}"
        )
    elif gap < horizon:
        problems["split"] = f"only {gap} row(s) between training and test; the target horizon needs {horizon}"
    if not np.allclose(scaler_mean, train_mean, rtol=1e-9, atol=1e-12):
        problems["scaler"] = "the scaler's means differ from the training rows' means: it saw other rows"
    return {
        "check": "train/test chronology",
        "last_train_day": f"{last_train:%Y-%m-%d}",
        "first_test_day": f"{first_test:%Y-%m-%d}",
        "gap_rows": gap,
        "horizon": horizon,
        "scaler_fitted_on_training_rows_only": "scaler" not in problems,
        "passed": not problems,
        "offenders": problems,
    }


def enforce(*reports: dict[str, Any]) -> None:
    """Raise LeakageError naming the first offending feature (or split problem)."""
    for report in reports:
        if not report["passed"]:
            name, why = next(iter(report["offenders"].items()))
            if report["check"] == "train/test chronology":
                raise LeakageError(
                    f"leakage guard (train/test chronology) failed: {name}: {why}; fix the split "
                    "or fit preprocessing on the training rows only"
                )
            others = [n for n in report["offenders"] if n != name]
            also = f" (also: {', '.join(others)})" if others else ""
            raise LeakageError(
                f"leakage guard ({report['check']}) failed: {name} {why}{also}; remove or fix that "
                "feature — it uses information from after the day it describes"
            )


def summary(reports: list[dict[str, Any]]) -> str:
    """One line for reports: ``leakage guard: passed (...)`` or which check failed."""
    if all(r["passed"] for r in reports):
        return (
            "leakage guard: passed ("
            + "; ".join(
                f"{r['check']}" + (f" on {r['features_checked']} features" if "features_checked" in r else "")
                for r in reports
            )
            + ")"
        )
    failed = [r["check"] for r in reports if not r["passed"]]
    return "leakage guard: FAILED (" + ", ".join(failed) + ")"
