"""Step 6: the run's written report: ``analysis.md`` for reading in a repository and ``summary.pdf``
(real, searchable text) for sending to people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from .iorw import atomic_write_bytes, atomic_write_text

FIGURES = [
    ("figures/predicted_vs_actual.png", "Predicted vs actual next-day return (held-out period)"),
    ("figures/residuals.png", "Residuals"),
    ("figures/cumulative_returns.png", "Trade-on-sign vs buy-and-hold (held-out period, no costs)"),
]


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def _p(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def metrics_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """Header plus one row per predictor (metrics and p-values), formatted for tables."""
    rows = [["predictor", "MAE", "RMSE", "R2", "direction right", "DM p vs zero", "DM p vs best base", "binomial p",
             "days"]]
    for name, m in sorted(metrics.items(), key=lambda kv: kv[1]["rmse"]):
        rows.append([name, _pct(m["mae"], 3), _pct(m["rmse"], 3), f"{m['r2']:+.4f}", _pct(m["directional_accuracy"], 1),
                     _p(m.get("dm_vs_zero_return_p")), _p(m.get("dm_vs_best_baseline_p")), _p(m.get("direction_p")),
                     str(m["n"])])
    return rows


def backtest_rows(backtest: dict[str, Any]) -> list[list[str]]:
    """Header plus one row per strategy."""
    rows = [["strategy", "cumulative return", "Sharpe (annualised)", "max drawdown", "turnover / day"]]
    for name in ("buy_and_hold", "long_flat", "long_short"):
        b = backtest[name]
        rows.append([name, _pct(b["cumulative_return"], 1), "n/a" if b["sharpe_annualised"] is None else
                     f"{b['sharpe_annualised']:.2f}", _pct(b["max_drawdown"], 1), f"{b['turnover_per_day']:.3f}"])
    return rows


def _md_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + ["| " + " | ".join(r) + " |"
                                                                             for r in rows[1:]]


def run_facts(run_id: str, provenance: dict, model_meta: dict, quality: dict) -> list[tuple[str, str]]:
    """Key facts of the run, in reading order."""
    split = model_meta["split"]
    return [
        ("run", run_id),
        ("ticker", provenance["ticker"]),
        ("source", provenance["source"]),
        ("data window", f"{provenance['window']['first']} .. {provenance['window']['last']} "
                        f"({provenance['rows']} rows, raw sha256 {provenance['sha256'][:12]})"),
        ("retrieved at", provenance["retrieved_at"]),
        ("cleaning", f"{quality['rows_in']} rows in, {quality['rows_out']} out; adjustment: "
                     f"{quality['adjustment']['method']}"),
        ("challenger", f"StandardScaler + {model_meta['estimator']} on {len(model_meta['features'])} features "
                       f"(seed {model_meta['random_seed']}), sha256 {model_meta['sha256'][:12]}"),
        ("training", f"{split['train_window']['first']} .. {split['train_window']['last']} "
                     f"({split['train_rows']} days)"),
        ("test (held out)", f"{split['test_window']['first']} .. {split['test_window']['last']} "
                            f"({split['test_rows']} days)"),
    ]


def leakage_lines(leakage: dict, model_meta: dict) -> list[str]:
    """The leakage guard's verdict and what it checked, as sentences."""
    checks = list(leakage.get("checks", []))
    if model_meta.get("leakage_guard"):
        checks.append(model_meta["leakage_guard"])
    passed = all(c["passed"] for c in checks)
    lines = [f"leakage guard: {'passed' if passed else 'FAILED'}"]
    for c in checks:
        if c["check"] == "truncation invariance":
            what = (f"{c['features_checked']} features recomputed on prices cut at {', '.join(c['cut_dates'])} "
                    "equal the full computation")
        elif c["check"].startswith("no feature"):
            what = (f"none of {c['features_checked']} features equals or tracks (|correlation| > "
                    f"{c['correlation_limit']}) the target or the return 1-5 days ahead")
        else:
            what = (f"last training day {c['last_train_day']} before first test day {c['first_test_day']} with "
                    f"{c['gap_rows']} row(s) between (horizon {c['horizon']}); scaler fitted on training rows only: "
                    f"{'yes' if c['scaler_fitted_on_training_rows_only'] else 'NO'}")
        lines.append(f"{c['check']}: {'passed' if c['passed'] else 'FAILED'} - {what}")
    return lines


