"""A run's findings as sentences and facts, shared by every place that presents them (analysis.md and
summary.pdf, the run browser, the track-record page and ``track``): the figures and their captions, the run's key
facts, the forecast shown after the gate and its sentences, the leakage guard's verdict, the track record."""

from __future__ import annotations

from aapl_lib.formatting import pct
from aapl_lib.pipeline.tasks import PREDICTED_PLOT, RESIDUALS_PLOT, RETURNS_PLOT


def figures(cost_bps: float) -> list[tuple[str, str]]:
    """The report's figures and their captions (the backtest caption states the cost it was drawn with)."""
    return [
        (PREDICTED_PLOT, "Predicted vs actual next-day return (held-out period)"),
        (RESIDUALS_PLOT, "Residuals (held-out period)"),
        (
            RETURNS_PLOT,
            f"Trade-on-sign vs buy-and-hold (held-out period, {cost_bps:g} bps per unit of position change)",
        ),
    ]


PROMOTED = ("promoted", "approved", "unchanged")


def chosen_forecast(forecast: dict, decision: dict | None, proposal: dict | None) -> tuple[dict, str]:
    """The forecast the report presents and its label: the champion's after the gate (this run's challenger
    when it was promoted, approved or already the champion; else the registry's champion), or — when there is
    no champion — the challenger's, labelled as not promoted."""
    outcome = (decision or {}).get("decision")
    if outcome in PROMOTED:
        return forecast["challenger"], f"champion (this run's challenger, {outcome})"
    if forecast.get("champion"):
        why = {"kept": "kept by the gate", "rejected": "rejected"}.get(outcome, "awaiting a decision")
        return forecast["champion"], f"champion (from the registry; this run's challenger: {why})"
    why = {"kept": "not promoted: kept out by the gate", "rejected": "rejected by a reviewer"}.get(
        outcome,
        "not promoted: awaiting a decision"
        if (proposal or {}).get("proposal") == "awaiting_approval"
        else "not promoted: no gate decision",
    )
    return forecast["challenger"], f"challenger ({why}; there is no champion)"


def forecast_sentences(forecast: dict, decision: dict | None, proposal: dict | None) -> list[str]:
    """The forecast section's text: whose forecast, for which day, from prices up to which day, the caveat, then
    (a third paragraph) which model made it and what the held-out numbers describe instead."""
    chosen, label = chosen_forecast(forecast, decision, proposal)
    if not chosen["available"]:
        return [f"No forecast for {chosen['for_date']} ({label}): {chosen['reason']}."]
    band = chosen["band_1rmse"]
    return [
        f"Forecast for {chosen['for_date']}, the trading day after the last price row "
        f"({chosen['last_price_date']}), by the {label}: next-day return {pct(chosen['predicted_return'], 3)} "
        f"({chosen['direction']}); one held-out RMSE either side: {pct(band[0], 2)} .. {pct(band[1], 2)}.",
        f"Caveat. {chosen['caveat']} Past relationships between these indicators and returns need not hold "
        "tomorrow; this is not investment advice.",
        *_published_by(chosen),
    ]


def _published_by(chosen: dict) -> list[str]:
    """Which model made the forecast (its fit, sha256 prefix, last training day) and what the held-out numbers
    describe instead; nothing for a forecast from before refits were recorded."""
    by = chosen.get("published_by")
    if not by:
        return []
    note = f" ({by['note']})" if by.get("note") else ""
    return [
        f"Made by the {by['fit']} model, sha256 {str(by['sha256'])[:12]}, trained to {by['trained_to']}{note}. "
        f"{chosen.get('scope', '')}".rstrip()
    ]


def run_facts(run_id: str, provenance: dict, model_meta: dict, quality: dict) -> list[tuple[str, str]]:
    """Key facts of the run, in reading order."""
    split = model_meta["split"]
    return [
        ("run", run_id),
        ("ticker", provenance["ticker"]),
        ("source", provenance["source"]),
        (
            "data window",
            f"{provenance['window']['first']} .. {provenance['window']['last']} "
            f"({provenance['rows']} rows, raw sha256 {provenance['sha256'][:12]})",
        ),
        ("retrieved at", provenance["retrieved_at"]),
        (
            "cleaning",
            f"{quality['rows_in']} rows in, {quality['rows_out']} out; adjustment: {quality['adjustment']['method']}",
        ),
        (
            "challenger",
            f"StandardScaler + {model_meta['estimator']} on {len(model_meta['features'])} features "
            f"(seed {model_meta['random_seed']}), sha256 {model_meta['sha256'][:12]}",
        ),
        *_own_features(model_meta),
        (
            "training",
            f"{split['train_window']['first']} .. {split['train_window']['last']} ({split['train_rows']} days)",
        ),
        (
            "test (held out)",
            f"{split['test_window']['first']} .. {split['test_window']['last']} ({split['test_rows']} days)",
        ),
    ]


def _own_features(model_meta: dict) -> list[tuple[str, str]]:
    """A run-facts row naming the analysts' own features and the functions that made them (none: no row)."""
    by_spec: dict[str, list[str]] = {}
    for name, source in (model_meta.get("feature_sources") or {}).items():
        if source != "built-in":
            by_spec.setdefault(source, []).append(name)
    if not by_spec:
        return []
    return [("own features", "; ".join(f"{', '.join(names)} (from {spec})" for spec, names in by_spec.items()))]


