"""``summary.pdf``: the run's report as a short PDF (fpdf2; real, searchable text) for sending to people."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from aapl_lib.formatting import METRICS_NOTE, backtest_rows, metrics_rows
from aapl_lib.narrative import (
    figures,
    forecast_sentences,
    leakage_lines,
    run_facts,
    track_record_summary,
    tries_sentence,
)
from aapl_lib.pipeline.tasks import TRACK_PLOT


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
    track_record: dict | None = None,
) -> bytes:
    """A short PDF: title, run facts, metrics vs baselines, the verdict, forecast with caveat, figures."""
    run_dir = Path(run_dir)
    pdf = _Report(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"{provenance['ticker']} next-day return, run {run_id}")
    pdf.set_creation_date(_fixed_date(provenance))
    pdf.add_page()
    _title_and_facts(pdf, run_id, provenance, quality, model_meta)
    _verdict(pdf, evaluation)
    if proposal is not None:
        _gate(pdf, proposal, decision, evaluation)
    _forecast(pdf, forecast, decision, proposal)
    _track_record(pdf, track_record, run_dir)
    pdf.add_page()
    if walk_forward:
        _heading(
            pdf,
            f"Walk-forward comparison ({len(walk_forward['folds'])} folds, training period); "
            f"challenger: {walk_forward['challenger']}",
        )
        _table(pdf, metrics_rows(walk_forward["pooled"]))
        pdf.ln(3)
    _backtest(pdf, evaluation["backtest"])
    pdf.add_page()
    for rel, title in figures(evaluation["backtest"]["transaction_cost_bps"]):
        path = run_dir / rel
        if path.is_file():
            _heading(pdf, title)
            pdf.image(str(path), w=pdf.epw)
            pdf.ln(2)
    pdf.add_page()
    _quality(pdf, quality)
    if leakage is not None:
        pdf.ln(3)
        guard = leakage_lines(leakage, model_meta)
        _heading(pdf, guard[0].capitalize())
        pdf.set_font("Helvetica", size=9)
        for line in guard[1:]:
            pdf.multi_cell(0, 5, _latin("- " + line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _table(pdf: FPDF, rows: list[list[str]]) -> None:
    """A table of figures in small type, right-aligned."""
    pdf.set_font("Helvetica", size=8)
    with pdf.table(text_align="RIGHT") as table:
        for row in rows:
            table.row(row)


def _title_and_facts(pdf: FPDF, run_id: str, provenance: dict, quality: dict, model_meta: dict) -> None:
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


def _verdict(pdf: FPDF, evaluation: dict) -> None:
    """The challenger against the naive baselines, and the verdict in words."""
    _heading(pdf, "Challenger vs naive baselines (held-out period)")
    _table(pdf, metrics_rows(evaluation["metrics"]))
    pdf.ln(2)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(evaluation["verdict"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(0, 4, _latin(METRICS_NOTE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _gate(pdf: FPDF, proposal: dict, decision: dict | None, evaluation: dict) -> None:
    from aapl_lib.promotion.gate import describe

    _heading(pdf, "Approval gate")
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(0, 5, _latin(describe(decision, proposal)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 4.5, _latin(tries_sentence(evaluation.get("tries"))), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _forecast(pdf: FPDF, forecast: dict, decision: dict | None, proposal: dict | None) -> None:
    _heading(pdf, "Forecast")
    text = forecast_sentences(forecast, decision, proposal)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(text[0]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if len(text) > 1:
        pdf.set_font("Helvetica", "I", 10)
        pdf.multi_cell(0, 5, _latin(text[1]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    for paragraph in text[2:]:  # which model made it
        pdf.multi_cell(0, 5, _latin(paragraph), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _backtest(pdf: FPDF, bt: dict) -> None:
    _heading(
        pdf, f"Trade-on-sign backtest, held-out period ({bt['transaction_cost_bps']:g} bps per unit of position change)"
    )
    _table(pdf, backtest_rows(bt))
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin("Caveat: " + bt["caveat"] + "."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _quality(pdf: FPDF, quality: dict) -> None:
    from aapl_lib.data.quality_report import quality_table

    _heading(pdf, "Data quality")
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


def _track_record(pdf: FPDF, record: dict | None, run_dir: Path) -> None:
    pdf.ln(2)
    _heading(pdf, "Live track record")
    sentences, table = track_record_summary(record)
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 5, _latin(" ".join(sentences)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if table:
        pdf.set_font("Helvetica", size=8)
        with pdf.table(text_align="RIGHT") as t:
            for row in table:
                t.row(row)
        if (run_dir / TRACK_PLOT).is_file():
            pdf.image(str(run_dir / TRACK_PLOT), w=pdf.epw * 0.8)


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
