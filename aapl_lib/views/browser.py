"""The static run browser: ``outputs/index.html`` (every run, newest first) and a page per run
(``runs/<id>/index.html``), comparison pages (``compare/<A>__<B>.html``) and the operations page
(``operations.html``: success rate, task durations, reuse, freshness, runs awaiting approval). Plain HTML and CSS from
Jinja2 templates, relative links only: it reads the same from ``file://`` and from ``python -m http.server``.
Regenerated after every run and every approval decision.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from aapl_lib.formatting import general, pct
from aapl_lib.io.iorw import atomic_write_text, read_json
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import (
    ANALYSIS,
    DECISION,
    EVALUATION,
    FIGURES_DIR,
    FORECAST,
    GATE_PROPOSAL,
    SUMMARY_PDF,
    TASKS,
)
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.runs import scan_runs

TEMPLATES = Path(__file__).with_name("templates")  # the pages' Jinja2 templates and their style sheet
CSS = (TEMPLATES / "style.css").read_text(encoding="utf-8")


SHORT = {
    "success": "ok",
    "reused": "re",
    "copied": "cp",
    "present": "pr",
    "failed": "FAIL",
    "timed_out": "TIME",
    "running": "run",
    "pending": "…",
    "not_selected": "–",
    "interrupted": "INT",
}


def templates() -> Environment:
    """The Jinja2 environment of every page (``aapl_lib/views/templates/*.html``): every value is escaped."""
    from jinja2 import FileSystemBytecodeCache, FileSystemLoader

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        bytecode_cache=FileSystemBytecodeCache(),  # compiled templates in the user's temp folder
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.globals.update(css=CSS, fmt=general)
    return env


def _gate(m: dict[str, Any]) -> str | None:
    g = m.get("gate") or {}
    return g.get("decision") or g.get("status")


def _runs(outputs_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    # a damaged record: `list` names it; the page skips it
    found = [(run.run_dir, mf.as_read(run.run_dir, run.manifest)) for run in scan_runs(outputs_dir) if run.manifest]
    found.sort(key=lambda x: (x[1].get("created_at") or "", x[0].name), reverse=True)
    return found


def _previous_same_ticker(runs: list[tuple[Path, dict]], i: int) -> str | None:
    ticker = runs[i][1]["params"]["ticker"]
    for run_dir, m in runs[i + 1 :]:
        if m["params"]["ticker"] == ticker:
            return run_dir.name
    return None


def build_index(
    outputs_dir: Path,
    runs: list[tuple[Path, dict[str, Any]]] | None = None,
    track_pages: list[dict[str, str]] | None = None,
) -> Path:
    """Write ``outputs/index.html`` listing every run (``runs`` as ``_runs`` reads them, read if not given),
    with links to the operations page and to ``track_pages`` (``{"ticker", "href"}``, relative to outputs/;
    default: every ticker's track-record page that exists)."""
    from aapl_lib.views.run_lead import QUESTION, run_answer

    runs = _runs(outputs_dir) if runs is None else runs
    rows = []
    for i, (run_dir, m) in enumerate(runs):
        scraps = (m["tasks"].get("model_evaluation") or {}).get("scraps") or {}
        prev = _previous_same_ticker(runs, i)
        rows.append(
            {
                "run_id": m["run_id"],
                "ticker": m["params"]["ticker"],
                "source": m["params"]["source"],
                "window": f"{m['params']['start']} .. {m['params']['end']}",
                "started": (m.get("created_at") or "")[:19].replace("T", " "),
                "duration": "" if m.get("duration_s") is None else f"{m['duration_s']:.1f}",
                "status": m.get("status", "?"),
                "gate": _gate(m),
                "resume": m.get("resume"),
                "tasks": [
                    {
                        "name": t.name,
                        "status": m["tasks"].get(t.name, {}).get("status", "?"),
                        "short": SHORT.get(m["tasks"].get(t.name, {}).get("status", ""), "?"),
                    }
                    for t in TASKS
                ],
                "model_rmse": pct(scraps.get("model_rmse"), 3, missing=""),
                "zero_rmse": pct(scraps.get("zero_return_rmse"), 3, missing=""),
                "direction": pct(scraps.get("model_directional_accuracy"), 3, missing=""),
                "implausible": bool(scraps.get("implausible")),
                "beats": run_answer(run_dir, m),  # the run page's own answer, in its words
                "awaiting": m.get("status") == State.AWAITING_APPROVAL,
                "compare": f"compare/{prev}__{m['run_id']}.html" if prev else None,
            }
        )
    batches = [
        b
        for b in mf.list_batches(outputs_dir)
        if (layout.batch_dir(outputs_dir, b["batch_id"]) / "index.html").is_file()
    ]
    page = (
        templates()
        .get_template("index.html")
        .render(
            title="Pipeline runs",
            runs=rows,
            awaiting=[r["run_id"] for r in rows if r["awaiting"]],
            question=QUESTION,
            outputs=str(outputs_dir),
            tasks=[t.name for t in TASKS],
            batches=batches,
            operations=_href(outputs_dir, layout.operations_page(outputs_dir)),
            track_pages=track_pages if track_pages is not None else _track_pages(outputs_dir),
        )
    )
    return atomic_write_text(outputs_dir / "index.html", page)


def _task_rows(run_dir: Path, m: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task of the run page's task table: status, time, how it ran, its notebook pages and log."""
    tasks = []
    for t in TASKS:
        rec = m["tasks"].get(t.name, {})
        html_rel = rec.get("html")
        how = {"reused": f"reused from {rec.get('reused_from')}", "copied": f"copied from {rec.get('from_run')}"}.get(
            rec.get("status", ""), rec.get("run_reason", "")
        )
        log = layout.task_log_rel(t.name)
        tasks.append(
            {
                "name": t.name,
                "status": rec.get("status", "?"),
                "duration": "" if rec.get("duration_s") is None else f"{rec['duration_s']:.1f}",
                "how": how,
                "html": html_rel if html_rel and (run_dir / html_rel).is_file() else None,
                "report_html": html_rel.replace(".html", ".report.html") if html_rel else None,
                "log": log if (run_dir / log).is_file() else None,
                "html_error": rec.get("html_error", ""),
                "error": rec.get("error", ""),
            }
        )
    return tasks


def report_html(markdown: str) -> str:
    """``analysis.md`` as HTML for the run page: raw HTML in it shows as text, and a character reference it
    carries (``&lt;`` for an untrusted ``<script``) is read as one, so every character is escaped exactly once."""
    import mistune
    from mistune.util import safe_entity

    class _Renderer(mistune.HTMLRenderer):
        def text(self, text: str) -> str:  # escape=True would escape the reference's ``&`` a second time
            return safe_entity(text)

    return mistune.create_markdown(renderer=_Renderer(escape=True), plugins=["table"])(markdown)


def verdict_once(markdown: str, lead: dict[str, Any]) -> str:
    """The report as the run page shows it: the paragraph answering the lead's question (the verdict) is the
    page's lead already, so the report's own section points there instead of repeating it (``analysis.md``,
    read on its own, keeps it)."""
    lines = markdown.splitlines()
    heading = f"## {lead['question']}"
    if heading not in lines:
        return markdown
    at = lines.index(heading)
    verdict = next((i for i in range(at + 1, len(lines)) if lines[i].strip()), None)
    if verdict is None:
        return markdown
    lines[verdict] = "*The verdict leads this page (above).*"
    return "\n".join(lines)


def _artifact_rows(run_dir: Path, m: dict[str, Any]) -> list[dict[str, Any]]:
    """Every artifact the tasks recorded, then the gate's decision file (written after them), with sha256."""
    artifacts = []
    for t in TASKS:
        for rel, info in ((m["tasks"].get(t.name) or {}).get("artifacts") or {}).items():
            artifacts.append({"path": rel, "bytes": info.get("bytes", ""), "sha256": info["sha256"]})
    decision = run_dir / DECISION
    if decision.is_file():
        artifacts.append({"path": DECISION, "bytes": decision.stat().st_size, "sha256": mf.sha256_file(decision)})
    return artifacts


def build_run_page(run_dir: Path, manifest: dict[str, Any] | None = None) -> Path:
    """Write ``runs/<id>/index.html`` for one run (``manifest``: its manifest already read, else read here):
    the verdict and the gate first (``views/run_lead.py``), then tasks, figures, report, parameters, artifacts."""
    from aapl_lib.views.run_lead import run_lead

    m = mf.as_read(run_dir, manifest if manifest is not None else mf.load(run_dir))
    lead = run_lead(run_dir, m)
    report_md = run_dir / ANALYSIS
    report = None
    if report_md.is_file():
        markdown = report_md.read_text(encoding="utf-8").replace("](../figures/", "](figures/")
        report = report_html(verdict_once(markdown, lead) if lead["verdict"] else markdown)
    # each figure once: those the report shows stay in the report, beside their captions
    figures = sorted(str(p.relative_to(run_dir)) for p in (run_dir / FIGURES_DIR).glob("*.png"))
    figures = [f for f in figures if f'src="{f}"' not in (report or "")]
    runs = _runs(run_dir.parent.parent)
    names = [r[0].name for r in runs]
    prev = _previous_same_ticker(runs, names.index(run_dir.name)) if run_dir.name in names else None
    evaluation = run_dir / EVALUATION
    plausible = (read_json(evaluation).get("plausibility") or {}) if evaluation.is_file() else {}
    page = (
        templates()
        .get_template("run.html")
        .render(
            title=f"Run {m['run_id']}",
            m=m,
            lead=lead,
            tasks=_task_rows(run_dir, m),
            figures=figures,
            report=report,
            implausible=plausible.get("reasons") if plausible.get("implausible") else None,
            published_by=_published_by(run_dir),
            params=sorted(m["params"].items()),
            artifacts=_artifact_rows(run_dir, m),
            pdf=SUMMARY_PDF if (run_dir / SUMMARY_PDF).is_file() else None,
            manifest=layout.MANIFEST,
            compare=f"../../compare/{prev}__{m['run_id']}.html" if prev else None,
        )
    )
    if prev:  # rebuilt after every run: without the noise test, so a rerun with nothing to do imports no scipy
        build_compare_page(run_dir.parent / prev, run_dir, noise_test=False)
    return atomic_write_text(run_dir / "index.html", page)


def _published_by(run_dir: Path) -> str | None:
    """Which model made the forecast the report presents (fit, sha256 prefix, trained_to), or None before that
    is known (no forecast yet, or a run from before refits)."""
    from aapl_lib.narrative import chosen_forecast

    if not (run_dir / FORECAST).is_file():
        return None
    decision = read_json(run_dir / DECISION) if (run_dir / DECISION).is_file() else None
    proposal = read_json(run_dir / GATE_PROPOSAL) if (run_dir / GATE_PROPOSAL).is_file() else None
    chosen, label = chosen_forecast(read_json(run_dir / FORECAST), decision, proposal)
    by = chosen.get("published_by")
    if not by:
        return None
    return f"{label}: {by['fit']} model, sha256 {str(by['sha256'])[:12]}, trained to {by['trained_to']}"


def build_compare_page(run_a: Path, run_b: Path, noise_test: bool = True) -> Path:
    """Write ``outputs/compare/<A>__<B>.html`` (``noise_test``: see :func:`aapl_lib.views.compare.compare_runs`)."""
    from aapl_lib.views.compare import compare_runs, shown_metrics

    diff = compare_runs(run_a, run_b, noise_test)
    page = (
        templates()
        .get_template("compare.html")
        .render(title=f"Compare {diff['a']} and {diff['b']}", d=diff, metrics=shown_metrics(diff))
    )
    return atomic_write_text(run_a.parent.parent / "compare" / f"{diff['a']}__{diff['b']}.html", page)


def _track_pages(outputs_dir: Path) -> list[dict[str, str]]:
    """The track-record pages that exist, one per ticker with a forecast ledger (``{"ticker", "href"}``)."""
    return [
        {"ticker": t, "href": _href(outputs_dir, layout.track_page(outputs_dir, t))}
        for t in layout.ledger_tickers(outputs_dir)
        if layout.track_page(outputs_dir, t).is_file()
    ]


def _href(outputs_dir: Path, target: Path) -> str:
    """``target`` as a link from a page in ``outputs_dir`` (relative, ``/`` separated)."""
    return Path(os.path.relpath(target, outputs_dir)).as_posix()


def build_operations_page(
    outputs_dir: Path, runs: list[tuple[Path, dict[str, Any]]] | None = None, now: dt.datetime | None = None
) -> Path:
    """Write the operations page (``layout.operations_page``) and its plot from every run's manifest."""
    from aapl_lib.views.operations import summarize
    from aapl_lib.views.operations_plot import draw_durations

    runs = _runs(outputs_dir) if runs is None else runs
    ops = summarize([m for _, m in runs], now or dt.datetime.now(dt.UTC), outputs_dir=outputs_dir)
    page_path, plot_path = layout.operations_page(outputs_dir), layout.operations_plot(outputs_dir)
    draw_durations(ops["series"], plot_path)
    links = {m["run_id"]: _href(page_path.parent, run_dir / "index.html") for run_dir, m in runs}
    page = (
        templates()
        .get_template("operations.html")
        .render(
            title="Operations",
            ops=ops,
            links=links,
            index=_href(page_path.parent, outputs_dir / "index.html"),
            plot=_href(page_path.parent, plot_path),
            outputs=str(outputs_dir),
        )
    )
    return atomic_write_text(page_path, page)


def refresh(outputs_dir: Path, run_dir: Path | None = None) -> Path:
    """Rebuild the run's page (if given), the operations page and the index; returns the index path (the
    index is rebuilt even when the operations page fails, whose error is then raised)."""
    if run_dir is not None and (run_dir / layout.MANIFEST).is_file() and layout.is_run_dir(outputs_dir, run_dir):
        build_run_page(run_dir)
    runs = _runs(outputs_dir)
    try:
        build_operations_page(outputs_dir, runs)
    finally:
        index = build_index(outputs_dir, runs)
    return index


def build_batch_page(batch_dir: Path, manifest: dict[str, Any], head: list[str], table: list[list[str]]) -> Path:
    """Write ``batches/<id>/index.html``: the tickers of a batch side by side (rows from views/batch_summary.py)."""
    page = templates().get_template("batch.html").render(m=manifest, head=head, table=table, css=CSS)
    return atomic_write_text(batch_dir / "index.html", page)
