"""Step 6: the run's written report: ``analysis.md`` for reading in a repository and ``summary.pdf``
(real, searchable text) for sending to people, each written atomically into the run's ``reports/``."""

from __future__ import annotations

from pathlib import Path

from aapl_lib.io.iorw import atomic_write_bytes, atomic_write_text
from aapl_lib.pipeline.tasks import ANALYSIS, SUMMARY_PDF
from aapl_lib.reporting.markdown import analysis_markdown, as_plain_text
from aapl_lib.reporting.pdf import summary_pdf


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
    track_record: dict | None = None,
) -> dict[str, Path]:
    """Write ``reports/analysis.md`` and ``reports/summary.pdf`` atomically."""
    run_dir = Path(run_dir)
    extra = dict(
        leakage=leakage, walk_forward=walk_forward, proposal=proposal, decision=decision, track_record=track_record
    )
    md = atomic_write_text(
        run_dir / ANALYSIS,
        as_plain_text(analysis_markdown(run_id, provenance, quality, model_meta, evaluation, forecast, **extra)),
    )
    pdf = atomic_write_bytes(
        run_dir / SUMMARY_PDF,
        summary_pdf(run_id, provenance, quality, model_meta, evaluation, forecast, run_dir, **extra),
    )
    return {"analysis": md, "summary_pdf": pdf}
