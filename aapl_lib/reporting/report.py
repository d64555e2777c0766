"""Step 6: the run's written report: ``analysis.md`` for reading in a repository and ``summary.pdf``
(real, searchable text) for sending to people."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from aapl_lib.formatting import METRICS_NOTE, backtest_rows, metrics_rows, pct
from aapl_lib.io.iorw import atomic_write_bytes, atomic_write_text


def figures(cost_bps: float) -> list[tuple[str, str]]:
    """The report's figures and their captions (the backtest caption states the cost it was drawn with)."""
    return [
        ("figures/predicted_vs_actual.png", "Predicted vs actual next-day return (held-out period)"),
        ("figures/residuals.png", "Residuals (held-out period)"),
        (
            "figures/cumulative_returns.png",
            f"Trade-on-sign vs buy-and-hold (held-out period, {cost_bps:g} bps per unit of position change)",
        ),
    ]


def _md_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + [
        "| " + " | ".join(r) + " |" for r in rows[1:]
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
    """The forecast section's text: whose forecast, for which day, from prices up to which day, the caveat."""
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


def analysis_markdown(
    run_id: str,
    provenance: dict,
    quality: dict,
    model_meta: dict,
    evaluation: dict,
    forecast: dict,
    leakage: dict | None = None,
    walk_forward: dict | None = None,
    proposal: dict | None = None,
    decision: dict | None = None,
) -> str:
    """The report as Markdown (figure links are relative to the ``reports/`` folder)."""
    from aapl_lib.promotion.gate import checks_rows, describe

    lines = [f"# {provenance['ticker']} next-day return: analysis of run {run_id}", ""]
    lines += ["## Run facts", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in run_facts(run_id, provenance, model_meta, quality)]
    plausible = evaluation.get("plausibility") or {}
    if plausible.get("implausible"):
        lines += [
            "",
            "> **IMPLAUSIBLE — too good to be true for daily returns:** "
            + "; ".join(plausible["reasons"])
            + ". This almost always means a feature uses information from after the day it describes. "
            "The gate never promotes such a model automatically.",
        ]
    lines += ["", "## Does the model beat doing nothing?", "", evaluation["verdict"], ""]
    lines += [
        f"Held-out period {evaluation['test_window']['first']} .. {evaluation['test_window']['last']}; "
        f"challenger: {evaluation.get('challenger', model_meta['estimator'])}; champion: "
        + (
            "none yet"
            if not evaluation.get("champion")
            else f"{evaluation['champion']['estimator']} from run {evaluation['champion']['run_id']}"
        )
        + ".",
        "",
    ]
    lines += _md_table(metrics_rows(evaluation["metrics"]))
    lines += [
        "",
        "Baselines: " + "; ".join(f"`{k}` {v}" for k, v in evaluation["baselines"].items()) + ". " + METRICS_NOTE,
        "",
    ]
    if walk_forward:
        lines += [
            "## Walk-forward comparison (training period)",
            "",
            f"{len(walk_forward['folds'])} expanding-window folds, gap {walk_forward['gap_rows']} day; the "
            f"challenger is the candidate with the lowest pooled RMSE: **{walk_forward['challenger']}**.",
            "",
        ]
        lines += _md_table(metrics_rows(walk_forward["pooled"])) + [""]
    if proposal is not None:
        shown = decision and {**decision, **{k: _md_literal(decision.get(k) or "") for k in ("by", "note")}}
        lines += ["## Approval gate", "", f"**{describe(shown, proposal)}**", ""]
        lines += _md_table(checks_rows(proposal)) + [""]
    bt = evaluation["backtest"]
    lines += [
        "## Trade-on-sign backtest (held-out period)",
        "",
        f"Transaction cost {bt['transaction_cost_bps']:g} bps per unit of position change. Caveat: {bt['caveat']}.",
        "",
    ]
    lines += _md_table(backtest_rows(bt)) + [""]
    lines += ["## Figures", ""]
    lines += [f"![{title}](../{path})" for path, title in figures(bt["transaction_cost_bps"])]
    lines += ["", "## Data quality", ""]
    from aapl_lib.data.quality_report import quality_table

    table = quality_table(quality)
    lines += ["| finding | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in table["value"].items()]
    if quality.get("checks"):
        lines += ["", "| threshold check | value | limit | status |", "|---|---|---|---|"]
        lines += [
            f"| {c['check']} | {c['value']:g}{c['unit']} | {c['limit']:g}{c['unit']} | {c['status']} |"
            for c in quality["checks"]
        ]
    if leakage is not None:
        guard = leakage_lines(leakage, model_meta)
        lines += ["", "## Leakage guard", "", f"**{guard[0]}**", ""] + [f"- {g}" for g in guard[1:]]
    text = forecast_sentences(forecast, decision, proposal)
    lines += ["", "## Forecast", "", text[0], ""] + (
        [f"**{text[1].split('. ', 1)[0]}.** {text[1].split('. ', 1)[1]}", ""] if len(text) > 1 else []
    )
    return "\n".join(lines)


def _md_literal(text: str) -> str:
    """A person's free text (an approver's name or note) as literal Markdown: one line, with the characters
    that make emphasis, code, tables or headings escaped."""
    line = " ".join(str(text).split())
    return "".join("\\" + ch if ch in "\\`*_{}()#+-.!|~>" else ch for ch in line)


def as_plain_text(markdown: str) -> str:
    """The report with everything that could become markup in a renderer turned into text: ``&`` and ``<`` as
    entities (no HTML element can start), ``[`` and ``]`` escaped except on the report's own figure lines (no
    link can be formed). Untrusted strings — an approver's name or note, values from a CSV — reach the
    report, and the report is rendered as HTML in notebook 06, its HTML twins and the run browser."""
    out = []
    for line in markdown.splitlines():
        line = line.replace("&", "&amp;").replace("<", "&lt;")
        if not (line.startswith("![") and line.endswith(".png)") and "](../figures/" in line):
            line = line.replace("[", "\\[").replace("]", "\\]")
        out.append(line)
    return "\n".join(out)


def without_images(markdown: str) -> str:
    """The Markdown without its image lines (for showing it inside a notebook, which shows figures itself)."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(120)
        self.cell(0, 8, f"page {self.page_no()}", align="C")


def summary_pdf(
    run_id: str,
    provenance: dict,
    quality: dict,
    model_meta: dict,
    evaluation: dict,
    forecast: dict,
    run_dir: str | Path,
    leakage: dict | None = None,
    walk_forward: dict | None = None,
    proposal: dict | None = None,
    decision: dict | None = None,
) -> bytes:
    """A short PDF: title, run facts, metrics vs baselines, the verdict, forecast with caveat, figures."""
    run_dir = Path(run_dir)
    pdf = _Report(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"{provenance['ticker']} next-day return, run {run_id}")
    pdf.set_creation_date(_fixed_date(provenance))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, f"{provenance['ticker']} next-day return forecast", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, f"Run {run_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    _heading(pdf, "Run facts")
    with pdf.table(col_widths=(35, 145), text_align="LEFT", first_row_as_headings=False) as table:
        for key, value in run_facts(run_id, provenance, model_meta, quality):
            table.row([key, _latin(value)])
    pdf.ln(3)
    _heading(pdf, "Challenger vs naive baselines (held-out period)")
    pdf.set_font("Helvetica", size=8)
    with pdf.table(text_align="RIGHT") as table:
        for row in metrics_rows(evaluation["metrics"]):
            table.row(row)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(evaluation["verdict"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(0, 4, _latin(METRICS_NOTE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    if proposal is not None:
        from aapl_lib.promotion.gate import describe

        _heading(pdf, "Approval gate")
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(0, 5, _latin(describe(decision, proposal)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    _heading(pdf, "Forecast")
    text = forecast_sentences(forecast, decision, proposal)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(text[0]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if len(text) > 1:
        pdf.set_font("Helvetica", "I", 10)
        pdf.multi_cell(0, 5, _latin(text[1]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.add_page()
    if walk_forward:
        _heading(
            pdf,
            f"Walk-forward comparison ({len(walk_forward['folds'])} folds, training period); "
            f"challenger: {walk_forward['challenger']}",
        )
        pdf.set_font("Helvetica", size=8)
        with pdf.table(text_align="RIGHT") as table:
            for row in metrics_rows(walk_forward["pooled"]):
                table.row(row)
        pdf.ln(3)
    bt = evaluation["backtest"]
    _heading(
        pdf, f"Trade-on-sign backtest, held-out period ({bt['transaction_cost_bps']:g} bps per unit of position change)"
    )
    pdf.set_font("Helvetica", size=8)
    with pdf.table(text_align="RIGHT") as table:
        for row in backtest_rows(bt):
            table.row(row)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin("Caveat: " + bt["caveat"] + "."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.add_page()
    for rel, title in figures(evaluation["backtest"]["transaction_cost_bps"]):
        path = run_dir / rel
        if path.is_file():
            _heading(pdf, title)
            pdf.image(str(path), w=pdf.epw)
            pdf.ln(2)
    pdf.add_page()
    _heading(pdf, "Data quality")
    from aapl_lib.data.quality_report import quality_table

    with pdf.table(col_widths=(110, 70), text_align="LEFT") as table:
        table.row(["finding", "value"])
        for check, value in quality_table(quality)["value"].items():
            table.row([_latin(str(check)), _latin(str(value))])
    if quality.get("checks"):
        pdf.ln(3)
        with pdf.table(col_widths=(100, 30, 30, 20), text_align="LEFT") as table:
            table.row(["threshold check", "value", "limit", "status"])
            for c in quality["checks"]:
                table.row([_latin(c["check"]), f"{c['value']:g}{c['unit']}", f"{c['limit']:g}{c['unit']}", c["status"]])
    if leakage is not None:
        pdf.ln(3)
        guard = leakage_lines(leakage, model_meta)
        _heading(pdf, guard[0].capitalize())
        pdf.set_font("Helvetica", size=9)
        for line in guard[1:]:
            pdf.multi_cell(0, 5, _latin("- " + line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _fixed_date(provenance: dict):
    import datetime as dt

    return dt.datetime.fromisoformat(provenance["retrieved_at"])


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, _latin(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)


def _latin(text: str) -> str:
    """The core PDF fonts speak Latin-1; replace the few characters we use that they lack."""
    return (
        text.replace("²", "2")
        .replace("…", "...")
        .replace("—", "-")
        .replace("−", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def write_reports(
    run_dir: str | Path,
    run_id: str,
    provenance: dict,
    quality: dict,
    model_meta: dict,
    evaluation: dict,
    forecast: dict,
    leakage: dict | None = None,
    walk_forward: dict | None = None,
    proposal: dict | None = None,
    decision: dict | None = None,
) -> dict[str, Path]:
    """Write ``reports/analysis.md`` and ``reports/summary.pdf`` atomically."""
    run_dir = Path(run_dir)
    extra = dict(leakage=leakage, walk_forward=walk_forward, proposal=proposal, decision=decision)
    md = atomic_write_text(
        run_dir / "reports/analysis.md",
        as_plain_text(analysis_markdown(run_id, provenance, quality, model_meta, evaluation, forecast, **extra)),
    )
    pdf = atomic_write_bytes(
        run_dir / "reports/summary.pdf",
        summary_pdf(run_id, provenance, quality, model_meta, evaluation, forecast, run_dir, **extra),
    )
    return {"analysis": md, "summary_pdf": pdf}
