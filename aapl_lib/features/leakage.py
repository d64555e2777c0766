"""The leakage guard, run in every pipeline run: features that peek at tomorrow are worse than none.

Three checks:

* **truncation invariance** — features recomputed on the prices cut at day t equal the full computation for
  every row up to t (values, and whether a row has them at all), for cut days chosen by four rules (evenly
  spaced days, each of the last five days, the day before each of the largest moves — where a feature that
  knows a rare event gives itself away — and random days drawn with the run's ``random_seed``): a feature that
  uses future prices changes, or goes missing, when the future is cut. Values are compared relative to each
  feature's own scale, so a look-ahead of tiny magnitude cannot hide under an absolute tolerance;
* **no feature is the target or a future value** — no feature equals, or is near-perfectly correlated with,
  the target or the return 1..5 days ahead;
* **chronology** — the last training day is before the first test day with at least the target horizon
  between them, and the scaler's statistics are those of the training rows only.

The first two run in feature engineering (so a leak stops the pipeline before training); the third in
training, before the model is saved. Feature engineering also reports that the analysts' own functions ran
inside :mod:`aapl_lib.features.sandbox` (a function that reads files, the network or other processes is
stopped while it is computed, before any check). Each returns a JSON-ready report; :func:`enforce` raises
:class:`LeakageError` naming the feature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.errors import PipelineError
from aapl_lib.features.build import TARGET
from aapl_lib.features.cuts import ATOL_FRACTION, CUT_DEFAULTS, DEFAULT_SEED, RTOL, RULE_NAMES, cut_plan, feature_scale

FUTURE_LAGS = (1, 2, 3, 4, 5)
CORRELATION_LIMIT = 0.98


class LeakageError(PipelineError):
    """A feature or a split lets information from the future in."""


def build_and_guard(
    cleaned: pd.DataFrame, random_seed: int = DEFAULT_SEED, **feature_params: Any
) -> tuple[pd.DataFrame, list[str], list[dict[str, Any]]]:
    """What notebook 03 does: build the features (built-in and ``extra_features``) with
    :func:`~aapl_lib.features.build.build_features` and run both feature checks on that very builder, with
    random cut days drawn from ``random_seed``. Returns ``(frame, names, reports)``: truncation invariance,
    future values and what the sandbox confined; :func:`enforce` on the reports stops a leak."""
    from functools import partial

    from aapl_lib.features.build import build_features

    build = partial(build_features, **feature_params)
    frame, names = build(cleaned)
    reports = [
        truncation_invariance(cleaned, partial(build, complete_only=False), seed=random_seed),
        future_values(frame, names, cleaned),
        confinement(feature_params.get("extra_features") or (), feature_params.get("inputs") or {}),
    ]
    return frame, names, reports


def _close(expected: np.ndarray, got: np.ndarray, atol: np.ndarray) -> np.ndarray:
    """``np.isclose(expected, got, rtol=RTOL, atol=atol, equal_nan=True)`` with one ``atol`` per column, written
    out: numpy before 2.0 flattens non-finite inputs in isclose and cannot broadcast a per-column atol."""
    with np.errstate(invalid="ignore"):
        within = np.abs(expected - got) <= atol + RTOL * np.abs(got)
    return (expected == got) | within | (np.isnan(expected) & np.isnan(got))


def truncation_invariance(
    cleaned: pd.DataFrame,
    builder: Callable[[pd.DataFrame], tuple[pd.DataFrame, list[str]]],
    seed: int = DEFAULT_SEED,
    **cuts: int,
) -> dict[str, Any]:
    """Recompute the features on ``cleaned`` cut after each day of :func:`cut_plan` (``cuts`` override
    :data:`CUT_DEFAULTS`) and compare them with the full computation on every day up to the cut, each
    feature within :data:`RTOL` of the value plus :data:`ATOL_FRACTION` of its own full-sample std.

    ``builder(cleaned) -> (frame, names)`` should keep every row (``build_features(..., complete_only=False)``)
    so that a row a look-ahead feature loses on the cut prices is compared too; with a builder that drops
    incomplete rows, a row present in the full build up to the cut but missing from the cut build counts as a
    difference in every feature that is set there. Equal means equal values, or NaN in both."""
    full, names = builder(cleaned)
    plan = cut_plan(cleaned["close"], seed, **{**CUT_DEFAULTS, **cuts})
    values = full[names].to_numpy(dtype=float)  # plain arrays: pandas deep-copies attrs on every selection
    atol = ATOL_FRACTION * np.array([feature_scale(values[:, j]) for j in range(len(names))])
    first_diff: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for cut in plan:
        cut_day = cleaned.index[cut]
        part, _ = builder(cleaned.iloc[: cut + 1])
        part = pd.DataFrame(part, columns=names)  # without attrs; a column the cut build lacks is all NaN
        rows = int(np.searchsorted(full.index, cut_day, side="right"))
        expected = values[:rows]
        got = part.reindex(full.index[:rows]).to_numpy(dtype=float)
        differs = ~_close(expected, got, atol)
        appeared = part.index.difference(full.index[:rows])
        set_on_new_rows = part.loc[appeared].notna().any().to_numpy() if len(appeared) else np.zeros(len(names), bool)
        for j, name in enumerate(names):
            if differs[:, j].any():
                day = full.index[int(np.argmax(differs[:, j]))]
            elif set_on_new_rows[j]:
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
    rules = {f"{cleaned.index[c]:%Y-%m-%d}": rule for c, rule in plan.items()}
    return {
        "check": "truncation invariance",
        "cut_dates": list(rules),
        "cut_rules": rules,  # which rules chose each cut day (a day may be chosen by several)
        "cuts_per_rule": {rule: sum(rule in r for r in rules.values()) for rule in RULE_NAMES},
        "seed": int(seed),
        "tolerance": f"rtol {RTOL:g} + {ATOL_FRACTION:g} x the feature's full-sample std",
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
    sources = features.attrs.get("feature_sources", {})
    features = pd.DataFrame(features, copy=False)  # without attrs: pandas deep-copies them on every selection
    features.attrs = {}
    futures = {TARGET: features[TARGET]}
    futures.update({f"return {k} day(s) ahead": ret.shift(-k) for k in FUTURE_LAGS})
    offenders: dict[str, str] = {}
    for name in names:
        x = features[name]
        for label, future in futures.items():
            both = x.notna() & future.notna()
            if both.sum() < 10:
                continue
            xs, fs = x[both].to_numpy(dtype=float), future[both].to_numpy(dtype=float)
            origin = _origin(name, sources)
            if np.allclose(xs, fs, rtol=1e-9, atol=1e-12):
                offenders[name] = f"{origin}equals the {label}"
                break
            # correlation is scale-free, but a feature of magnitude 1e-160 would square to 0 in np.std and
            # skip the test: bring both to magnitude 1 first
            xs, fs = _unit(xs), _unit(fs)
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


def _unit(values: np.ndarray) -> np.ndarray:
    """``values`` divided by their largest magnitude (unchanged when all zero)."""
    peak = float(np.max(np.abs(values))) if len(values) else 0.0
    return values / peak if peak > 0 else values


def confinement(specs: Sequence[str], inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the sandbox did for the analysts' own functions (a refusal stops the build before any check, so
    a report that exists has passed), and the declared inputs they were given instead, cut with the prices."""
    return {
        "check": "own functions confined",
        "functions": list(specs),
        "inputs": sorted(inputs or {}),
        "refused": "reading files other than code and the installation's own, writing files, sockets and "
        "network requests, databases, processes, threads, foreign libraries",
        "passed": True,
        "offenders": {},
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
    """One line for reports: ``leakage guard: passed (what was checked)`` or which check failed."""
    if all(r["passed"] for r in reports):
        return "leakage guard: passed (" + "; ".join(_checked_what(r) for r in reports) + ")"
    failed = [r["check"] for r in reports if not r["passed"]]
    return "leakage guard: FAILED (" + ", ".join(failed) + ")"


def _checked_what(report: dict[str, Any]) -> str:
    """What one passed check looked at, in words."""
    check = report["check"]
    if check == "truncation invariance" and "cuts_per_rule" in report:
        counts = report["cuts_per_rule"]
        rules = ", ".join(f"{counts[rule]} {RULE_NAMES[rule]}" for rule in RULE_NAMES if counts.get(rule))
        seed = f" with seed {report['seed']}" if counts.get("random") else ""
        return (
            f"truncation invariance of {report['features_checked']} features at {len(report['cut_dates'])} cut "
            f"days: {rules}{seed}; values within {report['tolerance']}"
        )
    if check.startswith("no feature"):
        return (
            f"future-value check on {report['features_checked']} features: none equals or tracks "
            f"(|correlation| > {report['correlation_limit']}) the target or the return 1-5 days ahead"
        )
    if check == "own functions confined":
        n = len(report["functions"])
        if not n:
            return "no own feature functions to confine"
        given = report.get("inputs") or []
        inputs = f"; declared inputs {', '.join(given)} given as of each day, cut with the prices" if given else ""
        return (
            f"audit hook on for {n} own function{'s' if n > 1 else ''}: files, sockets, subprocesses refused" + inputs
        )
    return check + (f" on {report['features_checked']} features" if "features_checked" in report else "")