def leakage_lines(leakage: dict, model_meta: dict) -> list[str]:
    """The leakage guard's verdict and what it checked, as sentences."""
    checks = list(leakage.get("checks", []))
    if model_meta.get("leakage_guard"):
        checks.append(model_meta["leakage_guard"])
    passed = all(c["passed"] for c in checks)
    lines = [f"leakage guard: {'passed' if passed else 'FAILED'}"]
    for c in checks:
        if c["check"] == "truncation invariance":
            what = (
                f"{c['features_checked']} features recomputed on prices cut after {', '.join(c['cut_dates'])} "
                "equal the full computation on every day up to the cut (values, and present on the same days)"
            )
            if "cuts_per_rule" in c:  # guards since issue 23 say how the cut days were chosen
                rules = ", ".join(f"{n} {rule}" for rule, n in c["cuts_per_rule"].items() if n)
                what += f"; cut days: {rules} (seed {c['seed']}); values within {c['tolerance']}"
        elif c["check"] == "own functions confined":
            functions = ", ".join(c["functions"]) or "none"
            what = f"own feature functions ({functions}) ran in a sandbox that refused {c['refused']}"
        elif c["check"].startswith("no feature"):
            what = (
                f"none of {c['features_checked']} features equals or tracks (|correlation| > "
                f"{c['correlation_limit']}) the target or the return 1-5 days ahead"
            )
        else:
            what = (
                f"last training day {c['last_train_day']} before first test day {c['first_test_day']} with "
                f"{c['gap_rows']} row(s) between (horizon {c['horizon']}); scaler fitted on training rows only: "
                f"{'yes' if c['scaler_fitted_on_training_rows_only'] else 'NO'}"
            )
        lines.append(f"{c['check']}: {'passed' if c['passed'] else 'FAILED'} - {what}")
    return lines


TRACK_RECORD_PROOF = (
    "These forecasts were published before their day closed and are scored only on later days: the one test no "
    "configuration tried on a held-out window can spend."
)


def tries_sentence(tries: dict | None) -> str:
    """What the held-out numbers prove, given how many configurations were tried on the window."""
    if not tries:
        return (
            "Configurations tried on this window: not recorded (a run from before the tries ledger, or notebooks "
            "run by hand); the held-out p-values are those of a single try."
        )
    n = int(tries.get("count") or 1)
    unreadable = tries.get("unreadable_lines") or 0
    return (
        f"{n} configuration(s) tried on this window ({tries.get('family', '')})"
        + (f", {unreadable} of them unreadable lines of the tries ledger, counted as tries" if unreadable else "")
        + f". The held-out p-values test one configuration; the gate's p-value limits are divided by {n} "
        "(Bonferroni), so the search as a whole is held to the stated level. Every rerun with other features, "
        "models or hyperparameters spends this window again; the live track record cannot be spent this way."
    )


def direction_sentence(p: float | None, chance: float | None, why: str | None) -> str:
    """The direction test in words (Pesaran–Timmermann against chance, never against a coin)."""
    if p is None:
        return f"Pesaran-Timmermann, direction calls better than chance: n/a ({why or 'not computed'})"
    level = "" if chance is None else f" (chance level {pct(chance, 1)})"
    return f"Pesaran-Timmermann, direction calls better than chance{level} {p:.3f}"


def track_record_summary(record: dict | None) -> tuple[list[str], list[list[str]]]:
    """The live track record's sentences and table (forecast vs the two baselines on the same scored days),
    shared by the report and the run browser's page of the ticker."""
    if record is None:
        return [
            "No track record in this run folder: the runner keeps the forecast ledger (notebooks run by hand do not)."
        ], []
    n = record["scored_days"]
    sentences = [
        f"{n} published forecast(s) scored against the close of the day they were for"
        + (f" ({record['first_day']} .. {record['last_day']})" if n else "")
        + f"; {record['published_pending']} waiting for their day to close"
        + (f"; {record['published_in_sample']} never scored (in-sample)" if record["published_in_sample"] else "")
        + (
            f"; {record['revised_days']} scored with revised prices (noted in the ledger)"
            if record["revised_days"]
            else ""
        )
        + "."
    ]
    roles = record.get("by_role") or {}
    if n and roles:
        parts = [
            f"{r['days']} by {'a champion' if role == 'champion' else 'a challenger (no champion yet)'} (MAE "
            f"{pct(r['mae'], 3)} vs {pct(r['zero_return_mae'], 3)} for the zero return)"
            for role, r in roles.items()
            if r["days"]
        ]
        sentences.append("Published " + " and ".join(parts) + ".")
    tests = record.get("tests")
    if n and tests is None:
        sentences.append(f"p-values are computed from {record['min_days_for_tests']} scored days on.")
    elif tests:
        sentences.append(
            "One-sided p-values: Diebold-Mariano, forecast more accurate than the zero return "
            f"{tests['dm_vs_zero_return_p']:.3f}, than the last return {tests['dm_vs_last_return_p']:.3f}; "
            + direction_sentence(tests.get("direction_p"), tests.get("direction_chance"), tests.get("direction_why"))
            + "."
        )
    sentences.append(TRACK_RECORD_PROOF)
    drift = record.get("drift") or {}
    if drift.get("alarm"):
        sentences.append(f"DRIFT ALARM: {drift['why']}.")
    if not n:
        return sentences, []
    acc, direction = record["accuracy"], record["direction"]
    rows = [["predictor", "MAE", "RMSE", "direction right"]]
    for key, name in (("model", "published forecast"), ("zero_return", "zero return"), ("last_return", "last return")):
        d = direction.get(key)
        rows.append(
            [
                name,
                pct(acc[key]["mae"], 3),
                pct(acc[key]["rmse"], 3),
                f"{d['hits']}/{d['n']} ({pct(d['accuracy'], 1)})" if d and d["n"] else "n/a",
            ]
        )
    return sentences, rows