def analysis_markdown(run_id: str, provenance: dict, quality: dict, model_meta: dict, evaluation: dict,
                      forecast: dict, leakage: dict | None = None, walk_forward: dict | None = None,
                      proposal: dict | None = None, decision: dict | None = None) -> str:
    """The report as Markdown (figure links are relative to the ``reports/`` folder)."""
    from .gate import describe

    lines = [f"# {provenance['ticker']} next-day return: analysis of run {run_id}", ""]
    lines += ["## Run facts", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in run_facts(run_id, provenance, model_meta, quality)]
    lines += ["", "## Does the model beat doing nothing?", "", evaluation["verdict"], ""]
    lines += [f"Held-out period {evaluation['test_window']['first']} .. {evaluation['test_window']['last']}; "
              f"challenger: {evaluation.get('challenger', model_meta['estimator'])}; champion: "
              + ("none yet" if not evaluation.get("champion") else
                 f"{evaluation['champion']['estimator']} from run {evaluation['champion']['run_id']}") + ".", ""]
    lines += _md_table(metrics_rows(evaluation["metrics"]))
    lines += ["", "Baselines: " + "; ".join(f"`{k}` {v}" for k, v in evaluation["baselines"].items()) + ". "
              "p-values: one-sided Diebold-Mariano (lower squared error than the zero return / the best naive "
              "baseline) and a one-sided binomial test of directional accuracy against 50 %.", ""]
    if walk_forward:
        lines += ["## Walk-forward comparison (training period)", "",
                  f"{len(walk_forward['folds'])} expanding-window folds, gap {walk_forward['gap_rows']} day; the "
                  f"challenger is the candidate with the lowest pooled RMSE: **{walk_forward['challenger']}**.", ""]
        lines += _md_table(metrics_rows(walk_forward["pooled"])) + [""]
    if proposal is not None:
        lines += ["## Approval gate", "", f"**{describe(decision, proposal)}**", ""]
        lines += ["| check | value | limit | passed |", "|---|---|---|---|"]
        lines += [f"| {c['check']} | {c['value']} | {c['limit']} | {'yes' if c['passed'] else 'no'} |"
                  for c in proposal["checks"]] + [""]
    bt = evaluation["backtest"]
    lines += ["## Trade-on-sign backtest (held-out period)", "",
              f"Transaction cost {bt['transaction_cost_bps']:g} bps per unit of position change. Caveat: "
              f"{bt['caveat']}.", ""]
    lines += _md_table(backtest_rows(bt)) + [""]
    lines += ["## Figures", ""]
    lines += [f"![{title}](../{path})" for path, title in FIGURES]
    lines += ["", "## Data quality", ""]
    from .cleaning import quality_table
    table = quality_table(quality)
    lines += ["| finding | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in table["value"].items()]
    if quality.get("checks"):
        lines += ["", "| threshold check | value | limit | status |", "|---|---|---|---|"]
        lines += [f"| {c['check']} | {c['value']:g}{c['unit']} | {c['limit']:g}{c['unit']} | {c['status']} |"
                  for c in quality["checks"]]
    if leakage is not None:
        guard = leakage_lines(leakage, model_meta)
        lines += ["", "## Leakage guard", "", f"**{guard[0]}**", ""] + [f"- {g}" for g in guard[1:]]
    lines += ["", "## Forecast", "",
              f"For {forecast['for_date']} (from data up to {forecast['as_of']}): predicted return "
              f"{_pct(forecast['predicted_return'], 3)} ({forecast['direction']}), implied adjusted close "
              f"{forecast['implied_close']:.2f} from {forecast['last_close_adjusted']:.2f}.", "",
              f"**Caveat.** {forecast['caveat']} Past relationships between these indicators and returns "
              "need not hold tomorrow; this is not investment advice.", ""]
    return "\n".join(lines)


def without_images(markdown: str) -> str:
    """The Markdown without its image lines (for showing it inside a notebook, which shows figures itself)."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(120)
        self.cell(0, 8, f"page {self.page_no()}", align="C")


def summary_pdf(run_id: str, provenance: dict, quality: dict, model_meta: dict, evaluation: dict,
                forecast: dict, run_dir: str | Path, leakage: dict | None = None, walk_forward: dict | None = None,
                proposal: dict | None = None, decision: dict | None = None) -> bytes:
    """A short PDF: title, run facts, metrics vs baselines, the verdict, forecast with caveat, figures."""
    run_dir = Path(run_dir)
    pdf = _Report(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"{provenance['ticker']} next-day return, run {run_id}")
    pdf.set_creation_date(_fixed_date(provenance))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, f"{provenance['ticker']} next-day return forecast", new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
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
    pdf.ln(3)
    if proposal is not None:
        from .gate import describe
        _heading(pdf, "Approval gate")
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(0, 5, _latin(describe(decision, proposal)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    _heading(pdf, "Forecast")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(
        f"For {forecast['for_date']} (data up to {forecast['as_of']}): predicted return "
        f"{_pct(forecast['predicted_return'], 3)} ({forecast['direction']}); implied adjusted close "
        f"{forecast['implied_close']:.2f}."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "I", 10)
    pdf.multi_cell(0, 5, _latin("Caveat: " + forecast["caveat"] + " This is not investment advice."),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.add_page()
    if walk_forward:
        _heading(pdf, f"Walk-forward comparison ({len(walk_forward['folds'])} folds, training period); "
                      f"challenger: {walk_forward['challenger']}")
        pdf.set_font("Helvetica", size=8)
        with pdf.table(text_align="RIGHT") as table:
            for row in metrics_rows(walk_forward["pooled"]):
                table.row(row)
        pdf.ln(3)
    bt = evaluation["backtest"]
    _heading(pdf, f"Trade-on-sign backtest ({bt['transaction_cost_bps']:g} bps per trade)")
    pdf.set_font("Helvetica", size=8)
    with pdf.table(text_align="RIGHT") as table:
        for row in backtest_rows(bt):
            table.row(row)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin("Caveat: " + bt["caveat"] + "."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.add_page()
    for rel, title in FIGURES:
        path = run_dir / rel
        if path.is_file():
            _heading(pdf, title)
            pdf.image(str(path), w=pdf.epw)
            pdf.ln(2)
    pdf.add_page()
    _heading(pdf, "Data quality")
    from .cleaning import quality_table
    with pdf.table(col_widths=(110, 70), text_align="LEFT") as table:
        table.row(["finding", "value"])
        for check, value in quality_table(quality)["value"].items():
            table.row([_latin(str(check)), _latin(str(value))])
    if quality.get("checks"):
        pdf.ln(3)
        with pdf.table(col_widths=(100, 30, 30, 20), text_align="LEFT") as table:
            table.row(["threshold check", "value", "limit", "status"])
            for c in quality["checks"]:
                table.row([_latin(c["check"]), f"{c['value']:g}{c['unit']}", f"{c['limit']:g}{c['unit']}",
                           c["status"]])
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
    return (text.replace("²", "2").replace("…", "...").replace("—", "-").replace("−", "-")
            .encode("latin-1", "replace").decode("latin-1"))


def write_reports(run_dir: str | Path, run_id: str, provenance: dict, quality: dict, model_meta: dict,
                  evaluation: dict, forecast: dict, leakage: dict | None = None, walk_forward: dict | None = None,
                  proposal: dict | None = None, decision: dict | None = None) -> dict[str, Path]:
    """Write ``reports/analysis.md`` and ``reports/summary.pdf`` atomically."""
    run_dir = Path(run_dir)
    extra = dict(leakage=leakage, walk_forward=walk_forward, proposal=proposal, decision=decision)
    md = atomic_write_text(run_dir / "reports/analysis.md",
                           analysis_markdown(run_id, provenance, quality, model_meta, evaluation, forecast, **extra))
    pdf = atomic_write_bytes(run_dir / "reports/summary.pdf",
                             summary_pdf(run_id, provenance, quality, model_meta, evaluation, forecast, run_dir,
                                         **extra))
    return {"analysis": md, "summary_pdf": pdf}
