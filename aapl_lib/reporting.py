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


def metrics_rows(evaluation: dict[str, Any]) -> list[list[str]]:
    """Header plus one row per predictor, formatted for tables."""
    rows = [["predictor", "MAE", "RMSE", "R2", "direction right", "days"]]
    for name, m in evaluation["metrics"].items():
        rows.append([name, _pct(m["mae"], 3), _pct(m["rmse"], 3), f"{m['r2']:+.4f}",
                     _pct(m["directional_accuracy"], 1), str(m["n"])])
    return rows


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
        ("model", f"StandardScaler + {model_meta['estimator']} on {len(model_meta['features'])} features "
                  f"(seed {model_meta['random_seed']})"),
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
                      forecast: dict, leakage: dict | None = None) -> str:
    """The report as Markdown (figure links are relative to the ``reports/`` folder)."""
    lines = [f"# {provenance['ticker']} next-day return: analysis of run {run_id}", ""]
    lines += ["## Run facts", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in run_facts(run_id, provenance, model_meta, quality)]
    lines += ["", "## Does the model beat doing nothing?", "", evaluation["verdict"], ""]
    rows = metrics_rows(evaluation)
    lines += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    lines += ["", "Baselines: " + "; ".join(f"`{k}` {v}" for k, v in evaluation["baselines"].items()) + ".", ""]
    bt = evaluation["backtest"]
    lines += ["## Trade-on-sign backtest (held-out period)", "",
              f"Buy and hold: {_pct(bt['buy_and_hold_return'])}; long when the model predicts a rise, "
              f"else flat: {_pct(bt['trade_on_sign_return'])} (long on {_pct(bt['share_of_days_long'], 0)} "
              "of days). No transaction costs, a research backtest, not a trading record.", ""]
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
                forecast: dict, run_dir: str | Path, leakage: dict | None = None) -> bytes:
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
    _heading(pdf, "Model vs naive baselines (held-out period)")
    with pdf.table(text_align="RIGHT") as table:
        for row in metrics_rows(evaluation):
            table.row(row)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(evaluation["verdict"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
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
                  evaluation: dict, forecast: dict, leakage: dict | None = None) -> dict[str, Path]:
    """Write ``reports/analysis.md`` and ``reports/summary.pdf`` atomically."""
    run_dir = Path(run_dir)
    md = atomic_write_text(run_dir / "reports/analysis.md",
                           analysis_markdown(run_id, provenance, quality, model_meta, evaluation, forecast, leakage))
    pdf = atomic_write_bytes(run_dir / "reports/summary.pdf",
                             summary_pdf(run_id, provenance, quality, model_meta, evaluation, forecast, run_dir,
                                         leakage))
    return {"analysis": md, "summary_pdf": pdf}
